"""Shared builders for the immobilizer tests.

:func:`make_car` builds the LS430 2004 of the support chart (VIN ``JTHBL5EF0C5000001``, the VIN of
the Pass-Code known answers) on a :class:`~protocol.clock.FakeClock` with deterministic seeds. The
tests drive the immobilizer's UDS server through its pure core (``server.handle`` then
``server.after_response``; ``server.poll`` for pending work) and the car's physical inputs through
the embedding API. Nothing here sleeps: :meth:`Car.advance` moves the fake clock and then does what
the car's body thread does on each turn (``immobilizer.tick``) plus a server poll.

The helpers assert the exact bytes of the step they perform, so a test that uses them also fails
when that step breaks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can
import pytest

from ecusim.car.keys import Key, KeyKind
from ecusim.car.vehicle import Vehicle
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.passcode import diagnostic_key, pass_code
from protocol.seed_source import DeterministicSeedSource
from protocol.uds.server import UdsServer

PHYSICAL = Addressing.PHYSICAL

VIN = "JTHBL5EF0C5000001"
"""The lab VIN of diagnostics.md §5 (valid check digit)."""

START_S = 1000.0
"""Fake-clock time at which every car is built."""

ERASE_S = 2.0
"""ImmobilizerConfig.erase_duration_s: routine 0x0201 answers 0x78 for this long."""

RELOCK_S = 20.0
"""The immobilizer sets again 20 s after ignition off (domain.md [S])."""

WINDOW_S = 30.0
"""Additional registration: the new key must come within 30 s (diagnostics.md §4)."""

LEVEL_DIAG = 0x01
"""requestSeed of the extended-diagnostics level (sendKey 0x02)."""

LEVEL_RESET = 0x11
"""requestSeed of the immobilizer-reset level (sendKey 0x12): seed = Seed Number."""

# DIDs (diagnostics.md §4)
DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C
DID_VIN = 0xF190
DID_SYSTEM_NAME = 0xF197

# DTCs (domain.md: B2796 → 0xA79600)
DTC_B2796 = 0xA79600
"""No communication (key code not received)."""
DTC_B2797 = 0xA79700
"""Communication malfunction 1."""
DTC_B2798 = 0xA79800
"""Key code not identified within 0.15-0.5 s."""
DTC_B2799 = 0xA79900
"""Engine immobilizer malfunction (ECU-ECM communication ID mismatch)."""

# ISO 14229-1 Annex D status bits
TEST_FAILED = 0x01
CONFIRMED_DTC = 0x08
STATUS_AFTER_CLEAR = 0x50
"""testNotCompletedSinceLastClear | testNotCompletedThisOperationCycle."""


@dataclass
class Car:
    """A vehicle with its fake clock; the immobilizer's server is driven directly."""

    vehicle: Vehicle
    clock: FakeClock
    channel: str | None = None
    """The virtual CAN channel while the car runs on one."""

    @property
    def immobilizer(self) -> TransponderKeyEcu:
        immobilizer = self.vehicle.immobilizer
        assert immobilizer is not None
        return immobilizer

    @property
    def server(self) -> UdsServer:
        return self.immobilizer.server

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

    def handle(self, payload: bytes) -> bytes | None:
        """``server.handle`` at the clock's time, then ``after_response`` as a transport does."""
        now = self.clock.now()
        response = self.server.handle(payload, PHYSICAL, now)
        self.server.after_response(now)
        return response

    def advance(self, seconds: float) -> list[bytes]:
        """Move the fake clock, then one turn of the body thread (the immobilizer's timers) and
        a server poll; returns what the server sent on that poll."""
        now = self.clock.advance(seconds)
        self.immobilizer.tick(now)
        return self.server.poll(now)

    def advance_in_session(self, seconds: float, *, step: float = 2.0) -> None:
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
    clock = FakeClock(start_s)
    vehicle = Vehicle.from_catalog(
        "LS430",
        2004,
        vin,
        state_dir=state_dir,
        clock=clock,
        seed=1,
        seed_source=DeterministicSeedSource(seeds),
    )
    return Car(vehicle, clock)


def restart(car: Car, state_dir: Path) -> Car:
    """A new Vehicle on the same state directory and clock: every volatile state is lost."""
    vehicle = Vehicle.from_catalog(
        "LS430",
        2004,
        car.vehicle.vin,
        state_dir=state_dir,
        clock=car.clock,
        seed=2,
        seed_source=DeterministicSeedSource(8),
    )
    return Car(vehicle, car.clock)


@pytest.fixture
def car() -> Car:
    """A factory-fresh LS430 2004 (2 masters + 1 sub registered), NVM in memory."""
    return make_car()


def unique_channel() -> str:
    """A python-can virtual channel name no other test uses."""
    return f"ecusim-immo-{uuid.uuid4().hex}"


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


def send_wrong_pass_code(car: Car) -> bytes | None:
    """requestSeed 0x11 and a wrong Pass-Code (every bit flipped); returns the sendKey answer."""
    seed = request_seed(car, LEVEL_RESET)
    wrong = bytes(b ^ 0xFF for b in pass_code(car.vehicle.vin, seed))
    return car.handle(bytes([0x27, 0x12]) + wrong)  # SecurityAccess, sendKey 0x11, bad code


def read_did(car: Car, did: int) -> bytes:
    """ReadDataByIdentifier of one DID; asserts a positive answer and returns the data."""
    response = car.handle(bytes([0x22, did >> 8, did & 0xFF]))  # RDBI, DID high, DID low
    assert response is not None
    assert response[:3] == bytes([0x62, did >> 8, did & 0xFF]), response.hex()  # pos, DID echo
    return response[3:]


def key_counts(car: Car) -> tuple[int, int]:
    """(DID 0x0106 registered masters, DID 0x0107 registered subs)."""
    masters = read_did(car, DID_MASTER_KEYS)
    subs = read_did(car, DID_SUB_KEYS)
    assert len(masters) == 1 and len(subs) == 1
    return masters[0], subs[0]


def dtc_statuses(car: Car) -> dict[int, int]:
    """ReadDTCInformation reportSupportedDTC, parsed into {DTC number: status} (every supported
    DTC, status 0x00 included, unlike a status-mask report)."""
    response = car.handle(bytes([0x19, 0x0A]))  # ReadDTCInformation, reportSupportedDTC
    assert response is not None
    assert response[:3] == bytes([0x59, 0x0A, 0x7F]), response.hex()  # pos, 0A, availability 7F
    records = response[3:]
    assert len(records) % 4 == 0  # DTC high, middle, low, status
    return {
        int.from_bytes(records[i : i + 3], "big"): records[i + 3] for i in range(0, len(records), 4)
    }


def reset_immobilizer(car: Car, key: Key) -> None:
    """The bulletin's reset with ``key`` in the cylinder (any key: all masters may be lost):
    ignition ON, extended session, level 0x11 with the Pass-Code, routine 0x0201 (0x78 while it
    erases), final positive response. The key stays in, the ignition ON."""
    car.ignition_on_with(key)
    enter_extended(car)
    unlock_reset(car)
    response = car.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RoutineControl, start, RID 0201
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RoutineControl, responsePending
    final = car.advance(ERASE_S + 0.1)
    # 71 = positive RoutineControl, 01 = startRoutine, 02 01 = RID, 00 = status done
    assert final == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]
