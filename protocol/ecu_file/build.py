"""Builds a :class:`DeclarativeEcu` — a generic :class:`~protocol.uds.server.UdsServer` with its
addresses — from a validated :class:`~protocol.ecu_file.schema.EcuFile`.

Every service rule stays the framework's (ISO 14229-1 order of NRC checks, security state,
S3server, response pending): this module only turns the file's fixed values into the
framework's parts (:class:`DataIdentifier`, :class:`Routine`, :class:`DtcMemory`,
:class:`SecurityLevel`) and checks what needs the whole file (sessions and levels referred to
exist). A problem raises :class:`EcuFileValueError` naming the key path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import can

from protocol.clock import Clock
from protocol.constants import Session
from protocol.ecu_file.schema import (
    MAX_DID_VALUE_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_ROUTINE_RECORD_BYTES,
    SESSION_NAMES,
    DidSection,
    EcuFile,
    LevelSection,
    RoutineSection,
    dtc_key_number,
)
from protocol.errors import ConfigurationError
from protocol.isotp_binding import (
    IsoTpAddressing,
    IsoTpParameters,
    RequestInterceptor,
    UdsIsoTpBinding,
)
from protocol.nvm import MemoryNvm, NvmStore
from protocol.security_algorithms import AlgorithmContext, AlgorithmRegistry, default_registry
from protocol.seed_source import SeedSource, SystemSeedSource
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.dtc import DtcMemory
from protocol.uds.routines import Routine
from protocol.uds.security import SecurityLevel, SecurityPolicy
from protocol.uds.server import ServerConfig, UdsServer
from protocol.uds.services.base import ServiceHandler
from protocol.uds.services.clear_diagnostic_information import ClearDiagnosticInformationHandler
from protocol.uds.services.diagnostic_session_control import DiagnosticSessionControlHandler
from protocol.uds.services.ecu_reset import EcuResetHandler
from protocol.uds.services.read_data_by_identifier import ReadDataByIdentifierHandler
from protocol.uds.services.read_dtc_information import ReadDtcInformationHandler
from protocol.uds.services.routine_control import RoutineControlHandler
from protocol.uds.services.security_access import SecurityAccessHandler
from protocol.uds.services.tester_present import TesterPresentHandler
from protocol.uds.services.write_data_by_identifier import WriteDataByIdentifierHandler
from protocol.uds.timing import ServerTiming

T = TypeVar("T")

DEFAULT_PENDING_REPEAT_MS = 2000.0
"""The framework's 0x78 repeat interval (ServerTiming), when P2* allows it."""

DTC_AVAILABILITY_MASK = 0xFF
"""The file's status bytes are reported as written: every status bit is 'available'."""


class EcuFileValueError(ConfigurationError):
    """A value of the file that cannot work; ``where`` is its key path (``dids.0xF190.text``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass
class DeclarativeEcu:
    """An ECU described by a file: its name, addresses, transport parameters and server."""

    name: str
    addressing: IsoTpAddressing
    isotp_parameters: IsoTpParameters
    server: UdsServer
    spec: EcuFile

    def binding(
        self,
        bus: can.BusABC,
        notifier: can.Notifier,
        clock: Clock,
        *,
        interceptor: RequestInterceptor | None = None,
    ) -> UdsIsoTpBinding:
        """The server on ``bus`` (ISO-TP through :class:`UdsIsoTpBinding`)."""
        return UdsIsoTpBinding(
            self.server,
            bus,
            notifier,
            self.addressing,
            parameters=self.isotp_parameters,
            clock=clock,
            name=self.name,
            interceptor=interceptor,
        )

    def describe(self) -> str:
        return f"{self.name} (ECU file): {self.addressing.describe()}"


def build_ecu(
    spec: EcuFile,
    *,
    registry: AlgorithmRegistry | None = None,
    seed_source: SeedSource | None = None,
    security_nvm: NvmStore | None = None,
) -> DeclarativeEcu:
    """The ECU of ``spec``; raises :class:`EcuFileValueError` for a value that cannot work."""
    sessions = _Sessions(spec)
    levels = [
        _level(key, item, sessions, registry or default_registry())
        for key, item in spec.security.levels.items()
    ]
    defined = {level.level for level in levels}
    dids = [_did(key, item, sessions, defined) for key, item in spec.dids.items()]
    routines = [_routine(key, item, sessions, defined) for key, item in spec.routines.items()]
    _unique("dids", spec.dids, "DID")
    _unique("routines", spec.routines, "routine")
    _unique("security.levels", spec.security.levels, "level")
    dtcs = _dtcs(spec) if spec.dtcs else None
    config = _checked("timing", lambda: _config(spec, sessions.supported))
    policy = _checked(
        "security",
        lambda: SecurityPolicy(
            spec.security.attempt_limit, spec.security.delay_s, spec.security.boot_delay_s
        ),
    )
    server = UdsServer(
        config=config,
        services=_services(dids, routines, levels, dtcs),
        data_identifiers=dids,
        routines=routines,
        dtcs=dtcs,
        security_levels=levels,
        security_policy=policy,
        seed_source=seed_source if seed_source is not None else SystemSeedSource(),
        security_nvm=security_nvm if security_nvm is not None else MemoryNvm(),
    )
    return DeclarativeEcu(spec.name, _addressing(spec), _isotp(spec), server, spec)


# -- sessions ----------------------------------------------------------------------------------


class _Sessions:
    """The file's session names and numbers, and the supported set."""

    def __init__(self, spec: EcuFile) -> None:
        self.names = dict(SESSION_NAMES)
        for name, number in spec.sessions.custom.items():
            if name in SESSION_NAMES:
                raise EcuFileValueError(f"sessions.custom.{name}", "a built-in session's name")
            self.names[name] = number
        self.supported: frozenset[int] = frozenset()
        supported = self.resolve("sessions.supported", spec.sessions.supported, check=False)
        if Session.DEFAULT not in supported:
            raise EcuFileValueError("sessions.supported", 'must include "default"')
        self.supported = supported
        others = supported - {int(Session.DEFAULT)}
        self.non_default = others or supported
        """Where writes, routines and unlocking are allowed unless the file says otherwise."""

    def resolve(self, where: str, refs: Sequence[Any], *, check: bool = True) -> frozenset[int]:
        numbers: set[int] = set()
        for index, ref in enumerate(refs):
            path = f"{where}.{index}"
            if isinstance(ref, str):
                if ref not in self.names:
                    known = ", ".join(self.names)
                    raise EcuFileValueError(path, f"unknown session {ref!r} (known: {known})")
                number = self.names[ref]
            elif not 0x01 <= ref <= 0x7F:
                raise EcuFileValueError(path, f"session {ref:#04x} is not within 0x01..0x7F")
            else:
                number = ref
            if check and number not in self.supported:
                raise EcuFileValueError(path, f"session {ref!r} is not in sessions.supported")
            numbers.add(number)
        return frozenset(numbers)

    def optional(
        self, where: str, refs: Sequence[Any] | None, default: frozenset[int] | None
    ) -> frozenset[int] | None:
        return default if refs is None else self.resolve(where, refs)


# -- parts -------------------------------------------------------------------------------------


def _levels(
    where: str, levels: Iterable[int], defined: frozenset[int] | set[int]
) -> frozenset[int]:
    for index, level in enumerate(levels):
        if level not in defined:
            raise EcuFileValueError(
                f"{where}.{index}", f"level {level:#04x} is not defined in security.levels"
            )
    return frozenset(levels)


def _did(key: str, item: DidSection, sessions: _Sessions, defined: set[int]) -> DataIdentifier:
    where = f"dids.{key}"
    if (item.value is None) == (item.text is None):
        raise EcuFileValueError(where, "give its value as value (hex) or as text, one of the two")
    value = item.value if item.value is not None else (item.text or "").encode()
    field = "value" if item.text is None else "text"
    if not value:
        raise EcuFileValueError(f"{where}.{field}", "empty")
    if len(value) > MAX_DID_VALUE_BYTES:
        raise EcuFileValueError(
            f"{where}.{field}",
            f"{len(value)} bytes do not fit one response (at most {MAX_DID_VALUE_BYTES}: "
            f"{MAX_MESSAGE_BYTES} bytes of an ISO-TP message minus 62 and the DID)",
        )
    if item.read_sessions == [] and not item.writable:
        raise EcuFileValueError(
            f"{where}.read_sessions",
            "empty: no session could read the DID (leave it out for every session; [] makes "
            "sense only for a write-only DID, writable = true)",
        )
    if not item.writable:
        for field in ("write_sessions", "write_security"):
            if getattr(item, field):
                raise EcuFileValueError(
                    f"{where}.{field}", "the DID is not writable (writable = true)"
                )
    stored = _StoredValue(value)
    return DataIdentifier(
        did=int(key, 16),
        name=item.name or key,
        read=stored.read if item.writable else constant(value),
        write=stored.write if item.writable else None,
        read_sessions=sessions.optional(f"{where}.read_sessions", item.read_sessions, None),
        write_sessions=sessions.optional(
            f"{where}.write_sessions", item.write_sessions, sessions.non_default
        ),
        read_security=_levels(f"{where}.read_security", item.read_security, defined),
        write_security=_levels(f"{where}.write_security", item.write_security, defined),
        write_length=len(value),
    )


class _StoredValue:
    """A writable DID's value: the file's until a write replaces it (in memory only)."""

    def __init__(self, value: bytes) -> None:
        self._value = value
        self._lock = threading.Lock()

    def read(self) -> bytes:
        with self._lock:
            return self._value

    def write(self, value: bytes) -> None:
        with self._lock:
            self._value = bytes(value)


def _routine(key: str, item: RoutineSection, sessions: _Sessions, defined: set[int]) -> Routine:
    where = f"routines.{key}"
    start, stop, results = item.start_result, item.stop_result, item.results
    for field in ("start_result", "stop_result", "results"):
        record: bytes | None = getattr(item, field)
        if record is not None and len(record) > MAX_ROUTINE_RECORD_BYTES:
            raise EcuFileValueError(
                f"{where}.{field}",
                f"{len(record)} bytes do not fit one response (at most "
                f"{MAX_ROUTINE_RECORD_BYTES}: {MAX_MESSAGE_BYTES} bytes of an ISO-TP message "
                "minus 71, the type and the RID)",
            )
    return Routine(
        rid=int(key, 16),
        name=item.name or key,
        start=lambda _option: start,
        stop=None if stop is None else (lambda _option: stop),
        results=None if results is None else (lambda: results),
        sessions=sessions.optional(f"{where}.sessions", item.sessions, sessions.non_default),
        security=_levels(f"{where}.security", item.security, defined),
    )


def _level(
    key: str, item: LevelSection, sessions: _Sessions, registry: AlgorithmRegistry
) -> SecurityLevel:
    where = f"security.levels.{key}"
    given = {
        name: value
        for name, value in (("master_secret", item.master_secret), ("diag_key", item.diag_key))
        if value is not None
    }
    context = AlgorithmContext(vin=item.vin, **given)
    if item.algorithm not in registry:
        known = ", ".join(registry.names())
        raise EcuFileValueError(
            f"{where}.algorithm", f"unknown security algorithm {item.algorithm!r} (known: {known})"
        )
    algorithm = _checked(where, lambda: registry.create(item.algorithm, context))
    return SecurityLevel(
        level=int(key, 16),
        algorithm=algorithm,
        name=item.name or key,
        sessions=sessions.optional(f"{where}.sessions", item.sessions, sessions.non_default),
    )


def _dtcs(spec: EcuFile) -> DtcMemory:
    numbers = {key: dtc_key_number(key) for key in spec.dtcs}
    seen: dict[int, str] = {}
    for key, number in numbers.items():
        if number in seen:
            raise EcuFileValueError(f"dtcs.{key}", f"the same DTC as dtcs.{seen[number]}")
        seen[number] = key
    memory = DtcMemory(numbers.values(), availability_mask=DTC_AVAILABILITY_MASK)
    memory.restore({f"{numbers[key]:06X}": status for key, status in spec.dtcs.items()})
    return memory


def _unique(where: str, table: Iterable[str], what: str) -> None:
    """``0xF190`` and ``0xf190`` are two TOML keys but one number."""
    seen: dict[int, str] = {}
    for key in table:
        number = int(key, 16)
        if number in seen:
            raise EcuFileValueError(f"{where}.{key}", f"the same {what} as {where}.{seen[number]}")
        seen[number] = key


def _config(spec: EcuFile, supported: frozenset[int]) -> ServerConfig:
    timing = ServerTiming(
        p2_s=spec.timing.p2_ms / 1000,
        p2_star_s=spec.timing.p2_star_ms / 1000,
        s3_s=spec.sessions.s3_s,
        pending_repeat_s=(
            spec.timing.pending_repeat_ms
            if spec.timing.pending_repeat_ms is not None
            else min(DEFAULT_PENDING_REPEAT_MS, spec.timing.p2_star_ms / 2)
        )
        / 1000,
    )
    return ServerConfig(sessions=supported, timing=timing)


def _union(sets: Iterable[frozenset[int] | None]) -> frozenset[int] | None:
    """Where a service is available: wherever one of its items is (``None``: everywhere)."""
    found: set[int] = set()
    for item in sets:
        if item is None:
            return None
        found |= item
    return frozenset(found)


def _services(
    dids: Sequence[DataIdentifier],
    routines: Sequence[Routine],
    levels: Sequence[SecurityLevel],
    dtcs: DtcMemory | None,
) -> list[ServiceHandler]:
    """The services the file's parts need, each available in the sessions where one of its
    items is (elsewhere 0x7F serviceNotSupportedInActiveSession, ISO 14229-1 §7.5); a service
    with nothing to serve is absent (0x11), as in the framework's ``default_services``."""
    services: list[ServiceHandler] = [
        DiagnosticSessionControlHandler(),
        EcuResetHandler(),
        TesterPresentHandler(),
    ]
    if levels:
        services.append(SecurityAccessHandler(sessions=_union(lv.sessions for lv in levels)))
    if dids:
        services.append(ReadDataByIdentifierHandler(sessions=_union(d.read_sessions for d in dids)))
        writable = [d for d in dids if d.write is not None]
        if writable:
            sessions = _union(d.write_sessions for d in writable)
            services.append(WriteDataByIdentifierHandler(sessions=sessions))
    if routines:
        services.append(RoutineControlHandler(sessions=_union(r.sessions for r in routines)))
    if dtcs is not None:
        services.append(ReadDtcInformationHandler())
        services.append(ClearDiagnosticInformationHandler())
    return services


def _addressing(spec: EcuFile) -> IsoTpAddressing:
    section = spec.addressing
    return _checked(
        "addressing",
        lambda: IsoTpAddressing(
            section.request_id,
            section.response_id,
            functional_id=section.functional_id,
            extended_address=section.extended_address,
        ),
    )


def _isotp(spec: EcuFile) -> IsoTpParameters:
    section = spec.isotp
    return _checked(
        "isotp",
        lambda: IsoTpParameters(
            padding=section.padding,
            fd=section.fd,
            block_size=section.block_size,
            st_min_s=section.st_min_ms / 1000,
            n_bs_s=section.n_bs_ms / 1000,
            n_cr_s=section.n_cr_ms / 1000,
            n_wft_max=section.n_wft_max,
        ),
    )


def _checked(where: str, make: Callable[[], T]) -> T:
    """``make()``; a framework ConfigurationError becomes an :class:`EcuFileValueError` at
    ``where``."""
    try:
        return make()
    except EcuFileValueError:
        raise
    except ConfigurationError as exc:
        raise EcuFileValueError(where, str(exc)) from None
