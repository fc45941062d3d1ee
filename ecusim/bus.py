"""A vehicle's connection to CAN: one python-can ``Bus``, its one ``Notifier``, and a transmit tap.

python-can 4.6 refuses a second Notifier on a bus, so every ECU of a vehicle attaches its
listeners (can-isotp stacks, body-network receivers, trace writers) to this one.

A python-can bus does not hand a process its own transmissions back (unless the interface echoes
them, which not all do). The ECUs of one simulated car talk to each other over the body bus
(e.g. the immobilizer's start permission to the ECM), and a trace must show what the car sent.
So every ECU sends through :attr:`BusConnection.tx_bus`, which transmits on the real bus and then
hands the same frame, synchronously, to the car's own subscribers.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import can

logger = logging.getLogger(__name__)

NOTIFIER_TIMEOUT_S = 0.1
"""How long the Notifier blocks on a read before checking for a stop (python-can: 1 s)."""

FrameListener = Callable[[can.Message], None]
"""Receives a frame; must be quick and must not raise."""


class TappedBus(can.BusABC):
    """Sends on ``inner`` and then calls every tap with the frame (timestamped if it had none).

    Only :meth:`send` is used through this object; receiving stays on the inner bus's Notifier.
    """

    def __init__(self, inner: can.BusABC) -> None:
        self.inner = inner
        self._taps: list[FrameListener] = []
        self._taps_lock = threading.Lock()
        super().__init__(channel=getattr(inner, "channel_info", "tapped"))
        self.channel_info = f"tap of {getattr(inner, 'channel_info', inner)!s}"

    @property
    def protocol(self) -> can.CanProtocol:
        return self.inner.protocol

    def add_tap(self, tap: FrameListener) -> None:
        with self._taps_lock:
            self._taps.append(tap)

    def remove_tap(self, tap: FrameListener) -> None:
        with self._taps_lock:
            if tap in self._taps:
                self._taps.remove(tap)

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self.inner.send(msg, timeout)
        with self._taps_lock:
            taps = list(self._taps)
        if not taps:
            return
        sent = copy.copy(msg)
        if not sent.timestamp:
            sent.timestamp = time.time()
        sent.is_rx = False
        for tap in taps:
            try:
                tap(sent)
            except Exception as exc:  # one broken listener must not stop the car sending
                logger.error("transmit tap %r failed: %r", tap, exc)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return None, False

    def shutdown(self) -> None:
        """Does not close the inner bus: :class:`BusConnection` owns it."""
        super().shutdown()


class BusConnection:
    """Owns a Notifier over ``bus`` and the transmit tap; closes the bus too if ``owns_bus``."""

    def __init__(self, bus: can.BusABC, *, owns_bus: bool = True) -> None:
        self.bus = bus
        self.owns_bus = owns_bus
        self.notifier = can.Notifier(bus, [], timeout=NOTIFIER_TIMEOUT_S)
        self.tx_bus = TappedBus(bus)
        self._subscriptions: list[FrameListener] = []

    def __enter__(self) -> BusConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self, listener: FrameListener) -> None:
        """Call ``listener`` for every frame on the bus: received ones (Notifier thread) and the
        car's own (sender's thread)."""
        self.notifier.add_listener(listener)
        self.tx_bus.add_tap(listener)
        self._subscriptions.append(listener)

    def unsubscribe(self, listener: FrameListener) -> None:
        if listener in self._subscriptions:
            self._subscriptions.remove(listener)
            self.tx_bus.remove_tap(listener)
            with contextlib.suppress(ValueError):  # already removed by the Notifier
                self.notifier.remove_listener(listener)

    def add_listener(self, listener: Any) -> None:
        """Attach a python-can ``Listener`` (e.g. ``can.Logger``) to received and sent frames."""
        self.subscribe(listener.on_message_received)

    def remove_listener(self, listener: Any) -> None:
        """Detach a listener added with :meth:`add_listener` (before stopping it)."""
        self.unsubscribe(listener.on_message_received)

    def close(self) -> None:
        for listener in list(self._subscriptions):
            self.unsubscribe(listener)
        self.notifier.stop()
        self.tx_bus.shutdown()
        if self.owns_bus:
            self.bus.shutdown()
