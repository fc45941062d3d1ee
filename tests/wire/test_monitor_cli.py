"""``ecusim monitor --plain`` and ``--events``, and ``ecusim run --events``: their lines.

The monitor runs on a thread of this test on a virtual channel of its own; frames are sent by
hand (each byte commented) or, for ``run``, by a udsoncan client to the car.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import can
import pytest

from dbc import body
from ecusim.car.vehicle import Vehicle
from ecusim.cli import monitor_command
from ecusim.cli.main import build_parser, main
from ecusim.cli.monitor_options import Watch
from ecusim.tool import contract
from ecusim.tool.targets import IMMOBILIZER
from ecusim.wire.decoder import model_targets
from protocol.can_bus import BusConnection

DEADLINE_S = 10.0
SESSION_REQUEST = [
    0x57,  # extended address: the transponder key ECU
    0x02,  # PCI: single frame, 2 bytes
    0x10,  # DiagnosticSessionControl
    0x03,  # extendedDiagnosticSession
]
SESSION_RESPONSE = [
    0x57,  # the sub-address, echoed
    0x06,  # PCI: single frame, 6 bytes
    0x50,  # DiagnosticSessionControl positive response
    0x03,  # extendedDiagnosticSession
    0x00, 0x32,  # P2server_max 50 ms
    0x01, 0xF4,  # P2*server_max 5000 ms
]  # fmt: skip


@pytest.fixture
def channel() -> str:
    return f"monitor-{uuid.uuid4().hex}"


@pytest.fixture
def tester(channel: str) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


def _wait_until(condition: Callable[[], bool], what: str, poke: Callable[[], None]) -> None:
    """Poll ``condition`` (calling ``poke`` before each look); fail after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        poke()
        if condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE_S} s")
        time.sleep(0.02)


def _send(bus: can.BusABC, can_id: int, data: list[int]) -> None:
    bus.send(can.Message(arbitration_id=can_id, data=bytes(data).ljust(8, b"\xcc"),
                         is_extended_id=False))  # fmt: skip


def _records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def _monitor(args: argparse.Namespace, stop: threading.Event) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(monitor_command.run(args, stop)))
    thread.start()
    return thread, codes


def _exchange_seen(records: list[dict[str, Any]]) -> bool:
    return any(record["type"] == "exchange" for record in records)


def test_plain_lines_and_events_of_one_exchange_and_a_state_change(
    channel: str, tester: can.BusABC, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    args = build_parser().parse_args(
        ["monitor", "-i", "virtual", "-c", channel, "--model", "LS430", "--year", "2004",
         "--plain", "--events", str(events)]
    )  # fmt: skip
    stop = threading.Event()
    thread, codes = _monitor(args, stop)
    ignition_on = body.encode_message(body.IGNITION_STATUS, {"IgnitionState": 2})
    try:  # the monitor listens once it has seen the ignition (sent until then)
        _wait_until(
            lambda: bool(_records(events)), "a state line", lambda: tester.send(ignition_on)
        )
        _send(tester, 0x750, SESSION_REQUEST)
        _send(tester, 0x758, SESSION_RESPONSE)
        _wait_until(lambda: _exchange_seen(_records(events)), "the exchange", lambda: None)
    finally:
        stop.set()
        thread.join(timeout=DEADLINE_S)
    assert codes == [0]
    records = _records(events)
    assert events.read_text(encoding="utf-8").count("\n") == len(records)  # one object a line
    assert all(isinstance(record["time"], float) for record in records)
    (exchange,) = [record for record in records if record["type"] == "exchange"]
    assert exchange["node"] == "transponder key ECU"
    assert exchange["request"] == "10 03"
    assert exchange["service"] == "DiagnosticSessionControl"
    assert exchange["response"] == "50 03 00 32 01 F4"
    assert (exchange["pending"], exchange["nrc"], exchange["timing_problems"]) == (0, None, [])
    states = {(r["subject"], r["field"]): r["new"] for r in records if r["type"] == "state"}
    assert states[("car", "ignition")] == "ON"
    assert states[("transponder key ECU", "session")] == "extendedDiagnosticSession"
    plain = capsys.readouterr().out.splitlines()
    assert len(plain) == len(records)  # one line per event
    assert any(
        "transponder key ECU: 10 03 DiagnosticSessionControl extendedDiagnosticSession → 50 03"
        in line
        for line in plain
    )


def test_events_to_standard_output_are_json_lines_only(
    channel: str, tester: can.BusABC, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["monitor", "-i", "virtual", "-c", channel, "--events", "-"])
    stop = threading.Event()
    thread, codes = _monitor(args, stop)
    seen: list[str] = []

    def exchange_printed() -> bool:
        seen.extend(capsys.readouterr().out.splitlines())
        return any('"type": "exchange"' in line for line in seen)

    def exchange() -> None:
        _send(tester, 0x750, SESSION_REQUEST)
        _send(tester, 0x758, SESSION_RESPONSE)

    try:
        _wait_until(exchange_printed, "the exchange on stdout", exchange)
    finally:
        stop.set()
        thread.join(timeout=DEADLINE_S)
    seen.extend(capsys.readouterr().out.splitlines())
    assert codes == [0]
    assert seen and all(isinstance(json.loads(line), dict) for line in seen)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--plain", "--events", "-"], "--plain and --events - both want standard output"),
        (["--model", "LS430"], "--model and --year go together"),
        (["--model", "NOPE", "--year", "2004"], "NOPE"),
    ],
)
def test_bad_monitor_flags_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", "-i", "virtual", "-c", "unused", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_an_unwritable_events_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["monitor", "-i", "virtual", "-c", "x", "--events", str(blocker / "e.jsonl")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ecusim: error: --events: cannot write")


@pytest.mark.parametrize("command", ["monitor", "run"])
def test_an_events_file_in_a_missing_folder_creates_no_folder(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-folder"
    argv = [command, "-i", "virtual", "-c", "x", "--events", str(missing / "e.jsonl")]
    if command == "run":
        argv += ["--ephemeral", "--duration", "0.1"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ecusim: error: --events: cannot write"), err
    assert not missing.exists()


def test_a_log_file_in_a_missing_folder_creates_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-folder"
    argv = ["run", "-i", "virtual", "-c", "x", "--ephemeral", "--log", str(missing / "t.log")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ecusim: error: --log: cannot write {missing / 't.log'}: no folder {missing}"]
    assert not missing.exists()


def test_run_events_record_the_cars_own_answers(channel: str, tmp_path: Path) -> None:
    """What ``ecusim run --events FILE`` attaches: the decoder on the car's own connection
    sees the tester's requests (received) and the car's answers (sent)."""
    events = tmp_path / "run-events.jsonl"
    args = build_parser().parse_args(
        ["run", "-i", "virtual", "-c", channel, "--events", str(events)]
    )
    car = Vehicle.from_catalog("LS430", 2004)
    watch = Watch(args, model_targets(car.model_year), car.model_year.name)
    car_bus = can.Bus(interface="virtual", channel=channel)
    tester_bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(tester_bus, [])
    try:
        with (
            BusConnection(car_bus) as connection,
            car.running(connection),
            watch.attached(connection),
        ):
            client = contract.open_client(tester_bus, notifier, IMMOBILIZER.addressing)
            client.change_session(contract.EXTENDED_SESSION)
            client.close()
            _wait_until(lambda: _exchange_seen(_records(events)), "the exchange", lambda: None)
    finally:
        notifier.stop()
        tester_bus.shutdown()
    (exchange,) = [r for r in _records(events) if r["type"] == "exchange"]
    assert (exchange["request"], exchange["response"]) == ("10 03", "50 03 00 32 01 F4")
    assert any(r["type"] == "state" and r["field"] == "session" for r in _records(events))


def test_run_takes_the_monitor_and_events_flags() -> None:
    args = build_parser().parse_args(["run", "--monitor", "--events", "-"])
    assert (args.monitor, args.events) == (True, "-")


def test_without_a_terminal_the_monitor_prints_lines(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", "-i", "virtual", "-c", channel, "--duration", "0.3"]) == 0
    err = capsys.readouterr().err
    assert "standard output is not a terminal: the log as lines (--plain)" in err


def test_run_monitor_and_events_to_stdout_are_refused_in_one_line(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "-i", "virtual", "-c", channel, "--ephemeral", "--monitor", "--events", "-"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "ecusim: error: --monitor and --events - both want standard output: use a file"
    )


def test_monitor_watches_the_addresses_of_a_car_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--car FILE``: the decoder follows the profile's nodes (a key ECU moved to 0x740);
    a missing profile, or one with --model, is one line and exit 2."""
    assert main(["models", "--export", "LS460", "2012"]) == 0
    moved = capsys.readouterr().out.replace('request = "0x750"', 'request = "0x740"')
    profile = tmp_path / "moved.toml"
    profile.write_text(moved.replace('response = "0x758"', 'response = "0x748"'), "utf-8")
    args = build_parser().parse_args(["monitor", "--car", str(profile)])
    entry = monitor_command.model_year_of(args)
    assert entry is not None
    requests = {target.addressing.request_id for target in model_targets(entry)}
    assert requests == {0x7E0, 0x740}
    missing = tmp_path / "missing.toml"
    assert main(["monitor", "-i", "virtual", "-c", "x", "--car", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the car profile" in err[0], err
    argv = ["monitor", "-i", "virtual", "-c", "x", "--car", str(profile), "--model", "LS460"]
    assert main(argv) == 2
    assert "--car: the profile names the model and year" in capsys.readouterr().err
