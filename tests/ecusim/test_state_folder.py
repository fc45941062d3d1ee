"""A car's state folder (ecusim/car/state_folder.py): its default place, its owner in every NVM
file, its lock while a car is built and runs; and ``ecusim run``'s state flags."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import can
import pytest

from ecusim.car.state_folder import (
    StateFolderError,
    StateFolderInUseError,
    default_state_dir,
)
from ecusim.car.vehicle import Vehicle
from ecusim.catalog.vin import lab_vin
from ecusim.cli.main import main
from protocol.clock import FakeClock
from protocol.nvm import FileNvm

VIN = lab_vin("LS430", 2004)
IDENTITY = {"vin": VIN, "model": "LS430", "year": 2004}


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def _ls430(folder: Path) -> Vehicle:
    return Vehicle.from_catalog("LS430", 2004, state_dir=folder, clock=FakeClock())


def test_the_default_folder_is_per_vin_in_the_user_data_dir(
    user_data_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert default_state_dir(VIN) == user_data_home / "ecusim" / "cars" / VIN
    monkeypatch.setenv("ECUSIM_DATA_DIR", str(tmp_path / "data"))
    assert default_state_dir(VIN) == tmp_path / "data" / "cars" / VIN


def test_every_nvm_file_names_its_car(tmp_path: Path) -> None:
    _ls430(tmp_path)
    files = sorted(tmp_path.glob("*.nvm.json"))
    assert {path.name for path in files} >= {"vehicle.nvm.json", "engine.nvm.json"}
    for path in files:
        assert json.loads(path.read_text(encoding="ascii"))["owner"] == IDENTITY, path.name


@pytest.mark.parametrize("missing", ["vehicle.nvm.json", "engine.nvm.json", None])
def test_a_folder_of_another_model_is_refused_whatever_file_is_missing(
    tmp_path: Path, missing: str | None
) -> None:
    _ls430(tmp_path)
    if missing is not None:
        (tmp_path / missing).unlink()
    before = _snapshot(tmp_path)
    with pytest.raises(StateFolderError, match=rf"belongs to LS430 2004 VIN {VIN}, not LS460"):
        Vehicle.from_catalog("LS460", 2012, state_dir=tmp_path, clock=FakeClock())
    assert _snapshot(tmp_path) == before


def test_a_folder_of_an_earlier_ecusim_is_accepted_and_stamped(tmp_path: Path) -> None:
    _ls430(tmp_path)
    for path in tmp_path.glob("*.nvm.json"):  # as an ecusim before owners wrote them
        document = json.loads(path.read_text(encoding="ascii"))
        del document["owner"]
        path.write_text(json.dumps(document), encoding="ascii")
    _ls430(tmp_path)
    for path in tmp_path.glob("*.nvm.json"):
        assert FileNvm(path, kind=path.name.removesuffix(".nvm.json")).read_owner() == IDENTITY


def test_a_running_car_holds_its_folder(tmp_path: Path) -> None:
    car = _ls430(tmp_path)
    bus = can.Bus(interface="virtual", channel=f"state-{uuid.uuid4().hex}")
    try:
        with car.running(bus):
            before = _snapshot(tmp_path)
            with pytest.raises(StateFolderInUseError, match=r"in use by another running car"):
                _ls430(tmp_path)
            assert _snapshot(tmp_path) == before
        assert _ls430(tmp_path).vin == VIN  # stopped: the folder is free again
    finally:
        bus.shutdown()


def test_registered_keys_are_the_key_code_ecus(tmp_path: Path) -> None:
    car = _ls430(tmp_path)
    registered = car.registered_keys
    assert registered is not None
    assert [key.transponder_id for key in registered] == [
        key.transponder_id for key in car.factory_keys
    ]
    assert Vehicle.from_catalog("SC400", 1992, clock=FakeClock()).registered_keys is None


def _channel() -> str:
    return f"state-cli-{uuid.uuid4().hex}"


def test_run_without_a_state_flag_keeps_the_state_in_the_user_data_dir(
    user_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-i", "virtual", "-c", _channel(), "--duration", "0.1"]) == 0
    folder = user_data_home / "ecusim" / "cars" / VIN
    assert f"state in {folder}" in capsys.readouterr().out
    assert (folder / "vehicle.nvm.json").is_file() and (folder / "lock").is_file()


def test_run_ephemeral_keeps_the_state_in_memory_and_says_so(
    user_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "-i", "virtual", "-c", _channel(), "--ephemeral", "--duration", "0.1"]
    assert main(argv) == 0
    assert "state in memory only (--ephemeral): a restart forgets it" in capsys.readouterr().out
    assert not list(user_data_home.rglob("*"))


def test_ephemeral_and_state_dir_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "-i", "virtual", "-c", _channel(), "--ephemeral", "--state-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].endswith("error: argument --state-dir: not allowed with argument --ephemeral")
    assert not list(tmp_path.iterdir())


def test_deleting_the_lock_file_does_not_free_a_running_car_s_folder(tmp_path: Path) -> None:
    """The attacker removes ``lock`` while a car runs; a second car must still be refused."""
    car = _ls430(tmp_path)
    bus = can.Bus(interface="virtual", channel=f"state-{uuid.uuid4().hex}")
    try:
        with car.running(bus):
            (tmp_path / "lock").unlink()
            with pytest.raises(StateFolderInUseError, match=r"in use by another running car"):
                _ls430(tmp_path)
    finally:
        bus.shutdown()


def test_a_symlink_planted_as_the_lock_file_is_never_written_through(tmp_path: Path) -> None:
    folder = tmp_path / "car"
    _ls430(folder)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data", encoding="ascii")
    (folder / "lock").unlink(missing_ok=True)
    (folder / "lock").symlink_to(victim)
    car = _ls430(folder)
    bus = can.Bus(interface="virtual", channel=f"state-{uuid.uuid4().hex}")
    try:
        with car.running(bus):
            pass
    finally:
        bus.shutdown()
    assert victim.read_text(encoding="ascii") == "precious data"


def test_files_without_a_car_record_are_not_taken_over(tmp_path: Path) -> None:
    """An earlier ecusim's LS430 folder (files without an owner) whose vehicle.nvm.json was
    deleted: an LS460 must not take on its remotes and engine link."""
    _ls430(tmp_path)
    for path in tmp_path.glob("*.nvm.json"):  # as an earlier ecusim wrote them: no owner
        document = json.loads(path.read_text(encoding="ascii"))
        document.pop("owner", None)
        path.write_text(json.dumps(document), encoding="ascii")
    (tmp_path / "vehicle.nvm.json").unlink()
    before = _snapshot(tmp_path)
    with pytest.raises(StateFolderError, match=r"no car record"):
        Vehicle.from_catalog("LS460", 2012, state_dir=tmp_path, clock=FakeClock())
    assert _snapshot(tmp_path) == before
