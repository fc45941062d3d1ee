"""A DTC memory with ISO 14229-1 status bits (Annex D.2), filled by the ECU."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from protocol.constants import ALL_DTC_GROUPS, DtcStatus
from protocol.errors import ConfigurationError

STATUS_AFTER_CLEAR = int(
    DtcStatus.TEST_NOT_COMPLETED_SINCE_LAST_CLEAR
    | DtcStatus.TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE
)
"""Status of every DTC after ClearDiagnosticInformation (ISO 14229-1 Annex D.2 figures)."""

DEFAULT_AVAILABILITY_MASK = 0x7F
"""Status bits this memory maintains: all but warningIndicatorRequested."""


def dtc_number(code: str) -> int:
    """Encode a DTC such as ``"B2796"`` as its 3-byte number ``0xA79600`` (SAE J2012 letters:
    P=00, C=01, B=10, U=11 in the top two bits; failure type byte 0x00)."""
    letters = {"P": 0x0, "C": 0x1, "B": 0x2, "U": 0x3}
    text = code.strip().upper()
    if (
        len(text) != 5
        or text[0] not in letters
        or not all(c in "0123456789ABCDEF" for c in text[1:])
    ):
        raise ConfigurationError(f"DTC must look like B2796, got {code!r}")
    first_digit = int(text[1], 16)
    if first_digit > 3:
        raise ConfigurationError(f"DTC second character must be 0-3, got {code!r}")
    high = (letters[text[0]] << 6) | (first_digit << 4) | int(text[2], 16)
    return (high << 16) | (int(text[3:5], 16) << 8)


def dtc_text(number: int) -> str:
    """Inverse of :func:`dtc_number` for the two high bytes (``0xA79600`` → ``"B2796"``)."""
    high = (number >> 16) & 0xFF
    return f"{'PCBU'[high >> 6]}{(high >> 4) & 0x3}{high & 0xF:X}{(number >> 8) & 0xFF:02X}"


class DtcMemory:
    """Supported DTCs and their status bytes. Thread-safe; ``snapshot``/``restore`` for NVM."""

    def __init__(
        self, supported: Iterable[int], *, availability_mask: int = DEFAULT_AVAILABILITY_MASK
    ) -> None:
        self.availability_mask = availability_mask & 0xFF
        self._status: dict[int, int] = {}
        for number in supported:
            if not 0 <= number <= 0xFFFFFF:
                raise ConfigurationError(f"DTC number must fit 3 bytes, got {number:#x}")
            self._status[number] = STATUS_AFTER_CLEAR
        self._lock = threading.Lock()
        self.listeners: list[Callable[[], None]] = []
        """Called after every change (e.g. so the ECU can persist the statuses)."""

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    @property
    def supported(self) -> tuple[int, ...]:
        return tuple(sorted(self._status))

    def status(self, number: int) -> int:
        with self._lock:
            return self._status[number] & self.availability_mask

    def report_failed(self, number: int) -> None:
        """A test of this DTC failed: testFailed, …ThisOperationCycle, pending, confirmed,
        …SinceLastClear set; the not-completed bits cleared."""
        with self._lock:
            before = status = self._status[number]
            status |= int(
                DtcStatus.TEST_FAILED
                | DtcStatus.TEST_FAILED_THIS_OPERATION_CYCLE
                | DtcStatus.PENDING_DTC
                | DtcStatus.CONFIRMED_DTC
                | DtcStatus.TEST_FAILED_SINCE_LAST_CLEAR
            )
            status &= ~STATUS_AFTER_CLEAR & 0xFF
            self._status[number] = status
        if status != before:
            self._changed()

    def report_passed(self, number: int) -> None:
        """A test of this DTC passed: testFailed and the not-completed bits cleared."""
        with self._lock:
            before = self._status[number]
            status = before & ~(int(DtcStatus.TEST_FAILED) | STATUS_AFTER_CLEAR) & 0xFF
            self._status[number] = status
        if status != before:
            self._changed()

    def start_operation_cycle(self) -> None:
        """A new operation cycle (ignition on): …ThisOperationCycle bits restart."""
        with self._lock:
            for number, status in self._status.items():
                cleared = status & ~int(DtcStatus.TEST_FAILED_THIS_OPERATION_CYCLE) & 0xFF
                self._status[number] = cleared | int(
                    DtcStatus.TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE
                )
        self._changed()

    def matching(self, mask: int) -> list[tuple[int, int]]:
        """DTCs whose (status & availability) & mask is non-zero, as (number, status) pairs."""
        with self._lock:
            return [
                (n, s & self.availability_mask)
                for n, s in sorted(self._status.items())
                if s & self.availability_mask & mask
            ]

    def all(self) -> list[tuple[int, int]]:
        """Every supported DTC with its status (reportSupportedDTC)."""
        with self._lock:
            return [(n, s & self.availability_mask) for n, s in sorted(self._status.items())]

    def covers(self, group: int) -> bool:
        """Whether ``group`` (0xFFFFFF or one DTC number) names something this memory holds."""
        return group == ALL_DTC_GROUPS or group in self._status

    def clear(self, group: int) -> None:
        """ClearDiagnosticInformation for ``group`` (all, or one DTC)."""
        with self._lock:
            targets = list(self._status) if group == ALL_DTC_GROUPS else [group]
            for number in targets:
                self._status[number] = STATUS_AFTER_CLEAR
        self._changed()

    def snapshot(self) -> dict[str, int]:
        """Statuses keyed by 6-hex-digit DTC number, for NVM."""
        with self._lock:
            return {f"{n:06X}": s for n, s in self._status.items()}

    def restore(self, saved: Mapping[str, object]) -> None:
        """Load statuses written by :meth:`snapshot`; unknown or malformed entries are refused."""
        loaded: dict[int, int] = {}
        for key, value in saved.items():
            try:
                number = int(key, 16)
            except ValueError as exc:
                raise ConfigurationError(f"stored DTC key {key!r} is not hexadecimal") from exc
            if number not in self._status or not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ConfigurationError(f"stored DTC {key}={value!r} is not valid for this ECU")
            loaded[number] = value
        with self._lock:
            self._status.update(loaded)
        self._changed()
