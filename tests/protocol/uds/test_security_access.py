"""SecurityAccess 0x27 (ISO 14229-1 §10.4; diagnostic-contract.md §3 and §5 known answers)."""

from __future__ import annotations

import pytest

from protocol.seed_source import DeterministicSeedSource
from protocol.uds.server import ServerConfig

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    LEVEL_IMMO,
    SECURITY_DELAY_S,
    Bench,
    assert_locked_for_level_01,
    assert_unlocked_for_level_01,
    enter_extended,
    key_for,
    make_bench,
    read_did,
    request_seed,
    security_status_response,
    send_wrong_key,
    unlock,
    wrong_key_for,
)

SEED_NUMBER_KNOWN = bytes(range(16))
"""Seed Number 00010203-04050607-08090A0B-0C0D0E0F of the §5 known answers."""

PASS_CODE_KNOWN = bytes(
    [
        0x68, 0x04, 0x83, 0x06,  # Pass-Code bytes 0-3: 68048306
        0xE5, 0x7D, 0xF5, 0xFB,  # Pass-Code bytes 4-7: E57DF5FB
        0x1D, 0x81, 0x8A, 0x1B,  # Pass-Code bytes 8-11: 1D818A1B
        0x52, 0x77, 0x91, 0xCD,  # Pass-Code bytes 12-15: 527791CD
    ]
)  # fmt: skip
"""§5: Pass-Code of VIN JTHBL5EF0C5000001 for SEED_NUMBER_KNOWN."""

PASS_CODE_OTHER_VIN = bytes(
    [
        0x68, 0xC8, 0x8F, 0xBD,  # Pass-Code bytes 0-3: 68C88FBD
        0xB7, 0xB0, 0x0C, 0x85,  # Pass-Code bytes 4-7: B7B00C85
        0xB4, 0xD1, 0x0C, 0x5E,  # Pass-Code bytes 8-11: B4D10C5E
        0xD3, 0x45, 0x72, 0x78,  # Pass-Code bytes 12-15: D3457278
    ]
)  # fmt: skip
"""§5: Pass-Code of VIN JTHBA1D29G5000002 for SEED_NUMBER_KNOWN (wrong for the bench car)."""

ZERO_KEY_4 = bytes([0x00, 0x00, 0x00, 0x00])
"""A 4-byte key (right length for level 0x01)."""


def security_status(bench: Bench) -> bytes | None:
    return read_did(bench, 0x010C)


# -- session ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x27, 0x01]),  # SecurityAccess, requestSeed level 0x01
        bytes([0x27, 0x11]),  # SecurityAccess, requestSeed level 0x11
        bytes([0x27, 0x02, 0x35, 0x4A, 0x17, 0x64]),  # SecurityAccess, sendKey 0x02, 4 key bytes
        bytes([0x27, 0x05]),  # SecurityAccess, unsupported level 0x05
        bytes([0x27]),  # SecurityAccess without sub-function
    ],
)
def test_default_session_is_0x7f(bench: Bench, payload: bytes) -> None:
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x27, 0x7F])  # negative, SA, serviceNotSupportedInActiveSession


def test_default_session_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x27, 0x01]), FUNCTIONAL)  # SecurityAccess, requestSeed 0x01
    assert response is None


def test_bare_sid_in_extended_session_is_0x13(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x27]))  # SecurityAccess without sub-function
    assert response == bytes([0x7F, 0x27, 0x13])  # negative, SA, incorrectMessageLength


def test_level_not_allowed_in_programming_session_is_0x7e() -> None:
    bench = make_bench(config=ServerConfig(sessions=frozenset({0x01, 0x02, 0x03})))
    response = bench.handle(bytes([0x10, 0x02]))  # DSC, programmingSession
    assert response == bytes([0x50, 0x02, 0x00, 0x32, 0x01, 0xF4])  # pos, 02, P2 50ms, P2* 500x10ms
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed 0x01
    assert response == bytes([0x7F, 0x27, 0x7E])  # negative, SA, subFunctionNotSupportedInSession
    response = bench.handle(bytes([0x27, 0x01]), FUNCTIONAL)  # same, functional
    assert response is None


# -- known answers ------------------------------------------------------------------------------


def test_level_01_known_answer() -> None:
    bench = make_bench(seeds=[bytes([0x01, 0x02, 0x03, 0x04])])
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response == bytes(
        [
            0x67,  # positive SID
            0x01,  # requestSeed echo
            0x01,  # seed byte 0
            0x02,  # seed byte 1
            0x03,  # seed byte 2
            0x04,  # seed byte 3
        ]
    )
    response = bench.handle(
        bytes(
            [
                0x27,  # SecurityAccess
                0x02,  # sendKey level 0x01
                0x35,  # key byte 0
                0x4A,  # key byte 1
                0x17,  # key byte 2
                0x64,  # key byte 3 (§5: seed 01020304 -> key 354A1764)
            ]
        )
    )
    assert response == bytes([0x67, 0x02])  # positive SID, sendKey echo
    assert_unlocked_for_level_01(bench)


def test_level_11_known_answer_pass_code() -> None:
    bench = make_bench(seeds=[SEED_NUMBER_KNOWN])
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x11]))  # SecurityAccess, requestSeed level 0x11
    assert response == bytes(
        [
            0x67,  # positive SID
            0x11,  # requestSeed echo
            0x00, 0x01, 0x02, 0x03,  # Seed Number bytes 0-3
            0x04, 0x05, 0x06, 0x07,  # Seed Number bytes 4-7
            0x08, 0x09, 0x0A, 0x0B,  # Seed Number bytes 8-11
            0x0C, 0x0D, 0x0E, 0x0F,  # Seed Number bytes 12-15
        ]
    )  # fmt: skip
    response = bench.handle(bytes([0x27, 0x12]) + PASS_CODE_KNOWN)  # SA, sendKey 0x12, Pass-Code
    assert response == bytes([0x67, 0x12])  # positive SID, sendKey echo


def test_level_11_pass_code_of_another_vin_is_0x35() -> None:
    bench = make_bench(seeds=[SEED_NUMBER_KNOWN])
    enter_extended(bench)
    assert request_seed(bench, LEVEL_IMMO) == SEED_NUMBER_KNOWN
    response = bench.handle(bytes([0x27, 0x12]) + PASS_CODE_OTHER_VIN)  # SA, sendKey 0x12, key
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey


def test_requestseed_may_carry_a_data_record() -> None:
    bench = make_bench(seeds=[bytes([0x01, 0x02, 0x03, 0x04])])
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x01, 0xAA]))  # SA, requestSeed 0x01, data record AA
    assert response == bytes([0x67, 0x01, 0x01, 0x02, 0x03, 0x04])  # positive, 01, seed 01020304


# -- zero seeds ---------------------------------------------------------------------------------


def test_unlocked_level_01_returns_zero_seed(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response == bytes([0x67, 0x01, 0x00, 0x00, 0x00, 0x00])  # positive, 01, 4 zero bytes
    assert_unlocked_for_level_01(bench)


def test_unlocked_level_11_returns_16_byte_zero_seed(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(bytes([0x27, 0x11]))  # SecurityAccess, requestSeed level 0x11
    assert response == bytes([0x67, 0x11]) + bytes(16)  # positive SID, 0x11, 16 zero bytes


def test_sendkey_after_a_zero_seed_is_0x24(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    assert request_seed(bench, LEVEL_DIAG) == ZERO_KEY_4
    response = bench.handle(bytes([0x27, 0x02]) + key_for(LEVEL_DIAG, ZERO_KEY_4))  # sendKey
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError


def test_locked_level_never_returns_all_zero_seed() -> None:
    bench = make_bench(seeds=[bytes([0x00, 0x00, 0x00, 0x00]), bytes([0x01, 0x02, 0x03, 0x04])])
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response == bytes([0x67, 0x01, 0x01, 0x02, 0x03, 0x04])  # positive, 01, seed 01020304
    response = bench.handle(bytes([0x27, 0x02, 0x35, 0x4A, 0x17, 0x64]))  # sendKey, key 354A1764
    assert response == bytes([0x67, 0x02])  # positive SID, sendKey echo


def test_locked_level_11_never_returns_all_zero_seed() -> None:
    bench = make_bench(seeds=[bytes(16), SEED_NUMBER_KNOWN])
    enter_extended(bench)
    assert request_seed(bench, LEVEL_IMMO) == SEED_NUMBER_KNOWN


# -- one level at a time ------------------------------------------------------------------------


def test_unlocking_level_11_relocks_level_01(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    assert_unlocked_for_level_01(bench)
    unlock(bench, LEVEL_IMMO)
    assert_locked_for_level_01(bench)
    assert request_seed(bench, LEVEL_DIAG) != ZERO_KEY_4  # level 0x01 is locked: a real seed
    response = bench.handle(bytes([0x27, 0x11]))  # SecurityAccess, requestSeed level 0x11
    assert response == bytes([0x67, 0x11]) + bytes(16)  # positive SID, 0x11, 16 zero bytes


def test_unlocking_level_01_relocks_level_11(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    unlock(bench, LEVEL_DIAG)
    assert request_seed(bench, LEVEL_IMMO) != bytes(16)


# -- sequence -----------------------------------------------------------------------------------


def test_sendkey_without_seed_is_0x24(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x02, 0x35, 0x4A, 0x17, 0x64]))  # sendKey 0x02, 4 bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError
    response = bench.handle(bytes([0x27, 0x12]) + PASS_CODE_KNOWN)  # sendKey 0x12, 16 bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError


def test_sendkey_without_seed_does_not_count_as_failed_attempt(bench: Bench) -> None:
    enter_extended(bench)
    for _ in range(3):
        response = bench.handle(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]))  # sendKey, 4 bytes
        assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError
    response = security_status(bench)
    assert response == security_status_response(diag=(0, 0))  # 0x01: 0 fails, 0 s


def test_sendkey_for_another_level_than_the_seed_is_0x24(bench: Bench) -> None:
    enter_extended(bench)
    seed = request_seed(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x27, 0x12]) + PASS_CODE_KNOWN)  # sendKey 0x12, 16 bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError
    response = bench.handle(bytes([0x27, 0x02]) + key_for(LEVEL_DIAG, seed))  # sendKey 0x02
    assert response == bytes([0x7F, 0x27, 0x24])  # seed consumed: negative, SA, sequenceError


def test_seed_is_single_use_after_a_right_key(bench: Bench) -> None:
    enter_extended(bench)
    seed = request_seed(bench, LEVEL_DIAG)
    key = key_for(LEVEL_DIAG, seed)
    response = bench.handle(bytes([0x27, 0x02]) + key)  # SecurityAccess, sendKey 0x02, key
    assert response == bytes([0x67, 0x02])  # positive SID, sendKey echo
    response = bench.handle(bytes([0x27, 0x02]) + key)  # the same key again
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError


def test_seed_is_single_use_after_a_wrong_key(bench: Bench) -> None:
    enter_extended(bench)
    seed = request_seed(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x27, 0x02]) + wrong_key_for(LEVEL_DIAG, seed))  # bad key
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    response = bench.handle(bytes([0x27, 0x02]) + key_for(LEVEL_DIAG, seed))  # now the right one
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError
    assert_locked_for_level_01(bench)


def test_each_requestseed_returns_a_fresh_seed_and_replaces_the_old_one() -> None:
    bench = make_bench(seeds=[bytes([0x11, 0x22, 0x33, 0x44]), bytes([0x55, 0x66, 0x77, 0x88])])
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response == bytes([0x67, 0x01, 0x11, 0x22, 0x33, 0x44])  # positive, 01, seed 11223344
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01 again
    assert response == bytes([0x67, 0x01, 0x55, 0x66, 0x77, 0x88])  # positive, 01, seed 55667788
    old_key = key_for(LEVEL_DIAG, bytes([0x11, 0x22, 0x33, 0x44]))
    response = bench.handle(bytes([0x27, 0x02]) + old_key)  # sendKey with the first seed's key
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey


def test_seeds_from_a_random_source_differ_each_time() -> None:
    bench = make_bench(seeds=DeterministicSeedSource(7))
    enter_extended(bench)
    seeds = [request_seed(bench, LEVEL_DIAG) for _ in range(8)]
    assert len(set(seeds)) == 8
    assert all(len(seed) == 4 and seed != ZERO_KEY_4 for seed in seeds)
    response = bench.handle(bytes([0x27, 0x02]) + key_for(LEVEL_DIAG, seeds[-1]))  # sendKey
    assert response == bytes([0x67, 0x02])  # positive SID, sendKey echo


# -- key length, wrong keys, counter, delay ------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x27, 0x02]),  # SecurityAccess, sendKey 0x02, no key
        bytes([0x27, 0x02, 0x35, 0x4A, 0x17]),  # sendKey 0x02, 3 key bytes (4 needed)
        bytes([0x27, 0x02, 0x35, 0x4A, 0x17, 0x64, 0x00]),  # sendKey 0x02, 5 key bytes
        bytes([0x27, 0x12, 0x68, 0x04, 0x83, 0x06]),  # sendKey 0x12, 4 key bytes (16 needed)
    ],
)
def test_wrong_key_length_is_0x13(payload: bytes) -> None:
    bench = make_bench(seeds=[bytes([0x01, 0x02, 0x03, 0x04]), SEED_NUMBER_KNOWN])
    enter_extended(bench)
    request_seed(bench, LEVEL_DIAG)
    if payload[1] == 0x12:
        request_seed(bench, LEVEL_IMMO)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x27, 0x13])  # negative, SA, incorrectMessageLength


def test_wrong_key_length_without_seed_is_0x13_before_0x24(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x02, 0x35, 0x4A, 0x17]))  # sendKey 0x02, 3 key bytes
    assert response == bytes([0x7F, 0x27, 0x13])  # negative, SA, incorrectMessageLength


def test_wrong_key_is_0x35_and_counts(bench: Bench) -> None:
    enter_extended(bench)
    assert security_status(bench) == security_status_response(diag=(0, 0))  # 0x01: 0 fails, 0 s
    response = send_wrong_key(bench, LEVEL_DIAG)
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    assert security_status(bench) == security_status_response(diag=(1, 0))  # 0x01: 1 fails, 0 s
    response = send_wrong_key(bench, LEVEL_DIAG)
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    assert security_status(bench) == security_status_response(diag=(2, 0))  # 0x01: 2 fails, 0 s


def test_third_wrong_key_is_0x36_then_0x37_during_the_delay_then_seed(bench: Bench) -> None:
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    response = send_wrong_key(bench, LEVEL_DIAG)
    assert response == bytes([0x7F, 0x27, 0x36])  # negative, SA, exceededNumberOfAttempts
    assert security_status(bench) == security_status_response(diag=(3, 10))  # 0x01: 3 fails, 10 s
    # Regression: requestSeed during the delay is answered with 0x37, never 0x36.
    for _ in range(9):  # 0 s .. 8 s after the 0x36
        response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
        assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
        bench.advance(1.0)
    bench.advance(SECURITY_DELAY_S - 9.5)  # 9.5 s after the 0x36
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    bench.advance(0.5)  # exactly 10 s after the 0x36
    seed = request_seed(bench, LEVEL_DIAG)  # the delay is over
    response = bench.handle(bytes([0x27, 0x02]) + key_for(LEVEL_DIAG, seed))  # sendKey, right key
    assert response == bytes([0x67, 0x02])  # positive SID, sendKey echo
    assert security_status(bench) == security_status_response(diag=(0, 0))  # 0x01: 0 fails, 0 s


def test_sendkey_during_the_delay_is_not_0x36(bench: Bench) -> None:
    enter_extended(bench)
    for _ in range(2):
        assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x36])  # neg, SA, exceeded
    bench.advance(1.0)
    response = bench.handle(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]))  # sendKey, 4 bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError (no seed)


def test_wrong_keys_on_one_level_do_not_count_on_the_other(bench: Bench) -> None:
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert send_wrong_key(bench, LEVEL_IMMO) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # 2nd on 0x01: 0x35
    assert security_status(bench) == security_status_response(diag=(2, 0), immo=(1, 0))
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x36])  # 3rd on 0x01: exceeded


def test_the_delay_of_one_level_does_not_delay_the_other(bench: Bench) -> None:
    enter_extended(bench)
    for _ in range(2):
        assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, 0x35
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x36])  # neg, SA, exceeded
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    unlock(bench, LEVEL_IMMO)  # level 0x11 has its own state: seed and key accepted
    assert security_status(bench) == security_status_response(diag=(3, 10), immo=(0, 0))


def test_a_right_key_on_one_level_does_not_clear_the_other(bench: Bench) -> None:
    """Regression (issue 11 finding 3): a right level-0x01 key after every wrong level-0x11 key
    cleared the shared counter, so level 0x11 never locked out."""
    enter_extended(bench)
    for expected in (0x35, 0x35, 0x36):  # invalidKey, invalidKey, exceededNumberOfAttempts
        assert send_wrong_key(bench, LEVEL_IMMO) == bytes([0x7F, 0x27, expected])  # neg, SA, NRC
        unlock(bench, LEVEL_DIAG)  # the public level-0x01 key, accepted every time
        enter_extended(bench)  # re-lock
    response = bench.handle(bytes([0x27, 0x11]))  # SecurityAccess, requestSeed level 0x11
    assert response == bytes([0x7F, 0x27, 0x37])  # negative, SA, requiredTimeDelayNotExpired
    assert security_status(bench) == security_status_response(diag=(0, 0), immo=(3, 10))
    bench.advance(SECURITY_DELAY_S)  # the delay is over (and S3 has ended the session)
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)


def test_right_key_resets_the_counter(bench: Bench) -> None:
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    unlock(bench, LEVEL_DIAG)
    assert security_status(bench) == security_status_response(diag=(0, 0))  # 0x01: 0 fails, 0 s
    enter_extended(bench)  # re-lock
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # not yet 0x36


# -- sub-function and suppress bit -------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x27, 0x00]),  # SecurityAccess, sub-function 0x00 (ISO reserved)
        bytes([0x27, 0x03]),  # SecurityAccess, requestSeed of unconfigured level 0x03
        bytes([0x27, 0x04, 0x00, 0x00, 0x00, 0x00]),  # sendKey 0x04 (level 0x03), 4 bytes
        bytes([0x27, 0x7F]),  # SecurityAccess, sub-function 0x7F (ISO reserved)
        bytes([0x27, 0x83]),  # requestSeed 0x03 + suppress bit
    ],
)
def test_unsupported_level_is_0x12(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x27, 0x12])  # negative, SA, subFunctionNotSupported


def test_unsupported_level_functional_gets_no_response(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x03]), FUNCTIONAL)  # SA, requestSeed level 0x03
    assert response is None


def test_suppress_bit_hides_the_positive_sendkey_response_only() -> None:
    bench = make_bench(seeds=[bytes([0x01, 0x02, 0x03, 0x04]), bytes([0x05, 0x06, 0x07, 0x08])])
    enter_extended(bench)
    request_seed(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x27, 0x82, 0x35, 0x4A, 0x17, 0x64]))  # sendKey+suppress, key
    assert response is None
    assert_unlocked_for_level_01(bench)
    enter_extended(bench)  # re-lock
    request_seed(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x27, 0x82, 0x35, 0x4A, 0x17, 0x64]))  # wrong key for 05060708
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey


def test_functional_invalid_key_is_answered(bench: Bench) -> None:
    enter_extended(bench)
    seed = request_seed(bench, LEVEL_DIAG)
    key = wrong_key_for(LEVEL_DIAG, seed)
    response = bench.handle(bytes([0x27, 0x02]) + key, FUNCTIONAL)  # SA, sendKey 0x02, bad key
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
