"""Passwords: the policy for new ones, scrypt hashing, constant-time verification.

Hashes are encoded as ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``: each carries its own cost, so
raising the cost (``PortalSettings.scrypt_n``) never invalidates a stored hash, and
:func:`needs_rehash` tells which ones to upgrade at the next successful login. New hashes use
OWASP's scrypt parameters (Password Storage Cheat Sheet: N = 2^17, r = 8, p = 1; ASVS 4.0.3
V2.4.3).

The policy (:func:`check_new_password`, OWASP ASVS 4.0.3 V2.1): 12 to 128 characters (V2.1.1,
V2.1.2; the upper bound also bounds the hashing work), not one of the 30,000 most common
passwords (V2.1.7; ``ecusim/portal/data/common-passwords.txt``, from zxcvbn, see
``ecusim/portal/data/README.md``), and not the username nor containing it; compared
case-insensitively. No composition rules (V2.1.9).
"""

from __future__ import annotations

import functools
import os
from importlib import resources

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ecusim.portal.errors import ValidationError

__all__ = [
    "DEFAULT_SCRYPT_N",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "check_new_password",
    "hash_password",
    "is_common_password",
    "needs_rehash",
    "scrypt_n",
    "verify_password",
]

DEFAULT_SCRYPT_N = 2**17
"""OWASP's scrypt cost for new hashes (``PortalSettings.scrypt_n`` defaults to it)."""
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_LENGTH = 12
"""Shortest new password, in characters (ASVS V2.1.1)."""
MAX_PASSWORD_LENGTH = 128
"""Longest new password, in characters (ASVS V2.1.2)."""
MIN_USERNAME_IN_PASSWORD = 3
"""Usernames this long or longer may not appear inside the password (a one- or two-letter
username would forbid nearly every password)."""

_SCHEME = "scrypt"
_COMMON_PASSWORDS = "common-passwords.txt"


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("ecusim.portal").joinpath("data", _COMMON_PASSWORDS).read_text("utf-8")
    return frozenset(
        line.strip().casefold()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def is_common_password(password: str) -> bool:
    """Whether ``password`` (any case) is on the shipped list of common passwords."""
    return password.casefold() in _common_passwords()


def check_new_password(password: str, username: str) -> None:
    """Refuse a new password for ``username`` that breaks the policy (module docstring):
    :class:`ValidationError` on field ``password`` saying why."""
    if not isinstance(password, str):
        raise ValidationError("password", "must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "password", f"needs at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            "password", f"may have at most {MAX_PASSWORD_LENGTH} characters, got {len(password)}"
        )
    if is_common_password(password):
        raise ValidationError("password", "is one of the most common passwords: choose another")
    name = str(username).casefold()
    folded = password.casefold()
    if folded == name or (len(name) >= MIN_USERNAME_IN_PASSWORD and name in folded):
        raise ValidationError("password", "must not contain the username")


def _kdf(
    salt: bytes, n: int, r: int = SCRYPT_R, p: int = SCRYPT_P, length: int = HASH_BYTES
) -> Scrypt:
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p)


def hash_password(password: str, n: int = DEFAULT_SCRYPT_N) -> str:
    """The encoded scrypt hash of ``password`` at cost ``n`` (r 8, p 1), with a fresh random
    salt. The policy is :func:`check_new_password`'s business, checked before."""
    if not isinstance(password, str):
        raise ValidationError("password", "must be text")
    salt = os.urandom(SALT_BYTES)
    digest = _kdf(salt, n).derive(password.encode("utf-8"))
    return f"{_SCHEME}${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """``(n, r, p, salt, hash)`` of an encoded hash; :class:`ValueError` if malformed."""
    scheme, n, r, p, salt_hex, hash_hex = encoded.split("$")
    if scheme != _SCHEME:
        raise ValueError(f"not an {_SCHEME} hash")
    return int(n), int(r), int(p), bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)


def scrypt_n(encoded: str) -> int:
    """The cost N stored in ``encoded`` (:class:`ValueError` if malformed)."""
    return _parse(encoded)[0]


def needs_rehash(encoded: str, n: int) -> bool:
    """Whether ``encoded`` is weaker than a new hash at cost ``n`` (lower N, r or p, a short
    salt or hash) or malformed. A stronger stored cost is kept (never downgraded)."""
    try:
        stored_n, r, p, salt, digest = _parse(encoded)
    except ValueError:
        return True
    return (
        stored_n < n
        or r < SCRYPT_R
        or p < SCRYPT_P
        or len(salt) < SALT_BYTES
        or len(digest) < HASH_BYTES
    )


@functools.cache
def _dummy_hash(n: int) -> str:
    """A hash nobody's password matches, at cost ``n`` (the salt is fixed, the work is not)."""
    return f"{_SCHEME}${n}${SCRYPT_R}${SCRYPT_P}${'00' * SALT_BYTES}${'00' * HASH_BYTES}"


def verify_password(password: str, encoded: str | None, n: int = DEFAULT_SCRYPT_N) -> bool:
    """Whether ``password`` matches ``encoded``, in constant time. ``None`` (unknown user):
    ``False`` after the same work as a real hash at cost ``n``, the portal's
    ``settings.scrypt_n``, so the answer time does not tell whether the user exists.
    Malformed stored hashes never match."""
    stored = encoded if encoded is not None else _dummy_hash(n)
    try:
        stored_n, r, p, salt, digest = _parse(stored)
        _kdf(salt, stored_n, r, p, len(digest)).verify(str(password).encode("utf-8"), digest)
    except (ValueError, InvalidKey):
        return False
    return encoded is not None
