"""Protocol constants of ISO 14229-1 (UDS) used by the server, with the standard's names."""

from __future__ import annotations

import enum


class Sid(enum.IntEnum):
    """Service identifiers (ISO 14229-1:2020 Table 23)."""

    DIAGNOSTIC_SESSION_CONTROL = 0x10
    """DiagnosticSessionControl (§10.2)."""
    ECU_RESET = 0x11
    """ECUReset (§10.3)."""
    CLEAR_DIAGNOSTIC_INFORMATION = 0x14
    """ClearDiagnosticInformation (§12.2)."""
    READ_DTC_INFORMATION = 0x19
    """ReadDTCInformation (§12.3)."""
    READ_DATA_BY_IDENTIFIER = 0x22
    """ReadDataByIdentifier (§11.2)."""
    SECURITY_ACCESS = 0x27
    """SecurityAccess (§10.4)."""
    WRITE_DATA_BY_IDENTIFIER = 0x2E
    """WriteDataByIdentifier (§11.7)."""
    ROUTINE_CONTROL = 0x31
    """RoutineControl (§14.2)."""
    TESTER_PRESENT = 0x3E
    """TesterPresent (§10.6)."""


NEGATIVE_RESPONSE_SID = 0x7F
"""First byte of every negative response (ISO 14229-1 §8.7)."""

POSITIVE_RESPONSE_OFFSET = 0x40
"""A positive response's SID is the request SID + 0x40 (ISO 14229-1 §8.6)."""

SUPPRESS_POSITIVE_RESPONSE_BIT = 0x80
"""Bit 7 of a sub-function byte: suppressPosRspMsgIndicationBit (ISO 14229-1 §8.3)."""


class Nrc(enum.IntEnum):
    """Negative response codes (ISO 14229-1:2020 Annex A.1)."""

    GENERAL_REJECT = 0x10
    """generalReject."""
    SERVICE_NOT_SUPPORTED = 0x11
    """serviceNotSupported."""
    SUB_FUNCTION_NOT_SUPPORTED = 0x12
    """subFunctionNotSupported."""
    INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT = 0x13
    """incorrectMessageLengthOrInvalidFormat."""
    RESPONSE_TOO_LONG = 0x14
    """responseTooLong."""
    BUSY_REPEAT_REQUEST = 0x21
    """busyRepeatRequest."""
    CONDITIONS_NOT_CORRECT = 0x22
    """conditionsNotCorrect."""
    REQUEST_SEQUENCE_ERROR = 0x24
    """requestSequenceError."""
    REQUEST_OUT_OF_RANGE = 0x31
    """requestOutOfRange."""
    SECURITY_ACCESS_DENIED = 0x33
    """securityAccessDenied."""
    INVALID_KEY = 0x35
    """invalidKey."""
    EXCEEDED_NUMBER_OF_ATTEMPTS = 0x36
    """exceedNumberOfAttempts."""
    REQUIRED_TIME_DELAY_NOT_EXPIRED = 0x37
    """requiredTimeDelayNotExpired."""
    GENERAL_PROGRAMMING_FAILURE = 0x72
    """generalProgrammingFailure."""
    REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING = 0x78
    """requestCorrectlyReceived-ResponsePending."""
    SUB_FUNCTION_NOT_SUPPORTED_IN_ACTIVE_SESSION = 0x7E
    """subFunctionNotSupportedInActiveSession."""
    SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION = 0x7F
    """serviceNotSupportedInActiveSession."""


FUNCTIONALLY_SUPPRESSED_NRCS = frozenset(
    {
        Nrc.SERVICE_NOT_SUPPORTED,
        Nrc.SUB_FUNCTION_NOT_SUPPORTED,
        Nrc.REQUEST_OUT_OF_RANGE,
        Nrc.SUB_FUNCTION_NOT_SUPPORTED_IN_ACTIVE_SESSION,
        Nrc.SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION,
    }
)
"""NRCs never sent in answer to a functionally addressed request (ISO 14229-1 §7.5.3)."""


class Session(enum.IntEnum):
    """diagnosticSessionType values (ISO 14229-1 §10.2.2.2)."""

    DEFAULT = 0x01
    """defaultSession."""
    PROGRAMMING = 0x02
    """programmingSession."""
    EXTENDED = 0x03
    """extendedDiagnosticSession."""


class ResetType(enum.IntEnum):
    """resetType values of ECUReset (ISO 14229-1 §10.3.2.2)."""

    HARD_RESET = 0x01
    """hardReset: a simulated power cycle."""
    KEY_OFF_ON_RESET = 0x02
    """keyOffOnReset."""
    SOFT_RESET = 0x03
    """softReset: the application restarts."""


class Addressing(enum.Enum):
    """How a request reached the server (ISO 14229-2 TA_type)."""

    PHYSICAL = "physical"
    FUNCTIONAL = "functional"


class RoutineControlType(enum.IntEnum):
    """routineControlType sub-functions (ISO 14229-1 §14.2.2.2)."""

    START_ROUTINE = 0x01
    """startRoutine."""
    STOP_ROUTINE = 0x02
    """stopRoutine."""
    REQUEST_ROUTINE_RESULTS = 0x03
    """requestRoutineResults."""


class DtcReportType(enum.IntEnum):
    """ReadDTCInformation sub-functions supported by the framework (ISO 14229-1 §12.3.2.2)."""

    REPORT_NUMBER_OF_DTC_BY_STATUS_MASK = 0x01
    """reportNumberOfDTCByStatusMask."""
    REPORT_DTC_BY_STATUS_MASK = 0x02
    """reportDTCByStatusMask."""
    REPORT_SUPPORTED_DTC = 0x0A
    """reportSupportedDTC."""


class DtcStatus(enum.IntFlag):
    """DTC status bits (ISO 14229-1:2020 Annex D.2)."""

    TEST_FAILED = 0x01
    TEST_FAILED_THIS_OPERATION_CYCLE = 0x02
    PENDING_DTC = 0x04
    CONFIRMED_DTC = 0x08
    TEST_NOT_COMPLETED_SINCE_LAST_CLEAR = 0x10
    TEST_FAILED_SINCE_LAST_CLEAR = 0x20
    TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE = 0x40
    WARNING_INDICATOR_REQUESTED = 0x80


DTC_FORMAT_ISO14229_1 = 0x01
"""DTCFormatIdentifier ISO_14229-1_DTCFormat (ISO 14229-1 §12.3.5.2 Table 300)."""

ALL_DTC_GROUPS = 0xFFFFFF
"""groupOfDTC that selects every DTC (ISO 14229-1 §12.2.2.2)."""
