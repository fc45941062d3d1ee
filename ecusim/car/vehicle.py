"""A simulated vehicle: its ECUs on one bus connection, its physical inputs, its clock.

The embedding API (``Vehicle.from_catalog``, ``running``, ``factory_keys``, ``new_key``,
``present_key``, ``withdraw_key``, ``set_ignition``, ``press_brake``, ``set_speed``,
``start_engine``) is a contract: scan-tool developers' tests call it. Who may start the car is
the business of its key system (:mod:`ecusim.systems`), one per immobilizer generation.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import can

from dbc import body
from ecusim.car.body_network import BodyBroadcaster
from ecusim.car.body_signals import BodySignals
from ecusim.car.car_profile import fit_profile
from ecusim.car.keyless import KeylessCommand, Remote, RemoteButton, RemoteResult, RomChip
from ecusim.car.keyless_setup import KeylessSetup
from ecusim.car.keys import Key, KeyKind
from ecusim.car.lab_control import BodyFrames, LabControl
from ecusim.car.physical import DOORS, Ignition, KeyLocation, PhysicalState
from ecusim.car.state_folder import (
    FolderLock,
    StateFolderError,
    check_owner,
    describe_owner,
    remove_interrupted_saves,
    stamp_owner,
)
from ecusim.catalog import Catalog, ModelYear
from ecusim.catalog.profile import CarProfile, load_profile
from ecusim.catalog.vin import lab_vin, validate_written_vin
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.certification.ecu import CertificationEcu
from ecusim.ecus.engine import EngineEcu
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from ecusim.ecus.key_ecu.key_store import RegisteredKey
from ecusim.errors import VehicleError
from ecusim.secret_file import LAB_SECRETS, Secrets, load
from ecusim.systems.base import CarContext, KeySystem
from ecusim.systems.registry import build_key_system
from protocol.can_bus import BusConnection
from protocol.clock import Clock, MonotonicClock, ScaledClock
from protocol.errors import ConfigurationError
from protocol.isotp_binding import IsoTpParameters, UdsIsoTpBinding
from protocol.nvm import FileNvm, JsonValue, MemoryNvm, NvmStore
from protocol.security_algorithms import AlgorithmContext
from protocol.seed_source import SeedSource
from protocol.uds.faults import FaultInjector, FaultPlan, RequestLog

__all__ = ["Vehicle", "VehicleError"]

logger = logging.getLogger(__name__)

BODY_TICK_S = 0.01
"""Real seconds between two turns of the body thread (controls, ECU timers, broadcasts)."""

MAX_SPEED_KMH = 655.35
"""The largest speed the DBC's ``VehicleSpeed`` carries."""


class Vehicle:
    """One car: build it with :meth:`from_catalog`, run it on a bus with :meth:`running`.

    ``faults``: the car's :class:`~protocol.uds.faults.FaultPlan` (delayed, dropped or forced
    negative responses, extra 0x78s; a rule targets an ECU by its ``ecu.name``). ``requests``:
    the :class:`~protocol.uds.faults.RequestLog` of every diagnostic request its ECUs received,
    with what they sent back. Both are shared by the car's ECUs (in memory only).
    """

    def __init__(
        self,
        model_year: ModelYear,
        vin: str,
        *,
        state_dir: Path | str | None = None,
        clock: Clock | None = None,
        time_scale: float = 1.0,
        seed: int | None = None,
        seed_source: SeedSource | None = None,
        isotp: IsoTpParameters | None = None,
        secrets: Secrets | Path | str | None = None,
    ) -> None:
        if clock is not None and time_scale != 1.0:
            raise ConfigurationError("give either a clock or a time scale, not both")
        self.model_year = model_year
        self.vin = validate_written_vin(vin)
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        # ISO 14229 timers (P2, S3, 0x78 repeats, the SecurityAccess delay) are protocol time:
        # a time scale speeds up the car's own waits only. An injected clock drives both.
        self.protocol_clock: Clock = clock if clock is not None else MonotonicClock()
        self.body_clock: Clock = self.protocol_clock
        """The clock of the periodic body broadcasts: real time, so the DBC's cycle times
        (GenMsgCycleTime) hold whatever the time scale (docs/body-network.md)."""
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.isotp = isotp if isotp is not None else IsoTpParameters()
        # None: the public lab secret, with a warning at start; LAB_SECRETS given: chosen, quiet.
        self._secrets_chosen = secrets is not None
        if secrets is None:
            self.secrets: Secrets = LAB_SECRETS
        else:
            self.secrets = secrets if isinstance(secrets, Secrets) else load(secrets)
        self.lock = threading.RLock()
        self.physical = PhysicalState()
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self._rng = random.Random(seed)
        self._memory: dict[str, MemoryNvm] = {}
        self.identity: dict[str, JsonValue] = {
            "vin": self.vin,
            "model": model_year.model,
            "year": model_year.year,
        }
        """Who the state belongs to: written into every NVM file of the car (its ``owner``)."""
        self._folder_lock = FolderLock(self.state_dir) if self.state_dir is not None else None
        context = CarContext(
            model_year=model_year,
            vin=self.vin,
            physical=self.physical,
            lock=self.lock,
            clock=self.clock,
            isotp=self.isotp,
            nvm=self._nvm,
            seed_source=seed_source,
            secrets=self.secrets,
        )
        builder = build_key_system(model_year)  # refuses what is not simulated, before any I/O
        # The folder is locked while the car is built (the ECUs manufacture their NVM) and while
        # it runs, never in between: two cars can be built one after the other in one process.
        try:
            self._check_identity()
            self.system: KeySystem = builder(context)
            self.keyless = KeylessSetup(model_year, self.vin, self._nvm("keyless"))
        finally:
            if self._folder_lock is not None:
                self._folder_lock.release()
        self._connection: BusConnection | None = None
        self._owns_connection = False
        self._bindings: list[UdsIsoTpBinding] = []
        self._controls: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self._body_thread: threading.Thread | None = None
        self._last_failure_log = 0.0
        self._broadcaster = BodyBroadcaster(
            BodySignals(self.physical, self.system, self.keyless).providers()
        )
        self._frames = BodyFrames(
            LabControl(self, self.system, self.physical, self.lock),
            connection=lambda: self.connection,
            defer=self._controls.put,
        )

    @classmethod
    def from_catalog(
        cls,
        model: str,
        year: int,
        vin: str | None = None,
        *,
        state_dir: Path | str | None = None,
        clock: Clock | None = None,
        time_scale: float = 1.0,
        seed: int | None = None,
        seed_source: SeedSource | None = None,
        isotp: IsoTpParameters | None = None,
        secrets: Secrets | Path | str | None = None,
    ) -> Vehicle:
        """The car of the support chart's ``model`` and ``year`` (``CatalogError`` if unknown).
        ``vin``: default a lab VIN for the model-year. ``state_dir``: keep each ECU's NVM there
        (else in memory). ``clock`` or ``time_scale``: the vehicle clock (long waits run fast).
        ``isotp``: transport parameters of every ECU (e.g. ``IsoTpParameters(fd=True)``).
        ``secrets``: the master secret and level 0x01 key, or the path of a secret file
        (``None``: the public lab secret, with a warning at start; docs/secrets.md)."""
        entry = Catalog.load().lookup(model, year)
        return cls(
            entry,
            vin if vin is not None else lab_vin(entry.model, entry.year),
            state_dir=state_dir,
            clock=clock,
            time_scale=time_scale,
            seed=seed,
            seed_source=seed_source,
            isotp=isotp,
            secrets=secrets,
        )

    @classmethod
    def from_profile(
        cls,
        profile: CarProfile | Path | str,
        vin: str | None = None,
        *,
        state_dir: Path | str | None = None,
        clock: Clock | None = None,
        time_scale: float = 1.0,
        seed: int | None = None,
        seed_source: SeedSource | None = None,
        isotp: IsoTpParameters | None = None,
        secrets: Secrets | Path | str | None = None,
    ) -> Vehicle:
        """The car a car profile describes (a :class:`~ecusim.catalog.profile.CarProfile` or
        the path of its TOML file; docs/car-profiles.md): its nodes at the profile's addresses
        with its padding, timing, security algorithms and extra DIDs. A malformed profile
        raises :class:`~ecusim.catalog.profile.ProfileError` (one line naming the key). The
        other arguments are :meth:`from_catalog`'s (``isotp``: the base the profile refines)."""
        if not isinstance(profile, CarProfile):
            profile = load_profile(profile)
        entry = profile.model_year
        car = cls(
            entry,
            vin if vin is not None else lab_vin(entry.model, entry.year),
            state_dir=state_dir,
            clock=clock,
            time_scale=time_scale,
            seed=seed,
            seed_source=seed_source,
            isotp=isotp,
            secrets=secrets,
        )
        context = AlgorithmContext(
            vin=car.vin, master_secret=car.secrets.master_secret, diag_key=car.secrets.diag_key
        )
        fit_profile(car.ecus, profile, context)
        return car

    # -- construction --------------------------------------------------------------------------

    def _nvm(self, name: str) -> NvmStore:
        if self.state_dir is None:
            return self._memory.setdefault(name, MemoryNvm())
        store = FileNvm(self.state_dir / f"{name}.nvm.json", kind=name, owner=self.identity)
        store.check_writable()
        return store

    def _check_identity(self) -> None:
        """A state directory belongs to one car: refuse it for another VIN or model-year, by
        any of its NVM files (each carries its car's identity), before anything is written;
        then lock it and write the car's record."""
        if self.state_dir is None or self._folder_lock is None:
            return
        check_owner(self.state_dir, self.identity)  # read-only: a refused folder is untouched
        self._folder_lock.acquire()  # before any write, even of the record
        check_owner(self.state_dir, self.identity)  # what the last holder left
        remove_interrupted_saves(self.state_dir)  # locked: no save of ours or another car runs
        store = self._nvm("vehicle")
        stored = store.load()
        if stored is None:
            others = sorted(
                path.name
                for path in self.state_dir.glob("*.nvm.json")
                if path.name != "vehicle.nvm.json"
            )
            if others:  # files whose car cannot be told: never take them over
                raise StateFolderError(
                    f"state folder {self.state_dir} has {', '.join(others)} but no car record "
                    "(vehicle.nvm.json): its car cannot be told, so it is not used (move the "
                    "folder away to build the car anew)"
                )
            store.save(self.identity)
            return
        if stored != self.identity:
            raise VehicleError(
                f"state in {self.state_dir} belongs to {describe_owner(stored)}, not "
                f"{describe_owner(self.identity)}: use another state directory (or delete this "
                "one to build the car anew)"
            )
        # A folder of an earlier ecusim: its record vouches for its files, which get the owner.
        stamp_owner(self.state_dir, self.identity)

    # -- what the car is made of ---------------------------------------------------------------

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        """The diagnosable ECUs, each with its UDS server and addresses."""
        return self.system.ecus

    @property
    def factory_keys(self) -> tuple[Key, ...]:
        """The keys handed out with the new car (registered at manufacture)."""
        return self.system.factory_keys

    @property
    def registered_keys(self) -> tuple[RegisteredKey, ...] | None:
        """The keys the key-code ECU holds now (after any reset and new registrations), in its
        order; ``None`` for a car without one (no immobilizer: every key fits)."""
        holder = self.system.immobilizer or self.system.certification
        if holder is None:
            return None
        return tuple(holder.keys.all())

    @property
    def remotes(self) -> tuple[Remote, ...]:
        """The keyless-entry remotes handed out with the car (or with its current ROM kit)."""
        return self.keyless.remotes

    @property
    def engine(self) -> EngineEcu:
        """The engine ECU (ECM), where it is a node of its own."""
        engine = self.system.engine
        if engine is None:
            raise VehicleError(f"{self.model_year.name}: the ECM holds the key codes itself")
        return engine

    @property
    def immobilizer(self) -> TransponderKeyEcu | None:
        """The ECU holding the transponder key codes (``None`` for smart or no immobilizer)."""
        return self.system.immobilizer

    @property
    def certification(self) -> CertificationEcu | None:
        """The smart key system's certification ECU (``None`` on other cars)."""
        return self.system.certification

    @property
    def engine_running(self) -> bool:
        return self.system.start_control.engine_running

    # -- running on a bus ----------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self, bus: can.BusABC | BusConnection) -> Iterator[Vehicle]:
        """Run on ``bus`` (a python-can bus, or a :class:`BusConnection` to share) until the
        block ends. The bus itself is not shut down."""
        self.start(bus)
        try:
            yield self
        finally:
            self.stop()

    def start(self, bus: can.BusABC | BusConnection) -> None:
        if self._connection is not None:
            raise VehicleError("the vehicle is already running")
        if self._folder_lock is not None:
            self._folder_lock.acquire()  # no other car may run on the state folder meanwhile
        if isinstance(bus, BusConnection):
            connection, self._owns_connection = bus, False
        else:
            connection, self._owns_connection = BusConnection(bus, owns_bus=False), True
        self._connection = connection
        connection.subscribe(self._frames.on_frame)
        try:
            for ecu in self.ecus:
                binding = ecu.binding(
                    connection.tx_bus,
                    connection.notifier,
                    self.protocol_clock,
                    interceptor=FaultInjector(self.faults, self.requests),
                )
                binding.start()
                self._bindings.append(binding)
        except Exception:
            self.stop()
            raise
        self._stop.clear()
        self._body_thread = threading.Thread(target=self._body_loop, name="body", daemon=True)
        self._body_thread.start()
        logger.info("%s VIN %s running", self.model_year.name, self.vin)
        if not self._secrets_chosen:
            logger.warning(
                "%s VIN %s runs on the public lab secret (anyone can compute its Pass-Codes): "
                "give Vehicle(secrets=<secret file>) (docs/secrets.md)",
                self.model_year.name,
                self.vin,
            )

    def stop(self) -> None:
        self._stop.set()
        if self._body_thread is not None:
            self._body_thread.join(timeout=2.0)
            self._body_thread = None
        # Each binding's stop waits for its threads: stop them side by side.
        stoppers = [threading.Thread(target=binding.stop) for binding in self._bindings]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self._bindings.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.unsubscribe(self._frames.on_frame)
            if self._owns_connection:
                connection.close()
        if self._folder_lock is not None:
            self._folder_lock.release()

    @property
    def is_running(self) -> bool:
        return self._connection is not None

    def _require_running(self) -> None:
        if self._connection is None:
            raise VehicleError("the vehicle is not running: use vehicle.running(bus)")

    @property
    def connection(self) -> BusConnection:
        if self._connection is None:
            raise VehicleError("the vehicle is not running: use vehicle.running(bus)")
        return self._connection

    def describe(self) -> list[str]:
        """One line per diagnosable ECU: name, system, addresses."""
        return [ecu.describe() for ecu in self.ecus]

    # -- keys ----------------------------------------------------------------------------------

    def new_key(self, kind: KeyKind | str) -> Key:
        """A new, unregistered key blank for this car (``"master"``, ``"sub"`` or ``"smart"``,
        whichever the car's system takes)."""
        try:
            key_kind = KeyKind(kind.lower() if isinstance(kind, str) else kind)
        except ValueError:
            raise VehicleError(f"unknown key kind {kind!r}: master, sub or smart") from None
        return self.system.new_key(key_kind, self._rng)

    def present_key(self, key: Key, where: KeyLocation | str | None = None) -> None:
        """Cylinder cars: insert ``key`` into the ignition. Smart cars: bring it ``where``
        (``"cabin"`` by default, ``"outside"`` near a door, ``"switch"`` touching the engine
        switch, which is how a smart key is registered)."""
        with self.lock:
            if self.system.carried_keys:
                location = _carried_location(where)
                already = self.physical.carried.get(key)
                self.physical.carried[key] = location
                if already is None:
                    self.system.key_inserted(key, self.clock.now())
                self.system.key_moved(key, location, self.clock.now())
                return
            if where not in (None, KeyLocation.CYLINDER, KeyLocation.CYLINDER.value):
                raise VehicleError(f"{self.model_year.name}: keys go into the ignition cylinder")
            if self.physical.inserted_key is not None:
                if self.physical.inserted_key == key:
                    return
                raise VehicleError(f"{self.physical.inserted_key} is in the cylinder: withdraw it")
            self.physical.inserted_key = key
            self.system.key_inserted(key, self.clock.now())

    def withdraw_key(self, key: Key | None = None) -> None:
        """Cylinder cars: turn the key to OFF (if it was not) and pull it out. Smart cars: take
        ``key`` (default every key) away from the car."""
        with self.lock:
            if self.system.carried_keys:
                leaving = [key] if key is not None else list(self.physical.carried)
                for item in leaving:
                    if self.physical.carried.pop(item, None) is not None:
                        self.system.key_removed(item, self.clock.now())
                return
            inserted = self.physical.inserted_key
            if inserted is None:
                return
            if key is not None and key != inserted:
                raise VehicleError(f"{key} is not in the cylinder ({inserted} is)")
            self._change_ignition(Ignition.OFF)
            self.physical.inserted_key = None
            self.system.key_removed(inserted, self.clock.now())

    def touch_door_handle(self) -> bool:
        """Smart-key cars: a hand on a door handle; a registered key outside unlocks the doors
        (returns whether they unlocked). Other cars: :class:`VehicleError`."""
        with self.lock:
            return self.system.touch_door_handle(self.clock.now())

    def install_blank_key_ecu(self) -> None:
        """Fit a new, blank ECU in place of the one holding the key codes (immobilizer, or the
        ECM on ECM-integrated cars): no codes stored, automatic registration open, and no VIN
        until the one 0x2E F190 write it accepts (diagnostic-contract.md §4)."""
        with self.lock:
            self.system.install_blank_key_ecu()

    # -- inputs --------------------------------------------------------------------------------

    def set_ignition(self, state: str | Ignition | int) -> None:
        """Turn the ignition (power mode) to ``"off"``, ``"acc"`` or ``"on"``; use
        :meth:`start_engine` to crank. Cylinder cars need a key in for ACC/ON."""
        target = _parse_ignition(state)
        if target is Ignition.START:
            raise VehicleError("use start_engine() to crank the engine")
        with self.lock:
            needs_key = not self.system.carried_keys
            if needs_key and target is not Ignition.OFF and self.physical.inserted_key is None:
                raise VehicleError("insert a key before turning the ignition")
            self._change_ignition(target)

    def press_brake(self) -> None:
        """Press and release the brake pedal once."""
        with self.lock:
            self.system.brake_pressed(self.clock.now())

    def set_brake(self, pressed: bool) -> None:
        """Hold (``True``) or release the brake pedal; pressing counts as a press."""
        with self.lock:
            if pressed and not self.physical.brake_pressed:
                self.system.brake_pressed(self.clock.now())
            self.physical.brake_pressed = pressed

    def set_speed(self, kmh: float) -> None:
        if (
            isinstance(kmh, bool)
            or not isinstance(kmh, int | float)
            or not 0 <= kmh <= MAX_SPEED_KMH
        ):
            raise VehicleError(f"speed must be 0..{MAX_SPEED_KMH} km/h, got {kmh}")
        with self.lock:
            self.physical.speed_kmh = float(kmh)

    def set_door(self, door: str, is_open: bool) -> None:
        if door not in DOORS:
            raise VehicleError(f"unknown door {door!r}: one of {', '.join(DOORS)}")
        with self.lock:
            self.physical.doors_open[door] = is_open

    def start_engine(self) -> bool:
        """Crank the engine; returns whether it runs. Who may start it is the key system's
        decision (over the body bus where the car does it that way)."""
        with self.lock:
            self._require_running()
            control = self.system.start_control
            if control.engine_running:
                return True
            if not self.system.carried_keys and self.physical.inserted_key is None:
                logger.info("start refused: no key in the cylinder")
                return False
            previous = max(self.physical.ignition, Ignition.ON)
            self._change_ignition(Ignition.START)
            try:
                self.system.crank(lambda name: self._broadcaster.send_now(name, self._frames.send))
            except can.CanError as exc:
                logger.warning("start failed: the car could not send on the bus: %s", exc)
                control.stop_engine()
            finally:
                self._change_ignition(previous)  # the key springs back from START
            return control.engine_running

    def _change_ignition(self, target: Ignition) -> None:
        old = self.physical.ignition
        if old == target:
            return
        self.physical.ignition = target
        if target is Ignition.OFF:
            self.system.start_control.stop_engine()
        self.system.ignition_changed(old, target, self.clock.now())

    # -- keyless entry -------------------------------------------------------------------------

    def press_remote(self, remote: Remote, button: RemoteButton | str | int) -> RemoteResult:
        """Press a keyless-entry remote's button: the receiver locks or unlocks the doors only
        for a code it knows (its ROM's, or one it learnt)."""
        choice = _parse_button(button)
        with self.lock:
            result = self.keyless.receiver.press(remote, choice)
            if result.accepted and result.command is not KeylessCommand.PANIC:
                self.physical.doors_locked = result.command is KeylessCommand.LOCK
            self._publish_now(body.KEYLESS_ENTRY)
            return result

    def learn_remote(self, remote: Remote) -> None:
        """Pair a remote: programmable receivers learn it (4 slots, oldest dropped); the ROM
        receiver refuses (:class:`~ecusim.car.keyless.LearnRefusedError`)."""
        with self.lock:
            self.keyless.learn(remote)

    def swap_rom(self, rom: RomChip) -> None:
        """Swap the receiver's ROM (ROM receivers only): only the new kit's remotes work."""
        with self.lock:
            self.keyless.swap_rom(rom)

    def new_rom_kit(self, remotes: int = 2) -> tuple[RomChip, tuple[Remote, ...]]:
        """A new ROM with its remotes, as the parts counter sells them (89705-5094x)."""
        return RomChip.kit(remotes, self._rng)

    # -- the body network ----------------------------------------------------------------------

    def _publish_now(self, name: str) -> None:
        if self._connection is not None:
            self._broadcaster.send_now(name, self._frames.send)

    def _body_loop(self) -> None:
        while not self._stop.is_set():
            try:
                command = self._controls.get(timeout=BODY_TICK_S)
            except queue.Empty:
                command = None
            try:
                if command is not None:
                    command()
                self._tick()
            except Exception as exc:  # the car keeps running whatever one step did
                self._report_body_failure(exc)

    def _report_body_failure(self, exc: Exception) -> None:
        """Log a failing body step, at most once a second (a dead bus fails every tick)."""
        now = time.monotonic()
        if now - self._last_failure_log >= 1.0:
            logger.error("body step failed: %r", exc)
            self._last_failure_log = now

    def _tick(self) -> None:
        connection = self._connection
        if connection is None:
            return
        with self.lock:
            self.system.tick(self.clock.now())
            self.broadcast_due(self._frames.send)

    def broadcast_due(self, send: Callable[[can.Message], None]) -> None:
        """Hand ``send`` the body messages whose cycle time has passed on :attr:`body_clock`
        (the body thread calls it every turn with the car's transmit tap)."""
        with self.lock:
            self._broadcaster.tick(self.body_clock.now(), send)


def _carried_location(where: KeyLocation | str | None) -> KeyLocation:
    """Where a smart key can be: the cabin (default), outside, or at the engine switch."""
    if where is None:
        return KeyLocation.CABIN
    try:
        location = KeyLocation(str(where).lower())
    except ValueError:
        location = KeyLocation.CYLINDER
    if location is KeyLocation.CYLINDER:
        raise VehicleError(f"a smart key is carried: cabin, outside or switch, not {where!r}")
    return location


def _parse_ignition(state: str | Ignition | int) -> Ignition:
    if isinstance(state, Ignition):
        return state
    if isinstance(state, int) and not isinstance(state, bool) and state in set(Ignition):
        return Ignition(state)
    try:
        return Ignition[str(state).upper()]
    except KeyError:
        raise VehicleError(f"ignition must be off, acc or on, got {state!r}") from None


def _parse_button(button: RemoteButton | str | int) -> RemoteButton:
    if isinstance(button, RemoteButton):
        return button
    try:
        if isinstance(button, int):
            return RemoteButton(button)
        return RemoteButton[str(button).upper()]
    except (KeyError, ValueError):
        raise VehicleError(f"remote button must be lock, unlock or panic, got {button!r}") from None
