"""N_WFTmax (ISO 15765-2 §9.6.5, §9.7) per ECU: the car profile's ``n_wft_max`` and the ECU
file's ``[isotp] n_wft_max`` reach the node's transport; a bad value is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecusim.car.car_profile import profile_of
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import Catalog
from ecusim.catalog.profile import ProfileError, parse_profile
from protocol.ecu_file import EcuFileError, load_ecu_file
from protocol.isotp_binding import DEFAULT_N_WFT_MAX


def _profile_text(ecm_line: str) -> str:
    """The LS430 2004's exported profile, ``ecm_line`` added to ``[ecus.ecm]``."""
    entry = Catalog.load().lookup("LS430", 2004)
    text = profile_of(entry, Vehicle.from_catalog("LS430", 2004).ecus).to_toml()
    assert f"n_wft_max = {DEFAULT_N_WFT_MAX}\n" in text  # exported with the default
    return text.replace(f"n_wft_max = {DEFAULT_N_WFT_MAX}\n", ecm_line, 1)


def test_a_profiles_n_wft_max_reaches_the_node() -> None:
    car = Vehicle.from_profile(parse_profile(_profile_text("n_wft_max = 3\n")))
    assert car.engine.isotp_parameters.n_wft_max == 3
    assert car.engine.isotp_parameters.to_isotp()["wftmax"] == 3


def test_a_profiles_bad_n_wft_max_is_one_line() -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(_profile_text("n_wft_max = 300\n"), origin="my-car.toml")
    assert str(info.value) == "my-car.toml: ecus.ecm.n_wft_max: must be an integer 0..255, got 300"


ECU_FILE = """
name = "wait-ecu"

[addressing]
request_id = 0x7A0
response_id = 0x7A8

[isotp]
n_wft_max = {value}
"""


def test_an_ecu_files_n_wft_max_reaches_the_node(tmp_path: Path) -> None:
    path = tmp_path / "wait-ecu.toml"
    path.write_text(ECU_FILE.format(value=0), encoding="utf-8")
    assert load_ecu_file(path).isotp_parameters.n_wft_max == 0  # WAIT not allowed


def test_an_ecu_files_bad_n_wft_max_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wait-ecu.toml"
    path.write_text(ECU_FILE.format(value=-1), encoding="utf-8")
    with pytest.raises(EcuFileError, match=r"isotp\.n_wft_max"):
        load_ecu_file(path)
