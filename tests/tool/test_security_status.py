"""The client side of DID 0x010C (diagnostic-contract.md §4): one 4-byte record per configured
level, in ascending order: level, failed attempts, delay remaining (2 bytes, seconds)."""

from __future__ import annotations

import pytest

from ecusim.tool import contract

TWO_LEVELS = bytes(
    [
        0x01,  # record 1: level 0x01
        0x00,  # level 0x01: no failed attempt
        0x00,  # level 0x01: delay remaining, seconds, high byte
        0x00,  # level 0x01: delay remaining, seconds, low byte
        0x11,  # record 2: level 0x11
        0x03,  # level 0x11: 3 failed attempts
        0x00,  # level 0x11: delay remaining, seconds, high byte
        0x0A,  # level 0x11: delay remaining, seconds, low byte: 10 s
    ]
)


def test_security_status_decodes_every_level() -> None:
    assert contract.security_status(TWO_LEVELS) == {
        0x01: contract.LevelSecurityStatus(0x01, 0, 0),
        0x11: contract.LevelSecurityStatus(0x11, 3, 10),
    }


def test_the_typed_codec_gives_one_tuple_per_level_and_encodes_back() -> None:
    codec = contract.did_codecs()[contract.DID_SECURITY_STATUS]
    decoded = codec.decode(TWO_LEVELS)
    assert decoded == ((0x01, 0, 0), (0x11, 3, 10))
    assert codec.encode(decoded) == TWO_LEVELS


@pytest.mark.parametrize("payload", [TWO_LEVELS[:3], TWO_LEVELS[:6]])
def test_a_partial_record_is_refused(payload: bytes) -> None:
    with pytest.raises(ValueError, match="not whole 4-byte records"):
        contract.security_status(payload)


def test_repeated_records_need_fields_and_no_fixed_length() -> None:
    with pytest.raises(ValueError, match="repeated records"):
        contract.ContractDid(0x010C, "security access status", 4, fields=">BBH", repeated=True)
