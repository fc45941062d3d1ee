"""Acceptance (issue 14, car profiles): a profile with 0x00 padding and other addresses runs
with ``ecusim run --car`` in another process, behind a python-can-remote hub on 127.0.0.1, and
udsoncan, configured only from the profile's addresses and padding, performs the bulletin's
reset against it; every frame the car sends carries the profile's 0x00 padding."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import can
import isotp
import pytest
import udsoncan
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpV2Connection

from dbc import body
from ecusim.car.keys import KeyKind
from tests.acceptance.acceptance_kit import (
    DID_VIN,
    EXTENDED_SESSION,
    LEVEL_IMMOBILIZER_RESET,
    REGISTRATION_AUTOMATIC,
    RID_RESET,
    TIME_SCALE,
    VIN,
    Starter,
    Tester,
    client_config,
    factory_keys_printed,
    key_counts,
    start_ecusim,
)

REQUEST_ID = 0x740
RESPONSE_ID = 0x748
SUB_ADDRESS = 0x47
PADDING = 0x00
EXTRA_DID = 0xF1A0
EXTRA_VALUE = bytes.fromhex("C0FFEE")

PROFILE = f"""\
format = "ecusim-car-profile"
version = 1
model = "LS430"
year = 2004
system_type = "transponder_key_ecu"
reset_supported = true
keyless_entry = "programmable"

[key_limits]
automatic = {{ masters = 3, subs = 1 }}
additional = {{ masters = 5, subs = 3 }}

[factory_keys]
masters = 2
subs = 1
smart_keys = 0

[ecus.ecm]
request = "0x7E0"
response = "0x7E8"
functional = "0x7DF"
padding = 0x00

[ecus.immobilizer]
request = "0x{REQUEST_ID:03X}"
response = "0x{RESPONSE_ID:03X}"
extended_address = "0x{SUB_ADDRESS:02X}"
padding = 0x00
p2_ms = 100

[ecus.immobilizer.security]
0x01 = "lab-diagnostic"
0x11 = "lab-passcode"

[ecus.immobilizer.dids]
0x{EXTRA_DID:04X} = "{EXTRA_VALUE.hex().upper()}"
"""

KEY_INSERT = 1
KEY_WITHDRAW = 0
IGNITION_ON = 2


class RawCodec(udsoncan.DidCodec):
    """A DID's value as its bytes."""

    def encode(self, *did_value: Any) -> bytes:
        return bytes(did_value[0])

    def decode(self, did_payload: bytes) -> Any:
        return bytes(did_payload)

    def __len__(self) -> int:
        raise udsoncan.DidCodec.ReadAllRemainingData


def profile_client(tester: Tester) -> Client:
    """udsoncan to the profile's immobilizer: its addresses and its padding byte."""
    address = isotp.Address(
        isotp.AddressingMode.Extended_11bits,
        txid=REQUEST_ID,
        rxid=RESPONSE_ID,
        target_address=SUB_ADDRESS,
        source_address=SUB_ADDRESS,
    )
    stack = isotp.NotifierBasedCanStack(
        tester.bus,
        tester.notifier,
        address=address,
        params={"tx_padding": PADDING, "blocking_send": False},
    )
    config = client_config()
    config["data_identifiers"] = {**config["data_identifiers"], EXTRA_DID: RawCodec()}
    client = Client(PythonIsoTpV2Connection(stack), config=config)
    client.open()
    return client


def padding_of(frame: can.Message) -> bytes:
    """The bytes after an extended-addressing frame's ISO-TP payload (ISO 15765-2 §9.6):
    a single frame's after its length, a flow control's after its 3 bytes; else empty."""
    pci = frame.data[1] >> 4
    if pci == 0x0:  # single frame: the low nibble is the payload length
        return bytes(frame.data[2 + (frame.data[1] & 0x0F) :])
    if pci == 0x3:  # flow control: FS/BS, BS, STmin
        return bytes(frame.data[4:])
    return b""


@pytest.mark.slow
def test_udsoncan_resets_a_car_run_from_a_profile(
    processes: Starter, hub_url: str, tmp_path: Path
) -> None:
    profile = tmp_path / "my-car.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    node = start_ecusim(
        processes,
        [sys.executable, "-m", "ecusim", "run", "-i", "remote", "-c", hub_url,
         "--car", str(profile), "--vin", VIN, "--time-scale", str(TIME_SCALE), "--ephemeral"],
    )  # fmt: skip
    printed = "\n".join(node.lines)
    assert f"0x{REQUEST_ID:03X} -> 0x{RESPONSE_ID:03X} ext 0x{SUB_ADDRESS:02X}" in printed
    assert f"car profile {profile}" in printed
    factory_master = next(k for k in factory_keys_printed(node.lines) if k.kind is KeyKind.MASTER)

    bus = can.Bus(interface="remote", channel=hub_url)
    tester = Tester(bus, record=True)
    try:
        client = profile_client(tester)
        tester.send(
            body.LAB_KEY_CMD,
            {"KeyAction": KEY_INSERT, "TransponderId": factory_master.transponder_id},
        )
        tester.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": IGNITION_ON})
        tester.monitor.wait_for(
            body.IGNITION_STATUS, lambda s: s["IgnitionState"] == IGNITION_ON, "ignition ON"
        )
        assert client.read_data_by_identifier_first(DID_VIN) == VIN
        assert client.read_data_by_identifier_first(EXTRA_DID) == EXTRA_VALUE
        session = client.change_session(EXTENDED_SESSION)
        assert session is not None
        assert session.get_payload() == bytes(
            [
                0x50,  # DiagnosticSessionControl positive response
                0x03,  # extendedDiagnosticSession
                0x00,  # P2server_max high byte
                0x64,  # P2server_max low byte: the profile's 100 ms
                0x01,  # P2*server_max high byte
                0xF4,  # P2*server_max low byte: 500 x 10 ms = 5 s (the default)
            ]
        )
        unlocked = client.unlock_security_access(LEVEL_IMMOBILIZER_RESET)  # the Pass-Code
        assert unlocked is not None and unlocked.positive
        reset = client.start_routine(RID_RESET)  # 0x78 while erasing: udsoncan waits
        assert reset is not None and reset.positive
        tester.monitor.wait_for(
            body.IMMOBILIZER_STATUS,
            lambda s: (s["MasterKeys"], s["RegistrationMode"]) == (0, REGISTRATION_AUTOMATIC),
            "the keys erased, automatic registration",
        )
        assert key_counts(client) == (0, 0)
        tester.send(body.LAB_KEY_CMD, {"KeyAction": KEY_WITHDRAW})
    finally:
        tester.close()
        bus.shutdown()

    answers = [frame for frame in tester.frames if frame.arbitration_id == RESPONSE_ID]
    assert answers, "the car answered nothing"
    assert all(len(frame.data) == 8 for frame in answers)  # padded to 8 bytes (classic CAN)
    assert all(frame.data[0] == SUB_ADDRESS for frame in answers)  # the sub-address first
    padded = [padding_of(frame) for frame in answers if padding_of(frame)]
    assert padded, "no single or flow-control frame with room for padding"
    assert all(set(pad) == {PADDING} for pad in padded), [f.data.hex() for f in answers]
    assert node.stop(signal.SIGTERM) == 0
