"""udsoncan, an independent client, drives the engine ECU over ISO-TP on a virtual bus
(diagnostic-contract.md §1-§4)."""

from __future__ import annotations

from typing import Any

import pytest
from udsoncan.client import Client

from ecusim.catalog.vin import check_digit
from ecusim.ecus.engine import DEFAULT_VIN, EngineEcu
from tests.integration.uds_bench import (
    DID_ACTIVE_SESSION,
    DID_PART_NUMBER,
    DID_SERIAL_NUMBER,
    DID_SYSTEM_NAME,
    DID_VIN,
    ENGINE_PART_NUMBER,
    ENGINE_SERIAL,
    ENGINE_SYSTEM_NAME,
    EXTENDED_SESSION,
    HARD_RESET,
    REQUEST_TIMEOUT_S,
    ClientFactory,
    ScanTool,
    client_config,
    engine_did_codecs,
    nrc_of,
)

OTHER_VIN = "JTHBA1D29G5000002"
"""A second valid lab VIN (diagnostic-contract.md §5)."""


def _with_wrong_check_digit(vin: str) -> str:
    """``vin`` with position 9 replaced by a check digit that does not match."""
    right = check_digit(vin)
    wrong = "1" if right != "1" else "2"
    return vin[:8] + wrong + vin[9:]


def _extended_and_unlocked(client: Client) -> None:
    client.change_session(EXTENDED_SESSION)
    client.unlock_security_access(0x01)


def _session(client: Client) -> int:
    value = client.read_data_by_identifier_first(DID_ACTIVE_SESSION)
    assert isinstance(value, int)
    return value


def test_read_vin_is_a_multi_frame_response(
    engine_node: EngineEcu, uds_client: ClientFactory, tester: ScanTool
) -> None:
    client = uds_client()

    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN

    first = tester.next_frame(0x7E8)
    assert first is not None
    # 62 F1 90 + 17 VIN bytes = 20 bytes: a First Frame with FF_DL 0x014, then the data starts.
    assert bytes(first.data[:5]) == bytes(
        [
            0x10,  # PCI: First Frame, FF_DL high nibble 0
            0x14,  # FF_DL low byte: 20 bytes
            0x62,  # ReadDataByIdentifier positive response
            0xF1,  # DID high byte
            0x90,  # DID low byte (VIN)
        ]
    )


def test_read_several_dids_in_one_request(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()

    response = client.read_data_by_identifier(
        [DID_VIN, DID_SERIAL_NUMBER, DID_PART_NUMBER, DID_SYSTEM_NAME, DID_ACTIVE_SESSION]
    )

    assert response is not None
    assert response.service_data.values == {
        DID_VIN: DEFAULT_VIN,
        DID_SERIAL_NUMBER: ENGINE_SERIAL,
        DID_PART_NUMBER: ENGINE_PART_NUMBER,
        DID_SYSTEM_NAME: ENGINE_SYSTEM_NAME,
        DID_ACTIVE_SESSION: 0x01,
    }
    assert 10 <= len(ENGINE_SERIAL) <= 16  # diagnostic-contract.md §4


def test_extended_session_reports_p2_and_p2_star(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client(config=client_config(use_server_timing=True))

    response = client.change_session(EXTENDED_SESSION)

    assert response is not None
    assert response.get_payload() == bytes(
        [
            0x50,  # DiagnosticSessionControl positive response
            0x03,  # extendedDiagnosticSession
            0x00,  # P2server_max high byte
            0x32,  # P2server_max low byte: 50 ms
            0x01,  # P2*server_max high byte
            0xF4,  # P2*server_max low byte: 500 x 10 ms = 5 s
        ]
    )
    assert response.service_data.p2_server_max == pytest.approx(0.050)
    assert response.service_data.p2_star_server_max == pytest.approx(5.0)
    assert client.session_timing.p2_server_max == pytest.approx(0.050)
    assert client.session_timing.p2_star_server_max == pytest.approx(5.0)
    assert _session(client) == 0x03


def test_unlock_level_1_in_extended_session(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()
    client.change_session(EXTENDED_SESSION)

    seed_response = client.request_seed(0x01)
    assert seed_response is not None
    seed = seed_response.service_data.seed
    assert len(seed) == 4
    assert seed != bytes(4)  # a locked level never hands out an all-zero seed

    client.unlock_security_access(0x01)

    # requestSeed on the unlocked level: the all-zero seed of its length
    # (diagnostic-contract.md §3).
    again = client.request_seed(0x01)
    assert again is not None
    assert again.service_data.seed == bytes(4)


def test_tester_present_with_and_without_suppress_bit(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()

    response = client.tester_present()
    assert response is not None
    assert response.get_payload() == bytes([0x7E, 0x00])  # positive response, sub-function 0

    with client.suppress_positive_response:
        assert client.tester_present() is None

    # 3E 80 is answered by nothing: the next frame the connection sees answers the 3E 00 after it.
    client.conn.send(bytes([0x3E, 0x80]))  # TesterPresent, zeroSubFunction + suppress bit
    client.conn.send(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert client.conn.wait_frame(timeout=REQUEST_TIMEOUT_S, exception=True) == bytes(
        [0x7E, 0x00]  # positive response to the second request only
    )


def test_ecu_reset_returns_to_default_session_and_locks(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()
    _extended_and_unlocked(client)
    assert _session(client) == 0x03

    response = client.ecu_reset(HARD_RESET)

    assert response is not None
    assert response.get_payload() == bytes([0x51, 0x01])  # positive response, hardReset
    assert _session(client) == 0x01
    client.change_session(EXTENDED_SESSION)
    seed_response = client.request_seed(0x01)
    assert seed_response is not None
    assert seed_response.service_data.seed != bytes(4)  # locked again after the reset


def test_security_access_in_default_session_is_0x7f(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()

    assert nrc_of(client.request_seed, 0x01) == 0x7F


def test_unknown_did_is_0x31(engine_node: EngineEcu, uds_client: ClientFactory) -> None:
    client = uds_client(
        config=client_config(data_identifiers={**engine_did_codecs(), 0x1234: ">H"})
    )

    assert nrc_of(client.read_data_by_identifier, [0x1234]) == 0x31


def test_wrong_key_is_0x35(engine_node: EngineEcu, uds_client: ClientFactory) -> None:
    def wrong_algo(level: int, seed: bytes, params: Any = None) -> bytes:
        return bytes(b ^ 0xFF for b in seed)

    client = uds_client(config=client_config(security_algo=wrong_algo))
    client.change_session(EXTENDED_SESSION)

    assert nrc_of(client.unlock_security_access, 0x01) == 0x35
    assert engine_node.server.security.failed_attempts(0x01) == 1


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        pytest.param(
            bytes([0x10]),  # DiagnosticSessionControl without its sub-function
            bytes([0x7F, 0x10, 0x13]),  # negative response, SID 0x10, NRC incorrectLength
            id="bare-10",
        ),
        pytest.param(
            bytes([0x3E]),  # TesterPresent without its sub-function
            bytes([0x7F, 0x3E, 0x13]),  # negative response, SID 0x3E, NRC incorrectLength
            id="bare-3E",
        ),
        pytest.param(
            bytes(
                [
                    0x22,  # ReadDataByIdentifier
                    0xF1,  # half a DID: an odd number of DID bytes
                ]
            ),
            bytes([0x7F, 0x22, 0x13]),  # negative response, SID 0x22, NRC incorrectLength
            id="half-did",
        ),
        pytest.param(
            bytes(
                [
                    0x3E,  # TesterPresent
                    0x00,  # zeroSubFunction
                    0x00,  # one byte too many
                ]
            ),
            bytes([0x7F, 0x3E, 0x13]),  # negative response, SID 0x3E, NRC incorrectLength
            id="long-3E",
        ),
    ],
)
def test_malformed_raw_request_is_0x13(
    engine_node: EngineEcu, uds_client: ClientFactory, request_bytes: bytes, expected: bytes
) -> None:
    client = uds_client()

    client.conn.send(request_bytes)

    assert client.conn.wait_frame(timeout=REQUEST_TIMEOUT_S, exception=True) == expected


def test_bare_security_access_in_extended_session_is_0x13(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    """Scanners send one-byte requests (design guide pitfall): answer 0x13, keep serving."""
    client = uds_client()
    client.change_session(EXTENDED_SESSION)

    client.conn.send(bytes([0x27]))  # SecurityAccess without its sub-function

    assert client.conn.wait_frame(timeout=REQUEST_TIMEOUT_S, exception=True) == bytes(
        [
            0x7F,  # negative response
            0x27,  # SecurityAccess
            0x13,  # incorrectMessageLengthOrInvalidFormat
        ]
    )
    assert client.tester_present() is not None


def test_write_vin_after_unlock(engine_node: EngineEcu, uds_client: ClientFactory) -> None:
    client = uds_client()
    _extended_and_unlocked(client)

    response = client.write_data_by_identifier(DID_VIN, OTHER_VIN)

    assert response is not None
    assert response.get_payload() == bytes([0x6E, 0xF1, 0x90])  # positive response, DID F190
    assert client.read_data_by_identifier_first(DID_VIN) == OTHER_VIN
    assert engine_node.vin == OTHER_VIN


def test_write_vin_with_a_wrong_check_digit_is_0x31(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()
    _extended_and_unlocked(client)

    assert nrc_of(client.write_data_by_identifier, DID_VIN, _with_wrong_check_digit(OTHER_VIN)) == (
        0x31
    )
    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN


def test_write_vin_in_lower_case_is_0x31_and_nvm_keeps_the_old_vin(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    """Issue 15: a VIN is capitals (ISO 3779); a lower-case one is a value out of range, as a
    wrong check digit is (0x31, ISO 14229-1 §11.7), never stored upper-cased."""
    client = uds_client()
    _extended_and_unlocked(client)

    # udsoncan sends 2E F1 90 + the 17 ASCII bytes as given; the answer is 7F 2E 31
    assert nrc_of(client.write_data_by_identifier, DID_VIN, OTHER_VIN.lower()) == 0x31
    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN
    assert engine_node.vin == DEFAULT_VIN


def test_write_vin_needs_extended_session_and_unlock(
    engine_node: EngineEcu, uds_client: ClientFactory
) -> None:
    client = uds_client()

    # Default session: F190 is not writable here (diagnostic-contract.md §4).
    assert nrc_of(client.write_data_by_identifier, DID_VIN, OTHER_VIN) == 0x31
    client.change_session(EXTENDED_SESSION)
    # Extended session, level 0x01 still locked.
    assert nrc_of(client.write_data_by_identifier, DID_VIN, OTHER_VIN) == 0x33
    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN
