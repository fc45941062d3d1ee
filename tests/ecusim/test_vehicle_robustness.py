"""Regressions from review: a failing listener never deafens the car, cars sharing a bus
connection never deadlock, a failed send never leaves the key at START, and a time scale does
not speed up the ISO 14229 timers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import can
import isotp
import pytest

from dbc import body
from ecusim.car.physical import Ignition
from ecusim.car.vehicle import Vehicle
from ecusim.ecus.key_ecu.dtcs import DTC_ECM_ID_MISMATCH
from ecusim.tool.contract import client_stack
from protocol.can_bus import BusConnection
from protocol.errors import NvmError
from protocol.isotp_binding import IsoTpAddressing

VIN = "JTHBL5EF0C5000001"
RECEIVE_TIMEOUT_S = 3.0


def _channel() -> str:
    return f"robust-{uuid.uuid4().hex}"


@pytest.fixture
def engine_client() -> Iterator[tuple[str, isotp.NotifierBasedCanStack]]:
    channel = _channel()
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [], timeout=0.05)
    stack = client_stack(bus, notifier, IsoTpAddressing(request_id=0x7E0, response_id=0x7E8))
    stack.start()
    yield channel, stack
    stack.stop()
    notifier.stop()
    bus.shutdown()


def _exchange(stack: isotp.NotifierBasedCanStack, request: bytes) -> bytes | None:
    stack.send(request)
    response = stack.recv(block=True, timeout=RECEIVE_TIMEOUT_S)
    return None if response is None else bytes(response)


def test_a_failing_body_listener_does_not_deafen_the_car(
    engine_client: tuple[str, isotp.NotifierBasedCanStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, stack = engine_client
    car = Vehicle.from_catalog("LS430", 2004, VIN, seed=1)
    immobilizer = car.immobilizer
    assert immobilizer is not None

    def failing_save(*_: object) -> None:
        raise NvmError("disk full")

    monkeypatch.setattr(immobilizer.dtcs, "listeners", [failing_save])
    car_bus = can.Bus(interface="virtual", channel=channel)
    other = can.Bus(interface="virtual", channel=channel)
    try:
        with car.running(car_bus):
            # Another node reports an ID mismatch at a new start attempt: the DTC save fails.
            other.send(
                body.encode_message(body.ENGINE_STATUS, {"StartAttempts": 7, "LastStartResult": 3})
            )
            deadline = time.monotonic() + RECEIVE_TIMEOUT_S
            while not immobilizer.dtcs.status(DTC_ECM_ID_MISMATCH) & 0x01:  # testFailed
                assert time.monotonic() < deadline, "the car never handled the frame"
                time.sleep(0.01)
            assert _exchange(stack, bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])  # still hears
    finally:
        other.shutdown()
        car_bus.shutdown()


def test_two_cars_sharing_a_connection_do_not_deadlock() -> None:
    bus = can.Bus(interface="virtual", channel=_channel())
    connection = BusConnection(bus)
    first = Vehicle.from_catalog("LS460", 2012, seed=1, time_scale=100.0)
    second = Vehicle.from_catalog("RX350", 2010, seed=2, time_scale=100.0)
    try:
        with first.running(connection), second.running(connection):
            for car in (first, second):
                car.set_ignition("on")
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:  # both body threads broadcast to each other
                for car in (first, second):
                    assert car.lock.acquire(timeout=2.0), "a vehicle lock is held for good"
                    car.lock.release()
    finally:
        connection.close()


class _DeadBus(can.BusABC):
    """A bus that cannot send (bus-off)."""

    def __init__(self) -> None:
        super().__init__(channel="dead")

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        raise can.CanOperationError("bus off")

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if timeout:
            time.sleep(min(timeout, 0.01))
        return None, False


def test_a_failed_send_is_a_refused_start_and_the_key_springs_back() -> None:
    car = Vehicle.from_catalog("LS430", 2004, VIN, seed=1)
    bus = _DeadBus()
    try:
        with car.running(bus):
            car.present_key(car.factory_keys[0])
            car.set_ignition("on")
            assert car.start_engine() is False
            assert car.physical.ignition is Ignition.ON
    finally:
        bus.shutdown()


def test_a_time_scale_does_not_speed_up_the_session_timer(
    engine_client: tuple[str, isotp.NotifierBasedCanStack],
) -> None:
    channel, stack = engine_client
    car = Vehicle.from_catalog("LS430", 2004, VIN, seed=1, time_scale=20.0)
    car_bus = can.Bus(interface="virtual", channel=channel)
    try:
        with car.running(car_bus):
            # DiagnosticSessionControl extendedDiagnosticSession
            assert (_exchange(stack, bytes([0x10, 0x03])) or b"")[:2] == bytes([0x50, 0x03])
            time.sleep(0.5)  # 10 s of vehicle time: S3 (5 s) must still be running
            # ReadDataByIdentifier F186 (active session) → 62 F1 86 03
            assert _exchange(stack, bytes([0x22, 0xF1, 0x86])) == bytes([0x62, 0xF1, 0x86, 0x03])
    finally:
        car_bus.shutdown()
