"""The passive decoder: python-can messages in, exchanges and state changes out."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import can

from dbc import body
from ecusim.catalog import ModelYear
from ecusim.tool.targets import CERTIFICATION, ENGINE, IMMOBILIZER, Target, targets_for
from ecusim.wire.car_state import CarState, StateChange
from ecusim.wire.exchange import DEFAULT_TIMING, Exchange
from ecusim.wire.reassembly import Payload, Reassembler

FUNCTIONAL_ID: Final = 0x7DF
"""The OBD functional request ID (ISO 15765-4 §6.3.2.2; diagnostic-contract.md §1)."""
FIRST_DIAGNOSTIC_ID: Final = 0x700
"""Body and lab control frames are below this ID, diagnostics at or above (contract §6)."""
NO_RESPONSE_SLACK_S: Final = 1.0
"""How long past P2 (P2* after a 0x78) an exchange waits before it is closed unanswered."""
DEFAULT_TARGETS: Final = (ENGINE, IMMOBILIZER, CERTIFICATION)
MAX_QUEUED: Final = 10_000
"""Events kept for :meth:`WireDecoder.drain` (the oldest go first if nobody drains)."""
MAX_NOTES: Final = 100

Event = Exchange | StateChange


@dataclass(frozen=True)
class _Channel:
    node: str
    from_tester: bool
    extended_address: int | None


def model_targets(model_year: ModelYear | None) -> list[Target]:
    """The car's diagnosable nodes (the support chart's addresses), or the contract's."""
    if model_year is None:
        return list(DEFAULT_TARGETS)
    engine, keys = targets_for(model_year)
    return [engine, *(target for target in keys.values() if target.addressing != engine.addressing)]


class WireDecoder(can.Listener):
    """Feed it every frame of the bus (``on_message_received``, thread-safe); finished events
    go to each ``on_event`` callback and queue up for :meth:`drain`."""

    def __init__(
        self,
        targets: Iterable[Target] = DEFAULT_TARGETS,
        *,
        functional_id: int | None = FUNCTIONAL_ID,
    ) -> None:
        self._lock = threading.RLock()
        self.targets = list(targets)
        self.state = CarState([target.name for target in self.targets])
        self._channels: dict[tuple[int, int | None], _Channel] = {}
        self._assemblers: dict[tuple[int, int | None], Reassembler] = {}
        for target in self.targets:
            a = target.addressing
            ext = a.extended_address
            self._channels.setdefault((a.request_id, ext), _Channel(target.name, True, ext))
            self._channels.setdefault((a.response_id, ext), _Channel(target.name, False, ext))
        self._functional_id = functional_id
        self._functional_nodes = [
            t.name for t in self.targets if t.addressing.extended_address is None
        ]
        self._open: dict[str, Exchange] = {}
        self._queue: collections.deque[Event] = collections.deque(maxlen=MAX_QUEUED)
        self.callbacks: list[Callable[[Event], None]] = []
        self.notes: collections.deque[str] = collections.deque(maxlen=MAX_NOTES)
        """Frames that broke ISO-TP, answers to no request, body frames the DBC refuses."""
        self.frames = 0

    # -- input --------------------------------------------------------------------------------

    def on_message_received(self, msg: can.Message) -> None:
        if msg.is_error_frame or msg.is_remote_frame:
            return
        with self._lock:
            self.frames += 1
            data = bytes(msg.data)
            if msg.arbitration_id < FIRST_DIAGNOSTIC_ID:
                self._body(msg)
            elif msg.is_extended_id:
                pass  # the contract's diagnostics are on 11-bit IDs (§1)
            elif msg.arbitration_id == self._functional_id:
                self._diagnostic((msg.arbitration_id, None), None, data, msg.timestamp)
            else:
                ext = data[0] if data else None
                key = (msg.arbitration_id, ext)
                if key not in self._channels:
                    key = (msg.arbitration_id, None)
                channel = self._channels.get(key)
                if channel is not None:
                    self._diagnostic(key, channel, data, msg.timestamp)
            self._expire(msg.timestamp)

    def _body(self, msg: can.Message) -> None:
        try:
            decoded = body.decode_message(msg)
        except body.BodyMessageError as exc:
            self.notes.append(str(exc))
            return
        if decoded is not None:
            name, values = decoded
            self._emit(self.state.apply_body(msg.timestamp, name, values))

    def _diagnostic(
        self, key: tuple[int, int | None], channel: _Channel | None, data: bytes, time: float
    ) -> None:
        assembler = self._assemblers.setdefault(key, Reassembler())
        offset = 1 if channel is not None and channel.extended_address is not None else 0
        payload = assembler.feed(data[offset:], time)
        if assembler.notes:
            self.notes.extend(f"0x{key[0]:03X}: {note}" for note in assembler.notes)
            assembler.notes.clear()
        if payload is None:
            return
        if channel is None:  # a functional request: to every normally addressed node
            for node in self._functional_nodes:
                self._request(node, payload, functional=True)
        elif channel.from_tester:
            self._request(channel.node, payload, functional=False)
        else:
            self._response(channel.node, payload)

    def _request(self, node: str, payload: Payload, *, functional: bool) -> None:
        previous = self._open.pop(node, None)
        if previous is not None:
            self._finish(previous)
        p2, p2_star = self.state.timing.get(node, (DEFAULT_TIMING.p2_s, DEFAULT_TIMING.p2_star_s))
        self._open[node] = Exchange(node, payload, functional, p2, p2_star)

    def _response(self, node: str, payload: Payload) -> None:
        exchange = self._open.get(node)
        if exchange is None:
            self.notes.append(f"{node}: an answer to no request seen: {payload.data.hex(' ')}")
            return
        if exchange.add(payload):
            del self._open[node]
            self._finish(exchange)

    def _finish(self, exchange: Exchange) -> None:
        self._emit([exchange])
        self._emit(self.state.apply_exchange(exchange))

    def _emit(self, events: Iterable[Event]) -> None:
        for event in events:
            self._queue.append(event)
            for callback in self.callbacks:
                callback(event)

    def _expire(self, now: float) -> None:
        for node, exchange in list(self._open.items()):
            last = exchange.pending[-1].start if exchange.pending else exchange.request.end
            limit = exchange.p2_star_s if exchange.pending else exchange.p2_s
            if now - last > limit + NO_RESPONSE_SLACK_S:
                del self._open[node]
                self._finish(exchange)

    # -- output -------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Close the exchanges whose answer is overdue at ``now`` (a quiet bus has no frames
        to do it)."""
        with self._lock:
            self._expire(now)

    def drain(self) -> list[Event]:
        """The events finished since the last call, in order."""
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            return events

    def in_progress(self) -> list[Exchange]:
        with self._lock:
            return list(self._open.values())


def event_line(event: Event) -> str:
    """One log line: local time to the millisecond, then the exchange or the change."""
    stamp = datetime.fromtimestamp(event.time).strftime("%H:%M:%S.%f")[:-3]
    if isinstance(event, Exchange):
        return f"{stamp} {event.node}: {event.describe()}"
    return f"{stamp} {event.describe()}"
