"""Signed checkpoints of the audit chain ("anchors"), kept outside the database (OWASP ASVS
V7.3.3) [LAB format].

An anchor states "record ``seq`` of this portal's log had hash ``hash`` at time ``at``", signed
with Ed25519 (RFC 8032) under a key that HKDF-SHA256 (RFC 5869) derives from the portal's master
secret (:data:`ANCHOR_KEY_INFO`, a label of its own). One anchor is one JSON object on one line
(JSON Lines)::

    {"at": "2014-07-01T20:27:00+00:00", "format": "ecusim-audit-anchor/1", "hash": "<64 hex>",
     "public_key": "<64 hex>", "seq": 7, "signature": "<128 hex>"}

``signature`` is over the canonical JSON (:func:`ecusim.portal.audit.canonical_json`) of the
other five fields. :func:`verify` checks the chain (:func:`ecusim.portal.audit.check`) and each
anchor: signed by the key the secret gives, its record still there with that hash, the log not
shorter. Someone who rewrites the database, even with the secret, cannot change a record at or
before an anchor they cannot reach without being seen (docs/portal-security.md).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from ecusim.errors import EcusimError
from ecusim.portal import audit
from ecusim.portal.models import AuditRecord

__all__ = [
    "ANCHOR_FORMAT",
    "ANCHOR_KEY_INFO",
    "Anchor",
    "AnchorFileError",
    "AnchorProblem",
    "Verification",
    "anchor_line",
    "append_anchor",
    "make_anchor",
    "parse_anchors",
    "public_key_hex",
    "read_anchors",
    "signing_key",
    "verify",
]

ANCHOR_FORMAT: Final = "ecusim-audit-anchor/1"
ANCHOR_KEY_INFO: Final = b"ecusim portal audit anchor v1"
"""HKDF ``info`` of the Ed25519 seed (not the chain's HMAC key: one label per key)."""
_FIELDS: Final = ("format", "seq", "hash", "at", "public_key", "signature")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


class AnchorFileError(EcusimError, ValueError):
    """An anchor file that cannot be read: not JSON, another format, a field missing or
    malformed. The message is one line naming the line."""


@dataclass(frozen=True)
class Anchor:
    """One signed checkpoint of the chain."""

    seq: int
    hash: str
    at: str
    """UTC, ISO 8601."""
    public_key: str
    """Hex of the raw 32-byte Ed25519 public key."""
    signature: str
    """Hex of the 64-byte Ed25519 signature over :meth:`signed_text`."""
    format: str = ANCHOR_FORMAT

    def signed_text(self) -> bytes:
        fields = {name: getattr(self, name) for name in _FIELDS if name != "signature"}
        return audit.canonical_json(fields).encode("utf-8")


@dataclass(frozen=True)
class AnchorProblem:
    """An anchor that proves nothing: a bad signature, or signed by another key."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"anchor line {self.line}: {self.message}"


@dataclass(frozen=True)
class Verification:
    """The chain checked against the anchors."""

    problems: tuple[audit.AuditProblem, ...]
    """The records' problems, the first bad record first."""
    anchor_problems: tuple[AnchorProblem, ...]
    records: int
    anchors: int
    legacy: int
    """Records of the unkeyed legacy scheme (intact only as the prefix their keyed seal covers,
    :func:`ecusim.portal.audit.seal`)."""
    head: audit.ChainHead

    @property
    def ok(self) -> bool:
        return not self.problems and not self.anchor_problems


def signing_key(master_secret: bytes) -> Ed25519PrivateKey:
    """The anchor key: an Ed25519 private key from HKDF-SHA256(master secret,
    :data:`ANCHOR_KEY_INFO`)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=ANCHOR_KEY_INFO)
    return Ed25519PrivateKey.from_private_bytes(hkdf.derive(master_secret))


def _raw(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_key_hex(master_secret: bytes) -> str:
    """The public key anchors of this master secret carry (hex)."""
    return _raw(signing_key(master_secret).public_key())


def make_anchor(session: Session, master_secret: bytes, at: datetime) -> Anchor:
    """An anchor of the chain's head as it is in ``session`` now, signed, dated ``at``."""
    last = audit.head(session)
    key = signing_key(master_secret)
    unsigned = Anchor(
        seq=last.seq,
        hash=last.hash,
        at=at.astimezone(UTC).isoformat(),
        public_key=_raw(key.public_key()),
        signature="",
    )
    return Anchor(**{**asdict(unsigned), "signature": key.sign(unsigned.signed_text()).hex()})


def anchor_line(anchor: Anchor) -> str:
    """The anchor as one line of canonical JSON (no line end)."""
    return audit.canonical_json(asdict(anchor))


def _field_error(number: int, message: str) -> AnchorFileError:
    return AnchorFileError(f"line {number}: {message}")


def _parse_line(number: int, line: str) -> Anchor:
    try:
        value: Any = json.loads(line)
    except ValueError as exc:
        raise _field_error(number, f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _field_error(number, "not a JSON object")
    if value.get("format") != ANCHOR_FORMAT:
        raise _field_error(
            number, f"format must be {ANCHOR_FORMAT!r}, got {value.get('format', 'missing')!r}"
        )
    missing = [name for name in _FIELDS if name not in value]
    if missing:
        raise _field_error(number, f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise _field_error(number, f"unknown field(s) {', '.join(unknown)}")
    seq = value["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _field_error(number, f"seq must be a whole number ≥ 0, got {seq!r}")
    checks = (("hash", _HEX64), ("public_key", _HEX64), ("signature", _HEX128))
    for name, pattern in checks:
        text = value[name]
        if not isinstance(text, str) or not pattern.fullmatch(text):
            digits = pattern.pattern.split("{")[1].rstrip("}")
            raise _field_error(number, f"{name} must be {digits} lower-case hex digits")
    at = value["at"]
    try:
        parsed = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise _field_error(number, f"at must be an ISO 8601 time with an offset, got {at!r}")
    return Anchor(
        seq=seq,
        hash=value["hash"],
        at=at,
        public_key=value["public_key"],
        signature=value["signature"],
    )


def parse_anchors(text: str) -> list[Anchor]:
    """The anchors of a JSON Lines text (blank lines skipped); :class:`AnchorFileError` on the
    first bad line."""
    return [
        _parse_line(number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def read_anchors(path: Path) -> list[Anchor]:
    """:func:`parse_anchors` of a file; an unreadable file is an :class:`AnchorFileError` too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise AnchorFileError(f"cannot read: {reason}") from None
    return parse_anchors(text)


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append the anchor's line to ``path``, created with mode 0600 if new."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8", newline="\n") as stream:
        stream.write(anchor_line(anchor) + "\n")


def _signature_problem(line: int, anchor: Anchor, expected: Ed25519PublicKey) -> str | None:
    if anchor.public_key != _raw(expected):
        return f"signed by another key (public key {anchor.public_key[:16]}…, not this portal's)"
    try:
        expected.verify(bytes.fromhex(anchor.signature), anchor.signed_text())
    except InvalidSignature:
        return "bad signature"
    return None


def _against(
    session: Session, line: int, anchor: Anchor, last_seq: int
) -> audit.AuditProblem | None:
    """The record problem an authentic anchor reveals, if any."""
    if anchor.seq > last_seq:
        return audit.AuditProblem(
            last_seq + 1,
            "truncated",
            f"anchor line {line} names record {anchor.seq} but the log ends at record "
            f"{last_seq} (last records deleted?)",
        )
    if anchor.seq == 0:
        return None
    record = session.get(AuditRecord, anchor.seq)
    if record is None or record.hash != anchor.hash:
        return audit.AuditProblem(
            anchor.seq,
            "rewritten",
            f"not the record anchor line {line} signed at {anchor.at}"
            " (history up to it rewritten or deleted)",
        )
    return None


def verify(session: Session, master_secret: bytes, anchors: Iterable[Anchor] = ()) -> Verification:
    """Check the chain with the audit key and every anchor with the anchor key of
    ``master_secret`` (numbered from line 1, in the order given)."""
    chain = audit.check(session, audit.audit_key(master_secret))
    expected = signing_key(master_secret).public_key()
    problems = list(chain.problems)
    anchor_problems: list[AnchorProblem] = []
    seen = {(problem.seq, problem.kind) for problem in problems}
    given: Sequence[Anchor] = list(anchors)
    for line, anchor in enumerate(given, start=1):
        refused = _signature_problem(line, anchor, expected)
        if refused is not None:
            anchor_problems.append(AnchorProblem(line, refused))
            continue
        found = _against(session, line, anchor, chain.last_seq)
        if found is not None and (found.seq, found.kind) not in seen:
            seen.add((found.seq, found.kind))
            problems.append(found)
    problems.sort(key=lambda problem: problem.seq)
    return Verification(
        problems=tuple(problems),
        anchor_problems=tuple(anchor_problems),
        records=chain.records,
        anchors=len(given),
        legacy=chain.legacy,
        head=audit.head(session),
    )
