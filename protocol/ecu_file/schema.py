"""The format of an ECU file (TOML), as pydantic models: docs/own-ecu.md describes every field.

The models check each value on its own (types, ranges, hex text); what needs the whole file
(a DID naming a session the ECU does not support, a level that is not defined) is checked when
the ECU is built (:mod:`protocol.ecu_file.build`). Keys of the ``dids``, ``routines``,
``security.levels`` and ``dtcs`` tables are numbers written as text (``"0xF190"``, ``"B2796"``),
kept as written so that an error can name the key the way the file spells it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from protocol.errors import ConfigurationError
from protocol.isotp_binding import DEFAULT_N_WFT_MAX, MAX_N_WFT_MAX
from protocol.uds.dtc import dtc_number

MAX_CAN_ID = 0x7FF
"""Largest 11-bit CAN identifier (the binding speaks classic 11-bit ISO-TP)."""

MAX_MESSAGE_BYTES = 4095
"""Longest message a 12-bit FF_DL first frame announces (ISO 15765-2 §9.6.3, classic CAN)."""
MAX_DID_VALUE_BYTES = MAX_MESSAGE_BYTES - 3
"""A DID value in one ReadDataByIdentifier response: ``62`` and the DID take 3 bytes."""
MAX_ROUTINE_RECORD_BYTES = MAX_MESSAGE_BYTES - 4
"""A routine status record in one RoutineControl response: ``71``, the type and the RID."""
MAX_SECONDS = 86_400.0
"""Longest S3 or security delay a file may give (one day): finite and sane."""

SESSION_NAMES = {"default": 0x01, "programming": 0x02, "extended": 0x03}
"""diagnosticSessionType of the named sessions (ISO 14229-1 §10.2.2.2)."""

_HEX_SEPARATORS = re.compile(r"[\s:_]")


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def hex_bytes(value: object) -> bytes:
    """``"4A 54 48"`` (spaces, colons or underscores between digits allowed) → bytes."""
    if not isinstance(value, str):
        raise _error("hex_type", 'must be hex text such as "01 02 0A"')
    digits = _HEX_SEPARATORS.sub("", value)
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    if not re.fullmatch(r"[0-9A-Fa-f]*", digits):
        raise _error("hex_value", "not hex")
    if len(digits) % 2:
        raise _error("hex_length", "odd number of hex digits")
    return bytes.fromhex(digits)


def _printable(text: str) -> str:
    """A name printed to the terminal: printable characters only (no NUL, newline, escape
    sequence or other control or format character), at most 80 of them."""
    if not text.isprintable() or len(text) > 80:
        raise _error("name_text", f"must be at most 80 printable characters, got {text!r}")
    return text


def _whole_ms(value: float) -> float:
    """P2server is sent in 1 ms units (ISO 14229-2 §7.2, the ``50 xx`` response)."""
    if not float(value).is_integer():
        raise _error(
            "p2_units", f"must be a whole number of ms (it is sent in 1 ms units), got {value:g}"
        )
    return value


def _ten_ms(value: float) -> float:
    """P2*server is sent in 10 ms units (ISO 14229-2 §7.2): a multiple of 10, so the ECU
    announces the value it keeps."""
    if not float(value).is_integer() or int(value) % 10:
        raise _error(
            "p2_units", f"must be a multiple of 10 ms (it is sent in 10 ms units), got {value:g}"
        )
    return value


def _number_key(limit: int, what: str) -> AfterValidator:
    def check(key: str) -> str:
        if not re.fullmatch(r"0[xX][0-9A-Fa-f]+", key) or int(key, 16) > limit:
            raise _error("key_value", f"not a {what} (hex 0x0000..0x{limit:04X})")
        return key

    return AfterValidator(check)


def _level_key(key: str) -> str:
    if not re.fullmatch(r"0[xX][0-9A-Fa-f]+", key):
        raise _error("key_value", "not a requestSeed level (hex such as 0x01)")
    number = int(key, 16)
    if number % 2 != 1 or not 0x01 <= number <= 0x7D:
        raise _error("key_value", "a requestSeed level must be odd and within 0x01..0x7D")
    return key


def _dtc_key(key: str) -> str:
    try:
        dtc_key_number(key)
    except ConfigurationError as exc:
        raise _error("key_value", f"not a DTC: {exc}") from None
    return key


def dtc_key_number(key: str) -> int:
    """``"B2796"`` (SAE J2012 letters) or a 3-byte hex number ``"0xA79600"`` → DTC number."""
    if key.lower().startswith("0x"):
        try:
            number = int(key, 16)
        except ValueError:
            raise ConfigurationError(f"{key!r} is not hex") from None
        if number > 0xFFFFFF:
            raise ConfigurationError(f"{key} does not fit 3 bytes")
        return number
    return dtc_number(key)


def _session_ref(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _error("session_type", "a session is a name (default, programming, extended, or "
                     "one of sessions.custom) or a number 0x01..0x7F")  # fmt: skip
    return value


def _one_or_many(value: object) -> object:
    """A single security level may be written without brackets: ``0x01`` for ``[0x01]``."""
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


def _padding(value: object) -> object:
    return None if value == "none" else value


HexBytes = Annotated[bytes, BeforeValidator(hex_bytes)]
Byte = Annotated[int, Field(ge=0, le=0xFF)]
CanId = Annotated[int, Field(ge=0, le=MAX_CAN_ID)]
SessionRef = Annotated[Any, AfterValidator(_session_ref)]
LevelRef = Annotated[int, Field(ge=0x01, le=0x7D)]
Levels = Annotated[list[LevelRef], BeforeValidator(_one_or_many)]
Name = Annotated[str, AfterValidator(_printable)]
DidKey = Annotated[str, _number_key(0xFFFF, "DID")]
RidKey = Annotated[str, _number_key(0xFFFF, "routine identifier")]
LevelKey = Annotated[str, AfterValidator(_level_key)]
DtcKey = Annotated[str, AfterValidator(_dtc_key)]


class _Section(BaseModel):
    """Unknown keys are errors and nothing is coerced (``"0x7E0"`` is not the number 0x7E0)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AddressingSection(_Section):
    """``[addressing]``: the CAN identifiers (diagnostic-contract.md §1)."""

    request_id: CanId
    response_id: CanId
    functional_id: CanId | None = None
    extended_address: Byte | None = None


class IsoTpSection(_Section):
    """``[isotp]``: ISO 15765-2 transport parameters of the ECU's side."""

    padding: Annotated[Byte | None, BeforeValidator(_padding)] = 0xCC
    block_size: Byte = 0
    st_min_ms: float = Field(default=0.0, ge=0, le=127)
    n_bs_ms: float = Field(default=1000.0, ge=1, le=MAX_SECONDS * 1000, allow_inf_nan=False)
    n_cr_ms: float = Field(default=1000.0, ge=1, le=MAX_SECONDS * 1000, allow_inf_nan=False)
    n_wft_max: int = Field(default=DEFAULT_N_WFT_MAX, ge=0, le=MAX_N_WFT_MAX)
    fd: bool = False


class TimingSection(_Section):
    """``[timing]``: UDS server timing (ISO 14229-2 §7.2)."""

    p2_ms: Annotated[float, AfterValidator(_whole_ms)] = Field(default=50.0, ge=0, le=0xFFFF)
    p2_star_ms: Annotated[float, AfterValidator(_ten_ms)] = Field(
        default=5000.0, ge=10, le=0xFFFF * 10
    )
    pending_repeat_ms: float | None = Field(default=None, gt=0, le=0xFFFF * 10, allow_inf_nan=False)
    """How often 0x78 is repeated; default 2000 ms, or half of P2* if that is shorter."""


class SessionsSection(_Section):
    """``[sessions]``: DiagnosticSessionControl (ISO 14229-1 §10.2) and S3server."""

    supported: list[SessionRef] = Field(default_factory=lambda: ["default", "extended"])
    custom: dict[Name, Annotated[int, Field(ge=0x04, le=0x7F)]] = Field(default_factory=dict)
    s3_s: float = Field(default=5.0, gt=0, le=MAX_SECONDS, allow_inf_nan=False)


class DidSection(_Section):
    """``[dids.0xF190]``: one data identifier with a fixed value (ISO 14229-1 §11.2, §11.7)."""

    name: Name = ""
    value: HexBytes | None = None
    text: str | None = None
    writable: bool = False
    read_sessions: list[SessionRef] | None = None
    write_sessions: list[SessionRef] | None = None
    read_security: Levels = Field(default_factory=list)
    write_security: Levels = Field(default_factory=list)


class RoutineSection(_Section):
    """``[routines.0x0203]``: one routine with fixed status records (ISO 14229-1 §14.2)."""

    name: Name = ""
    start_result: HexBytes = b""
    stop_result: HexBytes | None = None
    results: HexBytes | None = None
    sessions: list[SessionRef] | None = None
    security: Levels = Field(default_factory=list)


class LevelSection(_Section):
    """``[security.levels.0x01]``: one SecurityAccess level (ISO 14229-1 §10.4) and the
    parameters handed to its algorithm's factory (protocol/security_algorithms.py)."""

    algorithm: str
    name: Name = ""
    sessions: list[SessionRef] | None = None
    vin: str | None = None
    master_secret: HexBytes | None = None
    diag_key: HexBytes | None = None


class SecuritySection(_Section):
    """``[security]``: the attempt limit and delays, applied to each level on its own."""

    attempt_limit: int = Field(default=3, ge=1, le=0xFF)
    delay_s: float = Field(default=10.0, ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    boot_delay_s: float = Field(default=10.0, ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    levels: dict[LevelKey, LevelSection] = Field(default_factory=dict)


class EcuFile(_Section):
    """A whole ECU file."""

    name: Annotated[Name, Field(min_length=1)]
    addressing: AddressingSection
    isotp: IsoTpSection = IsoTpSection()
    timing: TimingSection = TimingSection()
    sessions: SessionsSection = SessionsSection()
    dids: dict[DidKey, DidSection] = Field(default_factory=dict)
    routines: dict[RidKey, RoutineSection] = Field(default_factory=dict)
    dtcs: dict[DtcKey, Byte] = Field(default_factory=dict)
    security: SecuritySection = SecuritySection()
