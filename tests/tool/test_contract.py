"""The client-side contract (ecusim.tool.contract): the tool loads it without the car, the test
kit re-exports it, its typed and raw codecs cover the same DIDs."""

from __future__ import annotations

import subprocess
import sys
from typing import Final

import udsoncan

import ecusim.testing
from ecusim.tool import contract
from protocol.passcode import diagnostic_key

DIAGNOSTIC_MODULES: Final = ("contract", "link", "targets", "identify", "reset", "registration")
CAR_PACKAGES: Final = ("ecusim.car", "ecusim.ecus", "ecusim.systems")
RUN_TIMEOUT_S: Final = 120.0


def _length(codec: udsoncan.DidCodec) -> int | None:
    try:
        return len(codec)
    except udsoncan.DidCodec.ReadAllRemainingData:
        return None


def test_the_tool_runs_without_the_car_loaded() -> None:
    """The contract and the diagnostic workflow on it (not the key presenters of the lab and
    the demo, which drive a simulated car)."""
    modules = ", ".join(f"ecusim.tool.{name}" for name in DIAGNOSTIC_MODULES)
    code = (
        f"import sys, {modules}\n"
        f"print(sorted(m for m in sys.modules if m.startswith({CAR_PACKAGES!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_the_test_kit_re_exports_the_contract() -> None:
    assert ecusim.testing.client_config is contract.client_config
    assert ecusim.testing.did_codecs is contract.did_codecs
    assert ecusim.testing.lab_security_algo is contract.lab_security_algo


def test_typed_and_raw_codecs_cover_the_same_dids_at_the_same_lengths() -> None:
    typed, raw = contract.did_codecs(), contract.raw_did_codecs()
    assert typed.keys() == raw.keys() == {did.did for did in contract.CONTRACT_DIDS}
    assert {did: _length(codec) for did, codec in typed.items()} == {
        did: _length(codec) for did, codec in raw.items()
    }


def test_overrides_replace_single_keys() -> None:
    config = contract.client_config(request_timeout=0.5)
    assert config["request_timeout"] == 0.5
    assert config["use_server_timing"] is False
    assert config["security_algo"] is contract.lab_security_algo


def test_lab_security_algo_takes_a_secret_file_s_diag_key_as_its_params() -> None:
    """``security_algo_params`` bytes are K_diag (docs/secrets.md); else the lab key (§5)."""
    seed = bytes.fromhex("01020304")
    assert contract.lab_security_algo(0x01, seed) == bytes.fromhex("354A1764")  # known answer
    own = b"\x5a" * 32
    assert contract.lab_security_algo(0x01, seed, own) == diagnostic_key(seed, own)
    assert contract.lab_security_algo(0x01, seed, own) != bytes.fromhex("354A1764")
