"""The passive decoder fed hand-made frames: exchanges, names, 0x78 counts, P2/P2*, state.

The car is the contract's LS430 2004: transponder key ECU 0x750 → 0x758 with sub-address 0x57
(extended addressing: every frame starts with it), engine ECU 0x7E0 → 0x7E8, functional 0x7DF.
Timestamps are given, so the timing verdicts are exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import can

from dbc import body
from ecusim.catalog import Catalog
from ecusim.wire.car_state import CAR, StateChange
from ecusim.wire.decoder import WireDecoder, model_targets
from ecusim.wire.exchange import Exchange

REQUEST_ID = 0x750
RESPONSE_ID = 0x758
SUB = 0x57
"""The transponder key ECU's sub-address (diagnostic-contract.md §1)."""
NODE = "transponder key ECU"
PAD = 0xCC


def _decoder() -> WireDecoder:
    return WireDecoder(model_targets(Catalog.load().lookup("LS430", 2004)))


def _frame(can_id: int, data: list[int], time: float) -> can.Message:
    padded = bytes(data) + bytes([PAD] * (8 - len(data)))
    return can.Message(arbitration_id=can_id, data=padded, is_extended_id=False, timestamp=time)


def _exchanges(decoder: WireDecoder) -> list[Exchange]:
    return [event for event in decoder.drain() if isinstance(event, Exchange)]


def _changes(events: Sequence[object]) -> list[StateChange]:
    return [event for event in events if isinstance(event, StateChange)]


def test_a_session_change_is_named_timed_and_changes_the_session() -> None:
    decoder = _decoder()
    decoder.on_message_received(
        _frame(REQUEST_ID, [
            SUB,  # extended address: the transponder key ECU
            0x02,  # PCI: single frame, 2 bytes
            0x10,  # DiagnosticSessionControl
            0x03,  # extendedDiagnosticSession
        ], 100.000)
    )  # fmt: skip
    decoder.on_message_received(
        _frame(RESPONSE_ID, [
            SUB,  # the sub-address, echoed
            0x06,  # PCI: single frame, 6 bytes
            0x50,  # DiagnosticSessionControl positive response
            0x03,  # extendedDiagnosticSession
            0x00, 0x32,  # P2server_max 50 ms
            0x01, 0xF4,  # P2*server_max 500 x 10 ms
        ], 100.004)
    )  # fmt: skip
    events = decoder.drain()
    (exchange,) = [event for event in events if isinstance(event, Exchange)]
    assert exchange.node == NODE
    assert exchange.describe() == (
        "10 03 DiagnosticSessionControl extendedDiagnosticSession → 50 03 00 32 01 F4 "
        "positive: extendedDiagnosticSession, P2 50 ms, P2* 5000 ms  [4 ms, within P2]"
    )
    (change,) = _changes(events)
    assert (change.subject, change.field, change.new) == (
        NODE,
        "session",
        "extendedDiagnosticSession",
    )
    assert decoder.state.timing[NODE] == (0.05, 5.0)


def test_response_pending_is_counted_and_p2_star_applies_after_it() -> None:
    decoder = _decoder()
    decoder.on_message_received(
        _frame(REQUEST_ID, [
            SUB,  # extended address
            0x04,  # PCI: single frame, 4 bytes
            0x31,  # RoutineControl
            0x01,  # startRoutine
            0x02, 0x01,  # RID 0x0201 Immobilizer/Smart Key Reset
        ], 200.000)
    )  # fmt: skip
    pending = [
        SUB,  # extended address
        0x03,  # PCI: single frame, 3 bytes
        0x7F,  # negative response
        0x31,  # to RoutineControl
        0x78,  # requestCorrectlyReceived-ResponsePending
    ]
    decoder.on_message_received(_frame(RESPONSE_ID, pending, 200.030))  # within P2 (50 ms)
    decoder.on_message_received(_frame(RESPONSE_ID, pending, 202.030))  # within P2* (5 s)
    decoder.on_message_received(_frame(RESPONSE_ID, pending, 204.030))
    assert _exchanges(decoder) == []  # still running
    decoder.on_message_received(
        _frame(RESPONSE_ID, [
            SUB,  # extended address
            0x05,  # PCI: single frame, 5 bytes
            0x71,  # RoutineControl positive response
            0x01,  # startRoutine
            0x02, 0x01,  # RID 0x0201
            0x00,  # routine status: done
        ], 210.000)  # 5.97 s after the last 0x78: later than P2*
    )  # fmt: skip
    events = decoder.drain()
    (exchange,) = [event for event in events if isinstance(event, Exchange)]
    assert len(exchange.pending) == 3
    assert exchange.describe().startswith(
        "31 01 02 01 RoutineControl startRoutine 0x0201 Immobilizer/Smart Key Reset → "
        "7F 31 78 requestCorrectlyReceived-ResponsePending ×3 → 71 01 02 01 00 positive: "  # noqa: RUF001
        "0x0201 Immobilizer/Smart Key Reset done"
    )
    assert exchange.timing_problems() == ["P2* exceeded: 5970 ms > 5000 ms"]
    record = exchange.to_json()
    assert (record["pending"], record["nrc"], record["response"]) == (3, None, "71 01 02 01 00")
    assert [(c.field, c.new) for c in _changes(events)] == [
        ("key codes", "erased (0x0201 Immobilizer/Smart Key Reset)")
    ]


def test_wrong_keys_count_attempts_and_the_security_status_did_gives_the_delay() -> None:
    decoder = _decoder()
    send_key = [
        SUB,  # extended address
        0x06,  # PCI: single frame, 6 bytes (a short key: this is about the NRCs)
        0x27,  # SecurityAccess
        0x12,  # sendKey of level 0x11
        0xDE,
        0xAD,
        0xBE,
        0xEF,  # a wrong key
    ]
    for time, nrc in ((1.0, 0x35), (2.0, 0x36)):  # invalidKey, then exceededNumberOfAttempts
        decoder.on_message_received(_frame(REQUEST_ID, send_key, time))
        decoder.on_message_received(
            _frame(RESPONSE_ID, [
                SUB,  # extended address
                0x03,  # PCI: single frame, 3 bytes
                0x7F,  # negative response
                0x27,  # to SecurityAccess
                nrc,
            ], time + 0.01)
        )  # fmt: skip
    exchanges = _exchanges(decoder)
    assert [e.to_json()["nrc_name"] for e in exchanges] == [
        "invalidKey",
        "exceededNumberOfAttempts",
    ]
    assert decoder.state.snapshot()[NODE]["security 0x11"] == (
        "locked, 2 failed attempts, delay running"
    )
    decoder.on_message_received(
        _frame(REQUEST_ID, [
            SUB,  # extended address
            0x03,  # PCI: single frame, 3 bytes
            0x22,  # ReadDataByIdentifier
            0x01, 0x0C,  # DID 0x010C security access status
        ], 3.0)
    )  # fmt: skip
    decoder.on_message_received(
        _frame(RESPONSE_ID, [
            SUB,  # extended address
            0x10, 0x0B,  # PCI: first frame, 11 bytes
            0x62,  # ReadDataByIdentifier positive response
            0x01, 0x0C,  # DID 0x010C
            0x01, 0x00,  # level 0x01: 0 failed attempts
        ], 3.01)
    )  # fmt: skip
    decoder.on_message_received(
        _frame(REQUEST_ID, [
            SUB,  # extended address (the tester's flow control: skipped)
            0x30, 0x00, 0x00,  # PCI: flow control, continue, BS 0, STmin 0
        ], 3.011)
    )  # fmt: skip
    decoder.on_message_received(
        _frame(RESPONSE_ID, [
            SUB,  # extended address
            0x21,  # PCI: consecutive frame 1
            0x00, 0x00,  # level 0x01: delay 0 s
            0x11, 0x03,  # level 0x11: 3 failed attempts
            0x00, 0x08,  # level 0x11: delay 8 s remaining
        ], 3.012)
    )  # fmt: skip
    (read,) = _exchanges(decoder)
    assert "0x11: 3 failed, 8 s delay" in read.describe()
    assert decoder.state.snapshot()[NODE]["security 0x11"] == (
        "locked, 3 failed attempts, delay 8 s left"
    )


def test_a_request_without_an_answer_is_closed_after_p2() -> None:
    decoder = _decoder()
    decoder.on_message_received(
        _frame(0x7E0, [
            0x03,  # PCI: single frame, 3 bytes (normal addressing: the engine ECU)
            0x22,  # ReadDataByIdentifier
            0xF1, 0x90,  # DID 0xF190 VIN
        ], 5.0)
    )  # fmt: skip
    decoder.tick(5.5)  # less than P2 and the slack
    assert _exchanges(decoder) == []
    decoder.tick(7.0)
    (exchange,) = _exchanges(decoder)
    assert exchange.node == "engine ECU"
    assert exchange.describe() == "22 F1 90 ReadDataByIdentifier 0xF190 VIN → no response"


def test_a_functional_tester_present_without_response_is_not_missing_one() -> None:
    decoder = _decoder()
    decoder.on_message_received(
        _frame(0x7DF, [
            0x02,  # PCI: single frame, 2 bytes
            0x3E,  # TesterPresent
            0x80,  # zeroSubFunction, suppressPosRspMsgIndicationBit
        ], 1.0)
    )  # fmt: skip
    decoder.tick(10.0)
    (exchange,) = _exchanges(decoder)
    assert exchange.functional
    assert exchange.describe() == (
        "3E 80 TesterPresent zeroSubFunction (no positive response wanted)"
    )


def test_another_sub_address_on_the_same_id_is_not_this_car() -> None:
    decoder = _decoder()
    decoder.on_message_received(
        _frame(REQUEST_ID, [
            0xB5,  # extended address of a certification ECU: not on an LS430 2004
            0x02,  # PCI: single frame, 2 bytes
            0x10, 0x03,  # DiagnosticSessionControl extendedDiagnosticSession
        ], 1.0)
    )  # fmt: skip
    decoder.tick(10.0)
    assert decoder.drain() == []


def test_body_frames_give_the_indicator_and_the_key_registered_now() -> None:
    decoder = _decoder()

    def immobilizer_status(masters: int, time: float) -> can.Message:
        message = body.encode_message(
            body.IMMOBILIZER_STATUS,
            {"IndicatorMode": 3, "IndicatorCode": 21, "RegistrationMode": 1, "MasterKeys": masters},
        )
        message.timestamp = time
        return message

    decoder.on_message_received(immobilizer_status(0, 1.0))
    key = body.encode_message(body.LAB_KEY_CMD, {"KeyAction": 1, "TransponderId": 0x1ACCE551})
    decoder.on_message_received(key)
    decoder.on_message_received(immobilizer_status(1, 2.0))
    car = decoder.state.snapshot()[CAR]
    assert car["indicator (immobilizer)"] == "flashing code 21 (2-1)"
    assert car["registration mode (immobilizer)"] == "automatic (new) registration"
    assert car["key slot 1"] == "master 1ACCE551 registered"
    changes = [e for e in decoder.drain() if isinstance(e, StateChange)]
    assert any(c.field == "master keys" and (c.old, c.new) == ("0", "1") for c in changes)
