"""A simulated vehicle: its ECUs on one bus connection, its physical inputs, its clock.

The embedding API (``Vehicle.from_catalog``, ``running``, ``factory_keys``, ``new_key``,
``present_key``, ``withdraw_key``, ``set_ignition``, ``press_brake``, ``set_speed``,
``start_engine``) is a contract: scan-tool developers' tests call it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import can

from dbc import body
from ecusim.body_network import BodyBroadcaster, body_message, frame_ids
from ecusim.bus import BusConnection
from ecusim.catalog import Catalog, ModelYear, SystemType
from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.engine import EngineConfig, EngineEcu
from ecusim.ecus.immobilizer.config import ImmobilizerConfig
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from ecusim.ecus.immobilizer.key_store import KeySlots
from ecusim.ecus.start_control import StartPermission, StartResult
from ecusim.keys import InvalidKeyError, Key, KeyKind
from ecusim.physical import DOORS, Ignition, PhysicalState
from ecusim.vin import lab_vin, validate_vin
from protocol.clock import Clock, ScaledClock
from protocol.errors import ConfigurationError
from protocol.isotp_binding import IsoTpParameters, UdsIsoTpBinding
from protocol.nvm import FileNvm, JsonValue, MemoryNvm, NvmStore
from protocol.seed_source import SeedSource

logger = logging.getLogger(__name__)

BODY_TICK_S = 0.01
"""Real seconds between two turns of the body thread (controls, ECU timers, broadcasts)."""

MAX_SPEED_KMH = 655.35
"""The largest speed the DBC's ``VehicleSpeed`` carries."""


class VehicleError(ValueError):
    """A call the car cannot honour in its current state, or that makes no sense for it."""


class Vehicle:
    """One car: build it with :meth:`from_catalog`, run it on a bus with :meth:`running`."""

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
    ) -> None:
        if clock is not None and time_scale != 1.0:
            raise ConfigurationError("give either a clock or a time scale, not both")
        self.model_year = model_year
        self.vin = validate_vin(vin)
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.isotp = isotp if isotp is not None else IsoTpParameters()
        self.lock = threading.RLock()
        self.physical = PhysicalState()
        self._rng = random.Random(seed)
        self._memory: dict[str, MemoryNvm] = {}
        self._check_simulated()
        self._check_identity()
        self.factory_keys: tuple[Key, ...] = self._factory_keys()
        self.engine, self.immobilizer = self._build_ecus(seed_source)
        self._connection: BusConnection | None = None
        self._owns_connection = False
        self._bindings: list[UdsIsoTpBinding] = []
        self._controls: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self._body_thread: threading.Thread | None = None
        self._broadcaster = BodyBroadcaster(self._providers())
        self._wanted = frame_ids(
            body.START_PERMISSION, body.ENGINE_STATUS, *body.control_messages()
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
    ) -> Vehicle:
        """The car of the support chart's ``model`` and ``year`` (``CatalogError`` if unknown).
        ``vin``: default a lab VIN for the model-year. ``state_dir``: keep each ECU's NVM there
        (else in memory). ``clock`` or ``time_scale``: the vehicle clock (long waits run fast).
        ``isotp``: transport parameters of every ECU (e.g. ``IsoTpParameters(fd=True)``)."""
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
        )

    # -- construction --------------------------------------------------------------------------

    def _nvm(self, name: str) -> NvmStore:
        if self.state_dir is None:
            return self._memory.setdefault(name, MemoryNvm())
        store = FileNvm(self.state_dir / f"{name}.nvm.json", kind=name)
        store.check_writable()
        return store

    def _check_identity(self) -> None:
        """A state directory belongs to one car: refuse it for another VIN or model-year."""
        store = self._nvm("vehicle")
        identity: dict[str, JsonValue] = {
            "vin": self.vin,
            "model": self.model_year.model,
            "year": self.model_year.year,
        }
        stored = store.load()
        if stored is None:
            store.save(identity)
        elif stored != identity:
            where = self.state_dir if self.state_dir is not None else "memory"
            raise VehicleError(
                f"state in {where} belongs to {stored.get('model')} {stored.get('year')} VIN "
                f"{stored.get('vin')}, not {self.model_year.name} VIN {self.vin}: use another "
                "state directory (or delete this one to build the car anew)"
            )

    def _check_simulated(self) -> None:
        """Refuse a system this version does not simulate before claiming any state."""
        entry = self.model_year
        if entry.system_type is not SystemType.TRANSPONDER_KEY_ECU:
            raise VehicleError(
                f"{entry.name}: the {entry.system_type.value} system is not simulated yet; "
                "transponder key ECU cars are (e.g. LS430 2001-2006)"
            )

    def _factory_keys(self) -> tuple[Key, ...]:
        keys = self.model_year.factory_keys
        made = [Key.derived(KeyKind.MASTER, f"{self.vin}:{i}") for i in range(keys.masters)]
        made += [Key.derived(KeyKind.SUB, f"{self.vin}:{i}") for i in range(keys.subs)]
        return tuple(made)

    def _communication_id(self) -> int:
        """The ECU-ECM communication ID shared at manufacture [LAB: derived from the VIN]."""
        return Key.derived(KeyKind.MASTER, f"{self.vin}:ecu-ecm").transponder_id & 0x0FFFFFFF

    def _build_ecus(
        self, seed_source: SeedSource | None
    ) -> tuple[EngineEcu, TransponderKeyEcu | None]:
        entry = self.model_year
        link = self._communication_id()
        engine = EngineEcu(
            EngineConfig(vin=self.vin, addressing=entry.ecm_addressing(), isotp=self.isotp),
            nvm=self._nvm("engine"),
            seed_source=seed_source,
            communication_id=link,
        )
        limits = entry.key_limits
        automatic = limits.automatic
        additional = limits.additional
        addressing = entry.immobilizer_addressing()
        assert automatic is not None and additional is not None and addressing is not None
        immobilizer = TransponderKeyEcu(
            ImmobilizerConfig(
                vin=self.vin,
                automatic_limits=KeySlots(automatic.masters, automatic.subs),
                additional_limits=KeySlots(additional.masters, additional.subs),
                addressing=addressing,
                isotp=self.isotp,
            ),
            physical=self.physical,
            lock=self.lock,
            communication_id=link,
            factory_keys=self.factory_keys,
            nvm=self._nvm("immobilizer"),
            seed_source=seed_source,
            clock=self.clock,
        )
        return engine, immobilizer

    @property
    def ecus(self) -> tuple[DiagnosableEcu, ...]:
        """The diagnosable ECUs, each with its UDS server and addresses."""
        ecus: list[DiagnosableEcu] = [self.engine]
        if self.immobilizer is not None:
            ecus.append(self.immobilizer)
        return tuple(ecus)

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
        if isinstance(bus, BusConnection):
            connection, self._owns_connection = bus, False
        else:
            connection, self._owns_connection = BusConnection(bus, owns_bus=False), True
        self._connection = connection
        connection.subscribe(self._on_frame)
        try:
            for ecu in self.ecus:
                binding = ecu.binding(connection.tx_bus, connection.notifier, self.clock)
                binding.start()
                self._bindings.append(binding)
        except Exception:
            self.stop()
            raise
        self._stop.clear()
        self._body_thread = threading.Thread(target=self._body_loop, name="body", daemon=True)
        self._body_thread.start()
        logger.info("%s VIN %s running", self.model_year.name, self.vin)

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
            connection.unsubscribe(self._on_frame)
            if self._owns_connection:
                connection.close()

    @property
    def is_running(self) -> bool:
        return self._connection is not None

    @property
    def connection(self) -> BusConnection:
        if self._connection is None:
            raise VehicleError("the vehicle is not running: use vehicle.running(bus)")
        return self._connection

    def describe(self) -> list[str]:
        """One line per diagnosable ECU: name, system, addresses."""
        return [ecu.describe() for ecu in self.ecus]

    # -- the physical API ----------------------------------------------------------------------

    def new_key(self, kind: KeyKind | str) -> Key:
        """A new, unregistered key blank cut for this car (``"master"`` or ``"sub"``)."""
        try:
            key_kind = KeyKind(kind)
        except ValueError:
            raise VehicleError(f"unknown key kind {kind!r}: master, sub or smart") from None
        if key_kind is KeyKind.SMART:
            raise VehicleError(
                f"{self.model_year.name} has a transponder key ECU: smart keys do not fit it"
            )
        return Key.blank(key_kind, self._rng)

    def present_key(self, key: Key) -> None:
        """Insert ``key`` into the ignition cylinder (the immobilizer reads its transponder)."""
        with self.lock:
            if self.physical.inserted_key is not None:
                if self.physical.inserted_key == key:
                    return
                raise VehicleError(f"{self.physical.inserted_key} is in the cylinder: withdraw it")
            self.physical.inserted_key = key
            if self.immobilizer is not None:
                self.immobilizer.on_key_inserted(key, self.clock.now())

    def withdraw_key(self) -> None:
        """Turn the key to OFF (if it was not) and pull it out."""
        with self.lock:
            if self.physical.inserted_key is None:
                return
            self._change_ignition(Ignition.OFF)
            self.physical.inserted_key = None
            if self.immobilizer is not None:
                self.immobilizer.on_key_removed(self.clock.now())

    def set_ignition(self, state: str | Ignition) -> None:
        """Turn the ignition to ``"off"``, ``"acc"`` or ``"on"`` (a key must be in for ACC/ON;
        use :meth:`start_engine` to crank)."""
        target = _parse_ignition(state)
        if target is Ignition.START:
            raise VehicleError("use start_engine() to crank the engine")
        with self.lock:
            if target is not Ignition.OFF and self.physical.inserted_key is None:
                raise VehicleError("insert a key before turning the ignition")
            self._change_ignition(target)

    def press_brake(self) -> None:
        """Press and release the brake pedal once."""
        with self.lock:
            if self.immobilizer is not None:
                self.immobilizer.on_brake_pressed(self.clock.now())

    def set_brake(self, pressed: bool) -> None:
        """Hold (``True``) or release the brake pedal; pressing counts as a press."""
        with self.lock:
            if pressed and not self.physical.brake_pressed:
                self.press_brake()
            self.physical.brake_pressed = pressed

    def set_speed(self, kmh: float) -> None:
        if not 0 <= kmh <= MAX_SPEED_KMH:
            raise VehicleError(f"speed must be 0..{MAX_SPEED_KMH} km/h, got {kmh}")
        with self.lock:
            self.physical.speed_kmh = float(kmh)

    def set_door(self, door: str, is_open: bool) -> None:
        if door not in DOORS:
            raise VehicleError(f"unknown door {door!r}: one of {', '.join(DOORS)}")
        with self.lock:
            self.physical.doors_open[door] = is_open

    def start_engine(self) -> bool:
        """Crank: the immobilizer's START_PERMISSION goes to the ECM over the body bus, the ECM
        starts only with permission and a matching ECU-ECM ID. Returns whether it runs."""
        with self.lock:
            connection = self.connection
            if self.physical.inserted_key is None:
                logger.info("start refused: no key in the cylinder")
                return False
            if self.engine.start_control.engine_running:
                return True
            previous = max(self.physical.ignition, Ignition.ON)
            self._change_ignition(Ignition.START)
            send = connection.tx_bus.send
            self._broadcaster.send_now(body.START_PERMISSION, send)
            self.engine.start_control.crank()
            self._broadcaster.send_now(body.ENGINE_STATUS, send)
            self._change_ignition(previous)
            return self.engine.start_control.engine_running

    @property
    def engine_running(self) -> bool:
        return self.engine.start_control.engine_running

    def _change_ignition(self, target: Ignition) -> None:
        old = self.physical.ignition
        if old == target:
            return
        self.physical.ignition = target
        if target is Ignition.OFF:
            self.engine.start_control.stop_engine()
        if target >= Ignition.ON > old and self.immobilizer is not None:
            self.immobilizer.dtcs.start_operation_cycle()
        if self.immobilizer is not None:
            self.immobilizer.on_ignition(old, target, self.clock.now())

    # -- the body network ----------------------------------------------------------------------

    def _providers(self) -> dict[str, Callable[[], dict[str, float | int]]]:
        providers: dict[str, Callable[[], dict[str, float | int]]] = {
            body.IGNITION_STATUS: lambda: {
                "IgnitionState": int(self.physical.ignition),
                "KeyInserted": int(self.physical.inserted_key is not None),
                "BrakePressed": int(self.physical.brake_pressed),
            },
            body.VEHICLE_SPEED: lambda: {"VehicleSpeed": round(self.physical.speed_kmh, 2)},
            body.DOOR_STATUS: self._door_signals,
            body.ENGINE_STATUS: self._engine_signals,
        }
        if self.immobilizer is not None:
            providers[body.IMMOBILIZER_STATUS] = self._immobilizer_signals
            providers[body.START_PERMISSION] = self._permission_signals
        return providers

    def _door_signals(self) -> dict[str, float | int]:
        doors = self.physical.doors_open
        return {
            "DriverDoorOpen": int(doors["driver"]),
            "PassengerDoorOpen": int(doors["passenger"]),
            "RearLeftDoorOpen": int(doors["rear_left"]),
            "RearRightDoorOpen": int(doors["rear_right"]),
            "TrunkOpen": int(doors["trunk"]),
            "CourtesyLight": int(any(doors.values())),
            "DoorsLocked": int(self.physical.doors_locked),
        }

    def _engine_signals(self) -> dict[str, float | int]:
        control = self.engine.start_control
        return {
            "EngineRunning": int(control.engine_running),
            "ImmobilizerIdMatch": int(control.last_result is not StartResult.ID_MISMATCH),
            "LastStartResult": int(control.last_result),
            "StartAttempts": control.start_attempts,
            "EngineSpeed": 700.0 if control.engine_running else 0.0,
        }

    def _immobilizer_signals(self) -> dict[str, float | int]:
        immobilizer = self.immobilizer
        assert immobilizer is not None
        mode, code = immobilizer.indicator()
        return {
            "ImmobilizerSet": int(immobilizer.immobilizer_set),
            "IndicatorMode": int(mode),
            "IndicatorCode": code,
            "RegistrationMode": int(immobilizer.registration_mode),
            "MasterKeys": min(15, immobilizer.key_count(KeyKind.MASTER)),
            "SubKeys": min(15, immobilizer.key_count(KeyKind.SUB)),
        }

    def _permission_signals(self) -> dict[str, float | int]:
        immobilizer = self.immobilizer
        assert immobilizer is not None
        return {
            "CommunicationId": immobilizer.communication_id,
            "StartPermitted": int(immobilizer.start_permitted()),
        }

    def _on_frame(self, message: can.Message) -> None:
        """Every frame on the bus, the car's own included (Notifier or sender thread)."""
        decoded = body_message(message, self._wanted)
        if decoded is None:
            return
        name, values = decoded
        if name == body.START_PERMISSION:
            self.engine.start_control.on_start_permission(
                StartPermission(
                    int(values["CommunicationId"]),
                    bool(values["StartPermitted"]),
                    int(values["Sequence"]),
                )
            )
        elif name == body.ENGINE_STATUS:
            if self.immobilizer is not None:
                self.immobilizer.on_engine_status(
                    int(values["StartAttempts"]), int(values["LastStartResult"])
                )
        else:
            self._controls.put(lambda: self._apply_control(name, values))

    def _apply_control(self, name: str, values: dict[str, float | int]) -> None:
        """A lab control message from a CAN tool drives a physical input (body thread)."""
        try:
            if name == body.LAB_IGNITION_CMD:
                command = Ignition(int(values["IgnitionCommand"]))
                if command is Ignition.START:
                    self.start_engine()
                else:
                    self.set_ignition(command)
            elif name == body.LAB_KEY_CMD:
                if int(values["KeyAction"]) == 1:
                    key = Key(int(values["TransponderId"]))
                    with self.lock:
                        if self.physical.inserted_key not in (None, key):
                            self.withdraw_key()  # another key is in: swap them
                        self.present_key(key)
                else:
                    self.withdraw_key()
            elif name == body.LAB_BRAKE_CMD:
                action = int(values["BrakeAction"])
                if action == 2:
                    self.press_brake()
                else:
                    self.set_brake(action == 1)
            elif name == body.LAB_SPEED_CMD:
                self.set_speed(float(values["VehicleSpeed"]))
            elif name == body.LAB_DOOR_CMD:
                self.set_door(DOORS[int(values["Door"])], bool(values["Open"]))
        except (VehicleError, InvalidKeyError, IndexError, ValueError) as exc:
            logger.warning("lab control %s ignored: %s", name, exc)

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
                logger.error("body step failed: %r", exc)

    def _tick(self) -> None:
        connection = self._connection
        if connection is None:
            return
        now = self.clock.now()
        with self.lock:
            if self.immobilizer is not None:
                self.immobilizer.tick(now)
            self._broadcaster.tick(now, connection.tx_bus.send)


def _parse_ignition(state: str | Ignition) -> Ignition:
    if isinstance(state, Ignition):
        return state
    try:
        return Ignition[str(state).upper()]
    except KeyError:
        raise VehicleError(f"ignition must be off, acc or on, got {state!r}") from None
