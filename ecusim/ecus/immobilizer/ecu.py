"""The transponder key ECU: verifies keys, grants the ECM start permission, registers keys.

Behaviour follows the reset bulletin and domain.md; the diagnostic surface is in
:mod:`ecusim.ecus.immobilizer.diagnostics`. Every method that touches the car's state runs under
the vehicle's lock; the UDS server calls in under its own lock first (server → vehicle order).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence

from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import Ignition, PhysicalState
from ecusim.ecus.immobilizer.config import ImmobilizerConfig
from ecusim.ecus.immobilizer.diagnostics import transponder_surface
from ecusim.ecus.key_ecu.diagnostics import KeyEcuSurface
from ecusim.ecus.key_ecu.ecu import KeyCodeEcu
from ecusim.ecus.key_ecu.indicator import FlashCode, IndicatorMode
from ecusim.ecus.key_ecu.key_store import KeySlots, RegisteredKey
from ecusim.ecus.key_ecu.registration_mode import RegistrationMode
from protocol.clock import Clock
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.nvm import NvmStore
from protocol.seed_source import SeedSource

logger = logging.getLogger(__name__)


class TransponderKeyEcu(KeyCodeEcu):
    """A transponder key ECU with its key codes, NVM and UDS server."""

    name = "immobilizer"
    serial_prefix = "IMM"
    config: ImmobilizerConfig

    def __init__(
        self,
        config: ImmobilizerConfig,
        *,
        physical: PhysicalState,
        lock: threading.RLock,
        communication_id: int,
        factory_keys: Sequence[Key] = (),
        nvm: NvmStore | None = None,
        seed_source: SeedSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``communication_id``: the ECU-ECM ID shared with the ECM at manufacture (stored in
        NVM when it is blank; the stored one wins afterwards)."""
        self.communication_id = communication_id
        super().__init__(
            config,
            physical=physical,
            lock=lock,
            factory_keys=factory_keys,
            nvm=nvm,
            seed_source=seed_source,
            clock=clock,
        )

    def _init_state(self) -> None:
        self._link = self._nvm.section("ecm_link")
        # Volatile state (lost at power-off):
        self.immobilizer_set = True
        self._set_at: float | None = None
        self._flash_code: int | None = None
        self._ready_pending = False
        self._brake_presses: deque[float] = deque(maxlen=max(1, self.config.brake_presses))
        self._additional_kind: KeyKind | None = None
        self._additional_deadline: float | None = None
        self.additional_status = 0

    def _surface(self) -> KeyEcuSurface:
        return transponder_surface(self)

    def power_cycle(self) -> None:
        """ECUReset or power loss: volatile state is lost, NVM (keys, modes, DTCs) is kept."""
        with self.lock:
            self.immobilizer_set = True
            self._set_at = None
            self._flash_code = None
            self._ready_pending = False
            self._brake_presses.clear()
            self._close_additional(status=0)

    # -- manufacture and NVM -------------------------------------------------------------------

    def _load_or_manufacture(self, factory_keys: Sequence[Key]) -> None:
        if not self.keys.load():
            logger.info("immobilizer NVM blank: manufacturing with %d keys", len(factory_keys))
            self.keys.manufacture(  # first: refused before anything is written if too many
                [RegisteredKey.of(key) for key in factory_keys],
                automatic_registration=not factory_keys,
            )
            self._link.save({"communication_id": self.communication_id})
            self._save_dtcs()
            return
        link = self._link.load()
        stored = link.get("communication_id") if link else None
        if isinstance(stored, bool) or not isinstance(stored, int) or not 0 <= stored <= 0xFFFFFFFF:
            raise self._link.corrupt(f"communication_id={stored!r} is not a 32-bit number")
        self.communication_id = stored
        self._load_dtcs()

    # -- derived state -------------------------------------------------------------------------

    @property
    def registration_mode(self) -> RegistrationMode:
        with self.lock:
            if self._additional_deadline is not None:
                return RegistrationMode.ADDITIONAL
            if self.keys.automatic_registration:
                return RegistrationMode.AUTOMATIC
            return RegistrationMode.NORMAL

    def indicator(self) -> tuple[IndicatorMode, int]:
        """The security indicator (DID 0x0108): a flash code first; steady while waiting for a
        key in registration; blinking while set with no key in; otherwise off."""
        with self.lock:
            if self._flash_code is not None:
                return IndicatorMode.FLASHING_CODE, self._flash_code
            if self._ready_pending:
                return IndicatorMode.FLASHING_CODE, self.config.ready_code
            key_in = self.physical.inserted_key is not None
            if self.registration_mode is not RegistrationMode.NORMAL and not key_in:
                return IndicatorMode.STEADY, 0
            if self.immobilizer_set and not key_in:
                return IndicatorMode.BLINKING, 0
            return IndicatorMode.OFF, 0

    def start_permitted(self) -> bool:
        with self.lock:
            return not self.immobilizer_set and self.registration_mode is RegistrationMode.NORMAL

    def key_count(self, kind: KeyKind) -> int:
        return self.keys.count(kind)

    # -- events from the car -------------------------------------------------------------------

    def on_key_inserted(self, key: Key, now: float) -> None:
        with self.lock:
            self._ready_pending = False  # the ready code shows until the first key goes in
            mode = self.registration_mode
            if mode is RegistrationMode.AUTOMATIC:
                self._register(key, self.config.automatic_limits, automatic=True)
            elif mode is RegistrationMode.ADDITIONAL:
                self._register_additional(key)
            if self.physical.ignition >= Ignition.ON:
                self._verify_for_start(key, now)

    def on_key_removed(self, now: float) -> None:
        with self.lock:
            self._flash_code = None
            self._set("key removed")

    def on_ignition(self, old: Ignition, new: Ignition, now: float) -> None:
        with self.lock:
            key = self.physical.inserted_key
            turned_on = new >= Ignition.ON and old < Ignition.ON
            cranking_while_set = new == Ignition.START and self.immobilizer_set
            if key is not None and (turned_on or cranking_while_set):
                self._verify_for_start(key, now)
            if new == Ignition.OFF and old != Ignition.OFF and not self.immobilizer_set:
                self._set_at = now + self.config.relock_delay_s

    def on_brake_pressed(self, now: float) -> None:
        """Pressing the brake 5 times within 15 s ends automatic registration once ≥ 1 master is
        registered (domain.md)."""
        with self.lock:
            presses = self._brake_presses
            presses.append(now)
            if (
                self.registration_mode is RegistrationMode.AUTOMATIC
                and len(presses) == presses.maxlen
                and presses[-1] - presses[0] <= self.config.brake_window_s
                and self.keys.count(KeyKind.MASTER) >= 1
            ):
                logger.info("brake pressed %d times: automatic registration ends", len(presses))
                self.keys.set_automatic_registration(False)
                presses.clear()

    def tick(self, now: float) -> None:
        """Time passes: the immobilizer sets 20 s after ignition off; the additional
        registration window closes after 30 s."""
        with self.lock:
            if self._set_at is not None and now >= self._set_at:
                self._set("ignition off for the relock delay")
            if self._additional_deadline is not None and now >= self._additional_deadline:
                logger.info("additional registration window expired")
                self._close_additional(status=2)

    # -- verification --------------------------------------------------------------------------

    def _verify_for_start(self, key: Key, now: float) -> None:
        registered = self.identify(key)
        if registered is not None and not self.keys.automatic_registration:
            self.immobilizer_set = False
            self._set_at = None
            logger.info("%s verified: immobilizer unset", key)

    def present_master(self) -> RegisteredKey | None:
        """The inserted key if it is a registered master that answers correctly."""
        key = self.physical.inserted_key
        if key is None:
            return None
        known = self.identify(key)
        return known if known is not None and known.kind is KeyKind.MASTER else None

    def _set(self, why: str) -> None:
        if not self.immobilizer_set:
            logger.info("immobilizer set: %s", why)
        self.immobilizer_set = True
        self._set_at = None

    # -- registration --------------------------------------------------------------------------

    def _register(self, key: Key, limits: KeySlots, *, automatic: bool) -> bool:
        """Register ``key`` within ``limits``; flash 2-1 / 2-2 / 2-3 when it cannot be."""
        failure = self._registration_failure(key, limits, automatic=automatic)
        if failure is None:
            learned = self.identify(key, learn=True)
            if learned is None:
                failure = FlashCode.REGISTRATION_FAILED
            else:
                self.keys.add(self._code_kind(learned))
                logger.info("registered %s", key)
        if failure is not None:
            logger.info("registration of %s refused: code %d", key, failure)
            self._flash_code = int(failure)
            return False
        if automatic and self._automatic_complete(limits):
            logger.info("automatic registration complete: limits reached")
            self.keys.set_automatic_registration(False)
        return True

    def _code_kind(self, learned: RegisteredKey) -> RegisteredKey:
        """The code as stored: as the key was learnt."""
        return learned

    def _automatic_complete(self, limits: KeySlots) -> bool:
        return all(
            self.keys.count(kind) >= limits.limit(kind) for kind in (KeyKind.MASTER, KeyKind.SUB)
        )

    def _registration_failure(
        self, key: Key, limits: KeySlots, *, automatic: bool
    ) -> FlashCode | None:
        if key.kind is KeyKind.SMART:
            return FlashCode.REGISTRATION_FAILED
        if self.keys.get(key.transponder_id) is not None:
            return FlashCode.ALREADY_REGISTERED
        return self._memory_failure(key, limits, automatic=automatic)

    def _memory_failure(self, key: Key, limits: KeySlots, *, automatic: bool) -> FlashCode | None:
        """Why the key memory takes no ``key`` within ``limits`` (``None``: it does)."""
        if self.keys.count(key.kind) >= limits.limit(key.kind):
            return FlashCode.OVER_LIMIT
        if automatic and key.kind is KeyKind.SUB and self.keys.count(KeyKind.MASTER) == 0:
            return FlashCode.REGISTRATION_FAILED  # [LAB] the first key must be a master
        return None

    def _register_additional(self, key: Key) -> None:
        if self.keys.get(key.transponder_id) is not None:
            if key.kind is KeyKind.MASTER:
                return  # the master that opened the window, or another registered master
            self._flash_code = FlashCode.ALREADY_REGISTERED
            return
        if key.kind is not self._additional_kind:
            self._flash_code = FlashCode.REGISTRATION_FAILED
            self._close_additional(status=2)
            return
        registered = self._register(key, self.config.additional_limits, automatic=False)
        self._close_additional(status=0 if registered else 2)

    def open_additional_registration(self, kind: KeyKind, now: float) -> None:
        with self.lock:
            if self.registration_mode is not RegistrationMode.NORMAL:
                raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "not in normal mode")
            if self.present_master() is None:
                raise NegativeResponseError(
                    Nrc.CONDITIONS_NOT_CORRECT, "a registered master key must be inserted"
                )
            self._additional_kind = kind
            self._additional_deadline = now + self.config.additional_window_s
            self.additional_status = 1

    def additional_remaining(self, now: float) -> float:
        with self.lock:
            if self._additional_deadline is None:
                return 0.0
            return max(0.0, self._additional_deadline - now)

    def _close_additional(self, *, status: int) -> None:
        self._additional_kind = None
        self._additional_deadline = None
        self.additional_status = status

    def close_additional_registration(self) -> None:
        with self.lock:
            if self._additional_deadline is not None:
                self._close_additional(status=2)

    def erase(self, *, keep_present_master: bool) -> None:
        """Erase keys (routine 0x0204): all but the inserted master, or all."""
        with self.lock:
            master = self.present_master()
            if master is None:
                raise NegativeResponseError(
                    Nrc.CONDITIONS_NOT_CORRECT, "a registered master key must be inserted"
                )
            keep = {master.transponder_id} if keep_present_master else set()
            self.keys.keep_only(keep, automatic_registration=not keep)
            self._brake_presses.clear()
            self._close_additional(status=self.additional_status)
            self._set("keys erased")

    def end_automatic_registration(self) -> None:
        with self.lock:
            if self.registration_mode is not RegistrationMode.AUTOMATIC:
                raise NegativeResponseError(
                    Nrc.CONDITIONS_NOT_CORRECT, "automatic registration is not running"
                )
            if self.keys.count(KeyKind.MASTER) < 1:
                raise NegativeResponseError(
                    Nrc.CONDITIONS_NOT_CORRECT, "at least one master key must be registered"
                )
            self.keys.set_automatic_registration(False)

    # -- reset ---------------------------------------------------------------------------------

    def reset_all_keys(self) -> None:
        """Erase every key code and open automatic registration; the ready code flashes."""
        with self.lock:
            self.keys.keep_only(set(), automatic_registration=True)
            self._close_additional(status=0)
            self.immobilizer_set = True
            self._set_at = None
            self._flash_code = None
            self._ready_pending = True
            self._brake_presses.clear()
            logger.info("immobilizer reset: all keys erased, automatic registration open")
