"""Stale temp files of an interrupted NVM save are removed at the next open of the state folder
(issue 15): a save killed between writing its temp file and the rename leaves
``.<kind>.nvm.json.<8 characters>.tmp`` beside the intact old file; building the car on the
folder again removes exactly those, and nothing with a similar name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ecusim.car.vehicle import Vehicle
from protocol.nvm import remove_stale_temp_files, temp_file_target

MODEL, YEAR = "LS460", 2012

INTERRUPTED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from protocol.nvm import FileNvm

    # The save writes and fsyncs its temp file, then dies where the rename would be: the
    # deterministic form of a kill -9 in the middle of a save.
    os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    store = FileNvm(Path(sys.argv[1]), kind="vehicle")
    store.save({"interrupted": True})
    """
)


def _build(folder: Path) -> Vehicle:
    return Vehicle.from_catalog(MODEL, YEAR, state_dir=folder, seed=1)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.glob("*.nvm.json")}


def _interrupt_a_save(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_SAVE, str(path)], env=env, timeout=60, check=False
    )
    assert done.returncode == -signal.SIGKILL  # killed mid-save, as by kill -9


def test_a_save_killed_before_its_rename_leaves_a_temp_file_the_next_open_removes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "car"
    _build(folder)
    before = _snapshot(folder)
    _interrupt_a_save(folder / "vehicle.nvm.json")
    _interrupt_a_save(folder / "vehicle.nvm.json")
    stale = sorted(path.name for path in folder.glob(".vehicle.nvm.json.*.tmp"))
    assert len(stale) == 2 and all(temp_file_target(name) == "vehicle.nvm.json" for name in stale)
    assert _snapshot(folder) == before  # the kill left the old content, intact

    car = _build(folder)

    assert list(folder.glob(".*.tmp")) == []
    assert _snapshot(folder) == before  # the real state is untouched
    assert car.vin == _build(folder).vin


def test_only_the_saves_own_temp_files_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "car"
    _build(folder)
    before = _snapshot(folder)
    stale = [
        folder / ".immobilizer.nvm.json.k3j_9x2a.tmp",  # an interrupted first save: no file yet
        folder / ".certification.nvm.json.0abcdefg.tmp",
    ]
    for path in stale:
        path.write_bytes(b'{"format": "ecusim-nvm", "kind": "cert')  # half written
    foreign = {
        ".vehicle.nvm.json.tmp": b"no random part",
        ".vehicle.nvm.json.ABCDEFGH.tmp": b"capitals: not from mkstemp",
        ".vehicle.nvm.json.abcdefghi.tmp": b"nine characters",
        "vehicle.nvm.json.abcdefgh.tmp": b"no leading dot",
        ".notes.json.abcdefgh.tmp": b"not an NVM file's",
        ".vehicle.nvm.json.abcdefgh.tmp.bak": b"another suffix",
        "my.tmp": b"mine",
    }
    for name, content in foreign.items():
        (folder / name).write_bytes(content)
    outside = tmp_path / "precious.txt"
    outside.write_bytes(b"not the car's")
    link = folder / ".engine.nvm.json.abcdefgh.tmp"
    link.symlink_to(outside)  # matches the pattern, but no save makes a symlink
    directory = folder / ".keyless.nvm.json.abcdefgh.tmp"
    directory.mkdir()

    _build(folder)

    assert not any(path.exists() for path in stale)
    assert {name: (folder / name).read_bytes() for name in foreign} == foreign
    assert link.is_symlink() and outside.read_bytes() == b"not the car's"
    assert directory.is_dir()
    assert _snapshot(folder) == before


def test_remove_stale_temp_files_reports_what_it_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stale = tmp_path / ".engine.nvm.json.abcd_123.tmp"
    stale.write_bytes(b"")
    (tmp_path / ".vehicle.nvm.json.abcdefgh.tmp").mkdir()
    with caplog.at_level("INFO", logger="protocol.nvm"):
        assert remove_stale_temp_files(tmp_path, target_suffix=".nvm.json") == [stale]
    assert "not a regular file" in caplog.text and "interrupted save" in caplog.text
    assert remove_stale_temp_files(tmp_path / "missing", target_suffix=".nvm.json") == []
