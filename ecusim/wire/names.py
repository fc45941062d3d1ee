"""Names of UDS requests and responses (ISO 14229-1), from the contract's own tables.

Service and sub-function names are udsoncan's (the ISO names); DIDs, routines and security
levels are the contract's (:mod:`ecusim.tool.contract`); NRCs are :func:`ecusim.tool.nrc_text.
nrc_name`. Nothing here keeps a second table.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import udsoncan.services  # noqa: F401 (registers every service class with BaseService)
from udsoncan.BaseService import BaseService
from udsoncan.services.DiagnosticSessionControl import DiagnosticSessionControl
from udsoncan.services.ECUReset import ECUReset
from udsoncan.services.RoutineControl import RoutineControl

from ecusim.tool import contract
from ecusim.tool.nrc_text import nrc_name
from protocol.constants import (
    NEGATIVE_RESPONSE_SID,
    POSITIVE_RESPONSE_OFFSET,
    SUPPRESS_POSITIVE_RESPONSE_BIT,
    Nrc,
    Sid,
)

MAX_SHOWN_BYTES: Final = 12
RESPONSE_PENDING: Final = Nrc.REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING
SUB_FUNCTION_SERVICES: Final = frozenset(
    {
        Sid.DIAGNOSTIC_SESSION_CONTROL,
        Sid.ECU_RESET,
        Sid.SECURITY_ACCESS,
        Sid.ROUTINE_CONTROL,
        Sid.TESTER_PRESENT,
        Sid.READ_DTC_INFORMATION,
    }
)
"""Services whose second byte is a sub-function with the suppressPosRspMsgIndicationBit
(ISO 14229-1 §7.5)."""
_SUB_FUNCTIONS: Final[dict[int, Any]] = {
    Sid.DIAGNOSTIC_SESSION_CONTROL: DiagnosticSessionControl.Session,
    Sid.ECU_RESET: ECUReset.ResetType,
    Sid.ROUTINE_CONTROL: RoutineControl.ControlType,
    Sid.TESTER_PRESENT: None,
}
_DIDS: Final = {did.did: did for did in contract.CONTRACT_DIDS}


def hex_bytes(data: bytes, limit: int = MAX_SHOWN_BYTES) -> str:
    """``data`` as spaced uppercase hex, cut after ``limit`` bytes with the full length."""
    shown = data[:limit].hex(" ").upper()
    return shown if len(data) <= limit else f"{shown} … ({len(data)} bytes)"


def indicator_text(mode: int, code: int) -> str:
    """The security indicator as the driver sees it: ``flashing code 21 (2-1)``."""
    if mode == contract.INDICATOR_FLASHING_CODE:
        digits = "-".join(str(code)) if code else "?"
        return f"flashing code {code} ({digits})"
    return contract.INDICATOR_MODE_NAMES.get(mode, f"mode {mode}")


def registration_text(mode: int) -> str:
    return contract.REGISTRATION_MODE_NAMES.get(mode, f"mode {mode}")


@functools.cache
def service_name(sid: int) -> str:
    """ISO 14229-1's service name (udsoncan's), or ``service 0xNN``."""
    service = BaseService.from_request_id(sid) if 0 <= sid <= 0xFF else None
    return str(service.get_name()) if service is not None else f"service 0x{sid:02X}"


def session_name(session: int) -> str:
    name = DiagnosticSessionControl.Session.get_name(session)
    return str(name) if name else f"session 0x{session:02X}"


def level_name(level: int) -> str:
    """``level 0x11 (immobilizer reset)``: a level by its requestSeed sub-function."""
    name = contract.LEVEL_NAMES.get(level)
    return f"level 0x{level:02X}" + (f" ({name})" if name else "")


def did_name(did: int) -> str:
    known = _DIDS.get(did)
    return f"0x{did:04X} {known.name}" if known else f"0x{did:04X}"


def routine_name(rid: int) -> str:
    name = contract.ROUTINE_NAMES.get(rid)
    return f"0x{rid:04X} {name}" if name else f"0x{rid:04X}"


def suppressed(request: bytes) -> bool:
    """Whether the request asks for no positive response (ISO 14229-1 §7.5, SPRMIB)."""
    return (
        len(request) >= 2
        and request[0] in SUB_FUNCTION_SERVICES
        and bool(request[1] & SUPPRESS_POSITIVE_RESPONSE_BIT)
    )


def describe_request(request: bytes) -> str:
    """``SecurityAccess requestSeed level 0x11 (immobilizer reset)`` and the like."""
    if not request:
        return "empty request"
    sid = request[0]
    text = service_name(sid)
    detail = _request_detail(sid, request[1:])
    if detail:
        text += " " + detail
    if suppressed(request):
        text += " (no positive response wanted)"
    return text


def _request_detail(sid: int, rest: bytes) -> str:
    if not rest:
        return ""
    sub = rest[0] & ~SUPPRESS_POSITIVE_RESPONSE_BIT & 0xFF
    if sid == Sid.SECURITY_ACCESS:
        kind = "requestSeed" if sub % 2 else "sendKey"
        return f"{kind} {level_name(sub if sub % 2 else sub - 1)}"
    if sid == Sid.READ_DATA_BY_IDENTIFIER:
        dids = [int.from_bytes(rest[i : i + 2], "big") for i in range(0, len(rest) - 1, 2)]
        return ", ".join(did_name(did) for did in dids)
    if sid == Sid.WRITE_DATA_BY_IDENTIFIER and len(rest) >= 2:
        return did_name(int.from_bytes(rest[:2], "big"))
    if sid == Sid.TESTER_PRESENT:
        return "zeroSubFunction" if sub == 0 else f"sub-function 0x{sub:02X}"
    if sid in _SUB_FUNCTIONS:
        names = _SUB_FUNCTIONS[sid]
        name = names.get_name(sub) if names is not None else None
        text = str(name) if name else f"sub-function 0x{sub:02X}"
        if sid == Sid.ROUTINE_CONTROL and len(rest) >= 3:
            text += " " + routine_name(int.from_bytes(rest[1:3], "big"))
        return text
    return ""


def is_response_pending(response: bytes) -> bool:
    return (
        len(response) >= 3
        and response[0] == NEGATIVE_RESPONSE_SID
        and response[2] == (RESPONSE_PENDING)
    )


def negative_code(response: bytes) -> int | None:
    """The NRC of a negative response, else ``None``."""
    if len(response) >= 3 and response[0] == NEGATIVE_RESPONSE_SID:
        return response[2]
    return None


def describe_response(request: bytes, response: bytes) -> str:
    """``invalidKey``, ``positive: seed (16 bytes)``, ``positive: 0x0106 … = 2`` and the like."""
    nrc = negative_code(response)
    if nrc is not None:
        return nrc_name(nrc) if nrc == RESPONSE_PENDING else f"NRC 0x{nrc:02X} {nrc_name(nrc)}"
    if not response or not request or response[0] != request[0] + POSITIVE_RESPONSE_OFFSET:
        return "unexpected answer"
    detail = _response_detail(request[0], response[1:])
    return "positive" + (f": {detail}" if detail else "")


def _response_detail(sid: int, rest: bytes) -> str:
    if sid == Sid.DIAGNOSTIC_SESSION_CONTROL and len(rest) >= 5:
        p2_ms = int.from_bytes(rest[1:3], "big")
        p2_star_ms = int.from_bytes(rest[3:5], "big") * 10
        return f"{session_name(rest[0])}, P2 {p2_ms} ms, P2* {p2_star_ms} ms"
    if sid == Sid.SECURITY_ACCESS and rest:
        if rest[0] % 2 == 0:
            return f"{level_name(rest[0] - 1)} unlocked"
        seed = rest[1:]
        if seed and not any(seed):
            return f"all-zero seed: {level_name(rest[0])} already unlocked"
        return f"seed ({len(seed)} bytes)"
    if sid == Sid.READ_DATA_BY_IDENTIFIER:
        values = split_did_values(rest)
        return "; ".join(
            f"{did_name(did)} = {format_did_value(did, value)}" for did, value in values
        )
    if sid == Sid.ROUTINE_CONTROL and len(rest) >= 4:
        status = contract.ROUTINE_STATUS_NAMES.get(rest[3], f"status 0x{rest[3]:02X}")
        return f"{routine_name(int.from_bytes(rest[1:3], 'big'))} {status}"
    return ""


def split_did_values(rest: bytes) -> list[tuple[int, bytes]]:
    """The ``(DID, value)`` pairs of a ReadDataByIdentifier response's data (after ``62``),
    split by the contract's lengths; a DID of no known length takes the rest."""
    found: list[tuple[int, bytes]] = []
    offset = 0
    while offset + 2 <= len(rest):
        did = int.from_bytes(rest[offset : offset + 2], "big")
        known = _DIDS.get(did)
        length = known.length if known is not None and known.length is not None else None
        end = len(rest) if length is None else offset + 2 + length
        found.append((did, bytes(rest[offset + 2 : end])))
        offset = end
    return found


def format_did_value(did: int, value: bytes) -> str:
    """A DID's value as the contract reads it: text quoted, records as numbers, else hex."""
    known = _DIDS.get(did)
    try:
        if known is None:
            raise ValueError
        if did == contract.DID_REGISTRATION_REFUSAL and value:
            return f"{value[0]} {value[1:].decode('ascii')!r}"
        decoded = known.codec().decode(value)
    except (ValueError, UnicodeDecodeError, IndexError, TypeError):
        return hex_bytes(value)
    if isinstance(decoded, str):
        return repr(decoded.rstrip())
    if did == contract.DID_REGISTRATION_MODE:
        return f"{decoded} {registration_text(decoded)}"
    if did == contract.DID_SECURITY_INDICATOR:
        return indicator_text(*decoded)
    if did == contract.DID_SECURITY_STATUS:
        return ", ".join(
            f"0x{level:02X}: {attempts} failed, {delay} s delay"
            for level, attempts, delay in decoded
        )
    if isinstance(decoded, tuple):
        return " ".join(str(part) for part in decoded)
    return str(decoded)
