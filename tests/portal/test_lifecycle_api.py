"""The approval lifecycle over real HTTP (uvicorn on 127.0.0.1, a FakeClock portal): the close
endpoint, 429 with ``Retry-After`` on Pass-Codes, the same seed answered once, the client's
``close_approval``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from ecusim.portal.api import BackgroundServer
from ecusim.portal.client import PortalClient, PortalClientError
from ecusim.portal.models import Action
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView
from protocol.clock import FakeClock

from .kit import (
    PASSWORD,
    START,
    VIN,
    Staffing,
    audit_actions,
    audit_seq,
    make_request,
    snapshot,
    without_audit,
)

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
PASS_CODE = "68048306-E57DF5FB-1D818A1B-527791CD"
TIMEOUT_S = 10.0


@pytest.fixture
def base_url(portal: Portal, staff: Staffing) -> Iterator[str]:
    server = BackgroundServer(
        portal, lifespan="off", start_timeout_s=TIMEOUT_S, stop_timeout_s=TIMEOUT_S
    )
    url = server.start()
    try:
        yield f"{url}/api/v1"
    finally:
        stopped = server.stop()
    assert stopped, "uvicorn did not stop in time"


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_S) as client:
        yield client


def login(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def issue_body(seed: str) -> dict[str, str]:
    return {"password": PASSWORD, "tool_version": "9.10.037", "seed": seed}


def error_of(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["status"], error["field"]) == (status, field), error
    assert error["reason"]
    return error


def test_pass_codes_over_the_limit_get_429_with_retry_after(
    http: httpx.Client, engine: Engine, approved: RequestView, clock: FakeClock, portal: Portal
) -> None:
    tech = login(http, "carol")
    path = f"/requests/{approved.number}/pass-codes"
    limit = portal.settings.issue_rate_limit
    for index in range(limit):
        response = http.post(path, headers=tech, json=issue_body(f"{index:032X}"))
        assert response.status_code == 201, response.text
    before, seq = snapshot(engine), audit_seq(engine)
    over = http.post(path, headers=tech, json=issue_body("FF" * 16))
    error = error_of(over, 429, "request_number")
    assert over.headers["Retry-After"] == "3600"
    assert "at most 20" in error["reason"]
    assert without_audit(snapshot(engine)) == without_audit(before)
    assert audit_actions(engine, seq) == [Action.ISSUE_REFUSED]
    # A seed already issued is still answered: it is not a new Pass-Code.
    assert http.post(path, headers=tech, json=issue_body(f"{0:032X}")).status_code == 201
    clock.advance(3600)
    assert http.post(path, headers=tech, json=issue_body("FF" * 16)).status_code == 201


def test_the_same_seed_twice_answers_the_same(
    http: httpx.Client, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    tech = login(http, "carol")
    path = f"/requests/{approved.number}/pass-codes"
    first = http.post(path, headers=tech, json=issue_body(SEED))
    clock.advance(60)
    dave = login(http, "dave")
    assert http.post("/step-up", headers=dave, json={"password": PASSWORD}).status_code == 200
    seq = audit_seq(engine)  # after dave's step-up: the repeated seed itself writes nothing
    body = {key: value for key, value in issue_body(SEED.lower()).items() if key != "password"}
    again = http.post(path, headers=dave, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert first.json()["pass_code"] == PASS_CODE
    assert first.json()["issued_at"] == START.isoformat()
    assert audit_actions(engine, seq) == []


def test_close_endpoint(
    http: httpx.Client, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    tech, other = login(http, "carol"), login(http, "erin")
    close = f"/requests/{approved.number}/close"

    before = snapshot(engine)
    error_of(http.post(close, headers=other, json={}), 404, "request_number")
    error_of(http.post(close, headers=tech, json={"note": "x" * 201}), 422, "note")
    error_of(http.post(close, headers=tech, json={"note": 7}), 422, "note")
    error_of(http.post(close), 401, "authorization")
    assert snapshot(engine) == before

    clock.advance(90)
    closed = http.post(close, headers=tech, json={"note": "repair completed"})
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["closed_by"], body["closed_at"]) == (
        "closed",
        "Carol",
        "2014-07-01T20:28:30+00:00",
    )
    assert http.get(f"/requests/{approved.number}", headers=tech).json() == body

    before, seq = snapshot(engine), audit_seq(engine)
    refused = http.post(
        f"/requests/{approved.number}/pass-codes", headers=tech, json=issue_body(SEED)
    )
    assert "closed" in error_of(refused, 409, "request_number")["reason"]
    assert without_audit(snapshot(engine)) == without_audit(before)
    assert audit_actions(engine, seq) == [Action.ISSUE_REFUSED]

    alice = login(http, "alice")  # a login writes its session: before the snapshot
    before = snapshot(engine)
    again = http.post(close, headers=alice)  # no body: no note
    assert "already closed" in error_of(again, 409, "request_number")["reason"]
    assert snapshot(engine) == before
    error_of(http.get("/approvals", headers=tech, params={"vin": VIN}), 404, "vin")


def test_client_close_approval(base_url: str, portal: Portal, staff: Staffing) -> None:
    request = make_request(portal, "carol")
    portal.approve("alice", request.number, ApprovalConfirmations.all_confirmed())
    with PortalClient(base_url) as client:
        client.login("bob", PASSWORD)
        closed = client.close_approval(request.number)
        assert (closed.status, closed.closed_by) == ("closed", "Bob")
        with pytest.raises(PortalClientError) as caught:
            client.close_approval(request.number, note="again")
        assert (caught.value.status, caught.value.field) == (409, "request_number")
        # The VIN may be requested again.
        client.login("carol", PASSWORD)
        assert client.find_approval(VIN) is None
        other = make_request(portal, "carol")
        portal.approve("alice", other.number, ApprovalConfirmations.all_confirmed())
        assert client.close_approval(other.number, note="done").closed_by == "Carol"


def test_refused_attempts_past_the_budget_get_429_with_retry_after(
    http: httpx.Client, engine: Engine, approved: RequestView, clock: FakeClock, portal: Portal
) -> None:
    tech = login(http, "carol")
    assert http.post(f"/requests/{approved.number}/close", headers=tech, json={}).status_code == 200
    path = f"/requests/{approved.number}/pass-codes"
    budget = portal.settings.refused_issue_budget
    for index in range(budget):
        error_of(
            http.post(path, headers=tech, json=issue_body(f"{index:032X}")), 409, "request_number"
        )
    before = snapshot(engine)
    over = http.post(path, headers=tech, json=issue_body("FF" * 16))
    error_of(over, 429, "request_number")
    assert over.headers["Retry-After"] == str(int(portal.settings.failure_window.total_seconds()))
    assert snapshot(engine) == before
    clock.advance(portal.settings.failure_window.total_seconds())
    error_of(http.post(path, headers=tech, json=issue_body("FF" * 16)), 409, "request_number")
