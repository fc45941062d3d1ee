"""Wall-clock time for the portal, from an injectable :class:`protocol.clock.Clock`.

The portal reads ``clock.now()`` as POSIX seconds (UTC): :class:`SystemClock` in production,
:class:`protocol.clock.FakeClock` started at a POSIX time in tests (72 h + 1 s without waiting).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from protocol.clock import Clock

__all__ = ["SystemClock", "utc_now"]


class SystemClock:
    """POSIX time from the system clock (``time.time``)."""

    def now(self) -> float:
        return time.time()


def utc_now(clock: Clock) -> datetime:
    """``clock.now()`` as a timezone-aware UTC ``datetime`` (microsecond resolution)."""
    return datetime.fromtimestamp(clock.now(), UTC)
