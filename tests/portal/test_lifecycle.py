"""The approval lifecycle (issue 12): closing an approval, the per-approval Pass-Code rate limit,
the same seed answered once, and refused issues audited; service level on SQLite and PostgreSQL,
and the ``ecusim portal close`` action."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ecusim.catalog.vin import lab_vin
from ecusim.cli import portal_command as portal_cli
from ecusim.portal import audit
from ecusim.portal.db import make_session_factory
from ecusim.portal.errors import (
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    PortalError,
    RateLimitedError,
    ValidationError,
)
from ecusim.portal.models import Action, AuditRecord, PassCodeIssue
from ecusim.portal.rules import APPROVAL_VALIDITY, REQUEST_VALIDITY, ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView, seed_sha256
from ecusim.portal.settings import PortalSettings
from protocol.clock import FakeClock
from protocol.passcode import DEFAULT_MASTER_SECRET

from .kit import (
    CHEAP_SCRYPT_N,
    DEALER,
    OTHER_DEALER,
    PASSWORD,
    START,
    VIN,
    Staffing,
    audit_actions,
    audit_seq,
    make_request,
    refused,
    snapshot,
)
from .test_concurrency import race
from .test_portal_cli import (
    DEMO_PASSWORD,
    MANAGER,
    SEED,
    TECHNICIAN,
    _create_request,
    _demo,
    _ok,
    _one_line_error,
    _run,
)

TOOL = "9.10.037"
APPROVE = ApprovalConfirmations.all_confirmed()
LIMIT = PortalSettings().issue_rate_limit
WINDOW_S = int(PortalSettings().issue_rate_window.total_seconds())


def seeds(count: int, start: int = 0) -> list[str]:
    """``count`` distinct Seed Numbers (hex)."""
    return [f"{index:032X}" for index in range(start + 1, start + count + 1)]


def issue(portal: Portal, number: str, seed: str, user: str = "carol") -> str:
    return portal.issue_pass_code(user, number, PASSWORD, TOOL, seed).pass_code


def issue_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PassCodeIssue)) or 0


def last_record(engine: Engine) -> AuditRecord:
    with Session(engine) as session:
        record = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert record is not None
        return record


def chain_ok(engine: Engine) -> bool:
    with Session(engine) as session, session.begin():
        return audit.verify(session, audit.audit_key(DEFAULT_MASTER_SECRET)) == []


def unenroll(engine: Engine, username: str, enrolled: bool = False) -> None:
    """Set a member's enrolment directly (the setting-up of a test)."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE staff SET enrolled = :enrolled WHERE username = :user"),
            {"enrolled": enrolled, "user": username},
        )


# -- closing an approval -----------------------------------------------------------------------


def test_close_by_the_technician_ends_the_approval(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    assert issue(portal, approved.number, SEED)
    clock.advance(3600)
    closed = portal.close_approval("carol", approved.number, "  repair completed  ")
    assert (closed.status, closed.closed_by, closed.closed_at) == (
        "closed",
        "Carol",
        START + timedelta(hours=1),
    )
    assert closed.approved_by == "Alice"
    record = last_record(engine)
    assert (record.action, record.actor, record.request_number, record.vin) == (
        Action.CLOSE,
        "carol",
        approved.number,
        VIN,
    )
    assert json.loads(record.details) == {
        "closed_by": "Carol",
        "job_title": "Technician",
        "note": "repair completed",
    }
    assert portal.get_request("dave", approved.number) == closed
    assert portal.find_approval("carol", VIN) is None

    error = refused(
        engine,
        ConflictError,
        "request_number",
        lambda: issue(portal, approved.number, "77" * 16, user="dave"),
        audited=Action.ISSUE_REFUSED,
    )
    assert "closed" in error.reason
    # Not even the seed already issued is answered again after the close.
    refused(
        engine,
        ConflictError,
        "request_number",
        lambda: issue(portal, approved.number, SEED),
        audited=Action.ISSUE_REFUSED,
    )
    # A new request for the VIN is allowed now.
    assert make_request(portal, "carol").status == "requested"
    assert chain_ok(engine)


def test_the_refused_issue_record(portal: Portal, engine: Engine, approved: RequestView) -> None:
    portal.close_approval("alice", approved.number)
    with pytest.raises(ConflictError):
        issue(portal, approved.number, SEED, user="dave")
    record = last_record(engine)
    assert (record.action, record.actor, record.dealer_code) == (
        Action.ISSUE_REFUSED,
        "dave",
        DEALER,
    )
    assert (record.request_number, record.vin, record.repair_order) == (
        approved.number,
        VIN,
        "RO-4711",
    )
    assert record.seed_sha256 == seed_sha256(bytes.fromhex(SEED.replace("-", "")))
    details = json.loads(record.details)
    assert details["tool_version"] == TOOL
    assert (details["status"], details["field"]) == (409, "request_number")
    assert "closed" in details["reason"]
    # A refused attempt is a security event: the NICB rows carry it after the transactions.
    actions = [t.action for t in portal.transactions("alice", START, START + timedelta(days=1))]
    assert actions == [Action.REQUEST, Action.APPROVE, Action.CLOSE, Action.ISSUE_REFUSED]


def test_a_manager_may_close_without_a_note(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    closed = portal.close_approval("bob", approved.number, "   ")
    assert (closed.status, closed.closed_by) == ("closed", "Bob")
    assert json.loads(last_record(engine).details)["note"] is None
    (mine,) = portal.inbox("carol").my_requests
    assert mine.status == "closed"


def test_another_dealers_user_cannot_close(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    refused(
        engine,
        NotFoundError,
        "request_number",
        lambda: portal.close_approval("erin", approved.number),
    )
    refused(
        engine,
        NotFoundError,
        "request_number",
        lambda: portal.close_approval("carol", "14070199999"),
    )
    assert portal.get_request("carol", approved.number).status == "approved"


def test_close_twice_is_a_conflict(portal: Portal, engine: Engine, approved: RequestView) -> None:
    portal.close_approval("carol", approved.number)
    error = refused(
        engine,
        ConflictError,
        "request_number",
        lambda: portal.close_approval("alice", approved.number),
    )
    assert "already closed" in error.reason


def test_only_an_open_valid_approval_can_be_closed(
    portal: Portal, engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    pending = make_request(portal, "carol")
    error = refused(
        engine,
        ConflictError,
        "request_number",
        lambda: portal.close_approval("carol", pending.number),
    )
    assert "not approved" in error.reason
    portal.refuse("alice", pending.number, "no picture ID")
    refused(
        engine,
        ConflictError,
        "request_number",
        lambda: portal.close_approval("carol", pending.number),
    )

    stale = make_request(portal, "carol")
    clock.advance(REQUEST_VALIDITY.total_seconds() + 1)
    refused(
        engine,
        ExpiredError,
        "request_number",
        lambda: portal.close_approval("carol", stale.number),
    )

    request = make_request(portal, "carol")
    portal.approve("alice", request.number, APPROVE)
    clock.advance(APPROVAL_VALIDITY.total_seconds() + 1)
    error = refused(
        engine,
        ExpiredError,
        "request_number",
        lambda: portal.close_approval("carol", request.number),
    )
    assert "expired" in error.reason


def test_close_needs_an_enrolled_member_and_a_short_note(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    refused(
        engine,
        ValidationError,
        "note",
        lambda: portal.close_approval("carol", approved.number, "x" * 201),
    )
    refused(
        engine,
        ValidationError,
        "note",
        lambda: portal.close_approval("carol", approved.number, "a\x00b"),
    )
    unenroll(engine, "dave")
    refused(
        engine,
        PermissionDeniedError,
        "username",
        lambda: portal.close_approval("dave", approved.number),
    )
    assert portal.close_approval("carol", approved.number, "y" * 200).status == "closed"


# -- the per-approval rate limit ------------------------------------------------------------------


def test_the_21st_seed_within_the_hour_is_refused(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    for seed in seeds(LIMIT):
        issue(portal, approved.number, seed)
    error = refused(
        engine,
        RateLimitedError,
        "request_number",
        lambda: issue(portal, approved.number, seeds(1, LIMIT)[0]),
        audited=Action.ISSUE_REFUSED,
    )
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == WINDOW_S
    clock.advance(WINDOW_S - 1)
    error = refused(
        engine,
        RateLimitedError,
        "request_number",
        lambda: issue(portal, approved.number, seeds(1, LIMIT)[0]),
        audited=Action.ISSUE_REFUSED,
    )
    assert isinstance(error, RateLimitedError)
    assert error.retry_after_s == 1
    clock.advance(1)  # the first issues leave the window
    assert issue(portal, approved.number, seeds(1, LIMIT)[0])
    assert issue_rows(engine) == LIMIT + 1
    assert chain_ok(engine)


def test_retry_after_counts_from_the_oldest_issue_in_the_window(
    portal: Portal, approved: RequestView, clock: FakeClock
) -> None:
    half = LIMIT // 2
    for seed in seeds(half):
        issue(portal, approved.number, seed)
    clock.advance(1800)
    for seed in seeds(LIMIT - half, half):
        issue(portal, approved.number, seed)
    with pytest.raises(RateLimitedError) as caught:
        issue(portal, approved.number, seeds(1, LIMIT)[0])
    assert caught.value.retry_after_s == WINDOW_S - 1800
    clock.advance(WINDOW_S - 1800)  # the first half has left: room for `half` more
    for seed in seeds(half, LIMIT):
        issue(portal, approved.number, seed)
    with pytest.raises(RateLimitedError) as caught:
        issue(portal, approved.number, seeds(1, LIMIT + half)[0])
    assert caught.value.retry_after_s == 1800


def test_the_limit_is_per_approval_and_from_the_settings(
    engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    settings = PortalSettings(issue_rate_limit=2, issue_rate_window=timedelta(minutes=10))
    portal = Portal(make_session_factory(engine), clock, settings=settings)
    numbers = []
    for serial in (1, 2):
        request = make_request(portal, "carol", lab_vin("IS250", 2012, serial))
        numbers.append(portal.approve("alice", request.number, APPROVE).number)
    for seed in seeds(2):
        issue(portal, numbers[0], seed)
    with pytest.raises(RateLimitedError) as caught:
        issue(portal, numbers[0], seeds(1, 2)[0], user="dave")  # any user: per approval
    assert caught.value.retry_after_s == 600
    for seed in seeds(2):  # another approval has its own budget
        issue(portal, numbers[1], seed)


def test_the_attack_300_issues_under_one_approval_stops_at_the_limit(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    outcomes: list[str] = []
    waits: set[int] = set()
    for seed in seeds(300):
        try:
            issue(portal, approved.number, seed)
            outcomes.append("issued")
        except RateLimitedError as exc:
            outcomes.append("429")
            waits.add(exc.retry_after_s)
    assert outcomes == ["issued"] * LIMIT + ["429"] * (300 - LIMIT)
    assert waits == {WINDOW_S}  # past the refusal budget too: the issue rate's longer wait
    assert issue_rows(engine) == LIMIT
    actions = audit_actions(engine)
    assert actions.count(Action.ISSUE) == LIMIT
    # One per refused call, up to the actor's budget within the failure window; nothing after.
    assert actions.count(Action.ISSUE_REFUSED) == PortalSettings().refused_issue_budget
    assert chain_ok(engine)


def test_racing_distinct_seeds_cannot_exceed_the_limit(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    """One user's password checks under way count toward the throttle's budgets (at most that
    many at once): here they are raised above the race's size, the race is about the limit."""
    racers = LIMIT + 6
    roomy = PortalSettings(
        scrypt_n=CHEAP_SCRYPT_N, login_failure_budget=racers, address_failure_budget=racers
    )
    portal = Portal(portal._sessions, clock, settings=roomy)
    results = race([partial(issue, portal, approved.number, seed) for seed in seeds(racers)])
    assert sum(isinstance(r, str) for r in results) == LIMIT, results
    assert sum(isinstance(r, RateLimitedError) for r in results) == 6, results
    assert issue_rows(engine) == LIMIT
    assert chain_ok(engine)


# -- the same seed twice: one record -------------------------------------------------------------


def test_the_same_seed_twice_is_one_record(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock
) -> None:
    first = portal.issue_pass_code("carol", approved.number, PASSWORD, TOOL, SEED)
    clock.advance(600)
    before, seq = snapshot(engine), audit_seq(engine)
    typed_otherwise = SEED.lower().replace("-", " ")
    again = portal.issue_pass_code("dave", approved.number, PASSWORD, "10.0", typed_otherwise)
    assert again == first  # the same code, and the first issue's time
    assert again.issued_at == START
    assert snapshot(engine) == before
    assert audit_actions(engine, seq) == []
    assert audit_actions(engine).count(Action.ISSUE) == 1


def test_a_repeated_seed_does_not_count_toward_the_limit(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    for seed in seeds(LIMIT):
        issue(portal, approved.number, seed)
    for seed in seeds(LIMIT):  # all again: answered, nothing written
        assert issue(portal, approved.number, seed)
    assert issue_rows(engine) == LIMIT
    with pytest.raises(RateLimitedError):
        issue(portal, approved.number, seeds(1, LIMIT)[0])


def test_racing_identical_seeds_make_one_record(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    users = ["carol", "dave"] * 4
    results = race([partial(issue, portal, approved.number, SEED, user) for user in users])
    assert results == ["68048306-E57DF5FB-1D818A1B-527791CD"] * len(users), results
    assert issue_rows(engine) == 1
    assert audit_actions(engine).count(Action.ISSUE) == 1
    assert chain_ok(engine)


def test_closing_races_issues_without_deadlock_or_a_late_issue(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    """A close takes the approval's row, then the audit head, as an issue does: never a
    deadlock (PostgreSQL would abort one with an error), and no issue is recorded after it."""
    actions: list[Callable[[], object]] = [
        partial(issue, portal, approved.number, f"{index:032X}", "carol") for index in range(8)
    ]
    actions.insert(4, partial(portal.close_approval, "dave", approved.number, "done"))
    results = race(actions)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, PortalError)]
    issued = [r for r in results if isinstance(r, str)]
    refused_after_close = [r for r in results if isinstance(r, ConflictError)]
    assert len(issued) + len(refused_after_close) == 8, results
    assert issue_rows(engine) == len(issued)
    actions_in_order = audit_actions(engine)
    close_at = actions_in_order.index(Action.CLOSE)
    assert Action.ISSUE not in actions_in_order[close_at:]  # nothing issued after the close
    assert chain_ok(engine)


def test_the_same_seed_under_another_approval_is_recorded_again(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    issue(portal, approved.number, SEED)
    portal.close_approval("carol", approved.number)
    request = make_request(portal, "carol")
    portal.approve("bob", request.number, APPROVE)
    issue(portal, request.number, SEED)
    assert issue_rows(engine) == 2


# -- every refused issue is audited -----------------------------------------------------------


def test_refusals_are_audited(
    portal: Portal, engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    pending = make_request(portal, "carol")
    refused(
        engine,
        ConflictError,
        "request_number",
        lambda: issue(portal, pending.number, SEED),
        audited=Action.ISSUE_REFUSED,
    )
    portal.approve("alice", pending.number, APPROVE)
    unenroll(engine, "dave")
    refused(
        engine,
        PermissionDeniedError,
        "username",
        lambda: issue(portal, pending.number, SEED, user="dave"),
        audited=Action.ISSUE_REFUSED,
    )
    unenroll(engine, "bob")
    refused(
        engine,
        PermissionDeniedError,
        "dealer",
        lambda: issue(portal, pending.number, SEED),
        audited=Action.ISSUE_REFUSED,
    )
    unenroll(engine, "bob", enrolled=True)
    clock.advance(APPROVAL_VALIDITY.total_seconds() + 1)
    refused(
        engine,
        ExpiredError,
        "request_number",
        lambda: issue(portal, pending.number, SEED),
        audited=Action.ISSUE_REFUSED,
    )
    assert chain_ok(engine)


def test_a_refusal_for_another_dealers_request_stays_in_the_users_dealer(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    for number in (approved.number, "NONSENSE"):
        refused(
            engine,
            NotFoundError,
            "request_number",
            partial(issue, portal, number, SEED, "erin"),
            audited=Action.ISSUE_REFUSED,
        )
        record = last_record(engine)
        assert (record.actor, record.dealer_code) == ("erin", OTHER_DEALER)
        assert (record.request_number, record.vin, record.repair_order) == (None, None, None)
        assert json.loads(record.details)["request_number"] == number
    # A number no request can have (over 16 characters) is bad input: 422, not audited.
    refused(
        engine,
        ValidationError,
        "request_number",
        partial(issue, portal, "nonsense-number-longer-than-sixteen", SEED, "erin"),
    )
    # The other dealer's managers see it; the request's own dealer is not told.
    assert [r.action for r in portal.audit_records("alice")][-1] == Action.APPROVE
    assert portal.audit_records("erin")[-1].action == Action.ISSUE_REFUSED


# -- ecusim portal close -------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv(portal_cli.PASSWORD_ENV_VAR, raising=False)
    monkeypatch.delenv("ECUSIM_PORTAL_DB", raising=False)
    return f"sqlite:///{tmp_path / 'portal.db'}"


def test_close_by_command_line(capsys: pytest.CaptureFixture[str], cli_db: str) -> None:
    _demo(capsys, cli_db)
    number = _create_request(capsys, cli_db)
    error = _one_line_error(
        capsys, 1, "portal", "close", number, "--db", cli_db, "--as", TECHNICIAN
    )
    assert error == (
        f"request_number: request No. {number} is requested, not approved: there is no "
        "approval to close"
    )
    _ok(capsys, "portal", "--db", cli_db, "approve", number, "--as", MANAGER, "--confirmed")
    out = _ok(
        capsys,
        "portal",
        "close",
        number,
        "--db",
        cli_db,
        "--as",
        TECHNICIAN,
        "--note",
        "repair completed",
    )
    assert out.startswith(f"request {number} closed: VIN {VIN}, ")
    assert "; closed by Toni Technician at " in out, out
    again = _one_line_error(capsys, 1, "portal", "close", number, "--db", cli_db, "--as", MANAGER)
    assert again == f"request_number: the approval of request No. {number} is already closed"
    too_long = _one_line_error(
        capsys, 2, "portal", "close", number, "--db", cli_db, "--as", MANAGER, "--note", "x" * 201
    )
    assert too_long == "note: is at most 200 characters, got 201"
    passcode = _one_line_error(
        capsys,
        1,
        "portal",
        "passcode",
        number,
        "--db",
        cli_db,
        "--as",
        TECHNICIAN,
        "--seed",
        SEED,
        "--tool-version",
        TOOL,
        "--password",
        DEMO_PASSWORD,
    )
    assert passcode.startswith(f"request_number: the approval of request No. {number} was closed")
    code, out, err = _run(capsys, "portal", "--db", cli_db, "audit", "verify")
    assert (code, out.startswith("audit log intact")) == (0, True), err
    assert "keyed with the public lab secret" in err  # the only note: no secret file given
