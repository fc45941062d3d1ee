"""Shared builders for the smart key tests.

:func:`make_car` builds the LS460 2012 of the support chart (a smart-key car: 2 factory smart
keys, 7 at most, a 960 s waiting period) with the VIN of the Pass-Code known answers, on a
:class:`~protocol.clock.FakeClock` with deterministic seeds. The tests drive the certification
ECU's UDS server through its pure core (``server.handle`` then ``server.after_response``;
``server.poll`` for pending work) and the car's physical inputs through the embedding API.
Nothing here sleeps: :meth:`Car.advance` moves the fake clock and then does what the car's body
thread does on each turn (``system.tick``) plus a server poll.

The helpers assert the exact bytes of the step they perform, so a test that uses them also fails
when that step breaks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import can
import pytest

from ecusim.car.keys import Key
from ecusim.car.vehicle import Vehicle
from ecusim.ecus.certification.ecu import CertificationEcu
from ecusim.systems.smart import SmartKeySystem
from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.passcode import diagnostic_key, pass_code
from protocol.seed_source import DeterministicSeedSource
from protocol.uds.server import UdsServer

PHYSICAL = Addressing.PHYSICAL

MODEL, YEAR = "LS460", 2012
VIN = "JTHBL5EF0C5000001"
"""The lab VIN of diagnostics.md §5 (valid check digit)."""

START_S = 1000.0
"""Fake-clock time at which every car is built."""

ERASE_S = 2.0
"""CertificationConfig.erase_duration_s: routine 0x0201 answers 0x78 for this long."""

WAITING_S = 960.0
"""The support chart's smart-key waiting period (16 min)."""

LIMIT = 7
"""Smart key systems register up to 7 keys (domain.md [S])."""

LEVEL_DIAG = 0x01
"""requestSeed of the extended-diagnostics level (sendKey 0x02)."""

LEVEL_RESET = 0x11
"""requestSeed of the reset level (sendKey 0x12): seed = Seed Number."""

# DIDs (diagnostics.md §4; 0x010E is the lab refusal log of docs/smart-key.md)
DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C
DID_SMART_KEYS = 0x010D
DID_REFUSAL = 0x010E
DID_ACTIVE_SESSION = 0xF186
DID_PART_NUMBER = 0xF187
DID_SERIAL_NUMBER = 0xF18C
DID_VIN = 0xF190
DID_SYSTEM_NAME = 0xF197

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

# Routine status bytes (diagnostics.md §4)
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


@dataclass
class Car:
    """A smart-key vehicle with its fake clock; the certification ECU's server is driven
    directly."""

    vehicle: Vehicle
    clock: FakeClock
    channel: str | None = None
    """The virtual CAN channel while the car runs on one."""

    @property
    def system(self) -> SmartKeySystem:
        system = self.vehicle.system
        assert isinstance(system, SmartKeySystem)
        return system

    @property
    def certification(self) -> CertificationEcu:
        return self.system.certification

    @property
    def server(self) -> UdsServer:
        return self.certification.server

    @property
    def old_keys(self) -> tuple[Key, ...]:
        """The 2 factory smart keys."""
        return self.vehicle.factory_keys

    def handle(self, payload: bytes) -> bytes | None:
        """``server.handle`` at the clock's time, then ``after_response`` as a transport does."""
        now = self.clock.now()
        response = self.server.handle(payload, PHYSICAL, now)
        self.server.after_response(now)
        return response

    def advance(self, seconds: float) -> list[bytes]:
        """Move the fake clock, then one turn of the body thread (the system's timers) and a
        server poll; returns what the server sent on that poll."""
        now = self.clock.advance(seconds)
        with self.vehicle.lock:
            self.system.tick(now)
        return self.server.poll(now)

    def advance_in_session(self, seconds: float, *, step: float = 4.0) -> None:
        """Advance ``seconds`` in steps of at most ``step``, sending TesterPresent with the
        suppress bit after each, as a scan tool does to keep the extended session (S3 = 5 s)."""
        remaining = seconds
        while remaining > 0:
            moved = min(step, remaining)
            assert self.advance(moved) == []
            remaining -= moved
            # 3E = TesterPresent, 80 = zeroSubFunction with suppressPosRspMsgIndicationBit
            assert self.handle(bytes([0x3E, 0x80])) is None

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
    clock = FakeClock(start_s)
    vehicle = Vehicle.from_catalog(
        MODEL,
        YEAR,
        VIN,
        state_dir=state_dir,
        clock=clock,
        seed=seed,
        seed_source=DeterministicSeedSource(seeds),
    )
    return Car(vehicle, clock)


def restart(car: Car, state_dir: Path) -> Car:
    """A new Vehicle on the same state directory and clock: every volatile state is lost."""
    vehicle = Vehicle.from_catalog(
        MODEL,
        YEAR,
        VIN,
        state_dir=state_dir,
        clock=car.clock,
        seed=2,
        seed_source=DeterministicSeedSource(8),
    )
    return Car(vehicle, car.clock)


@pytest.fixture
def car() -> Car:
    """A factory-fresh LS460 2012 (2 smart keys registered), NVM in memory."""
    return make_car()


def unique_channel() -> str:
    """A python-can virtual channel name no other test uses."""
    return f"ecusim-smart-{uuid.uuid4().hex}"


@pytest.fixture
def running_car() -> Iterator[Car]:
    """The factory-fresh car running on its own virtual channel (start_engine needs the bus)."""
    built = make_car()
    built.channel = unique_channel()
    bus = can.Bus(interface="virtual", channel=built.channel)
    try:
        with built.vehicle.running(bus):
            yield built
    finally:
        bus.shutdown()


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` (the body thread acts in real time) until true, at most
    :data:`BUS_DEADLINE_S` real seconds."""
    deadline = time.monotonic() + BUS_DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {BUS_DEADLINE_S} s")
        time.sleep(0.005)


# -- helpers that speak UDS (each asserts the bytes of the step it performs) -------------------


def enter_extended(car: Car) -> None:
    response = car.handle(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extendedDiagnostic
    # 50 = positive DSC, 03 = session echo, 00 32 = P2server 50 ms, 01 F4 = P2*server 500 x 10 ms
    assert response == bytes([0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])


def request_seed(car: Car, level: int) -> bytes:
    response = car.handle(bytes([0x27, level]))  # SecurityAccess, requestSeed <level>
    assert response is not None
    assert response[:2] == bytes([0x67, level]), response.hex()  # positive SID, level echo
    return response[2:]


def unlock_diag(car: Car) -> None:
    """Extended session must be active. Unlocks level 0x01 with the lab diagnostic algorithm."""
    seed = request_seed(car, LEVEL_DIAG)
    assert len(seed) == 4
    # 27 = SecurityAccess, 02 = sendKey level 0x01, then the 4-byte lab key
    response = car.handle(bytes([0x27, 0x02]) + diagnostic_key(seed))
    assert response == bytes([0x67, 0x02])  # positive SecurityAccess, sendKey echo


def unlock_reset(car: Car) -> None:
    """Extended session must be active. Unlocks level 0x11 with the Pass-Code for the VIN."""
    seed = request_seed(car, LEVEL_RESET)
    assert len(seed) == 16  # the Seed Number
    # 27 = SecurityAccess, 12 = sendKey level 0x11, then the 16-byte Pass-Code
    response = car.handle(bytes([0x27, 0x12]) + pass_code(car.vehicle.vin, seed))
    assert response == bytes([0x67, 0x12])  # positive SecurityAccess, sendKey echo


def read_did(car: Car, did: int) -> bytes:
    """ReadDataByIdentifier of one DID; asserts a positive answer and returns the data."""
    response = car.handle(bytes([0x22, did >> 8, did & 0xFF]))  # RDBI, DID high, DID low
    assert response is not None
    assert response[:3] == bytes([0x62, did >> 8, did & 0xFF]), response.hex()  # pos, DID echo
    return response[3:]


def read_byte(car: Car, did: int) -> int:
    data = read_did(car, did)
    assert len(data) == 1, data.hex()
    return data[0]


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
    """The bulletin's reset: ignition ON, extended session, level 0x11 with the Pass-Code,
    routine 0x0201 (0x78 while it erases), final positive response. The session stays extended
    and level 0x11 unlocked."""
    car.vehicle.set_ignition("on")
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == PENDING
    final = car.advance(ERASE_S + 0.1)
    # 71 = positive RoutineControl, 01 = startRoutine, 02 01 = RID, 00 = status done
    assert final == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]


def open_registration(car: Car) -> None:
    """After :func:`reset_smart_keys`: 0x0206 start, the waiting period run in session (with
    TesterPresent), registration open."""
    assert routine(car, START_REGISTRATION) == (RUNNING, int(WAITING_S), 0)
    car.advance_in_session(WAITING_S)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN
