"""Issue 11, finding 2, as the attack: with a secret file, the public lab secret opens nothing.

The attacker knows the contract (diagnostic-contract.md §5) and its public lab values, so computes
the Pass-Code and the level 0x01 key offline, here INDEPENDENTLY of ``protocol.passcode`` (the
Pass-Code from ``acceptance_kit``, the level 0x01 key below). A car given a secret file refuses
both (``7F 27 35``); the portal given the same file issues the Pass-Code the car accepts
(``67 12``). The file comes from ``ecusim secret new`` (docs/secrets.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest
from cryptography.hazmat.primitives import hashes, hmac

from ecusim.car.vehicle import Vehicle
from ecusim.cli.main import main
from ecusim.secret_file import load
from ecusim.testing.portal import VirtualPortal
from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.passcode import format_code
from protocol.seed_source import DeterministicSeedSource
from tests.acceptance.acceptance_kit import (
    ENGINE_ADDRESS,
    EXTENDED_SESSION,
    EXTENDED_SESSION_REQUEST,
    LEVEL_IMMOBILIZER_RESET,
    MODEL,
    VIN,
    YEAR,
    Starter,
    Tester,
    ecusim_run_args,
    nrc_of,
    pass_code,
    start_ecusim,
)

LAB_DIAG_KEY_LABEL: Final = b"ecusim-lab-diag-key-v1"

REQUEST_RESET_SEED = bytes(
    [
        0x27,  # SecurityAccess
        0x11,  # requestSeed, level "immobilizer reset" (16-byte Seed Number)
    ]
)
SEND_PASS_CODE = bytes(
    [
        0x27,  # SecurityAccess
        0x12,  # sendKey, level "immobilizer reset", followed by the 16-byte Pass-Code
    ]
)
PASS_CODE_ACCEPTED = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x12,  # sendKey level 0x12: unlocked
    ]
)
REQUEST_DIAGNOSTIC_SEED = bytes(
    [
        0x27,  # SecurityAccess
        0x01,  # requestSeed, level 0x01 "extended diagnostics" (4-byte seed)
    ]
)
SEND_DIAGNOSTIC_KEY = bytes(
    [
        0x27,  # SecurityAccess
        0x02,  # sendKey, level 0x01, followed by the 4-byte key
    ]
)
DIAGNOSTIC_KEY_ACCEPTED = bytes(
    [
        0x67,  # SecurityAccess positive response
        0x02,  # sendKey level 0x02: unlocked
    ]
)
INVALID_KEY = bytes(
    [
        0x7F,  # negative response
        0x27,  # SecurityAccess
        0x35,  # invalidKey
    ]
)


def lab_diagnostic_key(seed: bytes) -> bytes:
    """HMAC-SHA256(K_diag = SHA-256(b"ecusim-lab-diag-key-v1"), seed)[:4] (§5, the lab value)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(LAB_DIAG_KEY_LABEL)
    mac = hmac.HMAC(digest.finalize(), hashes.SHA256())
    mac.update(seed)
    return mac.finalize()[:4]


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A secret file as docs/secrets.md describes it, written by hand (mode 0600)."""
    path = tmp_path / "car.secrets.toml"
    path.write_text(
        'format = "ecusim-secrets/1"\n'
        f'master_secret = "{bytes(range(32)).hex()}"\n'
        f'diag_key = "{bytes(range(100, 132)).hex()}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def test_ecusim_secret_new_makes_a_file_the_car_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.secrets.toml"
    assert main(["secret", "new", str(path)]) == 0
    capsys.readouterr()
    car = PureCar(path)
    seed = car.seed("immobilizer", REQUEST_RESET_SEED, 16)
    assert car.ask("immobilizer", SEND_PASS_CODE + pass_code(VIN, seed)) == INVALID_KEY


class PureCar:
    """The car's key-code and engine ECUs' UDS servers on a FakeClock, called with bytes."""

    def __init__(self, secret_file: Path | None) -> None:
        self.clock = FakeClock()
        seeds = DeterministicSeedSource(11)
        if secret_file is None:  # as on main: the known answers of the lab secret hold
            self.car = Vehicle.from_catalog(MODEL, YEAR, VIN, clock=self.clock, seed_source=seeds)
        else:
            self.car = Vehicle.from_catalog(
                MODEL, YEAR, VIN, clock=self.clock, seed_source=seeds, secrets=secret_file
            )

    def ask(self, ecu: str, request: bytes) -> bytes:
        server = next(e for e in self.car.ecus if e.name == ecu).server
        response = server.handle(request, Addressing.PHYSICAL, self.clock.now())
        assert response is not None, f"{ecu}: no response to {request.hex()}"
        return response

    def seed(self, ecu: str, request: bytes, length: int) -> bytes:
        assert self.ask(ecu, EXTENDED_SESSION_REQUEST)[:2] == b"\x50\x03"
        response = self.ask(ecu, request)
        assert response[:2] == bytes([0x67, request[1]]), response.hex()
        seed = response[2:]
        assert len(seed) == length and any(seed)
        return seed


def test_a_pass_code_from_the_public_lab_secret_is_refused_and_the_portal_s_is_accepted(
    secret_file: Path, tmp_path: Path
) -> None:
    car = PureCar(secret_file)
    seed = car.seed("immobilizer", REQUEST_RESET_SEED, 16)
    offline = pass_code(VIN, seed)  # the attacker's, from the public lab secret
    assert car.ask("immobilizer", SEND_PASS_CODE + offline) == INVALID_KEY

    seed = car.seed("immobilizer", REQUEST_RESET_SEED, 16)  # a new Seed Number per attempt
    portal = VirtualPortal(tmp_path / "portal.db", secrets=load(secret_file))
    try:
        issued = portal.pass_code(VIN, format_code(seed))  # approval, then the code
    finally:
        portal.close()
    assert issued != pass_code(VIN, seed)
    assert car.ask("immobilizer", SEND_PASS_CODE + issued) == PASS_CODE_ACCEPTED


@pytest.mark.parametrize("ecu", ["immobilizer", "engine"])
def test_the_public_lab_level_0x01_key_is_refused(secret_file: Path, ecu: str) -> None:
    car = PureCar(secret_file)
    seed = car.seed(ecu, REQUEST_DIAGNOSTIC_SEED, 4)
    assert car.ask(ecu, SEND_DIAGNOSTIC_KEY + lab_diagnostic_key(seed)) == INVALID_KEY

    # The holder of the file computes the key with the file's K_diag.
    own = hmac.HMAC(load(secret_file).diag_key, hashes.SHA256())
    seed = car.seed(ecu, REQUEST_DIAGNOSTIC_SEED, 4)
    own.update(seed)
    assert car.ask(ecu, SEND_DIAGNOSTIC_KEY + own.finalize()[:4]) == DIAGNOSTIC_KEY_ACCEPTED


@pytest.mark.parametrize("ecu", ["immobilizer", "engine"])
def test_without_a_secret_file_the_lab_keys_still_open_the_car(ecu: str) -> None:
    """The contract's known answers hold with the lab defaults (diagnostic-contract.md §5)."""
    car = PureCar(None)
    seed = car.seed(ecu, REQUEST_DIAGNOSTIC_SEED, 4)
    assert car.ask(ecu, SEND_DIAGNOSTIC_KEY + lab_diagnostic_key(seed)) == DIAGNOSTIC_KEY_ACCEPTED
    if ecu == "immobilizer":
        seed = car.seed(ecu, REQUEST_RESET_SEED, 16)
        assert car.ask(ecu, SEND_PASS_CODE + pass_code(VIN, seed)) == PASS_CODE_ACCEPTED


@pytest.mark.slow
@pytest.mark.parametrize("given_by", ["--secret-file", "ECUSIM_SECRET_FILE"])
def test_ecusim_run_with_a_secret_file_refuses_the_lab_pass_code(
    processes: Starter,
    hub_url: str,
    remote_tester: Tester,
    secret_file: Path,
    *,
    monkeypatch: pytest.MonkeyPatch,
    given_by: str,
) -> None:
    if given_by == "ECUSIM_SECRET_FILE":
        monkeypatch.setenv("ECUSIM_SECRET_FILE", str(secret_file))  # the child inherits it
        extra = ["--duration", "60"]
    else:
        extra = ["--secret-file", str(secret_file), "--duration", "60"]
    node = start_ecusim(processes, ecusim_run_args("remote", hub_url, *extra))
    client = remote_tester.client()
    client.change_session(EXTENDED_SESSION)
    seed = bytes(client.request_seed(LEVEL_IMMOBILIZER_RESET).service_data.seed)
    assert nrc_of(client.send_key, LEVEL_IMMOBILIZER_RESET + 1, pass_code(VIN, seed)) == 0x35

    engine = remote_tester.client(ENGINE_ADDRESS)
    engine.change_session(EXTENDED_SESSION)
    seed = bytes(engine.request_seed(0x01).service_data.seed)
    assert nrc_of(engine.send_key, 0x02, lab_diagnostic_key(seed)) == 0x35

    seed = bytes(client.request_seed(LEVEL_IMMOBILIZER_RESET).service_data.seed)
    portal = VirtualPortal(secret_file.parent / "portal.db", secrets=load(secret_file))
    try:
        issued = portal.pass_code(VIN, seed)
    finally:
        portal.close()
    response = client.send_key(LEVEL_IMMOBILIZER_RESET + 1, issued)
    assert response is not None and response.positive
    assert any(f"secrets from {secret_file}" in line for line in node.lines), node.lines
    assert not any("public lab secret" in line for line in node.lines), node.lines


@pytest.mark.slow
def test_ecusim_run_without_a_secret_file_says_it_runs_on_the_public_lab_secret(
    processes: Starter, hub_url: str
) -> None:
    node = start_ecusim(processes, ecusim_run_args("remote", hub_url, "--duration", "30"))
    notes = [line for line in node.lines if "public lab secret" in line]
    assert len(notes) == 1, node.lines
    assert "anyone can compute its Pass-Codes" in notes[0] and "--secret-file" in notes[0]
