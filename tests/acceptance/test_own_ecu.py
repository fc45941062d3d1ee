"""Acceptance: an ECU of your own. ``ecusim run --no-car --ecu examples/my-ecu.toml`` in a
subprocess, reached through a python-can-remote hub on 127.0.0.1, serves udsoncan (an
independent client) exactly as the file is written: two DIDs, a writable one after unlocking,
the routine's fixed result, the security level unlocked with the key computed here from the
registry's algorithm (and NRC 0x35 for a wrong key), the DTCs with their status bytes."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any, cast

import isotp
import pytest
import udsoncan
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpV2Connection
from udsoncan.typing import ClientConfig

from protocol.security_algorithms import AlgorithmContext, default_registry
from tests.acceptance.acceptance_kit import (
    REQUEST_TIMEOUT_S,
    ByteCodec,
    Starter,
    Tester,
    nrc_of,
    read_dids,
    start_ecusim,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my-ecu.toml"
FILE: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
"""The example as written, read here independently of protocol.ecu_file."""

DID_VIN = 0xF190
DID_WRITABLE = 0x0150
RID_SELF_TEST = 0x0203
LEVEL = 0x01
EXTENDED_SESSION = 0x03
INVALID_KEY = 0x35
SECURITY_ACCESS_DENIED = 0x33


def security_algo(level: int, seed: bytes, params: Any = None) -> bytes:
    """udsoncan's ``security_algo``: the file's algorithm from the registry, with its key."""
    section = FILE["security"]["levels"]["0x01"]
    assert level == LEVEL, f"unexpected level {level:#04x}"
    context = AlgorithmContext(diag_key=bytes.fromhex(section["diag_key"]))
    return default_registry().create(section["algorithm"], context).compute_key(seed)


def client_for_file(tester: Tester) -> Client:
    addressing = FILE["addressing"]
    address = isotp.Address(
        isotp.AddressingMode.Normal_11bits,
        txid=addressing["request_id"],
        rxid=addressing["response_id"],
    )
    stack = isotp.NotifierBasedCanStack(
        tester.bus, tester.notifier, address=address, params={"blocking_send": False}
    )
    config: dict[str, Any] = dict(udsoncan.configs.default_client_config)
    config.update(
        data_identifiers={
            DID_VIN: udsoncan.AsciiCodec(len(FILE["dids"]["0xF190"]["text"])),
            DID_WRITABLE: ByteCodec(),
        },
        security_algo=security_algo,
        request_timeout=REQUEST_TIMEOUT_S,
        p2_timeout=REQUEST_TIMEOUT_S,
        p2_star_timeout=REQUEST_TIMEOUT_S,
    )
    client = Client(PythonIsoTpV2Connection(stack), config=cast(ClientConfig, config))
    client.open()
    tester._clients.append(client)  # closed with the tester
    return client


@pytest.mark.slow
def test_ecu_file_serves_udsoncan_as_written(
    processes: Starter, hub_url: str, remote_tester: Tester
) -> None:
    node = start_ecusim(
        processes,
        [sys.executable, "-m", "ecusim", "run", "-i", "remote", "-c", hub_url,
         "--no-car", "--ecu", str(EXAMPLE)],
    )  # fmt: skip
    assert any("body-gateway (ECU file): 0x7A0 -> 0x7A8" in line for line in node.lines)
    client = client_for_file(remote_tester)

    # Both DIDs, as written, in the default session.
    values = read_dids(client, DID_VIN, DID_WRITABLE)
    assert values[DID_VIN] == FILE["dids"]["0xF190"]["text"]
    assert values[DID_WRITABLE] == int(FILE["dids"]["0x0150"]["value"], 16)

    # The writable DID is locked until level 0x01 is unlocked (write_security = 0x01).
    client.change_session(EXTENDED_SESSION)
    assert nrc_of(client.write_data_by_identifier, DID_WRITABLE, 0x07) == SECURITY_ACCESS_DENIED

    # A wrong key: invalidKey. Then the key computed here from the registry's algorithm.
    seed = client.request_seed(LEVEL).service_data.seed
    wrong = bytes(b ^ 0xFF for b in security_algo(LEVEL, seed))
    assert nrc_of(client.send_key, LEVEL + 1, wrong) == INVALID_KEY
    unlocked = client.unlock_security_access(LEVEL)
    assert unlocked is not None and unlocked.positive

    written = client.write_data_by_identifier(DID_WRITABLE, 0x07)
    assert written is not None and written.positive
    assert read_dids(client, DID_WRITABLE)[DID_WRITABLE] == 0x07

    # The routine's fixed start result and results.
    expected = bytes.fromhex(FILE["routines"]["0x0203"]["start_result"])
    started = client.start_routine(RID_SELF_TEST)
    assert started is not None and started.service_data.routine_status_record == expected
    results = client.get_routine_result(RID_SELF_TEST)
    assert results is not None and results.service_data.routine_status_record == bytes.fromhex(
        FILE["routines"]["0x0203"]["results"]
    )

    # The DTCs with the file's status bytes (SAE J2012: B1234 is 0x9234, U0100 is 0xC100).
    report = client.get_dtc_by_status_mask(0xFF)
    assert report is not None
    dtcs = report.service_data.dtcs
    assert {dtc.id: dtc.status.get_byte_as_int() for dtc in dtcs} == {
        0x923400: FILE["dtcs"]["B1234"],
        0xC10000: FILE["dtcs"]["U0100"],
    }

    assert node.stop() == 0
    assert node.lines[-1] == "ecusim: stopped"
