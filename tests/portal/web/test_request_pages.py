"""The technician's pages over real HTTP (uvicorn on 127.0.0.1, real cookies): the Key Code
Reset form and its OK page (bulletin Section 2, Figures 3 and 13), and the approval file with
its Pass-Codes and "repair completed" (Section 5, Figures 20 and 21)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import fields

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import Engine

from ecusim.portal import rules
from ecusim.portal.errors import ConflictError, PortalError
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.web.display import tis_time
from ecusim.portal.web.pages.requests import POLICY_BOXES
from protocol.clock import FakeClock
from protocol.passcode import DEFAULT_MASTER_SECRET, format_code, pass_code
from tests.portal.kit import (
    DEALER,
    PASSWORD,
    START,
    VIN,
    Staffing,
    audit_seq,
    make_request,
    snapshot,
)
from tests.portal.web.pages_kit import csrf_of, log_in, step_up

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
SEED2 = "A5A5A5A5-A5A5A5A5-A5A5A5A5-A5A5A5A5"
TOOL = "9.10.037"
KNOWN = {  # tests/portal/test_service.py KNOWN_ANSWERS (diagnostic-contract.md §5)
    SEED: "68048306-E57DF5FB-1D818A1B-527791CD",
    SEED2: "443FA847-64476F93-4AF28B91-F496CD6E",
}
RO, CUSTOMER = "RO-4711", "Smith"
GOOD = {
    "vin": VIN.lower(),  # normalised by the rules, as the API does
    "repair_order": RO,
    "customer_last_name": CUSTOMER,
    **{f"confirm_{name}": "on" for name, _ in POLICY_BOXES},
}
CUSTOMER_DATA = (VIN, VIN.lower(), RO, CUSTOMER)


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def urls(browser: httpx.Client) -> list[str]:
    """Every URL the browser asks for and every Location it is sent to."""
    seen: list[str] = []

    def on_request(request: httpx.Request) -> None:
        seen.append(str(request.url))

    def on_response(response: httpx.Response) -> None:
        seen.extend(response.headers.get_list("location"))

    browser.event_hooks = {"request": [on_request], "response": [on_response]}
    return seen


@pytest.fixture
def technician(browser: httpx.Client, staff: Staffing) -> httpx.Client:
    """The browser, logged in as the technician, password re-entered."""
    assert log_in(browser, staff.technician).status_code == 303
    step_up(browser, "/requests/new")
    return browser


def element_text(page: httpx.Response, element_id: str) -> str:
    """The text of the element with ``id`` (no nested tags), unescaped."""
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', page.text)
    assert found, f"no #{element_id} in {page.text}"
    return html.unescape(found.group(1)).strip()


def error_next_to(page: httpx.Response, input_id: str, field: str) -> str:
    """The refusal shown for ``field``: it must come right after the input ``input_id`` (before
    the next control). Returns its text."""
    error_id = f"error-{field.replace('.', '-')}"
    text = page.text
    at_input = text.index(f'id="{input_id}"')
    at_error = text.index(f'id="{error_id}"')
    following = re.compile(r"<(input|button|select|textarea)\b").search(text, at_input + 1)
    assert at_input < at_error, f"#{error_id} is before #{input_id}"
    assert following is None or at_error < following.start(), f"#{error_id} is not next to it"
    return element_text(page, error_id)


def reason_of(action: Callable[[], object]) -> str:
    """What the rules (or the service) say about it: the API's words."""
    with pytest.raises(PortalError) as caught:
        action()
    return caught.value.reason


def send(
    browser: httpx.Client, path: str, data: dict[str, str], page: httpx.Response
) -> httpx.Response:
    """POST the form ``data`` to ``path`` with the CSRF token of ``page``."""
    return browser.post(path, data={"csrf_token": csrf_of(page), **data})


def issue(browser: httpx.Client, number: str, seed: str, **extra: str) -> httpx.Response:
    page = browser.get(f"/requests/{number}")
    return send(
        browser,
        f"/requests/{number}/pass-code",
        {"tool_version": TOOL, "seed": seed, **extra},
        page,
    )


def my_requests(portal: Portal, staff: Staffing) -> tuple[RequestView, ...]:
    return portal.inbox(staff.technician).my_requests


# -- the Key Code Reset form ---------------------------------------------------------------------


def test_the_form_needs_the_password_re_entered_first(
    browser: httpx.Client, staff: Staffing
) -> None:
    assert log_in(browser, staff.technician).status_code == 303
    before = browser.get("/requests/new")
    assert before.status_code == 303
    assert before.headers["location"] == "/step-up?next=/requests/new"
    assert step_up(browser, "/requests/new").headers["location"] == "/requests/new"
    form = browser.get("/requests/new")
    assert form.status_code == 200
    assert 'id="next"' in form.text


def test_the_form_is_filled_in_with_the_dealer_and_the_technician(technician: httpx.Client) -> None:
    page = technician.get("/requests/new")
    assert element_text(page, "dealer_code") == DEALER
    assert element_text(page, "dealer_name") == "Lexus of Lab City"
    assert element_text(page, "technician_name") == "Carol"
    assert re.search(r'id="vin"[^>]*maxlength="17"', page.text)
    for name, wording in POLICY_BOXES:  # the bulletin's words, one box each, none ticked
        assert f'id="confirm_{name}"' in page.text
        assert str(escape(wording)) in page.text
    assert " checked" not in page.text
    assert "Monthly Vehicle Security Transaction Report" in page.text
    assert "National Insurance Crime Bureau" in page.text
    assert re.search(r'<a href="/inbox"[^>]*id="back"', page.text)  # Back
    assert re.search(r'<a href="/requests/new"[^>]*id="clear"', page.text)  # Clear: empty form
    assert "<script" not in page.text  # plain HTML: no script needed


def test_policy_boxes_are_the_services_identification_confirmations() -> None:
    assert [name for name, _ in POLICY_BOXES] == [
        item.name for item in fields(IdentificationConfirmations)
    ]


def test_next_then_ok_sends_the_request_with_no_customer_data_in_any_url(
    urls: list[str], technician: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    form = technician.get("/requests/new")
    confirm = send(technician, "/requests/new", {**GOOD, "step": "next"}, form)
    assert confirm.status_code == 200
    assert my_requests(portal, staff) == ()  # Next sends nothing
    assert element_text(confirm, "confirm-vin") == VIN  # upper-cased, as it will be stored
    assert element_text(confirm, "confirm-customer_last_name") == CUSTOMER
    assert f'<input type="hidden" name="vin" value="{VIN}">' in confirm.text
    assert 'id="ok"' in confirm.text
    ok_form = confirm.text[confirm.text.index('id="confirm-form"') :]
    hidden = re.findall(r'type="hidden" name="([^"]+)"', ok_form)
    assert sorted(hidden) == sorted(["csrf_token", *GOOD])  # the values travel in the body

    sent = send(technician, "/requests/new", {**GOOD, "vin": VIN, "step": "ok"}, confirm)
    assert sent.status_code == 303
    (request,) = my_requests(portal, staff)
    assert sent.headers["location"] == f"/requests/{request.number}"
    got = portal.get_request(staff.manager, request.number)
    assert (got.vin, got.repair_order, got.customer_last_name) == (VIN, RO, CUSTOMER)
    assert (got.status, got.technician_username) == ("requested", staff.technician)

    page = technician.get(sent.headers["location"])
    assert page.status_code == 200
    sent_note = element_text(page, "sent")
    assert "sent to dealer management" in sent_note
    assert "expire in 72 hours" in sent_note
    assert f"at {tis_time(START)}, at {tis_time(got.expires_at)}" in " ".join(sent_note.split())
    assert tis_time(got.expires_at) == "07/04/2014 08:27 PM UTC"
    assert element_text(page, "request-status") == "Requested"
    assert 'id="pass-code-form"' not in page.text  # not approved yet

    assert urls
    for url in urls:
        for secret in CUSTOMER_DATA:
            assert secret not in url, url


def test_the_ok_pages_back_shows_the_form_with_the_values(
    technician: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    confirm = send(
        technician, "/requests/new", {**GOOD, "step": "next"}, technician.get("/requests/new")
    )
    back = send(technician, "/requests/new", {**GOOD, "vin": VIN, "step": "edit"}, confirm)
    assert back.status_code == 200
    assert f'value="{VIN}"' in back.text and f'value="{RO}"' in back.text
    assert back.text.count(" checked") == len(POLICY_BOXES)
    assert my_requests(portal, staff) == ()


def test_the_ok_step_needs_no_open_window_so_a_slow_typist_keeps_the_request(
    technician: httpx.Client, portal: Portal, staff: Staffing, clock: FakeClock
) -> None:
    confirm = send(
        technician, "/requests/new", {**GOOD, "step": "next"}, technician.get("/requests/new")
    )
    clock.advance(portal.settings.step_up_window.total_seconds() + 1)
    assert not portal.session(technician.cookies["ecusim_session"]).stepped_up(portal.now())
    sent = send(technician, "/requests/new", {**GOOD, "step": "ok"}, confirm)
    assert sent.status_code == 303  # as POST /api/v1/requests: no re-entry needed to send
    assert len(my_requests(portal, staff)) == 1
    # the empty form asks for the password again
    assert technician.get("/requests/new").headers["location"] == "/step-up?next=/requests/new"


BAD_VIN = VIN[:8] + "1" + VIN[9:]  # wrong check digit


@pytest.mark.parametrize("step", ["next", "ok"])  # checked at Next; OK (forged) says the same
@pytest.mark.parametrize(
    ("change", "input_id", "field", "rule"),
    [
        ({"vin": BAD_VIN}, "vin", "vin", lambda: rules.validate_vin_field(BAD_VIN)),
        ({"vin": "JTHBL5EF0C50"}, "vin", "vin", lambda: rules.validate_vin_field("JTHBL5EF0C50")),
        (
            {"repair_order": "   "},
            "repair_order",
            "repair_order",
            lambda: rules.require_text("repair_order", "   "),
        ),
        (
            {"customer_last_name": "x" * 61},
            "customer_last_name",
            "customer_last_name",
            lambda: rules.require_text("customer_last_name", "x" * 61),
        ),
        (
            {"confirm_vehicle_registration": ""},
            "confirm_vehicle_registration",
            "confirmations.vehicle_registration",
            lambda: rules.check_confirmations(
                IdentificationConfirmations(True, True, False, True), "confirmations"
            ),
        ),
    ],
)
def test_each_refusal_is_shown_next_to_its_field_and_the_form_keeps_what_was_typed(
    *,
    technician: httpx.Client,
    portal: Portal,
    staff: Staffing,
    step: str,
    change: dict[str, str],
    input_id: str,
    field: str,
    rule: Callable[[], object],
) -> None:
    typed = {**GOOD, **change, "step": step}
    if not typed["confirm_vehicle_registration"]:
        del typed["confirm_vehicle_registration"]
    page = send(technician, "/requests/new", typed, technician.get("/requests/new"))
    assert page.status_code == 422
    assert error_next_to(page, input_id, field) == reason_of(rule)
    assert page.text.count('role="alert"') == 1  # that one, nowhere else
    for name in ("vin", "repair_order", "customer_last_name"):
        assert f'id="{name}" name="{name}" type="text" value="{escape(typed[name])}"' in page.text
    ticked = [name for name, _ in POLICY_BOXES if f"confirm_{name}" in typed]
    for name, _ in POLICY_BOXES:
        box = re.search(rf'<input type="checkbox" id="confirm_{name}"[^>]*>', page.text)
        assert box
        assert (" checked" in box.group(0)) == (name in ticked)
    assert my_requests(portal, staff) == ()


@pytest.mark.parametrize("approve", [False, True], ids=["awaiting-approval", "approved"])
def test_a_second_request_for_the_vin_is_refused_naming_the_one_to_use(
    technician: httpx.Client, portal: Portal, staff: Staffing, approve: bool
) -> None:
    first = make_request(portal, staff.technician2)
    if approve:
        portal.approve(staff.manager, first.number, ApprovalConfirmations.all_confirmed())
    expected = reason_of(
        lambda: portal.create_request(
            staff.technician, VIN, RO, CUSTOMER, IdentificationConfirmations.all_confirmed()
        )
    )
    assert f"request No. {first.number}" in expected
    assert ("use that approval" if approve else "use that request") in expected
    page = send(
        technician, "/requests/new", {**GOOD, "step": "ok"}, technician.get("/requests/new")
    )
    assert page.status_code == ConflictError.http_status
    assert error_next_to(page, "vin", "vin") == expected
    assert f'value="{RO}"' in page.text
    assert my_requests(portal, staff) == ()


def test_a_dealer_with_fewer_than_two_managers_is_refused_next_to_the_dealer(
    technician: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    portal.change_staff("cli", staff.manager2, enrolled=False, admin=True)
    page = send(
        technician, "/requests/new", {**GOOD, "step": "ok"}, technician.get("/requests/new")
    )
    assert page.status_code == 403
    reason = element_text(page, "error-dealer")
    assert reason == (
        f"dealer {DEALER} has 1 enrolled approving manager(s); "
        "at least 2 are needed to obtain pass-codes"
    )
    assert page.text.index('id="dealer-details"') < page.text.index('id="error-dealer"')
    assert my_requests(portal, staff) == ()


def test_typed_text_is_escaped_on_every_page(
    technician: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    name = "<script>alert('x')</script>"
    data = {**GOOD, "customer_last_name": name}
    confirm = send(
        technician, "/requests/new", {**data, "step": "next"}, technician.get("/requests/new")
    )
    assert "<script>alert" not in confirm.text
    assert "&lt;script&gt;" in confirm.text
    sent = send(technician, "/requests/new", {**data, "step": "ok"}, confirm)
    page = technician.get(sent.headers["location"])
    assert "<script>alert" not in page.text
    assert my_requests(portal, staff)[0].customer_last_name == name


# -- the approval file and its Pass-Codes --------------------------------------------------------


def test_the_approval_file_issues_a_pass_code_per_seed_on_the_same_page(
    technician: httpx.Client, approved: RequestView, staff: Staffing
) -> None:
    page = technician.get(f"/requests/{approved.number}")
    assert page.status_code == 200
    assert element_text(page, "request-status") == "Approved"
    assert element_text(page, "request-manager") == "Alice"
    assert element_text(page, "valid-until") == tis_time(approved.valid_until)
    assert element_text(page, "request-vin") == VIN
    assert 'id="tool_version"' in page.text and 'id="seed"' in page.text
    assert 'id="password"' not in page.text  # re-entered just now: the window is open
    assert 'id="pass-code"' not in page.text

    first = issue(technician, approved.number, SEED)
    assert first.status_code == 200  # the answer itself: never a redirect, never in a URL
    code = element_text(first, "pass-code")
    assert code == KNOWN[SEED]
    assert code == format_code(
        pass_code(VIN, bytes.fromhex(SEED.replace("-", "")), DEFAULT_MASTER_SECRET)
    )
    copy = re.search(r"<button[^>]*data-copy-target=\"pass-code\"[^>]*>", first.text)
    assert copy and " hidden" in copy.group(0)  # shown by /static/copy.js only
    assert re.findall(r"<script[^>]*>", first.text) == ['<script src="/static/copy.js">']
    # the form stays under the Pass-Code for the next seed: the tool kept, the seed empty
    assert first.text.index('id="pass-code"') < first.text.index('id="pass-code-form"')
    assert 'id="tool_version" name="tool_version" type="text" value="9.10.037"' in first.text
    assert 'id="seed" name="seed" type="text" value=""' in first.text

    second = send(
        technician,
        f"/requests/{approved.number}/pass-code",
        {"tool_version": TOOL, "seed": SEED2.lower()},
        first,
    )
    assert second.status_code == 200
    assert element_text(second, "pass-code") == KNOWN[SEED2] != code


def test_outside_the_window_the_file_asks_for_the_password(
    browser: httpx.Client, approved: RequestView, staff: Staffing, portal: Portal
) -> None:
    assert log_in(browser, staff.technician).status_code == 303  # no re-entry yet
    page = browser.get(f"/requests/{approved.number}")
    assert 'id="password"' in page.text

    none = issue(browser, approved.number, SEED)
    assert none.status_code == 401
    assert error_next_to(none, "password", "password") == reason_of(
        lambda: portal.issue_pass_code_in_session(
            browser.cookies["ecusim_session"],
            approved.number,
            None,
            TOOL,
            SEED,
            client_address=None,
        )
    )
    assert f'value="{SEED}"' in none.text and f'value="{TOOL}"' in none.text  # kept

    wrong = issue(browser, approved.number, SEED, password="not my password")
    assert wrong.status_code == 401
    assert error_next_to(wrong, "password", "password") == "wrong password"
    assert "not my password" not in wrong.text  # a password is never sent back

    right = issue(browser, approved.number, SEED, password=PASSWORD)
    assert right.status_code == 200
    assert element_text(right, "pass-code") == KNOWN[SEED]
    assert PASSWORD not in right.text
    assert 'id="password"' not in right.text  # the re-entry opened the window
    assert portal.session(browser.cookies["ecusim_session"]).stepped_up(portal.now())


@pytest.mark.parametrize(
    ("typed", "field", "rule"),
    [
        ({"seed": "0001-02"}, "seed", lambda: rules.validate_seed("0001-02")),
        ({"seed": ""}, "seed", lambda: rules.validate_seed("")),
        (
            {"tool_version": "9.10.036"},
            "tool_version",
            lambda: rules.validate_tool_version("9.10.036"),
        ),
        ({"tool_version": "nine"}, "tool_version", lambda: rules.validate_tool_version("nine")),
    ],
)
def test_pass_code_refusals_are_shown_next_to_their_field(
    *,
    technician: httpx.Client,
    approved: RequestView,
    engine: Engine,
    typed: dict[str, str],
    field: str,
    rule: Callable[[], object],
) -> None:
    before = snapshot(engine)
    data = {"tool_version": TOOL, "seed": SEED, **typed}
    page = send(
        technician,
        f"/requests/{approved.number}/pass-code",
        data,
        technician.get(f"/requests/{approved.number}"),
    )
    assert page.status_code == 422
    assert error_next_to(page, field, field) == reason_of(rule)
    assert 'id="pass-code"' not in page.text
    assert f'value="{escape(data["tool_version"])}"' in page.text
    assert f'id="seed" name="seed" type="text" value="{data["seed"]}"' in page.text
    assert snapshot(engine) == before  # malformed input: not even audited


def test_repair_completed_closes_the_file_and_pass_codes_are_refused_in_the_services_words(
    technician: httpx.Client, approved: RequestView, portal: Portal, staff: Staffing
) -> None:
    page = technician.get(f"/requests/{approved.number}")
    closed = send(
        technician, f"/requests/{approved.number}/close", {"note": "RO-4711 invoiced"}, page
    )
    assert closed.status_code == 303
    assert closed.headers["location"] == f"/requests/{approved.number}"
    assert portal.get_request(staff.manager, approved.number).status == "closed"

    file = technician.get(closed.headers["location"])
    assert element_text(file, "request-status") == "Closed"
    assert element_text(file, "closed-by") == "Carol"
    assert 'id="pass-code-form"' not in file.text and 'id="close-form"' not in file.text

    refused = send(
        technician,
        f"/requests/{approved.number}/pass-code",
        {"tool_version": TOOL, "seed": SEED},
        file,
    )
    assert refused.status_code == 409
    assert element_text(refused, "error-request_number") == (
        f"the approval of request No. {approved.number} was closed at "
        f"{START:%Y-%m-%d %H:%M:%S} UTC (repair completed): a new request is needed"
    )
    assert 'id="pass-code"' not in refused.text
    again = send(technician, f"/requests/{approved.number}/close", {}, file)
    assert again.status_code == 409
    assert "is already closed" in element_text(again, "error-request_number")


def test_a_refused_request_shows_the_reason_and_no_form(
    technician: httpx.Client, portal: Portal, staff: Staffing
) -> None:
    request = make_request(portal, staff.technician)
    portal.refuse(staff.manager, request.number, "no picture ID")
    page = technician.get(f"/requests/{request.number}")
    assert element_text(page, "request-status") == "Refused"
    assert element_text(page, "request-manager") == "Alice"
    assert element_text(page, "refusal-reason") == "no picture ID"
    assert 'id="pass-code-form"' not in page.text


def test_another_dealers_request_is_not_found(
    base_url: str, approved: RequestView, staff: Staffing, portal: Portal, engine: Engine
) -> None:
    with httpx.Client(base_url=base_url) as elsewhere:
        assert log_in(elsewhere, staff.other_manager).status_code == 303
        step_up(elsewhere)
        page = elsewhere.get(f"/requests/{approved.number}")
        assert page.status_code == 404
        assert element_text(page, "error-page") == f"no request No. {approved.number}"
        assert VIN not in page.text
        token = csrf_of(page)
        issued = elsewhere.post(
            f"/requests/{approved.number}/pass-code",
            data={"csrf_token": token, "tool_version": TOOL, "seed": SEED},
        )
        assert issued.status_code == 404
        assert KNOWN[SEED] not in issued.text
        closed = elsewhere.post(f"/requests/{approved.number}/close", data={"csrf_token": token})
        assert closed.status_code == 404
    assert portal.get_request(staff.manager, approved.number).status == "approved"


@pytest.mark.parametrize(
    ("number", "status"),
    [("1" * 17, 422), ("14070100001%00", 422), ("%20", 404)],  # too long, a NUL, a blank
)
def test_a_malformed_request_number_is_a_precise_error_page(
    technician: httpx.Client, number: str, status: int
) -> None:
    page = technician.get(f"/requests/{number}")
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="error-page"' in page.text


@pytest.mark.parametrize("target", ["new", "pass-code", "close"])
def test_a_post_without_the_csrf_token_changes_nothing(
    technician: httpx.Client, approved: RequestView, engine: Engine, target: str
) -> None:
    path, data = {
        "new": ("/requests/new", {**GOOD, "vin": "JTHBA1D29G5000002", "step": "ok"}),
        "pass-code": (
            f"/requests/{approved.number}/pass-code",
            {"tool_version": TOOL, "seed": SEED},
        ),
        "close": (f"/requests/{approved.number}/close", {"note": "done"}),
    }[target]
    before, seq = snapshot(engine), audit_seq(engine)
    response = technician.post(path, data=data)
    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert KNOWN[SEED] not in response.text
    assert (snapshot(engine), audit_seq(engine)) == (before, seq)


def test_own_dealer_is_the_users(portal: Portal, staff: Staffing) -> None:
    assert portal.own_dealer(staff.technician).name == "Lexus of Lab City"
    assert portal.own_dealer(staff.other_manager).code != DEALER


def test_times_are_written_as_the_bulletin_writes_them() -> None:
    assert tis_time(START) == "07/01/2014 08:27 PM UTC"
    assert tis_time(None) == ""
