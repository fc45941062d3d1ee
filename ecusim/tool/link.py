"""The scan tool's connection to the car: udsoncan clients over can-isotp on a python-can bus.

One :class:`DiagnosticLink` per bus owns the bus's Notifier and one udsoncan client per node.
Every request goes through :meth:`DiagnosticLink.call`, which serialises the clients (udsoncan is
not thread-safe) and turns each failure into a :class:`~ecusim.tool.errors.ToolError` with a
sentence for the technician. :meth:`DiagnosticLink.keep_alive` sends TesterPresent while the
technician or the portal is busy, so the extended session (S3server = 5 s, ISO 14229-1 §7.2)
and its Seed Number survive.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

import can
import isotp
from udsoncan.client import Client
from udsoncan.exceptions import (
    InvalidResponseException,
    NegativeResponseException,
    TimeoutException,
    UnexpectedResponseException,
)
from udsoncan.typing import ClientConfig

from ecusim.tool.contract import client_config, open_client, raw_did_codecs
from ecusim.tool.errors import BusLostError, CarRefusedError, NoAnswerError, ToolError
from ecusim.tool.nrc_text import explain
from ecusim.tool.targets import Target
from protocol.can_bus import NOTIFIER_TIMEOUT_S, ReceiveWatch

_T = TypeVar("_T")
WireObserver = Callable[[Target, bytes, bool], None]
"""Called with the node, each UDS payload, and whether the tool sent it (else received)."""

UDS_CLIENT_NAME: Final = "ecusim.tool.uds"
"""The tool's udsoncan clients' ``logger_name``."""
UDS_LOGGER: Final = f"UdsClient[{UDS_CLIENT_NAME}]"
"""udsoncan's log of the tool's clients (udsoncan names it ``UdsClient[<logger_name>]``): the
tool explains every failure itself, so the CLI quiets it unless -v is given."""
REQUEST_TIMEOUT_S: Final = 2.0
"""P2 client timeout; the ECU's P2*server (5 s) applies after a 0x78 (ISO 14229-2 §7.2)."""
PENDING_TIMEOUT_S: Final = 6.0
"""How long to wait after each 0x78: P2*server (5 s) plus transport margin."""
PROBE_TIMEOUT_S: Final = 0.5
"""Waiting for a node that may not exist (identification)."""
PROBE_ATTEMPTS: Final = 2
"""A node silent for one probe is asked again before it counts as missing: a loaded machine or
a busy gateway can stall one answer past PROBE_TIMEOUT_S."""
KEEP_ALIVE_PERIOD_S: Final = 1.0
"""TesterPresent period: well inside S3server (5 s)."""
_TIMEOUT_KEYS: Final = ("p2_timeout", "request_timeout")
"""What a call with its own ``timeout_s`` changes, and puts back after."""


def tool_client_config(request_timeout_s: float = REQUEST_TIMEOUT_S) -> ClientConfig:
    """The contract's :func:`~ecusim.tool.contract.client_config` with the DID values as bytes
    (the tool decodes them itself), the tool's timeouts and its logger."""
    return client_config(
        data_identifiers=raw_did_codecs(),
        request_timeout=request_timeout_s + PENDING_TIMEOUT_S * 10,
        p2_timeout=request_timeout_s,
        p2_star_timeout=PENDING_TIMEOUT_S,
        # Our own timeouts: a car on a scaled clock reports P2 values of its own time base.
        use_server_timing=False,
        logger_name=UDS_CLIENT_NAME,
    )


def routine_record(response: object) -> bytes:
    """The routineStatusRecord of a udsoncan RoutineControl response (empty if none)."""
    service_data = getattr(response, "service_data", None)
    return bytes(getattr(service_data, "routine_status_record", b"") or b"")


class DiagnosticLink:
    """udsoncan clients to the car's nodes on ``bus`` (the caller keeps and shuts the bus)."""

    def __init__(
        self,
        bus: can.BusABC,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        on_wire: WireObserver | None = None,
    ) -> None:
        self.bus = bus
        self.request_timeout_s = request_timeout_s
        self.on_wire = on_wire
        """Shown every UDS payload sent (``True``) or received, with its node (``--wire``)."""
        self.receive_watch = ReceiveWatch()  # a dead bus is reported, not taken for silence
        self.notifier = can.Notifier(bus, [self.receive_watch], timeout=NOTIFIER_TIMEOUT_S)
        self._clients: dict[Target, Client] = {}
        self._lock = threading.RLock()
        self._closed = False

    def __enter__(self) -> DiagnosticLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self.notifier.stop()

    def client(self, target: Target) -> Client:
        """The (opened) udsoncan client of ``target``."""
        with self._lock:
            if self._closed:
                raise ToolError("the diagnostic link is closed")
            client = self._clients.get(target)
            if client is None:
                client = open_client(
                    self.bus,
                    self.notifier,
                    target.addressing,
                    config=tool_client_config(self.request_timeout_s),
                    observer=None
                    if self.on_wire is None
                    else functools.partial(self.on_wire, target),
                )
                self._clients[target] = client
            return client

    def call(
        self,
        target: Target,
        what: str,
        request: Callable[[Client], _T],
        *,
        context: str = "",
        timeout_s: float | None = None,
    ) -> _T:
        """``request(client)`` with the failures explained: a negative response becomes a
        :class:`CarRefusedError` (``what``: the step, ``context``: picks the NRC hint), no
        answer a :class:`ToolError`."""
        with self._lock:
            self._check_bus(what)
            client = self.client(target)
            usual = {key: client.config.get(key) for key in _TIMEOUT_KEYS}
            if timeout_s is not None:
                for key in _TIMEOUT_KEYS:
                    client.set_config(key, timeout_s)
            try:
                return request(client)
            except NegativeResponseException as exc:
                nrc = int(exc.response.code or 0)
                raise CarRefusedError(f"{what}: {explain(nrc, context)}", nrc) from exc
            except (TimeoutException, can.CanError, isotp.IsoTpError, OSError) as exc:
                self._check_bus(what)
                if not isinstance(exc, TimeoutException):
                    raise ToolError(f"{what}: CAN bus error: {exc}") from exc
                raise NoAnswerError(
                    f"{what}: no answer from the {target.describe()}: check the connection, "
                    "the bus bitrate and that the ignition is ON"
                ) from exc
            except (InvalidResponseException, UnexpectedResponseException) as exc:
                raise ToolError(
                    f"{what}: the {target.name} gave an answer the tool cannot read: {exc}"
                ) from exc
            finally:
                if timeout_s is not None:
                    for key, value in usual.items():
                        client.set_config(key, value)

    def _check_bus(self, what: str) -> None:
        """Raise :class:`BusLostError` once the bus is lost: no request can pass any more."""
        lost = self.receive_watch.error
        if lost is not None:
            raise BusLostError(f"{what}: lost the CAN bus ({lost!r})")

    def read(self, target: Target, did: int, what: str, **options: Any) -> bytes:
        """One DID's raw value (ReadDataByIdentifier 0x22)."""

        def request(client: Client) -> bytes:
            value = client.read_data_by_identifier_first(did)
            return value if isinstance(value, bytes) else b""

        value = self.call(target, what, request, **options)
        if not value:
            raise ToolError(f"{what}: DID 0x{did:04X} of the {target.name} carried no data")
        return value

    def read_byte(self, target: Target, did: int, *, context: str = "") -> int:
        """A one-byte DID's value (a count, a mode)."""
        return self.read(target, did, f"reading DID 0x{did:04X}", context=context)[0]

    def probe(self, target: Target, did: int) -> bytes | None:
        """``did`` of ``target`` if the node answers positively within a short time, else
        ``None`` (for finding out which nodes the car has)."""
        with self._lock:
            logger = self.client(target).logger
            quiet, logger.disabled = logger.disabled, True  # no answer is an answer here
            try:
                for _ in range(PROBE_ATTEMPTS):
                    try:
                        return self.read(target, did, "probe", timeout_s=PROBE_TIMEOUT_S)
                    except NoAnswerError:
                        continue  # silent this time: ask once more
                    except BusLostError:
                        raise  # not an answer about the node: nothing can answer any more
                    except ToolError:
                        return None  # it answered, negatively or unreadably: no retry
                return None
            finally:
                logger.disabled = quiet

    @contextlib.contextmanager
    def keep_alive(self, target: Target) -> Iterator[Callable[[], None]]:
        """Send TesterPresent to ``target`` every second until the block ends, so the
        extended session and its security state survive a wait (ISO 14229-1 §10.5).

        Yields a check to call during the wait: it raises :class:`ToolError` as soon as the car
        stopped answering (the session and its Seed Number are lost: waiting on is pointless).
        """
        stop = threading.Event()
        failures: list[ToolError] = []

        def run() -> None:
            while not stop.wait(KEEP_ALIVE_PERIOD_S):
                try:
                    self.call(target, "keeping the session", lambda c: c.tester_present())
                except ToolError as exc:
                    failures.append(exc)
                    return

        def check() -> None:
            if failures:
                raise ToolError(
                    f"the car stopped answering while the tool waited ({failures[0]}); the "
                    "diagnostic session and its Seed Number are lost: run the utility again"
                )

        thread = threading.Thread(target=run, name="tester-present", daemon=True)
        thread.start()
        try:
            yield check
        finally:
            stop.set()
            thread.join(timeout=REQUEST_TIMEOUT_S + PENDING_TIMEOUT_S)
        check()
