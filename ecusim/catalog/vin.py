"""Vehicle Identification Number validation and decoding (ISO 3779, 49 CFR 565; domain.md "VIN").

17 characters from A-Z and 0-9 without I, O and Q. Position 9 is the North American check digit;
position 10 the model year; positions 1-3 the World Manufacturer Identifier (WMI).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecusim.errors import EcusimError

__all__ = [
    "CHECK_DIGIT_POSITION",
    "LEXUS_WMIS",
    "MODEL_YEAR_POSITION",
    "VIN_ALPHABET",
    "VIN_LENGTH",
    "WEIGHTS",
    "VinError",
    "VinInfo",
    "check_digit",
    "check_vin_matches",
    "decode_vin",
    "is_valid_vin",
    "lab_vin",
    "model_year_code",
    "transliterate",
    "validate_vin",
    "validate_written_vin",
]

VIN_LENGTH = 17
"""Characters in a VIN."""

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
"""Characters allowed in a VIN (no I, O, Q)."""

CHECK_DIGIT_POSITION = 9
"""1-based position of the check digit (49 CFR 565.15(c))."""

MODEL_YEAR_POSITION = 10
"""1-based position of the model-year character (49 CFR 565.15(d))."""

WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
"""Check-digit weight of each position (49 CFR 565.15(c))."""

LEXUS_WMIS = frozenset({"JTH", "JTJ", "2T2", "58A", "JT8", "JT6"})
"""World Manufacturer Identifiers used on Lexus vehicles (JT8/JT6 on older models)."""

_TRANSLITERATION = dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9),
        strict=True,
    )
)
_TRANSLITERATION.update({digit: int(digit) for digit in "0123456789"})

_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
"""Model-year codes in order from 1980: 30 codes (no I O Q U Z 0), then the cycle repeats."""

_FIRST_CYCLE_START = 1980
_CYCLE_YEARS = 30


class VinError(EcusimError, ValueError):
    """A string is not a valid VIN; ``reason`` says why (and where, for a bad character)."""

    def __init__(self, reason: str, *, position: int | None = None) -> None:
        self.reason = reason
        self.position = position
        """1-based position of the offending character, if the problem is one character."""
        super().__init__(reason)


def transliterate(ch: str) -> int:
    """Return the check-digit value of one VIN character (A=1 … J=1 …; digits are themselves).

    Lower case is accepted. Raises :class:`VinError` for I, O, Q or any other character.
    """
    value = _TRANSLITERATION.get(ch.upper()) if len(ch) == 1 and ch.isascii() else None
    if value is None:
        raise VinError(f"{ch!r} is not a VIN character (allowed: A-Z and 0-9 except I, O, Q)")
    return value


def _check_characters(vin: str) -> str:
    """Return ``vin`` upper-cased after checking its length and alphabet."""
    if not isinstance(vin, str):
        raise VinError(f"a VIN must be a str, got {type(vin).__name__}")
    if len(vin) != VIN_LENGTH:
        raise VinError(f"a VIN has {VIN_LENGTH} characters, got {len(vin)}: {vin!r}")
    for position, char in enumerate(vin, start=1):
        # isascii first: str.upper() maps some non-ASCII letters to ASCII (U+017F → "S").
        if not char.isascii() or char.upper() not in _TRANSLITERATION:
            what = "is never used in a VIN" if char in "IOQioq" else "is not allowed in a VIN"
            raise VinError(
                f"character {char!r} at position {position} {what} "
                "(allowed: A-Z and 0-9 except I, O, Q)",
                position=position,
            )
    return vin.upper()


def _computed_check_digit(upper: str) -> str:
    pairs = zip(upper, WEIGHTS, strict=True)
    total = sum(_TRANSLITERATION[char] * weight for char, weight in pairs)
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def check_digit(vin: str) -> str:
    """Return the check digit (``"0"``-``"9"`` or ``"X"``) that position 9 of ``vin`` should hold.

    Position 9 itself is ignored (weight 0). Raises :class:`VinError` for a wrong length or
    character.
    """
    return _computed_check_digit(_check_characters(vin))


def validate_vin(vin: str) -> str:
    """Return ``vin`` upper-cased if it is a valid VIN, else raise :class:`VinError`.

    Checked in order: length, characters (the first bad one is named with its 1-based
    position), check digit (expected vs found).
    """
    upper = _check_characters(vin)
    expected = _computed_check_digit(upper)
    found = upper[CHECK_DIGIT_POSITION - 1]
    if found != expected:
        raise VinError(
            f"wrong check digit in {upper}: position {CHECK_DIGIT_POSITION} is {found!r}, "
            f"expected {expected!r}",
            position=CHECK_DIGIT_POSITION,
        )
    return upper


def validate_written_vin(vin: str) -> str:
    """Return ``vin`` unchanged if a car may hold it, else raise :class:`VinError`.

    The rule of every VIN written into a car (0x2E F190, ``Vehicle(vin=...)``, ``ecusim run
    --vin``, an ECU's configuration or NVM): :func:`validate_vin`, and the characters are the
    capitals of ISO 3779 as they are, never upper-cased on the way in. :func:`validate_vin` stays
    lenient for what a person types to look a VIN up (``ecusim vin``, the portal's forms).
    Checked in order: length and alphabet, case (the first lower-case letter is named with its
    1-based position), check digit.
    """
    _check_characters(vin)
    for position, char in enumerate(vin, start=1):
        if char.islower():
            raise VinError(
                f"character {char!r} at position {position} is lower case: a VIN is written "
                "in capitals (A-Z and 0-9 except I, O, Q; ISO 3779)",
                position=position,
            )
    return validate_vin(vin)


def is_valid_vin(vin: str) -> bool:
    """Return whether :func:`validate_vin` accepts ``vin``."""
    try:
        validate_vin(vin)
    except VinError:
        return False
    return True


@dataclass(frozen=True)
class VinInfo:
    """What a VIN says on its face."""

    wmi: str
    """World Manufacturer Identifier: positions 1-3."""
    model_year: int | None
    """Model year from position 10, or ``None`` if that character is not a year code."""
    check_digit_ok: bool
    """Whether position 9 matches the computed check digit (not all markets use one)."""

    @property
    def is_lexus(self) -> bool:
        """Whether the WMI is one of :data:`LEXUS_WMIS`."""
        return self.wmi in LEXUS_WMIS


def _model_year(upper: str) -> int | None:
    """Decode position 10 (49 CFR 565.15(d)).

    Codes run A=1980 … Y=2000, 1=2001 … 9=2009, then A=2010 … Y=2030. A letter is ambiguous
    between 1980-2000 and 2010-2030; as NHTSA does for passenger cars, MPVs and light trucks, a
    letter at position 7 selects the later cycle (2010+) and a digit the earlier one. A digit
    code always means 2001-2009 (the next digit cycle, 2031-2039, has not been issued yet).
    """
    index = _YEAR_CODES.find(upper[MODEL_YEAR_POSITION - 1])
    if index < 0:
        return None
    year = _FIRST_CYCLE_START + index
    if upper[MODEL_YEAR_POSITION - 1].isalpha() and upper[6].isalpha():
        year += _CYCLE_YEARS
    return year


def decode_vin(vin: str) -> VinInfo:
    """Decode the WMI and model year of ``vin`` and report whether its check digit is right.

    The length and alphabet must be valid (else :class:`VinError`); a wrong check digit is only
    reported, since VINs outside North America need not carry one.
    """
    upper = _check_characters(vin)
    return VinInfo(
        wmi=upper[:3],
        model_year=_model_year(upper),
        check_digit_ok=_computed_check_digit(upper) == upper[CHECK_DIGIT_POSITION - 1],
    )


def model_year_code(year: int) -> str:
    """The position-10 character of model year ``year`` (49 CFR 565.15(d)); the 30-year cycle
    repeats, so 1980 and 2010 share ``A``."""
    if year < _FIRST_CYCLE_START:
        raise VinError(f"no model-year code for {year}")
    return _YEAR_CODES[(year - _FIRST_CYCLE_START) % _CYCLE_YEARS]


def check_vin_matches(vin: str, model_year: int) -> str:
    """Return ``vin`` upper-cased if it is a valid VIN of a Lexus of ``model_year``, else raise
    :class:`VinError` naming the reason (domain.md §9).

    Checked in order: the structure and check digit (:func:`validate_vin`), the WMI (one of
    :data:`LEXUS_WMIS`), then the model year that :func:`decode_vin` reads from position 10,
    with position 7 telling the two 30-year cycles apart as NHTSA does (the same year
    ``ecusim vin`` shows).
    """
    upper = validate_vin(vin)
    info = decode_vin(upper)
    if not info.is_lexus:
        raise VinError(
            f"{upper} is not a Lexus VIN: WMI {info.wmi!r} (positions 1-3) is not one of "
            f"{', '.join(sorted(LEXUS_WMIS))}",
            position=1,
        )
    if info.model_year != model_year:
        code = upper[MODEL_YEAR_POSITION - 1]
        if info.model_year is None:
            read = "is not a model-year code"
        else:
            seventh = upper[6]
            cycle = "a letter: 2010 on" if seventh.isalpha() else "a digit: before 2010"
            read = f"reads {info.model_year} (position 7 {seventh!r} is {cycle})"
        raise VinError(
            f"{upper} is not a {model_year} VIN: position {MODEL_YEAR_POSITION} {code!r} {read}; "
            f"{model_year} is {model_year_code(model_year)!r}",
            position=MODEL_YEAR_POSITION,
        )
    return upper


def lab_vin(model: str, year: int, serial: int = 1) -> str:
    """A valid lab VIN for a Lexus ``model`` of ``year`` [LAB]: WMI ``JTH``, a model code derived
    from the name, the check digit, the model-year code (position 7 a letter from 2010 on, a
    digit before, as NHTSA disambiguates), plant ``5`` and a 6-digit serial."""
    index = year - _FIRST_CYCLE_START
    if not 0 <= index < 2 * _CYCLE_YEARS or not 0 <= serial <= 999_999:
        raise VinError(f"no lab VIN for year {year} / serial {serial}")
    letters = [c for c in model.upper() if c in VIN_ALPHABET and c.isalpha()] or ["X"]
    code = (letters * 4)[:4]
    seventh = "A" if year >= _FIRST_CYCLE_START + _CYCLE_YEARS else "1"
    year_code = _YEAR_CODES[index % _CYCLE_YEARS]
    draft = f"JTH{code[0]}{code[1]}{code[2]}{seventh}{code[3]}0{year_code}5{serial:06d}"
    vin = draft[:8] + _computed_check_digit(draft) + draft[9:]
    return validate_vin(vin)
