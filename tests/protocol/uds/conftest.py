"""Shared builders for the byte-level tests of the pure UDS server core.

:func:`make_bench` builds an engine-ECU-like :class:`~protocol.uds.server.UdsServer` on a
:class:`~protocol.clock.FakeClock` (no test ever sleeps): the identification DIDs of
diagnostic-contract.md §4, a DID that needs level 0x01, a DID whose reader answers 0x22 with the
ignition off, a writable DID with value rules, the two SecurityAccess levels of §3 (0x01 with the
lab diagnostic algorithm, 0x11 with the lab Pass-Code algorithm for VIN JTHBL5EF0C5000001),
routines (one answering with pending work) and a DTC memory.

The helpers (:func:`enter_extended`, :func:`unlock`, …) assert exact bytes themselves, so a test
that uses them also fails when the step it relies on breaks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from protocol.clock import FakeClock
from protocol.constants import Addressing, Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.nvm import MemoryNvm, NvmStore
from protocol.security_algorithms import LabDiagnosticAlgorithm, LabPassCodeAlgorithm
from protocol.seed_source import DeterministicSeedSource, ScriptedSeedSource, SeedSource
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.dtc import DtcMemory, dtc_number
from protocol.uds.pending import Reply, TimedWork
from protocol.uds.routines import Routine, RoutineStatus
from protocol.uds.security import SecurityLevel, SecurityPolicy
from protocol.uds.server import ServerConfig, UdsServer
from protocol.uds.services.security_access import SecurityAccessHandler

PHYSICAL = Addressing.PHYSICAL
FUNCTIONAL = Addressing.FUNCTIONAL

START_S = 1000.0
"""Fake-clock time at which every bench powers on."""

S3_S = 5.0
"""S3server of diagnostic-contract.md §2."""

SECURITY_DELAY_S = 10.0
"""Delay after the 3rd wrong key and boot delay after a failed attempt
(diagnostic-contract.md §3)."""

VIN = "JTHBL5EF0C5000001"
"""The bench car's VIN (valid check digit '0'); the Pass-Code known answers use it."""

OTHER_VIN = "JTHBA1D29G5000002"
"""A second valid VIN (check digit '9')."""

SERIAL_NUMBER = b"LAB0000000001"
"""DID 0xF18C: 13 ASCII bytes."""

PART_NUMBER = b"89661-53A10"
"""DID 0xF187: 11 ASCII bytes."""

SYSTEM_NAME = b"ENGINE"
"""DID 0xF197."""

CALIBRATION_ID = bytes([0x5A, 0xA5])
"""DID 0x0110 (needs level 0x01): 2 bytes."""

COOLANT_RAW = bytes([0x7B])
"""DID 0x0120 (0x22 with the ignition off): 1 byte."""

LEVEL_DIAG = 0x01
"""requestSeed of the extended-diagnostics level (sendKey 0x02)."""

LEVEL_IMMO = 0x11
"""requestSeed of the immobilizer-reset level (sendKey 0x12)."""

DID_VIN = 0xF190
DID_SERIAL_NUMBER = 0xF18C
DID_PART_NUMBER = 0xF187
DID_SYSTEM_NAME = 0xF197
DID_ACTIVE_SESSION = 0xF186
DID_SECURITY_STATUS = 0x010C
"""Per configured level, ascending: level, failed attempts, delay remaining in whole seconds
(2 bytes, rounded up): 8 bytes on the bench (levels 0x01 and 0x11)."""
DID_CALIBRATION_ID = 0x0110
DID_COOLANT = 0x0120
DID_IDLE_OFFSET = 0x0150
"""1 byte, writable in the extended session without security; 0x00..0x10; 0x22 while moving."""

RID_IMMOBILIZER_RESET = 0x0201
"""Needs level 0x11, ignition on, vehicle stopped; answers with pending work for ERASE_S."""
RID_ADDITIONAL_KEY = 0x0202
"""Needs level 0x01 and a master key; option 0x01/0x02; has stop and results."""
RID_END_AUTO_REGISTRATION = 0x0203
"""No security; start only (no stop, no results)."""

ERASE_S = 12.0
"""How long routine 0x0201 erases (longer than S3 and several 0x78 repeats)."""

DTC_P0335 = dtc_number("P0335")
"""0x033500: failed, then passed: status 0x2E."""
DTC_B2796 = dtc_number("B2796")
"""0xA79600: failing: status 0x2F."""
DTC_B2799 = dtc_number("B2799")
"""0xA79900: never tested since clear: status 0x50."""

DIAG_ALGORITHM = LabDiagnosticAlgorithm()
IMMO_ALGORITHM = LabPassCodeAlgorithm(VIN)

_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_VALUES = {
    **{digit: int(digit) for digit in "0123456789"},
    **dict(
        zip(
            "ABCDEFGHJKLMNPRSTUVWXYZ",
            (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9),
            strict=True,
        )
    ),
}


def vin_check_digit_ok(vin: bytes) -> bool:
    """Whether 17 ASCII bytes form a VIN with a valid check digit (49 CFR 565.15(c))."""
    if len(vin) != len(_VIN_WEIGHTS):
        return False
    try:
        text = vin.decode("ascii")
        total = sum(
            _VIN_VALUES[char] * weight for char, weight in zip(text, _VIN_WEIGHTS, strict=True)
        )
    except (UnicodeDecodeError, KeyError):
        return False
    remainder = total % 11
    return text[8] == ("X" if remainder == 10 else str(remainder))


@dataclass
class Vehicle:
    """The ECU-side state the DIDs and routines read and change."""

    vin: bytes = VIN.encode("ascii")
    ignition_on: bool = True
    speed_kmh: int = 0
    master_key_present: bool = True
    keys_erased: bool = False
    registration_open: bool = False
    idle_offset: int = 0


@dataclass
class Bench:
    """A server with its fake clock, NVM, seed source, vehicle state and DTC memory."""

    server: UdsServer
    clock: FakeClock
    nvm: NvmStore
    seed_source: SeedSource
    vehicle: Vehicle
    dtcs: DtcMemory | None

    def handle(self, payload: bytes, addressing: Addressing = PHYSICAL) -> bytes | None:
        """``server.handle`` at the clock's current time, then ``after_response`` as a transport
        does once the response is on the bus."""
        now = self.clock.now()
        response = self.server.handle(payload, addressing, now)
        self.server.after_response(now)
        return response

    def poll(self) -> list[bytes]:
        """``server.poll`` at the clock's current time."""
        return self.server.poll(self.clock.now())

    def advance(self, seconds: float) -> float:
        """Move the fake clock forward (never sleeps)."""
        return self.clock.advance(seconds)


class _ServerRef:
    """Lets DID readers see the server they belong to (it is built after them)."""

    server: UdsServer | None = None

    def get(self) -> UdsServer:
        assert self.server is not None
        return self.server


def default_dtc_memory() -> DtcMemory:
    """P0335 failed then passed (0x2E), B2796 failing (0x2F), B2799 untested (0x50)."""
    memory = DtcMemory([DTC_B2799, DTC_B2796, DTC_P0335])
    memory.report_failed(DTC_P0335)
    memory.report_passed(DTC_P0335)
    memory.report_failed(DTC_B2796)
    return memory


def _data_identifiers(vehicle: Vehicle, ref: _ServerRef, clock: FakeClock) -> list[DataIdentifier]:
    def write_vin(value: bytes) -> None:
        if not vin_check_digit_ok(value):
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "VIN check digit")
        vehicle.vin = value

    def read_security_status() -> bytes:
        return b"".join(
            bytes([item.level, item.failed_attempts])
            + math.ceil(item.delay_remaining_s).to_bytes(2, "big")
            for item in ref.get().security.status(clock.now())
        )

    def read_coolant() -> bytes:
        if not vehicle.ignition_on:
            raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "ignition off")
        return COOLANT_RAW

    def write_idle_offset(value: bytes) -> None:
        if vehicle.speed_kmh > 0:
            raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "vehicle moving")
        if value[0] > 0x10:
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "idle offset > 0x10")
        vehicle.idle_offset = value[0]

    return [
        DataIdentifier(
            DID_VIN,
            "VIN",
            read=lambda: vehicle.vin,
            write=write_vin,
            write_security=frozenset({LEVEL_DIAG}),
            write_length=17,
        ),
        DataIdentifier(DID_SERIAL_NUMBER, "ECU serial number", read=constant(SERIAL_NUMBER)),
        DataIdentifier(DID_PART_NUMBER, "part number", read=constant(PART_NUMBER)),
        DataIdentifier(DID_SYSTEM_NAME, "system name", read=constant(SYSTEM_NAME)),
        DataIdentifier(
            DID_ACTIVE_SESSION, "active session", read=lambda: bytes([ref.get().session])
        ),
        DataIdentifier(DID_SECURITY_STATUS, "security access status", read=read_security_status),
        DataIdentifier(
            DID_CALIBRATION_ID,
            "calibration id",
            read=constant(CALIBRATION_ID),
            read_security=frozenset({LEVEL_DIAG}),
        ),
        DataIdentifier(DID_COOLANT, "coolant temperature", read=read_coolant),
        DataIdentifier(
            DID_IDLE_OFFSET,
            "idle speed offset",
            read=lambda: bytes([vehicle.idle_offset]),
            write=write_idle_offset,
            write_length=1,
        ),
    ]


def _routines(vehicle: Vehicle, clock: FakeClock) -> list[Routine]:
    def start_reset(option: bytes) -> Reply:
        if option:
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "no option record expected")
        if not vehicle.ignition_on or vehicle.speed_kmh > 0:
            raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "ignition off or moving")

        def finish() -> bytes:
            vehicle.keys_erased = True
            return bytes([RoutineStatus.DONE])

        return TimedWork(clock.now() + ERASE_S, finish)

    def reset_results() -> bytes:
        return bytes([RoutineStatus.DONE if vehicle.keys_erased else RoutineStatus.RUNNING])

    def start_registration(option: bytes) -> Reply:
        if option not in (b"\x01", b"\x02"):
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "option must be 01 or 02")
        if not vehicle.master_key_present:
            raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "no master key present")
        vehicle.registration_open = True
        return bytes([RoutineStatus.RUNNING])

    def stop_registration(option: bytes) -> bytes:
        vehicle.registration_open = False
        return bytes([RoutineStatus.DONE])

    def registration_results() -> bytes:
        return bytes([RoutineStatus.RUNNING if vehicle.registration_open else RoutineStatus.DONE])

    return [
        Routine(
            RID_IMMOBILIZER_RESET,
            "immobilizer reset",
            start=start_reset,
            results=reset_results,
            security=frozenset({LEVEL_IMMO}),
        ),
        Routine(
            RID_ADDITIONAL_KEY,
            "additional key registration",
            start=start_registration,
            stop=stop_registration,
            results=registration_results,
            security=frozenset({LEVEL_DIAG}),
        ),
        Routine(RID_END_AUTO_REGISTRATION, "end automatic registration", start=lambda _: b""),
    ]


def make_bench(
    *,
    seeds: Iterable[bytes] | SeedSource | None = None,
    nvm: NvmStore | None = None,
    clock: FakeClock | None = None,
    vehicle: Vehicle | None = None,
    config: ServerConfig | None = None,
    policy: SecurityPolicy | None = None,
    with_dtcs: bool = True,
    dtcs: DtcMemory | None = None,
    extra_dids: Iterable[DataIdentifier] = (),
    extra_routines: Iterable[Routine] = (),
    security_everywhere: bool = False,
    power_on: bool = True,
) -> Bench:
    """Build the engine-like bench server (see the module docstring).

    ``seeds``: scripted seeds, a seed source, or ``None`` for a deterministic one.
    ``security_everywhere``: SecurityAccess and both levels also in the default session (to
    observe the default→default rule). ``power_on``: call ``server.power_on`` at the clock's time.
    """
    clock = clock if clock is not None else FakeClock(START_S)
    vehicle = vehicle if vehicle is not None else Vehicle()
    nvm = nvm if nvm is not None else MemoryNvm()
    if seeds is None:
        source: SeedSource = DeterministicSeedSource(2024)
    elif isinstance(seeds, SeedSource):
        source = seeds
    else:
        source = ScriptedSeedSource(seeds)
    if with_dtcs and dtcs is None:
        dtcs = default_dtc_memory()
    level_sessions = None if security_everywhere else frozenset({0x03})
    ref = _ServerRef()
    server = UdsServer(
        config=config,
        data_identifiers=[*_data_identifiers(vehicle, ref, clock), *extra_dids],
        routines=[*_routines(vehicle, clock), *extra_routines],
        dtcs=dtcs,
        security_levels=[
            SecurityLevel(LEVEL_DIAG, DIAG_ALGORITHM, "extended diagnostics", level_sessions),
            SecurityLevel(LEVEL_IMMO, IMMO_ALGORITHM, "immobilizer reset", level_sessions),
        ],
        security_policy=policy,
        seed_source=source,
        security_nvm=nvm,
    )
    ref.server = server
    if security_everywhere:
        server.services[int(Sid.SECURITY_ACCESS)] = SecurityAccessHandler(sessions=None)
    if power_on:
        server.power_on(clock.now())
    return Bench(server, clock, nvm, source, vehicle, dtcs)


def power_cycle(bench: Bench, *, nvm: NvmStore | None = None) -> Bench:
    """A new server instance (all volatile state lost) on the same NVM, clock, vehicle and seeds.

    Pass ``nvm`` to hand the new server a fresh store object on the same storage (a new
    ``FileNvm`` on the same path: a killed and restarted process)."""
    return make_bench(
        seeds=bench.seed_source,
        nvm=nvm if nvm is not None else bench.nvm,
        clock=bench.clock,
        vehicle=bench.vehicle,
        dtcs=bench.dtcs,
        with_dtcs=bench.dtcs is not None,
    )


@pytest.fixture
def bench() -> Bench:
    """The engine-like bench, powered on in the default session at START_S."""
    return make_bench()


# -- helpers that speak UDS (each asserts the bytes of the step it performs) -------------------


def key_for(level: int, seed: bytes) -> bytes:
    """The right sendKey data for ``seed`` of requestSeed level ``level``."""
    algorithm = DIAG_ALGORITHM if level == LEVEL_DIAG else IMMO_ALGORITHM
    return algorithm.compute_key(seed)


def wrong_key_for(level: int, seed: bytes) -> bytes:
    """A key of the right length that is wrong for ``seed`` (every bit flipped)."""
    return bytes(byte ^ 0xFF for byte in key_for(level, seed))


def enter_extended(bench: Bench, addressing: Addressing = PHYSICAL) -> None:
    """DiagnosticSessionControl to the extended session, asserting the positive response."""
    response = bench.handle(bytes([0x10, 0x03]), addressing)  # DSC, extendedDiagnosticSession
    assert response == bytes([0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])  # pos, 03, P2 50ms, P2* 500x10ms


def request_seed(bench: Bench, level: int) -> bytes:
    """requestSeed ``level``; assert a positive response and return the seed."""
    response = bench.handle(bytes([0x27, level]))  # SecurityAccess, requestSeed <level>
    assert response is not None
    assert response[:2] == bytes([0x67, level]), response.hex()  # positive SID, level echo
    return response[2:]


def unlock(bench: Bench, level: int) -> None:
    """requestSeed + right sendKey for ``level`` (session must allow it)."""
    seed = request_seed(bench, level)
    assert seed != bytes(len(seed)), "level already unlocked"
    response = bench.handle(bytes([0x27, level + 1]) + key_for(level, seed))  # sendKey, key
    assert response == bytes([0x67, level + 1])  # positive SID, sendKey echo


def send_wrong_key(bench: Bench, level: int) -> bytes | None:
    """requestSeed + a wrong key of the right length; return the sendKey response."""
    seed = request_seed(bench, level)
    return bench.handle(bytes([0x27, level + 1]) + wrong_key_for(level, seed))  # sendKey, bad key


def read_did(bench: Bench, did: int, addressing: Addressing = PHYSICAL) -> bytes | None:
    """ReadDataByIdentifier of one DID."""
    return bench.handle(bytes([0x22, did >> 8, did & 0xFF]), addressing)  # RDBI, DID hi, DID lo


def active_session(bench: Bench) -> int:
    """Read DID 0xF186 (itself a request: it restarts S3) and return the session byte."""
    response = read_did(bench, DID_ACTIVE_SESSION)
    assert response is not None
    assert response[:3] == bytes([0x62, 0xF1, 0x86])  # positive SID, DID F186
    assert len(response) == 4
    return response[3]


def assert_unlocked_for_level_01(bench: Bench) -> None:
    """DID 0x0110 needs level 0x01: readable when 0x01 is unlocked."""
    response = read_did(bench, DID_CALIBRATION_ID)
    assert response == bytes([0x62, 0x01, 0x10, 0x5A, 0xA5])  # positive SID, DID 0110, data 5A A5


def assert_locked_for_level_01(bench: Bench) -> None:
    """DID 0x0110 needs level 0x01: 0x33 when 0x01 is locked."""
    response = read_did(bench, DID_CALIBRATION_ID)
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied


def security_status_response(
    diag: tuple[int, int] = (0, 0), immo: tuple[int, int] = (0, 0)
) -> bytes:
    """The bench's answer to ``22 01 0C``: ``diag`` and ``immo`` are (failed attempts, delay
    remaining in whole seconds) of levels 0x01 and 0x11."""
    return bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0x01,  # DID high byte
            0x0C,  # DID low byte: security access status
            LEVEL_DIAG,  # record 1: level 0x01
            diag[0],  # level 0x01: failed attempts
            diag[1] >> 8,  # level 0x01: delay remaining, seconds, high byte
            diag[1] & 0xFF,  # level 0x01: delay remaining, seconds, low byte
            LEVEL_IMMO,  # record 2: level 0x11
            immo[0],  # level 0x11: failed attempts
            immo[1] >> 8,  # level 0x11: delay remaining, seconds, high byte
            immo[1] & 0xFF,  # level 0x11: delay remaining, seconds, low byte
        ]
    )
