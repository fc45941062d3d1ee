"""Shared builders for the immobilizer tests (the rest is in :mod:`key_ecu_kit`).

:func:`make_car` builds the LS430 2004 of the support chart (VIN ``JTHBL5EF0C5000001``, the VIN of
the Pass-Code known answers); :class:`Car` drives its transponder key ECU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecusim.car.keys import Key, KeyKind
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from tests.ecusim.key_ecu_kit import START_S, VIN, KeyEcuCar, build_car, run_reset

RELOCK_S = 20.0
"""The immobilizer sets again 20 s after ignition off (domain.md [S])."""

WINDOW_S = 30.0
"""Additional registration: the new key must come within 30 s (diagnostic-contract.md §4)."""


class Car(KeyEcuCar):
    """A vehicle with its fake clock; the immobilizer's server is driven directly."""

    @property
    def immobilizer(self) -> TransponderKeyEcu:
        immobilizer = self.vehicle.immobilizer
        assert immobilizer is not None
        return immobilizer

    key_ecu = immobilizer

    @property
    def master(self) -> Key:
        """The first factory master key (the LS430 leaves the factory with 2 masters + 1 sub)."""
        return self.vehicle.factory_keys[0]

    @property
    def second_master(self) -> Key:
        return self.vehicle.factory_keys[1]

    @property
    def sub(self) -> Key:
        key = self.vehicle.factory_keys[2]
        assert key.kind is KeyKind.SUB
        return key

    # -- physical shortcuts -------------------------------------------------------------------

    def insert(self, key: Key) -> None:
        self.vehicle.present_key(key)

    def withdraw(self) -> None:
        self.vehicle.withdraw_key()

    def cycle(self, key: Key) -> None:
        """Insert ``key`` and pull it out again (automatic registration's gesture)."""
        self.vehicle.present_key(key)
        self.vehicle.withdraw_key()

    def ignition_on_with(self, key: Key) -> None:
        self.vehicle.present_key(key)
        self.vehicle.set_ignition("on")


def make_car(
    state_dir: Path | None = None, *, seeds: int = 7, vin: str = VIN, start_s: float = START_S
) -> Car:
    """The LS430 2004 on a FakeClock; NVM in ``state_dir`` (else in memory)."""
    return build_car(Car, "LS430", 2004, state_dir, vin=vin, seeds=seeds, start_s=start_s)


@pytest.fixture
def car() -> Car:
    """A factory-fresh LS430 2004 (2 masters + 1 sub registered), NVM in memory."""
    return make_car()


def reset_immobilizer(car: Car, key: Key) -> None:
    """The bulletin's reset with ``key`` in the cylinder (any key: all masters may be lost):
    ignition ON, then :func:`key_ecu_kit.run_reset`. The key stays in, the ignition ON."""
    car.ignition_on_with(key)
    run_reset(car)
