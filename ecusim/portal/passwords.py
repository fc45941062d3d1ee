"""Password hashing: scrypt (memory-hard), constant-time verification.

Encoded as ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`` so the cost can be raised later without
invalidating stored hashes.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ecusim.portal.errors import ValidationError

__all__ = ["MIN_PASSWORD_LENGTH", "hash_password", "verify_password"]

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_LENGTH = 8
"""Shortest password accepted when staff are added [LAB]."""

_SCHEME = "scrypt"
_DUMMY = f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'00' * SALT_BYTES}${'00' * HASH_BYTES}"
"""Verified against when the user is unknown, so both cases take the same time."""


def hash_password(password: str) -> str:
    """Return the encoded scrypt hash of ``password`` with a fresh random salt."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"needs at least {MIN_PASSWORD_LENGTH} characters")
    salt = os.urandom(SALT_BYTES)
    kdf = Scrypt(salt=salt, length=HASH_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    digest = kdf.derive(password.encode("utf-8"))
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str | None) -> bool:
    """Whether ``password`` matches ``encoded`` (``None``: unknown user, always ``False`` after the
    same work). Malformed stored hashes never match."""
    stored = encoded if encoded is not None else _DUMMY
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != _SCHEME:
            return False
        kdf = Scrypt(
            salt=bytes.fromhex(salt_hex), length=len(hash_hex) // 2, n=int(n), r=int(r), p=int(p)
        )
        kdf.verify(str(password).encode("utf-8"), bytes.fromhex(hash_hex))
    except (ValueError, InvalidKey):
        return False
    return encoded is not None
