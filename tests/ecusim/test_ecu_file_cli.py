"""``ecusim run --ecu FILE`` / ``--no-car`` in-process: the file's ECU is announced beside the
car or alone, and bad files, colliding addresses and bad flag combinations are one line
(exit 2), never a traceback."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ecusim.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my-ecu.toml"
EXAMPLE_LINE = "body-gateway (ECU file): 0x7A0 -> 0x7A8, functional 0x7DF"


def _channel() -> str:
    return f"ecu-file-cli-{uuid.uuid4().hex}"


def _run(*argv: str) -> int:
    return main(["run", "-i", "virtual", "-c", _channel(), "--duration", "0.3", *argv])


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("ecusim: error: ")
    return err.strip().removeprefix("ecusim: error: ")


def test_ecu_file_runs_beside_the_car(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--ephemeral", "--ecu", str(EXAMPLE)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"ecusim: {EXAMPLE_LINE} from {EXAMPLE}" in lines
    assert "ecusim: engine (ENGINE): 0x7E0 -> 0x7E8, functional 0x7DF" in lines
    assert lines.index(f"ecusim: {EXAMPLE_LINE} from {EXAMPLE}") < lines.index(
        "ecusim: ready (Ctrl-C to stop)"
    )
    assert lines[-1] == "ecusim: stopped"


def test_no_car_runs_only_the_files_ecus(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--no-car", "--ecu", str(EXAMPLE)) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ecusim: {EXAMPLE_LINE} from {EXAMPLE}",
        "ecusim: ready (Ctrl-C to stop)",
        "ecusim: stopped",
    ]


def test_address_of_a_car_ecu_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "engine-clash.toml"
    path.write_text(
        'name = "clash"\n[addressing]\nrequest_id = 0x7A1\nresponse_id = 0x7E8\n',
        encoding="utf-8",
    )
    assert _run("--ephemeral", "--ecu", str(path)) == 2
    assert _one_line_error(capsys) == (
        f"{path}: addressing: response ID 0x7E8 is also the response ID of the car's engine "
        "(0x7E0 -> 0x7E8, functional 0x7DF)"
    )


def test_sub_address_of_the_immobilizer_is_refused_but_another_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0x750 carries every Toyota sub-address: only the immobilizer's own (0x57) collides."""
    text = 'name = "{name}"\n[addressing]\nrequest_id = 0x750\nresponse_id = 0x758\n'
    same = tmp_path / "same.toml"
    same.write_text(text.format(name="same") + "extended_address = 0x57\n", encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(text.format(name="other") + "extended_address = 0x40\n", encoding="utf-8")
    assert _run("--ephemeral", "--ecu", str(same)) == 2
    assert "is also the request ID of the car's immobilizer" in _one_line_error(capsys)
    assert _run("--ephemeral", "--ecu", str(other)) == 0
    assert "ecusim: other (ECU file): 0x750 -> 0x758 ext 0x40" in capsys.readouterr().out


def test_two_files_with_the_same_addresses_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run("--no-car", "--ecu", str(EXAMPLE), "--ecu", str(EXAMPLE)) == 2
    assert _one_line_error(capsys) == (
        f"{EXAMPLE}: addressing: request ID 0x7A0 is also the request ID of body-gateway "
        f"({EXAMPLE}) (0x7A0 -> 0x7A8, functional 0x7DF)"
    )


def test_malformed_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "my-ecu.toml"
    path.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace('value = "03"', 'value = "0Z"'),
        encoding="utf-8",
    )
    assert _run("--no-car", "--ecu", str(path)) == 2
    assert _one_line_error(capsys) == f"{path}: dids.0x0150.value: not hex"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--no-car"], "--no-car: give at least one --ecu FILE to run"),
        (
            ["--no-car", "--ecu", str(EXAMPLE), "--rom", "x.rom"],
            "--rom: the ROM goes into the car's receiver: not with --no-car",
        ),
        (
            ["--no-car", "--ecu", str(EXAMPLE), "--model", "LS460", "--year", "2012"],
            "--model, --year: options of the car: not with --no-car",
        ),
        (
            ["--no-car", "--ecu", str(EXAMPLE), "--ephemeral", "--seed", "7"],
            "--ephemeral, --seed: options of the car: not with --no-car",
        ),
        (
            ["--no-car", "--ecu", str(EXAMPLE), "--car", "my-car.toml"],
            "--car: options of the car: not with --no-car",
        ),
    ],
)
def test_bad_flag_combinations_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(*argv) == 2
    assert _one_line_error(capsys) == message


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        pytest.param(
            "[timing]\np2_star_ms = 1\n",
            "timing.p2_star_ms: must be ≥ 10.0, got 1",
            id="p2-star-below-10-ms",
        ),
        pytest.param(
            '[dids.0xF190]\nname = "\\u001b[31mVIN"\nvalue = "00"\n',
            "dids.0xF190.name: must be at most 80 printable characters, got '\\x1b[31mVIN'",
            id="escape-in-a-name",
        ),
        pytest.param(
            "[sessions]\ns3_s = inf\n",
            "sessions.s3_s: must be a finite number, got inf",
            id="s3-infinite",
        ),
    ],
)
def test_a_malformed_file_is_one_line_and_exit_2(
    extra: str, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\n[addressing]\nrequest_id = 0x7A1\nresponse_id = 0x7A9\n' + extra,
        encoding="utf-8",
    )
    assert _run("--no-car", "--ecu", str(path)) == 2
    assert _one_line_error(capsys) == f"{path}: {line}"
