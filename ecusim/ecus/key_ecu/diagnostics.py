"""The diagnostic surface every key-code ECU shares (diagnostic-contract.md §4): VIN and
identification, the active session, DIDs 0x0101 and 0x0106-0x010C, levels 0x01 and 0x11
(diagnostic-contract.md §3) and the reset routine 0x0201. Each ECU gives the values of the shared
DIDs that differ and adds its own DIDs and routines (:class:`KeyEcuSurface`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

from ecusim.ecus.identification import (
    LEVEL_IMMOBILIZER_RESET,
    active_session_did,
    identification_dids,
    vin_did,
)
from ecusim.ecus.key_ecu.config import KeyEcuConfig
from ecusim.ecus.key_ecu.encoding import byte_value, no_option, seconds_value
from ecusim.ecus.key_ecu.indicator import IndicatorMode
from ecusim.ecus.key_ecu.registration_mode import RegistrationMode
from ecusim.ecus.key_ecu.security import key_ecu_security_levels
from protocol.clock import Clock
from protocol.nvm import NvmStore
from protocol.seed_source import SeedSource
from protocol.uds.data_identifiers import DataIdentifier, DidReader, constant
from protocol.uds.dtc import DtcMemory
from protocol.uds.pending import ClockedWork, Reply
from protocol.uds.routines import Routine, RoutineStatus
from protocol.uds.server import UdsServer

DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C

RID_RESET = 0x0201


class KeyEcuState(Protocol):
    """What the common surface asks of a key-code ECU when a request comes (its configuration
    too: the reset takes the erase duration configured at that moment)."""

    @property
    def config(self) -> KeyEcuConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def vin(self) -> str | None: ...

    @property
    def vin_set(self) -> bool: ...

    def store_vin(self, vin: str) -> None: ...

    def refresh(self) -> Self: ...

    def indicator(self) -> tuple[IndicatorMode, int]: ...

    @property
    def registration_mode(self) -> RegistrationMode: ...

    def check_reset_preconditions(self) -> None: ...


@dataclass(frozen=True)
class KeyReset:
    """Routine 0x0201 and level 0x11 of an ECU with a scan-tool reset
    (diagnostic-contract.md §4)."""

    name: str
    """The routine's name, and the level's."""
    erase: Callable[[], None]
    """Erases every key code, once the erase has taken its time."""
    counts: DidReader
    """The key counts that follow the status byte in the routine's results."""


@dataclass(frozen=True)
class KeyEcuSurface:
    """One key-code ECU's part of its diagnostic surface: its values of the shared DIDs that
    differ between the ECUs, its reset (``None``: no scan-tool reset, so 0x0201 answers 0x31
    and there is no level 0x11), and its own DIDs and routines."""

    immobilizer_state: DidReader
    """DID 0x0101: 0x00 "unset" only when the ECU allows a start now, else 0x01."""
    master_keys: DidReader
    """DID 0x0106."""
    sub_keys: DidReader
    """DID 0x0107."""
    capabilities: bytes
    """DID 0x010A: system type, reset supported."""
    waiting_period: DidReader
    """DID 0x010B: seconds, 2 bytes."""
    reset: KeyReset | None
    dids: Sequence[DataIdentifier] = ()
    routines: Sequence[Routine] = ()


def build_key_ecu_server(
    ecu: KeyEcuState,
    surface: KeyEcuSurface,
    *,
    config: KeyEcuConfig,
    serial_number: str,
    dtcs: DtcMemory,
    seed_source: SeedSource,
    security_nvm: NvmStore,
) -> UdsServer:
    """A key-code ECU's UDS server, built from its parts: the common DIDs with ``surface``'s
    values, then ``surface``'s own DIDs; the reset routine (if any), then its own routines;
    levels 0x01 (lab diagnostic) and 0x11 (pass-code for the VIN, with the reset). ``ecu`` is
    asked only when a request comes."""
    server: UdsServer  # the session and security-status DIDs read the server they belong to
    reset = surface.reset
    dids = [
        vin_did(lambda: ecu.vin, ecu.store_vin, written_once=lambda: ecu.vin_set),
        *identification_dids(
            serial_number=serial_number,
            part_number=config.part_number,
            system_name=config.system_name,
        ),
        active_session_did(lambda: server),
        DataIdentifier(DID_IMMOBILIZER_STATE, "immobilizer state", read=surface.immobilizer_state),
        DataIdentifier(DID_MASTER_KEYS, "master keys", read=surface.master_keys),
        DataIdentifier(DID_SUB_KEYS, "sub keys", read=surface.sub_keys),
        DataIdentifier(DID_SECURITY_INDICATOR, "security indicator", read=lambda: _indicator(ecu)),
        DataIdentifier(
            DID_REGISTRATION_MODE,
            "registration mode",
            read=lambda: byte_value(ecu.refresh().registration_mode),
        ),
        DataIdentifier(DID_CAPABILITIES, "capabilities", read=constant(surface.capabilities)),
        DataIdentifier(DID_WAITING_PERIOD, "waiting period", read=surface.waiting_period),
        DataIdentifier(
            DID_SECURITY_STATUS, "security access status", read=lambda: _security_status(server)
        ),
        *surface.dids,
    ]
    routines = list(surface.routines)
    if reset is not None:
        routines.insert(0, _reset_routine(ecu, reset))
    server = UdsServer(
        config=config.server,
        data_identifiers=dids,
        routines=routines,
        dtcs=dtcs,
        security_levels=key_ecu_security_levels(
            diag_key=config.diag_key,
            vin=lambda: ecu.vin,
            master_secret=config.master_secret,
            reset_name=None if reset is None else reset.name,
        ),
        security_policy=config.security_policy,
        seed_source=seed_source,
        security_nvm=security_nvm,
    )
    return server


def _indicator(ecu: KeyEcuState) -> bytes:
    """DID 0x0108: mode (1 byte), flash code (1 byte)."""
    mode, code = ecu.refresh().indicator()
    return bytes([int(mode), code & 0xFF])


def _security_status(server: UdsServer) -> bytes:
    """DID 0x010C (diagnostic-contract.md §4): for each configured level in ascending order,
    the level (its requestSeed sub-function), its failed attempts (1 byte) and its delay
    remaining in seconds (2 bytes, rounded up), on the server's clock at the request."""
    return b"".join(
        byte_value(item.level)
        + byte_value(item.failed_attempts)
        + seconds_value(item.delay_remaining_s)
        for item in server.security.status(server.now)
    )


def _reset_routine(ecu: KeyEcuState, reset: KeyReset) -> Routine:
    """Routine 0x0201 at level 0x11: with the ignition ON and the vehicle stopped it answers
    0x78 while the erase takes the configured time, then erases every key code; its results
    are the status and the key counts."""
    reset_status = [RoutineStatus.DONE]

    def start_reset(option: bytes) -> Reply:
        no_option(option)
        ecu.check_reset_preconditions()
        reset_status[0] = RoutineStatus.RUNNING

        def finish() -> bytes:
            reset.erase()
            reset_status[0] = RoutineStatus.DONE
            return bytes([RoutineStatus.DONE])

        return ClockedWork(ecu.clock, ecu.clock.now() + ecu.config.erase_duration_s, finish)

    return Routine(
        RID_RESET,
        reset.name,
        start=start_reset,
        results=lambda: bytes([reset_status[0]]) + reset.counts(),
        security=frozenset({LEVEL_IMMOBILIZER_RESET}),
    )
