"""What the pytest plugin's fixtures are made of, usable without pytest (docs/pytest-plugin.md).

- :class:`VirtualCar`: a running car on a python-can ``virtual`` channel with a tester-side bus
  on the same channel, udsoncan clients of its ECUs, its fault plan and request record.
- :func:`client_config`: a udsoncan configuration with codecs for the diagnostic contract's DIDs
  (diagnostic-contract.md §4) and the lab level 0x01 key; never the reset level's Pass-Code, which a
  real tool gets from the portal. It, :func:`did_codecs` and :func:`lab_security_algo` are the
  client-side contract's (:mod:`ecusim.tool.contract`), re-exported here.

The portal fixture's :class:`~ecusim.testing.portal.VirtualPortal` is in
:mod:`ecusim.testing.portal`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import can
import isotp
from udsoncan.client import Client

from ecusim.car.keys import Key, KeyKind
from ecusim.car.vehicle import Vehicle, VehicleError
from ecusim.catalog.profile import CarProfile
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.key_ecu.ecu import KeyCodeEcu
from ecusim.secret_file import LAB_SECRETS, Secrets, load
from ecusim.tool.contract import (
    client_config,
    client_stack,
    did_codecs,
    lab_security_algo,
    open_client,
)
from protocol.clock import FakeClock, ScaledClock
from protocol.constants import ResetType
from protocol.seed_source import DeterministicSeedSource
from protocol.uds.faults import FaultPlan, RequestLog

__all__ = [
    "CarSpec",
    "VirtualCar",
    "client_config",
    "did_codecs",
    "lab_security_algo",
]

DEFAULT_MODEL: Final = "LS460"
DEFAULT_YEAR: Final = 2012
DEFAULT_TIME_SCALE: Final = 20.0
"""The car's own waits run 20 times fast; the ISO 14229 timers stay real-time. Longer waits (the
smart key's 16-minute waiting period) are skipped with :meth:`VirtualCar.fast_forward`."""
NOTIFIER_TIMEOUT_S: Final = 0.05


# -- the car -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarSpec:
    """The ``ecusim_car`` marker's options: which car (``model`` and ``year`` of the support
    chart, or ``car``: a car profile, its path or a :class:`CarProfile`; docs/car-profiles.md),
    its VIN (``None``: the lab VIN of its model-year), its clock speed, where it keeps its
    memory (``None``: in the process), the seed of its randomness (new keys, SecurityAccess
    seeds) and its secret file (``None``: the public lab secret; docs/secrets.md)."""

    model: str = DEFAULT_MODEL
    year: int = DEFAULT_YEAR
    vin: str | None = None
    time_scale: float = DEFAULT_TIME_SCALE
    state_dir: Path | str | None = None
    seed: int = 0
    secret_file: Path | str | None = None
    car: CarProfile | Path | str | None = None

    def __post_init__(self) -> None:
        if self.car is not None and (self.model, self.year) != (DEFAULT_MODEL, DEFAULT_YEAR):
            raise ValueError("give car= (a car profile) or model=/year=, not both")

    def secrets(self) -> Secrets:
        """The secrets of :attr:`secret_file` (the lab secret without one)."""
        return load(self.secret_file) if self.secret_file is not None else LAB_SECRETS

    def build(self) -> Vehicle:
        options: dict[str, Any] = {
            "state_dir": self.state_dir,
            "time_scale": self.time_scale,
            "seed": self.seed,
            "seed_source": DeterministicSeedSource(self.seed),
            "secrets": self.secrets(),
        }
        if self.car is not None:
            return Vehicle.from_profile(self.car, self.vin, **options)
        return Vehicle.from_catalog(self.model, self.year, self.vin, **options)


@dataclass
class VirtualCar:
    """A running car on a python-can ``virtual`` channel and a tester's bus on it.

    ``bus`` is the tester's own: a can-isotp stack or a listener goes on :attr:`notifier` (one
    Notifier per bus, python-can 4.6), not on ``bus.recv()`` once a client exists.
    """

    vehicle: Vehicle
    channel: str
    bus: can.BusABC
    """The tester side: a python-can bus on the car's channel."""
    car_bus: can.BusABC
    """The car's side of the channel."""
    _notifier: can.Notifier | None = field(default=None, repr=False)
    _clients: dict[str, Client] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def run(cls, vehicle: Vehicle, channel: str) -> VirtualCar:
        """Start ``vehicle`` on the virtual ``channel`` and open a tester bus beside it."""
        protocol = can.CanProtocol.CAN_FD if vehicle.isotp.fd else can.CanProtocol.CAN_20
        car_bus = can.Bus(interface="virtual", channel=channel, protocol=protocol)
        try:
            vehicle.start(car_bus)
        except BaseException:
            car_bus.shutdown()
            raise
        tester = can.Bus(interface="virtual", channel=channel, protocol=protocol)
        return cls(vehicle, channel, tester, car_bus)

    @classmethod
    def start(cls, channel: str, spec: CarSpec | None = None) -> VirtualCar:
        return cls.run((spec if spec is not None else CarSpec()).build(), channel)

    # -- what the car is ----------------------------------------------------------------------

    @property
    def vin(self) -> str:
        return self.vehicle.vin

    @property
    def faults(self) -> FaultPlan:
        return self.vehicle.faults

    @property
    def requests(self) -> RequestLog:
        return self.vehicle.requests

    def ecu(self, name: str | None = None) -> DiagnosableEcu:
        """The diagnosable ECU called ``name`` (``ecu.name``); ``None``: :attr:`key_ecu`."""
        if name is None:
            return self.key_ecu
        for ecu in self.vehicle.ecus:
            if ecu.name == name:
                return ecu
        names = ", ".join(ecu.name for ecu in self.vehicle.ecus)
        raise VehicleError(f"{self.vehicle.model_year.name} has no ECU {name!r}: {names}")

    @property
    def key_ecu(self) -> DiagnosableEcu:
        """The ECU holding the key codes: the transponder key ECU (0x750/0x758, 0x57), the
        certification ECU (0x750/0x758, 0xB5), or the ECM (0x7E0/0x7E8) where it holds them
        itself or there is no immobilizer."""
        for ecu in self.vehicle.ecus:
            if isinstance(ecu, KeyCodeEcu):
                return ecu
        return self.ecu("engine")

    def isotp_address(self, ecu: str | None = None) -> isotp.Address:
        """The tester's can-isotp address of an ECU (default the key ECU), from its own
        addressing: requests on its request ID, responses on its response ID."""
        return self.ecu(ecu).addressing.tester_address()

    def isotp_params(self, ecu: str | None = None) -> dict[str, Any]:
        """can-isotp ``params`` matching an ECU (default the key ECU): its padding (0xCC, or
        its car profile's), CAN-FD if it uses it."""
        settings = self.ecu(ecu).isotp_parameters
        return {
            "tx_padding": settings.padding,
            "tx_data_length": 64 if settings.fd else 8,
            "tx_data_min_length": 8 if settings.padding is not None else None,
            "can_fd": settings.fd,
            "bitrate_switch": settings.bitrate_switch,
            "blocking_send": False,
        }

    # -- the tester side ----------------------------------------------------------------------

    @property
    def notifier(self) -> can.Notifier:
        """The tester bus's Notifier (created on first use): attach stacks and listeners."""
        with self._lock:
            if self._notifier is None:
                self._notifier = can.Notifier(self.bus, [], timeout=NOTIFIER_TIMEOUT_S)
            return self._notifier

    def stack(self, ecu: str | None = None) -> isotp.NotifierBasedCanStack:
        """A new can-isotp stack to an ECU (default the key ECU) on :attr:`notifier`; start it
        (and stop it) yourself. One stack per ECU at a time: two would both answer its frames."""
        return client_stack(
            self.bus, self.notifier, self.ecu(ecu).addressing, params=self.isotp_params(ecu)
        )

    def client(self, ecu: str | None = None) -> Client:
        """The opened udsoncan client of an ECU (default the key ECU), made on first use with
        :func:`client_config`; the same object on every call. Closed by :meth:`close`."""
        target = self.ecu(ecu)
        with self._lock:
            client = self._clients.get(target.name)
            if client is None:
                client = open_client(
                    self.bus,
                    self.notifier,
                    target.addressing,
                    params=self.isotp_params(target.name),
                    # lab_security_algo unlocks level 0x01 with the car's own K_diag
                    config=client_config(security_algo_params=self.vehicle.secrets.diag_key),
                )
                self._clients[target.name] = client
            return client

    # -- the car's inputs ---------------------------------------------------------------------

    def ready_for_reset(self) -> Key:
        """The bulletin's conditions for the reset: a registered key in the car (in the cylinder,
        or a smart key in the cabin), ignition ON, vehicle stopped. Returns the key."""
        vehicle = self.vehicle
        with vehicle.lock:
            vehicle.set_speed(0.0)
            key = vehicle.physical.inserted_key
            if key is None:
                key = self._a_factory_key()
                vehicle.present_key(key)
            vehicle.set_ignition("on")
            return key

    def _a_factory_key(self) -> Key:
        keys = self.vehicle.factory_keys
        for kind in (KeyKind.MASTER, KeyKind.SMART):
            for key in keys:
                if key.kind is kind:
                    return key
        if keys:
            return keys[0]
        raise VehicleError(f"{self.vehicle.model_year.name} has no factory key")

    def fast_forward(self, seconds: float) -> float:
        """Jump the car's own clock ``seconds`` forward (the waiting period, the relock delay,
        a registration window run out at once) and let the car act on it; returns the car's new
        time. The ISO 14229 timers (P2, S3, the SecurityAccess delay) are real time and do not
        jump: a session stays open."""
        vehicle = self.vehicle
        clock = vehicle.clock
        if not isinstance(clock, ScaledClock | FakeClock):
            raise VehicleError(
                f"the car's clock {type(clock).__name__} cannot be fast-forwarded "
                "(a ScaledClock or a FakeClock can)"
            )
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not (math.isfinite(seconds) and seconds >= 0)
        ):
            raise VehicleError(f"fast_forward takes seconds >= 0, got {seconds!r}")
        now = clock.advance(seconds)
        with vehicle.lock:
            vehicle.system.tick(now)  # what the body thread does next, done now
        return now

    def power_cycle(self) -> None:
        """Power off and on again on the same channel and state folder (ISO 14229-1 §10.3: as
        after a hardReset or a power loss): every ECU boots in the default session with its
        security levels locked and its volatile state lost; its NVM (key codes, DTCs, attempt
        counters) is kept. The physical inputs (keys, ignition switch, speed) stay as they are;
        the tester bus and its clients stay open."""
        vehicle = self.vehicle
        vehicle.stop()
        now = vehicle.protocol_clock.now()
        for ecu in vehicle.ecus:
            ecu.server.power_on(now)
            for listener in list(ecu.server.reset_listeners):
                listener(ResetType.HARD_RESET)  # the ECU's own volatile state
        vehicle.start(self.car_bus)

    def close(self) -> None:
        """Close the clients, stop the car, shut both buses down (each step bounded)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            notifier, self._notifier = self._notifier, None
        try:
            for client in clients:
                client.close()
            if notifier is not None:
                notifier.stop(timeout=1.0)
            self.vehicle.stop()
        finally:
            self.bus.shutdown()
            self.car_bus.shutdown()
