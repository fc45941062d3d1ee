"""The lab SecurityAccess algorithms and the Seed Number / Pass-Code text form
(diagnostic-contract.md §5).

Pure functions over bytes, built only from the ``cryptography`` package (HKDF, HMAC, SHA-256), so
that outside tools (the dealer portal, scan tools) can compute exactly the same values. The
secrets below are public lab values, never a real OEM secret.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.errors import CodeFormatError, ConfigurationError

__all__ = [
    "DEFAULT_DIAG_KEY",
    "DEFAULT_MASTER_SECRET",
    "DIAGNOSTIC_KEY_LENGTH",
    "PASS_CODE_LENGTH",
    "SEED_NUMBER_LENGTH",
    "VEHICLE_KEY_LENGTH",
    "VIN_LENGTH",
    "constant_time_equal",
    "diagnostic_key",
    "format_code",
    "parse_code",
    "pass_code",
    "vehicle_key",
]


def _sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


DEFAULT_MASTER_SECRET: bytes = _sha256(b"ecusim-lab-master-secret-v1")
"""Lab master secret ``M`` = SHA-256(b"ecusim-lab-master-secret-v1") (diagnostic-contract.md §5)."""

DEFAULT_DIAG_KEY: bytes = _sha256(b"ecusim-lab-diag-key-v1")
"""Lab level-0x01 key ``K_diag`` = SHA-256(b"ecusim-lab-diag-key-v1")
(diagnostic-contract.md §5)."""

VIN_LENGTH = 17
"""Characters in a VIN (ISO 3779)."""

SEED_NUMBER_LENGTH = 16
"""Bytes in a Seed Number, the level 0x11 seed (diagnostic-contract.md §3)."""

PASS_CODE_LENGTH = 16
"""Bytes in a Pass-Code, the level 0x12 key (diagnostic-contract.md §3)."""

DIAGNOSTIC_KEY_LENGTH = 4
"""Bytes in a level 0x02 key (diagnostic-contract.md §3)."""

VEHICLE_KEY_LENGTH = 32
"""Bytes in ``K_vehicle`` (diagnostic-contract.md §5)."""

_HKDF_SALT = b"ecusim/immobilizer-reset/v1"
_HKDF_INFO_PREFIX = b"vehicle:"
_PASS_CODE_PREFIX = b"reset-passcode:"
_GROUP_HEX_DIGITS = 8
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _vin_bytes(vin: str) -> bytes:
    """Return the VIN's ASCII bytes; only length and ASCII are checked (no check digit)."""
    if not isinstance(vin, str):
        raise CodeFormatError(f"VIN must be a str, got {type(vin).__name__}")
    if len(vin) != VIN_LENGTH:
        raise CodeFormatError(f"VIN must be {VIN_LENGTH} characters, got {len(vin)}: {vin!r}")
    if not vin.isascii():
        raise CodeFormatError(f"VIN must be ASCII: {vin!r}")
    return vin.encode("ascii")


def _require_secret(secret: bytes, name: str) -> None:
    if not isinstance(secret, bytes) or not secret:
        raise ConfigurationError(f"{name} must be non-empty bytes")


def vehicle_key(vin: str, master_secret: bytes = DEFAULT_MASTER_SECRET) -> bytes:
    """Return ``K_vehicle`` = HKDF-SHA256(M, salt, b"vehicle:" + VIN, 32)
    (diagnostic-contract.md §5).

    The VIN is used byte for byte: pass the validated, upper-case VIN.
    """
    info = _HKDF_INFO_PREFIX + _vin_bytes(vin)
    _require_secret(master_secret, "master secret")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=VEHICLE_KEY_LENGTH, salt=_HKDF_SALT, info=info)
    return hkdf.derive(master_secret)


def pass_code(vin: str, seed: bytes, master_secret: bytes = DEFAULT_MASTER_SECRET) -> bytes:
    """Return the 16-byte Pass-Code for a Seed Number (diagnostic-contract.md §5).

    ``HMAC-SHA256(K_vehicle, b"reset-passcode:" + VIN + seed)[:16]``. Raises
    :class:`CodeFormatError` unless ``vin`` is 17 ASCII characters and ``seed`` is 16 bytes.
    """
    vin_bytes = _vin_bytes(vin)
    if not isinstance(seed, bytes) or len(seed) != SEED_NUMBER_LENGTH:
        got = f"{len(seed)} bytes" if isinstance(seed, bytes) else type(seed).__name__
        raise CodeFormatError(f"Seed Number must be {SEED_NUMBER_LENGTH} bytes, got {got}")
    key = vehicle_key(vin, master_secret)
    return _hmac_sha256(key, _PASS_CODE_PREFIX + vin_bytes + seed)[:PASS_CODE_LENGTH]


def diagnostic_key(seed: bytes, diag_key: bytes = DEFAULT_DIAG_KEY) -> bytes:
    """Return the level 0x01 key ``HMAC-SHA256(K_diag, seed)[:4]`` (diagnostic-contract.md §5).

    The seed length is not checked here (the level's algorithm object checks it).
    """
    _require_secret(diag_key, "diagnostic key")
    return _hmac_sha256(diag_key, seed)[:DIAGNOSTIC_KEY_LENGTH]


def format_code(value: bytes) -> str:
    """Return the display form: upper-case hex in groups of 8 digits joined by ``-`` (§5).

    ``bytes(range(16))`` → ``"00010203-04050607-08090A0B-0C0D0E0F"``; 4 bytes → ``"354A1764"``.
    """
    digits = value.hex().upper()
    return "-".join(
        digits[i : i + _GROUP_HEX_DIGITS] for i in range(0, len(digits), _GROUP_HEX_DIGITS)
    )


def parse_code(text: str, length: int = PASS_CODE_LENGTH, *, field: str = "code") -> bytes:
    """Parse a Seed Number or Pass-Code typed by a person (diagnostic-contract.md §5).

    Accepts any case, with or without ``-`` or spaces anywhere, and surrounding whitespace.
    Raises :class:`CodeFormatError` naming ``field`` and the problem (a non-hex character and its
    1-based position, or "expected 32 hex digits, got 30").
    """
    if length < 1:
        raise ConfigurationError(f"code length must be ≥ 1 byte, got {length}")
    if not isinstance(text, str):
        raise CodeFormatError(f"{field} must be text, got {type(text).__name__}")
    stripped = text.strip()
    digits: list[str] = []
    for position, char in enumerate(stripped, start=1):
        if char in "- ":
            continue
        if char not in _HEX_DIGITS:
            raise CodeFormatError(
                f"{field}: {char!r} at position {position} is not a hex digit "
                "(allowed: 0-9, A-F, '-' and spaces)"
            )
        digits.append(char)
    expected = 2 * length
    if len(digits) != expected:
        raise CodeFormatError(f"{field}: expected {expected} hex digits, got {len(digits)}")
    return bytes.fromhex("".join(digits))


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings in time independent of where they differ (``bytes_eq``)."""
    return constant_time.bytes_eq(a, b)
