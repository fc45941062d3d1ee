"""What every key system gives the vehicle: its ECUs, its keys and its start decision."""

from __future__ import annotations

import abc
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import Ignition, KeyLocation, PhysicalState
from ecusim.catalog import ModelYear
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.certification.ecu import CertificationEcu
from ecusim.ecus.engine import EngineConfig, EngineEcu
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from ecusim.ecus.start_control import StartControl, StartResult
from ecusim.errors import VehicleError
from ecusim.secret_file import LAB_SECRETS, Secrets
from protocol.clock import Clock
from protocol.isotp_binding import IsoTpParameters
from protocol.nvm import NvmStore
from protocol.seed_source import SeedSource

SignalValues = dict[str, float | int]
Provider = Callable[[], SignalValues]
Publish = Callable[[str], None]
"""Sends the named body message now (through the car's transmit tap, so the car hears it)."""


@dataclass
class CarContext:
    """What a key system needs from the vehicle that owns it."""

    model_year: ModelYear
    vin: str
    physical: PhysicalState
    lock: threading.RLock
    clock: Clock
    isotp: IsoTpParameters
    nvm: Callable[[str], NvmStore]
    seed_source: SeedSource | None
    secrets: Secrets = LAB_SECRETS
    """The master secret and level 0x01 key of every ECU of the car (docs/secrets.md)."""

    @property
    def communication_id(self) -> int:
        """The ECU-ECM communication ID shared at manufacture [LAB: derived from the VIN]."""
        return Key.derived(KeyKind.MASTER, f"{self.vin}:ecu-ecm").transponder_id & 0x0FFFFFFF

    def factory_keys(self) -> tuple[Key, ...]:
        """The keys handed out with the new car, derived from the VIN (any process can rebuild
        them) [LAB]."""
        keys = self.model_year.factory_keys
        made = [Key.derived(KeyKind.MASTER, f"{self.vin}:{i}") for i in range(keys.masters)]
        made += [Key.derived(KeyKind.SUB, f"{self.vin}:{i}") for i in range(keys.subs)]
        made += [Key.derived(KeyKind.SMART, f"{self.vin}:{i}") for i in range(keys.smart_keys)]
        return tuple(made)


def build_engine(car: CarContext, communication_id: int | None) -> EngineEcu:
    """The car's engine ECU at the chart's ECM address; ``communication_id``: the ECU-ECM ID
    it shares with the immobilizer side (``None``: no immobilizer link, it always starts)."""
    return EngineEcu(
        EngineConfig(
            vin=car.vin,
            addressing=car.model_year.ecm_addressing(),
            isotp=car.isotp,
            diag_key=car.secrets.diag_key,
        ),
        nvm=car.nvm("engine"),
        seed_source=car.seed_source,
        communication_id=communication_id,
    )


class KeySystem(abc.ABC):
    """One immobilizer generation. Every event method runs under the vehicle's lock."""

    key_kinds: ClassVar[frozenset[KeyKind]] = frozenset({KeyKind.MASTER, KeyKind.SUB})
    """The blanks that fit this car."""
    carried_keys: ClassVar[bool] = False
    """True for smart keys (carried: in the cabin, outside, at the switch); False for keys that
    go into the ignition cylinder."""
    start_control: StartControl
    engine: EngineEcu | None = None
    """The engine ECU, where it is a node of its own (``None``: the ECM holds the key codes)."""
    immobilizer: TransponderKeyEcu | None = None
    """The ECU holding the transponder key codes, the ECM itself where it holds them (``None``
    for smart key cars and cars without an immobilizer)."""
    certification: CertificationEcu | None = None
    """The smart key system's certification ECU (``None`` on other cars)."""

    def __init__(self, car: CarContext) -> None:
        self.car = car
        self.factory_keys = car.factory_keys()

    @property
    @abc.abstractmethod
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        """The diagnosable ECUs of this system, bound on the vehicle's bus."""

    def new_key(self, kind: KeyKind, rng: random.Random) -> Key:
        if kind not in self.key_kinds:
            fits = " or ".join(sorted(k.value for k in self.key_kinds))
            raise VehicleError(
                f"{self.car.model_year.name} ({self.car.model_year.system_type.label}) takes "
                f"{fits} keys: {kind.value} keys do not fit it"
            )
        return Key.blank(kind, rng)

    # -- events (defaults: nothing happens) ----------------------------------------------------

    def key_inserted(self, key: Key, now: float) -> None:
        """A key went into the cylinder (carried systems: came into the cabin)."""
        return None  # by default nothing happens

    def key_removed(self, key: Key, now: float) -> None:
        """A key left the cylinder (carried systems: left the car)."""
        return None  # by default nothing happens

    def key_moved(self, key: Key, location: KeyLocation, now: float) -> None:
        """Carried systems: a key is now at ``location`` (cabin, outside, at the switch)."""
        return None  # by default nothing happens

    def ignition_changed(self, old: Ignition, new: Ignition, now: float) -> None:
        """The power mode changed (the engine has already been stopped for OFF)."""
        return None  # by default nothing happens

    def brake_pressed(self, now: float) -> None:
        """The brake pedal was pressed once."""
        return None  # by default nothing happens

    def tick(self, now: float) -> None:
        """Time passed (called by the body thread and before DID reads)."""
        return None  # by default nothing happens

    def touch_door_handle(self, now: float) -> bool:
        """A hand on a door handle: smart entry unlocks for a registered key outside."""
        raise VehicleError(f"{self.car.model_year.name} has no smart entry")

    def install_blank_key_ecu(self) -> None:
        """Fit a new, blank key-code ECU (a replacement part)."""
        raise VehicleError(f"{self.car.model_year.name} has no key-code ECU to replace")

    @abc.abstractmethod
    def crank(self, publish: Publish) -> StartResult:
        """The starter turns: decide (over the body bus where the system does)."""

    def providers(self) -> Mapping[str, Provider]:
        """Body messages this system broadcasts."""
        return {}

    def listens_to(self) -> tuple[str, ...]:
        """Body messages this system reacts to (see :meth:`on_frame`)."""
        return ()

    def on_frame(self, name: str, values: Mapping[str, float | int]) -> None:
        """A body message this system listens to, the car's own included."""
        return None  # by default nothing happens

    def describe_keys(self) -> str:
        return ", ".join(f"{key.kind.value} {key.transponder_id:08X}" for key in self.factory_keys)
