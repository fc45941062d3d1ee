"""Identification DIDs every node answers (diagnostic-contract.md §4; ISO 14229-1 Annex C.1)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ecusim.catalog.vin import VinError, validate_written_vin
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.server import UdsServer
from protocol.uds.sessions import EXTENDED_ONLY

DID_ACTIVE_SESSION = 0xF186
DID_PART_NUMBER = 0xF187
DID_SERIAL_NUMBER = 0xF18C
DID_VIN = 0xF190
DID_SYSTEM_NAME = 0xF197

UNSET_VIN = b" " * 17
"""DID 0xF190 of a blank key-code ECU whose VIN is not written yet: 17 ASCII spaces (a space is
never a VIN character, so a scan tool reading it asks for the VIN instead)."""

LEVEL_EXTENDED_DIAGNOSTICS = 0x01
"""SecurityAccess level of extended diagnostics (diagnostic-contract.md §3)."""
LEVEL_IMMOBILIZER_RESET = 0x11
"""SecurityAccess level of the immobilizer / smart key reset (the Pass-Code)."""


def serial_number_for(prefix: str, vin: str) -> str:
    """A stable, per-ECU serial number of 14 ASCII characters (lab scheme)."""
    digest = hashlib.sha256(f"{prefix}:{vin}".encode("ascii")).hexdigest().upper()
    return f"{prefix}{digest[:11]}"


def ascii_bytes(text: str) -> bytes:
    return text.encode("ascii")


def vin_did(
    read: Callable[[], str | None],
    write: Callable[[str], None],
    *,
    written_once: Callable[[], bool] | None = None,
) -> DataIdentifier:
    """0xF190: 17 ASCII bytes (17 spaces while a blank key-code ECU has none); writable only in
    the extended session with level 0x01 unlocked, only with a valid VIN as it is: capitals
    (ISO 3779) and a right check digit, else 0x31 requestOutOfRange (ISO 14229-1 §11.7), nothing
    written.

    ``written_once`` (key-code ECUs, diagnostic-contract.md §4): whether the VIN is set; a set
    VIN is never written again: 0x22 conditionsNotCorrect, whatever the value. ISO 14229-1
    §11.7.4 (the NRC handling figure of WriteDataByIdentifier) checks 0x22 after the DID
    (0x31), security (0x33) and exact length (0x13): a locked tester gets 0x33, and the value
    is never looked at, so a set VIN answers 0x22 even for a bad check digit.
    """

    def write_vin(value: bytes) -> None:
        if written_once is not None and written_once():
            raise NegativeResponseError(
                Nrc.CONDITIONS_NOT_CORRECT, "this ECU's VIN is set: it is written only once"
            )
        try:
            vin = validate_written_vin(value.decode("ascii"))
        except (UnicodeDecodeError, VinError) as exc:
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, f"invalid VIN: {exc}") from exc
        write(vin)

    def read_vin() -> bytes:
        vin = read()
        return UNSET_VIN if vin is None else ascii_bytes(vin)

    return DataIdentifier(
        DID_VIN,
        "VIN",
        read=read_vin,
        write=write_vin,
        write_sessions=EXTENDED_ONLY,
        write_security=frozenset({LEVEL_EXTENDED_DIAGNOSTICS}),
        write_length=17,
    )


def identification_dids(
    *, serial_number: str, part_number: str, system_name: str
) -> list[DataIdentifier]:
    """Serial (0xF18C), part number (0xF187) and system name (0xF197), read-only."""
    if not 10 <= len(serial_number) <= 16 or not serial_number.isascii():
        raise ValueError(f"serial number must be 10-16 ASCII characters: {serial_number!r}")
    return [
        DataIdentifier(
            DID_SERIAL_NUMBER, "ECU serial number", read=constant(ascii_bytes(serial_number))
        ),
        DataIdentifier(DID_PART_NUMBER, "part number", read=constant(ascii_bytes(part_number))),
        DataIdentifier(DID_SYSTEM_NAME, "system name", read=constant(ascii_bytes(system_name))),
    ]


def active_session_did(server_ref: Callable[[], UdsServer]) -> DataIdentifier:
    """0xF186: the active diagnosticSessionType, 1 byte."""
    return DataIdentifier(
        DID_ACTIVE_SESSION, "active session", read=lambda: bytes([server_ref().session])
    )
