"""The VIN rule on every VIN written into a car (issue 15): upper-case letters and digits without
I, O, Q (ISO 3779), never a lower-case VIN upper-cased on the way in.

Over UDS a lower-case VIN written to 0xF190 is refused with 0x31 requestOutOfRange, as a wrong
check digit already is (ISO 14229-1 §11.7, diagnostic-contract.md §4), and NVM keeps what it
held. The library and ``ecusim run --vin`` refuse it with one line naming the character.
The engine ECU's write is driven with udsoncan in tests/integration/test_udsoncan_engine.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ecusim.car.vehicle import Vehicle
from ecusim.catalog.vin import VinError, validate_vin, validate_written_vin
from ecusim.cli.main import main
from ecusim.ecus.engine import EngineConfig
from ecusim.ecus.key_ecu.ecu import KeyCodeEcu
from protocol.nvm import FileNvm
from tests.ecusim.key_ecu_kit import (
    DID_VIN,
    VIN,
    KeyEcuCar,
    build_car,
    enter_extended,
    read_did,
    restart,
    unlock_diag,
)

LOWER_VIN = "jthba1d29g5000002"
"""A valid lab VIN (diagnostic-contract.md §5, right check digit) written in lower case."""
UPPER_VIN = LOWER_VIN.upper()
MIXED_VIN = "JTHBa1D29G5000002"
"""One lower-case letter, at position 5."""
LOWER_REASON = "character 'a' at position 5 is lower case: a VIN is written in capitals"


class _KeyCar(KeyEcuCar):
    """Either key-code ECU: the transponder key ECU, or the smart key certification ECU."""

    @property
    def key_ecu(self) -> KeyCodeEcu:
        ecu = self.vehicle.immobilizer or self.vehicle.certification
        assert ecu is not None
        return ecu


KEY_CARS = [
    pytest.param(("LS430", 2004), id="transponder-key-ecu"),
    pytest.param(("LS460", 2012), id="certification-ecu"),
]


def _wdbi_vin(vin: str) -> bytes:
    # 2E = WriteDataByIdentifier, F1 90 = DID VIN, then the 17 ASCII characters as they are
    return bytes([0x2E, 0xF1, 0x90]) + vin.encode("ascii")


# -- the rule ------------------------------------------------------------------------------------


def test_the_written_vin_rule_names_the_first_lower_case_character() -> None:
    with pytest.raises(VinError, match=f"^{LOWER_REASON}") as info:
        validate_written_vin(MIXED_VIN)
    assert info.value.position == 5
    assert validate_written_vin(UPPER_VIN) == UPPER_VIN
    assert validate_vin(LOWER_VIN) == UPPER_VIN  # looking a VIN up stays lenient (ecusim vin)


def test_the_written_vin_rule_keeps_the_other_checks() -> None:
    with pytest.raises(VinError, match="wrong check digit"):
        validate_written_vin("JTHBA1D21G5000002")  # position 9 should be 9
    with pytest.raises(VinError, match="'I' at position 4 is never used"):
        validate_written_vin("JTHIA1D29G5000002")


# -- over UDS: the key-code ECUs' one VIN write -------------------------------------------------


@pytest.mark.parametrize("model_year", KEY_CARS)
@pytest.mark.parametrize("vin", [LOWER_VIN, MIXED_VIN])
def test_a_blank_key_ecu_refuses_a_lower_case_vin_with_0x31_and_keeps_its_one_write(
    model_year: tuple[str, int], vin: str, tmp_path: Path
) -> None:
    car = build_car(_KeyCar, *model_year, tmp_path)
    car.vehicle.install_blank_key_ecu()  # a new replacement ECU: no VIN until its one write
    enter_extended(car)
    unlock_diag(car)
    # 7F = negative response, 2E = WriteDataByIdentifier, 31 = requestOutOfRange (as for a
    # wrong check digit: a value out of range, ISO 14229-1 §11.7)
    assert car.handle(_wdbi_vin(vin)) == bytes([0x7F, 0x2E, 0x31])
    assert read_did(car, DID_VIN) == b" " * 17  # still 17 ASCII spaces: nothing written
    restarted = restart(car, tmp_path)
    assert read_did(restarted, DID_VIN) == b" " * 17  # nor in NVM
    enter_extended(restarted)
    unlock_diag(restarted)
    # 6E = positive WriteDataByIdentifier, F1 90 = DID echo: the one write was not used up
    assert restarted.handle(_wdbi_vin(UPPER_VIN)) == bytes([0x6E, 0xF1, 0x90])
    assert read_did(restarted, DID_VIN) == UPPER_VIN.encode("ascii")


@pytest.mark.parametrize("model_year", KEY_CARS)
def test_a_set_key_ecu_vin_answers_0x22_to_a_lower_case_write_too(
    model_year: tuple[str, int], tmp_path: Path
) -> None:
    """§4's order: a set VIN is never written again, whatever the value (0x22 before the value
    is looked at); the stored VIN stays."""
    car = build_car(_KeyCar, *model_year, tmp_path)
    enter_extended(car)
    unlock_diag(car)
    # 7F = negative response, 2E = WriteDataByIdentifier, 22 = conditionsNotCorrect
    assert car.handle(_wdbi_vin(VIN.lower())) == bytes([0x7F, 0x2E, 0x22])
    assert read_did(restart(car, tmp_path), DID_VIN) == VIN.encode("ascii")


# -- the library and the CLI -------------------------------------------------------------------


def test_vehicle_refuses_a_lower_case_vin(tmp_path: Path) -> None:
    with pytest.raises(VinError, match=f"^{LOWER_REASON}"):
        Vehicle.from_catalog("LS460", 2012, MIXED_VIN, state_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before the state folder is touched


def test_engine_config_refuses_a_lower_case_vin() -> None:
    with pytest.raises(VinError, match=f"^{LOWER_REASON}"):
        EngineConfig(vin=MIXED_VIN)


def test_a_lower_case_vin_in_engine_nvm_is_refused_as_corrupt(tmp_path: Path) -> None:
    """What a car holds is in capitals: a hand-edited lower-case VIN is not read as another."""
    from ecusim.ecus.engine import EngineEcu  # noqa: PLC0415 - this test only
    from protocol.errors import NvmCorruptError  # noqa: PLC0415 - this test only

    FileNvm(tmp_path / "engine.json", kind="engine").save({"identity": {"vin": LOWER_VIN}})
    with pytest.raises(NvmCorruptError, match="lower case"):
        EngineEcu(nvm=FileNvm(tmp_path / "engine.json", kind="engine"))


def test_ecusim_run_refuses_a_lower_case_vin_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    channel = f"vin-case-{uuid.uuid4().hex}"
    argv = [
        "run",
        "-i",
        "virtual",
        "-c",
        channel,
        "--duration",
        "0.1",
        "--model",
        "LS460",
        "--year",
        "2016",
    ]
    assert main([*argv, "--vin", MIXED_VIN]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--vin: {LOWER_REASON}" in err
