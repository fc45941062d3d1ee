"""Fixtures of the key-code ECU tests (tests/ecusim/immobilizer, tests/ecusim/smart): each
folder's conftest gives its factory-fresh ``car``; ``running_car`` runs it on a bus."""

from __future__ import annotations

from collections.abc import Iterator

import can
import pytest

from tests.ecusim.key_ecu_kit import KeyEcuCar, unique_channel


@pytest.fixture
def running_car(car: KeyEcuCar) -> Iterator[KeyEcuCar]:
    """The folder's factory-fresh ``car`` running on its own virtual channel (start_engine
    needs the bus)."""
    car.channel = unique_channel()
    bus = can.Bus(interface="virtual", channel=car.channel)
    try:
        with car.vehicle.running(bus):
            yield car
    finally:
        bus.shutdown()
