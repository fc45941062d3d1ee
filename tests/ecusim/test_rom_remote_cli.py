"""``ecusim rom new|show``, ``ecusim remote`` and ``ecusim run --rom``: output, exit codes and
one-line errors; ``remote --wait`` against a car on a virtual bus."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import can
import pytest

from dbc import body
from ecusim.car.keyless import KeylessCommand, RomChip
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import SystemType
from ecusim.cli.main import main
from ecusim.systems.registry import KEY_SYSTEMS
from protocol.clock import FakeClock

DEADLINE_S = 5.0
STRANGER = "0BADC0DE"

needs_sc400 = pytest.mark.skipif(
    SystemType.NONE not in KEY_SYSTEMS,
    reason="the 'none' key system (1992 SC400) is not simulated yet",
)


@pytest.fixture
def channel() -> str:
    return f"rom-remote-{uuid.uuid4().hex}"


def _bus(channel: str) -> list[str]:
    return ["-i", "virtual", "-c", channel]


def _one_line_error(err: str, *parts: str) -> None:
    assert err.startswith("ecusim: error: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)


def _new_rom(path: Path, remotes: int = 2, seed: int = 1) -> RomChip:
    argv = ["rom", "new", "--remotes", str(remotes), "--out", str(path), "--seed", str(seed)]
    assert main(argv) == 0
    return RomChip.load(path)


# -- ecusim rom ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remotes", "part_number"), [(1, "89705-50943"), (2, "89705-50944"), (3, "89705-50945")]
)
def test_rom_new_writes_the_kit_and_prints_its_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], remotes: int, part_number: str
) -> None:
    path = tmp_path / "rom.json"
    argv = ["rom", "new", "--remotes", str(remotes), "--out", str(path), "--seed", "7"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rom = RomChip.load(path)
    expected, made = RomChip.kit(remotes, random.Random(7))
    assert rom == expected
    assert rom.part_number == part_number
    lines = out.splitlines()
    assert lines[0] == f"ROM {part_number} ({remotes} remote{'s' if remotes > 1 else ''})"
    assert lines[1 : 1 + remotes] == [
        f"remote {index}: {remote.code:08X}" for index, remote in enumerate(made, start=1)
    ]
    assert lines[-1] == f"written to {path}"


def test_rom_new_defaults_to_two_remotes_and_unseeded_kits_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["rom", "new", "--out", str(first)]) == 0
    assert main(["rom", "new", "--out", str(second)]) == 0
    capsys.readouterr()
    assert RomChip.load(first).part_number == "89705-50944"
    assert RomChip.load(first).codes != RomChip.load(second).codes


def test_rom_new_keeps_an_existing_file_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rom.json"
    path.write_bytes(b"precious")
    assert main(["rom", "new", "--out", str(path), "--seed", "1"]) == 2
    _one_line_error(capsys.readouterr().err, str(path), "--force")
    assert path.read_bytes() == b"precious"
    assert main(["rom", "new", "--out", str(path), "--seed", "1", "--force"]) == 0
    assert RomChip.load(path) == RomChip.kit(2, random.Random(1))[0]


def test_rom_new_into_a_missing_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing" / "rom.json"
    assert main(["rom", "new", "--out", str(path)]) == 1
    _one_line_error(capsys.readouterr().err, "cannot write ROM image", str(path))


@pytest.mark.parametrize(
    "argv",
    [
        ["rom", "new", "--remotes", "4", "--out", "x.json"],
        ["rom", "new", "--remotes", "0", "--out", "x.json"],
        ["rom", "new"],
        ["rom"],
        ["rom", "show"],
    ],
)
def test_rom_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_rom_show_prints_part_number_and_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rom.json"
    rom, _ = RomChip.kit(3, random.Random(3))
    rom.save(path)
    assert main(["rom", "show", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ROM 89705-50945 (3 remotes)",
        *(f"remote {index}: {code:08X}" for index, code in enumerate(rom.codes, start=1)),
    ]


def _damaged(path: Path) -> None:
    rom, _ = RomChip.kit(1, random.Random(2))
    text = rom.to_image().decode("ascii")
    path.write_text(text.replace(f"{rom.codes[0]:08X}", f"{rom.codes[0] ^ 0x10:08X}"))


@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (_damaged, "damaged: its checksum does not match"),
        (lambda path: path.write_text('{"format": "ecusim-nvm"}'), "not an ecusim ROM image"),
        (lambda path: path.write_bytes(b"\x00\xff binary"), "is not a ROM image"),
        (lambda path: None, "cannot read ROM image"),
    ],
)
def test_rom_show_refuses_a_damaged_or_foreign_file_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    write: Callable[[Path], object],
    problem: str,
) -> None:
    path = tmp_path / "rom.json"
    write(path)
    assert main(["rom", "show", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    _one_line_error(captured.err, problem, str(path))


# -- ecusim remote -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("zz", "not a 32-bit hex code"),
        ("123456789", "not a 32-bit hex code"),
        ("", "not a 32-bit hex code"),
        ("-1", "not a 32-bit hex code"),
        ("0x", "not a 32-bit hex code"),
        ("0", "not zero"),
        ("0x00000000", "not zero"),
    ],
)
def test_remote_bad_code_is_exit_2_in_one_line(
    channel: str, capsys: pytest.CaptureFixture[str], code: str, problem: str
) -> None:
    argv = ["remote", *_bus(channel), "--code", code, "--button", "lock"]
    assert main(argv) == 2
    _one_line_error(capsys.readouterr().err, "--code", problem)


@pytest.mark.parametrize(
    "argv",
    [
        ["--code", "1234", "--button", "open"],
        ["--code", "1234"],
        ["--button", "lock"],
        ["--code", "1234", "--button", "lock", "--wait", "0"],
        ["--code", "1234", "--button", "lock", "--wait", "nan"],
        ["--code", "1234", "--button", "lock", "--wait", "601"],
    ],
)
def test_remote_bad_flags_exit_2(
    channel: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["remote", *_bus(channel), *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "button", "expected"),
    [
        ("2265b1f6", "lock", (0x2265B1F6, 0)),
        ("0x91B7584B", "unlock", (0x91B7584B, 1)),
        ("1", "panic", (1, 2)),
    ],
)
def test_remote_sends_lab_remote_cmd(
    channel: str,
    capsys: pytest.CaptureFixture[str],
    code: str,
    button: str,
    expected: tuple[int, int],
) -> None:
    remote_code, button_value = expected
    tool = can.Bus(interface="virtual", channel=channel)
    try:
        assert main(["remote", *_bus(channel), "--code", code, "--button", button]) == 0
        message = tool.recv(timeout=DEADLINE_S)
    finally:
        tool.shutdown()
    assert capsys.readouterr().out == f"sent: remote {remote_code:08X} {button}\n"
    assert message is not None and message.arbitration_id == 0x6E5
    assert body.decode_message(message) == (
        body.LAB_REMOTE_CMD,
        {"RemoteCode": remote_code, "Button": button_value},
    )


def test_remote_wait_without_a_car_is_no_answer(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    argv = ["remote", *_bus(channel), "--code", STRANGER, "--button", "lock", "--wait", "0.3"]
    assert main(argv) == 1
    assert time.monotonic() - started < DEADLINE_S
    _one_line_error(capsys.readouterr().err, "no KEYLESS_ENTRY answer", STRANGER, "0.3 s")


def test_remote_unusable_bus_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["remote", "-i", "slcan", "-c", "/nonexistent/ttyACM9", "--code", "1", "--button"]
    assert main([*argv, "lock"]) == 1
    _one_line_error(capsys.readouterr().err, "cannot open the CAN bus")


def _keyless_entry(accepted: bool, counter: int) -> can.Message:
    return body.encode_message(
        body.KEYLESS_ENTRY,
        {
            "DoorsLocked": 0,
            "LastCommand": int(KeylessCommand.UNLOCK),
            "Accepted": int(accepted),
            "CommandCounter": counter,
        },
    )


def test_remote_wait_skips_a_periodic_frame_sent_before_the_answer(
    channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fake car whose periodic KEYLESS_ENTRY (an old accepted unlock) goes out just before
    its answer: the answer is the frame with the new CommandCounter."""
    car = can.Bus(interface="virtual", channel=channel)
    done = threading.Event()

    def fake_car() -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not done.is_set() and time.monotonic() < deadline:
            message = car.recv(timeout=0.05)
            if message is not None and message.arbitration_id == 0x6E5:
                car.send(_keyless_entry(True, 41))  # periodic: the previous command
                time.sleep(0.02)
                car.send(_keyless_entry(False, 42))  # the answer to this one
                return

    thread = threading.Thread(target=fake_car, daemon=True)
    thread.start()
    try:
        argv = ["remote", *_bus(channel), "--code", STRANGER, "--button", "unlock"]
        assert main([*argv, "--wait", "2"]) == 1
    finally:
        done.set()
        thread.join(DEADLINE_S)
        car.shutdown()
    assert capsys.readouterr().out == f"ignored: remote {STRANGER} unlock; doors unlocked\n"


@pytest.fixture
def running_car(request: pytest.FixtureRequest, channel: str) -> Iterator[Vehicle]:
    model, year = request.param
    car = Vehicle.from_catalog(model, year, clock=FakeClock(), seed=1)
    bus = can.Bus(interface="virtual", channel=channel)
    try:
        with car.running(bus):
            yield car
    finally:
        bus.shutdown()


@pytest.mark.parametrize(
    "running_car",
    [pytest.param(("SC400", 1992), marks=needs_sc400), ("LS430", 2004)],
    indirect=True,
)
def test_remote_wait_reports_accepted_and_ignored(
    running_car: Vehicle, channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = f"{running_car.remotes[0].code:08X}"
    wait = [*_bus(channel), "--wait", str(DEADLINE_S)]
    assert main(["remote", *wait, "--code", code, "--button", "lock"]) == 0
    assert capsys.readouterr().out == f"accepted: remote {code} lock; doors locked\n"
    assert running_car.physical.doors_locked
    assert main(["remote", *wait, "--code", STRANGER, "--button", "unlock"]) == 1
    assert capsys.readouterr().out == f"ignored: remote {STRANGER} unlock; doors locked\n"
    assert main(["remote", *wait, "--code", code.lower(), "--button", "unlock"]) == 0
    assert capsys.readouterr().out == f"accepted: remote {code} unlock; doors unlocked\n"
    assert main(["remote", *wait, "--code", f"0x{code}", "--button", "panic"]) == 0
    assert capsys.readouterr().out == f"accepted: remote {code} panic; doors unlocked\n"
    assert running_car.keyless.receiver.command_counter == 4


# -- ecusim run --rom ----------------------------------------------------------------------------


def _wait_for_frames(channel: str) -> None:
    """Return once a car on ``channel`` broadcasts (it is running), within a deadline."""
    bus = can.Bus(interface="virtual", channel=channel)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            message = bus.recv(timeout=0.1)
            if message is not None and message.arbitration_id == 0x1A0:  # IGNITION_STATUS
                return
        raise AssertionError("the car did not start broadcasting")
    finally:
        bus.shutdown()


@needs_sc400
def test_run_with_rom_installs_it_and_keeps_it_in_the_state_dir(
    tmp_path: Path, channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rom_path = tmp_path / "kit.json"
    rom = _new_rom(rom_path, remotes=1, seed=5)
    state = tmp_path / "state"
    factory = Vehicle.from_catalog("SC400", 1992).remotes
    argv = ["run", "--model", "SC400", "--year", "1992", "--rom", str(rom_path)]
    argv += ["--state-dir", str(state), *_bus(channel), "--duration", "2"]
    exit_codes: list[int] = []
    runner = threading.Thread(target=lambda: exit_codes.append(main(argv)))
    runner.start()
    try:
        _wait_for_frames(channel)
        wait = [*_bus(channel), "--wait", "1.5"]
        code = f"{rom.codes[0]:08X}"
        assert main(["remote", *wait, "--code", code, "--button", "lock"]) == 0
        old = f"{factory[0].code:08X}"
        assert main(["remote", *wait, "--code", old, "--button", "unlock"]) == 1
    finally:
        runner.join(DEADLINE_S + 5)
    assert exit_codes == [0]
    out = capsys.readouterr().out
    assert "SC400 1992" in out and "ecusim: stopped" in out
    assert f"accepted: remote {code} lock; doors locked" in out
    assert f"ignored: remote {old} unlock; doors locked" in out
    restarted = Vehicle.from_catalog("SC400", 1992, state_dir=state)
    assert restarted.keyless.receiver.rom == rom
    assert not restarted.press_remote(factory[0], "unlock").accepted


def test_run_with_rom_on_a_programmable_car_is_exit_2(
    tmp_path: Path, channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rom_path = tmp_path / "kit.json"
    _new_rom(rom_path)
    capsys.readouterr()
    argv = ["run", "--model", "LS430", "--year", "2004", "--rom", str(rom_path)]
    assert main([*argv, *_bus(channel), "--duration", "0.1"]) == 2
    captured = capsys.readouterr()
    assert "ready" not in captured.out
    _one_line_error(captured.err, "--rom", "this car's receiver is programmable: it has no ROM")


@needs_sc400
@pytest.mark.parametrize(
    ("write", "problem"),
    [
        (_damaged, "damaged"),
        (lambda path: path.write_text("hello"), "is not a ROM image"),
        (lambda path: None, "cannot read ROM image"),
    ],
)
def test_run_with_a_bad_rom_is_one_line_before_ready(
    tmp_path: Path,
    channel: str,
    capsys: pytest.CaptureFixture[str],
    write: Callable[[Path], object],
    problem: str,
) -> None:
    rom_path = tmp_path / "kit.json"
    write(rom_path)
    state = tmp_path / "state"
    argv = ["run", "--model", "SC400", "--year", "1992", "--rom", str(rom_path)]
    assert main([*argv, "--state-dir", str(state), *_bus(channel), "--duration", "0.1"]) == 1
    captured = capsys.readouterr()
    assert "ready" not in captured.out
    _one_line_error(captured.err, "--rom", problem, str(rom_path))
    factory = Vehicle.from_catalog("SC400", 1992).keyless.receiver.rom
    assert Vehicle.from_catalog("SC400", 1992, state_dir=state).keyless.receiver.rom == factory
