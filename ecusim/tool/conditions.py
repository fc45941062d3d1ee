"""The car's conditions for the reset, checked before the portal is asked for anything.

Routine 0x0201 needs the ignition ON and the vehicle stopped (diagnostic-contract.md §4), and
the car answers 0x22 conditionsNotCorrect otherwise: but by then the tool has read a Seed Number
and the portal has issued (and audited) a Pass-Code for it. So the tool looks first. The contract
has no DID for the ignition or the speed: the car broadcasts them on the body network
(``IGNITION_STATUS`` 0x1A0, ``VEHICLE_SPEED`` 0x1A1, docs/body-network.md), which the tool reads
off the bus with the shipped DBC for a bounded time. The key-code ECU must answer and report the
reset as supported (DID 0x010A).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

import can

from dbc import body
from ecusim.tool.contract import DID_CAPABILITIES
from ecusim.tool.errors import ToolError
from ecusim.tool.identify import SPOC_MESSAGE, CarIdentity
from ecusim.tool.link import DiagnosticLink

BODY_WAIT_S: Final = 2.0
"""How long the tool listens for the body frames: 20 of their 100 ms cycles (GenMsgCycleTime)."""
IGNITION_ON: Final = 2
"""``IGNITION_STATUS.IgnitionState``: 0 OFF, 1 ACC, 2 ON, 3 START (ON or START is ON)."""
IGNITION_NAMES: Final = {0: "OFF", 1: "ACC", 2: "ON", 3: "START"}
STOPPED_BELOW_KMH: Final = 0.5
"""``VEHICLE_SPEED.VehicleSpeed`` under this counts as stopped (the sensor's 0 km/h)."""
_IGNITION_ID: Final = body.load_body_database().get_message_by_name(body.IGNITION_STATUS).frame_id
_SPEED_ID: Final = body.load_body_database().get_message_by_name(body.VEHICLE_SPEED).frame_id


class ConditionsError(ToolError):
    """The car is not ready for the step; ``conditions`` names each failed one (``ignition``,
    ``speed``, ``body-frames``, ``key-system``)."""

    def __init__(self, message: str, conditions: tuple[str, ...]) -> None:
        super().__init__(message)
        self.conditions = conditions


@dataclass(frozen=True)
class BodyConditions:
    """What the body frames said; ``None``: that frame was not seen in time."""

    ignition: int | None
    speed_kmh: float | None


class _BodyListener(can.Listener):
    """Keeps the last ``IGNITION_STATUS`` and ``VEHICLE_SPEED`` values; ``both`` is set once
    each was seen."""

    def __init__(self) -> None:
        self.ignition: int | None = None
        self.speed_kmh: float | None = None
        self.both = threading.Event()

    def on_message_received(self, msg: can.Message) -> None:
        if msg.arbitration_id not in (_IGNITION_ID, _SPEED_ID) or msg.is_extended_id:
            return
        try:
            decoded = body.decode_message(msg)
        except body.BodyMessageError:
            return  # a malformed frame says nothing about the car
        if decoded is None:
            return
        name, values = decoded
        if name == body.IGNITION_STATUS:
            self.ignition = int(values["IgnitionState"])
        elif name == body.VEHICLE_SPEED:
            self.speed_kmh = float(values["VehicleSpeed"])
        if self.ignition is not None and self.speed_kmh is not None:
            self.both.set()


def read_body_conditions(link: DiagnosticLink, wait_s: float = BODY_WAIT_S) -> BodyConditions:
    """The ignition and speed the car broadcasts, listened for up to ``wait_s`` (it returns as
    soon as both frames came)."""
    listener = _BodyListener()
    link.notifier.add_listener(listener)
    try:
        listener.both.wait(wait_s)
    finally:
        link.notifier.remove_listener(listener)
    return BodyConditions(listener.ignition, listener.speed_kmh)


def _body_failures(found: BodyConditions, wait_s: float) -> list[tuple[str, str]]:
    failures: list[tuple[str, str]] = []
    missing = [
        f"{name} (0x{frame_id:03X})"
        for name, frame_id, value in (
            (body.IGNITION_STATUS, _IGNITION_ID, found.ignition),
            (body.VEHICLE_SPEED, _SPEED_ID, found.speed_kmh),
        )
        if value is None
    ]
    if missing:
        failures.append((
            "body-frames",
            f"no {' or '.join(missing)} frame on the bus within {wait_s:g} s, so the tool "
            "cannot see the ignition and the speed: check the connection and the bus flags "
            "(-i/-c/-b); a bench ECU without the body network: --no-body-check",
        ))  # fmt: skip
    if found.ignition is not None and found.ignition < IGNITION_ON:
        name = IGNITION_NAMES.get(found.ignition, str(found.ignition))
        failures.append((
            "ignition",
            f"the ignition is {name}: turn the ignition ON (a key in the cylinder, or push "
            "the engine switch twice without the brake on smart-key cars)",
        ))  # fmt: skip
    if found.speed_kmh is not None and found.speed_kmh >= STOPPED_BELOW_KMH:
        failures.append((
            "speed",
            f"the vehicle is moving ({found.speed_kmh:.1f} km/h): stop the vehicle",
        ))  # fmt: skip
    return failures


def check_reset_conditions(
    link: DiagnosticLink,
    identity: CarIdentity,
    *,
    body_check: bool = True,
    wait_s: float = BODY_WAIT_S,
) -> None:
    """Raise :class:`ConditionsError` naming every condition of the reset that fails: the
    ignition ON and the vehicle stopped (from the body frames, unless ``body_check`` is off),
    the key-code ECU answering DID 0x010A with the reset supported."""
    target = identity.require_reset()
    failures = _body_failures(read_body_conditions(link, wait_s), wait_s) if body_check else []
    raw = link.probe(target, DID_CAPABILITIES)
    if raw is None or len(raw) != 2:
        failures.append((
            "key-system",
            f"the {target.describe()} does not answer: the key system must answer before a "
            "reset; check the connection and that the ignition is ON",
        ))  # fmt: skip
    elif not raw[1]:
        failures.append(("key-system", SPOC_MESSAGE))
    if failures:
        reasons = "; ".join(text for _, text in failures)
        raise ConditionsError(
            f"the car is not ready for the reset (nothing was asked of the portal): {reasons}; "
            "then run the utility again",
            tuple(condition for condition, _ in failures),
        )
