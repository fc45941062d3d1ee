"""The secret file (docs/secrets.md): its format, every refusal as one precise line, ``ecusim
secret new``, the flag and the environment variable, and the start-up notices of car and portal."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import can
import pytest

from ecusim.car.vehicle import Vehicle
from ecusim.cli import run_command
from ecusim.cli.main import build_parser, main
from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.service import Portal
from ecusim.secret_file import (
    FORMAT,
    LAB_SECRETS,
    SecretFileError,
    Secrets,
    load,
    render,
    write_new,
)
from protocol.passcode import DEFAULT_DIAG_KEY, DEFAULT_MASTER_SECRET

MASTER = "11" * 32
DIAG = "22" * 32

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def _toml(**values: str) -> str:
    return "".join(f'{key} = "{value}"\n' for key, value in values.items())


def test_a_valid_file_gives_its_secrets(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.toml", _toml(format=FORMAT, master_secret=MASTER, diag_key=DIAG))
    secrets = load(path)
    assert secrets == Secrets(bytes.fromhex(MASTER), bytes.fromhex(DIAG))
    assert secrets.source == path
    assert not secrets.is_lab
    assert MASTER not in repr(secrets) and "11111111" not in repr(secrets)


def test_upper_case_hex_and_spaces_between_bytes_are_accepted(tmp_path: Path) -> None:
    spaced = " ".join(["AB"] * 16)  # 16 bytes: the shortest accepted
    path = _write(tmp_path / "s.toml", _toml(format=FORMAT, master_secret=spaced, diag_key=DIAG))
    assert load(path).master_secret == b"\xab" * 16


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("format = ", "not TOML: "),
        (_toml(master_secret=MASTER, diag_key=DIAG),
         "format must be 'ecusim-secrets/1', got missing"),
        (_toml(format="ecusim-secrets/2", master_secret=MASTER, diag_key=DIAG),
         "format must be 'ecusim-secrets/1', got 'ecusim-secrets/2'"),
        (_toml(format=FORMAT, master_secret=MASTER), "missing key 'diag_key'"),
        (_toml(format=FORMAT, diag_key=DIAG), "missing key 'master_secret'"),
        (_toml(format=FORMAT, master_secret=MASTER, diag_key=DIAG, master="00"),
         "unknown key(s) master"),
        (_toml(format=FORMAT, master_secret=MASTER, diag_key="zz" * 32),
         "diag_key is not hex (only 0-9, a-f, A-F and spaces)"),
        (_toml(format=FORMAT, master_secret="11" * 8, diag_key=DIAG),
         "master_secret must be 16 to 64 bytes (32 to 128 hex digits), got 8"),
        (_toml(format=FORMAT, master_secret=MASTER, diag_key="22" * 65),
         "diag_key must be 16 to 64 bytes (32 to 128 hex digits), got 65"),
        (f'format = "{FORMAT}"\nmaster_secret = 17\ndiag_key = "{DIAG}"\n',
         "master_secret must be a string of hex digits, got int"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = _write(tmp_path / "s.toml", text)
    with pytest.raises(SecretFileError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"secret file {path}: {problem}"), message
    assert "\n" not in message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match=r"secret file .*none\.toml: no such file$"):
        load(tmp_path / "none.toml")


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644])
def test_a_file_open_to_group_or_others_is_refused_with_the_chmod_advice(
    tmp_path: Path, mode: int
) -> None:
    path = _write(tmp_path / "s.toml", render(Secrets(b"\x01" * 32, b"\x02" * 32)), mode)
    with pytest.raises(SecretFileError) as info:
        load(path)
    assert str(info.value) == (
        f"secret file {path}: readable or writable by group or others (mode {mode:04o}): "
        f"run chmod 600 {path}"
    )


@posix_only
def test_write_new_makes_a_private_file_of_fresh_random_secrets(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even with no umask, the file is 0600
    try:
        first = write_new(tmp_path / "a.toml")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "a.toml").stat().st_mode) == 0o600
    assert load(tmp_path / "a.toml") == first
    assert len(first.master_secret) == len(first.diag_key) == 32
    second = write_new(tmp_path / "b.toml")
    assert second != first and first.master_secret != first.diag_key
    assert not first.is_lab


def test_write_new_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    first = write_new(path)
    with pytest.raises(SecretFileError, match=r"already exists \(use --force to replace it\)"):
        write_new(path)
    assert load(path) == first
    forced = write_new(path, force=True)
    assert load(path) == forced != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_the_lab_secrets_are_the_contract_s() -> None:
    assert Secrets(DEFAULT_MASTER_SECRET, DEFAULT_DIAG_KEY) == LAB_SECRETS
    assert LAB_SECRETS.is_lab and LAB_SECRETS.source is None


# -- the command line --------------------------------------------------------------------------


def test_ecusim_secret_new(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "car.toml"
    assert main(["secret", "new", str(path)]) == 0
    assert f"new secrets in {path} (mode 0600)" in capsys.readouterr().out
    load(path)
    assert main(["secret", "new", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"ecusim: error: secret file {path}: already exists (use --force to replace it)\n"
    assert main(["secret", "new", str(path), "--force"]) == 0


def _built(argv: list[str]) -> Vehicle:
    return run_command._build(build_parser().parse_args(["run", *argv]))


def test_ecusim_run_takes_the_flag_else_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag, env = write_new(tmp_path / "flag.toml"), write_new(tmp_path / "env.toml")
    assert _built([]).secrets is LAB_SECRETS
    monkeypatch.setenv("ECUSIM_SECRET_FILE", str(tmp_path / "env.toml"))
    assert _built([]).secrets == env
    built = _built(["--secret-file", str(tmp_path / "flag.toml")])  # the flag wins
    assert built.secrets == flag
    assert built.immobilizer is not None
    assert built.immobilizer.config.master_secret == flag.master_secret
    assert built.immobilizer.config.diag_key == flag.diag_key
    assert built.engine.config.diag_key == flag.diag_key


def test_ecusim_run_refuses_a_bad_secret_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _write(tmp_path / "bad.toml", _toml(format=FORMAT, master_secret=MASTER))
    argv = ["run", "-i", "virtual", "-c", "nowhere", "--duration", "1"]
    assert main([*argv, "--secret-file", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"ecusim: error: --secret-file: secret file {bad}: missing key 'diag_key'\n"
    )
    monkeypatch.setenv("ECUSIM_SECRET_FILE", str(tmp_path / "gone.toml"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"ecusim: error: $ECUSIM_SECRET_FILE: secret file {tmp_path / 'gone.toml'}: " \
        "no such file\n"  # fmt: skip


# -- the library's warnings --------------------------------------------------------------------


def test_a_vehicle_without_secrets_warns_at_start_and_one_with_them_does_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_new(tmp_path / "s.toml")
    cars = {
        "lab": Vehicle.from_catalog("LS430", 2004),
        "chosen lab": Vehicle.from_catalog("LS430", 2004, secrets=LAB_SECRETS),
        "file": Vehicle.from_catalog("LS430", 2004, secrets=tmp_path / "s.toml"),
    }
    warned = {}
    for name, car in cars.items():
        bus = can.Bus(interface="virtual", channel=f"secret-warning-{name}")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ecusim.car.vehicle"), car.running(bus):
            pass
        bus.shutdown()
        warned[name] = [
            r.getMessage() for r in caplog.records if "public lab secret" in r.getMessage()
        ]
    assert len(warned["lab"]) == 1 and "anyone can compute its Pass-Codes" in warned["lab"][0]
    assert warned["chosen lab"] == warned["file"] == []


def test_a_portal_without_a_master_secret_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)
    try:
        with caplog.at_level(logging.WARNING, logger="ecusim.portal.service"):
            Portal(make_session_factory(engine))
            quiet = len(caplog.records)
            Portal(make_session_factory(engine), master_secret=DEFAULT_MASTER_SECRET)
            Portal(make_session_factory(engine), master_secret=b"\x07" * 32)
    finally:
        engine.dispose()
    assert quiet == 1 and "public lab secret" in caplog.records[0].getMessage()
    assert len(caplog.records) == 1


@pytest.mark.parametrize("lab_key", ["master_secret", "diag_key"])
def test_a_file_holding_a_public_lab_value_is_refused(tmp_path: Path, lab_key: str) -> None:
    """A file of the lab values would make the car say 'secrets from FILE' while anyone can
    compute its codes: refused, naming the value."""
    values = {"master_secret": MASTER, "diag_key": DIAG}
    values[lab_key] = (
        DEFAULT_MASTER_SECRET if lab_key == "master_secret" else DEFAULT_DIAG_KEY
    ).hex()
    path = _write(tmp_path / "lab.toml", _toml(format=FORMAT, **values))
    with pytest.raises(SecretFileError, match=rf"{lab_key} is the public lab value"):
        load(path)
