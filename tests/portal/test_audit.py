"""The hash-chained audit log: every transaction recorded, any edit or deletion detected."""

from __future__ import annotations

import argparse
import itertools
import json

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from ecusim.cli import portal_command
from ecusim.cli.errors import CliError
from ecusim.portal import audit
from ecusim.portal.models import GENESIS_HASH, AuditRecord
from ecusim.portal.service import Portal, RequestView

from .kit import PASSWORD, VIN

SEED = "00010203-04050607-08090A0B-0C0D0E0F"


@pytest.fixture
def history(portal: Portal, approved: RequestView) -> RequestView:
    for seed in (SEED, "A5" * 16):
        portal.issue_pass_code("carol", approved.number, PASSWORD, "9.10.037", seed)
    return approved


def records(engine: Engine) -> list[AuditRecord]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def problems(engine: Engine) -> list[audit.AuditProblem]:
    with Session(engine) as session, session.begin():
        return audit.verify(session)


def cli_verify(db_url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    portal_command.add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["portal", "--db", db_url, "audit", "verify"])
    status: int = args.func(args)
    return status, capsys.readouterr().out


def test_every_transaction_is_recorded(engine: Engine, history: RequestView) -> None:
    rows = records(engine)
    actions = [row.action for row in rows]
    assert actions[:2] == ["enroll-dealer", "enroll-dealer"]
    assert actions[-4:] == ["request", "approve", "issue", "issue"]
    request, approval, issue = rows[-4], rows[-3], rows[-2]
    assert (request.actor, request.vin, request.repair_order) == ("carol", VIN, "RO-4711")
    assert request.request_number == approval.request_number == history.number
    assert (approval.actor, approval.dealer_code) == ("alice", "63123")
    assert json.loads(issue.details) == {"technician": "Carol", "tool_version": "9.10.037"}
    assert issue.seed_sha256 is not None and len(issue.seed_sha256) == 64
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))


def test_intact_chain_verifies(
    engine: Engine, history: RequestView, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert problems(engine) == []
    status, out = cli_verify(db_url, capsys)
    assert status == 0
    assert f"audit log intact: {len(records(engine))} records" in out


def test_edited_record_is_detected(
    engine: Engine, history: RequestView, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = next(row.seq for row in records(engine) if row.action == "approve")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_record SET actor = 'mallory' WHERE seq = :seq"), {"seq": target}
        )
    found = problems(engine)
    assert [(p.seq, p.kind) for p in found] == [(target, "edited")]
    status, out = cli_verify(db_url, capsys)
    assert status == 1
    assert f"record {target}: edited" in out


def test_edited_record_with_recomputed_hash_breaks_the_next_link(
    engine: Engine, history: RequestView
) -> None:
    rows = records(engine)
    target = rows[-3]
    target.vin = "JTHBA1D29G5000002"
    forged = audit.record_hash(target)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_record SET vin = :vin, hash = :hash WHERE seq = :seq"),
            {"vin": target.vin, "hash": forged, "seq": target.seq},
        )
    assert [(p.seq, p.kind) for p in problems(engine)] == [(target.seq + 1, "broken-link")]


def test_deleted_record_is_detected(engine: Engine, history: RequestView) -> None:
    target = records(engine)[-3].seq
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_record WHERE seq = :seq"), {"seq": target})
    kinds = {(p.seq, p.kind) for p in problems(engine)}
    assert kinds == {(target, "missing"), (target + 1, "broken-link")}


def test_deleted_last_record_is_detected(engine: Engine, history: RequestView) -> None:
    last = records(engine)[-1].seq
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_record WHERE seq = :seq"), {"seq": last})
    assert [(p.seq, p.kind) for p in problems(engine)] == [(last, "head")]


def test_reordered_records_are_detected(engine: Engine, history: RequestView) -> None:
    rows = records(engine)
    a, b = rows[-2].seq, rows[-1].seq
    with engine.begin() as connection:  # swap two records' contents by renumbering
        for old, new in ((a, -1), (b, a), (-1, b)):
            connection.execute(
                text("UPDATE audit_record SET seq = :new WHERE seq = :old"),
                {"new": new, "old": old},
            )
    assert {p.kind for p in problems(engine)} >= {"edited", "broken-link"}


def test_cli_reports_bad_database(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CliError):
        cli_verify("sqlite://", capsys)
