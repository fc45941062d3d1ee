"""Binds a :class:`~protocol.uds.server.UdsServer` to CAN through can-isotp (ISO 15765-2).

One node gets a physical stack (request ID → response ID) and, optionally, a functional stack
(e.g. 0x7DF) on the vehicle's single python-can ``Bus`` and ``Notifier``, using can-isotp's
``NotifierBasedCanStack`` so other listeners on the bus keep seeing every frame.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import can
import isotp

from protocol.clock import Clock, MonotonicClock
from protocol.constants import Addressing
from protocol.errors import ConfigurationError
from protocol.uds.server import UdsServer

logger = logging.getLogger(__name__)

CLASSIC_CAN_DLEN = 8
MAX_ISOTP_PAYLOAD = 0xFFFFFFFF
"""ISO 15765-2:2016 allows 32-bit FF_DL escapes; classic servers keep 4095."""
CAN_FD_DLEN = 64
RECV_TIMEOUT_S = 0.2
"""How long a receive thread blocks before it checks for a stop request."""
BUSY_POLL_S = 0.005
"""Timer granularity while work is pending (0x78 must go out well within P2*)."""
IDLE_POLL_S = 0.1
"""Timer granularity otherwise (S3 expiry is also checked lazily on every request)."""
DEFAULT_N_WFT_MAX = 10
"""N_WFTmax (ISO 15765-2 §9.6.5, §9.7): the standard leaves the value to the system; 10 WAITs
at the default N_Bs of 1 s let a tester hold a response for up to 11 s, and a tester that never
stops waiting is cut off."""
MAX_N_WFT_MAX = 0xFF
RESERVED_STMIN_STANDIN = 0x7F
"""What a sender uses for a reserved STmin (ISO 15765-2 §9.6.5.4): 0x7F, 127 ms."""
MAX_INTERCEPT_WAIT_S = 60.0
"""Longest single :meth:`RequestExchange.wait` (a fault's delay is bounded, never endless)."""


@dataclass(frozen=True)
class IsoTpAddressing:
    """CAN identifiers of one node (diagnostic-contract.md §1).

    ``request_id``/``response_id``: physical 11-bit IDs. ``functional_id``: the functional
    request ID (``None``: none). ``extended_address``: the ISO 15765-2 extended-addressing byte
    (N_TA), carried as the first data byte of every frame and echoed in responses — Toyota's
    0x750 + sub-address scheme; ``None`` for normal addressing.
    """

    request_id: int
    response_id: int
    functional_id: int | None = None
    extended_address: int | None = None

    def __post_init__(self) -> None:
        for name in ("request_id", "response_id", "functional_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 0x7FF:
                raise ConfigurationError(f"{name} must be an 11-bit CAN ID, got {value:#x}")
        if self.extended_address is not None and not 0 <= self.extended_address <= 0xFF:
            raise ConfigurationError(
                f"extended address must be a byte, got {self.extended_address}"
            )
        if self.request_id == self.response_id:
            raise ConfigurationError("request and response IDs must differ")
        if self.functional_id in (self.request_id, self.response_id):
            # The same frame would reach two stacks (answered twice) or the node's own responses.
            raise ConfigurationError(
                f"functional ID 0x{self.functional_id:03X} must differ from the physical IDs"
            )

    def describe(self) -> str:
        ext = "" if self.extended_address is None else f" ext 0x{self.extended_address:02X}"
        func = "" if self.functional_id is None else f", functional 0x{self.functional_id:03X}"
        return f"0x{self.request_id:03X} -> 0x{self.response_id:03X}{ext}{func}"

    def physical(self) -> isotp.Address:
        """The node's side: receive on the request ID, answer on the response ID."""
        return self._address(rxid=self.request_id, txid=self.response_id)

    def functional(self) -> isotp.Address | None:
        if self.functional_id is None:
            return None
        return self._address(rxid=self.functional_id, txid=self.response_id)

    def tester_address(self) -> isotp.Address:
        """The tester's side of the physical pair: send on the request ID, receive on the
        response ID (the same address byte under extended addressing)."""
        return self._address(rxid=self.response_id, txid=self.request_id)

    def _address(self, *, rxid: int, txid: int) -> isotp.Address:
        if self.extended_address is None:
            return isotp.Address(isotp.AddressingMode.Normal_11bits, txid=txid, rxid=rxid)
        return isotp.Address(
            isotp.AddressingMode.Extended_11bits,
            txid=txid,
            rxid=rxid,
            target_address=self.extended_address,
            source_address=self.extended_address,
        )


@dataclass(frozen=True)
class IsoTpParameters:
    """Transport parameters in seconds (converted to can-isotp's milliseconds at the boundary).

    ``padding``: pad byte for classic frames to 8 bytes (``None``: no padding; default 0xCC,
    diagnostic-contract.md §1). ``fd``: CAN-FD frames up to 64 bytes. ``block_size``/``st_min_s``:
    the server's flow control (BS, STmin; ISO 15765-2 §9.6.5). ``n_bs_s``/``n_cr_s``: how long to
    wait for a flow control / the next consecutive frame (N_Bs, N_Cr). ``n_wft_max``: N_WFTmax,
    how many flow-control WAITs in a row the node accepts as a sender, each restarting N_Bs;
    one more aborts the transfer (N_WFT_OVRN; ISO 15765-2 §9.6.5, §9.7, 0 = WAIT not allowed).
    """

    padding: int | None = 0xCC
    fd: bool = False
    bitrate_switch: bool = False
    block_size: int = 0
    st_min_s: float = 0.0
    n_bs_s: float = 1.0
    n_cr_s: float = 1.0
    n_wft_max: int = DEFAULT_N_WFT_MAX
    max_payload: int = 4095
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Further can-isotp parameters, by can-isotp's names and units (applied last)."""

    def __post_init__(self) -> None:
        if self.padding is not None and not 0 <= self.padding <= 0xFF:
            raise ConfigurationError(f"padding must be a byte, got {self.padding}")
        if not 0 <= self.block_size <= 0xFF:
            raise ConfigurationError(f"block size must be 0..255, got {self.block_size}")
        if not (math.isfinite(self.st_min_s) and 0 <= self.st_min_s <= 0.127):
            raise ConfigurationError(f"STmin must be 0..0.127 s, got {self.st_min_s}")
        for name in ("n_bs_s", "n_cr_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.001):
                raise ConfigurationError(f"{name} must be a finite time ≥ 0.001 s, got {value}")
        if isinstance(self.n_wft_max, bool) or not 0 <= self.n_wft_max <= MAX_N_WFT_MAX:
            raise ConfigurationError(
                f"N_WFTmax must be an integer 0..{MAX_N_WFT_MAX}, got {self.n_wft_max}"
            )
        if not 1 <= self.max_payload <= MAX_ISOTP_PAYLOAD:
            raise ConfigurationError(
                f"max payload must be 1..{MAX_ISOTP_PAYLOAD} bytes, got {self.max_payload}"
            )
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def to_isotp(self) -> dict[str, Any]:
        """can-isotp ``params`` (its units: ms, raw STmin byte)."""
        params: dict[str, Any] = {
            "stmin": _stmin_byte(self.st_min_s),
            "blocksize": self.block_size,
            "rx_flowcontrol_timeout": math.ceil(self.n_bs_s * 1000),
            "rx_consecutive_frame_timeout": math.ceil(self.n_cr_s * 1000),
            "wftmax": self.n_wft_max,
            "tx_padding": self.padding,
            "tx_data_length": CAN_FD_DLEN if self.fd else CLASSIC_CAN_DLEN,
            "tx_data_min_length": CLASSIC_CAN_DLEN if self.padding is not None else None,
            "can_fd": self.fd,
            "bitrate_switch": self.bitrate_switch,
            "max_frame_size": self.max_payload,
            "blocking_send": False,
        }
        params.update(self.extra)
        return params

    def single_frame_capacity(self, extended: bool) -> int:
        """Largest payload of a single frame (ISO 15765-2 Table 10): 7 (6 extended) on classic
        CAN, 62 (61) with the CAN-FD escape sequence."""
        overhead = 1 if extended else 0
        return (CAN_FD_DLEN - 2 if self.fd else CLASSIC_CAN_DLEN - 1) - overhead


def _stmin_byte(st_min_s: float) -> int:
    """Encode STmin (ISO 15765-2 Table 20): 0x00-0x7F ms, 0xF1-0xF9 = 100-900 µs."""
    micro = round(st_min_s * 1_000_000)
    if 0 < micro < 1000:
        return 0xF0 + max(1, min(9, round(micro / 100)))
    return round(micro / 1000)


def is_reserved_stmin(value: int) -> bool:
    """STmin 0x80-0xF0 and 0xFA-0xFF are reserved (ISO 15765-2 §9.6.5.4, Table 20)."""
    return 0x80 <= value <= 0xF0 or 0xFA <= value <= 0xFF


def with_reserved_stmin_as_127_ms(data: bytes, prefix_size: int) -> bytes:
    """``data`` of a received frame; a flow control's reserved STmin replaced by 0x7F, as ISO
    15765-2 §9.6.5.4 has the sender read it. ``prefix_size``: 1 under extended addressing."""
    at = prefix_size + 2  # PCI (FS), BS, STmin
    if len(data) > at and data[prefix_size] >> 4 == 0x3 and is_reserved_stmin(data[at]):
        return data[:at] + bytes([RESERVED_STMIN_STANDIN]) + data[at + 1 :]
    return data


class AddressedCanStack(isotp.NotifierBasedCanStack):
    """A ``NotifierBasedCanStack`` that drops frames not addressed to it on the Notifier thread.

    can-isotp queues every frame of the bus and checks the ID two thread hand-offs later, so each
    stack of each ECU woke for every frame on the bus. Filtering here (CAN ID, and the address
    byte under extended addressing) keeps a node's latency independent of its neighbours
    (docs/performance.md).
    """

    def __init__(
        self,
        bus: can.BusABC,
        notifier: can.Notifier,
        *,
        rx_id: int,
        extended_address: int | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(bus, notifier, **kwargs)
        self.rx_id = rx_id
        self.extended_address = extended_address

    def _on_message_received(self, msg: can.Message) -> None:
        if msg.arbitration_id != self.rx_id or msg.is_extended_id:
            return
        if self.extended_address is not None and (
            not msg.data or msg.data[0] != self.extended_address
        ):
            return
        super()._on_message_received(msg)

    def _rx_canbus(self, timeout: float) -> isotp.CanMessage | None:
        """can-isotp's frame reader (private, can-isotp 2.0.x, pinned in pyproject.toml), with a
        reserved STmin read as 127 ms: can-isotp 2.0.7 refuses such a flow control as invalid,
        and the transfer then dies at N_Bs (issue 15). The frame is copied, never changed, so
        the bus's other listeners see what was sent."""
        msg = super()._rx_canbus(timeout)
        if msg is None:
            return None
        prefix_size = 0 if self.extended_address is None else 1
        data = with_reserved_stmin_as_127_ms(bytes(msg.data), prefix_size)
        if data == msg.data:
            return msg
        return isotp.CanMessage(
            arbitration_id=msg.arbitration_id,
            dlc=msg.dlc,
            data=data,
            extended_id=msg.is_extended_id,
            is_fd=msg.is_fd,
            bitrate_switch=msg.bitrate_switch,
        )


LaterResponseHandler = Callable[[bytes], None]
"""Receives each response the server produces later for one request (a repeated 0x78, the final
response after a 0x78); it sends it with :meth:`RequestExchange.send`, or not."""


class RequestExchange:
    """One received request, handed to a :class:`RequestInterceptor` (under the binding's I/O
    lock, in the receiving thread): what arrived, and the binding's means to answer it."""

    def __init__(
        self, binding: UdsIsoTpBinding, payload: bytes, addressing: Addressing, received_at: float
    ) -> None:
        self.node = binding.name
        """The binding's ``name`` (an ECU's name in a vehicle)."""
        self.payload = payload
        self.addressing = addressing
        self.received_at = received_at
        """Protocol-clock time of arrival."""
        self.server = binding.server
        self._binding = binding

    def process(self, payload: bytes | None = None) -> bytes | None:
        """Have the server handle the request (or ``payload`` in its place) now; return what it
        wants sent now (``None``: nothing). Call it at most once."""
        request = self.payload if payload is None else payload
        return self.server.handle(request, self.addressing, self._binding.clock.now())

    def send(self, response: bytes) -> None:
        """Send ``response`` to the tester (physical response ID)."""
        self._binding._send(response)

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` of real time (at most :data:`MAX_INTERCEPT_WAIT_S`); ``False`` as
        soon as the binding is stopping (then send nothing more)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"a wait must be a finite time ≥ 0 s, got {seconds}")
        return not self._binding._stop.wait(min(seconds, MAX_INTERCEPT_WAIT_S))


@runtime_checkable
class RequestInterceptor(Protocol):
    """Answers each received request in the server's place (fault injection, request records).

    A binding without one sends ``exchange.process()``'s response, and later responses as they
    come. ``on_request`` runs under the binding's I/O lock, so nothing the node sends can
    overtake what it sends (a final response never goes out before its 0x78); anything it waits
    must use :meth:`RequestExchange.wait` (bounded, ended by ``stop()``). It returns the
    handler of this request's later responses (``None``: send them unchanged).
    """

    def on_request(self, exchange: RequestExchange) -> LaterResponseHandler | None: ...


class UdsIsoTpBinding:
    """Runs one server on a python-can bus. :meth:`start`/:meth:`stop`; usable as a context
    manager. Threads: one receiver per stack and a timer for 0x78 repeats and S3.

    ``interceptor``: answers each request in the server's place (:class:`RequestInterceptor`,
    e.g. :class:`protocol.uds.faults.FaultInjector`); ``None``: the server's answers as they are.
    """

    def __init__(
        self,
        server: UdsServer,
        bus: can.BusABC,
        notifier: can.Notifier,
        addressing: IsoTpAddressing,
        *,
        parameters: IsoTpParameters | None = None,
        clock: Clock | None = None,
        name: str = "uds",
        interceptor: RequestInterceptor | None = None,
    ) -> None:
        self.server = server
        self.bus = bus
        self.notifier = notifier
        self.addressing = addressing
        self.parameters = parameters if parameters is not None else IsoTpParameters()
        self.clock = clock if clock is not None else MonotonicClock()
        self.name = name
        self.interceptor = interceptor
        self._later: LaterResponseHandler | None = None
        """The interceptor's handler of the pending request's later responses."""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._physical: AddressedCanStack | None = None
        self._functional: AddressedCanStack | None = None
        self._io_lock = threading.Lock()

    def __enter__(self) -> UdsIsoTpBinding:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._later = None
        params = self.parameters.to_isotp()
        extended = self.addressing.extended_address
        self._physical = AddressedCanStack(
            self.bus,
            self.notifier,
            rx_id=self.addressing.request_id,
            extended_address=extended,
            address=self.addressing.physical(),
            params=params,
            error_handler=self._on_isotp_error,
        )
        functional_address = self.addressing.functional()
        if functional_address is not None and self.addressing.functional_id is not None:
            # listen_mode: never send a flow control, so multi-frame functional requests (not
            # allowed by ISO 15765-2 §6.5.5) die unanswered.
            self._functional = AddressedCanStack(
                self.bus,
                self.notifier,
                rx_id=self.addressing.functional_id,
                extended_address=extended,
                address=functional_address,
                params={**params, "listen_mode": True},
                error_handler=self._on_isotp_error,
            )
        self.server.power_on(self.clock.now())
        stacks = [(self._physical, Addressing.PHYSICAL)]
        if self._functional is not None:
            stacks.append((self._functional, Addressing.FUNCTIONAL))
        for stack, kind in stacks:
            stack.start()
            self._spawn(f"{self.name}-rx-{kind.value}", self._receive_loop, stack, kind)
        self._spawn(f"{self.name}-timer", self._timer_loop)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()
        for stack in (self._physical, self._functional):
            if stack is not None:
                stack.stop()
        self._physical = self._functional = None

    # -- threads -------------------------------------------------------------------------------

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _receive_loop(self, stack: AddressedCanStack, kind: Addressing) -> None:
        single_frame_max = self.parameters.single_frame_capacity(
            self.addressing.extended_address is not None
        )
        while not self._stop.is_set():
            payload = stack.recv(block=True, timeout=RECV_TIMEOUT_S)
            if payload is None:
                continue
            if kind is Addressing.FUNCTIONAL and len(payload) > single_frame_max:
                logger.debug("%s: multi-frame functional request ignored", self.name)
                continue
            self._guarded(self._answer, bytes(payload), kind)
            if self.server.is_busy:  # a 0x78 went out: the timer switches to its fast poll
                self._wake.set()

    def _answer(self, payload: bytes, kind: Addressing) -> None:
        # One lock around "compute and queue" for both threads, so a final response can never
        # be queued before the 0x78 that announced it.
        with self._io_lock:
            now = self.clock.now()
            if self.interceptor is None:
                response = self.server.handle(payload, kind, now)
                if response is not None:
                    self._send(response)
            else:
                was_busy = self.server.is_busy
                later = self.interceptor.on_request(RequestExchange(self, payload, kind, now))
                if not was_busy:  # the later responses are this request's, if any
                    self._later = later if self.server.is_busy else None
                now = self.clock.now()
            self.server.after_response(now)

    def _timer_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._timer_wait_s())
            self._wake.clear()
            self._guarded(self._poll)

    def _poll(self) -> None:
        with self._io_lock:
            now = self.clock.now()
            later = self._later
            for response in self.server.poll(now):
                if later is None:
                    self._send(response)
                else:
                    later(response)
            if not self.server.is_busy:
                self._later = None
            self.server.after_response(now)

    def _timer_wait_s(self) -> float:
        """Poll fast while work is pending, else by the next deadline (S3), at most
        :data:`IDLE_POLL_S` (the clock may run faster than real time)."""
        if self.server.is_busy:
            return BUSY_POLL_S
        deadline = self.server.next_deadline()
        if deadline is None:
            return IDLE_POLL_S
        return min(IDLE_POLL_S, max(BUSY_POLL_S, deadline - self.clock.now()))

    def _guarded(self, step: Any, *args: Any) -> None:
        """Run one step of a thread's loop; an unexpected error is logged and the node keeps
        serving (one bad request or a failing NVM must not leave it deaf)."""
        try:
            step(*args)
        except Exception as exc:
            logger.error("%s: %s failed: %r", self.name, getattr(step, "__name__", step), exc)

    def _send(self, payload: bytes) -> None:
        stack = self._physical
        if stack is None:
            return
        try:
            stack.send(payload)
        except Exception as exc:  # a full queue or a bus error must not kill the node
            logger.warning("%s: could not send %s: %r", self.name, payload[:8].hex(), exc)

    def _on_isotp_error(self, error: Exception) -> None:
        logger.info("%s: ISO-TP: %s", self.name, error)
