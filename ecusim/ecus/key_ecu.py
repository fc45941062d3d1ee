"""What the ECUs that hold key codes share (the transponder key ECU and the certification
ECU): the transponder challenge with its DTCs, the VIN kept in NVM, the two security levels,
and the small encodings of their DIDs and routine options."""

from __future__ import annotations

import abc
import math
import threading
from collections.abc import Callable, Container
from typing import Self

from ecusim.car.keys import CHALLENGE_LENGTH, Key, aes_response
from ecusim.car.physical import Ignition, PhysicalState
from ecusim.catalog.vin import VinError, validate_vin
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.identification import LEVEL_EXTENDED_DIAGNOSTICS, LEVEL_IMMOBILIZER_RESET
from ecusim.ecus.immobilizer.key_store import KeyStore, RegisteredKey
from ecusim.ecus.start_control import StartResult
from protocol.clock import Clock
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.nvm import NvmStore
from protocol.passcode import PASS_CODE_LENGTH, SEED_NUMBER_LENGTH
from protocol.security_algorithms import LabDiagnosticAlgorithm, LabPassCodeAlgorithm
from protocol.seed_source import SeedSource
from protocol.uds.dtc import DtcMemory, dtc_number
from protocol.uds.security import SecurityLevel
from protocol.uds.server import UdsServer

DTC_NO_COMMUNICATION = dtc_number("B2796")
"""B2796: no communication (key code not received)."""
DTC_COMMUNICATION_MALFUNCTION = dtc_number("B2797")
"""B2797: communication malfunction 1."""
DTC_KEY_NOT_IDENTIFIED = dtc_number("B2798")
"""B2798: key code not identified within 0.15-0.5 s."""
DTC_ECM_ID_MISMATCH = dtc_number("B2799")
"""B2799: engine immobilizer malfunction (ECU-ECM communication ID mismatch)."""

# -- the diagnostic contract's identifiers (diagnostics.md §4) ---------------------------------

DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C
DID_SMART_KEYS = 0x010D
DID_REGISTRATION_REFUSAL = 0x010E
"""[LAB] The last smart key registration refusal: reason code (1 byte) + ASCII text."""

RID_RESET = 0x0201
RID_ADDITIONAL_REGISTRATION = 0x0202
RID_END_AUTOMATIC_REGISTRATION = 0x0203
RID_ERASE_KEYS = 0x0204
RID_SMART_KEY_REGISTRATION = 0x0206


class KeyCodeEcu(DiagnosableEcu):
    """What both key-holding ECUs do alike: their VIN, their timers, the ECM's verdict on a
    start, and the reset's preconditions. Subclasses set the attributes in ``__init__``."""

    lock: threading.RLock
    clock: Clock
    physical: PhysicalState
    dtcs: DtcMemory
    _vin: VinMemory
    _seen_start_attempts: int | None

    @property
    def vin(self) -> str:
        return self._vin.vin

    def store_vin(self, vin: str) -> None:
        """0x2E F190: the new VIN is kept in NVM; Pass-Codes are computed for it from now on."""
        self._vin.store(vin)

    @abc.abstractmethod
    def tick(self, now: float) -> None:
        """Apply the ECU's timers up to ``now`` (vehicle clock)."""

    def refresh(self) -> Self:
        """Apply the timers up to now (a DID read must not lag the body thread's tick)."""
        self.tick(self.server_clock_now())
        return self

    def server_clock_now(self) -> float:
        """The vehicle clock (the ECU's own waits run on it)."""
        return self.clock.now()

    def on_engine_status(self, start_attempts: int, last_start_result: int) -> None:
        """The ECM's verdict on a start attempt: an ID mismatch is DTC B2799. The ECM repeats
        its status every 100 ms; only a new attempt (a new counter value) is a new result."""
        with self.lock:
            if start_attempts == self._seen_start_attempts:
                return
            self._seen_start_attempts = start_attempts
        if last_start_result == StartResult.ID_MISMATCH:
            self.dtcs.report_failed(DTC_ECM_ID_MISMATCH)
        elif last_start_result == StartResult.STARTED:
            self.dtcs.report_passed(DTC_ECM_ID_MISMATCH)

    def check_reset_preconditions(self) -> None:
        """Routine 0x0201 needs ignition ON and the vehicle stopped (diagnostics.md §4)."""
        with self.lock:
            if self.physical.ignition < Ignition.ON:
                raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "ignition must be ON")
            if not self.physical.stopped:
                raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "vehicle must be stopped")


def challenge_key(
    key: Key,
    *,
    keys: KeyStore,
    dtcs: DtcMemory,
    seed_source: SeedSource,
    response_limit_s: float,
    learn: bool = False,
) -> RegisteredKey | None:
    """Challenge ``key``'s transponder. Returns what the ECU knows of the key when it answers
    correctly (``learn``: accept an unregistered key and learn its secret, for registration),
    else ``None``, logging B2796/B2797/B2798 for communication faults (domain.md)."""
    if key.response_time_s > response_limit_s:
        dtcs.report_failed(DTC_KEY_NOT_IDENTIFIED)
        return None
    challenge = seed_source.random_bytes(CHALLENGE_LENGTH)
    answer = key.respond(challenge)
    if answer is None:
        dtcs.report_failed(DTC_NO_COMMUNICATION)
        return None
    known = keys.get(key.transponder_id)
    if known is None:
        if not learn:
            return None  # a key this car does not know: no fault, no start
        known = RegisteredKey(key.transponder_id, key.kind, key.secret)
    if aes_response(known.secret, challenge) != answer:
        dtcs.report_failed(DTC_COMMUNICATION_MALFUNCTION)
        return None
    for number in (DTC_NO_COMMUNICATION, DTC_COMMUNICATION_MALFUNCTION, DTC_KEY_NOT_IDENTIFIED):
        dtcs.report_passed(number)
    return known


class VinMemory:
    """The VIN an ECU holds: the one it was made for, until 0x2E F190 writes another (kept in
    NVM section ``identity``)."""

    def __init__(self, nvm: NvmStore, manufactured: str) -> None:
        self._nvm = nvm
        stored = nvm.load()
        if stored is None:
            self.vin = manufactured
            return
        try:
            self.vin = validate_vin(str(stored.get("vin")))
        except VinError as exc:
            raise nvm.corrupt(f"stored VIN: {exc}") from exc

    def store(self, vin: str) -> None:
        """Write first, then use: Pass-Codes are computed for the new VIN from now on."""
        self._nvm.save({"vin": vin})
        self.vin = vin


class CurrentVinPassCode:
    """Level 0x11: the §5 Pass-Code for the VIN the ECU holds now (it may be rewritten)."""

    name = "lab-passcode"
    seed_length = SEED_NUMBER_LENGTH
    key_length = PASS_CODE_LENGTH

    def __init__(self, vin: Callable[[], str], master_secret: bytes) -> None:
        self._vin = vin
        self._master_secret = master_secret

    def compute_key(self, seed: bytes) -> bytes:
        return LabPassCodeAlgorithm(self._vin(), self._master_secret).compute_key(seed)

    def verify(self, seed: bytes, key: bytes) -> bool:
        return LabPassCodeAlgorithm(self._vin(), self._master_secret).verify(seed, key)


def key_ecu_security_levels(
    *, diag_key: bytes, vin: Callable[[], str], master_secret: bytes, reset_name: str | None
) -> list[SecurityLevel]:
    """Level 0x01 (lab diagnostic key) and, unless ``reset_name`` is ``None`` (no reset on
    this ECU), level 0x11 with the Pass-Code for the current VIN (diagnostics.md §3)."""
    levels = [
        SecurityLevel(
            LEVEL_EXTENDED_DIAGNOSTICS,
            LabDiagnosticAlgorithm(diag_key=diag_key),
            name="extended diagnostics",
        )
    ]
    if reset_name is not None:
        levels.append(
            SecurityLevel(
                LEVEL_IMMOBILIZER_RESET, CurrentVinPassCode(vin, master_secret), name=reset_name
            )
        )
    return levels


def byte_value(value: int) -> bytes:
    """One byte, clamped to 0..255."""
    return bytes([max(0, min(0xFF, value))])


def seconds_value(value: float) -> bytes:
    """Seconds rounded up, as 2 bytes big-endian (0xFFFF at most)."""
    return min(math.ceil(value), 0xFFFF).to_bytes(2, "big")


def security_status(server: UdsServer) -> bytes:
    """DID 0x010C: failed attempts (1 byte), delay remaining in seconds (2 bytes), on the
    server's clock at the request being answered."""
    security = server.security
    remaining = security.delay_remaining(server.now)
    return byte_value(security.failed_attempts) + seconds_value(remaining)


def no_option(option: bytes) -> None:
    """A routine that takes no routineControlOptionRecord: anything else is 0x31."""
    if option:
        raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "this routine takes no option")


def one_option(option: bytes, allowed: Container[int]) -> int:
    """Exactly one option byte (0x13 otherwise) from ``allowed`` (0x31 otherwise)."""
    if len(option) != 1:
        raise NegativeResponseError(
            Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT, "one option byte expected"
        )
    if option[0] not in allowed:
        raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, f"option {option[0]:#04x}")
    return option[0]
