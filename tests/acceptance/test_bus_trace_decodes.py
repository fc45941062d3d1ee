"""Acceptance 4: every frame the car puts on the bus decodes with the shipped DBC.

Body frames (IDs < 0x700) must decode with ``cantools.database.load_file`` of the DBC file the
package ships; the only IDs ≥ 0x700 the car may send are its diagnostic response IDs (0x758,
0x7E8). Checked on the wire of a running car (virtual bus, a recorder on another bus instance)
and on the trace file that ``ecusim run --log`` writes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from pathlib import Path

import can
import cantools
import pytest
from cantools.database.can import Database

from dbc import body
from ecusim.car.vehicle import Vehicle
from tests.acceptance.acceptance_kit import (
    DIAGNOSTIC_RESPONSE_IDS,
    DID_VIN,
    ENGINE_ADDRESS,
    ENGINE_REQUEST_ID,
    ENGINE_RESPONSE_ID,
    FIRST_DIAGNOSTIC_ID,
    IMMOBILIZER_REQUEST_ID,
    IMMOBILIZER_RESPONSE_ID,
    MODEL,
    TIME_SCALE,
    VIN,
    YEAR,
    Starter,
    Tester,
    ecusim_run_args,
    factory_keys_printed,
    start_ecusim,
    wait_until,
)

TESTER_REQUEST_IDS = frozenset({IMMOBILIZER_REQUEST_ID, ENGINE_REQUEST_ID})
"""The only IDs the scan tool sends in the wire test (inputs go through the Python API)."""

CAR_BROADCASTS = (
    body.IGNITION_STATUS,
    body.VEHICLE_SPEED,
    body.DOOR_STATUS,
    body.IMMOBILIZER_STATUS,
    body.START_PERMISSION,
    body.ENGINE_STATUS,
)
"""The periodic messages a transponder-key car broadcasts (docs/body-network.md)."""

DRIVE_SPEED_KMH = 42.5


def shipped_database() -> Database:
    database = cantools.database.load_file(body.BODY_DBC_PATH)
    assert isinstance(database, Database)
    return database


def decode_all(
    database: Database, frames: Iterable[can.Message]
) -> dict[str, list[dict[str, float]]]:
    """Decode every body frame (ID < 0x700) strictly; return the decoded values by message.
    Any frame the DBC cannot decode fails the test with the frame shown."""
    decoded: dict[str, list[dict[str, float]]] = {}
    for frame in frames:
        if frame.arbitration_id >= FIRST_DIAGNOSTIC_ID:
            continue
        assert not frame.is_extended_id and not frame.is_remote_frame, frame
        assert not frame.is_error_frame and not frame.is_fd, frame
        try:
            definition = database.get_message_by_frame_id(frame.arbitration_id)
        except KeyError:
            pytest.fail(f"frame ID {frame.arbitration_id:#05x} is not in the shipped DBC: {frame}")
        assert frame.dlc == definition.length == len(frame.data), frame
        values = definition.decode_simple(bytes(frame.data), decode_choices=False, scaling=True)
        numbers: dict[str, float] = {}
        for name, value in values.items():
            assert isinstance(value, int | float), (name, value)
            numbers[name] = float(value)
        decoded.setdefault(definition.name, []).append(numbers)
    return decoded


def signal_values(
    decoded: dict[str, list[dict[str, float]]], message: str, signal: str
) -> set[float]:
    return {values[signal] for values in decoded.get(message, [])}


@pytest.fixture
def tester(channel: str) -> Iterator[Tester]:
    bus = can.Bus(interface="virtual", channel=channel)
    scan_tool = Tester(bus, record=True)
    yield scan_tool
    scan_tool.close()
    bus.shutdown()


def test_every_frame_the_car_sends_decodes_with_the_shipped_dbc(
    channel: str, tester: Tester
) -> None:
    car = Vehicle.from_catalog(MODEL, YEAR, VIN, time_scale=TIME_SCALE, seed=4)
    car_bus = can.Bus(interface="virtual", channel=channel)
    try:
        with car.running(car_bus):
            immobilizer = tester.client()
            engine = tester.client(ENGINE_ADDRESS)
            key = car.factory_keys[0]
            monitor = tester.monitor
            car.set_door("driver", True)
            monitor.wait_for(body.DOOR_STATUS, lambda s: s["DriverDoorOpen"] == 1, "door open")
            car.present_key(key)
            car.set_ignition("acc")
            monitor.wait_for(body.IGNITION_STATUS, lambda s: s["IgnitionState"] == 1, "ACC")
            car.set_ignition("on")
            car.set_door("driver", False)
            car.set_brake(True)
            monitor.wait_for(body.IGNITION_STATUS, lambda s: s["BrakePressed"] == 1, "brake")
            assert car.start_engine() is True
            monitor.wait_for(body.ENGINE_STATUS, lambda s: s["EngineRunning"] == 1, "running")
            car.set_brake(False)
            assert immobilizer.read_data_by_identifier_first(DID_VIN) == VIN  # multi-frame
            assert engine.read_data_by_identifier_first(DID_VIN) == VIN
            car.set_speed(DRIVE_SPEED_KMH)
            wait_until(
                lambda: (
                    tester.monitor.latest(body.VEHICLE_SPEED) == {"VehicleSpeed": DRIVE_SPEED_KMH}
                ),
                "the speed broadcast",
            )
            # Let periodic traffic flow at speed: about 2 s at the DBC's cycle times (the
            # broadcasts keep them whatever the time scale, docs/body-network.md).
            seen = len(tester.frames)
            wait_until(lambda: len(tester.frames) >= seen + 100, "100 more frames")
            car.set_speed(0)
            car.press_brake()
            car.withdraw_key()
            wait_until(
                lambda: (tester.monitor.latest(body.IGNITION_STATUS) or {}).get("KeyInserted") == 0,
                "the key withdrawn",
            )
    finally:
        car_bus.shutdown()

    frames = list(tester.frames)
    assert not tester.monitor.errors
    decoded = decode_all(shipped_database(), frames)
    assert set(CAR_BROADCASTS) <= set(decoded), f"missing broadcasts: {sorted(decoded)}"
    # The procedure shows in the decoded values: the frames decode to what happened.
    assert {0, 1, 2} <= signal_values(decoded, body.IGNITION_STATUS, "IgnitionState")
    assert 1 in signal_values(decoded, body.IGNITION_STATUS, "BrakePressed")
    assert DRIVE_SPEED_KMH in signal_values(decoded, body.VEHICLE_SPEED, "VehicleSpeed")
    assert 1 in signal_values(decoded, body.DOOR_STATUS, "DriverDoorOpen")
    assert 1 in signal_values(decoded, body.ENGINE_STATUS, "EngineRunning")

    diagnostic_ids = {f.arbitration_id for f in frames if f.arbitration_id >= FIRST_DIAGNOSTIC_ID}
    car_diagnostic_ids = diagnostic_ids - TESTER_REQUEST_IDS
    assert car_diagnostic_ids <= DIAGNOSTIC_RESPONSE_IDS, sorted(map(hex, car_diagnostic_ids))
    assert {IMMOBILIZER_RESPONSE_ID, ENGINE_RESPONSE_ID} <= car_diagnostic_ids  # both answered


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".asc", ".log"])
def test_the_ecusim_run_trace_decodes_with_the_shipped_dbc(
    processes: Starter, hub_url: str, remote_tester: Tester, tmp_path: Path, suffix: str
) -> None:
    """``ecusim run --log`` behind a hub, driven by lab control messages and UDS for a couple of
    seconds: the trace's body frames all decode; the car's own (Tx) diagnostic frames are
    responses only; the received (Rx) ones are the scan tool's requests."""
    trace = tmp_path / f"trace{suffix}"
    node = start_ecusim(
        processes, ecusim_run_args("remote", hub_url, "--log", str(trace), "--duration", "60")
    )
    master = factory_keys_printed(node.lines)[0]
    tester, monitor = remote_tester, remote_tester.monitor
    immobilizer = tester.client()
    engine = tester.client(ENGINE_ADDRESS)

    tester.send(body.LAB_DOOR_CMD, {"Door": 0, "Open": 1})  # driver's door
    monitor.wait_for(body.DOOR_STATUS, lambda s: s["DriverDoorOpen"] == 1, "door open")
    tester.send(body.LAB_KEY_CMD, {"KeyAction": 1, "TransponderId": master.transponder_id})
    tester.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 2})  # ON
    tester.send(body.LAB_BRAKE_CMD, {"BrakeAction": 1})  # hold
    monitor.wait_for(body.IGNITION_STATUS, lambda s: s["BrakePressed"] == 1, "brake held")
    tester.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": 3})  # START
    monitor.wait_for(body.ENGINE_STATUS, lambda s: s["EngineRunning"] == 1, "engine running")
    tester.send(body.LAB_BRAKE_CMD, {"BrakeAction": 0})  # release
    tester.send(body.LAB_DOOR_CMD, {"Door": 0, "Open": 0})
    tester.send(body.LAB_SPEED_CMD, {"VehicleSpeed": DRIVE_SPEED_KMH})
    monitor.wait_for(body.VEHICLE_SPEED, lambda s: s["VehicleSpeed"] == DRIVE_SPEED_KMH, "driving")
    assert immobilizer.read_data_by_identifier_first(DID_VIN) == VIN  # multi-frame
    assert engine.read_data_by_identifier_first(DID_VIN) == VIN
    tester.send(body.LAB_SPEED_CMD, {"VehicleSpeed": 0})
    tester.send(body.LAB_KEY_CMD, {"KeyAction": 0})  # withdraw
    monitor.wait_for(body.IGNITION_STATUS, lambda s: s["KeyInserted"] == 0, "key withdrawn")

    assert node.stop(signal.SIGTERM) == 0, node.lines
    assert node.lines[-1] == "ecusim: stopped"
    with can.LogReader(trace) as reader:
        frames = list(reader)
    sent = [frame for frame in frames if not frame.is_rx]
    received = [frame for frame in frames if frame.is_rx]

    decoded = decode_all(shipped_database(), frames)  # every body frame, sent or received
    decoded_sent = decode_all(shipped_database(), sent)
    assert set(CAR_BROADCASTS) <= set(decoded_sent), f"missing: {sorted(decoded_sent)}"
    assert set(body.control_messages()) & set(decoded)  # the lab commands were traced too
    assert 1 in signal_values(decoded_sent, body.ENGINE_STATUS, "EngineRunning")
    assert DRIVE_SPEED_KMH in signal_values(decoded_sent, body.VEHICLE_SPEED, "VehicleSpeed")
    assert 1 in signal_values(decoded_sent, body.DOOR_STATUS, "DriverDoorOpen")
    assert 1 in signal_values(decoded_sent, body.IGNITION_STATUS, "BrakePressed")

    car_diagnostic_ids = {f.arbitration_id for f in sent if f.arbitration_id >= FIRST_DIAGNOSTIC_ID}
    assert car_diagnostic_ids == DIAGNOSTIC_RESPONSE_IDS, sorted(map(hex, car_diagnostic_ids))
    tester_ids = {f.arbitration_id for f in received if f.arbitration_id >= FIRST_DIAGNOSTIC_ID}
    assert tester_ids == TESTER_REQUEST_IDS, sorted(map(hex, tester_ids))
