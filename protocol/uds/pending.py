"""Work that outlasts P2server and is answered with NRC 0x78 first (ISO 14229-1 §8.7.2, A.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from protocol.clock import Clock


@runtime_checkable
class PendingWork(Protocol):
    """A request still being processed.

    ``poll`` is called with the current time until it returns the positive response data
    (the bytes after the response SID) or raises ``NegativeResponseError``; ``None`` means
    "still working".
    """

    def poll(self, now: float) -> bytes | None: ...


class TimedWork:
    """Work that completes at ``ready_at`` (clock seconds) by calling ``finish``."""

    def __init__(self, ready_at: float, finish: Callable[[], bytes]) -> None:
        self.ready_at = ready_at
        self._finish = finish

    def poll(self, now: float) -> bytes | None:
        if now < self.ready_at:
            return None
        return self._finish()


class ClockedWork:
    """Work that completes at ``ready_at`` on its own ``clock`` (e.g. a simulated vehicle whose
    clock runs faster than the server's protocol timers); the server's ``now`` is ignored."""

    def __init__(self, clock: Clock, ready_at: float, finish: Callable[[], bytes]) -> None:
        self._clock = clock
        self.ready_at = ready_at
        self._finish = finish

    def poll(self, now: float) -> bytes | None:
        if self._clock.now() < self.ready_at:
            return None
        return self._finish()


class PrefixedWork:
    """Wraps work so its final response data starts with ``prefix`` (e.g. ``01 <RID>``)."""

    def __init__(self, prefix: bytes, inner: PendingWork) -> None:
        self._prefix = prefix
        self._inner = inner

    def poll(self, now: float) -> bytes | None:
        data = self._inner.poll(now)
        return None if data is None else self._prefix + data


Reply = bytes | PendingWork
"""What a service handler returns: the positive response data after the SID, or pending work."""
