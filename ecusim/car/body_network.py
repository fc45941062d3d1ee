"""The car's side of the body network: periodic broadcast by the DBC's cycle times (in real
time, whatever the car's time scale), and decoding of what arrives (docs/body-network.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import can

from dbc.body import (
    BodyMessageError,
    cycle_time_s,
    decode_message,
    encode_message,
    load_body_database,
)

logger = logging.getLogger(__name__)

SignalValues = Mapping[str, float | int]
Provider = Callable[[], SignalValues]
"""Returns the current signal values of one message (counters are filled in here)."""

COUNTERS = {"RollingCounter": 0x0F, "Sequence": 0xFF}
"""Signals this module increments on every transmission, with their wrap masks."""


class BodyBroadcaster:
    """Sends each provided message every ``GenMsgCycleTime`` of the clock whose ``now`` it is
    given (the vehicle's :attr:`~ecusim.car.vehicle.Vehicle.body_clock`: real time).

    When that clock runs faster than ticks come (a fake clock jumping ahead), a message is sent
    once per tick rather than in bursts.
    """

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._providers = dict(providers)
        self._cycles = {name: cycle_time_s(name) for name in self._providers}
        self._next_due: dict[str, float] = {}
        self._counters: dict[str, int] = dict.fromkeys(self._providers, 0)

    def tick(self, now: float, send: Callable[[can.Message], None]) -> None:
        for name, cycle in self._cycles.items():
            if cycle is None:
                continue
            due = self._next_due.get(name)
            if due is None or now >= due:
                self.send_now(name, send)
                self._next_due[name] = (
                    now + cycle if due is None or now - due > cycle else due + cycle
                )

    def send_now(self, name: str, send: Callable[[can.Message], None]) -> None:
        """Send ``name`` at once (an event, e.g. a start attempt), counters advanced."""
        values = dict(self._providers[name]())
        counter = self._counters[name]
        fields = {signal.name for signal in load_body_database().get_message_by_name(name).signals}
        for signal, mask in COUNTERS.items():
            if signal in fields:
                values[signal] = counter & mask
        self._counters[name] = counter + 1
        try:
            message = encode_message(name, values)
        except BodyMessageError as exc:
            logger.error("cannot broadcast %s: %s", name, exc)
            return
        send(message)


def body_message(
    message: can.Message, wanted: frozenset[int]
) -> tuple[str, dict[str, float | int]] | None:
    """Decode ``message`` if its ID is in ``wanted`` (a cheap check before cantools runs)."""
    if message.arbitration_id not in wanted or message.is_extended_id:
        return None
    try:
        decoded = decode_message(message)
    except BodyMessageError as exc:
        logger.warning("malformed body frame %03X: %s", message.arbitration_id, exc)
        return None
    if decoded is None:
        return None
    name, values = decoded
    return name, {signal: value for signal, value in values.items() if not isinstance(value, str)}


def frame_ids(*names: str) -> frozenset[int]:
    database = load_body_database()
    return frozenset(database.get_message_by_name(name).frame_id for name in names)
