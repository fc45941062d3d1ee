"""Injectable time sources.

The server core never reads the wall clock: callers pass ``now`` (float seconds on a monotonic
scale). These clocks supply it: the real one, a fake one for tests and a scaled one for demos.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol, runtime_checkable

from protocol.errors import ConfigurationError


@runtime_checkable
class Clock(Protocol):
    """A monotonic source of seconds."""

    def now(self) -> float:
        """Return the current time in seconds; never decreases."""
        ...


class MonotonicClock:
    """The process's monotonic clock (``time.monotonic``)."""

    def now(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to: deterministic tests of S3, delays and waits."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self._now = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (≥ 0) and return the new time."""
        if seconds < 0:
            raise ConfigurationError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += seconds
            return self._now


class ScaledClock:
    """Monotonic time running ``time_scale`` times faster than real time (demos: 16 min in 16 s).

    ``time_scale`` must be positive; 1.0 is real time. :meth:`advance` jumps it forward (a test
    skipping a long wait).
    """

    def __init__(self, time_scale: float = 1.0, *, base: Clock | None = None) -> None:
        if not time_scale > 0:
            raise ConfigurationError(f"time scale must be > 0, got {time_scale}")
        self.time_scale = float(time_scale)
        self._base = base if base is not None else MonotonicClock()
        self._origin = self._base.now()
        self._skipped = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            skipped = self._skipped
        return self._origin + (self._base.now() - self._origin) * self.time_scale + skipped

    def advance(self, seconds: float) -> float:
        """Jump ``seconds`` (≥ 0) forward on top of the scaled run; returns the new time."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ConfigurationError(f"a clock jumps forward by a finite time, not {seconds} s")
        with self._lock:
            self._skipped += seconds
        return self.now()
