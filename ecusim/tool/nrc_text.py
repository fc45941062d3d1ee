"""Negative response codes (ISO 14229-1:2020 Annex A.1) explained to a technician.

Each explanation says what the car refused and what to do next; the context (which step) picks
the hint for codes whose cause depends on it (0x22 during the reset is the ignition or speed).
"""

from __future__ import annotations

from typing import Final

from protocol.constants import Nrc

_GENERIC: Final[dict[int, str]] = {
    Nrc.GENERAL_REJECT: "the ECU rejected the request",
    Nrc.SERVICE_NOT_SUPPORTED: "this ECU does not support the service",
    Nrc.SUB_FUNCTION_NOT_SUPPORTED: "this ECU does not support the sub-function",
    Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT: (
        "the request had the wrong length or format (a tool or addressing problem)"
    ),
    Nrc.BUSY_REPEAT_REQUEST: "the ECU is busy: repeat the request in a moment",
    Nrc.CONDITIONS_NOT_CORRECT: "the vehicle's conditions are not right for this step",
    Nrc.REQUEST_SEQUENCE_ERROR: (
        "the steps came in the wrong order (for example a Pass-Code without a current Seed "
        "Number): start the utility again"
    ),
    Nrc.REQUEST_OUT_OF_RANGE: "the ECU does not support this function or value",
    Nrc.SECURITY_ACCESS_DENIED: (
        "security access is locked (the diagnostic session may have timed out): start the "
        "utility again for a new Seed Number"
    ),
    Nrc.INVALID_KEY: (
        "the car refused the Pass-Code: it does not belong to this Seed Number and VIN. Each "
        "attempt has its own Seed Number; get a new Pass-Code for the Seed Number shown now"
    ),
    Nrc.EXCEEDED_NUMBER_OF_ATTEMPTS: (
        "too many wrong Pass-Codes: the ECU now locks security access for its delay time "
        "(10 s); wait, then start again with a new Seed Number"
    ),
    Nrc.REQUIRED_TIME_DELAY_NOT_EXPIRED: (
        "the ECU's security delay after failed attempts has not run out yet: wait for it "
        "(DID 0x010C shows the seconds left), then ask for a new Seed Number"
    ),
    Nrc.GENERAL_PROGRAMMING_FAILURE: (
        "the ECU could not write its memory (general programming failure): check the ECU's "
        "power supply and try again"
    ),
    Nrc.SUB_FUNCTION_NOT_SUPPORTED_IN_ACTIVE_SESSION: (
        "the sub-function is not available in this diagnostic session (the session may have "
        "timed out)"
    ),
    Nrc.SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION: (
        "the service is not available in this diagnostic session (the extended session may "
        "have timed out: the tool keeps it with TesterPresent)"
    ),
}

_IN_CONTEXT: Final[dict[tuple[str, int], str]] = {
    ("reset", Nrc.CONDITIONS_NOT_CORRECT): (
        "the reset needs the ignition ON and the vehicle stopped: turn the ignition ON (push "
        "the engine switch twice without the brake on smart-key cars), stop the vehicle, and "
        "run the utility again"
    ),
    ("reset", Nrc.REQUEST_OUT_OF_RANGE): (
        "this car's immobilizer cannot be reset with the scan tool: refer to the most recent "
        "SPOC bulletin"
    ),
    ("registration", Nrc.CONDITIONS_NOT_CORRECT): (
        "the car's conditions for key registration are not met: ignition ON and vehicle "
        "stopped; Smart Key Code Registration also needs the old key codes erased by a reset "
        "first; additional registration needs a registered master key in the ignition"
    ),
    ("registration", Nrc.REQUEST_OUT_OF_RANGE): (
        "this ECU does not offer that registration utility"
    ),
}


_ISO_NAMES: Final[dict[int, str]] = {
    Nrc.GENERAL_REJECT: "generalReject",
    Nrc.SERVICE_NOT_SUPPORTED: "serviceNotSupported",
    Nrc.SUB_FUNCTION_NOT_SUPPORTED: "subFunctionNotSupported",
    Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT: "incorrectMessageLengthOrInvalidFormat",
    Nrc.RESPONSE_TOO_LONG: "responseTooLong",
    Nrc.BUSY_REPEAT_REQUEST: "busyRepeatRequest",
    Nrc.CONDITIONS_NOT_CORRECT: "conditionsNotCorrect",
    Nrc.REQUEST_SEQUENCE_ERROR: "requestSequenceError",
    Nrc.REQUEST_OUT_OF_RANGE: "requestOutOfRange",
    Nrc.SECURITY_ACCESS_DENIED: "securityAccessDenied",
    Nrc.INVALID_KEY: "invalidKey",
    Nrc.EXCEEDED_NUMBER_OF_ATTEMPTS: "exceededNumberOfAttempts",
    Nrc.REQUIRED_TIME_DELAY_NOT_EXPIRED: "requiredTimeDelayNotExpired",
    Nrc.GENERAL_PROGRAMMING_FAILURE: "generalProgrammingFailure",
    Nrc.REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING: "requestCorrectlyReceived-ResponsePending",
    Nrc.SUB_FUNCTION_NOT_SUPPORTED_IN_ACTIVE_SESSION: "subFunctionNotSupportedInActiveSession",
    Nrc.SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION: "serviceNotSupportedInActiveSession",
}


def nrc_name(nrc: int) -> str:
    """ISO 14229-1's name of ``nrc`` (``invalidKey``), or ``unknown`` for a code not listed."""
    return _ISO_NAMES.get(nrc, "unknown")


def explain(nrc: int, context: str = "") -> str:
    """A sentence for the technician: what ``nrc`` means in ``context`` and what to do, with
    the code and its ISO name in brackets."""
    text = _IN_CONTEXT.get((context, nrc)) or _GENERIC.get(nrc)
    if text is None:
        text = "the ECU refused the request"
    return f"{text} (NRC 0x{nrc:02X} {nrc_name(nrc)})"
