"""Known answers and text form of the lab algorithms (diagnostic-contract.md §5)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import CodeFormatError, ConfigurationError, ProtocolError
from protocol.passcode import (
    DEFAULT_DIAG_KEY,
    DEFAULT_MASTER_SECRET,
    constant_time_equal,
    diagnostic_key,
    format_code,
    parse_code,
    pass_code,
    vehicle_key,
)

VIN_1 = "JTHBL5EF0C5000001"
VIN_2 = "JTHBA1D29G5000002"
SEED_COUNTING = "00010203-04050607-08090A0B-0C0D0E0F"
SEED_A5 = "A5A5A5A5-A5A5A5A5-A5A5A5A5-A5A5A5A5"


def test_default_secrets_are_the_documented_sha256_values() -> None:
    # Computed independently of the code under test: hashlib serves only as an outside oracle.
    assert hashlib.sha256(b"ecusim-lab-master-secret-v1").digest() == DEFAULT_MASTER_SECRET
    assert hashlib.sha256(b"ecusim-lab-diag-key-v1").digest() == DEFAULT_DIAG_KEY
    assert len(DEFAULT_MASTER_SECRET) == len(DEFAULT_DIAG_KEY) == 32


def test_vehicle_key_known_answer() -> None:
    assert vehicle_key(VIN_1).hex() == (
        "87dc9c56c5df2dd525d2cc512abef9916adf6408d54a0014c7a6bbbf7bc1f50d"
    )


@pytest.mark.parametrize(
    ("vin", "seed", "expected"),
    [
        (VIN_1, SEED_COUNTING, "68048306-E57DF5FB-1D818A1B-527791CD"),
        (VIN_1, SEED_A5, "443FA847-64476F93-4AF28B91-F496CD6E"),
        (VIN_2, SEED_COUNTING, "68C88FBD-B7B00C85-B4D10C5E-D3457278"),
    ],
)
def test_pass_code_known_answers(vin: str, seed: str, expected: str) -> None:
    code = pass_code(vin, parse_code(seed))
    assert len(code) == 16
    assert format_code(code) == expected


@pytest.mark.parametrize(
    ("seed", "expected"),
    [("01020304", "354A1764"), ("DEADBEEF", "1501E64D")],
)
def test_level_01_key_known_answers(seed: str, expected: str) -> None:
    key = diagnostic_key(bytes.fromhex(seed))
    assert format_code(key) == expected
    assert parse_code(expected, 4) == key


def test_pass_code_depends_on_master_secret() -> None:
    seed = parse_code(SEED_COUNTING)
    other = pass_code(VIN_1, seed, master_secret=b"another secret")
    assert other != pass_code(VIN_1, seed)
    assert vehicle_key(VIN_1, b"another secret") != vehicle_key(VIN_1)


def test_diagnostic_key_depends_on_diag_key() -> None:
    assert diagnostic_key(b"\x01\x02\x03\x04", b"k") != diagnostic_key(b"\x01\x02\x03\x04")


@pytest.mark.parametrize("length", [0, 4, 15, 17, 32])
def test_pass_code_rejects_seed_not_16_bytes(length: int) -> None:
    with pytest.raises(CodeFormatError, match=rf"Seed Number must be 16 bytes, got {length}"):
        pass_code(VIN_1, bytes(length))


@pytest.mark.parametrize(
    ("vin", "message"),
    [
        ("JTHBL5EF0C500000", "VIN must be 17 characters, got 16"),
        ("JTHBL5EF0C50000011", "VIN must be 17 characters, got 18"),
        ("JTHBL5EF0C500000É", "VIN must be ASCII"),
    ],
)
def test_pass_code_rejects_bad_vin(vin: str, message: str) -> None:
    with pytest.raises(CodeFormatError, match=message):
        pass_code(vin, bytes(16))
    with pytest.raises(CodeFormatError, match=message):
        vehicle_key(vin)


def test_empty_secrets_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="master secret"):
        vehicle_key(VIN_1, b"")
    with pytest.raises(ConfigurationError, match="diagnostic key"):
        diagnostic_key(b"\x00\x00\x00\x01", b"")


def test_code_format_error_is_a_value_error_and_protocol_error() -> None:
    with pytest.raises(ValueError):
        parse_code("zz")
    with pytest.raises(ProtocolError):
        parse_code("zz")


def test_format_code_groups_of_eight_upper_case() -> None:
    assert format_code(bytes(range(16))) == SEED_COUNTING
    assert format_code(bytes.fromhex("deadbeef")) == "DEADBEEF"
    assert format_code(bytes.fromhex("0102030405")) == "01020304-05"
    assert format_code(b"") == ""


@pytest.mark.parametrize(
    "text",
    [
        SEED_COUNTING,
        SEED_COUNTING.lower(),
        "000102030405060708090a0B0c0D0e0F",
        "00010203 04050607 08090A0B 0C0D0E0F",
        "  00 01 02 03-04 05 06 07-08090a0b-0c0d0e0f\n",
        "0001-0203-0405-0607-0809-0A0B-0C0D-0E0F",
    ],
)
def test_parse_code_accepts_case_dashes_and_spaces(text: str) -> None:
    assert parse_code(text) == bytes(range(16))


@pytest.mark.parametrize(
    ("text", "length", "message"),
    [
        ("00010203-04050607-08090A0B-0C0D0E", 16, "expected 32 hex digits, got 30"),
        ("00010203-04050607-08090A0B-0C0D0E0F00", 16, "expected 32 hex digits, got 34"),
        ("", 16, "expected 32 hex digits, got 0"),
        ("354A176", 4, "expected 8 hex digits, got 7"),
        ("0001020G", 4, "'G' at position 8 is not a hex digit"),
        ("0x01020304", 4, "'x' at position 2 is not a hex digit"),
        ("0102_0304", 4, "'_' at position 5 is not a hex digit"),
        ("0102\t0304", 4, "'\\\\t' at position 5 is not a hex digit"),
        ("٠١٠٢٠٣٠٤", 4, "position 1 is not a hex digit"),  # Arabic-Indic digits
    ],
)
def test_parse_code_rejects_with_precise_message(text: str, length: int, message: str) -> None:
    with pytest.raises(CodeFormatError, match=message):
        parse_code(text, length)


def test_parse_code_names_the_field() -> None:
    with pytest.raises(CodeFormatError, match=r"^Seed Number: expected 32 hex digits, got 2$"):
        parse_code("00", field="Seed Number")


def test_parse_code_rejects_non_positive_length() -> None:
    with pytest.raises(ConfigurationError):
        parse_code("", 0)


@given(st.binary(min_size=1, max_size=64))
def test_format_then_parse_round_trips(value: bytes) -> None:
    text = format_code(value)
    assert text == text.upper()
    assert all(len(group) <= 8 for group in text.split("-"))
    assert parse_code(text, len(value)) == value
    assert parse_code(text.lower().replace("-", " "), len(value)) == value


def test_constant_time_equal() -> None:
    assert constant_time_equal(b"\x01\x02", b"\x01\x02")
    assert not constant_time_equal(b"\x01\x02", b"\x01\x03")
    assert not constant_time_equal(b"\x01\x02", b"\x01\x02\x03")
    assert constant_time_equal(b"", b"")
