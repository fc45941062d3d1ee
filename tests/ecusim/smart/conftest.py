"""Shared builders for the smart key tests (the rest is in :mod:`key_ecu_kit`).

:func:`make_car` builds the LS460 2012 of the support chart (a smart-key car: 2 factory smart
keys, 7 at most, a 960 s waiting period) with the VIN of the Pass-Code known answers;
:class:`Car` drives its certification ECU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ecusim.car.keys import Key
from ecusim.ecus.certification.ecu import CertificationEcu
from ecusim.systems.smart import SmartKeySystem
from tests.ecusim.key_ecu_kit import (
    DID_REGISTRATION_MODE,
    DID_WAITING_PERIOD,
    START_S,
    KeyEcuCar,
    build_car,
    read_byte,
    read_did,
    run_reset,
)

MODEL, YEAR = "LS460", 2012

WAITING_S = 960.0
"""The support chart's smart-key waiting period (16 min)."""

LIMIT = 7
"""Smart key systems register up to 7 keys (domain.md [S])."""

# DIDs of the certification ECU alone (0x010E is the lab refusal log of docs/smart-key.md)
DID_SMART_KEYS = 0x010D
DID_REFUSAL = 0x010E

# DID 0x0109 values
MODE_NORMAL = 0
MODE_WAITING = 3
MODE_OPEN = 4

# Routine requests (31 = RoutineControl; 01 start, 02 stop, 03 results; then the RID)
START_RESET = bytes([0x31, 0x01, 0x02, 0x01])  # startRoutine, RID 0x0201 smart key reset
RESET_RESULTS = bytes([0x31, 0x03, 0x02, 0x01])  # requestRoutineResults, RID 0x0201
START_REGISTRATION = bytes([0x31, 0x01, 0x02, 0x06])  # startRoutine, RID 0x0206
STOP_REGISTRATION = bytes([0x31, 0x02, 0x02, 0x06])  # stopRoutine, RID 0x0206
REGISTRATION_RESULTS = bytes([0x31, 0x03, 0x02, 0x06])  # requestRoutineResults, RID 0x0206

PENDING = bytes([0x7F, 0x31, 0x78])  # negative, RoutineControl, responsePending
CONDITIONS_NOT_CORRECT = bytes([0x7F, 0x31, 0x22])  # negative, RoutineControl, 0x22
SECURITY_DENIED = bytes([0x7F, 0x31, 0x33])  # negative, RoutineControl, securityAccessDenied
SEQUENCE_ERROR = bytes([0x7F, 0x31, 0x24])  # negative, RoutineControl, requestSequenceError

# Routine status bytes (diagnostic-contract.md §4)
DONE, RUNNING, FAILED = 0x00, 0x01, 0x02

# Refusal codes of DID 0x010E (docs/smart-key.md)
REFUSED_MOVING = 0x01
REFUSED_KEYS_STORED = 0x02
REFUSED_IGNITION = 0x03
REFUSED_WAITING = 0x04
REFUSED_ALREADY_REGISTERED = 0x06
REFUSED_NOT_VERIFIED = 0x07
REFUSED_NOT_SMART = 0x08

BUS_DEADLINE_S = 5.0
"""Real seconds a test waits at most for the body thread to act on a clock step."""


class Car(KeyEcuCar):
    """A smart-key vehicle with its fake clock; the certification ECU's server is driven
    directly."""

    session_step_s = 4.0

    @property
    def system(self) -> SmartKeySystem:
        system = self.vehicle.system
        assert isinstance(system, SmartKeySystem)
        return system

    @property
    def certification(self) -> CertificationEcu:
        return self.system.certification

    key_ecu = certification

    @property
    def old_keys(self) -> tuple[Key, ...]:
        """The 2 factory smart keys."""
        return self.vehicle.factory_keys

    # -- physical shortcuts -------------------------------------------------------------------

    def bring(self, key: Key, where: str = "cabin") -> None:
        self.vehicle.present_key(key, where)

    def take_away(self, key: Key | None = None) -> None:
        self.vehicle.withdraw_key(key)

    def touch_switch(self, key: Key) -> None:
        """Touch ``key`` to the engine switch, then put it back in the cabin."""
        self.vehicle.present_key(key, "switch")
        self.vehicle.present_key(key, "cabin")


def make_car(
    state_dir: Path | None = None, *, seeds: int = 7, start_s: float = START_S, seed: int = 1
) -> Car:
    """The LS460 2012 on a FakeClock; NVM in ``state_dir`` (else in memory)."""
    return build_car(Car, MODEL, YEAR, state_dir, seeds=seeds, start_s=start_s, seed=seed)


@pytest.fixture
def car() -> Car:
    """A factory-fresh LS460 2012 (2 smart keys registered), NVM in memory."""
    return make_car()


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` (the body thread acts in real time) until true, at most
    :data:`BUS_DEADLINE_S` real seconds."""
    deadline = time.monotonic() + BUS_DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {BUS_DEADLINE_S} s")
        time.sleep(0.005)


# -- helpers that speak UDS (each asserts the bytes of the step it performs) -------------------


def waiting_s(car: Car) -> int:
    """DID 0x010B: the waiting period remaining, 2 bytes big-endian, in seconds."""
    data = read_did(car, DID_WAITING_PERIOD)
    assert len(data) == 2
    return int.from_bytes(data, "big")


def refusal(car: Car) -> tuple[int, str]:
    """DID 0x010E: (reason code, ASCII text)."""
    data = read_did(car, DID_REFUSAL)
    return data[0], data[1:].decode("ascii")


def routine(car: Car, request: bytes) -> tuple[int, int, int]:
    """Send a 0x0206 request; return its record: (status, remaining seconds, registered keys)."""
    response = car.handle(request)
    assert response is not None
    # 71 = positive RoutineControl, then the control type and the RID echoed
    assert response[:4] == bytes([0x71]) + request[1:4], response.hex()
    record = response[4:]
    assert len(record) == 4, record.hex()  # status, remaining (2 bytes), registered keys
    return record[0], int.from_bytes(record[1:3], "big"), record[3]


def reset_smart_keys(car: Car) -> None:
    """The bulletin's reset: ignition ON, then :func:`key_ecu_kit.run_reset`. The session stays
    extended and level 0x11 unlocked."""
    car.vehicle.set_ignition("on")
    run_reset(car)


def open_registration(car: Car) -> None:
    """After :func:`reset_smart_keys`: 0x0206 start, the waiting period run in session (with
    TesterPresent), registration open."""
    assert routine(car, START_REGISTRATION) == (RUNNING, int(WAITING_S), 0)
    car.advance_in_session(WAITING_S)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN
