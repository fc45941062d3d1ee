"""Physical keys and their transponders (lab model).

Blanks are fixed at manufacture: a master blank can never become a sub key (domain.md "Keys").
Each key carries a transponder that answers a 16-byte challenge with AES-128 under its own
secret, like a DST-AES ("H") transponder; the real DST ciphers are never implemented [LAB].

A key is fully described by its 32-bit transponder ID: the top nibble is the blank kind and the
secret is derived from the ID with a lab master secret. So a key can travel as a number over the
lab control messages (another process rebuilds the same key), and the car, which learns a key's
secret when it registers the key, can verify it later.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ecusim.errors import EcusimError

CHALLENGE_LENGTH = 16
"""AES block size: one challenge, one response."""

TRANSPONDER_MASTER_SECRET = bytes.fromhex(
    "5d0b7cf7e3f2c5a8a3e1d9a4c1b0e6f2d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3"
)
"""[LAB] The secret from which every lab transponder's key is derived. Not an OEM value."""

ID_KIND_SHIFT = 28


class KeyKind(enum.StrEnum):
    """The blank a key was made from (and so how it may be registered)."""

    MASTER = "master"
    SUB = "sub"
    SMART = "smart"


_KIND_NIBBLE = {KeyKind.MASTER: 0x1, KeyKind.SUB: 0x2, KeyKind.SMART: 0x3}
_NIBBLE_KIND = {nibble: kind for kind, nibble in _KIND_NIBBLE.items()}


class TransponderFault(enum.StrEnum):
    """Faults a key can be built with, to exercise the immobilizer's DTCs."""

    NONE = "none"
    SILENT = "silent"
    """No answer at all (no chip, dead chip): the ECU logs B2796."""
    GARBLED = "garbled"
    """Answers with corrupted data: the ECU logs B2797."""


class InvalidKeyError(EcusimError, ValueError):
    """A transponder ID or key parameter is not valid."""


@dataclass(frozen=True)
class Key:
    """A key with its transponder.

    ``response_time_s`` is how long the transponder takes to answer; an immobilizer that gets no
    answer within its limit (0.5 s, domain.md) logs B2798 and treats the key as unidentified.
    """

    transponder_id: int
    response_time_s: float = 0.05
    fault: TransponderFault = TransponderFault.NONE

    def __post_init__(self) -> None:
        if not 0 <= self.transponder_id <= 0xFFFFFFFF:
            raise InvalidKeyError(f"a transponder ID is 32 bits, got {self.transponder_id:#x}")
        if (self.transponder_id >> ID_KIND_SHIFT) not in _NIBBLE_KIND:
            raise InvalidKeyError(
                f"transponder ID {self.transponder_id:#010x}: the top hex digit must be "
                "1 (master), 2 (sub) or 3 (smart)"
            )
        if not self.response_time_s >= 0:
            raise InvalidKeyError(f"response time must be ≥ 0 s, got {self.response_time_s}")

    @classmethod
    def blank(cls, kind: KeyKind | str, rng: random.Random) -> Key:
        """A new, unregistered key of ``kind`` with a random serial from ``rng``."""
        nibble = _KIND_NIBBLE[KeyKind(kind)]
        return cls((nibble << ID_KIND_SHIFT) | rng.getrandbits(ID_KIND_SHIFT))

    @classmethod
    def derived(cls, kind: KeyKind | str, label: str) -> Key:
        """A key whose serial is derived from ``label`` (e.g. a VIN's factory key set)."""
        digest = hashes.Hash(hashes.SHA256())
        digest.update(f"ecusim-key:{KeyKind(kind).value}:{label}".encode())
        serial = int.from_bytes(digest.finalize()[:4], "big") & ((1 << ID_KIND_SHIFT) - 1)
        return cls((_KIND_NIBBLE[KeyKind(kind)] << ID_KIND_SHIFT) | serial)

    @property
    def kind(self) -> KeyKind:
        return _NIBBLE_KIND[self.transponder_id >> ID_KIND_SHIFT]

    @property
    def secret(self) -> bytes:
        """The transponder's 128-bit AES key (HKDF-SHA256 of the lab secret and the ID)."""
        return transponder_secret(self.transponder_id)

    def respond(self, challenge: bytes) -> bytes | None:
        """The transponder's answer to a 16-byte challenge, or ``None`` if it stays silent."""
        if len(challenge) != CHALLENGE_LENGTH:
            raise InvalidKeyError(f"a challenge is {CHALLENGE_LENGTH} bytes, got {len(challenge)}")
        if self.fault is TransponderFault.SILENT:
            return None
        answer = aes_response(self.secret, challenge)
        if self.fault is TransponderFault.GARBLED:
            return bytes(b ^ 0x5A for b in answer)
        return answer

    def __str__(self) -> str:
        return f"{self.kind.value} key {self.transponder_id:08X}"


def transponder_secret(transponder_id: int) -> bytes:
    """HKDF-SHA256(lab master secret, info = "transponder:" + ID) → 16 bytes [LAB]."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=16,
        salt=b"ecusim/transponder/v1",
        info=b"transponder:" + transponder_id.to_bytes(4, "big"),
    ).derive(TRANSPONDER_MASTER_SECRET)


def aes_response(secret: bytes, challenge: bytes) -> bytes:
    """AES-128 of one challenge block under ``secret`` (the transponder's computation)."""
    encryptor = Cipher(algorithms.AES(secret), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


def parse_transponder_id(text: str) -> int:
    """Parse ``"1A2B3C4D"`` or ``"0x1A2B3C4D"`` into a valid transponder ID."""
    match = re.fullmatch(r"(?:0[xX])?([0-9A-Fa-f]{8})", text)
    if match is None:
        raise InvalidKeyError(f"a transponder ID is 8 hexadecimal digits, got {text!r}")
    return Key(int(match.group(1), 16)).transponder_id
