"""Transponder key ECU cars: a separate immobilizer ECU grants the ECM start permission over the
body bus with the ECU-ECM communication ID (docs/immobilizer.md)."""

from __future__ import annotations

from collections.abc import Mapping

from dbc import body
from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import Ignition
from ecusim.catalog import ModelYear
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.engine import EngineEcu
from ecusim.ecus.immobilizer.config import ImmobilizerConfig
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from ecusim.ecus.key_ecu.key_store import KeySlots
from ecusim.ecus.start_control import StartPermission, StartResult
from ecusim.systems.base import CarContext, KeySystem, Provider, Publish, SignalValues, build_engine
from protocol.constants import ALL_DTC_GROUPS


def immobilizer_config(car: CarContext, **overrides: object) -> ImmobilizerConfig:
    """The immobilizer of a chart entry: its limits and addresses."""
    entry: ModelYear = car.model_year
    automatic = entry.key_limits.automatic
    additional = entry.key_limits.additional
    fields: dict[str, object] = {
        "vin": car.vin,
        "isotp": car.isotp,
        "diag_key": car.secrets.diag_key,
        "master_secret": car.secrets.master_secret,
    }
    if automatic is not None:
        fields["automatic_limits"] = KeySlots(automatic.masters, automatic.subs)
    if additional is not None:
        fields["additional_limits"] = KeySlots(additional.masters, additional.subs)
    addressing = entry.immobilizer_addressing()
    if addressing is not None:
        fields["addressing"] = addressing
    fields.update(overrides)
    return ImmobilizerConfig(**fields)  # type: ignore[arg-type]


class KeyCodeSystem(KeySystem):
    """A system whose keys go into the cylinder and whose codes one :class:`TransponderKeyEcu`
    holds: the events and the status broadcast are the same for both generations."""

    immobilizer: TransponderKeyEcu

    def key_inserted(self, key: Key, now: float) -> None:
        self.immobilizer.on_key_inserted(key, now)

    def key_removed(self, key: Key, now: float) -> None:
        self.immobilizer.on_key_removed(now)

    def ignition_changed(self, old: Ignition, new: Ignition, now: float) -> None:
        if new >= Ignition.ON > old:
            self.immobilizer.dtcs.start_operation_cycle()
        self.immobilizer.on_ignition(old, new, now)

    def brake_pressed(self, now: float) -> None:
        self.immobilizer.on_brake_pressed(now)

    def tick(self, now: float) -> None:
        self.immobilizer.tick(now)

    def install_blank_key_ecu(self) -> None:
        """A new (replacement) key-code ECU: no codes, no VIN yet, automatic registration open."""
        immobilizer = self.immobilizer
        immobilizer.keys.keep_only(set(), automatic_registration=True)
        immobilizer.install_blank_identity()  # no VIN until its one write (contract §4)
        immobilizer.dtcs.clear(ALL_DTC_GROUPS)
        immobilizer.server.security.reset_counter()
        immobilizer.server.power_on(immobilizer.server.now)  # a new part: default session, locked
        immobilizer.power_cycle()

    def providers(self) -> Mapping[str, Provider]:
        return {body.IMMOBILIZER_STATUS: self._status}

    def _status(self) -> SignalValues:
        immobilizer = self.immobilizer
        mode, code = immobilizer.indicator()
        return {
            "ImmobilizerSet": int(immobilizer.immobilizer_set),
            "IndicatorMode": int(mode),
            "IndicatorCode": code,
            "RegistrationMode": int(immobilizer.registration_mode),
            "MasterKeys": min(15, immobilizer.key_count(KeyKind.MASTER)),
            "SubKeys": min(15, immobilizer.key_count(KeyKind.SUB)),
        }


class TransponderSystem(KeyCodeSystem):
    """Engine ECU + transponder key ECU, talking over the body bus."""

    engine: EngineEcu

    def __init__(self, car: CarContext) -> None:
        super().__init__(car)
        link = car.communication_id
        self.engine = build_engine(car, link)
        self.start_control = self.engine.start_control
        self.immobilizer = TransponderKeyEcu(
            immobilizer_config(car),
            physical=car.physical,
            lock=car.lock,
            communication_id=link,
            factory_keys=self.factory_keys,
            nvm=car.nvm("immobilizer"),
            seed_source=car.seed_source,
            clock=car.clock,
        )

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        return (self.engine, self.immobilizer)

    def crank(self, publish: Publish) -> StartResult:
        publish(body.START_PERMISSION)  # the ECM hears it through the car's transmit tap
        result = self.start_control.crank()
        publish(body.ENGINE_STATUS)  # the immobilizer logs B2799 on an ID mismatch
        return result

    def providers(self) -> Mapping[str, Provider]:
        return {
            **super().providers(),
            body.START_PERMISSION: lambda: {
                "CommunicationId": self.immobilizer.communication_id,
                "StartPermitted": int(self.immobilizer.start_permitted()),
            },
        }

    def listens_to(self) -> tuple[str, ...]:
        return (body.START_PERMISSION, body.ENGINE_STATUS)

    def on_frame(self, name: str, values: Mapping[str, float | int]) -> None:
        if name == body.START_PERMISSION:
            self.start_control.on_start_permission(StartPermission.from_signals(values))
        elif name == body.ENGINE_STATUS:
            self.immobilizer.on_engine_status(
                int(values["StartAttempts"]), int(values["LastStartResult"])
            )
