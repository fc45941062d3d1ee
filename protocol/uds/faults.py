"""Fault injection and a record of every request, for testing diagnostic clients (scan tools).

A :class:`FaultInjector` is a :class:`~protocol.isotp_binding.RequestInterceptor`: the binding
hands it each request it receives. It writes the request into a :class:`RequestLog` and, when a
rule of a :class:`FaultPlan` matches, answers the rule's way instead of the server's:

- **delay**: the server processes the request at once; its response goes out late;
- **drop**: the server processes the request (its state changes); no response is sent;
- **force NRC**: ``7F <sid> <nrc>`` is sent and the server never sees the request;
- **extra 0x78**: ``7F <sid> 78`` (requestCorrectlyReceived-ResponsePending, ISO 14229-1 A.1)
  is sent ``count`` times, then the server processes the request and its answer follows. After a
  0x78 the final response is never suppressed (ISO 14229-1 §7.5), so a request with the
  suppressPosRspMsgIndicationBit still gets its positive response.

Rules match on the request SID, optionally its sub-function or first data bytes and the node's
name, and may be limited to a number of uses. Everything here is thread-safe: the ECUs of a car
share one plan and one log.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict, Unpack

from protocol.constants import (
    NEGATIVE_RESPONSE_SID,
    SUPPRESS_POSITIVE_RESPONSE_BIT,
    Addressing,
    Nrc,
    Sid,
)
from protocol.errors import ConfigurationError
from protocol.uds.request import Request

if TYPE_CHECKING:
    from protocol.isotp_binding import LaterResponseHandler, RequestExchange
    from protocol.uds.server import UdsServer

__all__ = [
    "SERVICES_WITH_SUB_FUNCTION",
    "Delay",
    "Drop",
    "ExtraPending",
    "FaultAction",
    "FaultInjector",
    "FaultPlan",
    "FaultRule",
    "ForceNrc",
    "RecordedRequest",
    "RequestLog",
    "nrc_code",
]

MAX_DELAY_S = 30.0
"""Longest delay a rule may add (in total, for extra 0x78s): far beyond any client's P2*."""
MAX_EXTRA_PENDING = 100
"""Most extra 0x78 responses one rule may send before the real answer."""
DEFAULT_PENDING_INTERVAL_S = 0.02
"""Real seconds after each extra 0x78 (ISO 14229-1 §7.5: a server repeats 0x78 within P2*)."""
DEFAULT_MAX_RECORDS = 10_000
"""Records a :class:`RequestLog` keeps; older ones are forgotten (a bench car runs for days)."""
MAX_WAIT_S = 300.0
"""Longest :meth:`RequestLog.wait_for` timeout."""

_PENDING = int(Nrc.REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING)

SERVICES_WITH_SUB_FUNCTION = frozenset(
    {
        0x10,  # DiagnosticSessionControl
        0x11,  # ECUReset
        0x19,  # ReadDTCInformation
        0x27,  # SecurityAccess
        0x28,  # CommunicationControl
        0x29,  # Authentication
        0x2C,  # DynamicallyDefineDataIdentifier
        0x31,  # RoutineControl
        0x3E,  # TesterPresent
        0x83,  # AccessTimingParameter
        0x85,  # ControlDTCSetting
        0x86,  # ResponseOnEvent
        0x87,  # LinkControl
    }
)
"""Request SIDs whose second byte is a sub-function (ISO 14229-1:2020, each service's request
message definition); the others (0x14, 0x22, 0x23, 0x24, 0x2A, 0x2E, 0x2F, 0x34-0x38, 0x3D, 0x84)
have none."""
_SERVICES_WITH_DID = frozenset({0x22, 0x2E, 0x2F})


def _response_pending(sid: int) -> bytes:
    return bytes([NEGATIVE_RESPONSE_SID, sid, _PENDING])


def _is_response_pending(response: bytes) -> bool:
    return len(response) == 3 and response[0] == NEGATIVE_RESPONSE_SID and response[2] == _PENDING


def _check_int(name: str, value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(f"{name} must be {what}, got {value!r}")
    return value


def _check_seconds(name: str, value: object, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= high
    ):
        raise ConfigurationError(f"{name} must be a time of 0..{high:g} s, got {value!r}")
    return float(value)


# -- what a rule does ------------------------------------------------------------------------


@dataclass(frozen=True)
class Delay:
    """Send the server's response ``seconds`` (real time) late; the request is processed at once.

    The node sends nothing else meanwhile (like a slow ECU); the node's ``stop()`` ends the wait.
    """

    seconds: float

    def __post_init__(self) -> None:
        _check_seconds("delay", self.seconds, MAX_DELAY_S)

    def describe(self) -> str:
        return f"delay {self.seconds:g} s"


@dataclass(frozen=True)
class Drop:
    """Process the request but send no response, nor any later one (its 0x78s, its final one)."""

    def describe(self) -> str:
        return "drop response"


def nrc_code(nrc: int | str) -> int:
    """The NRC byte of ``nrc``: an int 0x01..0xFF, its hex text (``"0x22"``) or its name in
    ISO 14229-1 Annex A.1 (``"conditionsNotCorrect"``, or :class:`~protocol.constants.Nrc`'s
    ``"CONDITIONS_NOT_CORRECT"``; case and ``_``/``-`` ignored). ``ConfigurationError`` naming
    the valid forms otherwise."""
    if not isinstance(nrc, str):
        return _check_int("NRC", nrc, 0x01, 0xFF, "a negative response code 0x01..0xFF")
    text = nrc.strip()
    if re.fullmatch(r"0[xX][0-9A-Fa-f]{1,2}", text) and int(text, 16) > 0:
        return int(text, 16)
    wanted = re.sub(r"[_\-\s]", "", text).lower()
    for known in Nrc:
        if known.name.replace("_", "").lower() == wanted:
            return int(known)
    if wanted in _NRC_ALIASES:
        return _NRC_ALIASES[wanted]
    names = ", ".join(f"{_camel(known.name)} (0x{known:02X})" for known in Nrc)
    raise ConfigurationError(
        f"unknown NRC {nrc!r}: give an int 0x01..0xFF, its hex text such as '0x22', or a name "
        f"of ISO 14229-1 Annex A.1: {names}"
    )


def _camel(name: str) -> str:
    """``CONDITIONS_NOT_CORRECT`` as ISO 14229-1 writes it: ``conditionsNotCorrect``."""
    first, *rest = name.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


_NRC_ALIASES = {"exceednumberofattempts": int(Nrc.EXCEEDED_NUMBER_OF_ATTEMPTS)}
"""Names ISO 14229-1 spells otherwise than :class:`Nrc` (``exceedNumberOfAttempts``)."""


@dataclass(frozen=True)
class ForceNrc:
    """Answer ``7F <sid> <nrc>`` without the server seeing the request (its state is unchanged).

    ``nrc``: an int, or a name or hex text read by :func:`nrc_code`. Sent whatever the
    addressing: a fault may break rules a correct server keeps (ISO 14229-1 §7.5.3 silences some
    NRCs to functional requests).
    """

    nrc: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "nrc", nrc_code(self.nrc))

    def describe(self) -> str:
        return f"force NRC 0x{self.nrc:02X}"


@dataclass(frozen=True)
class ExtraPending:
    """Send ``7F <sid> 78`` ``count`` times, ``interval_s`` apart, then let the server answer.

    The server processes the request after the last one; its answer is sent even if the request
    asked for no positive response (ISO 14229-1 §7.5: never suppressed after a 0x78).
    """

    count: int
    interval_s: float = DEFAULT_PENDING_INTERVAL_S

    def __post_init__(self) -> None:
        _check_int("count", self.count, 1, MAX_EXTRA_PENDING, f"an int 1..{MAX_EXTRA_PENDING}")
        _check_seconds("interval_s", self.interval_s, MAX_DELAY_S)
        if self.count * self.interval_s > MAX_DELAY_S:
            raise ConfigurationError(
                f"{self.count} x {self.interval_s:g} s of 0x78 exceeds {MAX_DELAY_S:g} s"
            )

    def describe(self) -> str:
        return f"{self.count} extra 0x78"


FaultAction = Delay | Drop | ForceNrc | ExtraPending


class RuleMatch(TypedDict, total=False):
    """The filters every :class:`FaultPlan` shortcut takes (see :class:`FaultRule`)."""

    sid: int | None
    sub_function: int | None
    data: bytes | None
    ecu: str | None
    times: int | None


@dataclass(frozen=True, eq=False)
class FaultRule:
    """Which requests a fault applies to, and how often.

    ``sid``: the request SID (``None``: any). ``sub_function``: the first byte after the SID with
    the suppressPosRspMsgIndicationBit ignored (ISO 14229-1 §8.3). ``data``: the bytes right after
    the SID start with these (e.g. ``bytes([0x01, 0x02, 0x01])``: startRoutine 0x0201).
    ``ecu``: the node's name (a vehicle's ``ecu.name``; ``None``: any). ``times``: uses before the
    rule is spent (``None``: never spent). Rules compare by identity.
    """

    action: FaultAction
    sid: int | None = None
    sub_function: int | None = None
    data: bytes | None = None
    ecu: str | None = None
    times: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.action, Delay | Drop | ForceNrc | ExtraPending):
            raise ConfigurationError(f"unknown fault action {self.action!r}")
        if self.sid is not None:
            sid = _check_int("sid", self.sid, 0x00, 0xFF, "a request SID byte")
            if sid & 0x40:  # ISO 14229-1 §7.2 Table 2: bit 6 is set in response SIDs only
                raise ConfigurationError(
                    f"sid 0x{sid:02X} is a response SID: give a request SID "
                    "(0x00-0x3F or 0x80-0xBF, ISO 14229-1 Table 2)"
                )
        if self.sub_function is not None:
            _check_int(
                "sub_function",
                self.sub_function,
                0x00,
                0x7F,
                "0x00..0x7F (the suppress bit 0x80 is ignored when matching)",
            )
        if self.data is not None:
            if not isinstance(self.data, bytes | bytearray) or not self.data:
                raise ConfigurationError(f"data must be non-empty bytes, got {self.data!r}")
            object.__setattr__(self, "data", bytes(self.data))
        if self.ecu is not None and (not isinstance(self.ecu, str) or not self.ecu):
            raise ConfigurationError(f"ecu must be a node name, got {self.ecu!r}")
        if self.times is not None:
            _check_int("times", self.times, 1, 2**31, "None or a positive int")

    def matches(self, ecu: str, payload: bytes) -> bool:
        if not payload:
            return False
        if self.ecu is not None and ecu != self.ecu:
            return False
        if self.sid is not None and payload[0] != self.sid:
            return False
        if self.sub_function is not None and (
            len(payload) < 2 or payload[1] & ~SUPPRESS_POSITIVE_RESPONSE_BIT != self.sub_function
        ):
            return False
        return self.data is None or payload[1:].startswith(self.data)

    def describe(self) -> str:
        where = [] if self.ecu is None else [f"on {self.ecu}"]
        what = "any request" if self.sid is None else f"SID 0x{self.sid:02X}"
        if self.sub_function is not None:
            what += f" sub-function 0x{self.sub_function:02X}"
        if self.data is not None:
            what += f" data {self.data.hex(' ').upper()}"
        times = "" if self.times is None else f" ({self.times} times)"
        return " ".join([self.action.describe(), "for", what, *where]) + times


class FaultPlan:
    """The rules in force, first match wins (in the order they were added). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._uses_left: dict[int, int | None] = {}

    def add(self, rule: FaultRule) -> FaultRule:
        if not isinstance(rule, FaultRule):
            raise ConfigurationError(f"not a FaultRule: {rule!r}")
        with self._lock:
            self._rules.append(rule)
            self._uses_left[id(rule)] = rule.times
        return rule

    def delay(self, seconds: float, **match: Unpack[RuleMatch]) -> FaultRule:
        """Matching responses go out ``seconds`` of real time late (:class:`Delay`)."""
        return self.add(FaultRule(Delay(seconds), **match))

    def drop(self, **match: Unpack[RuleMatch]) -> FaultRule:
        """Matching requests are processed but not answered (:class:`Drop`)."""
        return self.add(FaultRule(Drop(), **match))

    def force_nrc(self, nrc: int | str, **match: Unpack[RuleMatch]) -> FaultRule:
        """Matching requests are answered ``7F <sid> <nrc>``, unprocessed (:class:`ForceNrc`);
        ``nrc`` an int, ``"0x22"`` or a name such as ``"conditionsNotCorrect"``
        (:func:`nrc_code`)."""
        return self.add(FaultRule(ForceNrc(nrc_code(nrc)), **match))

    def extra_pending(
        self,
        count: int,
        *,
        interval_s: float = DEFAULT_PENDING_INTERVAL_S,
        **match: Unpack[RuleMatch],
    ) -> FaultRule:
        """``count`` extra 0x78 before the server's answer (:class:`ExtraPending`)."""
        return self.add(FaultRule(ExtraPending(count, interval_s), **match))

    def remove(self, rule: FaultRule) -> bool:
        """Withdraw ``rule``; ``False`` if it was not in force (spent, cleared or never added)."""
        with self._lock:
            for index, candidate in enumerate(self._rules):
                if candidate is rule:
                    del self._rules[index]
                    self._uses_left.pop(id(rule), None)
                    return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._uses_left.clear()

    def rules(self) -> tuple[FaultRule, ...]:
        """The rules still in force."""
        with self._lock:
            return tuple(self._rules)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)

    def take(self, ecu: str, payload: bytes) -> FaultRule | None:
        """The first rule in force matching this request, one of its uses consumed."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(ecu, payload):
                    continue
                left = self._uses_left[id(rule)]
                if left is not None:
                    if left <= 1:
                        del self._rules[index]
                        del self._uses_left[id(rule)]
                    else:
                        self._uses_left[id(rule)] = left - 1
                return rule
        return None


# -- the record --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request a node received, and what it sent back.

    ``time``: arrival on the node's protocol clock. ``response``: the final response actually
    sent (``None``: none — suppressed, dropped, or not sent yet). ``responses``: everything sent
    for it in order, 0x78s included. ``fault``: the fault applied (``None``: none).
    """

    ecu: str
    time: float
    addressing: Addressing
    request: bytes
    response: bytes | None = None
    fault: str | None = None
    responses: tuple[bytes, ...] = field(default=())

    @property
    def sid(self) -> int:
        return self.request[0]

    @property
    def has_sub_function(self) -> bool:
        """Whether the request's service takes a sub-function (ISO 14229-1, each service's
        request definition; :data:`SERVICES_WITH_SUB_FUNCTION`) and the request carries one."""
        return self.sid in SERVICES_WITH_SUB_FUNCTION and len(self.request) >= 2

    @property
    def sub_function(self) -> int | None:
        """The sub-function: the second byte with the suppressPosRspMsgIndicationBit (0x80)
        masked (ISO 14229-1 §8.3 Table 9); ``None`` for a service without one (0x22, 0x2E…)."""
        if not self.has_sub_function:
            return None
        return self.request[1] & ~SUPPRESS_POSITIVE_RESPONSE_BIT & 0xFF

    @property
    def suppress_positive_response(self) -> bool:
        """The suppressPosRspMsgIndicationBit of the sub-function (``False`` without one)."""
        return self.has_sub_function and bool(self.request[1] & SUPPRESS_POSITIVE_RESPONSE_BIT)

    @property
    def data(self) -> bytes:
        """The request's parameters: the bytes after the SID and, for a service with a
        sub-function, after the sub-function (``31 01 02 01`` → ``02 01``). Unlike a fault
        rule's ``data=``, which starts right after the SID."""
        return self.request[2:] if self.has_sub_function else self.request[1:]

    @property
    def did(self) -> int | None:
        """The data identifier of a ReadDataByIdentifier (its first one), WriteDataByIdentifier
        or InputOutputControlByIdentifier request (ISO 14229-1 §11.2, §11.7, §13.2); ``None``
        for other services or a request too short to hold one."""
        if self.sid not in _SERVICES_WITH_DID or len(self.request) < 3:
            return None
        return int.from_bytes(self.request[1:3], "big")

    @property
    def routine_id(self) -> int | None:
        """The routine identifier of a RoutineControl request (ISO 14229-1 §14.2)."""
        if self.sid != int(Sid.ROUTINE_CONTROL) or len(self.request) < 4:
            return None
        return int.from_bytes(self.request[2:4], "big")

    @property
    def positive(self) -> bool:
        """Whether the final response is positive (request SID + 0x40, ISO 14229-1 §8.6)."""
        return self.response is not None and self.response[:1] == bytes([self.sid | 0x40])

    @property
    def nrc(self) -> int | None:
        """The NRC of a negative final response (``None``: positive or no response)."""
        response = self.response
        if response is None or len(response) < 3 or response[0] != NEGATIVE_RESPONSE_SID:
            return None
        return response[2]

    def describe(self) -> str:
        answer = "-" if self.response is None else self.response.hex(" ").upper()
        fault = "" if self.fault is None else f" [{self.fault}]"
        return (
            f"{self.ecu} {self.addressing.value} {self.request.hex(' ').upper()} -> {answer}{fault}"
        )


class RequestLog:
    """Every request received, in order of arrival; shared by the nodes of a car. Thread-safe.

    Keeps the last ``max_records`` records (:data:`DEFAULT_MAX_RECORDS`).
    """

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        _check_int("max_records", max_records, 1, 2**31, "a positive int")
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._forgotten = 0
        """Records that fell off the front (a ticket minus this is an index)."""
        self._changed = threading.Condition(threading.RLock())

    def begin(
        self,
        ecu: str,
        time: float,
        addressing: Addressing,
        request: bytes,
        fault: str | None = None,
    ) -> int:
        """Record a request as it arrives; returns the ticket for :meth:`responded`."""
        record = RecordedRequest(ecu, time, addressing, bytes(request), None, fault)
        with self._changed:
            if len(self._records) == self._records.maxlen:
                self._forgotten += 1
            self._records.append(record)
            ticket = self._forgotten + len(self._records) - 1
            self._changed.notify_all()
        return ticket

    def responded(self, ticket: int, response: bytes) -> None:
        """A response was sent for the request of ``ticket`` (final unless it is a 0x78)."""
        with self._changed:
            index = ticket - self._forgotten
            if not 0 <= index < len(self._records):
                return  # forgotten or cleared meanwhile
            old = self._records[index]
            final = old.response if _is_response_pending(response) else bytes(response)
            self._records[index] = RecordedRequest(
                old.ecu,
                old.time,
                old.addressing,
                old.request,
                final,
                old.fault,
                (*old.responses, bytes(response)),
            )
            self._changed.notify_all()

    def all(self) -> tuple[RecordedRequest, ...]:
        with self._changed:
            return tuple(self._records)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.all())

    def __len__(self) -> int:
        with self._changed:
            return len(self._records)

    def for_ecu(self, name: str) -> tuple[RecordedRequest, ...]:
        return tuple(record for record in self.all() if record.ecu == name)

    def sids(self, ecu: str | None = None) -> list[int]:
        """The SIDs of the requests in order (of one node's only, with ``ecu``)."""
        return [record.sid for record in self.all() if ecu is None or record.ecu == ecu]

    def last(self) -> RecordedRequest | None:
        with self._changed:
            return self._records[-1] if self._records else None

    def clear(self) -> None:
        with self._changed:
            self._forgotten += len(self._records)
            self._records.clear()
            self._changed.notify_all()

    def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 5.0
    ) -> RecordedRequest:
        """The first record satisfying ``predicate`` (already there or to come), waiting at most
        ``timeout`` real seconds (≤ :data:`MAX_WAIT_S`); ``TimeoutError`` naming what was seen.
        A record changes when its response is sent: wait for ``r.response is not None`` too."""
        limit = _check_seconds("timeout", timeout, MAX_WAIT_S)
        found: list[RecordedRequest] = []

        def ready() -> bool:
            found[:] = [record for record in self._records if predicate(record)][:1]
            return bool(found)

        with self._changed:
            if self._changed.wait_for(ready, timeout=limit):
                return found[0]
            seen = [record.describe() for record in list(self._records)[-5:]]
        raise TimeoutError(
            f"no recorded request matched within {limit:g} s; the last ones: {seen or 'none'}"
        )


# -- the interceptor ---------------------------------------------------------------------------


def _without_suppress_bit(server: UdsServer, payload: bytes) -> bytes:
    """The request as the server must process it after a 0x78: the final response is never
    suppressed (ISO 14229-1 §7.5), so the suppressPosRspMsgIndicationBit of a service with a
    sub-function is cleared — as the server does for its own pending work."""
    handler = server.services.get(payload[0])
    if handler is None or not handler.has_sub_function or len(payload) < 2:
        return payload
    request = Request(payload, Addressing.PHYSICAL, 0.0)
    if not request.suppress_positive_response:
        return payload
    return payload[:1] + bytes([request.sub_function]) + payload[2:]


class _Answer:
    """Sends one request's responses (or not) and records them."""

    def __init__(
        self, exchange: RequestExchange, log: RequestLog | None, ticket: int | None
    ) -> None:
        self.exchange = exchange
        self.log = log
        self.ticket = ticket
        self.muted = False

    def send(self, response: bytes) -> None:
        if self.muted:
            return
        self.exchange.send(response)
        if self.log is not None and self.ticket is not None:
            self.log.responded(self.ticket, response)


class FaultInjector:
    """A :class:`~protocol.isotp_binding.RequestInterceptor` recording every request in ``log``
    and applying the first matching rule of ``plan`` (either may be ``None``). One injector can
    serve many bindings: it keeps no state of its own."""

    def __init__(self, plan: FaultPlan | None = None, log: RequestLog | None = None) -> None:
        self.plan = plan
        self.log = log

    def on_request(self, exchange: RequestExchange) -> LaterResponseHandler | None:
        payload = exchange.payload
        # ignored by the server (diagnostic-contract.md §2), not a request to record
        if not payload:
            exchange.process()
            return None
        rule = self.plan.take(exchange.node, payload) if self.plan is not None else None
        ticket = None
        if self.log is not None:
            fault = rule.action.describe() if rule is not None else None
            ticket = self.log.begin(
                exchange.node, exchange.received_at, exchange.addressing, payload, fault
            )
        answer = _Answer(exchange, self.log, ticket)
        action = rule.action if rule is not None else None
        if isinstance(action, ForceNrc):
            answer.send(bytes([NEGATIVE_RESPONSE_SID, payload[0], action.nrc]))
            return None
        if isinstance(action, ExtraPending):
            for _ in range(action.count):
                answer.send(_response_pending(payload[0]))
                if not exchange.wait(action.interval_s):
                    return None  # the node is stopping
            payload = _without_suppress_bit(exchange.server, payload)
        response = exchange.process(payload)
        if isinstance(action, Drop):
            answer.muted = True
        elif (
            response is not None and isinstance(action, Delay) and not exchange.wait(action.seconds)
        ):
            return None  # the node is stopping
        if response is not None:
            answer.send(response)
        return answer.send
