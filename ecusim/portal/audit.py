"""The tamper-evident audit log: an append-only SHA-256 hash chain [LAB].

Record ``n`` stores ``prev_hash`` = hash of record ``n - 1`` (:data:`GENESIS_HASH` for the first)
and ``hash`` = SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of all its fields,
``prev_hash`` included. The single :class:`~ecusim.portal.models.AuditHead` row names the last
record. A record is appended in the transaction that makes the change it records, after that
transaction has locked the head (:func:`lock_head`), so appends are serialised.

:func:`verify` finds an edited record (its hash no longer matches), a deleted one (a gap in the
sequence, or a broken link), a reordered one (broken links) and a deleted last record (the head
names a record that is gone). It cannot notice a rewrite of the whole chain from some record on,
head included: export :func:`head` from time to time (the NICB feed carries it) to anchor it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from ecusim.portal.models import GENESIS_HASH, AuditHead, AuditRecord, ResetRequest

__all__ = [
    "AuditProblem",
    "append",
    "canonical_json",
    "head",
    "lock_head",
    "record_hash",
    "verify",
]

HEAD_ID = 1


def canonical_json(value: Mapping[str, Any]) -> str:
    """Sorted keys, no insignificant spaces, non-ASCII kept: the same text on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(record: AuditRecord) -> str:
    """Hex SHA-256 over the canonical JSON of the record's fields (``hash`` itself excluded)."""
    fields = {
        "seq": record.seq,
        "at": _iso(record.at),
        "actor": record.actor,
        "dealer_code": record.dealer_code,
        "action": record.action,
        "request_number": record.request_number,
        "vin": record.vin,
        "repair_order": record.repair_order,
        "seed_sha256": record.seed_sha256,
        "details": record.details,
        "prev_hash": record.prev_hash,
    }
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical_json(fields).encode("utf-8"))
    return digest.finalize().hex()


def lock_head(session: Session) -> AuditHead:
    """Lock and return the chain head (``SELECT … FOR UPDATE``; on SQLite the transaction already
    holds the write lock, see :mod:`ecusim.portal.db`). Call it first in every writing
    transaction."""
    return session.execute(
        select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
    ).scalar_one()


def append(
    session: Session,
    locked_head: AuditHead,
    *,
    at: datetime,
    actor: str,
    action: str,
    dealer_code: str | None = None,
    request_number: str | None = None,
    vin: str | None = None,
    repair_order: str | None = None,
    seed_sha256: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Add the next record to the chain in ``session``'s transaction and move the head."""
    record = AuditRecord(
        seq=locked_head.seq + 1,
        at=at.astimezone(UTC),
        actor=actor,
        dealer_code=dealer_code,
        action=action,
        request_number=request_number,
        vin=vin,
        repair_order=repair_order,
        seed_sha256=seed_sha256,
        details=canonical_json(details or {}),
        prev_hash=locked_head.hash,
    )
    record.hash = record_hash(record)
    session.add(record)
    locked_head.seq = record.seq
    locked_head.hash = record.hash
    return record


@dataclass(frozen=True)
class AuditProblem:
    """One inconsistency found by :func:`verify`."""

    seq: int
    """The record concerned (for a deleted record: the first missing number)."""
    kind: str
    """``edited``, ``missing``, ``broken-link`` or ``head``."""
    message: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


def append_for_request(
    session: Session,
    locked_head: AuditHead,
    request: ResetRequest,
    *,
    at: datetime,
    actor: str,
    action: str,
    seed_sha256: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """:func:`append` a record about ``request``: its dealer, number, VIN and repair order."""
    return append(
        session,
        locked_head,
        at=at,
        actor=actor,
        action=action,
        dealer_code=request.dealer_code,
        request_number=request.number,
        vin=request.vin,
        repair_order=request.repair_order,
        seed_sha256=seed_sha256,
        details=details,
    )


def head(session: Session) -> ChainHead:
    """The last record's number and hash, as the head row states them."""
    row = session.get(AuditHead, HEAD_ID)
    if row is None:
        return ChainHead(0, GENESIS_HASH)
    return ChainHead(row.seq, row.hash)


def _records(session: Session) -> Iterator[AuditRecord]:
    statement = select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=500)
    yield from session.scalars(statement)


def verify(session: Session) -> list[AuditProblem]:
    """Check the whole chain; an empty list means it is intact."""
    problems: list[AuditProblem] = []
    expected_seq = 1
    prev_hash = GENESIS_HASH
    for record in _records(session):
        if record.seq != expected_seq:
            problems.append(
                AuditProblem(
                    expected_seq,
                    "missing",
                    f"records {expected_seq}..{record.seq - 1} are missing (deleted?)",
                )
            )
        computed = record_hash(record)
        if computed != record.hash:
            problems.append(
                AuditProblem(record.seq, "edited", "content does not match its hash (edited?)")
            )
        if record.prev_hash != prev_hash:
            problems.append(
                AuditProblem(
                    record.seq,
                    "broken-link",
                    "prev_hash is not the hash of the record before it (deleted or reordered?)",
                )
            )
        prev_hash = record.hash
        expected_seq = record.seq + 1
    last = head(session)
    if last.seq != expected_seq - 1 or last.hash != prev_hash:
        problems.append(
            AuditProblem(
                last.seq,
                "head",
                f"the head names record {last.seq} but the log ends at record {expected_seq - 1}"
                " (last records deleted?)"
                if last.seq != expected_seq - 1
                else "the head's hash does not match the last record",
            )
        )
    return problems
