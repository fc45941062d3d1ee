"""Racing writers (threads, each with its own connection) leave consistent state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ecusim.catalog.vin import lab_vin
from ecusim.portal import audit
from ecusim.portal.errors import ConflictError
from ecusim.portal.models import Approval, AuditRecord, PassCodeIssue
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal, RequestView
from protocol.passcode import DEFAULT_MASTER_SECRET

from .kit import PASSWORD, Staffing, make_request


def race(actions: list[Callable[[], object]]) -> list[object]:
    """Start all actions at the same moment; return each one's result or exception."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = actions[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_racing_approvals_leave_one(portal: Portal, engine: Engine, staff: Staffing) -> None:
    for serial in range(1, 4):
        request = make_request(portal, staff.technician, lab_vin("IS250", 2012, serial))
        results = race(
            [
                partial(
                    portal.approve, manager, request.number, ApprovalConfirmations.all_confirmed()
                )
                for manager in (staff.manager, staff.manager2)
            ]
        )
        winners = [r for r in results if isinstance(r, RequestView)]
        losers = [r for r in results if isinstance(r, ConflictError)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert "already approved" in str(losers[0])
    with Session(engine) as session, session.begin():
        assert session.scalar(select(func.count()).select_from(Approval)) == 3
        assert audit.verify(session, audit.audit_key(DEFAULT_MASTER_SECRET)) == []


def test_racing_issues_all_recorded(portal: Portal, engine: Engine, approved: RequestView) -> None:
    seeds = [f"{i:02X}" * 16 for i in range(1, 9)]
    users = ["carol", "dave"] * 4
    results = race(
        [
            partial(portal.issue_pass_code, user, approved.number, PASSWORD, "9.10.037", seed)
            for seed, user in zip(seeds, users, strict=True)
        ]
    )
    assert all(not isinstance(r, Exception) for r in results), results
    with Session(engine) as session, session.begin():
        assert session.scalar(select(func.count()).select_from(PassCodeIssue)) == len(seeds)
        issues = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "issue")
        )
        assert issues == len(seeds)
        assert audit.verify(session, audit.audit_key(DEFAULT_MASTER_SECRET)) == []
