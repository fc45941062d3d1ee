"""The tamper-evident audit log: an append-only, keyed hash chain (OWASP ASVS V7.3.3) [LAB].

Record ``n`` stores ``prev_hash`` = hash of record ``n - 1`` (:data:`GENESIS_HASH` for the first)
and ``hash`` = HMAC-SHA256 (RFC 2104) under the **audit key** of the canonical JSON (sorted keys,
no spaces, UTF-8) of all its fields, ``seq``, ``scheme`` and ``prev_hash`` included
(``scheme = "hmac-sha256"``). The audit key is not in the database: :func:`audit_key` derives it
with HKDF-SHA256 (RFC 5869) from the portal's master secret (docs/secrets.md), so someone who can
only write the database cannot recompute a link. Records written by versions before keyed
chaining (``scheme = "sha256"``: plain SHA-256 of the same fields without ``scheme``) still verify,
but only as a prefix **sealed** by the keyed record that follows it: :func:`seal` appends it once,
when :func:`ecusim.portal.db.upgrade` takes a database of that version across to keyed chaining
(action :data:`SEAL_ACTION`, details ``{"legacy_head": hash of record N, "legacy_records": N}``).
A new log is keyed from its first record and never has legacy records. So an unkeyed chain with
no seal right after its legacy prefix (someone without the key rewrote every record as
``sha256``) is reported ``unkeyed``, and a ``sha256`` record after a keyed one ``downgraded``.

The single :class:`~ecusim.portal.models.AuditHead` row names the last record. A record is
appended in the transaction that makes the change it records, after that transaction has locked
the head (:func:`lock_head`), so appends are serialised.

:func:`verify` finds an edited record (its HMAC no longer matches), a deleted one (a gap, or a
broken link), a reordered one (broken links), a deleted last record (the head names a record that
is gone), an unkeyed record after keyed ones and unkeyed records no seal covers. Someone who
holds the secret can still rewrite the chain and the head; signed anchors kept outside the
database catch that for every record up to the last anchor (:mod:`ecusim.portal.anchors`,
docs/portal-security.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives import constant_time, hashes, hmac
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ecusim.portal.keys import derive_key
from ecusim.portal.models import GENESIS_HASH, AuditHead, AuditRecord, ResetRequest

__all__ = [
    "AUDIT_KEY_INFO",
    "SCHEME_KEYED",
    "SCHEME_LEGACY",
    "SEAL_ACTION",
    "AuditProblem",
    "ChainCheck",
    "ChainHead",
    "append",
    "append_for_request",
    "audit_key",
    "canonical_json",
    "check",
    "head",
    "keyed_hash",
    "legacy_hash",
    "lock_head",
    "record_hash",
    "seal",
    "seal_details",
    "verify",
]

HEAD_ID = 1
SCHEME_KEYED: Final = "hmac-sha256"
SCHEME_LEGACY: Final = "sha256"
"""Unkeyed SHA-256: records written before keyed chaining; never written now."""
SEAL_ACTION: Final = "audit-keyed"
"""The keyed record that seals the legacy prefix of an upgraded log (:func:`seal`)."""
SEAL_ACTOR: Final = "portal"
AUDIT_KEY_INFO: Final = b"ecusim portal audit chain v1"
"""HKDF ``info`` of the chain's HMAC key (RFC 5869 §3.2: one label per derived key)."""


def audit_key(master_secret: bytes) -> bytes:
    """The chain's HMAC key: HKDF-SHA256(master secret, no salt, :data:`AUDIT_KEY_INFO`)."""
    return derive_key(master_secret, AUDIT_KEY_INFO)


def canonical_json(value: Mapping[str, Any]) -> str:
    """Sorted keys, no insignificant spaces, non-ASCII kept: the same text on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {
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


def legacy_hash(record: AuditRecord) -> str:
    """Scheme ``sha256``: hex SHA-256 over the canonical JSON of the fields (``hash`` and
    ``scheme`` excluded), as versions before keyed chaining wrote it."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical_json(_fields(record)).encode("utf-8"))
    return digest.finalize().hex()


def keyed_hash(record: AuditRecord, key: bytes) -> str:
    """Scheme ``hmac-sha256``: hex HMAC-SHA256 under ``key`` over the canonical JSON of the
    fields, ``scheme`` included (``hash`` excluded)."""
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(canonical_json({**_fields(record), "scheme": record.scheme}).encode("utf-8"))
    return mac.finalize().hex()


def record_hash(record: AuditRecord, key: bytes) -> str:
    """The hash ``record`` must carry under its scheme (``key``: the audit key)."""
    if record.scheme == SCHEME_KEYED:
        return keyed_hash(record, key)
    if record.scheme == SCHEME_LEGACY:
        return legacy_hash(record)
    raise ValueError(f"unknown audit scheme {record.scheme!r}")


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
    key: bytes,
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
    """Add the next record to the chain in ``session``'s transaction, keyed with ``key`` (the
    :func:`audit_key`), and move the head."""
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
        scheme=SCHEME_KEYED,
    )
    record.hash = keyed_hash(record, key)
    # Two plain statements rather than the unit of work (it costs more than the writes): the
    # record (``record`` stays transient) and the head it becomes, as committed values.
    session.execute(insert(AuditRecord).values({name: getattr(record, name) for name in _COLUMNS}))
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == locked_head.id)
        .values(seq=record.seq, hash=record.hash)
    )
    set_committed_value(locked_head, "seq", record.seq)
    set_committed_value(locked_head, "hash", record.hash)
    return record


_COLUMNS: Final = tuple(column.key for column in AuditRecord.__table__.columns)


def append_for_request(
    session: Session,
    locked_head: AuditHead,
    request: ResetRequest,
    *,
    key: bytes,
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
        key=key,
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


def seal_details(legacy_records: int, legacy_head: str) -> str:
    """The ``details`` of the seal over records ``1..legacy_records`` whose last hash is
    ``legacy_head`` (canonical JSON)."""
    return canonical_json({"legacy_records": legacy_records, "legacy_head": legacy_head})


def seal(session: Session, locked_head: AuditHead, *, key: bytes, at: datetime) -> int:
    """Append the keyed :data:`SEAL_ACTION` record over every record of the chain, all of them
    legacy (:func:`ecusim.portal.db.upgrade` calls it once, as it upgrades a database from before
    keyed chaining); the number of records sealed (0: an empty log needs no seal)."""
    sealed = locked_head.seq
    if sealed:
        append(
            session,
            locked_head,
            key=key,
            at=at,
            actor=SEAL_ACTOR,
            action=SEAL_ACTION,
            details={"legacy_records": sealed, "legacy_head": locked_head.hash},
        )
    return sealed


@dataclass(frozen=True)
class AuditProblem:
    """One inconsistency found by :func:`verify` (or against an anchor)."""

    seq: int
    """The record concerned (for deleted records: the first missing number)."""
    kind: str
    """``edited``, ``missing``, ``broken-link``, ``head``, ``downgraded``, ``unkeyed``; against an
    anchor
    (:mod:`ecusim.portal.anchors`) ``rewritten`` or ``truncated``."""
    message: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class ChainHead:
    """The last record's number and hash (``0`` and :data:`GENESIS_HASH` for an empty log)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    """What :func:`check` found."""

    problems: tuple[AuditProblem, ...]
    """In the order of the records."""
    records: int
    """Records read."""
    last_seq: int
    """The last record's number (0: none)."""
    legacy: int
    """Records of the unkeyed ``sha256`` scheme (a sealed prefix when the chain is intact)."""


def head(session: Session) -> ChainHead:
    """The last record's number and hash, as the head row states them."""
    row = session.get(AuditHead, HEAD_ID)
    if row is None:
        return ChainHead(0, GENESIS_HASH)
    return ChainHead(row.seq, row.hash)


def _records(session: Session) -> Iterator[AuditRecord]:
    statement = select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=500)
    yield from session.scalars(statement)


def _content_problem(record: AuditRecord, key: bytes, keyed_seen: bool) -> AuditProblem | None:
    if record.scheme == SCHEME_LEGACY and keyed_seen:
        return AuditProblem(
            record.seq,
            "downgraded",
            "an unkeyed sha256 record after keyed ones (rewritten without the key?)",
        )
    try:
        expected = record_hash(record, key)
    except ValueError as exc:
        return AuditProblem(record.seq, "edited", str(exc))
    if not constant_time.bytes_eq(expected.encode(), record.hash.encode()):
        what = "HMAC" if record.scheme == SCHEME_KEYED else "SHA-256"
        return AuditProblem(
            record.seq,
            "edited",
            f"content does not match its {what} (edited, or another portal's secret?)",
        )
    return None


def _seal_problem(record: AuditRecord, legacy: int, legacy_head: str) -> AuditProblem | None:
    """The first keyed record after ``legacy`` unkeyed ones must be their seal."""
    if record.action == SEAL_ACTION and record.details == seal_details(legacy, legacy_head):
        return None
    return AuditProblem(
        record.seq,
        "unkeyed",
        f"records 1..{legacy} are unkeyed legacy records and record {record.seq} is not the "
        f"{SEAL_ACTION} record sealing them (rewritten without the key?)",
    )


def _unsealed(legacy: int) -> AuditProblem:
    return AuditProblem(
        1,
        "unkeyed",
        f"records 1..{legacy} are unkeyed legacy records and no {SEAL_ACTION} record seals them;"
        " the portal keys a new log from its first record and seals an old one as it upgrades"
        " it (rewritten without the key?)",
    )


def check(session: Session, key: bytes) -> ChainCheck:
    """Check the whole chain with the audit ``key``; no problems means it is intact."""
    problems: list[AuditProblem] = []
    expected_seq, prev_hash, count, legacy, keyed_seen = 1, GENESIS_HASH, 0, 0, False
    for record in _records(session):
        count += 1
        if record.scheme == SCHEME_KEYED and legacy and not keyed_seen:
            sealing = _seal_problem(record, legacy, prev_hash)
            if sealing is not None:
                problems.append(sealing)
        if record.seq != expected_seq:
            problems.append(
                AuditProblem(
                    expected_seq,
                    "missing",
                    f"records {expected_seq}..{record.seq - 1} are missing (deleted?)",
                )
            )
        problem = _content_problem(record, key, keyed_seen)
        if problem is not None:
            problems.append(problem)
        keyed_seen = keyed_seen or record.scheme == SCHEME_KEYED
        legacy += record.scheme == SCHEME_LEGACY
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
    if legacy and not keyed_seen:
        problems.append(_unsealed(legacy))
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
    problems.sort(key=lambda problem: problem.seq)  # stable: the record order kept
    return ChainCheck(tuple(problems), count, expected_seq - 1, legacy)


def verify(session: Session, key: bytes) -> list[AuditProblem]:
    """Check the whole chain with the audit ``key``; an empty list means it is intact."""
    return list(check(session, key).problems)
