"""One UDS message in words, on its own (no request to pair it with): the service, its
sub-function (ISO 14229-1), and the contract's DID, routine, security level and NRC names, all
from :mod:`ecusim.wire.names`.

``describe(bytes.fromhex("7F3178"), from_tester=False)`` →
``negative response to RoutineControl: NRC 0x78 requestCorrectlyReceived-ResponsePending``.
Used by the trace summary and the demo's ``--wire`` narration.
"""

from __future__ import annotations

import udsoncan.services  # noqa: F401 (registers every service class)
from udsoncan.services.DiagnosticSessionControl import DiagnosticSessionControl
from udsoncan.services.ECUReset import ECUReset
from udsoncan.services.RoutineControl import RoutineControl

from ecusim.tool.nrc_text import nrc_name
from ecusim.wire.names import did_name, level_name, routine_name, service_name
from protocol.constants import (
    NEGATIVE_RESPONSE_SID,
    POSITIVE_RESPONSE_OFFSET,
    SUPPRESS_POSITIVE_RESPONSE_BIT,
    Sid,
)


def security_text(sub_function: int) -> str:
    """``requestSeed 0x11, level 0x11 (immobilizer reset)``: odd sub-functions ask a level's
    seed, the next even one sends its key (ISO 14229-1 §10.4)."""
    kind = "requestSeed" if sub_function % 2 else "sendKey"
    level = sub_function if sub_function % 2 else sub_function - 1
    return f"{kind} 0x{sub_function:02X}, {level_name(level)}"


def nrc_text(nrc: int) -> str:
    """``NRC 0x78 requestCorrectlyReceived-ResponsePending`` (ISO 14229-1 Annex A.1)."""
    return f"NRC 0x{nrc:02X} {nrc_name(nrc)}"


def _subfunction_name(subfunctions: type, value: int) -> str | None:
    """The name of ``value`` among udsoncan's sub-function constants of a service."""
    for name, constant in vars(subfunctions).items():
        if not name.startswith("_") and constant == value:
            return name
    return None


def _details(sid: int, data: bytes, request: bool) -> str:
    """What follows the SID, in words ('' when there is nothing to name)."""
    if not data:
        return ""
    sub = data[0] & ~SUPPRESS_POSITIVE_RESPONSE_BIT
    if sid == Sid.DIAGNOSTIC_SESSION_CONTROL:
        return _subfunction_name(DiagnosticSessionControl.Session, sub) or f"session 0x{sub:02X}"
    if sid == Sid.ECU_RESET:
        return _subfunction_name(ECUReset.ResetType, sub) or f"reset type 0x{sub:02X}"
    if sid == Sid.SECURITY_ACCESS:
        return security_text(sub)
    if sid in (Sid.READ_DATA_BY_IDENTIFIER, Sid.WRITE_DATA_BY_IDENTIFIER) and len(data) >= 2:
        if request and sid == Sid.READ_DATA_BY_IDENTIFIER:
            dids = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]
            return ", ".join(did_name(did) for did in dids)
        return did_name(int.from_bytes(data[:2], "big"))
    if sid == Sid.ROUTINE_CONTROL and len(data) >= 3:
        control = _subfunction_name(RoutineControl.ControlType, sub) or f"control 0x{sub:02X}"
        return f"{control} {routine_name(int.from_bytes(data[1:3], 'big'))}"
    return ""


def describe(payload: bytes, from_tester: bool) -> str:
    """``payload`` (one UDS message) in words; ``from_tester``: a request, else a response."""
    if not payload:
        return "empty message"
    sid = payload[0]
    if not from_tester and sid == NEGATIVE_RESPONSE_SID and len(payload) >= 3:
        return f"negative response to {service_name(payload[1])}: {nrc_text(payload[2])}"
    if from_tester:
        details = _details(sid, payload[1:], request=True)
        return f"{service_name(sid)} {details}".rstrip()
    details = _details(sid - POSITIVE_RESPONSE_OFFSET, payload[1:], request=False)
    name = f"{service_name(sid - POSITIVE_RESPONSE_OFFSET)} positive response"
    return f"{name}, {details}" if details else name
