"""What the smart key system keeps across a power cycle (a restart from the state directory, or
ECUReset): smart keys, VIN, the refusal log, DTCs, the security counter and the ECU-ECM ID. The
waiting period itself is volatile: with no key stored the ECU is back in the waiting mode and the
16 minutes start again [LAB]."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ecusim.car.keys import Key, KeyKind
from ecusim.car.physical import PhysicalState
from ecusim.ecus.certification.config import CertificationConfig
from ecusim.ecus.certification.ecu import CertificationEcu
from ecusim.ecus.id_code_box import IdCodeBox
from protocol.errors import NvmCorruptError
from protocol.nvm import JsonValue, MemoryNvm
from protocol.passcode import pass_code
from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DID_REGISTRATION_MODE,
    DID_SECURITY_STATUS,
    DID_VIN,
    VIN,
    enter_extended,
    read_byte,
    read_did,
    request_seed,
    restart,
    security_status,
    unlock_diag,
)

from .conftest import (
    DID_SMART_KEYS,
    MODE_NORMAL,
    MODE_OPEN,
    MODE_WAITING,
    REFUSED_MOVING,
    START_REGISTRATION,
    WAITING_S,
    Car,
    make_car,
    open_registration,
    refusal,
    reset_smart_keys,
    routine,
    waiting_s,
)

OTHER_VIN = "JTHBA1D29G5000002"


def _register_two(car: Car) -> list[Key]:
    reset_smart_keys(car)
    open_registration(car)
    new = [car.vehicle.new_key("smart"), car.vehicle.new_key("smart")]
    for key in new:
        car.touch_switch(key)
    car.vehicle.set_ignition("off")  # closes registration
    car.take_away()
    return new


def test_each_ecu_keeps_its_own_file(tmp_path: Path) -> None:
    make_car(tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert "certification.nvm.json" in names
    assert "engine.nvm.json" in names
    assert "id_code_box.nvm.json" in names


def test_new_keys_survive_a_restart_and_the_old_ones_stay_erased(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    old = car.old_keys
    new = _register_two(car)
    again = restart(car, tmp_path)
    assert read_byte(again, DID_SMART_KEYS) == 2
    assert read_byte(again, DID_REGISTRATION_MODE) == MODE_NORMAL
    again.bring(old[0])
    assert read_byte(again, DID_IMMOBILIZER_STATE) == 0x01
    again.take_away()
    again.bring(new[1])
    assert read_byte(again, DID_IMMOBILIZER_STATE) == 0x00


def test_factory_keys_are_not_reissued_after_a_reset_and_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    reset_smart_keys(car)
    again = restart(car, tmp_path)
    assert read_byte(again, DID_SMART_KEYS) == 0
    assert read_byte(again, DID_REGISTRATION_MODE) == MODE_WAITING


def test_the_waiting_period_starts_again_after_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    reset_smart_keys(car)
    car.advance(900.0)
    assert waiting_s(car) == 60
    again = restart(car, tmp_path)
    assert waiting_s(again) == int(WAITING_S)  # ignition OFF after the restart: not counting
    again.vehicle.set_ignition("on")
    again.advance(60.0)
    assert waiting_s(again) == int(WAITING_S) - 60


def test_ecu_reset_closes_registration_and_restarts_the_wait(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    # 11 01 = ECUReset hardReset → 51 01
    assert car.handle(bytes([0x11, 0x01])) == bytes([0x51, 0x01])
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING
    assert waiting_s(car) == int(WAITING_S)  # the ignition is ON: counting from the reset
    car.advance(10.0)
    assert waiting_s(car) == int(WAITING_S) - 10
    enter_extended(car)
    unlock_diag(car)
    routine(car, START_REGISTRATION)
    car.advance_in_session(WAITING_S)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN


def test_the_refusal_log_survives_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    reset_smart_keys(car)
    car.vehicle.set_speed(30.0)
    # 31 01 02 06 = start smart key code registration → negative, RoutineControl, 0x22
    assert car.handle(START_REGISTRATION) == bytes([0x7F, 0x31, 0x22])
    again = restart(car, tmp_path)
    assert refusal(again) == (REFUSED_MOVING, "vehicle moving")


def test_a_blank_ecus_written_vin_survives_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    car.vehicle.install_blank_key_ecu()  # a new certification ECU: no VIN until its one write
    enter_extended(car)
    unlock_diag(car)
    # 2E F1 90 = WriteDataByIdentifier VIN, then 17 ASCII bytes → 6E F1 90
    assert car.handle(bytes([0x2E, 0xF1, 0x90]) + OTHER_VIN.encode()) == bytes([0x6E, 0xF1, 0x90])
    again = restart(car, tmp_path)
    assert read_did(again, DID_VIN) == OTHER_VIN.encode()
    # the Pass-Code is now computed for the VIN the ECU holds
    enter_extended(again)
    seed = request_seed(again, 0x11)
    # 27 12 = sendKey level 0x11 with the Pass-Code of the new VIN → 67 12
    assert again.handle(bytes([0x27, 0x12]) + pass_code(OTHER_VIN, seed)) == bytes([0x67, 0x12])
    unlock_diag(again)
    # 2E F1 90 = WriteDataByIdentifier VIN → 7F 2E 22 conditionsNotCorrect: set, also after restart
    assert again.handle(bytes([0x2E, 0xF1, 0x90]) + VIN.encode()) == bytes([0x7F, 0x2E, 0x22])


def test_a_blank_ecu_without_its_vin_stays_blank_after_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    car.vehicle.install_blank_key_ecu()
    again = restart(car, tmp_path)
    assert read_did(again, DID_VIN) == b" " * 17  # 17 ASCII spaces: still no VIN
    assert again.certification.vin is None


def test_the_failed_attempt_counter_survives_a_restart(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    enter_extended(car)
    for expected_nrc in (0x35, 0x35, 0x36):
        seed = request_seed(car, 0x11)
        wrong = bytes(b ^ 0xFF for b in pass_code(VIN, seed))
        # 27 12 = sendKey level 0x11 with a wrong Pass-Code → 7F 27 <nrc>
        assert car.handle(bytes([0x27, 0x12]) + wrong) == bytes([0x7F, 0x27, expected_nrc])
    again = restart(car, tmp_path)
    assert read_did(again, DID_SECURITY_STATUS) == security_status(reset=(3, 10))  # boot delay
    enter_extended(again)
    # 27 11 = requestSeed level 0x11 during the boot delay → 7F 27 37 requiredTimeDelayNotExpired
    assert again.handle(bytes([0x27, 0x11])) == bytes([0x7F, 0x27, 0x37])


def test_the_ecu_ecm_communication_id_is_kept_by_the_id_code_box(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    box = car.system.id_code_box
    assert box.communication_id == car.vehicle.engine.start_control.communication_id
    again = restart(car, tmp_path)
    assert again.system.id_code_box.communication_id == box.communication_id


# -- corrupt records ---------------------------------------------------------------------------


def _ecu(nvm: MemoryNvm) -> CertificationEcu:
    return CertificationEcu(
        CertificationConfig(vin=VIN), physical=PhysicalState(), lock=threading.RLock(), nvm=nvm
    )


def _record(**sections: JsonValue) -> MemoryNvm:
    return MemoryNvm({"keys": {"keys": [], "automatic_registration": False}, **sections})


def test_an_unknown_refusal_reason_is_corrupt() -> None:
    with pytest.raises(NvmCorruptError, match="registration_log"):
        _ecu(_record(registration_log={"reason": 99}))


def test_a_non_numeric_refusal_reason_is_corrupt() -> None:
    with pytest.raises(NvmCorruptError, match="registration_log"):
        _ecu(_record(registration_log={"reason": "moving"}))


def test_a_master_key_in_the_smart_key_record_is_corrupt() -> None:
    master = Key.derived(KeyKind.MASTER, "x")
    entry: JsonValue = {"id": f"{master.transponder_id:08X}", "kind": "master", "secret": "00" * 16}
    nvm = MemoryNvm({"keys": {"keys": [entry], "automatic_registration": False}})
    with pytest.raises(NvmCorruptError, match=r"1 master key\(s\), and this ECU holds none"):
        _ecu(nvm)


def test_a_corrupt_communication_id_is_refused() -> None:
    with pytest.raises(NvmCorruptError, match="communication_id"):
        IdCodeBox(
            lock=threading.RLock(),
            communication_id=1,
            nvm=MemoryNvm({"communication_id": "one"}),
        )


def test_a_blank_ecu_without_factory_keys_waits_for_registration() -> None:
    ecu = _ecu(MemoryNvm())
    assert ecu.key_count == 0
    assert ecu.registration_mode == MODE_WAITING
