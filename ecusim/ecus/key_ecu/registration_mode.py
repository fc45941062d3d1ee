"""The registration modes of a key-code ECU (DID 0x0109)."""

from __future__ import annotations

import enum


class RegistrationMode(enum.IntEnum):
    """DID 0x0109 values (diagnostic-contract.md §4)."""

    NORMAL = 0
    AUTOMATIC = 1
    ADDITIONAL = 2
    SMART_WAITING = 3
    SMART_OPEN = 4
