"""The body network of a running car (docs/body-network.md): periodic frames on the vehicle
clock, values that follow the physical state, and lab control messages from another CAN tool
that drive the car. A second python-can bus on the channel plays the CAN tool; every wait is a
deadline loop on what the car sends or does, never a sleep."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import can
import pytest

from dbc import body
from dbc.body import decode_message, encode_message
from ecusim.car.keys import Key
from ecusim.car.physical import Ignition
from ecusim.car.vehicle import Vehicle
from protocol.clock import FakeClock
from protocol.seed_source import DeterministicSeedSource

VIN = "JTHBL5EF0C5000001"
DEADLINE_S = 5.0
"""Real-time bound of every wait (the body thread turns every 10 ms)."""

STATUS_MESSAGES = (
    body.IGNITION_STATUS,
    body.VEHICLE_SPEED,
    body.IMMOBILIZER_STATUS,
    body.START_PERMISSION,
    body.ENGINE_STATUS,
)


@dataclass
class Bench:
    vehicle: Vehicle
    clock: FakeClock
    tool: can.BusABC
    """The CAN tool: a second bus on the car's channel."""
    seen: list[tuple[str, dict[str, float | int | str]]] = field(default_factory=list)

    def send(self, name: str, signals: dict[str, float | int]) -> None:
        self.tool.send(encode_message(name, signals))

    def collect_until(self, done: Callable[[], bool]) -> None:
        """Receive frames (decoding every one) until ``done()`` or the deadline."""
        deadline = time.monotonic() + DEADLINE_S
        while not done():
            assert time.monotonic() < deadline, "timed out waiting for the car"
            message = self.tool.recv(timeout=0.02)
            if message is None:
                continue
            decoded = decode_message(message)  # raises on a malformed body frame
            if message.arbitration_id < 0x700:  # everything below 0x700 is a body frame
                assert decoded is not None, f"undecodable body frame {message}"
            if decoded is not None:
                self.seen.append(decoded)

    def latest(self, name: str) -> dict[str, float | int | str] | None:
        for seen_name, values in reversed(self.seen):
            if seen_name == name:
                return values
        return None

    def wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait until the car's state satisfies ``condition`` (frames keep being drained)."""
        self.collect_until(condition)


def _build() -> tuple[Vehicle, FakeClock]:
    clock = FakeClock()
    vehicle = Vehicle.from_catalog(
        "LS430", 2004, VIN, clock=clock, seed=1, seed_source=DeterministicSeedSource(5)
    )
    return vehicle, clock


def _run(vehicle: Vehicle, clock: FakeClock) -> Iterator[Bench]:
    channel = f"ecusim-body-{uuid.uuid4().hex}"
    car_bus = can.Bus(interface="virtual", channel=channel)
    tool = can.Bus(interface="virtual", channel=channel)
    try:
        with vehicle.running(car_bus):
            yield Bench(vehicle, clock, tool)
    finally:
        tool.shutdown()
        car_bus.shutdown()


@pytest.fixture
def bench() -> Iterator[Bench]:
    yield from _run(*_build())


@pytest.fixture
def driven_bench() -> Iterator[Bench]:
    """The car with a factory master in, ignition ON and 12.34 km/h before it starts running."""
    vehicle, clock = _build()
    vehicle.present_key(vehicle.factory_keys[0])
    vehicle.set_ignition("on")
    vehicle.set_speed(12.34)
    yield from _run(vehicle, clock)


def _counts(bench: Bench) -> dict[str, int]:
    return {name: sum(1 for seen, _ in bench.seen if seen == name) for name in STATUS_MESSAGES}


def test_advancing_the_clock_broadcasts_the_status_frames(driven_bench: Bench) -> None:
    bench = driven_bench
    bench.collect_until(lambda: all(_counts(bench)[name] >= 1 for name in STATUS_MESSAGES))
    first = _counts(bench)
    first_counter = bench.latest(body.IGNITION_STATUS)
    assert first_counter is not None

    bench.clock.advance(1.0)
    bench.collect_until(lambda: all(_counts(bench)[n] > first[n] for n in STATUS_MESSAGES))

    ignition = bench.latest(body.IGNITION_STATUS)
    assert ignition is not None
    assert ignition["IgnitionState"] == int(Ignition.ON)
    assert ignition["KeyInserted"] == 1
    assert ignition["BrakePressed"] == 0
    assert ignition["RollingCounter"] != first_counter["RollingCounter"]

    speed = bench.latest(body.VEHICLE_SPEED)
    assert speed is not None
    assert speed["VehicleSpeed"] == pytest.approx(12.34, abs=0.005)

    immobilizer = bench.latest(body.IMMOBILIZER_STATUS)
    assert immobilizer is not None
    assert immobilizer["ImmobilizerSet"] == 0  # the factory key was verified at ignition ON
    assert immobilizer["IndicatorMode"] == 0
    assert immobilizer["RegistrationMode"] == 0
    assert immobilizer["MasterKeys"] == 2
    assert immobilizer["SubKeys"] == 1

    permission = bench.latest(body.START_PERMISSION)
    assert permission is not None
    assert bench.vehicle.immobilizer is not None
    assert permission["CommunicationId"] == bench.vehicle.immobilizer.communication_id
    assert permission["StartPermitted"] == 1

    engine = bench.latest(body.ENGINE_STATUS)
    assert engine is not None
    assert engine["EngineRunning"] == 0
    assert engine["LastStartResult"] == 0
    assert engine["ImmobilizerIdMatch"] == 1


def test_an_idle_car_reports_set_immobilizer_and_blinking_indicator(bench: Bench) -> None:
    bench.clock.advance(1.0)
    bench.collect_until(lambda: bench.latest(body.IMMOBILIZER_STATUS) is not None)
    bench.collect_until(lambda: bench.latest(body.IGNITION_STATUS) is not None)
    immobilizer = bench.latest(body.IMMOBILIZER_STATUS)
    ignition = bench.latest(body.IGNITION_STATUS)
    assert immobilizer is not None and ignition is not None
    assert immobilizer["ImmobilizerSet"] == 1
    assert immobilizer["IndicatorMode"] == 2  # blinking: set, no key in
    assert ignition["IgnitionState"] == int(Ignition.OFF)
    assert ignition["KeyInserted"] == 0


def test_one_frame_per_message_per_turn_after_a_clock_jump(bench: Bench) -> None:
    """docs: when the vehicle clock runs faster than ticks come, a message is sent once per tick
    rather than in bursts. The FakeClock stands still between the steps, so nothing is sent
    while the test changes the speed."""
    vehicle = bench.vehicle
    bench.collect_until(lambda: bench.latest(body.VEHICLE_SPEED) is not None)

    def speed_seen(kmh: float) -> Callable[[], bool]:
        def check() -> bool:
            latest = bench.latest(body.VEHICLE_SPEED)
            return latest is not None and latest["VehicleSpeed"] == pytest.approx(kmh, abs=0.005)

        return check

    vehicle.set_speed(5.0)
    bench.clock.advance(10.0)  # 100 cycles of 100 ms at once
    bench.collect_until(speed_seen(5.0))
    vehicle.set_speed(6.0)
    bench.clock.advance(0.1)  # one more cycle
    bench.collect_until(speed_seen(6.0))
    at_five = [
        values
        for name, values in bench.seen
        if name == body.VEHICLE_SPEED and values["VehicleSpeed"] == pytest.approx(5.0, abs=0.005)
    ]
    assert len(at_five) == 1  # no burst of 100 frames


def test_the_immobilizer_sets_20_s_after_ignition_off_on_the_body_clock(
    driven_bench: Bench,
) -> None:
    """The body thread runs the immobilizer's timers on the vehicle clock."""
    bench = driven_bench
    # The first turn's frames (ignition ON) are out; the clock stands still until advanced.
    bench.collect_until(lambda: bench.latest(body.START_PERMISSION) is not None)
    bench.vehicle.set_ignition("off")  # the key stays in

    def status_after_ignition_off() -> dict[str, float | int | str] | None:
        """The first IMMOBILIZER_STATUS sent after an IGNITION_STATUS showing OFF."""
        off_seen = False
        for name, values in bench.seen:
            if name == body.IGNITION_STATUS and values["IgnitionState"] == int(Ignition.OFF):
                off_seen = True
            elif off_seen and name == body.IMMOBILIZER_STATUS:
                return values
        return None

    bench.clock.advance(19.9)
    bench.collect_until(lambda: status_after_ignition_off() is not None)
    status = status_after_ignition_off()
    assert status is not None and status["ImmobilizerSet"] == 0  # 19.9 s: still unset

    def latest_set() -> bool:
        latest = bench.latest(body.IMMOBILIZER_STATUS)
        return latest is not None and latest["ImmobilizerSet"] == 1

    bench.clock.advance(0.1)
    bench.collect_until(latest_set)


def test_lab_control_messages_drive_the_car(bench: Bench) -> None:
    vehicle = bench.vehicle
    key = vehicle.factory_keys[0]

    bench.send(body.LAB_KEY_CMD, {"KeyAction": 1, "TransponderId": key.transponder_id})
    bench.wait_for(lambda: vehicle.physical.inserted_key == key)

    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 2})  # ON
    bench.wait_for(lambda: vehicle.physical.ignition is Ignition.ON)
    assert vehicle.immobilizer is not None
    assert not vehicle.immobilizer.immobilizer_set  # the key, rebuilt from its ID, is verified

    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 3})  # START = crank
    bench.wait_for(lambda: vehicle.engine_running)
    assert vehicle.physical.ignition is Ignition.ON  # back from START

    bench.send(body.LAB_BRAKE_CMD, {"BrakeAction": 1})  # hold
    bench.wait_for(lambda: vehicle.physical.brake_pressed)
    bench.send(body.LAB_BRAKE_CMD, {"BrakeAction": 0})  # release
    bench.wait_for(lambda: not vehicle.physical.brake_pressed)

    bench.send(body.LAB_SPEED_CMD, {"VehicleSpeed": 42.5})
    bench.wait_for(lambda: vehicle.physical.speed_kmh == pytest.approx(42.5, abs=0.005))

    bench.send(body.LAB_DOOR_CMD, {"Door": 4, "Open": 1})  # trunk
    bench.wait_for(lambda: vehicle.physical.doors_open["trunk"])

    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 0})  # OFF
    bench.wait_for(lambda: vehicle.physical.ignition is Ignition.OFF)
    assert not vehicle.engine_running

    bench.send(body.LAB_KEY_CMD, {"KeyAction": 0, "TransponderId": 0})  # withdraw
    bench.wait_for(lambda: vehicle.physical.inserted_key is None)


def test_the_state_set_by_lab_control_is_broadcast(bench: Bench) -> None:
    vehicle = bench.vehicle
    bench.send(body.LAB_SPEED_CMD, {"VehicleSpeed": 12.34})
    bench.wait_for(lambda: vehicle.physical.speed_kmh > 0)
    bench.clock.advance(1.0)

    def speed_frame_shows_it() -> bool:
        latest = bench.latest(body.VEHICLE_SPEED)
        return latest is not None and latest["VehicleSpeed"] == pytest.approx(12.34, abs=0.005)

    bench.collect_until(speed_frame_shows_it)


def test_a_key_for_an_unknown_transponder_kind_is_ignored(bench: Bench) -> None:
    vehicle = bench.vehicle
    key = vehicle.factory_keys[0]
    bench.send(body.LAB_KEY_CMD, {"KeyAction": 1, "TransponderId": key.transponder_id})
    bench.wait_for(lambda: vehicle.physical.inserted_key == key)

    # Top nibble 4: no such blank (1 master, 2 sub, 3 smart) → the command is ignored
    bench.send(body.LAB_KEY_CMD, {"KeyAction": 1, "TransponderId": 0x4ABCDEF0})
    bench.send(body.LAB_SPEED_CMD, {"VehicleSpeed": 7.0})  # a marker queued after it
    bench.wait_for(lambda: vehicle.physical.speed_kmh == pytest.approx(7.0, abs=0.005))
    assert vehicle.physical.inserted_key == key  # the bad command did not even pull the key
    assert vehicle.is_running

    # The car still obeys afterwards.
    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 2})
    bench.wait_for(lambda: vehicle.physical.ignition is Ignition.ON)


def test_a_bad_ignition_command_is_ignored(bench: Bench) -> None:
    vehicle = bench.vehicle
    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 2})  # ON with no key: refused
    bench.send(body.LAB_SPEED_CMD, {"VehicleSpeed": 3.0})  # marker
    bench.wait_for(lambda: vehicle.physical.speed_kmh == pytest.approx(3.0, abs=0.005))
    assert vehicle.physical.ignition is Ignition.OFF
    assert vehicle.is_running


def test_a_key_of_another_car_travels_but_does_not_unset(bench: Bench) -> None:
    vehicle = bench.vehicle
    stranger = Key.derived("master", "another car")
    bench.send(body.LAB_KEY_CMD, {"KeyAction": 1, "TransponderId": stranger.transponder_id})
    bench.wait_for(lambda: vehicle.physical.inserted_key == stranger)
    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 2})
    bench.wait_for(lambda: vehicle.physical.ignition is Ignition.ON)
    assert vehicle.immobilizer is not None and vehicle.immobilizer.immobilizer_set
    bench.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 3})
    bench.wait_for(lambda: vehicle.engine.start_control.start_attempts == 1)
    assert not vehicle.engine_running


def _frames_of_one_id_in_one_second(time_scale: float) -> int:
    """IGNITION_STATUS frames (GenMsgCycleTime 100 ms) the car hands its transmit tap over one
    second of real time, stepped in 10 ms turns of a fake real-time clock (no threads run)."""
    real = FakeClock(start_s=0.0)
    vehicle = Vehicle.from_catalog("LS430", 2004, VIN, time_scale=time_scale, seed=1)
    vehicle.body_clock = real  # the real time the broadcasts follow, here driven by the test
    sent: list[can.Message] = []
    for _ in range(100):
        vehicle.broadcast_due(sent.append)
        real.advance(0.01)
    ignition_id = 0x1A0
    return sum(1 for message in sent if message.arbitration_id == ignition_id)


def test_the_broadcasts_keep_the_dbc_cycle_times_whatever_the_time_scale() -> None:
    """docs/body-network.md: --time-scale speeds the car's own waits, not the bus load."""
    assert body.cycle_time_s(body.IGNITION_STATUS) == pytest.approx(0.1)
    at_1 = _frames_of_one_id_in_one_second(1.0)
    at_20 = _frames_of_one_id_in_one_second(20.0)
    assert at_1 == 10  # one second of 100 ms cycles
    assert at_20 == at_1
    scaled = Vehicle.from_catalog("LS430", 2004, VIN, time_scale=20.0, seed=1)
    assert scaled.body_clock is scaled.protocol_clock  # real time, not the 20x vehicle clock
