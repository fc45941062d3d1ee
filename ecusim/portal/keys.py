"""Keys the portal derives from the cars' master secret, one per purpose (RFC 5869).

HKDF-SHA256 with no salt and one ``info`` label per key (RFC 5869 §3.2), so that knowing one
derived key tells nothing of the master secret or of another key.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KEY_BYTES", "PAGES_KEY_INFO", "derive_key"]

KEY_BYTES: Final = 32
PAGES_KEY_INFO: Final = b"ecusim portal pages csrf v1"
"""``info`` of the key the web pages' CSRF tokens are made with (:mod:`ecusim.portal.web`)."""


def derive_key(master_secret: bytes, info: bytes) -> bytes:
    """HKDF-SHA256(``master_secret``, no salt, ``info``), :data:`KEY_BYTES` long."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info)
    return hkdf.derive(master_secret)
