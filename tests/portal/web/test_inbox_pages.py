"""The inbox and the approval message over real HTTP: a manager approves or refuses on the
page (bulletin Section 4), the technician sees the decision, the service's refusals are shown
next to their field, and nothing changes without the rules."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from ecusim.portal.rules import IdentificationConfirmations
from ecusim.portal.service import Portal
from tests.portal.kit import Staffing, make_request, snapshot
from tests.portal.web.pages_kit import csrf_of, log_in

BOXES = ("details_verified", "nicb_log_acknowledged", "terms_and_conditions")


def test_a_manager_finds_the_request_in_the_inbox_and_approves_it(
    browser: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    request = make_request(portal, staff.technician)
    assert log_in(browser, staff.manager).status_code == 303
    page = browser.get("/inbox")
    assert f"Approval Required: Immobilizer Reset Request No. {request.number}" in page.text
    assert "will expire in 72 hours from the time of receipt of this message" in page.text
    assert f'href="/inbox/{request.number}"' in page.text
    message = browser.get(f"/inbox/{request.number}")
    assert message.status_code == 200
    answer = browser.post(
        f"/inbox/{request.number}/approve",
        data={"csrf_token": csrf_of(message), **dict.fromkeys(BOXES, "on")},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/inbox/{request.number}"
    assert portal.get_request(staff.manager, request.number).status == "approved"
    assert "Approved" in browser.get(f"/inbox/{request.number}").text


def test_an_unticked_box_is_refused_next_to_it_and_the_others_stay_ticked(
    browser: httpx.Client, portal: Portal, staff: Staffing, engine: Engine
) -> None:
    request = make_request(portal, staff.technician)
    log_in(browser, staff.manager)
    message = browser.get(f"/inbox/{request.number}")
    before = snapshot(engine)
    answer = browser.post(
        f"/inbox/{request.number}/approve",
        data={"csrf_token": csrf_of(message), BOXES[0]: "on", BOXES[2]: "on"},
    )
    assert answer.status_code == 422
    assert 'id="error-confirmations-nicb_log_acknowledged"' in answer.text
    assert "must be confirmed: nicb log acknowledged" in answer.text
    assert f'id="{BOXES[0]}" name="{BOXES[0]}" checked' in answer.text
    assert snapshot(engine) == before


def test_a_refusal_reaches_the_technicians_inbox_with_its_reason(
    browser: httpx.Client, portal: Portal, staff: Staffing, base_url: str
) -> None:
    request = make_request(portal, staff.technician)
    log_in(browser, staff.manager)
    message = browser.get(f"/inbox/{request.number}")
    answer = browser.post(
        f"/inbox/{request.number}/refuse",
        data={"csrf_token": csrf_of(message), "reason": "customer ID not <b>verified</b>"},
    )
    assert answer.status_code == 303
    with httpx.Client(base_url=base_url) as technician:
        log_in(technician, staff.technician)
        page = technician.get("/inbox").text
    assert "Refused: Immobilizer Reset Request No." in page
    assert "customer ID not &lt;b&gt;verified&lt;/b&gt;" in page  # escaped, never markup


def test_the_requester_and_a_technician_cannot_approve_and_nothing_changes(
    browser: httpx.Client, portal: Portal, staff: Staffing, engine: Engine, base_url: str
) -> None:
    own = make_request(portal, staff.manager)
    log_in(browser, staff.manager)
    message = browser.get(f"/inbox/{own.number}")
    answer = browser.post(
        f"/inbox/{own.number}/approve",
        data={"csrf_token": csrf_of(message), **dict.fromkeys(BOXES, "on")},
    )
    assert answer.status_code == 403
    assert "a request must be approved by a manager other than the requester" in answer.text
    request = make_request(portal, staff.technician, "JTHBL5EF2C5000002")
    with httpx.Client(base_url=base_url) as technician:
        log_in(technician, staff.technician2)
        page = technician.get(f"/inbox/{request.number}")
        before = snapshot(engine)
        answer = technician.post(
            f"/inbox/{request.number}/approve",
            data={"csrf_token": csrf_of(page), **dict.fromkeys(BOXES, "on")},
        )
    assert answer.status_code == 403
    assert "cannot approve pass-code requests" in answer.text
    assert snapshot(engine) == before


def test_another_dealers_request_is_not_found_and_a_post_without_token_changes_nothing(
    browser: httpx.Client, portal: Portal, staff: Staffing, engine: Engine
) -> None:
    request = make_request(portal, staff.technician)
    log_in(browser, staff.other_manager)
    assert browser.get(f"/inbox/{request.number}").status_code == 404
    before = snapshot(engine)
    answer = browser.post(f"/inbox/{request.number}/approve", data=dict.fromkeys(BOXES, "on"))
    assert answer.status_code == 403
    assert "nothing was changed" in answer.text
    assert snapshot(engine) == before


def test_a_customer_name_is_escaped_in_the_inbox(
    browser: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    portal.create_request(
        staff.technician,
        "JTHBL5EF0C5000001",
        "RO-1",
        "<script>alert(1)</script>",
        IdentificationConfirmations.all_confirmed(),
    )
    log_in(browser, staff.manager)
    for page in (browser.get("/inbox"),):
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_technician_opening_the_approval_message_gets_no_approval_form(
    portal: Portal, staff: Staffing, base_url: str
) -> None:
    """The approval message is a manager's page: a technician typing its URL gets the refusal
    (403, in the service's words) and no Approve/Refuse form to fill in (ASVS V4.1.1)."""
    request = make_request(portal, staff.technician)
    with httpx.Client(base_url=base_url) as technician:
        log_in(technician, staff.technician2)
        page = technician.get(f"/inbox/{request.number}")
    assert page.status_code == 403
    assert "is not an approving manager" in page.text
    assert f"/inbox/{request.number}/approve" not in page.text
    assert 'name="reason"' not in page.text
