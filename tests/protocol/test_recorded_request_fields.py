"""The request record's byte helpers (ISO 14229-1: the sub-function and its suppress bit, the
parameters, the DID and routine identifier) and the NRC forms ``force_nrc`` accepts."""

from __future__ import annotations

import pytest

from protocol.clock import FakeClock, ScaledClock
from protocol.constants import Addressing
from protocol.errors import ConfigurationError
from protocol.uds.faults import FaultPlan, ForceNrc, RecordedRequest, nrc_code


def _record(request: bytes, response: bytes | None = None) -> RecordedRequest:
    return RecordedRequest("certification", 0.0, Addressing.PHYSICAL, request, response)


def test_a_session_request_has_a_sub_function_and_no_data() -> None:
    record = _record(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extendedDiagnosticSession
    assert record.sub_function == 0x03
    assert not record.suppress_positive_response
    assert record.data == b""
    assert record.did is None and record.routine_id is None


def test_the_suppress_bit_is_masked_off_the_sub_function() -> None:
    record = _record(bytes([0x3E, 0x80]))  # TesterPresent, zeroSubFunction + suppress bit 0x80
    assert record.sub_function == 0x00
    assert record.suppress_positive_response


def test_a_routine_request_gives_its_routine_and_option_bytes() -> None:
    record = _record(
        bytes([0x31, 0x01, 0x02, 0x06, 0xAA]),  # RoutineControl, startRoutine, RID 0x0206, option
        bytes([0x71, 0x01, 0x02, 0x06, 0x01]),  # positive response, startRoutine, RID, status
    )
    assert record.sub_function == 0x01
    assert record.data == bytes([0x02, 0x06, 0xAA])  # after the SID and the sub-function
    assert record.routine_id == 0x0206
    assert record.positive and record.nrc is None


def test_a_read_has_no_sub_function_its_data_starts_after_the_sid() -> None:
    record = _record(bytes([0x22, 0xF1, 0x90, 0x01, 0x0D]))  # RDBI, DIDs 0xF190 and 0x010D
    assert record.sub_function is None  # 0x22 has no sub-function: 0xF1 is the DID's high byte
    assert not record.suppress_positive_response  # though 0xF1 has bit 7 set
    assert record.data == bytes([0xF1, 0x90, 0x01, 0x0D])
    assert record.did == 0xF190  # the first DID


def test_a_write_gives_its_did_and_a_negative_answer_its_nrc() -> None:
    record = _record(
        bytes([0x2E, 0xF1, 0x90, 0x4A]),  # WriteDataByIdentifier, DID 0xF190, first VIN byte
        bytes([0x7F, 0x2E, 0x22]),  # negative response, WDBI, conditionsNotCorrect
    )
    assert record.did == 0xF190
    assert record.nrc == 0x22
    assert not record.positive


def test_short_requests_have_no_fields_they_lack() -> None:
    assert _record(bytes([0x10])).sub_function is None  # DSC without its sub-function byte
    assert _record(bytes([0x10])).data == b""
    assert _record(bytes([0x22, 0xF1])).did is None  # half a DID
    assert _record(bytes([0x31, 0x01, 0x02])).routine_id is None  # half a routine identifier
    assert not _record(bytes([0x22, 0xF1, 0x90])).positive  # no answer yet


@pytest.mark.parametrize(
    ("given", "code"),
    [
        (0x22, 0x22),
        ("0x22", 0x22),
        ("0X7f", 0x7F),
        ("conditionsNotCorrect", 0x22),
        ("CONDITIONS_NOT_CORRECT", 0x22),
        ("busy-repeat-request", 0x21),
        ("exceedNumberOfAttempts", 0x36),  # ISO 14229-1's spelling
        ("requestCorrectlyReceived-ResponsePending", 0x78),
    ],
)
def test_force_nrc_takes_an_int_its_hex_or_its_iso_name(given: int | str, code: int) -> None:
    rule = FaultPlan().force_nrc(given, sid=0x31)
    assert isinstance(rule.action, ForceNrc) and rule.action.nrc == code
    assert nrc_code(given) == code


@pytest.mark.parametrize("given", ["conditionsNotKorrect", "0x00", "0x123", "", "22"])
def test_a_wrong_nrc_string_names_the_valid_forms(given: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        FaultPlan().force_nrc(given)
    message = str(info.value)
    assert f"unknown NRC {given!r}" in message
    assert "0x01..0xFF" in message and "'0x22'" in message
    assert "conditionsNotCorrect (0x22)" in message  # the names, as ISO 14229-1 writes them


def test_a_scaled_clock_jumps_forward_and_keeps_running() -> None:
    base = FakeClock(100.0)
    clock = ScaledClock(20.0, base=base)
    base.advance(1.0)
    assert clock.now() == pytest.approx(120.0)  # 1 s real = 20 s scaled
    assert clock.advance(960.0) == pytest.approx(1080.0)
    base.advance(0.5)
    assert clock.now() == pytest.approx(1090.0)
    for wrong in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigurationError, match="forward"):
            clock.advance(wrong)
