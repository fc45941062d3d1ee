"""The HTTP API v1 through the real ASGI stack (FastAPI's TestClient), on SQLite and PostgreSQL.

Every refusal is checked for its status code, its ``field`` and an unchanged database.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ecusim.catalog.vin import lab_vin
from ecusim.portal import audit
from ecusim.portal.api import create_app
from ecusim.portal.models import GENESIS_HASH, Approval, AuditRecord, PassCodeIssue
from ecusim.portal.rules import APPROVAL_VALIDITY, REQUEST_VALIDITY
from ecusim.portal.service import Portal, RequestView
from protocol.clock import FakeClock
from protocol.passcode import DEFAULT_MASTER_SECRET

from .kit import (
    DEALER,
    OTHER_DEALER,
    PASSWORD,
    VIN,
    Staffing,
    audit_actions,
    audit_seq,
    make_request,
    snapshot,
    without_audit,
)

with warnings.catch_warnings():
    # Starlette >= 1.x prefers the "httpx2" package and warns when it falls back to httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1"
SEED = "00010203-04050607-08090A0B-0C0D0E0F"
KNOWN_ANSWERS = (
    ("JTHBL5EF0C5000001", SEED, "68048306-E57DF5FB-1D818A1B-527791CD"),
    (
        "JTHBL5EF0C5000001",
        "A5A5A5A5-A5A5A5A5-A5A5A5A5-A5A5A5A5",
        "443FA847-64476F93-4AF28B91-F496CD6E",
    ),
    ("JTHBA1D29G5000002", SEED, "68C88FBD-B7B00C85-B4D10C5E-D3457278"),
)
"""diagnostic-contract.md §5."""

IDENTIFICATION = {
    "customer_authority": True,
    "customer_identity": True,
    "vehicle_registration": True,
    "terms_and_conditions": True,
}
APPROVAL = {"details_verified": True, "nicb_log_acknowledged": True, "terms_and_conditions": True}
REQUEST_FIELDS = {
    "number",
    "dealer_code",
    "dealer_name",
    "technician_username",
    "technician_name",
    "vin",
    "repair_order",
    "customer_last_name",
    "status",
    "created_at",
    "expires_at",
    "approved_by",
    "approved_at",
    "valid_until",
    "refused_by",
    "refused_at",
    "refusal_reason",
    "closed_at",
    "closed_by",
}
Headers = dict[str, str]


@pytest.fixture
def client(portal: Portal) -> Iterator[TestClient]:
    with TestClient(create_app(portal)) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str = PASSWORD) -> Headers:
    response = client.post(f"{API}/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def request_body(vin: object = VIN, **changes: Any) -> dict[str, Any]:
    return {
        "vin": vin,
        "repair_order": "RO-4711",
        "customer_last_name": "Smith",
        "confirmations": dict(IDENTIFICATION),
        **changes,
    }


def issue_body(seed: str = SEED, **changes: Any) -> dict[str, Any]:
    return {"password": PASSWORD, "tool_version": "9.10.037", "seed": seed, **changes}


def assert_error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"status", "field", "reason"}
    assert (error["status"], error["field"]) == (status, field), error
    assert isinstance(error["reason"], str)
    assert error["reason"]
    return error


@pytest.fixture
def refused(engine: Engine) -> Callable[..., dict[str, Any]]:
    """``refused(call, status, field)``: the call is refused so, and the database is unchanged
    (but one audit record ``audited=``, if given: a refused Pass-Code is a security event)."""

    def check(
        call: Callable[[], httpx.Response],
        status: int,
        field: str | None,
        *,
        audited: str | None = None,
    ) -> dict[str, Any]:
        before, seq = snapshot(engine), audit_seq(engine)
        error = assert_error(call(), status, field)
        if audited is None:
            assert snapshot(engine) == before
        else:
            assert without_audit(snapshot(engine)) == without_audit(before)
            assert audit_actions(engine, seq) == [audited]
        return error

    return check


# -- the whole procedure -------------------------------------------------------------------------


def test_happy_path(client: TestClient, staff: Staffing, engine: Engine) -> None:
    tech = login(client, staff.technician)
    me = client.get(f"{API}/me", headers=tech).json()
    assert me == {
        "username": "carol",
        "name": "Carol",
        "dealer_code": DEALER,
        "job_title": "Technician",
        "enrolled": True,
        "can_approve": False,
    }

    created = client.post(f"{API}/requests", headers=tech, json=request_body())
    assert created.status_code == 201, created.text
    request = created.json()
    assert set(request) == REQUEST_FIELDS
    assert request["number"] == "14070100001"
    assert request["status"] == "requested"
    assert request["created_at"] == "2014-07-01T20:27:00+00:00"
    assert request["expires_at"] == "2014-07-04T20:27:00+00:00"
    assert request["dealer_name"] == "Lexus of Lab City"
    assert request["approved_by"] is None

    manager = login(client, staff.manager)
    assert client.get(f"{API}/me", headers=manager).json()["can_approve"] is True
    inbox = client.get(f"{API}/inbox", headers=manager).json()
    assert [r["number"] for r in inbox["awaiting_approval"]] == [request["number"]]
    assert inbox["my_requests"] == []
    own = client.get(f"{API}/inbox", headers=tech).json()
    assert own["awaiting_approval"] == []
    assert [r["number"] for r in own["my_requests"]] == [request["number"]]

    approved = client.post(
        f"{API}/requests/{request['number']}/approve",
        headers=manager,
        json={"confirmations": APPROVAL},
    )
    assert approved.status_code == 200, approved.text
    view = approved.json()
    assert (view["status"], view["approved_by"]) == ("approved", "Alice")
    assert view["approved_at"] == "2014-07-01T20:27:00+00:00"
    assert view["valid_until"] == "2014-07-04T20:27:00+00:00"
    assert client.get(f"{API}/inbox", headers=manager).json()["awaiting_approval"] == []

    found = client.get(f"{API}/approvals", headers=tech, params={"vin": VIN.lower()})
    assert found.status_code == 200
    assert found.json() == view
    assert client.get(f"{API}/requests/{request['number']}", headers=tech).json() == view

    stepped_up = client.post(f"{API}/step-up", headers=tech, json={"password": PASSWORD})
    assert stepped_up.json() == {"step_up_until": "2014-07-01T20:32:00+00:00"}
    issued = client.post(
        f"{API}/requests/{request['number']}/pass-codes",
        headers=tech,
        json={"tool_version": "9.10.037", "seed": SEED},
    )
    assert issued.status_code == 201, issued.text
    assert issued.json() == {
        "pass_code": "68048306-E57DF5FB-1D818A1B-527791CD",
        "request_number": request["number"],
        "vin": VIN,
        "seed_sha256": issued.json()["seed_sha256"],
        "issued_at": "2014-07-01T20:27:00+00:00",
        "approval_valid_until": "2014-07-04T20:27:00+00:00",
    }
    assert len(issued.json()["seed_sha256"]) == 64

    records = client.get(f"{API}/audit", headers=manager).json()["records"]
    assert [r["action"] for r in records][-4:] == ["request", "approve", "step-up", "issue"]
    assert records[-1]["seed_sha256"] == issued.json()["seed_sha256"]
    assert client.get(f"{API}/audit/verify", headers=manager).json() == {
        "ok": True,
        "problems": [],
        "legacy": 0,
    }
    # The audit log holds every dealer's VINs: not for technicians [LAB].
    assert_error(client.get(f"{API}/audit", headers=tech), 403, "job_title")
    assert_error(client.get(f"{API}/audit/verify", headers=tech), 403, "job_title")


def test_known_answers(client: TestClient, staff: Staffing) -> None:
    tech, manager = login(client, staff.technician), login(client, staff.manager2)
    numbers: dict[str, str] = {}
    for vin in sorted({vin for vin, _, _ in KNOWN_ANSWERS}):
        number = client.post(f"{API}/requests", headers=tech, json=request_body(vin)).json()[
            "number"
        ]
        response = client.post(
            f"{API}/requests/{number}/approve", headers=manager, json={"confirmations": APPROVAL}
        )
        assert response.status_code == 200, response.text
        numbers[vin] = number
    for vin, seed, expected in KNOWN_ANSWERS:
        for typed in (seed, seed.lower().replace("-", " ")):
            response = client.post(
                f"{API}/requests/{numbers[vin]}/pass-codes", headers=tech, json=issue_body(typed)
            )
            assert response.status_code == 201, response.text
            assert (response.json()["vin"], response.json()["pass_code"]) == (vin, expected)


def test_any_staff_member_of_the_dealer_uses_the_approval(
    client: TestClient, staff: Staffing, approved: RequestView
) -> None:
    other_tech = login(client, staff.technician2)
    response = client.post(
        f"{API}/requests/{approved.number}/pass-codes", headers=other_tech, json=issue_body()
    )
    assert response.status_code == 201
    assert response.json()["pass_code"] == KNOWN_ANSWERS[0][2]


def test_refuse(client: TestClient, staff: Staffing, refused: Callable[..., Any]) -> None:
    tech, manager = login(client, staff.technician), login(client, staff.manager)
    number = client.post(f"{API}/requests", headers=tech, json=request_body()).json()["number"]
    response = client.post(
        f"{API}/requests/{number}/refuse", headers=manager, json={"reason": "no picture ID"}
    )
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["status"], view["refused_by"], view["refusal_reason"]) == (
        "refused",
        "Alice",
        "no picture ID",
    )
    assert view["refused_at"] == "2014-07-01T20:27:00+00:00"
    manager2 = login(client, staff.manager2)
    refused(
        lambda: client.post(
            f"{API}/requests/{number}/approve",
            headers=manager2,
            json={"confirmations": APPROVAL},
        ),
        409,
        "request_number",
    )
    refused(
        lambda: client.post(f"{API}/requests/{number}/pass-codes", headers=tech, json=issue_body()),
        409,
        "request_number",
        audited="issue-refused",
    )
    refused(
        lambda: client.post(
            f"{API}/requests/{number}/refuse", headers=manager, json={"reason": ""}
        ),
        422,
        "reason",
    )


# -- each rule refused through the API -----------------------------------------------------------


def test_technician_cannot_approve(
    client: TestClient, portal: Portal, staff: Staffing, refused: Callable[..., Any]
) -> None:
    request = make_request(portal, staff.technician)
    other_tech = login(client, staff.technician2)
    error = refused(
        lambda: client.post(
            f"{API}/requests/{request.number}/approve",
            headers=other_tech,
            json={"confirmations": APPROVAL},
        ),
        403,
        "job_title",
    )
    assert "cannot approve" in error["reason"]


def test_requester_cannot_approve(
    client: TestClient, portal: Portal, staff: Staffing, refused: Callable[..., Any]
) -> None:
    request = make_request(portal, staff.manager)
    manager = login(client, staff.manager)
    refused(
        lambda: client.post(
            f"{API}/requests/{request.number}/approve",
            headers=manager,
            json={"confirmations": APPROVAL},
        ),
        403,
        "username",
    )


def test_other_dealers_manager_cannot_approve(
    client: TestClient, portal: Portal, staff: Staffing, refused: Callable[..., Any]
) -> None:
    request = make_request(portal, staff.technician)
    other = login(client, staff.other_manager)
    refused(
        lambda: client.post(
            f"{API}/requests/{request.number}/approve",
            headers=other,
            json={"confirmations": APPROVAL},
        ),
        404,  # another dealer's request answers as if it did not exist (no enumeration)
        "request_number",
    )
    # … and cannot see it either.
    refused(
        lambda: client.get(f"{API}/requests/{request.number}", headers=other), 404, "request_number"
    )


def test_dealer_with_one_manager_is_refused(
    client: TestClient, portal: Portal, staff: Staffing, refused: Callable[..., Any]
) -> None:
    portal.enroll_dealer("65000", "Lexus of One Manager")
    portal.add_staff("65000", "gina", "Gina", "Service Manager", PASSWORD)
    portal.add_staff("65000", "hank", "Hank", "Technician", PASSWORD)
    tech = login(client, "hank")
    error = refused(
        lambda: client.post(f"{API}/requests", headers=tech, json=request_body()), 403, "dealer"
    )
    assert "at least 2" in error["reason"]


@pytest.mark.parametrize("box", sorted(IDENTIFICATION))
def test_request_without_a_confirmation(
    client: TestClient, staff: Staffing, refused: Callable[..., Any], box: str
) -> None:
    tech = login(client, staff.technician)
    unchecked = request_body(confirmations={**IDENTIFICATION, box: False})
    refused(
        lambda: client.post(f"{API}/requests", headers=tech, json=unchecked),
        422,
        f"confirmations.{box}",
    )
    missing = request_body(confirmations={k: v for k, v in IDENTIFICATION.items() if k != box})
    refused(
        lambda: client.post(f"{API}/requests", headers=tech, json=missing),
        422,
        f"confirmations.{box}",
    )
    # Only JSON true counts: a truthy string or number is refused by the body validation.
    for truthy in ("true", "yes", 1):
        body = request_body(confirmations={**IDENTIFICATION, box: truthy})
        refused(
            lambda body=body: client.post(f"{API}/requests", headers=tech, json=body),
            422,
            f"confirmations.{box}",
        )


@pytest.mark.parametrize("box", sorted(APPROVAL))
def test_approval_without_a_confirmation(
    client: TestClient, portal: Portal, staff: Staffing, refused: Callable[..., Any], box: str
) -> None:
    request = make_request(portal, staff.technician)
    manager = login(client, staff.manager)
    refused(
        lambda: client.post(
            f"{API}/requests/{request.number}/approve",
            headers=manager,
            json={"confirmations": {**APPROVAL, box: False}},
        ),
        422,
        f"confirmations.{box}",
    )


@pytest.mark.parametrize(
    "vin",
    [
        "JTHBL5EF1C5000001",  # check digit
        "JTHBL5EF0C500000",  # 16 characters
        "JTHBL5EF0C50000011",  # 18 characters
        "JTHBL5EF0C500000O",  # O is not a VIN character
        "",
    ],
)
def test_bad_vin(
    client: TestClient, staff: Staffing, refused: Callable[..., Any], vin: str
) -> None:
    tech = login(client, staff.technician)
    refused(
        lambda: client.post(f"{API}/requests", headers=tech, json=request_body(vin)), 422, "vin"
    )
    refused(lambda: client.get(f"{API}/approvals", headers=tech, params={"vin": vin}), 422, "vin")


def test_missing_and_mistyped_fields(
    client: TestClient, staff: Staffing, refused: Callable[..., Any]
) -> None:
    tech = login(client, staff.technician)
    body = request_body()
    del body["repair_order"]
    refused(lambda: client.post(f"{API}/requests", headers=tech, json=body), 422, "repair_order")
    refused(
        lambda: client.post(f"{API}/requests", headers=tech, json=request_body(vin=12345)),
        422,
        "vin",
    )
    refused(
        lambda: client.post(
            f"{API}/requests", headers=tech, json=request_body(customer_last_name="   ")
        ),
        422,
        "customer_last_name",
    )
    refused(lambda: client.post(f"{API}/requests", headers=tech, json=[1, 2]), 422, None)
    refused(lambda: client.post(f"{API}/requests", headers=tech), 422, None)


def test_malformed_json_is_400(
    client: TestClient, staff: Staffing, refused: Callable[..., Any]
) -> None:
    tech = login(client, staff.technician)
    headers = {**tech, "Content-Type": "application/json"}
    error = refused(
        lambda: client.post(f"{API}/requests", headers=headers, content=b'{"vin": '), 400, None
    )
    assert "malformed JSON" in error["reason"]
    refused(lambda: client.post(f"{API}/login", headers=headers, content=b"{,}"), 400, None)
    # Without a JSON content type the body is not read as JSON: not an object, 422.
    refused(
        lambda: client.post(f"{API}/requests", headers=tech, content=b'{"vin": "x"}'), 422, None
    )


def test_expired_approval(
    client: TestClient, staff: Staffing, clock: FakeClock, refused: Callable[..., Any]
) -> None:
    tech, manager = login(client, staff.technician), login(client, staff.manager)
    number = client.post(f"{API}/requests", headers=tech, json=request_body()).json()["number"]
    client.post(
        f"{API}/requests/{number}/approve", headers=manager, json={"confirmations": APPROVAL}
    )
    clock.advance(APPROVAL_VALIDITY.total_seconds())  # exactly 72 h: still valid
    tech = login(client, staff.technician)  # the first token is older than 8 h
    response = client.post(f"{API}/requests/{number}/pass-codes", headers=tech, json=issue_body())
    assert response.status_code == 201, response.text
    clock.advance(1)  # 72 h + 1 s
    error = refused(
        lambda: client.post(f"{API}/requests/{number}/pass-codes", headers=tech, json=issue_body()),
        409,
        "request_number",
        audited="issue-refused",
    )
    assert "expired" in error["reason"]
    assert_error(client.get(f"{API}/approvals", headers=tech, params={"vin": VIN}), 404, "vin")
    assert client.get(f"{API}/requests/{number}", headers=tech).json()["status"] == "expired"


def test_expired_request_cannot_be_approved(
    client: TestClient,
    portal: Portal,
    staff: Staffing,
    clock: FakeClock,
    refused: Callable[..., Any],
) -> None:
    request = make_request(portal, staff.technician)
    clock.advance(REQUEST_VALIDITY.total_seconds() + 1)
    manager = login(client, staff.manager)
    assert client.get(f"{API}/inbox", headers=manager).json()["awaiting_approval"] == []
    refused(
        lambda: client.post(
            f"{API}/requests/{request.number}/approve",
            headers=manager,
            json={"confirmations": APPROVAL},
        ),
        409,
        "request_number",
    )


@pytest.mark.parametrize("version", ["9.10.036", "9.9.999", "9.10", "8", "v9.10.037", ""])
def test_old_or_bad_tool_version(
    client: TestClient,
    staff: Staffing,
    approved: RequestView,
    refused: Callable[..., Any],
    version: str,
) -> None:
    tech = login(client, staff.technician)
    refused(
        lambda: client.post(
            f"{API}/requests/{approved.number}/pass-codes",
            headers=tech,
            json=issue_body(tool_version=version),
        ),
        422,
        "tool_version",
    )


@pytest.mark.parametrize(
    "seed",
    [
        "00010203-04050607-08090A0B-0C0D0E",  # 15 bytes
        "00010203-04050607-08090A0B-0C0D0E0F00",  # 17 bytes
        "00010203-04050607-08090A0B-0C0D0E0G",  # not hex
        "",
    ],
)
def test_malformed_seed(
    client: TestClient,
    staff: Staffing,
    approved: RequestView,
    refused: Callable[..., Any],
    seed: str,
) -> None:
    tech = login(client, staff.technician)
    refused(
        lambda: client.post(
            f"{API}/requests/{approved.number}/pass-codes", headers=tech, json=issue_body(seed)
        ),
        422,
        "seed",
    )


def test_wrong_password(
    client: TestClient, engine: Engine, staff: Staffing, approved: RequestView
) -> None:
    """A wrong password is refused, and recorded as a failure (nothing else changes)."""
    for username in (staff.technician, "nobody"):
        before = snapshot(engine)
        error = assert_error(
            client.post(f"{API}/login", json={"username": username, "password": "wrong password"}),
            401,
            "password",
        )
        assert error["reason"] == "wrong username or password"
        assert changed_tables(before, snapshot(engine)) == {
            "audit_head",
            "audit_record",
            "auth_failure",
        }
    tech = login(client, staff.technician)
    before = snapshot(engine)
    assert_error(
        client.post(
            f"{API}/requests/{approved.number}/pass-codes",
            headers=tech,
            json=issue_body(password="wrong password"),
        ),
        401,
        "password",
    )
    assert changed_tables(before, snapshot(engine)) == {
        "audit_head",
        "audit_record",
        "auth_failure",
    }


def changed_tables(
    before: dict[str, list[tuple[object, ...]]], after: dict[str, list[tuple[object, ...]]]
) -> set[str]:
    return {table for table in after if after[table] != before.get(table)}


def test_reuse_the_valid_approval(
    client: TestClient, staff: Staffing, approved: RequestView, refused: Callable[..., Any]
) -> None:
    tech = login(client, staff.technician2)
    refused(lambda: client.post(f"{API}/requests", headers=tech, json=request_body()), 409, "vin")


def test_not_found(client: TestClient, staff: Staffing, refused: Callable[..., Any]) -> None:
    tech = login(client, staff.technician)
    refused(lambda: client.get(f"{API}/requests/14070199999", headers=tech), 404, "request_number")
    refused(lambda: client.get(f"{API}/approvals", headers=tech, params={"vin": VIN}), 404, "vin")
    refused(lambda: client.get(f"{API}/approvals", headers=tech), 422, "vin")
    refused(lambda: client.get(f"{API}/no-such-thing", headers=tech), 404, None)
    refused(lambda: client.delete(f"{API}/inbox", headers=tech), 405, None)


# -- sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/me"),
        ("GET", "/inbox"),
        ("POST", "/requests"),
        ("GET", "/requests/14070100001"),
        ("GET", f"/approvals?vin={VIN}"),
        ("POST", "/requests/14070100001/approve"),
        ("POST", "/requests/14070100001/refuse"),
        ("POST", "/requests/14070100001/pass-codes"),
        ("GET", "/audit"),
        ("GET", "/audit/verify"),
        ("GET", "/reports/nicb?since=2014-07-01&until=2014-08-01"),
        ("GET", f"/reports/monthly/{DEALER}/2014-07"),
    ],
)
def test_token_required(
    client: TestClient, staff: Staffing, refused: Callable[..., Any], method: str, path: str
) -> None:
    good = login(client, staff.manager)["Authorization"].removeprefix("Bearer ")
    for headers in (
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {good}x"},
        {"Authorization": f"Basic {good}"},
        {"Authorization": good},
    ):
        response = refused(
            lambda headers=headers: client.request(
                method, f"{API}{path}", headers=headers, json=request_body()
            ),
            401,
            "authorization",
        )
        assert response["reason"]
    response = client.get(f"{API}/me")
    assert response.headers["www-authenticate"] == "Bearer"


def test_token_expires_on_the_portal_clock(
    client: TestClient, portal: Portal, staff: Staffing, clock: FakeClock
) -> None:
    response = client.post(f"{API}/login", json={"username": staff.manager, "password": PASSWORD})
    assert response.json()["expires_at"] == "2014-07-02T04:27:00+00:00"
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    clock.advance(portal.settings.session_lifetime.total_seconds())  # exactly 8 h: still valid
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    clock.advance(1)
    assert_error(client.get(f"{API}/me", headers=headers), 401, "authorization")
    assert client.get(f"{API}/me", headers=login(client, staff.manager)).status_code == 200


def test_tokens_are_distinct_and_held_by_the_database(
    client: TestClient, portal: Portal, engine: Engine, staff: Staffing
) -> None:
    first, second = login(client, staff.manager), login(client, staff.manager)
    assert first != second
    token = first["Authorization"].removeprefix("Bearer ")
    assert len(token) >= 43  # 32 bytes, base64url
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token_sha256 FROM login_session")).scalars().all()
    assert token not in stored  # only digests
    assert len(stored) == 2
    with TestClient(create_app(portal)) as other_server:  # another worker over the same database
        assert other_server.get(f"{API}/me", headers=first).status_code == 200


# -- concurrency ---------------------------------------------------------------------------------


def race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Start all calls at the same moment, one thread each."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, httpx.Response) for r in results), results
    return [r for r in results if isinstance(r, httpx.Response)]


def test_racing_approvals(client: TestClient, staff: Staffing, engine: Engine) -> None:
    tech = login(client, staff.technician)
    managers = [login(client, staff.manager), login(client, staff.manager2)]
    for serial in range(1, 4):
        body = request_body(lab_vin("IS250", 2012, serial))
        number = client.post(f"{API}/requests", headers=tech, json=body).json()["number"]
        responses = race(
            [
                partial(
                    client.post,
                    f"{API}/requests/{number}/approve",
                    headers=headers,
                    json={"confirmations": APPROVAL},
                )
                for headers in managers
            ]
        )
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert "already approved" in assert_error(loser, 409, "request_number")["reason"]
    with Session(engine) as session, session.begin():
        assert session.scalar(select(func.count()).select_from(Approval)) == 3
        assert audit.verify(session, audit.audit_key(DEFAULT_MASTER_SECRET)) == []
    verify = client.get(f"{API}/audit/verify", headers=login(client, staff.manager))
    assert verify.json()["ok"] is True


def test_audit_verify_reports_an_unkeyed_rewrite(
    client: TestClient, staff: Staffing, engine: Engine
) -> None:
    """Every record relabelled ``sha256`` and rehashed with plain SHA-256 by raw SQL, the head
    fixed: ``ok`` is false, the problem ``unkeyed``, the legacy records counted."""
    manager = login(client, staff.manager)
    with Session(engine) as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        session.expunge_all()
    prev = GENESIS_HASH
    with engine.begin() as connection:
        for row in rows:
            row.scheme, row.prev_hash = audit.SCHEME_LEGACY, prev
            row.hash = prev = audit.legacy_hash(row)
            connection.execute(
                text("UPDATE audit_record SET scheme = 'sha256', prev_hash = :prev, hash = :hash"
                     " WHERE seq = :seq"),
                {"prev": row.prev_hash, "hash": row.hash, "seq": row.seq},
            )  # fmt: skip
        connection.execute(text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": prev})
    body = client.get(f"{API}/audit/verify", headers=manager).json()
    assert body["ok"] is False and body["legacy"] == len(rows)
    assert [problem["problem"].split(":")[0] for problem in body["problems"]] == ["unkeyed"]
    assert body["problems"][0]["seq"] == 1


def test_racing_pass_code_issues(
    client: TestClient, staff: Staffing, approved: RequestView, engine: Engine
) -> None:
    users = [login(client, staff.technician), login(client, staff.technician2)] * 4
    seeds = [f"{i:02X}" * 16 for i in range(1, 9)]
    responses = race(
        [
            partial(
                client.post,
                f"{API}/requests/{approved.number}/pass-codes",
                headers=headers,
                json=issue_body(seed),
            )
            for headers, seed in zip(users, seeds, strict=True)
        ]
    )
    assert [r.status_code for r in responses] == [201] * len(seeds), [r.text for r in responses]
    assert len({r.json()["pass_code"] for r in responses}) == len(seeds)
    with Session(engine) as session, session.begin():
        assert session.scalar(select(func.count()).select_from(PassCodeIssue)) == len(seeds)
        assert audit.verify(session, audit.audit_key(DEFAULT_MASTER_SECRET)) == []


# -- audit and reports ---------------------------------------------------------------------------


def test_audit_listing_pages(client: TestClient, staff: Staffing, approved: RequestView) -> None:
    headers = login(client, staff.manager)
    everything = client.get(f"{API}/audit", headers=headers, params={"limit": 1000}).json()
    records = everything["records"]
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert {r["dealer_code"] for r in records} == {DEALER}  # only the manager's own dealer
    page = client.get(f"{API}/audit", headers=headers, params={"since_seq": 3, "limit": 2}).json()
    assert page["records"] == [r for r in records if r["seq"] > 3][:2]
    approval = records[-1]
    assert (approval["action"], approval["request_number"], approval["vin"]) == (
        "approve",
        approved.number,
        VIN,
    )
    assert approval["at"] == "2014-07-01T20:27:00+00:00"
    assert '"manager":"Alice"' in approval["details"]
    for params, field in (({"limit": 0}, "limit"), ({"since_seq": -1}, "since_seq")):
        assert_error(client.get(f"{API}/audit", headers=headers, params=params), 422, field)
    assert_error(client.get(f"{API}/audit", headers=headers, params={"limit": "x"}), 422, "limit")


def test_audit_verify_detects_an_edited_row(
    client: TestClient, staff: Staffing, approved: RequestView, engine: Engine
) -> None:
    headers = login(client, staff.manager)
    assert client.get(f"{API}/audit/verify", headers=headers).json() == {
        "ok": True,
        "problems": [],
        "legacy": 0,
    }
    records = client.get(f"{API}/audit", headers=headers).json()["records"]
    target = next(r["seq"] for r in records if r["action"] == "approve")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_record SET actor = 'mallory' WHERE seq = :seq"), {"seq": target}
        )
    result = client.get(f"{API}/audit/verify", headers=headers)
    assert result.status_code == 200
    body = result.json()
    assert body["ok"] is False
    assert [(p["seq"], p["problem"].split(":")[0]) for p in body["problems"]] == [
        (target, "edited")
    ]


def test_nicb_report(client: TestClient, staff: Staffing, approved: RequestView) -> None:
    other = client.get(
        f"{API}/reports/nicb",
        headers=login(client, staff.other_manager),
        params={"since": "2014-07-01", "until": "2014-08-01"},
    )
    assert other.text.count("\r\n") == 2  # another dealer's sees none: the header, the head
    headers = login(client, staff.manager)
    response = client.get(
        f"{API}/reports/nicb",
        headers=headers,
        params={"since": "2014-07-01", "until": "2014-08-01"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.split("\r\n")
    assert lines[0].startswith("timestamp_utc,dealer_code,request_number,action,vin")
    assert [line.split(",")[3] for line in lines[1:] if line] == [
        "request",
        "approve",
        "audit-head",
    ]
    later = client.get(
        f"{API}/reports/nicb",
        headers=headers,
        params={"since": "2014-07-01T20:27:00.000001+00:00", "until": "2014-08-01T00:00:00"},
    )
    assert later.text.count("\r\n") == 2  # the header and the chain's head only
    for params, field in (
        ({"since": "yesterday", "until": "2014-08-01"}, "since"),
        ({"since": "2014-07-01", "until": "2014-13-01"}, "until"),
        ({"since": "2014-07-01"}, "until"),
    ):
        assert_error(client.get(f"{API}/reports/nicb", headers=headers, params=params), 422, field)


@pytest.mark.parametrize(
    "case",
    [
        ("csv", "text/csv", "timestamp_utc,request_number,action"),
        ("text", "text/plain", "Monthly Vehicle Security Transaction Report - 2014-07"),
        ("html", "text/html", "<!DOCTYPE html>"),
        (None, "text/csv", "timestamp_utc,request_number,action"),
    ],
)
def test_monthly_report(
    client: TestClient,
    staff: Staffing,
    approved: RequestView,
    case: tuple[str | None, str, str],
) -> None:
    fmt, media_type, marker = case
    headers = login(client, staff.manager2)
    params = {"format": fmt} if fmt else {}
    response = client.get(f"{API}/reports/monthly/{DEALER}/2014-07", headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert marker in response.text
    assert approved.number in response.text


def test_monthly_report_refusals(
    client: TestClient, staff: Staffing, approved: RequestView, refused: Callable[..., Any]
) -> None:
    headers = login(client, staff.manager)
    refused(
        lambda: client.get(f"{API}/reports/monthly/{OTHER_DEALER}/2014-07", headers=headers),
        404,  # another dealer's report: as if that dealer did not exist
        "dealer",
    )
    technician = login(client, staff.technician)
    refused(  # the Dealer GM's report (customer names, VINs, ROs): managers only
        lambda: client.get(f"{API}/reports/monthly/{DEALER}/2014-07", headers=technician),
        403,
        "job_title",
    )
    for month in ("2014-13", "2014", "July", "2014-07-01"):
        refused(
            lambda month=month: client.get(
                f"{API}/reports/monthly/{DEALER}/{month}", headers=headers
            ),
            422,
            "month",
        )
    refused(
        lambda: client.get(
            f"{API}/reports/monthly/{DEALER}/2014-07", headers=headers, params={"format": "pdf"}
        ),
        422,
        "format",
    )


# -- documentation -------------------------------------------------------------------------------


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get(f"{API}/health").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        f"{API}/health",
        f"{API}/login",
        f"{API}/logout",
        f"{API}/step-up",
        f"{API}/me",
        f"{API}/staff/{{username}}",
        f"{API}/requests",
        f"{API}/requests/{{number}}",
        f"{API}/approvals",
        f"{API}/inbox",
        f"{API}/requests/{{number}}/approve",
        f"{API}/requests/{{number}}/refuse",
        f"{API}/requests/{{number}}/pass-codes",
        f"{API}/requests/{{number}}/close",
        f"{API}/audit",
        f"{API}/audit/verify",
        f"{API}/reports/nicb",
        f"{API}/reports/monthly/{{dealer_code}}/{{month}}",
    }
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert operation.get("summary"), path
    assert schema["paths"][f"{API}/requests"]["post"]["security"]
    assert "security" not in schema["paths"][f"{API}/health"]["get"]
    assert "security" not in schema["paths"][f"{API}/login"]["post"]
    error = schema["components"]["schemas"]["ErrorOut"]
    assert error["properties"] == {"error": {"$ref": "#/components/schemas/ErrorBody"}}
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
