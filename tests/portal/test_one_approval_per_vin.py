"""One open request or approval per dealer and VIN (bulletin Section 3 note, portal-rules.md §2):
a dealer cannot stack requests or approvals for one car to multiply the per-approval Pass-Code
limit or to keep an approval alive past its close. Service level on SQLite and PostgreSQL, and
the attack over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import partial

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ecusim.catalog.vin import lab_vin
from ecusim.portal.api import BackgroundServer
from ecusim.portal.errors import ConflictError
from ecusim.portal.models import Approval
from ecusim.portal.rules import REQUEST_VALIDITY, ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView
from protocol.clock import FakeClock

from .kit import PASSWORD, VIN, Staffing, make_request, snapshot
from .test_concurrency import race

APPROVE = ApprovalConfirmations.all_confirmed()
TIMEOUT_S = 10.0


def approvals(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Approval)) or 0


def refused_on_vin(engine: Engine, action: partial[RequestView]) -> ConflictError:
    """``action`` is refused with 409 on ``vin`` and changes nothing, not even the audit log."""
    before = snapshot(engine)
    with pytest.raises(ConflictError) as caught:
        action()
    assert caught.value.field == "vin", caught.value
    assert caught.value.http_status == 409
    assert snapshot(engine) == before
    return caught.value


def set_vin(engine: Engine, number: str, vin: str) -> None:
    """Give a request another VIN directly: two open requests for one VIN, as a database written
    before this rule can hold (the setting-up of a test)."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE reset_request SET vin = :vin WHERE number = :number"),
            {"vin": vin, "number": number},
        )


def test_a_second_request_while_one_awaits_approval_is_refused(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    first = make_request(portal, staff.technician)
    for user in (staff.technician, staff.technician2):
        error = refused_on_vin(engine, partial(make_request, portal, user))
        assert f"request No. {first.number}" in error.reason
        assert "awaiting approval" in error.reason


def test_a_new_request_is_allowed_once_the_open_one_is_refused_or_expired(
    portal: Portal, staff: Staffing, clock: FakeClock
) -> None:
    first = make_request(portal, staff.technician)
    portal.refuse(staff.manager, first.number, "wrong customer")
    second = make_request(portal, staff.technician)
    clock.advance((REQUEST_VALIDITY + timedelta(seconds=1)).total_seconds())
    third = make_request(portal, staff.technician)
    assert len({first.number, second.number, third.number}) == 3


def test_the_rule_is_per_dealer_and_per_vin(portal: Portal, staff: Staffing) -> None:
    make_request(portal, staff.technician)
    make_request(portal, staff.technician, lab_vin("IS250", 2012, 7))
    make_request(portal, staff.other_manager)  # another dealer, the same car: its own business


def test_a_second_approval_for_a_vin_is_refused(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    first = make_request(portal, staff.technician)
    second = make_request(portal, staff.technician2, lab_vin("IS250", 2012, 7))
    set_vin(engine, second.number, VIN)
    portal.approve(staff.manager, first.number, APPROVE)
    error = refused_on_vin(engine, partial(portal.approve, staff.manager2, second.number, APPROVE))
    assert f"request No. {first.number}" in error.reason
    assert approvals(engine) == 1
    # Once the first approval is closed (repair completed) the other request may be approved.
    portal.close_approval(staff.technician, first.number)
    assert portal.approve(staff.manager2, second.number, APPROVE).status == "approved"
    # Refusing the surplus request stays possible while an approval is open.
    third = make_request(portal, staff.technician, lab_vin("IS250", 2012, 8))
    set_vin(engine, third.number, VIN)
    assert portal.refuse(staff.manager, third.number, "duplicate").status == "refused"


def test_racing_requests_for_one_vin_leave_one(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    results = race([partial(make_request, portal, staff.technician) for _ in range(4)])
    created = [result for result in results if isinstance(result, RequestView)]
    conflicts = [result for result in results if isinstance(result, ConflictError)]
    assert (len(created), len(conflicts)) == (1, 3), results
    assert all(conflict.field == "vin" for conflict in conflicts)


@pytest.fixture
def http(portal: Portal, staff: Staffing) -> Iterator[httpx.Client]:
    server = BackgroundServer(
        portal, lifespan="off", start_timeout_s=TIMEOUT_S, stop_timeout_s=TIMEOUT_S
    )
    url = server.start()
    try:
        with httpx.Client(base_url=f"{url}/api/v1", timeout=TIMEOUT_S) as client:
            yield client
    finally:
        stopped = server.stop()
    assert stopped, "uvicorn did not stop in time"


def test_the_attack_three_requests_three_approvals_over_http(
    http: httpx.Client, engine: Engine, staff: Staffing
) -> None:
    def login(username: str) -> dict[str, str]:
        response = http.post("/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    tech, manager = login(staff.technician), login(staff.manager)
    body = {
        "vin": VIN,
        "repair_order": "RO-4711",
        "customer_last_name": "Smith",
        "confirmations": {
            "customer_authority": True,
            "customer_identity": True,
            "vehicle_registration": True,
            "terms_and_conditions": True,
        },
    }
    first = http.post("/requests", headers=tech, json=body)
    assert first.status_code == 201, first.text
    number = first.json()["number"]
    for _ in range(2):
        before = snapshot(engine)
        again = http.post("/requests", headers=tech, json=body)
        assert again.status_code == 409, again.text
        error = again.json()["error"]
        assert (error["status"], error["field"]) == (409, "vin")
        assert f"request No. {number}" in error["reason"]
        assert snapshot(engine) == before
    confirmations = {
        "details_verified": True,
        "nicb_log_acknowledged": True,
        "terms_and_conditions": True,
    }
    inbox = http.get("/inbox", headers=manager).json()
    for request in inbox["awaiting_approval"]:
        response = http.post(
            f"/requests/{request['number']}/approve",
            headers=manager,
            json={"confirmations": confirmations},
        )
        assert response.status_code == 200, response.text
    assert approvals(engine) == 1
