"""Smart-key cars: certification ECU + ID code box + steering lock ECU + ECM (domain.md).

The certification ECU finds and verifies the carried smart keys (LF model [LAB]), registers
them and authorizes push-button starts; over the body bus it tells the ID code box and the
steering lock; the ID code box grants the ECM start permission with the ECU-ECM communication ID.
See docs/smart-key.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from dbc import body
from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import Ignition, KeyLocation
from ecusim.catalog import ModelYear
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.certification.config import CertificationConfig
from ecusim.ecus.certification.ecu import CABIN, CertificationEcu
from ecusim.ecus.engine import EngineEcu
from ecusim.ecus.id_code_box import IdCodeBox
from ecusim.ecus.start_control import StartPermission, StartResult
from ecusim.ecus.steering_lock import SteeringLockEcu
from ecusim.systems.base import CarContext, KeySystem, Provider, Publish, SignalValues, build_engine

logger = logging.getLogger(__name__)

MAX_SIGNAL_SECONDS = 0xFFFF
"""The largest ``WaitingPeriodRemaining`` the DBC carries."""


def certification_config(car: CarContext, **overrides: object) -> CertificationConfig:
    """The certification ECU of a chart entry: its key limit, waiting period and addresses."""
    entry: ModelYear = car.model_year
    fields: dict[str, object] = {
        "vin": car.vin,
        "isotp": car.isotp,
        "waiting_period_s": entry.waiting_period_s,
        "diag_key": car.secrets.diag_key,
        "master_secret": car.secrets.master_secret,
    }
    if entry.key_limits.smart_keys is not None:
        fields["smart_key_limit"] = entry.key_limits.smart_keys
    addressing = entry.immobilizer_addressing()
    if addressing is not None:
        fields["addressing"] = addressing
    fields.update(overrides)
    return CertificationConfig(**fields)  # type: ignore[arg-type]


class SmartKeySystem(KeySystem):
    """Engine ECU + certification ECU (diagnosable) + ID code box + steering lock ECU."""

    engine: EngineEcu
    certification: CertificationEcu

    key_kinds = frozenset({KeyKind.SMART})
    carried_keys = True

    def __init__(self, car: CarContext) -> None:
        super().__init__(car)
        link = car.communication_id
        self.engine = build_engine(car, link)
        self.start_control = self.engine.start_control
        self.certification = CertificationEcu(
            certification_config(car),
            physical=car.physical,
            lock=car.lock,
            factory_keys=self.factory_keys,
            nvm=car.nvm("certification"),
            seed_source=car.seed_source,
            clock=car.clock,
        )
        self.id_code_box = IdCodeBox(
            lock=car.lock, communication_id=link, nvm=car.nvm("id_code_box")
        )
        self.steering_lock = SteeringLockEcu(lock=car.lock)

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        return (self.engine, self.certification)

    # -- events --------------------------------------------------------------------------------

    def key_moved(self, key: Key, location: KeyLocation, now: float) -> None:
        self.certification.on_key_moved(key, location, now)

    def key_removed(self, key: Key, now: float) -> None:
        self.certification.on_key_removed(now)

    def ignition_changed(self, old: Ignition, new: Ignition, now: float) -> None:
        self.certification.on_ignition(old, new, now)

    def tick(self, now: float) -> None:
        self.certification.tick(now)

    def install_blank_key_ecu(self) -> None:
        """A new (replacement) certification ECU: no smart keys, the waiting period runs."""
        self.certification.install_blank()

    def crank(self, publish: Publish) -> StartResult:
        """Push-button start: the certification ECU verifies a key in the cabin and checks the
        brake, tells the ID code box and the steering lock (``SMART_KEY_STATUS``), the steering
        lock answers (``STEERING_LOCK_STATUS``), the ID code box grants the ECM permission
        (``START_PERMISSION``) and the ECM decides; each hears the others through the car's
        transmit tap."""
        self.certification.request_start(self.car.clock.now())
        publish(body.SMART_KEY_STATUS)
        publish(body.STEERING_LOCK_STATUS)
        publish(body.START_PERMISSION)
        result = self.start_control.crank()
        publish(body.ENGINE_STATUS)  # the certification ECU logs B2799 on an ID mismatch
        if result is not StartResult.STARTED:
            logger.info(
                "push-button start refused (%s): %s",
                result.name,
                self.certification.start_refusal or self._box_refusal(),
            )
        return result

    def _box_refusal(self) -> str:
        box = self.id_code_box
        if box.steering_locked:
            return "the steering lock did not unlock"
        if not box.start_permitted():
            return "the ID code box heard no start authorization"
        return "the ECM refused the ID code box's permission"

    def touch_door_handle(self, now: float) -> bool:
        """Smart entry [LAB]: a hand on a door handle makes the certification ECU search
        outside; a registered smart key there that answers correctly unlocks the doors.
        Returns whether they were unlocked. Runs under the vehicle's lock."""
        key = self.certification.verify_outside()
        if key is None:
            logger.info("door handle touched: no registered smart key outside, doors stay locked")
            return False
        self.car.physical.doors_locked = False
        logger.info("door handle touched: %s verified outside, doors unlocked", key)
        return True

    # -- the body network ----------------------------------------------------------------------

    def providers(self) -> Mapping[str, Provider]:
        return {
            body.IMMOBILIZER_STATUS: self.id_code_box.immobilizer_status,
            body.START_PERMISSION: self.id_code_box.start_permission,
            body.SMART_KEY_STATUS: self._smart_key_status,
            body.STEERING_LOCK_STATUS: self.steering_lock.status,
        }

    def _smart_key_status(self) -> SignalValues:
        certification = self.certification
        with self.car.lock:
            mode, code = certification.indicator()
            remaining = certification.waiting_remaining(self.car.clock.now())
            return {
                "KeyInCabin": int(bool(certification.detected(CABIN))),
                "KeyOutside": int(bool(certification.detected([KeyLocation.OUTSIDE]))),
                "KeyAtSwitch": int(bool(certification.detected([KeyLocation.SWITCH]))),
                "KeyVerified": int(certification.key_verified),
                "StartAuthorized": int(certification.start_authorized),
                "IndicatorMode": int(mode),
                "IndicatorCode": code,
                "RegistrationMode": int(certification.registration_mode),
                "SmartKeys": min(15, certification.key_count),
                "WaitingPeriodRemaining": min(MAX_SIGNAL_SECONDS, math.ceil(remaining)),
            }

    def listens_to(self) -> tuple[str, ...]:
        return (
            body.SMART_KEY_STATUS,
            body.STEERING_LOCK_STATUS,
            body.START_PERMISSION,
            body.ENGINE_STATUS,
            body.IGNITION_STATUS,
            body.DOOR_STATUS,
        )

    def on_frame(self, name: str, values: Mapping[str, float | int]) -> None:
        if name == body.SMART_KEY_STATUS:
            self.id_code_box.on_smart_key_status(values)
            self.steering_lock.on_smart_key_status(values)
        elif name == body.STEERING_LOCK_STATUS:
            self.id_code_box.on_steering_lock_status(values)
        elif name == body.START_PERMISSION:
            self.start_control.on_start_permission(StartPermission.from_signals(values))
        elif name == body.ENGINE_STATUS:
            self.certification.on_engine_status(
                int(values["StartAttempts"]), int(values["LastStartResult"])
            )
        elif name == body.IGNITION_STATUS:
            self.steering_lock.on_ignition_status(values)
        elif name == body.DOOR_STATUS:
            self.steering_lock.on_door_status(values)
