"""Server timing parameters (ISO 14229-2 §7.2, Table 4) and their wire encoding."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ConfigurationError


@dataclass(frozen=True)
class ServerTiming:
    """Session-layer timing of a server, in float seconds.

    ``p2_s``: P2server, the time to the first response (0x0000-0xFFFF ms on the wire).
    ``p2_star_s``: P2*server, the time between response-pending messages (10 ms units on the wire).
    ``s3_s``: S3server, how long a non-default session lives without a request.
    ``pending_repeat_s``: how often the server repeats NRC 0x78 while working; must be below P2*.
    """

    p2_s: float = 0.050
    p2_star_s: float = 5.0
    s3_s: float = 5.0
    pending_repeat_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.p2_s <= 0xFFFF / 1000:
            raise ConfigurationError(f"P2server must be within 0..65.535 s, got {self.p2_s}")
        if not 0 <= self.p2_star_s <= 0xFFFF * 10 / 1000:
            raise ConfigurationError(f"P2*server must be within 0..655.35 s, got {self.p2_star_s}")
        if not self.s3_s > 0:
            raise ConfigurationError(f"S3server must be > 0 s, got {self.s3_s}")
        if not 0 < self.pending_repeat_s < self.p2_star_s:
            raise ConfigurationError(
                f"the 0x78 repeat interval ({self.pending_repeat_s} s) must be > 0 and below "
                f"P2*server ({self.p2_star_s} s)"
            )

    def session_parameter_record(self) -> bytes:
        """The 4-byte sessionParameterRecord of a 0x50 response (ISO 14229-1 §10.2.3 Table 29):
        P2server_max in 1 ms units, then P2*server_max in 10 ms units, both big-endian."""
        p2_ms = round(self.p2_s * 1000)
        p2_star_10ms = round(self.p2_star_s * 100)
        return p2_ms.to_bytes(2, "big") + p2_star_10ms.to_bytes(2, "big")
