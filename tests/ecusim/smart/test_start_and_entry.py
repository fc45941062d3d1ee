"""Push-button start and smart entry on a running car (a virtual bus): the start needs a
registered key verified in the cabin and the brake pressed; the certification ECU, the steering
lock, the ID code box and the ECM agree over the body bus. A registered key outside plus a hand
on the door handle unlocks the doors [LAB]."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import can
import pytest

from dbc import body
from ecusim.car.physical import Ignition
from ecusim.ecus.start_control import StartResult

from .conftest import Car, wait_until

# -- push-button start -------------------------------------------------------------------------


def test_a_registered_key_in_the_cabin_and_the_brake_start_the_engine(running_car: Car) -> None:
    vehicle = running_car.vehicle
    for key in running_car.old_keys:
        vehicle.present_key(key)
        vehicle.set_brake(True)
        assert vehicle.start_engine() is True, key
        assert vehicle.engine.start_control.last_result is StartResult.STARTED
        assert running_car.certification.start_refusal is None
        assert not running_car.system.steering_lock.locked
        assert vehicle.physical.ignition is Ignition.ON  # back from START
        vehicle.set_brake(False)
        vehicle.set_ignition("off")
        assert not vehicle.engine_running
        vehicle.withdraw_key()


def test_without_the_brake_there_is_no_permission(running_car: Car) -> None:
    vehicle = running_car.vehicle
    vehicle.present_key(running_car.old_keys[0])
    assert vehicle.start_engine() is False
    assert vehicle.engine.start_control.last_result is StartResult.NO_PERMISSION
    assert running_car.certification.start_refusal == "the brake pedal is not pressed"
    assert running_car.system.steering_lock.locked  # no authorized start: still locked
    vehicle.press_brake()  # pressed and released again: not held
    assert vehicle.start_engine() is False
    vehicle.set_brake(True)
    assert vehicle.start_engine() is True


def test_a_key_outside_does_not_start_the_engine(running_car: Car) -> None:
    vehicle = running_car.vehicle
    vehicle.present_key(running_car.old_keys[0], "outside")
    vehicle.set_brake(True)
    assert vehicle.start_engine() is False
    assert running_car.certification.start_refusal == (
        "no registered smart key verified in the cabin"
    )


def test_an_unregistered_smart_key_does_not_start_the_engine(running_car: Car) -> None:
    vehicle = running_car.vehicle
    vehicle.present_key(vehicle.new_key("smart"))
    vehicle.set_brake(True)
    assert vehicle.start_engine() is False
    assert vehicle.engine.start_control.last_result is StartResult.NO_PERMISSION


def test_a_key_touching_the_switch_starts_the_engine(running_car: Car) -> None:
    """The switch is where a key with a flat battery is read: it is inside the cabin."""
    vehicle = running_car.vehicle
    vehicle.present_key(running_car.old_keys[1], "switch")
    vehicle.set_brake(True)
    assert vehicle.start_engine() is True


def test_the_start_needs_the_key_to_stay(running_car: Car) -> None:
    vehicle = running_car.vehicle
    key = running_car.old_keys[0]
    vehicle.present_key(key)
    vehicle.set_brake(True)
    assert vehicle.start_engine() is True
    vehicle.set_ignition("off")
    vehicle.withdraw_key(key)
    assert vehicle.start_engine() is False  # the key left with the driver


# -- the body bus ---------------------------------------------------------------------------


class _Recorder(can.Listener):
    """Decodes the body frames another node sees on the channel."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, float | int | str]]] = []
        self._lock = threading.Lock()

    def on_message_received(self, msg: can.Message) -> None:
        decoded = body.decode_message(msg)
        if decoded is not None:
            with self._lock:
                self.seen.append(decoded)

    def snapshot(self) -> list[tuple[str, dict[str, float | int | str]]]:
        with self._lock:
            return list(self.seen)

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self.seen]

    def last(self, name: str) -> dict[str, float | int | str]:
        with self._lock:
            return next(values for seen, values in reversed(self.seen) if seen == name)

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()


@pytest.fixture
def recorder(running_car: Car) -> Iterator[_Recorder]:
    listener = _Recorder()
    bus = can.Bus(interface="virtual", channel=running_car.channel)
    notifier = can.Notifier(bus, [listener], timeout=0.1)
    try:
        yield listener
    finally:
        notifier.stop()
        bus.shutdown()


def test_the_start_runs_over_the_body_bus_in_order(running_car: Car, recorder: _Recorder) -> None:
    """The fake clock stands still: apart from the body thread's first broadcast (whenever it
    comes) only the start's own frames go out."""
    vehicle = running_car.vehicle
    vehicle.present_key(running_car.old_keys[0])
    vehicle.set_brake(True)
    assert vehicle.start_engine() is True

    def crank_frames() -> list[tuple[str, dict[str, float | int | str]]]:
        seen = recorder.snapshot()
        first = next(
            (
                index
                for index, (name, values) in enumerate(seen)
                if name == body.SMART_KEY_STATUS and values["StartAuthorized"] == 1
            ),
            None,
        )
        return [] if first is None else seen[first : first + 4]

    wait_until(lambda: len(crank_frames()) == 4, "the start's frames")
    frames = crank_frames()
    assert [name for name, _ in frames] == [
        body.SMART_KEY_STATUS,
        body.STEERING_LOCK_STATUS,
        body.START_PERMISSION,
        body.ENGINE_STATUS,
    ]
    smart, steering, permission, engine = (values for _, values in frames)
    assert (smart["KeyInCabin"], smart["KeyVerified"], smart["StartAuthorized"]) == (1, 1, 1)
    assert (smart["SmartKeys"], smart["RegistrationMode"]) == (2, 0)
    assert steering["SteeringLocked"] == 0
    assert permission["StartPermitted"] == 1
    assert permission["CommunicationId"] == vehicle.engine.start_control.communication_id
    assert (engine["EngineRunning"], engine["LastStartResult"]) == (1, 1)


def _broadcast_until(car: Car, recorder: _Recorder, name: str, want: dict[str, int]) -> None:
    """Step the fake clock 100 ms at a time (each step lets the body thread broadcast once)
    until ``name`` shows the ``want`` signal values; bounded by the real-time deadline."""

    def shown() -> bool:
        seen = [values for seen, values in recorder.snapshot() if seen == name]
        if seen and all(seen[-1][signal] == value for signal, value in want.items()):
            return True
        car.clock.advance(0.1)
        return False

    wait_until(shown, f"{name} showing {want}")


def test_the_id_code_box_relays_the_state_as_immobilizer_status(
    running_car: Car, recorder: _Recorder
) -> None:
    vehicle = running_car.vehicle
    vehicle.present_key(running_car.old_keys[0], "outside")
    outside = {"KeyInCabin": 0, "KeyOutside": 1, "KeyVerified": 0, "IndicatorMode": 2}
    _broadcast_until(running_car, recorder, body.SMART_KEY_STATUS, outside)  # 2: blinking
    _broadcast_until(running_car, recorder, body.IMMOBILIZER_STATUS, {"ImmobilizerSet": 1})
    vehicle.present_key(running_car.old_keys[0], "cabin")
    _broadcast_until(running_car, recorder, body.SMART_KEY_STATUS, {"KeyVerified": 1})
    # relayed from SMART_KEY_STATUS by the ID code box: the immobilizer is unset
    _broadcast_until(running_car, recorder, body.IMMOBILIZER_STATUS, {"ImmobilizerSet": 0})
    status = recorder.last(body.IMMOBILIZER_STATUS)
    assert (status["SmartKeys"], status["MasterKeys"], status["SubKeys"]) == (2, 0, 0)
    assert (status["IndicatorMode"], status["RegistrationMode"]) == (0, 0)


def _step_until(car: Car, predicate: Callable[[], bool], what: str) -> None:
    """Step the fake clock 100 ms at a time until ``predicate`` holds (real-time bounded)."""

    def done() -> bool:
        if predicate():
            return True
        car.clock.advance(0.1)
        return False

    wait_until(done, what)


def _start_and_drive_off(car: Car) -> None:
    vehicle = car.vehicle
    vehicle.present_key(car.old_keys[0])
    vehicle.set_brake(True)
    assert vehicle.start_engine() is True
    steering = car.system.steering_lock
    assert not steering.locked
    _step_until(car, lambda: steering.ignition is Ignition.ON, "the steering lock hears ON")
    vehicle.set_ignition("off")
    _step_until(car, lambda: steering.ignition is Ignition.OFF, "the steering lock hears OFF")


def test_the_steering_locks_at_ignition_off_with_the_driver_door_open(running_car: Car) -> None:
    vehicle = running_car.vehicle
    steering = running_car.system.steering_lock
    _start_and_drive_off(running_car)
    assert not steering.locked  # the door is still closed
    vehicle.set_door("driver", True)
    _step_until(running_car, lambda: steering.locked, "the steering locks")
    assert steering.driver_door_open
    vehicle.set_brake(True)
    assert vehicle.start_engine() is True  # the next authorized start unlocks it again
    assert not steering.locked


def test_a_passenger_door_does_not_lock_the_steering(running_car: Car) -> None:
    vehicle = running_car.vehicle
    steering = running_car.system.steering_lock
    _start_and_drive_off(running_car)
    sent: list[dict[str, float | int | str]] = []

    def tap(message: can.Message) -> None:  # called after the car's own listener (the ECUs)
        decoded = body.decode_message(message)
        if decoded is not None and decoded[0] == body.DOOR_STATUS:
            sent.append(decoded[1])

    vehicle.connection.subscribe(tap)
    vehicle.set_door("passenger", True)
    _step_until(
        running_car, lambda: any(s["PassengerDoorOpen"] == 1 for s in sent), "DOOR_STATUS sent"
    )
    assert not steering.locked
    vehicle.connection.unsubscribe(tap)


def test_the_steering_stays_locked_after_a_refused_start(running_car: Car) -> None:
    vehicle = running_car.vehicle
    vehicle.present_key(vehicle.new_key("smart"))
    vehicle.set_brake(True)
    assert vehicle.start_engine() is False
    assert running_car.system.steering_lock.locked
    assert not running_car.system.id_code_box.start_permitted()


# -- smart entry ---------------------------------------------------------------------------------


def _touch_handle(car: Car) -> bool:
    with car.vehicle.lock:
        return car.system.touch_door_handle(car.clock.now())


def _lock_doors(car: Car) -> None:
    with car.vehicle.lock:
        car.vehicle.physical.doors_locked = True


def test_a_registered_key_outside_unlocks_the_doors(car: Car) -> None:
    _lock_doors(car)
    car.bring(car.old_keys[0], "outside")
    assert _touch_handle(car) is True
    assert car.vehicle.physical.doors_locked is False


def test_no_key_outside_no_entry(car: Car) -> None:
    _lock_doors(car)
    assert _touch_handle(car) is False
    car.bring(car.old_keys[0], "cabin")  # locked in: the outside search does not find it
    assert _touch_handle(car) is False
    car.bring(car.vehicle.new_key("smart"), "outside")  # not registered
    assert _touch_handle(car) is False
    assert car.vehicle.physical.doors_locked is True
