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
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import can

logger = logging.getLogger(__name__)

NOTIFIER_TIMEOUT_S = 0.1
"""How long the Notifier blocks on a read before checking for a stop (python-can: 1 s)."""

RECEIVE_RETRY_S = NOTIFIER_TIMEOUT_S
"""After a failed read, how long the Notifier waits before reading again (a dead bus, e.g. a
python-can-remote hub that stopped, fails every read at once)."""

RECEIVE_ERRORS_FOR_LOST = 3
"""Failed reads in a row, with no frame between, after which the bus counts as lost."""

RECEIVE_ERROR_GAP_S = 1.0
"""Failed reads further apart than this are not "in a row": on a quiet bus (no frame to tell a
good read) a few transient errors far apart do not add up to a lost bus."""

FrameListener = Callable[[can.Message], None]
"""Receives a frame; must be quick and must not raise."""


class ReceiveWatch(can.Listener):
    """A Notifier's error handler: reception survives a failed read, and a bus that keeps failing
    is declared lost.

    Without a handler, python-can's Notifier thread dies with a traceback on the first exception
    from ``bus.recv`` and the process goes deaf without knowing. This listener logs the first
    error of a run, retries every :data:`RECEIVE_RETRY_S`, and after
    :data:`RECEIVE_ERRORS_FOR_LOST` errors in a row sets :attr:`lost`, keeps the error in
    :attr:`error` and calls ``on_lost`` once, so the owner can stop and say why. ``lost`` stays
    set: the owner has given up on the bus by then (the car stops, the tool's step fails).

    python-can runs the listeners inside the same ``try`` as the read, so a failing listener would
    look like a failing bus: :class:`BusConnection` guards its listeners for that reason.
    """

    def __init__(self, on_lost: Callable[[Exception], None] | None = None) -> None:
        self.lost = threading.Event()
        self.error: Exception | None = None
        self._on_lost = on_lost
        self._errors_in_a_row = 0
        self._last_error_at = -math.inf

    def on_message_received(self, msg: can.Message) -> None:
        self._errors_in_a_row = 0

    def on_error(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_at > RECEIVE_ERROR_GAP_S:
            self._errors_in_a_row = 0
        self._last_error_at = now
        self._errors_in_a_row += 1
        if self._errors_in_a_row == 1:
            logger.warning("reading from the CAN bus failed: %r", exc)
        if self._errors_in_a_row >= RECEIVE_ERRORS_FOR_LOST and not self.lost.is_set():
            self.error = exc
            self.lost.set()
            logger.error("the CAN bus is lost: %d reads in a row failed", self._errors_in_a_row)
            if self._on_lost is not None:
                self._on_lost(exc)
        time.sleep(RECEIVE_RETRY_S)  # in the Notifier's thread: no hot loop on a dead bus


def _guarded(listener: FrameListener) -> FrameListener:
    """``listener``, with its exceptions logged instead of raised into the Notifier."""

    def receive(msg: can.Message) -> None:
        try:
            listener(msg)
        except Exception as exc:  # one broken listener must not pass for a broken bus
            logger.error("frame listener %r failed: %r", listener, exc)

    return receive


def close_bus(bus: can.BusABC) -> None:
    """Shut ``bus`` down; a failure (e.g. the python-can-remote hub is gone) is logged, not raised,
    and the bus is still marked shut so that its finaliser does not try again."""
    try:
        bus.shutdown()
    except Exception as exc:  # closing a broken connection may raise anything
        logger.warning("closing the CAN bus failed: %r", exc)
        with contextlib.suppress(Exception):
            can.BusABC.shutdown(bus)  # the base class only marks it shut and stops periodic tasks


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
    """Owns a Notifier over ``bus`` and the transmit tap; closes the bus too if ``owns_bus``.

    ``on_lost`` is called (from the Notifier's thread) if the bus stops delivering: see
    :class:`ReceiveWatch`, available as :attr:`receive_watch`.
    """

    def __init__(
        self,
        bus: can.BusABC,
        *,
        owns_bus: bool = True,
        on_lost: Callable[[Exception], None] | None = None,
    ) -> None:
        self.bus = bus
        self.owns_bus = owns_bus
        self.receive_watch = ReceiveWatch(on_lost)
        self.notifier = can.Notifier(bus, [self.receive_watch], timeout=NOTIFIER_TIMEOUT_S)
        self.tx_bus = TappedBus(bus)
        self._subscriptions: dict[FrameListener, FrameListener] = {}

    def __enter__(self) -> BusConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self, listener: FrameListener) -> None:
        """Call ``listener`` for every frame on the bus: received ones (Notifier thread) and the
        car's own (sender's thread). A listener that raises is logged; the others still get
        the frame, and the bus is not taken for failing (:class:`ReceiveWatch`)."""
        if listener in self._subscriptions:
            return  # once is enough: a frame reaches each listener once
        guarded = _guarded(listener)
        self.notifier.add_listener(guarded)
        self.tx_bus.add_tap(listener)  # the tap guards its listeners itself
        self._subscriptions[listener] = guarded

    def unsubscribe(self, listener: FrameListener) -> None:
        guarded = self._subscriptions.pop(listener, None)
        if guarded is not None:
            self.tx_bus.remove_tap(listener)
            with contextlib.suppress(ValueError):  # already removed by the Notifier
                self.notifier.remove_listener(guarded)

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
            close_bus(self.bus)
