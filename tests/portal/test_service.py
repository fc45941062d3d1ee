"""The procedure end to end, and each rule's refusal leaving the database unchanged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from ecusim.portal.errors import (
    AuthenticationError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from ecusim.portal.models import PassCodeIssue
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal, RequestView, seed_sha256
from protocol.clock import FakeClock

from .kit import (
    DEALER,
    PASSWORD,
    START,
    VIN,
    Staffing,
    make_request,
    refused,
    snapshot,
)

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
TOOL = "9.10.037"
APPROVE = ApprovalConfirmations.all_confirmed()

KNOWN_ANSWERS = [  # diagnostic-contract.md §5
    (VIN, SEED, "68048306-E57DF5FB-1D818A1B-527791CD"),
    (VIN, "A5A5A5A5-A5A5A5A5-A5A5A5A5-A5A5A5A5", "443FA847-64476F93-4AF28B91-F496CD6E"),
    ("JTHBA1D29G5000002", SEED, "68C88FBD-B7B00C85-B4D10C5E-D3457278"),
]


# -- the procedure -------------------------------------------------------------------------------


def test_request_number_and_expiry(portal: Portal, staff: Staffing) -> None:
    first = make_request(portal, staff.technician)
    second = make_request(portal, staff.technician2, "JTHBA1D29G5000002")
    assert (first.number, second.number) == ("14070100001", "14070100002")
    assert first.status == "requested"
    assert first.expires_at - first.created_at == timedelta(hours=72)
    assert first.created_at == START
    assert first.dealer_name == "Lexus of Lab City"


def test_request_from_lower_case_vin_is_normalised(portal: Portal, staff: Staffing) -> None:
    assert make_request(portal, staff.technician, VIN.lower()).vin == VIN


@pytest.mark.parametrize(("vin", "seed", "expected"), KNOWN_ANSWERS)
def test_pass_code_known_answers(
    portal: Portal, staff: Staffing, vin: str, seed: str, expected: str
) -> None:
    request = make_request(portal, staff.technician, vin)
    portal.approve(staff.manager, request.number, APPROVE)
    issued = portal.issue_pass_code(staff.technician, request.number, PASSWORD, TOOL, seed)
    assert issued.pass_code == expected
    assert issued.vin == vin


def test_seed_accepted_in_any_typed_form(portal: Portal, approved: RequestView) -> None:
    typed = " 000102030405060708090a0b 0c0d0e0f "
    issued = portal.issue_pass_code("carol", approved.number, PASSWORD, "10.0", typed)
    assert issued.pass_code == KNOWN_ANSWERS[0][2]


def test_one_approval_many_seeds_for_the_vin(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    codes = set()
    for seed in ("11" * 16, "22" * 16, "33" * 16):
        clock.advance(3600)
        codes.add(portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, seed).pass_code)
    # another technician of the same dealer may use the dealer's approval [LAB]
    codes.add(portal.issue_pass_code("dave", approved.number, PASSWORD, TOOL, "44" * 16).pass_code)
    assert len(codes) == 4
    with engine.connect() as connection:
        hashes = connection.scalars(select(PassCodeIssue.seed_sha256)).all()
    assert sorted(hashes) == sorted(
        seed_sha256(bytes.fromhex(seed * 16)) for seed in ("11", "22", "33", "44")
    )


def test_approval_valid_72_hours_then_expired(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    assert approved.valid_until == START + timedelta(hours=72)
    clock.advance(72 * 3600)
    portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, SEED)
    clock.advance(1)
    refused(
        engine,
        ExpiredError,
        "request_number",
        lambda: portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, SEED),
        audited="issue-refused",
    )
    assert portal.get_request("carol", approved.number).status == "expired"
    # an expired approval no longer blocks a new request for the VIN
    assert make_request(portal, "carol").status == "requested"


def test_unapproved_request_expires_after_72_hours(
    portal: Portal, engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    request = make_request(portal, staff.technician)
    clock.advance(72 * 3600 + 1)
    error = refused(
        engine,
        ExpiredError,
        "request_number",
        lambda: portal.approve(staff.manager, request.number, APPROVE),
    )
    assert "expired" in str(error)
    assert portal.inbox(staff.manager).awaiting_approval == ()
    assert portal.inbox(staff.technician).my_requests[0].status == "expired"


def test_request_just_inside_72_hours_can_be_approved(
    portal: Portal, staff: Staffing, clock: FakeClock
) -> None:
    request = make_request(portal, staff.technician)
    clock.advance(72 * 3600)
    assert portal.approve(staff.manager, request.number, APPROVE).status == "approved"


def test_inbox(portal: Portal, staff: Staffing) -> None:
    request = make_request(portal, staff.technician)
    assert [r.number for r in portal.inbox(staff.manager).awaiting_approval] == [request.number]
    assert [r.number for r in portal.inbox(staff.manager2).awaiting_approval] == [request.number]
    assert portal.inbox("erin").awaiting_approval == ()  # another dealer
    assert portal.inbox(staff.technician).awaiting_approval == ()
    portal.approve(staff.manager2, request.number, APPROVE)
    assert portal.inbox(staff.manager).awaiting_approval == ()
    (mine,) = portal.inbox(staff.technician).my_requests
    assert (mine.status, mine.approved_by) == ("approved", "Bob")


def test_refuse(portal: Portal, staff: Staffing, engine: Engine) -> None:
    request = make_request(portal, staff.technician)
    done = portal.refuse(staff.manager, request.number, "customer ID not seen")
    assert (done.status, done.refused_by, done.refusal_reason) == (
        "refused",
        "Alice",
        "customer ID not seen",
    )
    refused(
        engine,
        ConflictError,
        "request_number",
        lambda: portal.approve(staff.manager2, request.number, APPROVE),
    )
    refused(
        engine,
        ConflictError,
        "request_number",
        lambda: portal.issue_pass_code(staff.technician, request.number, PASSWORD, TOOL, SEED),
        audited="issue-refused",
    )


def test_authenticate(portal: Portal, staff: Staffing) -> None:
    user = portal.authenticate(staff.manager2, PASSWORD)
    assert (user.dealer_code, user.can_approve) == (DEALER, True)
    assert not portal.authenticate(staff.technician, PASSWORD).can_approve
    for username, password in ((staff.manager, "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(AuthenticationError) as caught:
            portal.authenticate(username, password)
        assert str(caught.value) == "password: wrong username or password"


def test_only_seed_hashes_are_stored(
    portal: Portal, engine: Engine, approved: RequestView, db_url: str
) -> None:
    portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, SEED)
    rows = repr(snapshot(engine)).upper()
    for secret in (SEED, KNOWN_ANSWERS[0][2]):
        assert secret.replace("-", "") not in rows.replace("-", "")
    assert seed_sha256(bytes.fromhex(SEED.replace("-", ""))).upper() in rows
    if db_url.startswith("sqlite"):
        engine.dispose()
        folder = Path(db_url.removeprefix("sqlite:///")).parent
        for path in folder.glob("portal.db*"):  # the file, its WAL and shared memory
            data = path.read_bytes()
            for secret in (SEED, KNOWN_ANSWERS[0][2]):
                raw = bytes.fromhex(secret.replace("-", ""))
                assert raw not in data
                assert secret.replace("-", "").encode() not in data.upper()


# -- refusals: each names its field and writes nothing -------------------------------------------


def test_technician_cannot_approve(portal: Portal, engine: Engine, staff: Staffing) -> None:
    request = make_request(portal, staff.technician)
    refused(
        engine,
        PermissionDeniedError,
        "job_title",
        lambda: portal.approve(staff.technician2, request.number, APPROVE),
    )


def test_requester_cannot_approve(portal: Portal, engine: Engine, staff: Staffing) -> None:
    request = make_request(portal, staff.manager)
    refused(
        engine,
        PermissionDeniedError,
        "username",
        lambda: portal.approve(staff.manager, request.number, APPROVE),
    )
    assert portal.approve(staff.manager2, request.number, APPROVE).status == "approved"


def test_other_dealers_manager_cannot_approve(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    request = make_request(portal, staff.technician)
    refused(  # another dealer's request answers as if it did not exist (no enumeration)
        engine,
        NotFoundError,
        "request_number",
        lambda: portal.approve(staff.other_manager, request.number, APPROVE),
    )


def test_other_dealers_staff_cannot_issue(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    refused(  # another dealer's request answers as if it did not exist (no enumeration)
        engine,
        NotFoundError,
        "request_number",
        lambda: portal.issue_pass_code("erin", approved.number, PASSWORD, TOOL, SEED),
        audited="issue-refused",
    )


def test_dealer_with_one_manager_gets_nothing(portal: Portal, engine: Engine) -> None:
    portal.enroll_dealer("70000", "Small Lexus")
    portal.add_staff("70000", "gm", "Gina", "General Manager", PASSWORD)
    portal.add_staff("70000", "sm", "Sam", "Service Manager", PASSWORD, enrolled=False)
    portal.add_staff("70000", "tech", "Tom", "Technician", PASSWORD)
    error = refused(engine, PermissionDeniedError, "dealer", lambda: make_request(portal, "tech"))
    assert "1 enrolled approving manager" in str(error)


def test_manager_leaving_blocks_approval(portal: Portal, engine: Engine, staff: Staffing) -> None:
    request = make_request(portal, staff.technician)
    with engine.begin() as connection:  # bob is no longer enrolled
        connection.exec_driver_sql("UPDATE staff SET enrolled = false WHERE username = 'bob'")
    refused(
        engine,
        PermissionDeniedError,
        "dealer",
        lambda: portal.approve(staff.manager, request.number, APPROVE),
    )


@pytest.mark.parametrize(
    "box",
    ["customer_authority", "customer_identity", "vehicle_registration", "terms_and_conditions"],
)
def test_request_needs_all_4_confirmations(
    portal: Portal, engine: Engine, staff: Staffing, box: str
) -> None:
    values = {name: name != box for name in IdentificationConfirmations.__dataclass_fields__}
    confirmations = IdentificationConfirmations(**values)
    refused(
        engine,
        ValidationError,
        f"confirmations.{box}",
        lambda: portal.create_request(staff.technician, VIN, "RO-1", "Smith", confirmations),
    )


@pytest.mark.parametrize(
    "box", ["details_verified", "nicb_log_acknowledged", "terms_and_conditions"]
)
def test_approval_needs_all_3_confirmations(
    portal: Portal, engine: Engine, staff: Staffing, box: str
) -> None:
    request = make_request(portal, staff.technician)
    values = {name: name != box for name in ApprovalConfirmations.__dataclass_fields__}
    refused(
        engine,
        ValidationError,
        f"confirmations.{box}",
        lambda: portal.approve(staff.manager, request.number, ApprovalConfirmations(**values)),
    )


@pytest.mark.parametrize(
    ("vin", "reason"),
    [
        ("JTHBL5EF0C500001", "17 characters, got 16"),
        ("JTHBL5EF1C5000001", "wrong check digit"),
        ("JTHBL5EF0C50000O1", "position 16"),
        ("", "17 characters, got 0"),
    ],
)
def test_bad_vin(portal: Portal, engine: Engine, staff: Staffing, vin: str, reason: str) -> None:
    error = refused(
        engine,
        ValidationError,
        "vin",
        lambda: make_request(portal, staff.technician, vin),
    )
    assert reason in str(error)


@pytest.mark.parametrize(
    ("field", "form"),
    [
        ("repair_order", ("  ", "Smith")),
        ("customer_last_name", ("RO-1", "")),
        ("repair_order", ("x" * 61, "S")),
    ],
)
def test_required_request_fields(
    portal: Portal, engine: Engine, staff: Staffing, field: str, form: tuple[str, str]
) -> None:
    repair_order, last_name = form
    refused(
        engine,
        ValidationError,
        field,
        lambda: portal.create_request(
            staff.technician,
            VIN,
            repair_order,
            last_name,
            IdentificationConfirmations.all_confirmed(),
        ),
    )


def test_valid_approval_must_be_reused(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    error = refused(engine, ConflictError, "vin", lambda: make_request(portal, "dave"))
    assert approved.number in str(error)


@pytest.mark.parametrize("version", ["9.10.036", "9.10.36", "9.9.999", "8.99.999", "9.10"])
def test_old_tool_version(
    portal: Portal, engine: Engine, approved: RequestView, version: str
) -> None:
    error = refused(
        engine,
        ValidationError,
        "tool_version",
        lambda: portal.issue_pass_code("carol", approved.number, PASSWORD, version, SEED),
    )
    assert "9.10.037 or later" in str(error)


@pytest.mark.parametrize("version", ["", "9.x.037", "v9.10.037", "9..10"])
def test_malformed_tool_version(
    portal: Portal, engine: Engine, approved: RequestView, version: str
) -> None:
    refused(
        engine,
        ValidationError,
        "tool_version",
        lambda: portal.issue_pass_code("carol", approved.number, PASSWORD, version, SEED),
    )


@pytest.mark.parametrize(
    ("seed", "reason"),
    [
        ("00010203-04050607-08090A0B-0C0D0E", "expected 32 hex digits, got 30"),
        ("00010203-04050607-08090A0B-0C0D0E0FAA", "expected 32 hex digits, got 34"),
        ("0001020G-04050607-08090A0B-0C0D0E0F", "'G' at position 8"),
        ("", "expected 32 hex digits, got 0"),
    ],
)
def test_malformed_seed(
    portal: Portal, engine: Engine, approved: RequestView, seed: str, reason: str
) -> None:
    error = refused(
        engine,
        ValidationError,
        "seed",
        lambda: portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, seed),
    )
    assert reason in str(error)


def test_wrong_password(portal: Portal, engine: Engine, approved: RequestView) -> None:
    """Refused, and recorded as a failure of the command line's re-entry."""
    with pytest.raises(AuthenticationError) as refusal:
        portal.issue_pass_code("carol", approved.number, "not my password", TOOL, SEED)
    assert refusal.value.field == "password"
    with engine.connect() as connection:
        failures = connection.execute(
            text("SELECT kind, username, client_address FROM auth_failure")
        ).all()
        last = connection.execute(
            text("SELECT action, actor, dealer_code FROM audit_record ORDER BY seq DESC LIMIT 1")
        ).one()
    assert [tuple(row) for row in failures] == [("password", "carol", "cli")]
    assert tuple(last) == ("password-failed", "carol", DEALER)
    assert portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, SEED).pass_code


def test_unapproved_request_gives_no_pass_code(
    portal: Portal, engine: Engine, staff: Staffing
) -> None:
    request = make_request(portal, staff.technician)
    refused(
        engine,
        ConflictError,
        "request_number",
        lambda: portal.issue_pass_code("carol", request.number, PASSWORD, TOOL, SEED),
        audited="issue-refused",
    )


def test_unknown_request(portal: Portal, engine: Engine, staff: Staffing) -> None:
    refused(
        engine,
        NotFoundError,
        "request_number",
        lambda: portal.approve(staff.manager, "14070199999", APPROVE),
    )


def test_duplicate_username_and_dealer(portal: Portal, engine: Engine, staff: Staffing) -> None:
    refused(
        engine,
        ConflictError,
        "username",
        lambda: portal.add_staff(DEALER, staff.manager, "Again", "Technician", PASSWORD),
    )
    refused(engine, ConflictError, "dealer_code", lambda: portal.enroll_dealer(DEALER, "Again"))
    refused(
        engine,
        ValidationError,
        "password",
        lambda: portal.add_staff(DEALER, "zed", "Zed", "Technician", "short"),
    )


# -- reading the audit log and the reports -------------------------------------------------------


def test_audit_records_are_the_managers_own_dealers(
    portal: Portal, staff: Staffing, approved: RequestView
) -> None:
    records = portal.audit_records(staff.manager)
    assert [r.action for r in records][-2:] == ["request", "approve"]
    assert {r.dealer_code for r in records} == {DEALER}
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert records[-1].request_number == approved.number
    page = portal.audit_records(staff.manager, since_seq=records[0].seq, limit=2)
    assert page == records[1:3]
    assert {r.dealer_code for r in portal.audit_records(staff.other_manager)} == {"64001"}


@pytest.mark.parametrize(
    ("since_seq", "limit", "field"), [(-1, 100, "since_seq"), (0, 0, "limit"), (0, 1001, "limit")]
)
def test_audit_records_paging_is_checked(
    portal: Portal, staff: Staffing, since_seq: int, limit: int, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        portal.audit_records(staff.manager, since_seq, limit)
    assert caught.value.field == field


def test_verify_audit(portal: Portal, staff: Staffing, approved: RequestView) -> None:
    verification = portal.verify_audit(staff.other_manager)  # the whole chain, any manager
    assert (verification.ok, verification.problems) == (True, ())


def test_transactions_are_the_managers_own_dealers(
    portal: Portal, staff: Staffing, approved: RequestView
) -> None:
    start, end = START, START + timedelta(days=1)
    rows = portal.transactions(staff.manager2, start, end)
    assert [(r.dealer_code, r.action) for r in rows] == [(DEALER, "request"), (DEALER, "approve")]
    assert portal.transactions(staff.other_manager, start, end) == []


@pytest.mark.parametrize("read", ["audit_records", "verify_audit", "transactions"])
def test_technicians_cannot_read_the_audit_log(
    portal: Portal, staff: Staffing, approved: RequestView, read: str
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "audit_records": lambda: portal.audit_records(staff.technician),
        "verify_audit": lambda: portal.verify_audit(staff.technician),
        "transactions": lambda: portal.transactions(
            staff.technician, START, START + timedelta(days=1)
        ),
    }
    with pytest.raises(PermissionDeniedError) as caught:
        calls[read]()
    assert caught.value.field == "job_title"
    assert "not an approving manager" in caught.value.reason


def test_monthly_report_of_the_managers_own_dealer_only(
    portal: Portal, staff: Staffing, approved: RequestView
) -> None:
    report = portal.monthly_report(staff.manager, DEALER, 2014, 7)
    assert (report.dealer_code, report.counts["approve"]) == (DEALER, 1)
    with pytest.raises(PermissionDeniedError) as denied:  # the Dealer GM's report, not a tech's
        portal.monthly_report(staff.technician, DEALER, 2014, 7)
    assert denied.value.field == "job_title"
    with pytest.raises(NotFoundError) as caught:  # another dealer's: as if it did not exist
        portal.monthly_report(staff.other_manager, DEALER, 2014, 7)
    assert caught.value.field == "dealer"
