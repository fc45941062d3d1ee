"""The small encodings of the key-code ECUs' DID values and routine option records."""

from __future__ import annotations

import math
from collections.abc import Container

from protocol.constants import Nrc
from protocol.errors import NegativeResponseError


def byte_value(value: int) -> bytes:
    """One byte, clamped to 0..255."""
    return bytes([max(0, min(0xFF, value))])


def seconds_value(value: float) -> bytes:
    """Seconds rounded up, as 2 bytes big-endian (0xFFFF at most)."""
    return min(math.ceil(value), 0xFFFF).to_bytes(2, "big")


def no_option(option: bytes) -> None:
    """A routine that takes no routineControlOptionRecord: anything else is 0x31."""
    if option:
        raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "this routine takes no option")


def one_option(option: bytes, allowed: Container[int]) -> int:
    """Exactly one option byte (0x13 otherwise) from ``allowed`` (0x31 otherwise)."""
    if len(option) != 1:
        raise NegativeResponseError(
            Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT, "one option byte expected"
        )
    if option[0] not in allowed:
        raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, f"option {option[0]:#04x}")
    return option[0]
