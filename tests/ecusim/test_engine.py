"""The engine ECU's identification DIDs, VIN write and NVM, through its pure UDS server."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecusim.catalog.vin import VinError
from ecusim.ecus.engine import EngineConfig, EngineEcu
from ecusim.ecus.identification import serial_number_for
from protocol.constants import Addressing
from protocol.errors import NvmCorruptError
from protocol.nvm import FileNvm
from protocol.passcode import diagnostic_key
from protocol.seed_source import DeterministicSeedSource

PHYSICAL = Addressing.PHYSICAL
NEW_VIN = "1M8GDM9AXKP042788"  # a valid check digit ("X")


def _unlock(ecu: EngineEcu, now: float) -> None:
    assert ecu.server.handle(bytes([0x10, 0x03]), PHYSICAL, now) is not None  # extended session
    seed_response = ecu.server.handle(bytes([0x27, 0x01]), PHYSICAL, now)  # requestSeed level 1
    assert seed_response is not None and seed_response[:2] == bytes([0x67, 0x01])
    key = diagnostic_key(seed_response[2:])
    assert ecu.server.handle(bytes([0x27, 0x02]) + key, PHYSICAL, now) == bytes(
        [0x67, 0x02]  # positive SecurityAccess, sendKey level 1
    )


def test_identification_dids() -> None:
    ecu = EngineEcu(seed_source=DeterministicSeedSource(7))
    response = ecu.server.handle(bytes([0x22, 0xF1, 0x97, 0xF1, 0x86]), PHYSICAL, 0.0)
    # 62 = positive RDBI; F1 97 = system name "ENGINE"; F1 86 = active session 0x01 (default)
    assert response == bytes([0x62, 0xF1, 0x97]) + b"ENGINE" + bytes([0xF1, 0x86, 0x01])
    serial = ecu.server.handle(bytes([0x22, 0xF1, 0x8C]), PHYSICAL, 0.0)  # RDBI serial number
    assert serial is not None and serial[3:] == serial_number_for("ENG", ecu.vin).encode()
    assert 10 <= len(serial[3:]) <= 16


def test_serial_numbers_differ_per_vehicle() -> None:
    assert serial_number_for("ENG", "JTHBL5EF0C5000001") != serial_number_for("ENG", NEW_VIN)


def test_vin_write_needs_level_1_and_a_valid_check_digit(tmp_path: Path) -> None:
    path = tmp_path / "engine.json"
    ecu = EngineEcu(nvm=FileNvm(path, kind="engine"), seed_source=DeterministicSeedSource(1))
    write = bytes([0x2E, 0xF1, 0x90]) + NEW_VIN.encode()  # WDBI VIN + 17 ASCII bytes
    assert ecu.server.handle(write, PHYSICAL, 0.0) == bytes(
        [0x7F, 0x2E, 0x31]  # default session: the DID is not writable here → requestOutOfRange
    )
    _unlock(ecu, 1.0)
    bad = bytes([0x2E, 0xF1, 0x90]) + b"1M8GDM9A1KP042788"  # wrong check digit (should be X)
    assert ecu.server.handle(bad, PHYSICAL, 1.0) == bytes([0x7F, 0x2E, 0x31])  # requestOutOfRange
    short = bytes([0x2E, 0xF1, 0x90]) + b"1M8GDM9AXKP04278"  # 16 bytes
    assert ecu.server.handle(short, PHYSICAL, 1.0) == bytes([0x7F, 0x2E, 0x13])  # wrong length
    assert ecu.server.handle(write, PHYSICAL, 1.0) == bytes([0x6E, 0xF1, 0x90])  # positive WDBI
    assert ecu.vin == NEW_VIN
    restarted = EngineEcu(nvm=FileNvm(path, kind="engine"))
    read = restarted.server.handle(bytes([0x22, 0xF1, 0x90]), PHYSICAL, 0.0)  # RDBI VIN
    assert read == bytes([0x62, 0xF1, 0x90]) + NEW_VIN.encode()


def test_vin_write_while_locked_is_0x33() -> None:
    ecu = EngineEcu()
    ecu.server.handle(bytes([0x10, 0x03]), PHYSICAL, 0.0)  # extended session
    write = bytes([0x2E, 0xF1, 0x90]) + NEW_VIN.encode()  # WDBI VIN
    assert ecu.server.handle(write, PHYSICAL, 0.0) == bytes(
        [0x7F, 0x2E, 0x33]
    )  # securityAccessDenied


def test_bad_configured_vin_is_refused() -> None:
    with pytest.raises(VinError):
        EngineConfig(vin="JTHBL5EF1C5000001")


def test_corrupt_engine_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "engine.json"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(NvmCorruptError, match=r"engine\.json"):
        EngineEcu(nvm=FileNvm(path, kind="engine"))
    assert path.read_bytes() == b"\x00garbage"
