"""The UDS server core: bytes, addressing and time in; response bytes (or nothing) out.

It knows nothing about transports or cars. Response rules live here and only here (ISO 14229-1
§7.5 and §8): NRC order, suppress-positive-response, functional NRC suppression, response
pending (0x78), S3server, session and reset side effects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from protocol.constants import (
    FUNCTIONALLY_SUPPRESSED_NRCS,
    NEGATIVE_RESPONSE_SID,
    POSITIVE_RESPONSE_OFFSET,
    Addressing,
    Nrc,
    ResetType,
    Session,
    Sid,
)
from protocol.errors import ConfigurationError, NegativeResponseError
from protocol.nvm import MemoryNvm, NvmStore
from protocol.seed_source import SeedSource, SystemSeedSource
from protocol.uds.data_identifiers import DataIdentifier, did_table
from protocol.uds.dtc import DtcMemory
from protocol.uds.pending import PendingWork
from protocol.uds.request import Request
from protocol.uds.routines import Routine, routine_table
from protocol.uds.security import SecurityLevel, SecurityManager, SecurityPolicy
from protocol.uds.services.base import ServiceHandler
from protocol.uds.services.registry import default_services
from protocol.uds.timing import ServerTiming

logger = logging.getLogger(__name__)

MAX_CLASSIC_ISOTP_PAYLOAD = 4095
"""Largest payload ISO 15765-2 carries with a 12-bit FF_DL (classic CAN)."""


@dataclass(frozen=True)
class ServerConfig:
    """Static configuration of one server.

    ``sessions``: supported diagnosticSessionType values (default 0x01 is always included).
    ``reset_types``: ECUReset sub-functions answered. ``reset_duration_s``: how long the server
    stays silent while it "reboots" after ECUReset. ``max_response_length``: longer positive
    responses answer 0x14.
    """

    sessions: frozenset[int] = frozenset({int(Session.DEFAULT), int(Session.EXTENDED)})
    timing: ServerTiming = field(default_factory=ServerTiming)
    reset_types: frozenset[int] = frozenset({int(ResetType.HARD_RESET), int(ResetType.SOFT_RESET)})
    reset_duration_s: float = 0.0
    max_response_length: int = MAX_CLASSIC_ISOTP_PAYLOAD
    max_dids_per_read: int = 16

    def __post_init__(self) -> None:
        if int(Session.DEFAULT) not in self.sessions:
            raise ConfigurationError("the default session (0x01) must be supported")
        if any(not 0x01 <= s <= 0x7F for s in self.sessions):
            raise ConfigurationError(f"session types must be 0x01..0x7F: {sorted(self.sessions)}")
        valid_resets = {int(t) for t in ResetType}
        if not self.reset_types <= valid_resets:
            raise ConfigurationError(
                f"reset types must be among {sorted(valid_resets)}: {sorted(self.reset_types)}"
            )
        if self.reset_duration_s < 0:
            raise ConfigurationError("reset duration must be ≥ 0 s")
        if self.max_response_length < 8:
            raise ConfigurationError("max response length must be ≥ 8 bytes")
        if self.max_dids_per_read < 1:
            raise ConfigurationError("max DIDs per read must be ≥ 1")


SessionListener = Callable[[int, int], None]
"""Called with (old session, new session) after every session change, S3 expiry included."""

ResetListener = Callable[[ResetType], None]
"""Called after an ECUReset was answered: the ECU drops its volatile state."""


@dataclass
class _Pending:
    sid: int
    work: PendingWork
    next_repeat_at: float


class UdsServer:
    """One diagnosable node's UDS server. Thread-safe: one lock serialises every entry point.

    Drive it with :meth:`handle` for each request and :meth:`poll` whenever
    :meth:`next_deadline` passes (a transport binding does both).
    """

    def __init__(
        self,
        *,
        config: ServerConfig | None = None,
        services: Iterable[ServiceHandler] | None = None,
        data_identifiers: Iterable[DataIdentifier] = (),
        routines: Iterable[Routine] = (),
        dtcs: DtcMemory | None = None,
        security_levels: Iterable[SecurityLevel] = (),
        security_policy: SecurityPolicy | None = None,
        seed_source: SeedSource | None = None,
        security_nvm: NvmStore | None = None,
    ) -> None:
        self.config = config if config is not None else ServerConfig()
        self.dids: Mapping[int, DataIdentifier] = did_table(data_identifiers)
        self.routines: Mapping[int, Routine] = routine_table(routines)
        self.dtcs = dtcs
        self.security = SecurityManager(
            security_levels,
            seed_source=seed_source if seed_source is not None else SystemSeedSource(),
            nvm=security_nvm if security_nvm is not None else MemoryNvm(),
            policy=security_policy,
        )
        chosen = list(services) if services is not None else default_services(self)
        self.services: dict[int, ServiceHandler] = {}
        for handler in chosen:
            if handler.sid in self.services:
                raise ConfigurationError(f"service {handler.sid:#04x} is registered twice")
            self.services[int(handler.sid)] = handler
        self.session = int(Session.DEFAULT)
        self.started_routines: set[int] = set()
        self.session_listeners: list[SessionListener] = []
        self.reset_listeners: list[ResetListener] = []
        self._lock = threading.RLock()
        self._booted = False
        self._s3_deadline: float | None = None
        self._pending: _Pending | None = None
        self._silent_until: float | None = None
        self._scheduled_reset: ResetType | None = None
        self._now = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def power_on(self, now: float, *, strict: bool = True) -> None:
        """Start (or restart) the server: default session, locked, persisted security loaded.

        ``strict``: an unreadable security record raises (start-up refuses to run); otherwise
        (a restart after ECUReset) it is logged and the server fails safe (see SecurityManager).
        """
        with self._lock:
            self._booted = True
            old = self.session
            self.session = int(Session.DEFAULT)
            self._s3_deadline = None
            self._pending = None
            self._scheduled_reset = None
            self.started_routines.clear()
            self.security.power_on(now, strict=strict)
            if old != self.session:
                self._notify_session(old, self.session)

    # -- entry points --------------------------------------------------------------------------

    def handle(self, payload: bytes, addressing: Addressing, now: float) -> bytes | None:
        """Process one complete request; return the response to send now, or ``None``.

        After sending the response, call :meth:`after_response` (ECUReset resets then, ISO
        14229-1 §10.3: response first); otherwise it happens at the next call at the latest."""
        with self._lock:
            self._now = now
            self._ensure_booted(now)
            self.after_response(now)
            self._expire_s3(now)
            if not payload:
                return None
            if self._silent_until is not None:
                if now < self._silent_until:
                    return None
                self._silent_until = None
            if self._pending is not None:
                return self._while_pending(payload, addressing)
            request = Request(bytes(payload), addressing, now)
            response = self._dispatch(request)
            self._after_request(now)
            return response

    def poll(self, now: float) -> list[bytes]:
        """Advance time: S3 expiry, repeated 0x78 and the final response of pending work."""
        with self._lock:
            self._now = now
            self._ensure_booted(now)
            self.after_response(now)
            out: list[bytes] = []
            pending = self._pending
            if pending is not None:
                try:
                    data = pending.work.poll(now)
                except NegativeResponseError as exc:
                    # After 0x78 the final answer is always sent (ISO 14229-1 §7.5 note).
                    self._pending = None
                    out.append(self._negative(pending.sid, exc.nrc))
                    self._after_request(now)
                except Exception as exc:  # a handler bug must not kill the server
                    logger.error("pending work for SID %#04x failed: %r", pending.sid, exc)
                    self._pending = None
                    out.append(self._negative(pending.sid, Nrc.GENERAL_REJECT))
                    self._after_request(now)
                else:
                    if data is not None:
                        self._pending = None
                        out.append(self._positive(pending.sid, data))
                        self._after_request(now)
                    elif now >= pending.next_repeat_at:
                        pending.next_repeat_at = now + self.config.timing.pending_repeat_s
                        out.append(self._response_pending(pending.sid))
            self._expire_s3(now)
            return out

    @property
    def now(self) -> float:
        """The time of the request (or poll) being processed, on the server's clock: what a
        DID reader compares the server's own deadlines with."""
        return self._now

    def after_response(self, now: float) -> None:
        """The last response is on the bus: run a scheduled ECUReset now."""
        with self._lock:
            self._run_scheduled_reset(now)

    def next_deadline(self) -> float | None:
        """The clock time by which :meth:`poll` should next be called (``None``: no need).
        While work is pending the caller should poll often (its completion time is unknown)."""
        with self._lock:
            times = [t for t in (self._s3_deadline,) if t is not None]
            if self._pending is not None:
                times.append(self._pending.next_repeat_at)
            return min(times) if times else None

    @property
    def is_busy(self) -> bool:
        """Whether a request is being processed after a 0x78."""
        with self._lock:
            return self._pending is not None

    # -- operations for handlers ---------------------------------------------------------------

    def change_session(self, new_session: int, now: float) -> None:
        """Switch session (ISO 14229-1 §10.2): security re-locks on every change except
        default→default (diagnostic-contract.md §2); S3 runs in non-default sessions."""
        with self._lock:
            old = self.session
            if not (old == Session.DEFAULT and new_session == Session.DEFAULT):
                self.security.lock()
            self.session = new_session
            self._s3_deadline = (
                None if new_session == Session.DEFAULT else now + self.config.timing.s3_s
            )
            if old != new_session:
                self._notify_session(old, new_session)

    def schedule_reset(self, reset_type: ResetType) -> None:
        """Reset right after the positive response is built (ISO 14229-1 §10.3: respond first)."""
        self._scheduled_reset = reset_type

    def s3_remaining(self, now: float) -> float | None:
        with self._lock:
            return None if self._s3_deadline is None else max(0.0, self._s3_deadline - now)

    # -- internals -----------------------------------------------------------------------------

    def _ensure_booted(self, now: float) -> None:
        if not self._booted:
            self.power_on(now)

    def _dispatch(self, request: Request) -> bytes | None:
        suppress = False
        try:
            handler = self.services.get(request.sid)
            if handler is None:
                raise NegativeResponseError(Nrc.SERVICE_NOT_SUPPORTED)
            if not handler.available_in(self.session):
                raise NegativeResponseError(Nrc.SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION)
            if len(request.payload) < handler.min_length:
                raise NegativeResponseError(
                    Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT,
                    f"at least {handler.min_length} bytes needed",
                )
            if handler.has_sub_function:
                suppress = request.suppress_positive_response
                handler.check_sub_function(request, self)
            reply = handler.handle(request, self)
        except NegativeResponseError as exc:
            logger.debug("SID %#04x: %s", request.sid, exc)
            self._scheduled_reset = None
            if (
                request.addressing is Addressing.FUNCTIONAL
                and exc.nrc in FUNCTIONALLY_SUPPRESSED_NRCS
            ):
                return None
            return self._negative(request.sid, exc.nrc)
        except Exception as exc:  # a handler bug must not kill the server or leak a traceback
            logger.error("SID %#04x handler failed: %r", request.sid, exc)
            self._scheduled_reset = None
            return self._negative(request.sid, Nrc.GENERAL_REJECT)
        if isinstance(reply, bytes | bytearray):
            response = self._positive(request.sid, bytes(reply))
            if response[0] == NEGATIVE_RESPONSE_SID:
                self._scheduled_reset = None
            return None if suppress and response[0] != NEGATIVE_RESPONSE_SID else response
        repeat_at = request.now + self.config.timing.pending_repeat_s
        self._pending = _Pending(request.sid, reply, repeat_at)
        return self._response_pending(request.sid)

    def _while_pending(self, payload: bytes, addressing: Addressing) -> bytes | None:
        """A request while another is still processing: TesterPresent with the suppress bit is
        accepted silently; other physical requests answer 0x21 busyRepeatRequest (ISO 14229-1
        A.1); functional ones get no answer (a busy server stays as quiet as an idle one)."""
        if payload == bytes([Sid.TESTER_PRESENT, 0x80]) or addressing is Addressing.FUNCTIONAL:
            return None
        return self._negative(payload[0], Nrc.BUSY_REPEAT_REQUEST)

    def _after_request(self, now: float) -> None:
        """Any request restarts S3 once its final response is out (ISO 14229-2 §7.5)."""
        if self.session != Session.DEFAULT and self._pending is None:
            self._s3_deadline = now + self.config.timing.s3_s

    def _expire_s3(self, now: float) -> None:
        if (
            self._s3_deadline is not None
            and self._pending is None
            and self.session != Session.DEFAULT
            and now >= self._s3_deadline
        ):
            logger.info("S3server expired in session %#04x: back to default, locked", self.session)
            self.change_session(int(Session.DEFAULT), now)

    def _run_scheduled_reset(self, now: float) -> None:
        reset_type, self._scheduled_reset = self._scheduled_reset, None
        if reset_type is None:
            return
        logger.info("ECUReset %s", reset_type.name)
        self.power_on(now, strict=False)
        if self.config.reset_duration_s > 0:
            self._silent_until = now + self.config.reset_duration_s
        for listener in list(self.reset_listeners):
            _call_listener(listener, reset_type)

    def _positive(self, sid: int, data: bytes) -> bytes:
        response = bytes([(sid + POSITIVE_RESPONSE_OFFSET) & 0xFF]) + data
        if len(response) > self.config.max_response_length:
            logger.warning("response to SID %#04x is %d bytes: too long", sid, len(response))
            return self._negative(sid, Nrc.RESPONSE_TOO_LONG)
        return response

    @staticmethod
    def _negative(sid: int, nrc: Nrc) -> bytes:
        return bytes([NEGATIVE_RESPONSE_SID, sid & 0xFF, int(nrc)])

    @staticmethod
    def _response_pending(sid: int) -> bytes:
        return bytes(
            [NEGATIVE_RESPONSE_SID, sid, int(Nrc.REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING)]
        )

    def _notify_session(self, old: int, new: int) -> None:
        for listener in list(self.session_listeners):
            _call_listener(listener, old, new)


def _call_listener(listener: Callable[..., None], *args: object) -> None:
    """An ECU's listener failing must not stop the server (it is logged)."""
    try:
        listener(*args)
    except Exception as exc:
        logger.error("listener %r failed: %r", listener, exc)
