"""The transponder key ECU's part of its diagnostic surface (diagnostic-contract.md §4): its values
of the shared DIDs, the reset, additional registration 0x0202, the end of automatic registration
0x0203 and erase 0x0204. The ECM-integrated immobilizer has only 0x0203."""

from __future__ import annotations

import math
from typing import Protocol, Self

from ecusim.car.keys import KeyKind
from ecusim.ecus.identification import LEVEL_EXTENDED_DIAGNOSTICS
from ecusim.ecus.key_ecu.diagnostics import KeyEcuSurface, KeyReset
from ecusim.ecus.key_ecu.encoding import byte_value, no_option, one_option
from protocol.uds.data_identifiers import constant
from protocol.uds.routines import Routine, RoutineStatus

SYSTEM_TYPE_ECM_INTEGRATED = 1
SYSTEM_TYPE_TRANSPONDER_KEY_ECU = 2

RID_ADDITIONAL_REGISTRATION = 0x0202
RID_END_AUTOMATIC_REGISTRATION = 0x0203
RID_ERASE_KEYS = 0x0204

ADDITIONAL_OPTIONS = {0x01: KeyKind.MASTER, 0x02: KeyKind.SUB}
ERASE_ALL_BUT_MASTER = 0x01
ERASE_ALL = 0x02


class TransponderKeyState(Protocol):
    """What the transponder key ECU's DIDs and routines ask of it when a request comes."""

    @property
    def additional_status(self) -> int: ...

    def refresh(self) -> Self: ...

    def server_clock_now(self) -> float: ...

    def start_permitted(self) -> bool: ...

    def key_count(self, kind: KeyKind) -> int: ...

    def reset_all_keys(self) -> None: ...

    def open_additional_registration(self, kind: KeyKind, now: float) -> None: ...

    def close_additional_registration(self) -> None: ...

    def additional_remaining(self, now: float) -> float: ...

    def end_automatic_registration(self) -> None: ...

    def erase(self, *, keep_present_master: bool) -> None: ...


def transponder_surface(ecu: TransponderKeyState) -> KeyEcuSurface:
    """The transponder key ECU: reset, additional registration, end of automatic registration,
    erase."""
    return _surface(
        ecu,
        capabilities=bytes([SYSTEM_TYPE_TRANSPONDER_KEY_ECU, 1]),
        reset=KeyReset("immobilizer reset", erase=ecu.reset_all_keys, counts=lambda: _counts(ecu)),
        routines=[_additional_registration(ecu), _end_automatic(ecu), _erase(ecu)],
    )


def ecm_integrated_surface(ecu: TransponderKeyState) -> KeyEcuSurface:
    """The ECM-integrated immobilizer: no scan-tool reset (bulletin: refer to the SPOC
    bulletin), so 0x0201 is not a routine of this ECU and answers 0x31; only the end of
    automatic registration."""
    return _surface(
        ecu,
        capabilities=bytes([SYSTEM_TYPE_ECM_INTEGRATED, 0]),
        reset=None,
        routines=[_end_automatic(ecu)],
    )


def _surface(
    ecu: TransponderKeyState,
    *,
    capabilities: bytes,
    reset: KeyReset | None,
    routines: list[Routine],
) -> KeyEcuSurface:
    return KeyEcuSurface(
        # 0x00 "unset (start allowed)" only when a start really is (diagnostic-contract.md §4)
        immobilizer_state=lambda: byte_value(not ecu.refresh().start_permitted()),
        master_keys=lambda: byte_value(ecu.key_count(KeyKind.MASTER)),
        sub_keys=lambda: byte_value(ecu.key_count(KeyKind.SUB)),
        capabilities=capabilities,
        waiting_period=constant(bytes(2)),
        reset=reset,
        routines=routines,
    )


def _counts(ecu: TransponderKeyState) -> bytes:
    """Registered masters (1 byte), registered subs (1 byte)."""
    return byte_value(ecu.key_count(KeyKind.MASTER)) + byte_value(ecu.key_count(KeyKind.SUB))


def _done_with_counts(ecu: TransponderKeyState) -> bytes:
    return bytes([RoutineStatus.DONE]) + _counts(ecu)


def _additional_registration(ecu: TransponderKeyState) -> Routine:
    def start_additional(option: bytes) -> bytes:
        kind = ADDITIONAL_OPTIONS[one_option(option, ADDITIONAL_OPTIONS)]
        ecu.open_additional_registration(kind, ecu.server_clock_now())
        return bytes([RoutineStatus.RUNNING])

    def stop_additional(option: bytes) -> bytes:
        no_option(option)
        ecu.close_additional_registration()
        return bytes([ecu.additional_status])

    def additional_results() -> bytes:
        ecu.refresh()
        remaining = math.ceil(ecu.additional_remaining(ecu.server_clock_now()))
        return bytes([ecu.additional_status]) + remaining.to_bytes(2, "big")

    return Routine(
        RID_ADDITIONAL_REGISTRATION,
        "additional key registration",
        start=start_additional,
        stop=stop_additional,
        results=additional_results,
        security=frozenset({LEVEL_EXTENDED_DIAGNOSTICS}),
    )


def _end_automatic(ecu: TransponderKeyState) -> Routine:
    def start_end_automatic(option: bytes) -> bytes:
        no_option(option)
        ecu.end_automatic_registration()
        return bytes([RoutineStatus.DONE])

    return Routine(
        RID_END_AUTOMATIC_REGISTRATION,
        "end automatic registration",
        start=start_end_automatic,
        results=lambda: _done_with_counts(ecu),
    )


def _erase(ecu: TransponderKeyState) -> Routine:
    def start_erase(option: bytes) -> bytes:
        choice = one_option(option, {ERASE_ALL_BUT_MASTER, ERASE_ALL})
        ecu.erase(keep_present_master=choice == ERASE_ALL_BUT_MASTER)
        return _done_with_counts(ecu)

    return Routine(
        RID_ERASE_KEYS,
        "erase keys",
        start=start_erase,
        results=lambda: _done_with_counts(ecu),
        security=frozenset({LEVEL_EXTENDED_DIAGNOSTICS}),
    )
