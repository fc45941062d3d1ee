"""Refused Pass-Code attempts are audited within a budget per actor (``refused_issue_budget``
within ``failure_window``): past it a refused call answers 429 with ``Retry-After`` and writes
nothing, so a technician hammering a closed or unknown request cannot flood the audit log, the
NICB export and the audit head lock. Service level on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ecusim.portal.db import make_session_factory
from ecusim.portal.errors import ConflictError, NotFoundError, PortalError, RateLimitedError
from ecusim.portal.models import Action, AuditRecord
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.settings import PortalSettings
from protocol.clock import FakeClock

from .kit import CHEAP_SETTINGS, PASSWORD, Staffing, audit_actions, make_request, snapshot
from .test_concurrency import race

TOOL = "9.10.037"
BUDGET = PortalSettings().refused_issue_budget
WINDOW_S = int(PortalSettings().failure_window.total_seconds())
UNKNOWN = "14070199999"


def seed(index: int) -> str:
    return f"{index + 1:032X}"


def attempt(portal: Portal, number: str, index: int, user: str = "carol") -> PortalError | None:
    """One Pass-Code attempt; the error it raised, if any."""
    try:
        portal.issue_pass_code(user, number, PASSWORD, TOOL, seed(index))
    except PortalError as exc:
        return exc
    return None


def refused_records(engine: Engine, actor: str) -> list[AuditRecord]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(AuditRecord)
                .where(AuditRecord.action == Action.ISSUE_REFUSED, AuditRecord.actor == actor)
                .order_by(AuditRecord.seq)
            )
        )


def test_the_default_budget() -> None:
    assert BUDGET == 20
    assert PortalSettings(refused_issue_budget=3).refused_issue_budget == 3
    with pytest.raises(ValueError):
        PortalSettings(refused_issue_budget=0)


@pytest.mark.parametrize("target", ["closed", "unknown"])
def test_the_attack_30_refused_attempts_audit_the_budget_then_429(
    portal: Portal, engine: Engine, approved: RequestView, clock: FakeClock, target: str
) -> None:
    error: type[PortalError] = NotFoundError
    number, status = UNKNOWN, 404
    if target == "closed":
        portal.close_approval("carol", approved.number)
        number, error, status = approved.number, ConflictError, 409
    audited = [attempt(portal, number, index) for index in range(BUDGET)]
    assert all(isinstance(result, error) for result in audited), audited
    records = refused_records(engine, "carol")
    assert len(records) == BUDGET
    assert {json.loads(record.details)["status"] for record in records} == {status}
    before = snapshot(engine)
    for index in range(BUDGET, 30):
        over = attempt(portal, number, index)
        assert isinstance(over, RateLimitedError), over
        assert (over.http_status, over.field) == (429, "request_number")
        assert over.retry_after_s == WINDOW_S
        assert f"{BUDGET} refused Pass-Code attempts" in over.reason
    assert snapshot(engine) == before  # nothing written: no record, no head move
    clock.advance(WINDOW_S)  # the window has passed: audited again, with its own status
    assert isinstance(attempt(portal, number, 30), error)
    assert len(refused_records(engine, "carol")) == BUDGET + 1


def test_retry_after_is_when_the_oldest_counted_record_leaves_the_window(
    portal: Portal, engine: Engine, staff: Staffing, clock: FakeClock
) -> None:
    attempt(portal, UNKNOWN, 0)
    clock.advance(100)
    for index in range(1, BUDGET):
        attempt(portal, UNKNOWN, index)
    clock.advance(50)
    over = attempt(portal, UNKNOWN, BUDGET)
    assert isinstance(over, RateLimitedError)
    assert over.retry_after_s == WINDOW_S - 150
    clock.advance(WINDOW_S - 150)  # the first record left: one slot
    assert isinstance(attempt(portal, UNKNOWN, BUDGET + 1), NotFoundError)
    assert isinstance(attempt(portal, UNKNOWN, BUDGET + 2), RateLimitedError)


def test_the_budget_is_per_actor_and_spares_real_issues(
    portal: Portal, engine: Engine, approved: RequestView
) -> None:
    for index in range(BUDGET + 1):
        attempt(portal, UNKNOWN, index)
    assert isinstance(attempt(portal, UNKNOWN, 0, user="dave"), NotFoundError)
    assert len(refused_records(engine, "dave")) == 1
    assert attempt(portal, approved.number, 99) is None  # carol's approval still works
    assert audit_actions(engine)[-1] == Action.ISSUE


def test_the_budget_is_a_setting(engine: Engine, clock: FakeClock, staff: Staffing) -> None:
    settings = CHEAP_SETTINGS.model_copy(update={"refused_issue_budget": 2})
    portal = Portal(make_session_factory(engine), clock, settings=settings)
    pending = make_request(portal, "carol")
    results = [attempt(portal, pending.number, index) for index in range(3)]
    assert [type(result) for result in results] == [ConflictError, ConflictError, RateLimitedError]
    assert len(refused_records(engine, "carol")) == 2
    portal.approve("alice", pending.number, ApprovalConfirmations.all_confirmed())
    assert attempt(portal, pending.number, 5) is None


def test_the_window_is_the_failure_window(
    engine: Engine, clock: FakeClock, staff: Staffing
) -> None:
    settings = CHEAP_SETTINGS.model_copy(
        update={"refused_issue_budget": 1, "failure_window": timedelta(seconds=30)}
    )
    portal = Portal(make_session_factory(engine), clock, settings=settings)
    assert isinstance(attempt(portal, UNKNOWN, 0), NotFoundError)
    over = attempt(portal, UNKNOWN, 1)
    assert isinstance(over, RateLimitedError) and over.retry_after_s == 30
    clock.advance(30)
    assert isinstance(attempt(portal, UNKNOWN, 2), NotFoundError)


def test_racing_refused_attempts_cannot_exceed_the_budget(
    engine: Engine, clock: FakeClock, staff: Staffing
) -> None:
    """One user's password checks under way count toward the throttle's budgets (at most that
    many at once): here they are raised above the race's size, the race is about the budget."""
    racers = BUDGET + 10
    roomy = CHEAP_SETTINGS.model_copy(
        update={"login_failure_budget": racers, "address_failure_budget": racers}
    )
    portal = Portal(make_session_factory(engine), clock, settings=roomy)
    results = race([partial(attempt, portal, UNKNOWN, index) for index in range(racers)])
    assert sum(isinstance(result, NotFoundError) for result in results) == BUDGET, results
    assert sum(isinstance(result, RateLimitedError) for result in results) == 10, results
    assert len(refused_records(engine, "carol")) == BUDGET
