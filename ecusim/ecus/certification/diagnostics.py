"""The certification ECU's part of its diagnostic surface (diagnostic-contract.md §4;
docs/smart-key.md): its values of the shared DIDs, the reset, smart keys 0x010D, the last refusal
0x010E and smart key code registration 0x0206."""

from __future__ import annotations

from typing import Protocol, Self

from ecusim.ecus.certification.config import RegistrationRefusal
from ecusim.ecus.identification import LEVEL_EXTENDED_DIAGNOSTICS, LEVEL_IMMOBILIZER_RESET
from ecusim.ecus.key_ecu.diagnostics import KeyEcuSurface, KeyReset
from ecusim.ecus.key_ecu.encoding import byte_value, no_option, seconds_value
from ecusim.ecus.key_ecu.registration_mode import RegistrationMode
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.routines import Routine, RoutineStatus

SYSTEM_TYPE_SMART_KEY = 3
RESET_SUPPORTED = 1

DID_SMART_KEYS = 0x010D
DID_REGISTRATION_REFUSAL = 0x010E
"""[LAB] The last smart key registration refusal: reason code (1 byte) + ASCII text."""

RID_SMART_KEY_REGISTRATION = 0x0206


class SmartKeyState(Protocol):
    """What the certification ECU's DIDs and routines ask of it when a request comes."""

    @property
    def immobilizer_set(self) -> bool: ...

    @property
    def registration_mode(self) -> RegistrationMode: ...

    @property
    def key_count(self) -> int: ...

    @property
    def refusal(self) -> RegistrationRefusal: ...

    @property
    def registration_status(self) -> RoutineStatus: ...

    def refresh(self) -> Self: ...

    def server_clock_now(self) -> float: ...

    def waiting_remaining(self, now: float) -> float: ...

    def reset_all_keys(self, now: float) -> None: ...

    def start_registration(self, now: float) -> None: ...

    def stop_registration(self) -> None: ...


def certification_surface(ecu: SmartKeyState) -> KeyEcuSurface:
    """The certification ECU: no master or sub keys, the waiting period, the reset, its smart
    keys and refusal log, smart key code registration."""

    def waiting() -> bytes:
        now = ecu.server_clock_now()
        return seconds_value(ecu.refresh().waiting_remaining(now))

    def refusal() -> bytes:
        reason = ecu.refusal
        return bytes([int(reason)]) + reason.text.encode("ascii")

    return KeyEcuSurface(
        # 0x00 "unset (start allowed)" only outside registration (diagnostic-contract.md §4)
        immobilizer_state=lambda: byte_value(
            ecu.refresh().immobilizer_set or ecu.registration_mode != 0
        ),
        # A smart key system has neither master nor sub keys.
        master_keys=constant(bytes(1)),
        sub_keys=constant(bytes(1)),
        capabilities=bytes([SYSTEM_TYPE_SMART_KEY, RESET_SUPPORTED]),
        waiting_period=waiting,
        reset=KeyReset(
            "smart key reset",
            erase=lambda: ecu.reset_all_keys(ecu.server_clock_now()),
            counts=lambda: byte_value(ecu.key_count),
        ),
        dids=[
            DataIdentifier(DID_SMART_KEYS, "smart keys", read=lambda: byte_value(ecu.key_count)),
            DataIdentifier(DID_REGISTRATION_REFUSAL, "last registration refusal", read=refusal),
        ],
        routines=[_registration(ecu)],
    )


def _registration(ecu: SmartKeyState) -> Routine:
    def registration_record() -> bytes:
        """Status (0 done, 1 running, 2 failed), waiting period remaining (2 bytes, s; 0 once
        registration is open), registered smart keys (1 byte)."""
        now = ecu.server_clock_now()
        ecu.refresh()
        return (
            bytes([ecu.registration_status])
            + seconds_value(ecu.waiting_remaining(now))
            + byte_value(ecu.key_count)
        )

    def start_registration(option: bytes) -> bytes:
        no_option(option)
        ecu.start_registration(ecu.server_clock_now())
        return registration_record()

    def stop_registration(option: bytes) -> bytes:
        no_option(option)
        ecu.stop_registration()
        return registration_record()

    return Routine(
        RID_SMART_KEY_REGISTRATION,
        "smart key code registration",
        start=start_registration,
        stop=stop_registration,
        results=registration_record,
        security=frozenset({LEVEL_EXTENDED_DIAGNOSTICS, LEVEL_IMMOBILIZER_RESET}),
    )
