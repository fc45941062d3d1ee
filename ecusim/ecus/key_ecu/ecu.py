"""What every key-code ECU does alike: its VIN, its timers, the ECM's verdict on a start, the
reset's preconditions, and the challenge that verifies a key."""

from __future__ import annotations

import abc
import threading
from typing import Self

from ecusim.car.keys import CHALLENGE_LENGTH, Key, aes_response
from ecusim.car.physical import Ignition, PhysicalState
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.key_ecu.dtcs import (
    DTC_COMMUNICATION_MALFUNCTION,
    DTC_ECM_ID_MISMATCH,
    DTC_KEY_NOT_IDENTIFIED,
    DTC_NO_COMMUNICATION,
)
from ecusim.ecus.key_ecu.key_store import KeyStore, RegisteredKey
from ecusim.ecus.key_ecu.vin_memory import VinMemory
from ecusim.ecus.start_control import StartResult
from protocol.clock import Clock
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.seed_source import SeedSource
from protocol.uds.dtc import DtcMemory


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
