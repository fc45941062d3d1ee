"""The steering lock ECU of smart-key cars (not diagnosable).

It unlocks the steering when the certification ECU authorizes a push-button start
(``SMART_KEY_STATUS.StartAuthorized``) and locks it again once the ignition is OFF and the
driver door is open (``IGNITION_STATUS`` and ``DOOR_STATUS``) [LAB]. It powers up locked and
keeps no NVM [LAB]. It reports its state in ``STEERING_LOCK_STATUS``; the ID code box grants no
start while the steering is locked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from ecusim.car.physical import Ignition

logger = logging.getLogger(__name__)


class SteeringLockEcu:
    """The steering lock and what it last heard on the body bus."""

    name = "steering_lock"

    def __init__(self, *, lock: threading.RLock) -> None:
        self.lock = lock
        self.locked = True
        self.ignition = Ignition.OFF
        """The ignition as last heard in ``IGNITION_STATUS``."""
        self.driver_door_open = False
        """The driver door as last heard in ``DOOR_STATUS``."""

    def on_smart_key_status(self, values: Mapping[str, float | int]) -> None:
        with self.lock:
            if bool(values["StartAuthorized"]) and self.locked:
                self.locked = False
                logger.info("steering unlocked: start authorized")

    def on_ignition_status(self, values: Mapping[str, float | int]) -> None:
        with self.lock:
            self.ignition = Ignition(int(values["IgnitionState"]))
            self._lock_if_parked()

    def on_door_status(self, values: Mapping[str, float | int]) -> None:
        with self.lock:
            self.driver_door_open = bool(values["DriverDoorOpen"])
            self._lock_if_parked()

    def _lock_if_parked(self) -> None:
        if not self.locked and self.ignition is Ignition.OFF and self.driver_door_open:
            self.locked = True
            logger.info("steering locked: ignition OFF, driver door open")

    def status(self) -> dict[str, float | int]:
        """``STEERING_LOCK_STATUS`` (the rolling counter is filled in by the sender)."""
        with self.lock:
            return {"SteeringLocked": int(self.locked)}
