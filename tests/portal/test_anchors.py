"""The insider with the database (OWASP ASVS V7.3.3): rewrites done with raw SQL, then caught by
the keyed chain and the signed anchors kept outside the database (docs/portal-security.md).

Each attack is what someone holding the database can do: read every row, change, delete or add
some, recompute the hashes (plainly, or with the HMAC key when they also hold the secret) and fix
the head row so that nothing dangles.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, text
from sqlalchemy.orm import Session

from ecusim.cli import portal_command
from ecusim.cli.errors import CliError
from ecusim.portal import anchors, audit
from ecusim.portal.db import make_session_factory
from ecusim.portal.errors import ConflictError
from ecusim.portal.models import GENESIS_HASH, Action, AuditRecord
from ecusim.portal.service import Portal, RequestView
from ecusim.secret_file import Secrets, load, write_new
from protocol.clock import FakeClock

from .kit import PASSWORD, Staffing

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
Row = dict[str, Any]
TABLE = AuditRecord.metadata.tables["audit_record"]


@pytest.fixture
def secrets(tmp_path: Path) -> Secrets:
    path = tmp_path / "portal.secrets.toml"
    write_new(path)
    return load(path)


@pytest.fixture
def portal(engine: Engine, clock: FakeClock, secrets: Secrets) -> Portal:
    """The portal on the secret file's master secret (not the public lab one)."""
    return Portal(make_session_factory(engine), clock, master_secret=secrets.master_secret)


@pytest.fixture
def history(portal: Portal, approved: RequestView, clock: FakeClock) -> RequestView:
    for seed in (SEED, "A5" * 16):
        clock.advance(60)
        portal.issue_pass_code("carol", approved.number, PASSWORD, "9.10.037", seed)
    return approved


# -- the insider's tools --------------------------------------------------------------------------


def read_rows(engine: Engine) -> list[Row]:
    with engine.connect() as connection:
        result = connection.execute(select(TABLE).order_by(TABLE.c.seq))
        return [dict(row._mapping) for row in result]


def legacy_hash(row: Row) -> str:
    """Plain SHA-256 over the record's fields, as the code on file computes it."""
    return audit.legacy_hash(AuditRecord(**row))


def keyed_hash(key: bytes) -> Callable[[Row], str]:
    return lambda row: audit.keyed_hash(AuditRecord(**row), key)


def rewrite(
    engine: Engine, rows: list[Row], hasher: Callable[[Row], str], *, scheme: str | None = None
) -> None:
    """Renumber ``rows`` 1..n, recompute every link with ``hasher`` (optionally relabelling the
    scheme), replace the table's contents and point the head at the new last record."""
    prev = GENESIS_HASH
    for seq, row in enumerate(rows, start=1):
        row["seq"], row["prev_hash"] = seq, prev
        if scheme is not None:
            row["scheme"] = scheme
        row["hash"] = prev = hasher(row)
    with engine.begin() as connection:
        connection.execute(delete(TABLE))
        if rows:
            connection.execute(insert(TABLE), rows)
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": len(rows), "hash": prev},
        )


def delete_approval_and_reattribute(rows: list[Row]) -> list[Row]:
    """The cover-up: the approval record goes, the request is re-attributed to another
    technician."""
    approval = next(i for i, row in enumerate(rows) if row["action"] == Action.APPROVE)
    request = next(i for i, row in enumerate(rows) if row["action"] == Action.REQUEST)
    rows[request]["actor"] = "dave"
    del rows[approval]
    return rows


# -- the CLI, as the operator runs it ---------------------------------------------------------


@dataclass
class Bench:
    """The database, the portal's secret file, an anchor file and the CLI on them."""

    engine: Engine
    db_url: str
    secrets: Secrets
    secret_file: Path
    anchor_file: Path
    capsys: pytest.CaptureFixture[str]

    def cli(self, *argv: str, secret_file: Path | None = None) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser()
        portal_command.add_subparser(parser.add_subparsers(dest="command"))
        secret = str(secret_file or self.secret_file)
        args = parser.parse_args(
            ["portal", "--db", self.db_url, "--secret-file", secret, "audit", *argv]
        )
        status: int = args.func(args)
        out, err = self.capsys.readouterr()
        return status, out, err

    def take_anchor(self) -> None:
        status, out, err = self.cli("anchor", "-o", str(self.anchor_file))
        assert (status, err) == (0, ""), err
        assert out.startswith("anchored record ")

    def verify(self, *, anchored: bool = True) -> tuple[int, list[str]]:
        argv = ["verify", "--anchor", str(self.anchor_file)] if anchored else ["verify"]
        status, out, _ = self.cli(*argv)
        return status, out.splitlines()

    def rows(self) -> list[Row]:
        return read_rows(self.engine)

    @property
    def key(self) -> bytes:
        return audit.audit_key(self.secrets.master_secret)


@pytest.fixture
def bench(
    history: RequestView, engine: Engine, secrets: Secrets, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Bench:  # fmt: skip
    """After the standard history (request, approval, two pass-codes), on the secret file."""
    assert secrets.source is not None
    url = engine.url.render_as_string(hide_password=False)
    return Bench(engine, url, secrets, secrets.source, tmp_path / "anchors.jsonl", capsys)


# -- the attacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("relabel", [None, audit.SCHEME_LEGACY], ids=["keyed-label", "downgrade"])
def test_a_rewrite_with_plain_sha256_is_caught(bench: Bench, relabel: str | None) -> None:
    """(a) delete the approval, re-attribute the request, recompute every hash with SHA-256."""
    bench.take_anchor()
    count = len(bench.rows())
    assert bench.verify() == (0, [f"audit log intact ({count} records, 1 anchors)"])
    rows = delete_approval_and_reattribute(bench.rows())
    rewrite(bench.engine, rows, legacy_hash, scheme=relabel)

    status, lines = bench.verify()
    assert status == 1
    if relabel is None:  # the records still say hmac-sha256: none of them matches its HMAC
        assert lines[0].startswith("record 1: edited: ")
    else:  # all relabelled as legacy records: no seal covers them, and the anchor knows better
        assert lines[0].startswith("record 1: unkeyed: ")
        assert lines[1].startswith(f"record {count}: truncated: anchor line 1 names record {count}")
    assert lines[-1].startswith(f"audit log BROKEN: {len(lines) - 1} problem(s), the first at ")


def test_b_a_rewrite_with_the_key_is_caught_by_an_earlier_anchor(
    bench: Bench, portal: Portal
) -> None:
    """(b) the same rewrite by someone who also holds the secret, so the HMAC key."""
    bench.take_anchor()
    anchored = len(bench.rows())
    portal.enroll_dealer("65000", "Lexus of Later")  # the log goes on after the anchor
    portal.enroll_dealer("65001", "Lexus of Later Still")

    rows = delete_approval_and_reattribute(bench.rows())
    rewrite(bench.engine, rows, keyed_hash(bench.key))
    assert bench.verify(anchored=False)[0] == 0  # the chain alone cannot tell
    status, lines = bench.verify()
    assert status == 1
    assert lines[0].startswith(f"record {anchored}: rewritten: ")
    assert "anchor line 1" in lines[0]
    assert lines[-1] == f"audit log BROKEN: 1 problem(s), the first at record {anchored}"


def test_c_an_inserted_record_is_caught(bench: Bench) -> None:
    """(c) a forged approval inserted before the pass-code issues."""
    bench.take_anchor()
    rows = bench.rows()
    issue = next(i for i, row in enumerate(rows) if row["action"] == Action.ISSUE)
    forged = dict(rows[issue - 1], actor="bob", details='{"manager":"Bob"}')
    rows.insert(issue, forged)
    rewrite(bench.engine, rows, legacy_hash)  # without the key

    status, lines = bench.verify(anchored=False)
    assert status == 1
    assert lines[0].startswith("record 1: edited: ")  # any recomputed record betrays itself
    # The same insertion with the key: the chain checks out, the anchor does not.
    rows = bench.rows()
    rewrite(bench.engine, rows, keyed_hash(bench.key))
    assert bench.verify(anchored=False)[0] == 0
    status, lines = bench.verify()
    assert status == 1
    assert lines[0].startswith(f"record {len(rows) - 1}: rewritten: ")


def test_d_truncation_is_caught(bench: Bench) -> None:
    """(d) the last two records (the pass-code issues) deleted and the head moved back."""
    bench.take_anchor()
    rows = bench.rows()
    last = rows[-1]["seq"]
    with bench.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_record WHERE seq > :seq"), {"seq": last - 2})
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": last - 2, "hash": rows[-3]["hash"]},
        )
    assert bench.verify(anchored=False)[0] == 0  # a valid prefix, on its own
    status, lines = bench.verify()
    assert status == 1
    assert lines[0] == (
        f"record {last - 1}: truncated: anchor line 1 names record {last} but the log ends at "
        f"record {last - 2} (last records deleted?)"
    )


# -- the anchors themselves -----------------------------------------------------------------------


def test_e_an_unkeyed_rewrite_of_a_keyed_chain_is_caught_without_anchors(
    bench: Bench, portal: Portal, staff: Staffing
) -> None:
    """(e) no anchor taken: delete the approval, renumber, relabel every record ``sha256``,
    recompute with plain SHA-256 and fix the head. The chain was keyed from record 1, so an
    all-legacy chain has no ``audit-keyed`` record sealing it: reported everywhere."""
    rows = delete_approval_and_reattribute(bench.rows())
    rewrite(bench.engine, rows, legacy_hash, scheme=audit.SCHEME_LEGACY)
    count = len(rows)

    status, lines = bench.verify(anchored=False)
    assert status == 1
    assert lines[0].startswith(f"record 1: unkeyed: records 1..{count} are unkeyed legacy ")
    assert lines[-1] == "audit log BROKEN: 1 problem(s), the first at record 1"
    with pytest.raises(CliError, match="not anchored"):
        bench.cli("anchor", "-o", str(bench.anchor_file))
    assert not bench.anchor_file.exists()

    verification = portal.verify_audit(staff.manager)
    assert not verification.ok and verification.legacy == count
    assert [p.problem.split(":")[0] for p in verification.problems] == ["unkeyed"]
    with pytest.raises(ConflictError, match="not anchored"):
        portal.audit_anchor(staff.manager)


def test_an_anchor_signed_by_another_key_is_refused(bench: Bench, tmp_path: Path) -> None:
    other = tmp_path / "other.secrets.toml"
    write_new(other)
    bench.take_anchor()
    with Session(bench.engine) as session:
        forged = anchors.make_anchor(session, load(other).master_secret, datetime.now(UTC))
    with bench.anchor_file.open("a", encoding="utf-8") as stream:
        stream.write(anchors.anchor_line(forged) + "\n")
    status, lines = bench.verify()
    assert status == 1
    assert lines[0].startswith("anchor line 2: signed by another key")
    assert lines[-1] == "audit log BROKEN: 1 problem(s), the first at anchor line 2"
    # Verified with the other secret: every keyed record fails, and anchor line 1 is foreign.
    status, out, _ = bench.cli("verify", "--anchor", str(bench.anchor_file), secret_file=other)
    assert status == 1 and "anchor line 1: signed by another key" in out

    good = json.loads(bench.anchor_file.read_text(encoding="utf-8").splitlines()[0])
    good["seq"] -= 1  # the same signature over another record
    bench.anchor_file.write_text(json.dumps(good) + "\n", encoding="utf-8")
    assert bench.verify() == (
        1,
        [
            "anchor line 1: bad signature",
            "audit log BROKEN: 1 problem(s), the first at anchor line 1",
        ],
    )


def test_anchor_file_is_created_0600_and_appended(bench: Bench, portal: Portal) -> None:
    bench.take_anchor()
    if os.name == "posix":
        assert stat.S_IMODE(bench.anchor_file.stat().st_mode) == 0o600
    portal.enroll_dealer("65000", "Lexus of Later")
    bench.take_anchor()
    lines = bench.anchor_file.read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"format", "seq", "hash", "at", "public_key", "signature"}
    assert first["format"] == "ecusim-audit-anchor/1"
    assert second["seq"] == first["seq"] + 1 == len(bench.rows())
    assert first["public_key"] == anchors.public_key_hex(bench.secrets.master_secret)
    assert datetime.fromisoformat(first["at"]).utcoffset() is not None
    status, out, _ = bench.cli("anchor")  # to stdout
    assert status == 0 and json.loads(out)["seq"] == second["seq"]
    assert bench.verify() == (0, [f"audit log intact ({second['seq']} records, 2 anchors)"])


def test_a_broken_chain_is_not_anchored(bench: Bench) -> None:
    with bench.engine.begin() as connection:
        connection.execute(text("UPDATE audit_record SET actor = 'mallory' WHERE seq = 3"))
    with pytest.raises(CliError, match="not anchored"):
        bench.cli("anchor", "-o", str(bench.anchor_file))
    assert not bench.anchor_file.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json\n", "line 1: not JSON"),
        ("[1, 2]\n", "line 1: not a JSON object"),
        ('{"format": "other/1"}\n', "line 1: format must be 'ecusim-audit-anchor/1'"),
        ('{"format": "ecusim-audit-anchor/1", "seq": 1}\n', "line 1: missing field(s)"),
        ("GOOD\n" + '{"format": "ecusim-audit-anchor/1", "seq": "1", "hash": "x", "at": "y", '
         '"public_key": "z", "signature": "w"}\n', "line 2: seq must be"),
    ],
)  # fmt: skip
def test_a_corrupt_anchor_file_is_one_line_exit_2(
    bench: Bench, tmp_path: Path, content: str, expected: str
) -> None:
    if content.startswith("GOOD\n"):
        bench.take_anchor()
        content = bench.anchor_file.read_text(encoding="utf-8") + content.removeprefix("GOOD\n")
    bench.anchor_file.write_text(content, encoding="utf-8")
    with pytest.raises(CliError) as caught:
        bench.verify()
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"--anchor: {bench.anchor_file}: {expected}")
    assert "\n" not in str(caught.value)
    with pytest.raises(CliError) as caught:
        bench.cli("verify", "--anchor", str(tmp_path / "absent.jsonl"))
    assert caught.value.exit_code == 2


def test_library_verification_with_anchors(bench: Bench, portal: Portal, staff: Staffing) -> None:
    secret = bench.secrets.master_secret
    with Session(bench.engine) as session:
        anchor = anchors.make_anchor(session, secret, portal.now())
    assert anchors.parse_anchors(anchors.anchor_line(anchor) + "\n") == [anchor]
    with Session(bench.engine) as session:
        result = anchors.verify(session, secret, [anchor])
    assert result.ok and result.records == anchor.seq and result.anchors == 1
    assert portal.verify_audit(staff.manager, [anchor]).ok
    assert portal.audit_anchor(staff.manager).seq == anchor.seq
    with bench.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_record WHERE seq = :seq"), {"seq": anchor.seq})
        connection.execute(text("UPDATE audit_head SET seq = seq - 1"))
    verification = portal.verify_audit(staff.manager, [anchor])
    assert not verification.ok
    assert {p.problem.split(":")[0] for p in verification.problems} == {"head", "truncated"}
