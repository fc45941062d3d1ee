"""The keyed hash-chained audit log: every transaction recorded, any edit or deletion detected;
legacy SHA-256 records verify as the prefix sealed when the portal upgrades an old database, and
an unkeyed rewrite of the whole chain does not."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from ecusim.cli import portal_command
from ecusim.cli.errors import CliError
from ecusim.cli.main import main
from ecusim.portal import audit
from ecusim.portal.db import (
    DatabaseError,
    make_engine,
    make_session_factory,
    records_to_seal,
    upgrade,
)
from ecusim.portal.models import GENESIS_HASH, AuditRecord
from ecusim.portal.service import Portal, RequestView
from protocol.clock import FakeClock
from protocol.passcode import DEFAULT_MASTER_SECRET

from .kit import CHEAP_SETTINGS, PASSWORD, VIN, snapshot

SEED = "00010203-04050607-08090A0B-0C0D0E0F"


@pytest.fixture
def history(portal: Portal, approved: RequestView) -> RequestView:
    for seed in (SEED, "A5" * 16):
        portal.issue_pass_code("carol", approved.number, PASSWORD, "9.10.037", seed)
    return approved


def records(engine: Engine) -> list[AuditRecord]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


KEY = audit.audit_key(DEFAULT_MASTER_SECRET)
"""The ``portal`` fixture runs on the public lab secret."""


def problems(engine: Engine) -> list[audit.AuditProblem]:
    with Session(engine) as session, session.begin():
        return audit.verify(session, KEY)


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
    assert out == f"audit log intact ({len(records(engine))} records, 0 anchors)\n"
    assert {row.scheme for row in records(engine)} == {audit.SCHEME_KEYED}


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
    assert out.startswith(f"record {target}: edited: content does not match its HMAC")
    assert out.endswith(f"audit log BROKEN: 1 problem(s), the first at record {target}\n")


def test_edited_record_with_recomputed_hash_breaks_the_next_link(
    engine: Engine, history: RequestView
) -> None:
    rows = records(engine)
    target = rows[-3]
    target.vin = "JTHBA1D29G5000002"
    forged = audit.record_hash(target, KEY)
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


def test_a_recomputed_unkeyed_hash_is_detected(engine: Engine, history: RequestView) -> None:
    """The old attack: edit a record and recompute its hash with plain SHA-256."""
    rows = records(engine)
    target = rows[-3]
    target.actor = "mallory"
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_record SET actor = :actor, hash = :hash WHERE seq = :seq"),
            {"actor": "mallory", "hash": audit.legacy_hash(target), "seq": target.seq},
        )
    assert [(p.seq, p.kind) for p in problems(engine)] == [
        (target.seq, "edited"),
        (target.seq + 1, "broken-link"),
    ]


def test_the_key_comes_from_the_master_secret(engine: Engine, history: RequestView) -> None:
    other = audit.audit_key(b"\x07" * 32)
    assert other != KEY and len(KEY) == 32
    with Session(engine) as session, session.begin():
        found = audit.verify(session, other)
    assert found and all(p.kind == "edited" for p in found)


# -- the upgrade path: a database of the unkeyed version ----------------------------------------


LEGACY_COLUMNS = (
    "seq", "at", "actor", "dealer_code", "action", "request_number", "vin", "repair_order",
    "seed_sha256", "details", "prev_hash", "hash",
)  # fmt: skip
"""``audit_record`` at revision 0001: no ``scheme`` column yet."""


def legacy_database(db_url: str, count: int) -> Engine:
    """A database at revision 0001 with ``count`` records as the version before keyed chaining
    wrote them (plain SHA-256, no ``scheme`` column), written with raw SQL."""
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    prev = GENESIS_HASH
    insert_row = text(
        f"INSERT INTO audit_record ({', '.join(LEGACY_COLUMNS)}) "
        f"VALUES ({', '.join(':' + name for name in LEGACY_COLUMNS)})"
    )
    with engine.begin() as connection:
        for seq in range(1, count + 1):
            row = AuditRecord(
                seq=seq, at=datetime(2014, 6, 30, 12, seq, tzinfo=UTC), actor="admin",
                dealer_code="63123", action="enroll-dealer", request_number=None, vin=None,
                repair_order=None, seed_sha256=None, details=f'{{"name":"D{seq}"}}',
                prev_hash=prev,
            )  # fmt: skip
            row.hash = prev = audit.legacy_hash(row)
            values = {name: getattr(row, name) for name in LEGACY_COLUMNS}
            connection.execute(insert_row, values)
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": count, "hash": prev},
        )
    return engine


def test_a_legacy_database_is_sealed_as_it_is_upgraded_and_keyed_records_follow(
    db_url: str, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = legacy_database(db_url, 3)
    with engine.connect() as connection:
        legacy_head = connection.execute(text("SELECT hash FROM audit_head")).scalar_one()
    capsys.readouterr()
    assert main(["portal", "--db", db_url, "init"]) == 0  # the lab secret: the portal's key here
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "audit records 1..3 (unkeyed, from before keyed chaining) sealed by record 4; take an "
        "anchor now: ecusim portal audit anchor -o FILE"
    )
    rows = records(engine)
    assert [row.scheme for row in rows] == ["sha256"] * 3 + ["hmac-sha256"]
    assert (rows[3].action, rows[3].actor, rows[3].prev_hash) == (
        "audit-keyed",
        "portal",
        legacy_head,
    )
    assert json.loads(rows[3].details) == {"legacy_records": 3, "legacy_head": legacy_head}
    assert problems(engine) == []
    status, out = cli_verify(db_url, capsys)
    assert (status, out) == (0, "audit log intact (4 records, 0 anchors)\n")
    assert main(["portal", "--db", db_url, "init"]) == 0  # sealed once only
    assert len(records(engine)) == 4

    portal = Portal(make_session_factory(engine), clock, DEFAULT_MASTER_SECRET)
    portal.enroll_dealer("64001", "Lexus of Elsewhere")
    rows = records(engine)
    assert [row.scheme for row in rows] == ["sha256"] * 3 + ["hmac-sha256"] * 2
    assert rows[4].prev_hash == rows[3].hash
    assert problems(engine) == []
    # A legacy record after a keyed one: someone rewrote it without the key.
    portal.enroll_dealer("64002", "Lexus of Further")
    last = records(engine)[-1]
    last.actor, last.scheme = "mallory", audit.SCHEME_LEGACY
    forged = audit.legacy_hash(last)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_record SET actor = 'mallory', scheme = 'sha256', hash = :hash "
                 "WHERE seq = 6"),
            {"hash": forged},
        )  # fmt: skip
        connection.execute(
            text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": forged}
        )
    assert [(p.seq, p.kind) for p in problems(engine)] == [(6, "downgraded")]
    engine.dispose()


def relabel_all_legacy(engine: Engine, keep: Callable[[AuditRecord], bool]) -> int:
    """The insider without the key: keep some records, renumber them, relabel every one
    ``sha256``, recompute the links with plain SHA-256 and fix the head (raw SQL)."""
    kept = [row for row in records(engine) if keep(row)]
    prev = GENESIS_HASH
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_record"))
        for seq, row in enumerate(kept, start=1):
            row.seq, row.prev_hash, row.scheme = seq, prev, audit.SCHEME_LEGACY
            row.hash = prev = audit.legacy_hash(row)
            values = {name: getattr(row, name) for name in (*LEGACY_COLUMNS, "scheme")}
            connection.execute(insert(AuditRecord.metadata.tables["audit_record"]), values)
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": len(kept), "hash": prev},
        )
    return len(kept)


@pytest.mark.parametrize("keep", ["all", "drop-seal", "drop-record-2"])
def test_an_unkeyed_rewrite_of_a_sealed_database_is_reported(
    db_url: str, clock: FakeClock, capsys: pytest.CaptureFixture[str], keep: str
) -> None:
    engine = legacy_database(db_url, 2)
    portal = Portal.open(db_url, clock, DEFAULT_MASTER_SECRET, CHEAP_SETTINGS)  # seals too
    portal.enroll_dealer("64001", "Lexus of Elsewhere")
    assert [row.action for row in records(engine)][2:] == ["audit-keyed", "enroll-dealer"]
    assert problems(engine) == []
    keeps: dict[str, Callable[[AuditRecord], bool]] = {
        "all": lambda row: True,
        "drop-seal": lambda row: row.action != "audit-keyed",
        "drop-record-2": lambda row: row.seq != 2,
    }
    count = relabel_all_legacy(engine, keeps[keep])
    assert [(p.seq, p.kind) for p in problems(engine)] == [(1, "unkeyed")]
    status, out = cli_verify(db_url, capsys)
    assert status == 1
    assert out.splitlines()[0].startswith(
        f"record 1: unkeyed: records 1..{count} are unkeyed legacy records and no audit-keyed"
    )
    assert "legacy scheme" not in capsys.readouterr().err  # no reassuring note
    engine.dispose()


def test_a_legacy_database_is_not_upgraded_without_the_key(db_url: str) -> None:
    engine = legacy_database(db_url, 2)
    before = snapshot(engine)
    with pytest.raises(DatabaseError, match="holds 2 unkeyed audit records") as caught:
        upgrade(engine)
    assert "nothing was changed" in str(caught.value)
    assert snapshot(engine) == before
    assert records_to_seal(engine) == 2
    engine.dispose()


def test_the_cli_says_the_lab_secret_keys_a_public_chain(
    engine: Engine, history: RequestView, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["portal", "--db", db_url, "audit", "verify"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "audit chain is keyed with the public lab secret" in err


def test_the_portal_warns_once_about_the_lab_secret(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ecusim.portal.service"):
        Portal(make_session_factory(engine))
    assert len(caplog.records) == 1
    assert "audit chain is keyed with a public key" in caplog.records[0].getMessage()
