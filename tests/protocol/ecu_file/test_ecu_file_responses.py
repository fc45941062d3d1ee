"""Byte-level: the bench ECU file (conftest.BENCH_ECU) answers as ISO 14229-1 says, with the
file's values, sessions and levels. Every byte is commented."""

from __future__ import annotations

from tests.protocol.ecu_file.conftest import KEY, SEED, Bench

EXTENDED = bytes(
    [
        0x10,  # DiagnosticSessionControl
        0x03,  # extendedDiagnosticSession
    ]
)
ENGINEERING = bytes(
    [
        0x10,  # DiagnosticSessionControl
        0x60,  # the file's custom "engineering" session
    ]
)


def session_response(session: int) -> bytes:
    return bytes(
        [
            0x50,  # DiagnosticSessionControl positive response
            session,  # the session entered
            0x00,  # P2server_max high byte
            0x19,  # P2server_max low byte: the file's p2_ms = 25
            0x00,  # P2*server_max high byte
            0xC8,  # P2*server_max low byte: 200 x 10 ms = the file's p2_star_ms = 2000
        ]
    )


def enter_extended(bench: Bench) -> None:
    assert bench.ask(EXTENDED) == session_response(0x03)


def unlock(bench: Bench) -> None:
    """Extended session, then level 0x01 with the weak-xor key of the first seed."""
    enter_extended(bench)
    assert bench.ask(bytes([0x27, 0x01])) == bytes(  # SecurityAccess requestSeed level 0x01
        [
            0x67,  # SecurityAccess positive response
            0x01,  # requestSeed level 0x01
            *SEED,  # 11 22 33 44
        ]
    )
    assert bench.ask(bytes([0x27, 0x02, *KEY])) == bytes(  # sendKey 0x02, key B4 87 96 E1
        [
            0x67,  # SecurityAccess positive response
            0x02,  # sendKey level 0x01
        ]
    )


# -- DiagnosticSessionControl §10.2 ------------------------------------------------------------


def test_custom_session_is_entered_with_the_files_timing(bench: Bench) -> None:
    assert bench.ask(ENGINEERING) == session_response(0x60)


def test_unsupported_session_is_sub_function_not_supported(bench: Bench) -> None:
    response = bench.ask(
        bytes(
            [
                0x10,  # DiagnosticSessionControl
                0x02,  # programmingSession: not in sessions.supported
            ]
        )
    )
    assert response == bytes(
        [
            0x7F,  # negative response
            0x10,  # to DiagnosticSessionControl
            0x12,  # subFunctionNotSupported
        ]
    )


def test_s3_timeout_of_the_file_returns_to_default(bench: Bench) -> None:
    unlock(bench)
    bench.clock.advance(5.0)  # the file's s3_s, without a request
    response = bench.ask(bytes([0x22, 0x01, 0x60]))  # ReadDataByIdentifier 0x0160
    assert response == bytes(
        [
            0x7F,  # negative response
            0x22,  # to ReadDataByIdentifier
            0x31,  # requestOutOfRange: 0x0160 exists in the extended session only
        ]
    )
    assert bench.ecu.server.session == 0x01


# -- ReadDataByIdentifier §11.2 ----------------------------------------------------------------


def test_fixed_values_are_read_in_the_default_session(bench: Bench) -> None:
    response = bench.ask(
        bytes(
            [
                0x22,  # ReadDataByIdentifier
                0xF1,  # DID high byte
                0x8C,  # DID low byte: 0xF18C, value = "12 34"
                0xF1,  # DID high byte
                0x97,  # DID low byte: 0xF197, text = "GW"
            ]
        )
    )
    assert response == bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0xF1,  # DID high byte
            0x8C,  # DID low byte: 0xF18C
            0x12,  # value byte 1
            0x34,  # value byte 2
            0xF1,  # DID high byte
            0x97,  # DID low byte: 0xF197
            0x47,  # 'G'
            0x57,  # 'W'
        ]
    )


def test_unknown_did_is_request_out_of_range(bench: Bench) -> None:
    response = bench.ask(bytes([0x22, 0xF1, 0x99]))  # ReadDataByIdentifier 0xF199: not in file
    assert response == bytes(
        [
            0x7F,  # negative response
            0x22,  # to ReadDataByIdentifier
            0x31,  # requestOutOfRange
        ]
    )


def test_did_outside_its_read_sessions_is_request_out_of_range(bench: Bench) -> None:
    response = bench.ask(bytes([0x22, 0x01, 0x60]))  # 0x0160: read_sessions = ["extended"]
    assert response == bytes(
        [
            0x7F,  # negative response
            0x22,  # to ReadDataByIdentifier
            0x31,  # requestOutOfRange: not supported in the default session
        ]
    )


def test_locked_did_is_security_access_denied_until_unlocked(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.ask(bytes([0x22, 0x01, 0x60]))  # 0x0160: read_security = 0x01
    assert response == bytes(
        [
            0x7F,  # negative response
            0x22,  # to ReadDataByIdentifier
            0x33,  # securityAccessDenied
        ]
    )
    bench.ask(bytes([0x27, 0x01]))  # requestSeed: 11 22 33 44
    assert bench.ask(bytes([0x27, 0x02, *KEY])) == bytes([0x67, 0x02])  # unlocked
    assert bench.ask(bytes([0x22, 0x01, 0x60])) == bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0x01,  # DID high byte
            0x60,  # DID low byte
            0xAA,  # the file's value
        ]
    )


def test_odd_did_bytes_are_incorrect_length(bench: Bench) -> None:
    response = bench.ask(
        bytes(
            [
                0x22,  # ReadDataByIdentifier
                0xF1,  # DID high byte
                0x8C,  # DID low byte
                0xF1,  # half a second DID
            ]
        )
    )
    assert response == bytes(
        [
            0x7F,  # negative response
            0x22,  # to ReadDataByIdentifier
            0x13,  # incorrectMessageLengthOrInvalidFormat
        ]
    )


# -- WriteDataByIdentifier §11.7 ---------------------------------------------------------------

WRITE_0150 = bytes(
    [
        0x2E,  # WriteDataByIdentifier
        0x01,  # DID high byte
        0x50,  # DID low byte: 0x0150, writable, 1 byte
        0x07,  # new value
    ]
)


def test_write_in_the_default_session_is_service_not_supported_in_active_session(
    bench: Bench,
) -> None:
    assert bench.ask(WRITE_0150) == bytes(
        [
            0x7F,  # negative response
            0x2E,  # to WriteDataByIdentifier
            0x7F,  # serviceNotSupportedInActiveSession: no DID is writable in default
        ]
    )


def test_locked_write_is_security_access_denied(bench: Bench) -> None:
    enter_extended(bench)
    assert bench.ask(WRITE_0150) == bytes(
        [
            0x7F,  # negative response
            0x2E,  # to WriteDataByIdentifier
            0x33,  # securityAccessDenied: write_security = 0x01
        ]
    )


def test_write_of_a_read_only_did_is_request_out_of_range(bench: Bench) -> None:
    unlock(bench)
    response = bench.ask(bytes([0x2E, 0xF1, 0x8C, 0x56, 0x78]))  # 0xF18C: read-only
    assert response == bytes(
        [
            0x7F,  # negative response
            0x2E,  # to WriteDataByIdentifier
            0x31,  # requestOutOfRange
        ]
    )


def test_write_of_another_length_is_incorrect_length(bench: Bench) -> None:
    unlock(bench)
    response = bench.ask(
        bytes(
            [
                0x2E,  # WriteDataByIdentifier
                0x01,  # DID high byte
                0x50,  # DID low byte: 0x0150, its value is 1 byte
                0x07,  # byte 1
                0x08,  # byte 2: one too many
            ]
        )
    )
    assert response == bytes(
        [
            0x7F,  # negative response
            0x2E,  # to WriteDataByIdentifier
            0x13,  # incorrectMessageLengthOrInvalidFormat
        ]
    )


def test_unlocked_write_is_read_back(bench: Bench) -> None:
    unlock(bench)
    assert bench.ask(WRITE_0150) == bytes(
        [
            0x6E,  # WriteDataByIdentifier positive response
            0x01,  # DID high byte
            0x50,  # DID low byte
        ]
    )
    assert bench.ask(bytes([0x22, 0x01, 0x50])) == bytes(
        [
            0x62,  # ReadDataByIdentifier positive response
            0x01,  # DID high byte
            0x50,  # DID low byte
            0x07,  # the written value (the file said 03)
        ]
    )


# -- SecurityAccess §10.4 ----------------------------------------------------------------------


def test_security_access_in_the_default_session_is_service_not_supported_in_session(
    bench: Bench,
) -> None:
    assert bench.ask(bytes([0x27, 0x01])) == bytes(
        [
            0x7F,  # negative response
            0x27,  # to SecurityAccess
            0x7F,  # serviceNotSupportedInActiveSession: no level is allowed in default
        ]
    )


def test_level_of_another_session_is_sub_function_not_supported_in_active_session(
    bench: Bench,
) -> None:
    assert bench.ask(ENGINEERING) == session_response(0x60)
    assert bench.ask(bytes([0x27, 0x01])) == bytes(  # level 0x01: extended only
        [
            0x7F,  # negative response
            0x27,  # to SecurityAccess
            0x7E,  # subFunctionNotSupportedInActiveSession
        ]
    )


def test_undefined_level_is_sub_function_not_supported(bench: Bench) -> None:
    enter_extended(bench)
    assert bench.ask(bytes([0x27, 0x05])) == bytes(  # requestSeed level 0x05: not in the file
        [
            0x7F,  # negative response
            0x27,  # to SecurityAccess
            0x12,  # subFunctionNotSupported
        ]
    )


def test_wrong_keys_count_to_the_files_attempt_limit(bench: Bench) -> None:
    enter_extended(bench)
    bench.ask(bytes([0x27, 0x01]))  # seed 11 22 33 44
    assert bench.ask(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00])) == bytes(
        [
            0x7F,  # negative response
            0x27,  # to SecurityAccess
            0x35,  # invalidKey: attempt 1 of the file's attempt_limit = 2
        ]
    )
    bench.ask(bytes([0x27, 0x01]))  # seed 01 02 03 04
    assert bench.ask(bytes([0x27, 0x02, *KEY])) == bytes(  # the key of the first seed
        [
            0x7F,  # negative response
            0x27,  # to SecurityAccess
            0x36,  # exceededNumberOfAttempts: the file's delay_s starts
        ]
    )
    assert bench.ask(bytes([0x27, 0x01])) == bytes(
        [
            0x7F,  # negative response
            0x27,  # to SecurityAccess
            0x37,  # requiredTimeDelayNotExpired
        ]
    )
    bench.clock.advance(4.0)
    bench.ask(bytes([0x3E, 0x80]))  # TesterPresent, no response: keeps the session
    bench.clock.advance(4.0)
    bench.ask(bytes([0x3E, 0x80]))
    bench.clock.advance(2.0)  # 10 s: the delay is over
    assert bench.ask(bytes([0x27, 0x01])) == bytes(
        [
            0x67,  # SecurityAccess positive response
            0x01,  # requestSeed level 0x01
            0x05,  # third scripted seed
            0x06,
            0x07,
            0x08,
        ]
    )


def test_unlocked_level_answers_a_zero_seed(bench: Bench) -> None:
    unlock(bench)
    assert bench.ask(bytes([0x27, 0x01])) == bytes(
        [
            0x67,  # SecurityAccess positive response
            0x01,  # requestSeed level 0x01
            0x00,  # all-zero seed: already unlocked
            0x00,
            0x00,
            0x00,
        ]
    )


# -- RoutineControl §14.2 ----------------------------------------------------------------------

START_0203 = bytes(
    [
        0x31,  # RoutineControl
        0x01,  # startRoutine
        0x02,  # RID high byte
        0x03,  # RID low byte: 0x0203 "self test", needs level 0x01, extended only
    ]
)


def test_routine_control_in_default_is_service_not_supported_in_active_session(
    bench: Bench,
) -> None:
    assert bench.ask(START_0203) == bytes(
        [
            0x7F,  # negative response
            0x31,  # to RoutineControl
            0x7F,  # serviceNotSupportedInActiveSession
        ]
    )


def test_routine_outside_its_sessions_is_request_out_of_range(bench: Bench) -> None:
    assert bench.ask(ENGINEERING) == session_response(0x60)
    assert bench.ask(START_0203) == bytes(
        [
            0x7F,  # negative response
            0x31,  # to RoutineControl
            0x31,  # requestOutOfRange: 0x0203 is not in the engineering session
        ]
    )


def test_locked_routine_is_security_access_denied(bench: Bench) -> None:
    enter_extended(bench)
    assert bench.ask(START_0203) == bytes(
        [
            0x7F,  # negative response
            0x31,  # to RoutineControl
            0x33,  # securityAccessDenied
        ]
    )


def test_routine_answers_its_fixed_results(bench: Bench) -> None:
    unlock(bench)
    assert bench.ask(START_0203) == bytes(
        [
            0x71,  # RoutineControl positive response
            0x01,  # startRoutine
            0x02,  # RID high byte
            0x03,  # RID low byte
            0x00,  # start_result byte 1
            0x5A,  # start_result byte 2
        ]
    )
    assert bench.ask(bytes([0x31, 0x03, 0x02, 0x03])) == bytes(  # requestRoutineResults
        [
            0x71,  # RoutineControl positive response
            0x03,  # requestRoutineResults
            0x02,  # RID high byte
            0x03,  # RID low byte
            0x00,  # results byte 1
            0x5A,  # results byte 2
        ]
    )
    assert bench.ask(bytes([0x31, 0x02, 0x02, 0x03])) == bytes(  # stopRoutine: none in file
        [
            0x7F,  # negative response
            0x31,  # to RoutineControl
            0x12,  # subFunctionNotSupported
        ]
    )


def test_stop_before_start_is_request_sequence_error(bench: Bench) -> None:
    enter_extended(bench)
    stop = bytes(
        [
            0x31,  # RoutineControl
            0x02,  # stopRoutine
            0x02,  # RID high byte
            0x04,  # RID low byte: 0x0204 "lamp test", no security
        ]
    )
    assert bench.ask(stop) == bytes(
        [
            0x7F,  # negative response
            0x31,  # to RoutineControl
            0x24,  # requestSequenceError: not started
        ]
    )
    assert bench.ask(bytes([0x31, 0x01, 0x02, 0x04])) == bytes([0x71, 0x01, 0x02, 0x04, 0x01])
    assert bench.ask(stop) == bytes(
        [
            0x71,  # RoutineControl positive response
            0x02,  # stopRoutine
            0x02,  # RID high byte
            0x04,  # RID low byte
            0x00,  # stop_result
        ]
    )


def test_unknown_routine_is_request_out_of_range(bench: Bench) -> None:
    enter_extended(bench)
    assert bench.ask(bytes([0x31, 0x01, 0x02, 0x99])) == bytes(  # RID 0x0299: not in the file
        [
            0x7F,  # negative response
            0x31,  # to RoutineControl
            0x31,  # requestOutOfRange
        ]
    )


# -- ReadDTCInformation §12.3 and ClearDiagnosticInformation §12.2 -----------------------------


def test_dtcs_report_the_files_status_bytes_and_clear(bench: Bench) -> None:
    report = bytes(
        [
            0x19,  # ReadDTCInformation
            0x02,  # reportDTCByStatusMask
            0xFF,  # any status bit
        ]
    )
    assert bench.ask(report) == bytes(
        [
            0x59,  # ReadDTCInformation positive response
            0x02,  # reportDTCByStatusMask
            0xFF,  # DTCStatusAvailabilityMask: every bit as written in the file
            0x92,  # B1234 high byte (B = 10, 1, 2)
            0x34,  # B1234 middle byte
            0x00,  # failure type byte
            0x09,  # status: testFailed | confirmedDTC (the file's 0x09)
            0xC1,  # U0100 high byte (U = 11, 0, 1)
            0x00,  # U0100 middle byte
            0x00,  # failure type byte
            0x08,  # status: confirmedDTC
        ]
    )
    assert bench.ask(bytes([0x14, 0xFF, 0xFF, 0xFF])) == bytes(  # ClearDiagnosticInformation all
        [
            0x54,  # ClearDiagnosticInformation positive response
        ]
    )
    assert bench.ask(bytes([0x19, 0x01, 0x09])) == bytes(  # reportNumberOfDTCByStatusMask 09
        [
            0x59,  # ReadDTCInformation positive response
            0x01,  # reportNumberOfDTCByStatusMask
            0xFF,  # DTCStatusAvailabilityMask
            0x01,  # DTCFormatIdentifier: ISO 14229-1
            0x00,  # count high byte
            0x00,  # count low byte: none failed or confirmed since the clear
        ]
    )


def test_clear_of_an_unknown_dtc_is_request_out_of_range(bench: Bench) -> None:
    response = bench.ask(
        bytes(
            [
                0x14,  # ClearDiagnosticInformation
                0x01,  # group high byte
                0x23,  # group middle byte
                0x45,  # group low byte: 0x012345, not in the file
            ]
        )
    )
    assert response == bytes(
        [
            0x7F,  # negative response
            0x14,  # to ClearDiagnosticInformation
            0x31,  # requestOutOfRange
        ]
    )
