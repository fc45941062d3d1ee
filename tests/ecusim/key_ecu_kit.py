"""The test kit of the key-code ECU tests (tests/ecusim/immobilizer and tests/ecusim/smart).

:func:`build_car` builds a car of the support chart with the VIN of the Pass-Code known answers
on a :class:`~protocol.clock.FakeClock` with deterministic seeds. The tests drive the key-code
ECU's UDS server through its pure core (``server.handle`` then ``server.after_response``;
``server.poll`` for pending work) and the car's physical inputs through the embedding API.
Nothing here sleeps: :meth:`KeyEcuCar.advance` moves the fake clock and then does what the car's
body thread does on each turn (``system.tick``) plus a server poll.

The helpers assert the exact bytes of the step they perform, so a test that uses them also fails
when that step breaks.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from ecusim.car.vehicle import Vehicle
from ecusim.ecus.key_ecu.ecu import KeyCodeEcu
from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.passcode import diagnostic_key, pass_code
from protocol.seed_source import DeterministicSeedSource
from protocol.uds.server import UdsServer

PHYSICAL = Addressing.PHYSICAL

VIN = "JTHBL5EF0C5000001"
"""The lab VIN of diagnostic-contract.md §5 (valid check digit)."""

START_S = 1000.0
"""Fake-clock time at which every car is built."""

ERASE_S = 2.0
"""KeyEcuConfig.erase_duration_s: routine 0x0201 answers 0x78 for this long."""

LEVEL_DIAG = 0x01
"""requestSeed of the extended-diagnostics level (sendKey 0x02)."""

LEVEL_RESET = 0x11
"""requestSeed of the reset level (sendKey 0x12): seed = Seed Number."""

# DIDs every key-code ECU answers (diagnostic-contract.md §4)
DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C
DID_ACTIVE_SESSION = 0xF186
DID_PART_NUMBER = 0xF187
DID_SERIAL_NUMBER = 0xF18C
DID_VIN = 0xF190
DID_SYSTEM_NAME = 0xF197

# DTCs every key-code ECU reports (domain.md: B2796 → 0xA79600)
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
class KeyEcuCar(abc.ABC):
    """A vehicle with its fake clock; its key-code ECU's server is driven directly."""

    vehicle: Vehicle
    clock: FakeClock
    channel: str | None = None
    """The virtual CAN channel while the car runs on one."""

    session_step_s: ClassVar[float] = 2.0
    """How far :meth:`advance_in_session` moves the clock between two TesterPresent."""

    @property
    @abc.abstractmethod
    def key_ecu(self) -> KeyCodeEcu:
        """The ECU whose server the tests drive."""

    @property
    def server(self) -> UdsServer:
        return self.key_ecu.server

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
            self.vehicle.system.tick(now)
        return self.server.poll(now)

    def advance_in_session(self, seconds: float, *, step: float | None = None) -> None:
        """Advance ``seconds`` in steps of at most ``step`` (default :attr:`session_step_s`),
        sending TesterPresent with the suppress bit after each, as a scan tool does to keep the
        extended session (S3 = 5 s)."""
        step = self.session_step_s if step is None else step
        remaining = seconds
        while remaining > 0:
            moved = min(step, remaining)
            assert self.advance(moved) == []
            remaining -= moved
            # 3E = TesterPresent, 80 = zeroSubFunction with suppressPosRspMsgIndicationBit
            assert self.handle(bytes([0x3E, 0x80])) is None


CarT = TypeVar("CarT", bound=KeyEcuCar)


def build_car(
    car_type: type[CarT],
    model: str,
    year: int,
    state_dir: Path | None = None,
    *,
    vin: str = VIN,
    seeds: int = 7,
    start_s: float = START_S,
    seed: int = 1,
) -> CarT:
    """The chart's ``model`` ``year`` on a FakeClock; NVM in ``state_dir`` (else in memory)."""
    clock = FakeClock(start_s)
    vehicle = Vehicle.from_catalog(
        model,
        year,
        vin,
        state_dir=state_dir,
        clock=clock,
        seed=seed,
        seed_source=DeterministicSeedSource(seeds),
    )
    return car_type(vehicle, clock)


def restart(car: CarT, state_dir: Path) -> CarT:
    """A new Vehicle on the same state directory and clock: every volatile state is lost."""
    model_year = car.vehicle.model_year
    vehicle = Vehicle.from_catalog(
        model_year.model,
        model_year.year,
        car.vehicle.vin,
        state_dir=state_dir,
        clock=car.clock,
        seed=2,
        seed_source=DeterministicSeedSource(8),
    )
    return type(car)(vehicle, car.clock)


def unique_channel() -> str:
    """A python-can virtual channel name no other test uses."""
    return f"ecusim-key-ecu-{uuid.uuid4().hex}"


# -- helpers that speak UDS (each asserts the bytes of the step it performs) -------------------


def enter_extended(car: KeyEcuCar) -> None:
    response = car.handle(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extendedDiagnostic
    # 50 = positive DSC, 03 = session echo, 00 32 = P2server 50 ms, 01 F4 = P2*server 500 x 10 ms
    assert response == bytes([0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])


def request_seed(car: KeyEcuCar, level: int) -> bytes:
    response = car.handle(bytes([0x27, level]))  # SecurityAccess, requestSeed <level>
    assert response is not None
    assert response[:2] == bytes([0x67, level]), response.hex()  # positive SID, level echo
    return response[2:]


def unlock_diag(car: KeyEcuCar) -> None:
    """Extended session must be active. Unlocks level 0x01 with the lab diagnostic algorithm."""
    seed = request_seed(car, LEVEL_DIAG)
    assert len(seed) == 4
    # 27 = SecurityAccess, 02 = sendKey level 0x01, then the 4-byte lab key
    response = car.handle(bytes([0x27, 0x02]) + diagnostic_key(seed))
    assert response == bytes([0x67, 0x02])  # positive SecurityAccess, sendKey echo


def unlock_reset(car: KeyEcuCar) -> None:
    """Extended session must be active. Unlocks level 0x11 with the Pass-Code for the VIN."""
    seed = request_seed(car, LEVEL_RESET)
    assert len(seed) == 16  # the Seed Number
    # 27 = SecurityAccess, 12 = sendKey level 0x11, then the 16-byte Pass-Code
    response = car.handle(bytes([0x27, 0x12]) + pass_code(car.vehicle.vin, seed))
    assert response == bytes([0x67, 0x12])  # positive SecurityAccess, sendKey echo


def write_blank_vin(car: KeyEcuCar) -> None:
    """Extended session must be active. The one VIN write of a blank replacement key-code ECU
    (diagnostic-contract.md §4): unlocks level 0x01 and writes the car's VIN."""
    unlock_diag(car)
    vin = car.vehicle.vin.encode("ascii")
    # 2E = WriteDataByIdentifier, F1 90 = VIN, then its 17 ASCII bytes
    assert car.handle(bytes([0x2E, 0xF1, 0x90]) + vin) == bytes([0x6E, 0xF1, 0x90])  # positive


def send_wrong_pass_code(car: KeyEcuCar) -> bytes | None:
    """requestSeed 0x11 and a wrong Pass-Code (every bit flipped); returns the sendKey answer."""
    seed = request_seed(car, LEVEL_RESET)
    wrong = bytes(b ^ 0xFF for b in pass_code(car.vehicle.vin, seed))
    return car.handle(bytes([0x27, 0x12]) + wrong)  # SecurityAccess, sendKey 0x11, bad code


def read_did(car: KeyEcuCar, did: int) -> bytes:
    """ReadDataByIdentifier of one DID; asserts a positive answer and returns the data."""
    response = car.handle(bytes([0x22, did >> 8, did & 0xFF]))  # RDBI, DID high, DID low
    assert response is not None
    assert response[:3] == bytes([0x62, did >> 8, did & 0xFF]), response.hex()  # pos, DID echo
    return response[3:]


def read_byte(car: KeyEcuCar, did: int) -> int:
    data = read_did(car, did)
    assert len(data) == 1, data.hex()
    return data[0]


def key_counts(car: KeyEcuCar) -> tuple[int, int]:
    """(DID 0x0106 registered masters, DID 0x0107 registered subs)."""
    masters = read_did(car, DID_MASTER_KEYS)
    subs = read_did(car, DID_SUB_KEYS)
    assert len(masters) == 1 and len(subs) == 1
    return masters[0], subs[0]


def dtc_statuses(car: KeyEcuCar) -> dict[int, int]:
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


def run_reset(car: KeyEcuCar) -> None:
    """The bulletin's reset once the ignition is ON: extended session, level 0x11 with the
    Pass-Code, routine 0x0201 (0x78 while it erases), final positive response. The session
    stays extended and level 0x11 unlocked."""
    enter_extended(car)
    unlock_reset(car)
    response = car.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RoutineControl, start, RID 0201
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RoutineControl, responsePending
    final = car.advance(ERASE_S + 0.1)
    # 71 = positive RoutineControl, 01 = startRoutine, 02 01 = RID, 00 = status done
    assert final == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]


def security_status(diag: tuple[int, int] = (0, 0), reset: tuple[int, int] = (0, 0)) -> bytes:
    """The value of DID 0x010C on a key-code ECU with levels 0x01 and 0x11: ``diag`` and
    ``reset`` are (failed attempts, delay remaining in whole seconds) of each."""
    return bytes(
        [
            0x01,  # record 1: level 0x01 (extended diagnostics)
            diag[0],  # level 0x01: failed attempts
            diag[1] >> 8,  # level 0x01: delay remaining, seconds, high byte
            diag[1] & 0xFF,  # level 0x01: delay remaining, seconds, low byte
            0x11,  # record 2: level 0x11 (immobilizer reset)
            reset[0],  # level 0x11: failed attempts
            reset[1] >> 8,  # level 0x11: delay remaining, seconds, high byte
            reset[1] & 0xFF,  # level 0x11: delay remaining, seconds, low byte
        ]
    )
