"""The ID code box and the steering lock ECU on their own: what they do with what they hear on
the body bus (docs/body-network.md, docs/smart-key.md)."""

from __future__ import annotations

import threading

import pytest

from ecusim.car.physical import Ignition
from ecusim.ecus.id_code_box import IdCodeBox
from ecusim.ecus.steering_lock import SteeringLockEcu
from protocol.nvm import MemoryNvm

LINK = 0x0ABC_DEF1
"""An ECU-ECM communication ID."""


def _smart(**signals: int) -> dict[str, float | int]:
    """A decoded SMART_KEY_STATUS: every signal 0 unless given."""
    values: dict[str, float | int] = dict.fromkeys(
        (
            "KeyInCabin",
            "KeyOutside",
            "KeyAtSwitch",
            "KeyVerified",
            "StartAuthorized",
            "IndicatorMode",
            "IndicatorCode",
            "RegistrationMode",
            "SmartKeys",
            "WaitingPeriodRemaining",
            "RollingCounter",
        ),
        0,
    )
    values.update(signals)
    return values


@pytest.fixture
def box() -> IdCodeBox:
    return IdCodeBox(lock=threading.RLock(), communication_id=LINK)


def test_the_box_permits_only_a_verified_authorized_start_with_the_steering_unlocked(
    box: IdCodeBox,
) -> None:
    assert box.start_permission() == {"CommunicationId": LINK, "StartPermitted": 0}
    box.on_smart_key_status(_smart(KeyVerified=1, StartAuthorized=1))
    assert not box.start_permitted()  # the steering is still locked
    box.on_steering_lock_status({"SteeringLocked": 0, "RollingCounter": 0})
    assert box.start_permission() == {"CommunicationId": LINK, "StartPermitted": 1}
    box.on_smart_key_status(_smart(KeyVerified=1, StartAuthorized=0))
    assert not box.start_permitted()  # no start request (e.g. no brake)
    box.on_smart_key_status(_smart(KeyVerified=0, StartAuthorized=1))
    assert not box.start_permitted()


def test_the_box_relays_the_certification_state(box: IdCodeBox) -> None:
    assert box.immobilizer_status()["ImmobilizerSet"] == 1  # nothing heard yet: set
    box.on_smart_key_status(
        _smart(
            KeyVerified=0,
            IndicatorMode=3,
            IndicatorCode=22,
            RegistrationMode=4,
            SmartKeys=5,
            WaitingPeriodRemaining=0,
        )
    )
    assert box.immobilizer_status() == {
        "ImmobilizerSet": 1,
        "MasterKeys": 0,
        "SubKeys": 0,
        "WaitingPeriodRemaining": 0,
        "IndicatorMode": 3,
        "IndicatorCode": 22,
        "RegistrationMode": 4,
        "SmartKeys": 5,
    }
    box.on_smart_key_status(_smart(KeyVerified=1, RegistrationMode=3, WaitingPeriodRemaining=42))
    status = box.immobilizer_status()
    assert (status["ImmobilizerSet"], status["WaitingPeriodRemaining"]) == (0, 42)


def test_the_box_keeps_the_id_of_its_manufacture() -> None:
    nvm = MemoryNvm()
    IdCodeBox(lock=threading.RLock(), communication_id=LINK, nvm=nvm)
    again = IdCodeBox(lock=threading.RLock(), communication_id=0x1111, nvm=nvm)
    assert again.communication_id == LINK  # the stored ID wins


def test_the_steering_lock_powers_up_locked_and_unlocks_for_an_authorized_start() -> None:
    steering = SteeringLockEcu(lock=threading.RLock())
    assert steering.status() == {"SteeringLocked": 1}
    steering.on_smart_key_status(_smart(KeyVerified=1))
    assert steering.locked  # a verified key alone does not unlock it
    steering.on_smart_key_status(_smart(KeyVerified=1, StartAuthorized=1))
    assert steering.status() == {"SteeringLocked": 0}


@pytest.mark.parametrize(
    ("ignition", "door_open", "locks"),
    [
        (Ignition.OFF, True, True),
        (Ignition.OFF, False, False),
        (Ignition.ACC, True, False),
        (Ignition.ON, True, False),
    ],
)
def test_the_steering_locks_only_at_ignition_off_with_the_driver_door_open(
    ignition: Ignition, door_open: bool, locks: bool
) -> None:
    steering = SteeringLockEcu(lock=threading.RLock())
    steering.on_smart_key_status(_smart(KeyVerified=1, StartAuthorized=1))
    steering.on_ignition_status({"IgnitionState": int(ignition), "RollingCounter": 0})
    steering.on_door_status({"DriverDoorOpen": int(door_open)})
    assert steering.locked is locks


def test_the_steering_locks_when_the_ignition_goes_off_with_the_door_already_open() -> None:
    steering = SteeringLockEcu(lock=threading.RLock())
    steering.on_smart_key_status(_smart(KeyVerified=1, StartAuthorized=1))
    steering.on_ignition_status({"IgnitionState": int(Ignition.ON), "RollingCounter": 0})
    steering.on_door_status({"DriverDoorOpen": 1})
    assert not steering.locked  # the engine may run with the door open
    steering.on_ignition_status({"IgnitionState": int(Ignition.OFF), "RollingCounter": 1})
    assert steering.locked
