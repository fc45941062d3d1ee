"""The reset's conditions as the tool reads them off the bus (ecusim.tool.conditions)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ecusim.car.vehicle import Vehicle
from ecusim.catalog import SystemType
from ecusim.tool.conditions import ConditionsError, check_reset_conditions, read_body_conditions
from ecusim.tool.identify import CarIdentity
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.targets import IMMOBILIZER
from tests.tool.tool_kit import ready_for_reset

VIN = "JTHBL5EF0C5000001"


def test_the_body_frames_give_the_ignition_and_the_speed(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    car = ready_for_reset(running_car("LS430", 2004))
    car.set_speed(30.0)
    found = read_body_conditions(link)
    assert (found.ignition, found.speed_kmh) == (2, 30.0)


def test_a_bus_without_body_frames_or_key_ecu_names_both(link: DiagnosticLink) -> None:
    """A bench with nothing broadcasting and a silent key-code ECU: each failed condition is
    named, with what to do (the wait is bounded: nothing ever comes on this channel)."""
    identity = CarIdentity(VIN, False, None, SystemType.TRANSPONDER_KEY_ECU, True, IMMOBILIZER)
    with pytest.raises(ConditionsError) as caught:
        check_reset_conditions(link, identity, wait_s=0.3)
    assert caught.value.conditions == ("body-frames", "key-system")
    message = str(caught.value)
    assert "no IGNITION_STATUS (0x1A0) or VEHICLE_SPEED (0x1A1) frame on the bus" in message
    assert "--no-body-check" in message
    assert "the transponder key ECU (0x750 -> 0x758 ext 0x57) does not answer" in message


def test_without_the_body_check_only_the_key_ecu_counts(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    running_car("LS430", 2004)  # ignition OFF: the ECU itself would refuse the reset with 0x22
    identity = CarIdentity(VIN, True, None, SystemType.TRANSPONDER_KEY_ECU, True, IMMOBILIZER)
    check_reset_conditions(link, identity, body_check=False)
