"""`ecusim` command line: clean runs, and one-line errors (never a traceback) for bad input."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from pathlib import Path

import can
import pytest

from ecusim import __version__
from ecusim.catalog.vin import lab_vin
from ecusim.cli.main import main
from protocol.nvm import FileNvm, JsonValue


def _channel() -> str:
    return f"cli-{uuid.uuid4().hex}"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"ecusim {__version__}"


def test_run_serves_for_duration_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-i", "virtual", "-c", _channel(), "--duration", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "LS430 2004 (transponder key ECU), VIN JTHLSL1S045000001" in out  # lab VIN
    assert "engine (ENGINE): 0x7E0 -> 0x7E8, functional 0x7DF" in out
    assert "immobilizer (IMMOBILISER): 0x750 -> 0x758 ext 0x57" in out
    assert "registered keys: master " in out
    assert out.rstrip().endswith("ecusim: stopped")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--vin", "JTHBL5EF0C500000"], "--vin: a VIN has 17 characters, got 16"),
        (["run", "--vin", "JTHBL5EF1C5000001"], "--vin:"),
        (["run", "--vin", "JTHBL5EF0C50000I1"], "--vin:"),
    ],
)
def test_bad_vin_is_one_line_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "-i", "virtual", "-c", _channel(), "--duration", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecusim: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        # issue 11, finding 5: a Honda VIN (WMI 1HG, model year 2003) for the default LS430 2004
        (["--model", "LS430", "--year", "2004", "--vin", "1HGCM82633A004352"],
         "--vin: 1HGCM82633A004352 is not a Lexus VIN: WMI '1HG' (positions 1-3)"),
        # the docs' old example: a 2012 VIN (position 10 'C', position 7 'E') for a 2004 LS430
        (["--model", "LS430", "--year", "2004", "--vin", "JTHBL5EF0C5000001"],
         "--vin: JTHBL5EF0C5000001 is not a 2004 VIN: position 10 'C' reads 2012"),
        # the default car is an LS430 2004 too
        (["--vin", "JTHBL5EF0C5000001"], "is not a 2004 VIN"),
        # an LS430 2004 VIN for an LS460 2007
        (["--model", "LS460", "--year", "2007", "--vin", "JTHLSL1S045000001"],
         "is not a 2007 VIN: position 10 '4' reads 2004"),
    ],
)  # fmt: skip
def test_a_vin_of_another_make_or_year_is_refused_with_the_reason(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *argv, "-i", "virtual", "-c", _channel(), "--duration", "0.1"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("ecusim: error: ") and reason in captured.err
    assert "(--allow-foreign-vin to run it anyway)" in captured.err
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "ready" not in captured.out  # no car ran


def test_allow_foreign_vin_runs_a_foreign_vin_but_still_checks_its_structure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["run", "-i", "virtual", "-c", _channel(), "--duration", "0.1", "--allow-foreign-vin"]
    assert main([*argv, "--vin", "1HGCM82633A004352"]) == 0
    assert "LS430 2004 (transponder key ECU), VIN 1HGCM82633A004352" in capsys.readouterr().out
    assert main([*argv, "--vin", "1HGCM82643A004352"]) == 2  # wrong check digit: still refused
    err = capsys.readouterr().err
    assert err.startswith("ecusim: error: --vin: wrong check digit") and "allow" not in err


@pytest.mark.parametrize(
    ("model", "year"), [("LS430", 2004), ("LS460", 2007), ("ES300", 1997), ("CT200H", 2015)]
)
def test_the_lab_vin_of_a_car_is_accepted(
    model: str, year: int, capsys: pytest.CaptureFixture[str]
) -> None:
    vin = lab_vin(model, year)
    argv = ["run", "--model", model, "--year", str(year), "--vin", vin, "--duration", "0.1"]
    assert main([*argv, "-i", "virtual", "-c", _channel()]) == 0
    assert f"VIN {vin}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--duration", "-1"],
        ["run", "--duration", "soon"],
        ["run", "--duration", "inf"],
        ["run", "--duration", "1e300"],
        ["run", "--duration", "nan"],
        ["run", "-i", "nosuch"],
        ["fly"],
    ],
)
def test_bad_flags_exit_2_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_corrupt_state_file_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "engine.nvm.json"
    state.write_text('{"format": "ecusim-nvm", "truncated', encoding="utf-8")
    before = state.read_bytes()
    argv = ["run", "-i", "virtual", "-c", _channel(), "--state-dir", str(tmp_path)]
    assert main([*argv, "--duration", "0.1"]) == 1
    err = capsys.readouterr().err
    assert str(state) in err and "delete" in err and "Traceback" not in err
    assert state.read_bytes() == before


def test_unusable_bus_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    # python-can's serial-backed slcan interface cannot open a path that does not exist.
    argv = ["run", "-i", "slcan", "-c", "/nonexistent/ttyACM9", "--duration", "0.1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("ecusim: error: cannot open the CAN bus (slcan /nonexistent/ttyACM9):")
        and "Traceback" not in err
    )


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecusim",
            "run",
            "-i",
            "virtual",
            "-c",
            _channel(),
            "--duration",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ecusim: stopped" in result.stdout


FD_RUN = ["run", "-i", "virtual", "--fd", "--duration", "3", "--vin", "JTHLSL1S045000001"]


def test_fd_flag_makes_the_node_answer_in_fd_frames() -> None:
    channel = _channel()
    received: list[can.Message] = []
    tester = can.Bus(interface="virtual", channel=channel, fd=True)
    runner = threading.Thread(
        target=main,
        args=([*FD_RUN, "-c", channel],),
    )
    runner.start()
    try:
        deadline = 50
        while deadline and not received:
            # 22 F1 90 = ReadDataByIdentifier VIN, as an FD single frame (PCI 0x03)
            tester.send(
                can.Message(
                    arbitration_id=0x7E0,
                    data=[0x03, 0x22, 0xF1, 0x90],
                    is_extended_id=False,
                    is_fd=True,
                )
            )
            message = tester.recv(timeout=0.1)
            if message is not None and message.arbitration_id == 0x7E8:
                received.append(message)
            deadline -= 1
    finally:
        runner.join()
        tester.shutdown()
    assert received, "the node answered"
    frame = received[0]
    # FD single frame with escape: 00 <length 20> 62 F1 90 <17 VIN bytes>
    assert frame.is_fd and bytes(frame.data[:5]) == bytes([0x00, 20, 0x62, 0xF1, 0x90])
    assert bytes(frame.data[5:22]) == b"JTHLSL1S045000001"


def test_invalid_security_record_is_refused_before_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "engine.nvm.json"
    # The folder of the default LS430 2004, each file naming its car (a folder without its car
    # record is refused before any record is read).
    car: dict[str, JsonValue] = {"vin": lab_vin("LS430", 2004), "model": "LS430", "year": 2004}
    FileNvm(tmp_path / "vehicle.nvm.json", kind="vehicle", owner=car).save(dict(car))
    FileNvm(state, kind="engine", owner=car).save({"security": {"failed_attempts": "three"}})
    before = state.read_bytes()
    argv = ["run", "-i", "virtual", "-c", _channel(), "--state-dir", str(tmp_path)]
    assert main([*argv, "--duration", "0.1"]) == 1
    captured = capsys.readouterr()
    assert "ready" not in captured.out
    assert str(state) in captured.err and "failed_attempts" in captured.err
    assert "Traceback" not in captured.err
    assert state.read_bytes() == before


def test_unwritable_state_dir_is_refused_before_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    argv = ["run", "-i", "virtual", "-c", _channel(), "--state-dir", str(blocker / "state")]
    assert main([*argv, "--duration", "0.1"]) == 1
    captured = capsys.readouterr()
    assert "ready" not in captured.out
    assert captured.err.startswith("ecusim: error: --state-dir: NVM folder")
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("model", "year", "expected"),
    [
        ("SC400", "1992", ["SC400 1992 (none)", "engine (ENGINE): 0x7E0 -> 0x7E8"]),
        (
            "ES300",
            "2002",
            ["ES300 2002 (ECM-integrated)", "refer to the most recent SPOC bulletin"],
        ),
        ("LS430", "2004", ["immobilizer (IMMOBILISER): 0x750 -> 0x758 ext 0x57"]),
        ("LS460", "2012", ["certification (SMART KEY): 0x750 -> 0x758 ext 0xB5"]),
    ],
)
def test_run_serves_a_car_of_every_system_type(
    model: str, year: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "-i", "virtual", "-c", _channel(), "--model", model, "--year", year]
    assert main([*argv, "--duration", "0.2"]) == 0
    out = capsys.readouterr().out
    for line in expected:
        assert line in out
    assert "ready" in out and out.rstrip().endswith("ecusim: stopped")


@pytest.mark.parametrize("command", [["run", "--duration", "0.1"], ["tool", "identify"]])
def test_no_interface_is_a_usage_error(
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # No flags and no python-can configuration (its files are looked up from HOME and the cwd).
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("CAN_INTERFACE", "CAN_CHANNEL", "CAN_CONFIG", "CAN_BITRATE"):
        monkeypatch.delenv(name, raising=False)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecusim: error: no CAN interface given: use -i INTERFACE -c CHANNEL")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "-i", "virtual", "-c", _channel(), "--duration", "3"],
        ["demo", "--time-scale", "1000"],
    ],
    ids=["run", "demo"],
)
def test_a_reader_that_goes_away_ends_the_command_quietly(argv: list[str], tmp_path: Path) -> None:
    """``ecusim run | head -1``: once the reader has closed the pipe, the next line written fails
    with EPIPE (for ``run`` at the latest its "stopped"; the demo writes all the time). The
    command stops there, exit 1, without a traceback or a word on stderr, as a Unix tool does."""
    if argv[0] == "demo":
        argv = [*argv, "--dir", str(tmp_path)]
    process = subprocess.Popen(
        [sys.executable, "-m", "ecusim", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        assert process.stdout.readline()  # the first line came
        process.stdout.close()  # as head does once it has its lines
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = process.stderr.read()
    process.stderr.close()
    assert (code, errors) == (1, "")
