"""The car's physical inputs, as the ECUs see them (the vehicle owns and changes them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ecusim.car.keys import Key


class Ignition(enum.IntEnum):
    """Ignition switch positions (values as in the DBC's ``IgnitionState``)."""

    OFF = 0
    ACC = 1
    ON = 2
    START = 3


class KeyLocation(enum.StrEnum):
    """Where a key is: in the ignition cylinder, or (smart keys) carried somewhere."""

    CYLINDER = "cylinder"
    CABIN = "cabin"
    OUTSIDE = "outside"
    SWITCH = "switch"
    """Touching the engine switch (how a smart key is registered or read with a flat battery)."""


DOORS = ("driver", "passenger", "rear_left", "rear_right", "trunk")
"""Door names, in the order of the DBC's ``Door`` values."""

STOPPED_BELOW_KMH = 0.5
"""Below this speed the vehicle counts as stopped (routine preconditions)."""


@dataclass
class PhysicalState:
    """Mutable physical state; read and written under the vehicle's lock."""

    ignition: Ignition = Ignition.OFF
    inserted_key: Key | None = None
    carried: dict[Key, KeyLocation] = field(default_factory=dict)
    """Smart keys near the car and where each is."""
    brake_pressed: bool = False
    speed_kmh: float = 0.0
    doors_open: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(DOORS, False))
    doors_locked: bool = False

    @property
    def stopped(self) -> bool:
        return self.speed_kmh < STOPPED_BELOW_KMH
