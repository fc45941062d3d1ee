"""A decoded request as seen by a service handler."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.constants import SUPPRESS_POSITIVE_RESPONSE_BIT, Addressing


@dataclass(frozen=True)
class Request:
    """One request: the whole payload (SID first), how it was addressed and when it arrived."""

    payload: bytes
    addressing: Addressing
    now: float

    @property
    def sid(self) -> int:
        return self.payload[0]

    @property
    def data(self) -> bytes:
        """Everything after the SID."""
        return self.payload[1:]

    @property
    def sub_function(self) -> int:
        """The sub-function with the suppress bit removed (ISO 14229-1 §8.3 Table 9)."""
        return self.payload[1] & ~SUPPRESS_POSITIVE_RESPONSE_BIT & 0xFF

    @property
    def suppress_positive_response(self) -> bool:
        return bool(self.payload[1] & SUPPRESS_POSITIVE_RESPONSE_BIT)
