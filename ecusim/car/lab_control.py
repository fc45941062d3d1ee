"""The body frames a car hears: its key system's messages, and the lab control messages
(``LAB_*_CMD``) by which a CAN tool drives the car's physical inputs (docs/body-network.md)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

import can

from dbc import body
from ecusim.car.body_network import body_message, frame_ids
from ecusim.car.keyless import KeylessError, Remote, RemoteButton, RemoteResult
from ecusim.car.keys import InvalidKeyError, Key
from ecusim.car.physical import DOORS, Ignition, KeyLocation, PhysicalState
from ecusim.errors import VehicleError
from ecusim.systems.base import KeySystem
from protocol.can_bus import BusConnection

_sending = threading.local()
"""Which car is sending a body frame in this thread (its own listeners handle it at once)."""

logger = logging.getLogger(__name__)

CONTROL_KEY_LOCATIONS = (KeyLocation.CABIN, KeyLocation.OUTSIDE, KeyLocation.SWITCH)
"""``LAB_KEY_CMD.KeyLocation`` values for smart keys."""


class VehicleInputs(Protocol):
    """The vehicle's physical inputs a lab control drives (its embedding API)."""

    def start_engine(self) -> bool: ...
    def set_ignition(self, state: str | Ignition | int) -> None: ...
    def press_brake(self) -> None: ...
    def set_brake(self, pressed: bool) -> None: ...
    def set_speed(self, kmh: float) -> None: ...
    def set_door(self, door: str, is_open: bool) -> None: ...
    def touch_door_handle(self) -> bool: ...
    def present_key(self, key: Key, where: KeyLocation | str | None = None) -> None: ...
    def withdraw_key(self, key: Key | None = None) -> None: ...
    def press_remote(self, remote: Remote, button: RemoteButton | str | int) -> RemoteResult: ...


class LabControl:
    """Applies the body messages a car hears: its key system's go to the system, the lab
    controls to the car's physical inputs."""

    def __init__(
        self,
        inputs: VehicleInputs,
        system: KeySystem,
        physical: PhysicalState,
        lock: threading.RLock,
    ) -> None:
        self._inputs = inputs
        self._system = system
        self._physical = physical
        self._lock = lock
        self.wanted = frame_ids(*system.listens_to(), *body.control_messages())
        """The IDs of the messages :meth:`dispatch` takes."""

    def dispatch(self, name: str, values: Mapping[str, float | int]) -> None:
        """Apply the decoded message ``name`` (the body thread, or the car's sending thread)."""
        if name in self._system.listens_to():
            with self._lock:
                self._system.on_frame(name, values)
        else:
            self._apply_control(name, values)

    def _apply_control(self, name: str, values: Mapping[str, float | int]) -> None:
        """A lab control message from a CAN tool drives a physical input (body thread)."""
        inputs = self._inputs
        try:
            if name == body.LAB_IGNITION_CMD:
                command = Ignition(int(values["IgnitionCommand"]))
                if command is Ignition.START:
                    inputs.start_engine()
                else:
                    inputs.set_ignition(command)
            elif name == body.LAB_KEY_CMD:
                self._key_control(values)
            elif name == body.LAB_BRAKE_CMD:
                action = int(values["BrakeAction"])
                if action == 2:
                    inputs.press_brake()
                else:
                    inputs.set_brake(action == 1)
            elif name == body.LAB_SPEED_CMD:
                inputs.set_speed(float(values["VehicleSpeed"]))
            elif name == body.LAB_DOOR_CMD:
                if int(values.get("HandleTouched", 0)):
                    inputs.touch_door_handle()
                else:
                    inputs.set_door(DOORS[int(values["Door"])], bool(values["Open"]))
            elif name == body.LAB_REMOTE_CMD:
                inputs.press_remote(Remote(int(values["RemoteCode"])), int(values["Button"]))
        except (VehicleError, InvalidKeyError, KeylessError, IndexError, ValueError) as exc:
            logger.warning("lab control %s ignored: %s", name, exc)

    def _key_control(self, values: Mapping[str, float | int]) -> None:
        inputs = self._inputs
        if int(values["KeyAction"]) != 1:
            inputs.withdraw_key()
            return
        key = Key(int(values["TransponderId"]))
        with self._lock:
            if self._system.carried_keys:
                where = CONTROL_KEY_LOCATIONS[int(values.get("KeyLocation", 0))]
                inputs.present_key(key, where)
                return
            inserted = self._physical.inserted_key
            if inserted not in (None, key):
                inputs.withdraw_key()  # another key is in: swap them
            inputs.present_key(key)


class BodyFrames:
    """One car's side of the body bus: sends its frames and hands the frames it hears to its
    :class:`LabControl`.

    The car's own frames are handled at once, in the sending thread (a start request reaches
    the ECM before ``start_engine`` returns). Any other frame (from the Notifier, or from
    another car sharing the connection) is handed to ``defer``, the car's body thread: a
    listener never waits for a lock here, and never raises into the Notifier.
    """

    def __init__(
        self,
        control: LabControl,
        *,
        connection: Callable[[], BusConnection],
        defer: Callable[[Callable[[], None]], object],
    ) -> None:
        self._control = control
        self._connection = connection
        self._defer = defer

    def send(self, message: can.Message) -> None:
        """Send a frame of this car's (its own listeners hear it at once, see on_frame)."""
        connection = self._connection()
        previous = getattr(_sending, "car", None)
        _sending.car = self
        try:
            connection.tx_bus.send(message)
        finally:
            _sending.car = previous

    def on_frame(self, message: can.Message) -> None:
        """Every frame on the bus, the car's own included (Notifier or sender thread)."""
        try:
            decoded = body_message(message, self._control.wanted)
            if decoded is None:
                return
            name, values = decoded
            if getattr(_sending, "car", None) is self:
                self._control.dispatch(name, values)
            else:
                self._defer(lambda: self._control.dispatch(name, values))
        except Exception as exc:  # a listener error would end python-can's Notifier thread
            logger.error("body frame %03X not handled: %r", message.arbitration_id, exc)
