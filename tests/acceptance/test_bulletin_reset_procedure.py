"""Acceptance 1: udsoncan performs the Lexus "Immobilizer and Smart Key Reset" bulletin's
procedure on a transponder-key car (LS430 2004), then new keys are registered, and the result
holds after a restart from the state directory, in this process and in a new one.

The Pass-Code is computed independently of the project (``acceptance_kit.pass_code``, the
``cryptography`` package's HKDF and HMAC), checked first against
diagnostic-contract.md §5's known answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import can
import pytest
from udsoncan.client import Client

from ecusim.car.keys import Key, KeyKind
from ecusim.car.vehicle import Vehicle
from tests.acceptance.acceptance_kit import (
    DID_SECURITY_INDICATOR,
    DID_VIN,
    EXTENDED_SESSION,
    IMMOBILIZER_RESPONSE_ID,
    IMMOBILIZER_SUB_ADDRESS,
    INDICATOR_FLASHING_CODE,
    KNOWN_ANSWERS,
    LEVEL_IMMOBILIZER_RESET,
    MODEL,
    READY_CODES,
    REGISTRATION_AUTOMATIC,
    REGISTRATION_NORMAL,
    RID_END_AUTOMATIC_REGISTRATION,
    RID_RESET,
    SEED_LENGTH,
    TIME_SCALE,
    VIN,
    YEAR,
    Tester,
    assert_known_answers,
    display_form,
    key_counts,
    parse_display_form,
    pass_code,
    read_dids,
    registration_mode,
    vehicle_key,
)

NEW_KEY_SEED = 430
"""Seed of the car's key-blank generator (``Vehicle.new_key``): reproducible transponder IDs."""

PROBE = Path(__file__).with_name("restart_probe.py")
PROBE_TIMEOUT_S = 30.0

RESPONSE_PENDING = bytes(
    [
        IMMOBILIZER_SUB_ADDRESS,  # extended addressing: the immobilizer's sub-address, echoed
        0x03,  # PCI: Single Frame, 3 bytes
        0x7F,  # negative response
        0x31,  # RoutineControl
        0x78,  # NRC requestCorrectlyReceived-ResponsePending
    ]
)


def build_car(state_dir: Path) -> Vehicle:
    return Vehicle.from_catalog(
        MODEL, YEAR, VIN, state_dir=state_dir, time_scale=TIME_SCALE, seed=NEW_KEY_SEED
    )


def try_start(car: Vehicle, key: Key) -> bool:
    """Insert ``key``, ignition ON, crank; withdraw the key again. Whether the engine started."""
    car.present_key(key)
    car.set_ignition("on")
    started = car.start_engine()
    car.withdraw_key()
    return started


@pytest.fixture
def tester(channel: str) -> Iterator[Tester]:
    """The scan tool on the test's virtual channel, recording every frame it receives."""
    bus = can.Bus(interface="virtual", channel=channel)
    scan_tool = Tester(bus, record=True)
    yield scan_tool
    scan_tool.close()
    bus.shutdown()


@pytest.fixture
def car_bus(channel: str) -> Iterator[can.BusABC]:
    """The car's own connection to the test's virtual channel."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.mark.parametrize(("vin", "seed", "expected"), KNOWN_ANSWERS)
def test_independent_pass_code_reproduces_the_known_answers(
    vin: str, seed: str, expected: str
) -> None:
    assert display_form(pass_code(vin, parse_display_form(seed))) == expected
    assert parse_display_form(expected.lower().replace("-", " ")) == parse_display_form(expected)


def test_independent_vehicle_key_reproduces_the_known_answer() -> None:
    assert (
        vehicle_key("JTHBL5EF0C5000001").hex()
        == "87dc9c56c5df2dd525d2cc512abef9916adf6408d54a0014c7a6bbbf7bc1f50d"
    )


def _reset_with_udsoncan(client: Client, tester: Tester) -> None:
    """The bulletin: VIN, extended session, Seed Number, Pass-Code, reset routine."""
    assert client.read_data_by_identifier_first(DID_VIN) == VIN
    client.change_session(EXTENDED_SESSION)
    # S3 is 5 s of vehicle time = 0.25 s real at time scale 20: the requests follow at once.
    seed_response = client.request_seed(LEVEL_IMMOBILIZER_RESET)
    assert seed_response is not None
    seed = bytes(seed_response.service_data.seed)
    assert len(seed) == SEED_LENGTH
    assert seed != bytes(SEED_LENGTH)  # a locked level never returns an all-zero seed
    unlocked = client.send_key(LEVEL_IMMOBILIZER_RESET + 1, pass_code(VIN, seed))
    assert unlocked is not None and unlocked.positive
    reset = client.start_routine(RID_RESET)  # udsoncan waits through the 0x78
    assert reset is not None and reset.positive
    assert reset.service_data.control_type_echo == 0x01  # startRoutine
    assert reset.service_data.routine_id_echo == RID_RESET
    # The erase took longer than P2server: the ECU said so with 0x78 (diagnostic-contract.md §4).
    assert any(
        frame.arbitration_id == IMMOBILIZER_RESPONSE_ID
        and bytes(frame.data[: len(RESPONSE_PENDING)]) == RESPONSE_PENDING
        for frame in list(tester.frames)
    ), "no 0x78 response pending was sent while erasing"
    results = client.get_routine_result(RID_RESET)
    assert results is not None
    assert results.service_data.routine_status_record[0] == 0x00  # status: done


def _assert_only_new_keys_start(
    car: Vehicle, new_keys: list[Key], factory_keys: tuple[Key, ...]
) -> None:
    for key in new_keys:
        assert try_start(car, key) is True, f"new {key} must start the engine"
    for key in factory_keys:
        assert try_start(car, key) is False, f"old factory {key} must not start the engine"


@pytest.mark.slow
@pytest.mark.parametrize("end_registration", ["brake pressed 5 times", "routine 0x0203"])
def test_bulletin_reset_and_new_keys_survive_a_restart(
    tmp_path: Path,
    tester: Tester,
    car_bus: can.BusABC,
    end_registration: str,
) -> None:
    assert_known_answers()  # the independent Pass-Code is right before it is used
    state_dir = tmp_path / "state"
    car = build_car(state_dir)
    factory_keys = car.factory_keys
    factory_master = next(key for key in factory_keys if key.kind is KeyKind.MASTER)
    factory_counts = (
        sum(key.kind is KeyKind.MASTER for key in factory_keys),
        sum(key.kind is KeyKind.SUB for key in factory_keys),
    )
    assert factory_counts[0] >= 1
    client = tester.client()

    with car.running(car_bus):
        # Before: the factory keys are registered and start the engine (positive control).
        assert key_counts(client) == factory_counts
        assert try_start(car, factory_master) is True

        # The bulletin's conditions: a key in, ignition ON, vehicle stopped.
        car.present_key(factory_master)
        car.set_ignition("on")
        _reset_with_udsoncan(client, tester)

        assert key_counts(client) == (0, 0)
        assert registration_mode(client) == REGISTRATION_AUTOMATIC
        mode, code = read_dids(client, DID_SECURITY_INDICATOR)[DID_SECURITY_INDICATOR]
        assert mode == INDICATOR_FLASHING_CODE and code in READY_CODES  # ready for new keys
        # The old key still in the cylinder no longer starts the engine.
        car.set_ignition("on")
        assert car.start_engine() is False
        car.withdraw_key()

        # Automatic registration: each new key inserted and withdrawn is registered.
        new_keys = [car.new_key("master"), car.new_key("master"), car.new_key("sub")]
        assert not {key.transponder_id for key in new_keys} & {
            key.transponder_id for key in factory_keys
        }
        for key in new_keys:
            car.present_key(key)
            car.withdraw_key()
        assert key_counts(client) == (2, 1)

        if end_registration == "brake pressed 5 times":
            for _ in range(5):
                car.press_brake()
        else:
            client.change_session(EXTENDED_SESSION)  # S3 may have expired meanwhile
            ended = client.start_routine(RID_END_AUTOMATIC_REGISTRATION)
            assert ended is not None and ended.positive
        assert registration_mode(client) == REGISTRATION_NORMAL
        assert key_counts(client) == (2, 1)
        _assert_only_new_keys_start(car, new_keys, factory_keys)

    # The same after a restart from the state directory (this process) ...
    restarted = build_car(state_dir)
    with restarted.running(car_bus):
        assert key_counts(client) == (2, 1)
        assert registration_mode(client) == REGISTRATION_NORMAL
        _assert_only_new_keys_start(restarted, new_keys, factory_keys)

    # ... and in a new process: keys travel as transponder IDs only.
    ids = [f"{key.transponder_id:08X}" for key in (*new_keys, *factory_keys)]
    done = subprocess.run(
        [sys.executable, str(PROBE), "--state-dir", str(state_dir), "--model", MODEL,
         "--year", str(YEAR), "--vin", VIN, "--time-scale", str(TIME_SCALE), *ids],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert bytes.fromhex(result["responses"]["0106"]) == bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0x01,  # DID 0x0106 high byte
            0x06,  # DID 0x0106 low byte: registered master keys
            0x02,  # two masters
        ]
    )
    assert bytes.fromhex(result["responses"]["0107"]) == bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0x01,  # DID 0x0107 high byte
            0x07,  # DID 0x0107 low byte: registered sub keys
            0x01,  # one sub
        ]
    )
    assert result["starts"] == {
        **{f"{key.transponder_id:08X}": True for key in new_keys},
        **{f"{key.transponder_id:08X}": False for key in factory_keys},
    }
