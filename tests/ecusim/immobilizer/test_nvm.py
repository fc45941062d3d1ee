"""What the immobilizer keeps in NVM (a new Vehicle on the same state directory): key codes, the
automatic-registration flag, the ECU-ECM communication ID, DTC statuses and the security
counter; what it refuses: a corrupt file, a state directory of another car."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import PhysicalState
from ecusim.car.vehicle import Vehicle, VehicleError
from ecusim.catalog.vin import lab_vin
from ecusim.ecus.engine import EngineEcu
from ecusim.ecus.immobilizer.config import ImmobilizerConfig
from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu
from protocol.clock import FakeClock
from protocol.errors import NvmCorruptError
from protocol.nvm import FileNvm
from protocol.seed_source import DeterministicSeedSource
from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DID_REGISTRATION_MODE,
    DID_SECURITY_STATUS,
    DTC_B2798,
    TEST_FAILED,
    VIN,
    dtc_statuses,
    enter_extended,
    key_counts,
    read_did,
    restart,
    security_status,
    send_wrong_pass_code,
    unlock_diag,
)

from .conftest import Car, make_car, reset_immobilizer


def test_registered_keys_survive_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    car.ignition_on_with(car.master)
    enter_extended(car)
    unlock_diag(car)
    # 31 01 02 02 01 = start RID 0202, option master → 71 01 02 02 01 (positive, running)
    assert car.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x01])) == bytes(
        [0x71, 0x01, 0x02, 0x02, 0x01]
    )
    car.withdraw()
    new_master = car.vehicle.new_key("master")
    car.insert(new_master)
    assert key_counts(car) == (3, 1)

    again = restart(car, tmp_path)
    assert key_counts(again) == (3, 1)
    again.ignition_on_with(new_master)
    assert read_did(again, DID_IMMOBILIZER_STATE) == bytes([0x00])  # the new key is known


def test_the_immobilizer_is_set_after_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    car.ignition_on_with(car.master)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x00])  # 00 = unset
    again = restart(car, tmp_path)  # volatile state is lost: set again
    assert read_did(again, DID_IMMOBILIZER_STATE) == bytes([0x01])  # 01 = set


def test_automatic_registration_survives_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    reset_immobilizer(car, car.master)
    car.withdraw()
    car.cycle(car.vehicle.new_key("master"))

    again = restart(car, tmp_path)
    assert read_did(again, DID_REGISTRATION_MODE) == bytes([0x01])  # still automatic
    assert key_counts(again) == (1, 0)
    again.cycle(again.vehicle.new_key("sub"))
    assert key_counts(again) == (1, 1)  # and still registering


def test_factory_keys_are_not_reissued_after_a_reset_and_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    reset_immobilizer(car, car.master)
    again = restart(car, tmp_path)  # the NVM is not blank: no manufacturing again
    assert key_counts(again) == (0, 0)


def _immobilizer(path: Path, communication_id: int) -> TransponderKeyEcu:
    return TransponderKeyEcu(
        ImmobilizerConfig(vin=VIN),
        physical=PhysicalState(),
        lock=threading.RLock(),
        communication_id=communication_id,
        factory_keys=[Key.derived(KeyKind.MASTER, "nvm-test")],
        nvm=FileNvm(path, kind="immobilizer"),
        seed_source=DeterministicSeedSource(1),
        clock=FakeClock(),
    )


def test_communication_id_is_stored_at_manufacture(tmp_path: Path) -> None:
    path = tmp_path / "immobilizer.nvm.json"
    assert _immobilizer(path, 0x01234567).communication_id == 0x01234567
    # Built again with another ID: the stored one wins (it was paired at manufacture).
    assert _immobilizer(path, 0x0BADCAFE).communication_id == 0x01234567


def test_the_ecm_keeps_its_communication_id_too(tmp_path: Path) -> None:
    path = tmp_path / "engine.nvm.json"
    first = EngineEcu(nvm=FileNvm(path, kind="engine"), communication_id=0x01234567)
    assert first.start_control.communication_id == 0x01234567
    second = EngineEcu(nvm=FileNvm(path, kind="engine"), communication_id=0x0BADCAFE)
    assert second.start_control.communication_id == 0x01234567


def test_vehicle_pair_keeps_matching_ids_after_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    again = restart(car, tmp_path)
    assert again.immobilizer.communication_id == car.immobilizer.communication_id
    assert again.vehicle.engine.start_control.communication_id == car.immobilizer.communication_id


def test_dtcs_survive_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    car.ignition_on_with(dataclasses.replace(car.master, response_time_s=0.6))
    assert dtc_statuses(car)[DTC_B2798] & TEST_FAILED
    again = restart(car, tmp_path)
    assert dtc_statuses(again) == dtc_statuses(car)


def test_security_counter_survives_a_restart_with_the_boot_delay(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    enter_extended(car)
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey

    again = restart(car, tmp_path)
    # 2 failed attempts, last one failed: 10 s boot delay from power-on
    assert read_did(again, DID_SECURITY_STATUS) == security_status(reset=(2, 10))
    enter_extended(again)
    # 27 11 = requestSeed 0x11 → negative, SA, requiredTimeDelayNotExpired
    assert again.handle(bytes([0x27, 0x11])) == bytes([0x7F, 0x27, 0x37])
    again.advance(10.0)
    enter_extended(again)  # S3 expired meanwhile
    # The counter still stands at 2: the next wrong Pass-Code is the 3rd → 0x36
    assert send_wrong_pass_code(again) == bytes([0x7F, 0x27, 0x36])  # exceededNumberOfAttempts


def _assert_refused_unchanged(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "immobilizer.nvm.json"
    path.write_bytes(content)
    with pytest.raises(NvmCorruptError) as caught:
        make_car(tmp_path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content


def test_corrupt_immobilizer_nvm_is_refused_and_left_alone(tmp_path: Path) -> None:
    make_car(tmp_path)
    _assert_refused_unchanged(tmp_path, b'{"format": "ecusim-nvm", "kind": "immobi')


def test_tampered_immobilizer_nvm_is_refused_and_left_alone(tmp_path: Path) -> None:
    make_car(tmp_path)
    path = tmp_path / "immobilizer.nvm.json"
    document = json.loads(path.read_text())
    document["data"]["keys"]["automatic_registration"] = True  # checksum no longer matches
    _assert_refused_unchanged(tmp_path, json.dumps(document).encode())


def test_invalid_key_record_is_refused_and_left_alone(tmp_path: Path) -> None:
    make_car(tmp_path)
    path = tmp_path / "immobilizer.nvm.json"
    store = FileNvm(path, kind="immobilizer")
    data = store.load()
    assert data is not None
    data["keys"] = {
        "keys": [{"id": "4FFFFFFF", "kind": "master", "secret": "00" * 16}],
        "automatic_registration": False,
    }
    store.save(data)  # a valid file whose key record names an impossible transponder ID
    _assert_refused_unchanged(tmp_path, path.read_bytes())


def test_state_dir_of_another_vin_is_refused(tmp_path: Path) -> None:
    make_car(tmp_path)
    other_vin = lab_vin("LS430", 2004, 2)
    with pytest.raises(VehicleError, match="belongs to"):
        Vehicle.from_catalog("LS430", 2004, other_vin, state_dir=tmp_path, clock=FakeClock())


def test_state_dir_of_another_model_year_is_refused(tmp_path: Path) -> None:
    make_car(tmp_path)
    with pytest.raises(VehicleError, match="belongs to"):
        Vehicle.from_catalog("LS430", 2005, VIN, state_dir=tmp_path, clock=FakeClock())


def test_the_same_car_reopens_its_state_dir(tmp_path: Path) -> None:
    car: Car = make_car(tmp_path)
    again = restart(car, tmp_path)
    assert again.vehicle.factory_keys == car.vehicle.factory_keys
    assert key_counts(again) == (2, 1)
