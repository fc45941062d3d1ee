"""The certification ECU: finds and verifies the smart keys, registers them, authorizes starts.

Behaviour follows domain.md and docs/smart-key.md; the diagnostic surface is in
:mod:`ecusim.ecus.certification.diagnostics`. Every method that touches the car's state runs under
the vehicle's lock; the UDS server calls in under its own lock first (server → vehicle order).

LF model [LAB]: a smart key is *detected* in the cabin when it is carried at location ``cabin``
or ``switch`` and outside at ``outside``; only smart keys answer the LF search. A detected key is
*verified* by an AES-128 challenge-response with the secret learnt at registration. The search
runs on every event that could change its outcome (a key moving, the ignition, the key store),
which is what the real 0.25 s LF poll would find.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import Ignition, KeyLocation
from ecusim.ecus.certification.config import CertificationConfig, RegistrationRefusal
from ecusim.ecus.certification.diagnostics import certification_surface
from ecusim.ecus.key_ecu.diagnostics import KeyEcuSurface
from ecusim.ecus.key_ecu.ecu import KeyCodeEcu
from ecusim.ecus.key_ecu.indicator import FlashCode, IndicatorMode
from ecusim.ecus.key_ecu.key_store import RegisteredKey
from ecusim.ecus.key_ecu.registration_mode import RegistrationMode
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.uds.routines import RoutineStatus

logger = logging.getLogger(__name__)

CABIN = frozenset({KeyLocation.CABIN, KeyLocation.SWITCH})
"""Where the cabin LF antennas find a key (the engine switch is inside the cabin)."""

_REFUSAL_FLASH_CODES = {
    RegistrationRefusal.ALREADY_REGISTERED: FlashCode.ALREADY_REGISTERED,
    RegistrationRefusal.LIMIT_REACHED: FlashCode.OVER_LIMIT,
}
"""Flash code of a refused touch at the engine switch; any other refusal flashes 2-1."""


class CertificationEcu(KeyCodeEcu):
    """A certification ECU with its smart key codes, NVM and UDS server."""

    name = "certification"
    serial_prefix = "CER"
    config: CertificationConfig

    def _init_state(self) -> None:
        self._refusal_nvm = self._nvm.section("registration_log")
        # Volatile state (lost at power-off):
        self._verified_id: int | None = None
        self.start_authorized = False
        self.start_refusal: str | None = None
        """Why the last push-button start was not authorized (``None``: it was)."""
        self._flash_code: int | None = None
        self._waiting_ends_at: float | None = None
        self._registration_requested = False
        self._registration_open = False
        self.registration_status = RoutineStatus.DONE

    def _surface(self) -> KeyEcuSurface:
        return certification_surface(self)

    def power_cycle(self) -> None:
        """ECUReset or power loss: volatile state is lost, NVM (keys, DTCs, refusal log) is
        kept. The waiting period starts again from its full length [LAB]."""
        with self.lock:
            now = self.clock.now()
            self._verified_id = None
            self.start_authorized = False
            self.start_refusal = None
            self._flash_code = None
            self._registration_requested = False
            self._registration_open = False
            self.registration_status = RoutineStatus.DONE
            self._waiting_ends_at = None
            if self.physical.ignition >= Ignition.ON:
                self._waiting_ends_at = now + self.config.waiting_period_s
            self._search_cabin()

    # -- manufacture and NVM -------------------------------------------------------------------

    def _load_or_manufacture(self, factory_keys: Sequence[Key]) -> None:
        if not self.keys.load():
            smart = [key for key in factory_keys if key.kind is KeyKind.SMART]
            logger.info("certification ECU NVM blank: manufacturing with %d keys", len(smart))
            kept = smart[: self.config.smart_key_limit]
            self.keys.manufacture(
                [RegisteredKey.of(key) for key in kept], automatic_registration=False
            )
            self._save_dtcs()
        else:
            self._load_dtcs()
        self.refusal = self._load_refusal()

    def _load_refusal(self) -> RegistrationRefusal:
        stored = self._refusal_nvm.load()
        if stored is None:
            return RegistrationRefusal.NONE
        reason = stored.get("reason")
        if isinstance(reason, bool) or not isinstance(reason, int):
            raise self._refusal_nvm.corrupt(f"reason={reason!r} is not a number")
        try:
            return RegistrationRefusal(reason)
        except ValueError:
            raise self._refusal_nvm.corrupt(f"unknown refusal reason {reason}") from None

    def install_blank(self) -> None:
        """A new (replacement) certification ECU: no smart keys, no refusal logged, no VIN until
        its one 0x2E F190 write (diagnostic-contract.md §4)."""
        with self.lock:
            self.keys.keep_only(set(), automatic_registration=False)
            self.install_blank_identity()
            self._log_refusal(RegistrationRefusal.NONE)
            self.power_cycle()

    # -- derived state -------------------------------------------------------------------------

    @property
    def key_count(self) -> int:
        """Registered smart keys (DID 0x010D)."""
        return self.keys.count(KeyKind.SMART)

    @property
    def immobilizer_set(self) -> bool:
        """Set unless a registered smart key is verified in the cabin (DID 0x0101)."""
        with self.lock:
            return self._verified_id is None

    @property
    def key_verified(self) -> bool:
        return not self.immobilizer_set

    @property
    def registration_open(self) -> bool:
        with self.lock:
            return self._registration_open

    @property
    def registration_mode(self) -> RegistrationMode:
        """DID 0x0109: 4 while registration is open; 3 while no key is stored (the waiting
        period runs, or has run and 0x0206 has not opened registration yet); else 0."""
        with self.lock:
            if self._registration_open:
                return RegistrationMode.SMART_OPEN
            if self.key_count == 0:
                return RegistrationMode.SMART_WAITING
            return RegistrationMode.NORMAL

    def waiting_remaining(self, now: float) -> float:
        """Seconds of the waiting period left (DID 0x010B): the full period while the ignition
        is not ON (it counts only with the ignition ON [LAB]); 0 once registration is open or
        when keys are stored."""
        with self.lock:
            if self._registration_open or self.key_count > 0:
                return 0.0
            if self._waiting_ends_at is None:
                return self.config.waiting_period_s
            return max(0.0, self._waiting_ends_at - now)

    def indicator(self) -> tuple[IndicatorMode, int]:
        """The security indicator (DID 0x0108): a flash code after a refused touch; steady
        while registration is open; blinking while the immobilizer is set; otherwise off."""
        with self.lock:
            if self._flash_code is not None:
                return IndicatorMode.FLASHING_CODE, self._flash_code
            if self._registration_open:
                return IndicatorMode.STEADY, 0
            if self.immobilizer_set:
                return IndicatorMode.BLINKING, 0
            return IndicatorMode.OFF, 0

    def detected(self, locations: Iterable[KeyLocation]) -> list[Key]:
        """The smart keys the LF antennas find at ``locations`` (any key, registered or not)."""
        wanted = frozenset(locations)
        with self.lock:
            return [
                key
                for key, where in self.physical.carried.items()
                if where in wanted and key.kind is KeyKind.SMART
            ]

    # -- events from the car -------------------------------------------------------------------

    def on_key_moved(self, key: Key, location: KeyLocation, now: float) -> None:
        with self.lock:
            self._advance(now)
            if location is KeyLocation.SWITCH:
                self._touch_switch(key)
            elif not self.detected([KeyLocation.SWITCH]):
                self._flash_code = None  # the code shows while the refused key is at the switch
            self._search_cabin()

    def on_key_removed(self, now: float) -> None:
        with self.lock:
            self._advance(now)
            if not self.detected([KeyLocation.SWITCH]):
                self._flash_code = None
            self._search_cabin()

    def on_ignition(self, old: Ignition, new: Ignition, now: float) -> None:
        """Ignition ON starts the waiting period's count; leaving ON (ACC or OFF) restarts it
        from its full length, closes registration and ends a start authorization [LAB]."""
        with self.lock:
            if new >= Ignition.ON > old:
                self.dtcs.start_operation_cycle()
                self._waiting_ends_at = now + self.config.waiting_period_s
            elif old >= Ignition.ON > new:
                self._waiting_ends_at = None
                self.start_authorized = False
                if self._registration_open or self._registration_requested:
                    logger.info("ignition off: smart key registration closed")
                    self._close_registration()
            self._search_cabin()
            self._advance(now)

    def tick(self, now: float) -> None:
        with self.lock:
            self._advance(now)

    def _advance(self, now: float) -> None:
        """Registration opens by itself once requested (0x0206) and the waiting period has
        run with the ignition ON."""
        if (
            self._registration_requested
            and not self._registration_open
            and self.key_count == 0
            and self.physical.ignition >= Ignition.ON
            and self.waiting_remaining(now) <= 0
        ):
            self._registration_open = True
            logger.info("waiting period over: smart key registration open")

    # -- verification --------------------------------------------------------------------------

    def _search_cabin(self) -> None:
        """The cabin LF search: the first registered key that answers correctly is verified;
        without one the immobilizer is set and a start authorization ends."""
        verified = None
        for key in self.detected(CABIN):
            if self.identify(key) is not None:
                verified = key.transponder_id
                break
        if verified != self._verified_id:
            logger.info(
                "immobilizer %s",
                "set: no verified key in the cabin"
                if verified is None
                else f"unset: {verified:08X}",
            )
        self._verified_id = verified
        if verified is None:
            self.start_authorized = False

    def identify(self, key: Key, *, learn: bool = False) -> RegisteredKey | None:
        if key.kind is not KeyKind.SMART:
            return None  # a transponder key has no LF receiver: it never answers
        return super().identify(key, learn=learn)

    def request_start(self, now: float) -> bool:
        """The engine switch is pushed: authorize the start only with a registered key verified
        in the cabin, the brake pressed and registration closed. The reason of a refusal is
        logged and kept in :attr:`start_refusal`."""
        with self.lock:
            self._advance(now)
            self._search_cabin()
            refusal = None
            if self._registration_open or self.key_count == 0:
                refusal = "smart key registration is not finished"
            elif self._verified_id is None:
                refusal = "no registered smart key verified in the cabin"
            elif not self.physical.brake_pressed:
                refusal = "the brake pedal is not pressed"
            self.start_authorized = refusal is None
            self.start_refusal = refusal
            if refusal is None:
                logger.info("start authorized: %08X verified, brake pressed", self._verified_id)
            else:
                logger.info("start not authorized: %s", refusal)
            return self.start_authorized

    def verify_outside(self) -> Key | None:
        """Smart entry: the outside LF search; the first registered key that answers
        correctly, or ``None``."""
        with self.lock:
            for key in self.detected([KeyLocation.OUTSIDE]):
                if self.identify(key) is not None:
                    return key
            return None

    # -- registration --------------------------------------------------------------------------

    def _touch_switch(self, key: Key) -> None:
        """A key touches the engine switch: while registration is open, a new smart key is
        registered; otherwise nothing (outside registration modes the switch is just part of
        the cabin)."""
        if self.registration_mode is RegistrationMode.NORMAL:
            return
        refusal = self._touch_refusal(key)
        if refusal is None:
            learned = self.identify(key, learn=True)
            if learned is None:
                refusal = RegistrationRefusal.KEY_NOT_VERIFIED
            else:
                self.keys.add(learned)
                self._flash_code = None
                logger.info("registered %s (%d of %d)", key, self.key_count, self._limit)
                if self.key_count >= self._limit:
                    logger.info("smart key limit reached: registration closed")
                    self._close_registration()
                return
        self._flash_code = int(_REFUSAL_FLASH_CODES.get(refusal, FlashCode.REGISTRATION_FAILED))
        self._log_refusal(refusal)

    @property
    def _limit(self) -> int:
        return self.config.smart_key_limit

    def _touch_refusal(self, key: Key) -> RegistrationRefusal | None:
        if self.physical.speed_kmh >= self.config.registration_speed_limit_kmh:
            return RegistrationRefusal.VEHICLE_MOVING
        if not self._registration_open:
            return RegistrationRefusal.WAITING_PERIOD
        if key.kind is not KeyKind.SMART:
            return RegistrationRefusal.NOT_A_SMART_KEY
        if self.keys.get(key.transponder_id) is not None:
            return RegistrationRefusal.ALREADY_REGISTERED
        if self.key_count >= self._limit:
            return RegistrationRefusal.LIMIT_REACHED
        return None

    def _log_refusal(self, reason: RegistrationRefusal) -> None:
        """Keep the reason in NVM (DID 0x010E) before it shows."""
        self._refusal_nvm.save({"reason": int(reason)})
        self.refusal = reason
        if reason is not RegistrationRefusal.NONE:
            logger.info("smart key registration refused: %s", reason.text)

    def _refuse(self, reason: RegistrationRefusal) -> NegativeResponseError:
        self._log_refusal(reason)
        return NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, reason.text)

    def start_registration(self, now: float) -> None:
        """Routine 0x0206 start: only with no keys stored (or while registration is open),
        ignition ON, below 5 km/h; registration opens once the waiting period has run."""
        with self.lock:
            self._advance(now)
            if self.key_count > 0 and not self._registration_open:
                raise self._refuse(RegistrationRefusal.KEYS_STORED)
            if self.physical.ignition < Ignition.ON:
                raise self._refuse(RegistrationRefusal.IGNITION_NOT_ON)
            if self.physical.speed_kmh >= self.config.registration_speed_limit_kmh:
                raise self._refuse(RegistrationRefusal.VEHICLE_MOVING)
            self._registration_requested = True
            self.registration_status = RoutineStatus.RUNNING
            self._advance(now)

    def stop_registration(self) -> None:
        """Routine 0x0206 stop: registration closes (done with ≥ 1 key, else failed)."""
        with self.lock:
            if self._registration_open or self._registration_requested:
                logger.info("smart key registration closed by the tester")
                self._close_registration()

    def _close_registration(self) -> None:
        self._registration_requested = False
        self._registration_open = False
        if self.registration_status is RoutineStatus.RUNNING:
            self.registration_status = (
                RoutineStatus.DONE if self.key_count > 0 else RoutineStatus.FAILED
            )

    # -- reset ---------------------------------------------------------------------------------

    def reset_all_keys(self, now: float) -> None:
        """Erase every smart key code; the waiting period starts (the ignition is ON)."""
        with self.lock:
            self.keys.keep_only(set(), automatic_registration=False)
            self._close_registration()
            self._flash_code = None
            self._waiting_ends_at = (
                now + self.config.waiting_period_s
                if self.physical.ignition >= Ignition.ON
                else None
            )
            self._search_cabin()
            logger.info(
                "smart key reset: all keys erased, waiting period of %g s",
                self.config.waiting_period_s,
            )
