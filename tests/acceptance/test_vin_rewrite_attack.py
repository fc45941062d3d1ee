"""Issue 11, finding 1, written as the attack: "one approval resets any car".

The thief has a car with no approval and knows another car's approved VIN. Level 0x01's algorithm
and key are public (diagnostic-contract.md §5), so from a scan tool on the bus they unlock it,
write the approved VIN into the key-code ECU (``2E F1 90``), ask for a Seed Number and send the
Pass-Code the portal gives for the approved VIN. The contract (§4) makes the key-code ECU's VIN
write-once: the write answers ``7F 2E 22``, the Pass-Code ``7F 27 35``, the reset ``7F 31 33``,
and every key stays registered.

Driven from outside, as the attacker would: a udsoncan connection over the python-can virtual
bus, every request as raw bytes. The level 0x01 key and the Pass-Code are computed here from the
contract's §5 text, independently of the project's code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import can
import isotp
import pytest
from udsoncan.client import Client

from ecusim.car.vehicle import Vehicle
from ecusim.catalog.vin import lab_vin
from tests.acceptance.acceptance_kit import (
    IMMOBILIZER_REQUEST_ID,
    IMMOBILIZER_RESPONSE_ID,
    REQUEST_TIMEOUT_S,
    Tester,
    assert_known_answers,
    pass_code,
)

LAB_DIAG_KEY: Final = hashlib.sha256(b"ecusim-lab-diag-key-v1").digest()
"""diagnostic-contract.md §5: K_diag, public."""

CERTIFICATION_SUB_ADDRESS: Final = 0xB5
TRANSPONDER_SUB_ADDRESS: Final = 0x57


@dataclass(frozen=True)
class Target:
    """The stolen car and the approved VIN of another car of the same model."""

    model: str
    year: int
    vin: str
    approved_vin: str
    sub_address: int
    key_count_requests: tuple[bytes, ...]
    """ReadDataByIdentifier requests of the registered-key counts."""
    cylinder: bool
    """Whether the ignition needs a key in the cylinder (the thief's own, unregistered blank)."""


READ_MASTER_KEYS: Final = bytes([0x22, 0x01, 0x06])  # RDBI, DID 0x0106 registered master keys
READ_SUB_KEYS: Final = bytes([0x22, 0x01, 0x07])  # RDBI, DID 0x0107 registered sub keys
READ_SMART_KEYS: Final = bytes([0x22, 0x01, 0x0D])  # RDBI, DID 0x010D registered smart keys

TARGETS: Final = (
    # LS430 2004: transponder key ECU; both VINs are lab VINs of LS430 2004 (check digit right).
    Target(
        "LS430",
        2004,
        "JTHLSL1S045000001",
        "JTHLSL1S245000002",
        TRANSPONDER_SUB_ADDRESS,
        (READ_MASTER_KEYS, READ_SUB_KEYS),
        cylinder=True,
    ),
    # ES350 2008: certification (smart key) ECU.
    Target(
        "ES350",
        2008,
        "JTHESE1S885000001",
        "JTHESE1SX85000002",
        CERTIFICATION_SUB_ADDRESS,
        (READ_SMART_KEYS,),
        cylinder=False,
    ),
)


def lab_diag_key(seed: bytes) -> bytes:
    """diagnostic-contract.md §5: level 0x01 key = HMAC-SHA256(K_diag, seed)[:4]."""
    return hmac.new(LAB_DIAG_KEY, seed, hashlib.sha256).digest()[:4]


def ask(client: Client, request: bytes) -> bytes:
    """Send one raw request; the raw response."""
    client.conn.empty_rxqueue()
    client.conn.send(request)
    response = client.conn.wait_frame(timeout=REQUEST_TIMEOUT_S, exception=True)
    assert response is not None
    return bytes(response)


@pytest.fixture
def bus(channel: str) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.fixture
def attacker(channel: str) -> Iterator[Tester]:
    bus = can.Bus(interface="virtual", channel=channel)
    tester = Tester(bus)
    yield tester
    tester.close()
    bus.shutdown()


def test_the_lab_vins_of_the_targets_are_valid_for_their_car() -> None:
    for target in TARGETS:
        assert target.vin == lab_vin(target.model, target.year, 1)
        assert target.approved_vin == lab_vin(target.model, target.year, 2)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.model)
def test_a_rewritten_vin_does_not_open_the_car_to_another_cars_pass_code(
    target: Target, bus: can.BusABC, attacker: Tester
) -> None:
    assert_known_answers()  # the independent Pass-Code is right before it is used
    car = Vehicle.from_catalog(target.model, target.year, target.vin, seed=11)
    address = isotp.Address(
        isotp.AddressingMode.Extended_11bits,
        txid=IMMOBILIZER_REQUEST_ID,  # 0x750
        rxid=IMMOBILIZER_RESPONSE_ID,  # 0x758
        target_address=target.sub_address,
        source_address=target.sub_address,
    )
    client = attacker.client(address)
    with car.running(bus):
        if target.cylinder:
            car.present_key(car.new_key("master"))  # the thief's blank: turns, never starts
        car.set_ignition("on")  # the reset's conditions: ignition ON, vehicle stopped
        keys_before = [ask(client, request) for request in target.key_count_requests]
        assert all(answer[:1] == bytes([0x62]) and answer[3] > 0 for answer in keys_before)

        # 10 03 = DiagnosticSessionControl, extendedDiagnosticSession
        assert ask(client, bytes([0x10, 0x03]))[:2] == bytes([0x50, 0x03])  # positive DSC
        # 27 01 = SecurityAccess requestSeed level 0x01 → 67 01 + 4-byte seed
        seed_01 = ask(client, bytes([0x27, 0x01]))
        assert seed_01[:2] == bytes([0x67, 0x01]) and len(seed_01) == 6
        # 27 02 = sendKey level 0x01 with the public lab key → 67 02: level 0x01 unlocked
        assert ask(client, bytes([0x27, 0x02]) + lab_diag_key(seed_01[2:])) == bytes([0x67, 0x02])

        # 2E F1 90 + 17 ASCII bytes = WriteDataByIdentifier VIN, the approved car's VIN
        write = bytes([0x2E, 0xF1, 0x90]) + target.approved_vin.encode("ascii")
        # 7F = negative response, 2E = WriteDataByIdentifier, 22 = conditionsNotCorrect
        assert ask(client, write) == bytes([0x7F, 0x2E, 0x22])
        # 22 F1 90 = ReadDataByIdentifier VIN → 62 F1 90 + the car's own VIN, unchanged
        assert ask(client, bytes([0x22, 0xF1, 0x90])) == bytes(
            [0x62, 0xF1, 0x90]
        ) + target.vin.encode("ascii")

        # 27 11 = SecurityAccess requestSeed level 0x11 → 67 11 + the 16-byte Seed Number
        seed_11 = ask(client, bytes([0x27, 0x11]))
        assert seed_11[:2] == bytes([0x67, 0x11]) and len(seed_11) == 18
        # 27 12 + 16 bytes = sendKey level 0x11 with the Pass-Code of the APPROVED VIN
        stolen_code = pass_code(target.approved_vin, seed_11[2:])
        # 7F = negative response, 27 = SecurityAccess, 35 = invalidKey
        assert ask(client, bytes([0x27, 0x12]) + stolen_code) == bytes([0x7F, 0x27, 0x35])
        # 31 01 02 01 = RoutineControl startRoutine 0x0201 (the reset) → 7F 31 33 locked
        assert ask(client, bytes([0x31, 0x01, 0x02, 0x01])) == bytes([0x7F, 0x31, 0x33])

        keys_after = [ask(client, request) for request in target.key_count_requests]
        assert keys_after == keys_before  # no key erased
