"""What every key-code ECU is made of and does alike: its wiring (configuration, NVM sections,
VIN, DTC memory, key store, serial number, the UDS server built from the common diagnostic
surface and its own part) and its life cycle, the challenge that verifies a key, its timers,
the ECM's verdict on a start and the reset's preconditions."""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from typing import ClassVar, Self

from ecusim.car.keys import CHALLENGE_LENGTH, Key, aes_response
from ecusim.car.physical import Ignition, PhysicalState
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.identification import serial_number_for
from ecusim.ecus.key_ecu.config import KeyEcuConfig
from ecusim.ecus.key_ecu.diagnostics import KeyEcuSurface, build_key_ecu_server
from ecusim.ecus.key_ecu.dtcs import (
    DTC_COMMUNICATION_MALFUNCTION,
    DTC_ECM_ID_MISMATCH,
    DTC_KEY_NOT_IDENTIFIED,
    DTC_NO_COMMUNICATION,
    IMMOBILIZER_DTCS,
)
from ecusim.ecus.key_ecu.indicator import IndicatorMode
from ecusim.ecus.key_ecu.key_store import KeyStore, RegisteredKey
from ecusim.ecus.key_ecu.registration_mode import RegistrationMode
from ecusim.ecus.key_ecu.vin_memory import VinMemory
from ecusim.ecus.start_control import StartResult
from protocol.clock import Clock, MonotonicClock
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.nvm import MemoryNvm, NvmStore
from protocol.nvm_section import SharedNvm
from protocol.seed_source import SeedSource, SystemSeedSource
from protocol.uds.dtc import DtcMemory


class KeyCodeEcu(DiagnosableEcu):
    """An ECU that holds key codes, with its NVM (sections ``keys``, ``dtcs``, ``identity``,
    ``security`` and the subclass's own) and its UDS server. A subclass gives its own state
    (:meth:`_init_state`), its part of the diagnostic surface (:meth:`_surface`), how it loads or
    manufactures its NVM (:meth:`_load_or_manufacture`) and what a power cycle resets."""

    serial_prefix: ClassVar[str]
    """The first letters of the lab serial number (DID 0xF18C)."""

    def __init__(
        self,
        config: KeyEcuConfig,
        *,
        physical: PhysicalState,
        lock: threading.RLock,
        factory_keys: Sequence[Key] = (),
        nvm: NvmStore | None = None,
        seed_source: SeedSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``factory_keys``: the keys registered at manufacture, when the NVM is blank."""
        self.config = config
        self.system_name = config.system_name
        self.addressing = config.addressing
        self.isotp_parameters = config.isotp
        self.physical = physical
        self.lock = lock
        self.clock = clock if clock is not None else MonotonicClock()
        self.seed_source = seed_source if seed_source is not None else SystemSeedSource()
        self._nvm = SharedNvm(nvm if nvm is not None else MemoryNvm())
        capacity, total = config.key_capacity()
        self.keys = KeyStore(self._nvm.section("keys"), capacity, total=total)
        self._dtc_nvm = self._nvm.section("dtcs")
        self._vin = VinMemory(self._nvm.section("identity"), config.vin)
        self.dtcs = DtcMemory(IMMOBILIZER_DTCS)
        self.serial_number = config.serial_number or serial_number_for(
            self.serial_prefix, config.vin
        )
        self._seen_start_attempts: int | None = None
        self._init_state()
        # The server validates the security record first: nothing is written before.
        self.server = build_key_ecu_server(
            self,
            self._surface(),
            config=config,
            serial_number=self.serial_number,
            dtcs=self.dtcs,
            seed_source=self.seed_source,
            security_nvm=self._nvm.section("security"),
        )
        self._load_or_manufacture(factory_keys)
        self.dtcs.listeners.append(self._save_dtcs)
        self.server.reset_listeners.append(lambda reset_type: self.power_cycle())
        self.power_cycle()

    # -- what each key-code ECU gives ----------------------------------------------------------

    @abc.abstractmethod
    def _init_state(self) -> None:
        """The ECU's own NVM sections and volatile state, before its server is built."""

    @abc.abstractmethod
    def _surface(self) -> KeyEcuSurface:
        """The ECU's part of its diagnostic surface."""

    @abc.abstractmethod
    def _load_or_manufacture(self, factory_keys: Sequence[Key]) -> None:
        """Load the NVM; a blank one (never manufactured) is manufactured with
        ``factory_keys`` (use :meth:`_load_dtcs` and :meth:`_save_dtcs`)."""

    @abc.abstractmethod
    def power_cycle(self) -> None:
        """ECUReset or power loss: volatile state is lost, NVM is kept."""

    def _save_dtcs(self) -> None:
        self._dtc_nvm.save(self.dtcs.snapshot())

    def _load_dtcs(self) -> None:
        """Restore the DTC record kept in NVM (one this ECU cannot hold is corrupt)."""
        stored = self._dtc_nvm.load()
        if stored is not None:
            try:
                self.dtcs.restore(stored)
            except ValueError as exc:
                raise self._dtc_nvm.corrupt(str(exc)) from exc

    # -- state every key-code ECU shows --------------------------------------------------------

    @property
    def vin(self) -> str | None:
        """The ECU's own VIN (the Pass-Code's and the vehicle key's); ``None`` on a blank
        replacement ECU until its one write."""
        return self._vin.vin

    @property
    def vin_set(self) -> bool:
        """Whether the VIN is written: then 0x2E F190 answers 0x22 (diagnostic-contract.md §4)."""
        return self._vin.is_set

    def store_vin(self, vin: str) -> None:
        """0x2E F190 on a blank ECU: its one VIN write, kept in NVM; Pass-Codes are computed for
        it from now on. A set VIN is never written again (0x22)."""
        self._vin.store(vin)

    def install_blank_identity(self) -> None:
        """A new, blank replacement ECU: no VIN until its one 0x2E F190 write."""
        self._vin.erase_for_blank_part()

    @property
    @abc.abstractmethod
    def registration_mode(self) -> RegistrationMode:
        """DID 0x0109."""

    @abc.abstractmethod
    def indicator(self) -> tuple[IndicatorMode, int]:
        """The security indicator (DID 0x0108): its mode and flash code."""

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

    # -- what every key-code ECU does ----------------------------------------------------------

    def identify(self, key: Key, *, learn: bool = False) -> RegisteredKey | None:
        """Challenge the key. Returns what the ECU knows of the key when it answers correctly
        (``learn``: accept an unregistered key and learn its secret, for registration), else
        ``None``, logging B2796/B2797/B2798 for communication faults (domain.md)."""
        dtcs = self.dtcs
        if key.response_time_s > self.config.key_response_limit_s:
            dtcs.report_failed(DTC_KEY_NOT_IDENTIFIED)
            return None
        challenge = self.seed_source.random_bytes(CHALLENGE_LENGTH)
        answer = key.respond(challenge)
        if answer is None:
            dtcs.report_failed(DTC_NO_COMMUNICATION)
            return None
        known = self.keys.get(key.transponder_id)
        if known is None:
            if not learn:
                return None  # a key this car does not know: no fault, no start
            known = RegisteredKey.of(key)
        if aes_response(known.secret, challenge) != answer:
            dtcs.report_failed(DTC_COMMUNICATION_MALFUNCTION)
            return None
        for number in (DTC_NO_COMMUNICATION, DTC_COMMUNICATION_MALFUNCTION, DTC_KEY_NOT_IDENTIFIED):
            dtcs.report_passed(number)
        return known

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
        """Routine 0x0201 needs ignition ON and the vehicle stopped (diagnostic-contract.md §4)."""
        with self.lock:
            if self.physical.ignition < Ignition.ON:
                raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "ignition must be ON")
            if not self.physical.stopped:
                raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "vehicle must be stopped")
