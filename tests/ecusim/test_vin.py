"""VIN validation and decoding (domain.md "VIN", 49 CFR 565)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ecusim.catalog.vin import (
    LEXUS_WMIS,
    VIN_ALPHABET,
    VIN_LENGTH,
    WEIGHTS,
    VinError,
    VinInfo,
    check_digit,
    check_vin_matches,
    decode_vin,
    is_valid_vin,
    lab_vin,
    model_year_code,
    transliterate,
    validate_vin,
)

LAB_VIN_1 = "JTHBL5EF0C5000001"
LAB_VIN_2 = "JTHBA1D29G5000002"
CLASSIC_VIN = "1M8GDM9AXKP042788"  # the textbook example, check digit X


@pytest.mark.parametrize(
    ("vin", "digit"),
    [(LAB_VIN_1, "0"), (LAB_VIN_2, "9"), (CLASSIC_VIN, "X")],
)
def test_known_check_digits(vin: str, digit: str) -> None:
    assert check_digit(vin) == digit
    assert validate_vin(vin) == vin
    assert is_valid_vin(vin)


def test_check_digit_worked_example() -> None:
    # 1M8GDM9A?KP042788: values 1 4 8 7 4 4 9 1 - 2 7 0 4 2 7 8 8; weighted sum 351;
    # 351 mod 11 = 10 → "X".
    values = [transliterate(char) for char in CLASSIC_VIN]
    assert values == [1, 4, 8, 7, 4, 4, 9, 1, 7, 2, 7, 0, 4, 2, 7, 8, 8]
    total = sum(v * w for v, w in zip(values, WEIGHTS, strict=True))
    assert total == 351


@pytest.mark.parametrize(
    ("char", "value"),
    [
        ("A", 1), ("H", 8), ("J", 1), ("N", 5), ("P", 7), ("R", 9), ("S", 2), ("Z", 9),
        ("0", 0), ("9", 9), ("x", 7),
    ],
)  # fmt: skip
def test_transliterate(char: str, value: int) -> None:
    assert transliterate(char) == value


@pytest.mark.parametrize("char", ["I", "O", "Q", "o", "-", "", "AB", "\u017f", "\u0661"])
def test_transliterate_rejects(char: str) -> None:
    with pytest.raises(VinError):
        transliterate(char)


def test_validate_upper_cases() -> None:
    assert validate_vin(LAB_VIN_1.lower()) == LAB_VIN_1


@pytest.mark.parametrize(
    ("vin", "message", "position"),
    [
        ("JTHBL5EF0C500000", "17 characters, got 16", None),
        ("JTHBL5EF0C50000011", "17 characters, got 18", None),
        ("", "17 characters, got 0", None),
        ("JTHBL5EF0C5O00001", "'O' at position 12 is never used", 12),
        ("ITHBL5EF0C5000001", "'I' at position 1 is never used", 1),
        ("JTHBL5EF0C500000q", "'q' at position 17 is never used", 17),
        ("JTH-L5EF0C5000001", "'-' at position 4 is not allowed", 4),
        ("JTHBL5EF0C50000\u017f1", "position 16 is not allowed", 16),
        ("JTHBL5EF1C5000001", "position 9 is '1', expected '0'", 9),
        ("1M8GDM9A1KP042788", "position 9 is '1', expected 'X'", 9),
    ],
)
def test_validate_rejects_with_precise_reason(vin: str, message: str, position: int | None) -> None:
    with pytest.raises(VinError, match=message) as info:
        validate_vin(vin)
    assert info.value.reason == str(info.value)
    assert info.value.position == position
    assert isinstance(info.value, ValueError)
    assert not is_valid_vin(vin)


def test_decode_lab_vins() -> None:
    assert decode_vin(LAB_VIN_1) == VinInfo(wmi="JTH", model_year=2012, check_digit_ok=True)
    assert decode_vin(LAB_VIN_2) == VinInfo(wmi="JTH", model_year=2016, check_digit_ok=True)
    assert decode_vin(LAB_VIN_1).is_lexus
    assert "JTH" in LEXUS_WMIS


def test_decode_classic_vin_is_1989() -> None:
    # Position 7 is a digit ("9"), so "K" is the 1980-2000 cycle: 1989.
    info = decode_vin(CLASSIC_VIN)
    assert info == VinInfo(wmi="1M8", model_year=1989, check_digit_ok=True)
    assert not info.is_lexus


@pytest.mark.parametrize(
    ("position_7", "year_code", "year"),
    [
        ("1", "A", 1980), ("A", "A", 2010), ("5", "Y", 2000), ("E", "Y", 2030),
        ("5", "1", 2001), ("E", "1", 2001), ("E", "9", 2009), ("E", "F", 2015),
        ("2", "V", 1997), ("B", "V", 2027),
    ],
)  # fmt: skip
def test_model_year_cycles(position_7: str, year_code: str, year: int) -> None:
    vin = f"JTHBL5{position_7}F0{year_code}5000001"
    assert decode_vin(vin).model_year == year


@pytest.mark.parametrize("year_code", ["U", "Z", "0"])
def test_model_year_unknown_code(year_code: str) -> None:
    assert decode_vin(f"JTHBL5EF0{year_code}5000001").model_year is None


def test_decode_reports_bad_check_digit_but_rejects_bad_characters() -> None:
    info = decode_vin("jthbl5ef1c5000001")
    assert info == VinInfo(wmi="JTH", model_year=2012, check_digit_ok=False)
    with pytest.raises(VinError, match="position 12"):
        decode_vin("JTHBL5EF0C5O00001")


vin_bodies = st.text(alphabet=VIN_ALPHABET, min_size=VIN_LENGTH, max_size=VIN_LENGTH)


def _with_check_digit(body: str) -> str:
    return body[:8] + check_digit(body) + body[9:]


@given(vin_bodies)
def test_any_body_with_its_check_digit_validates(body: str) -> None:
    vin = _with_check_digit(body)
    assert validate_vin(vin) == vin
    assert validate_vin(vin.lower()) == vin
    # The check digit does not depend on what position 9 held (weight 0).
    assert check_digit(body) == check_digit(vin)


@given(
    vin_bodies,
    st.integers(min_value=1, max_value=VIN_LENGTH).filter(lambda p: p != 9),
    st.sampled_from(VIN_ALPHABET),
)
def test_single_substitution_detected_iff_value_changes(
    body: str, position: int, replacement: str
) -> None:
    # Weights outside position 9 are 2..10, all invertible mod 11, and transliterated values
    # are 0..9, so one substitution changes the sum mod 11 exactly when the value changes.
    vin = _with_check_digit(body)
    original = vin[position - 1]
    assume(replacement != original)
    changed = vin[: position - 1] + replacement + vin[position:]
    assert is_valid_vin(changed) == (transliterate(replacement) == transliterate(original))


@given(vin_bodies, st.integers(min_value=1, max_value=VIN_LENGTH), st.sampled_from("IOQioq"))
def test_forbidden_letters_rejected_at_their_position(body: str, position: int, bad: str) -> None:
    vin = _with_check_digit(body)
    broken = vin[: position - 1] + bad + vin[position:]
    with pytest.raises(VinError) as info:
        validate_vin(broken)
    assert info.value.position == position


@given(st.text(max_size=30))
def test_validate_never_crashes(text: str) -> None:
    try:
        result = validate_vin(text)
    except VinError:
        return
    assert len(result) == VIN_LENGTH
    assert set(result) <= set(VIN_ALPHABET)


# -- check_vin_matches: the car-match rule of `ecusim run --vin` (domain.md §9) ----------------


@pytest.mark.parametrize("year", range(1990, 2016))
def test_a_lab_vin_matches_its_year_and_decodes_to_it(year: int) -> None:
    vin = lab_vin("LS430", year)
    assert check_vin_matches(vin, year) == vin
    assert decode_vin(vin).model_year == year  # what `ecusim vin` shows
    assert vin[9] == model_year_code(year)


@pytest.mark.parametrize("wmi", sorted(LEXUS_WMIS))
def test_every_lexus_wmi_is_accepted(wmi: str) -> None:
    draft = wmi + lab_vin("LS430", 2004)[3:]
    vin = draft[:8] + check_digit(draft) + draft[9:]
    assert check_vin_matches(vin, 2004) == vin


@pytest.mark.parametrize(
    ("vin", "year", "position", "reason"),
    [
        ("1HGCM82633A004352", 2004, 1, "not a Lexus VIN: WMI '1HG'"),  # Honda
        ("JTDKB20U093000001", 2009, 1, "not a Lexus VIN: WMI 'JTD'"),  # a Toyota WMI
        (LAB_VIN_1, 2004, 10, "position 10 'C' reads 2012 (position 7 'E' is a letter"),
        ("JTHLSL1S045000001", 2007, 10, "position 10 '4' reads 2004"),
        # 'W' with a digit at position 7 is 1998; with a letter it would be 2028
        ("JTHLSLAS0W5000001", 1998, 10, "position 10 'W' reads 2028"),
    ],
)
def test_a_vin_of_another_make_or_year_is_refused_with_the_reason(
    vin: str, year: int, position: int, reason: str
) -> None:
    draft = vin[:8] + check_digit(vin) + vin[9:]  # a right check digit: only the match fails
    with pytest.raises(VinError) as info:
        check_vin_matches(draft, year)
    assert reason in info.value.reason
    assert info.value.position == position


def test_check_vin_matches_checks_the_structure_first() -> None:
    with pytest.raises(VinError, match="wrong check digit"):
        check_vin_matches("JTHLSL1S145000001", 2004)
