"""The security indicator of a key-code ECU: its modes and flash codes (DID 0x0108)."""

from __future__ import annotations

import enum


class IndicatorMode(enum.IntEnum):
    """Security indicator modes (DID 0x0108, first byte)."""

    OFF = 0
    STEADY = 1
    BLINKING = 2
    FLASHING_CODE = 3


class FlashCode(enum.IntEnum):
    """Security indicator flash codes (domain.md): 2-1, 2-2, 2-3."""

    REGISTRATION_FAILED = 21
    ALREADY_REGISTERED = 22
    OVER_LIMIT = 23
