"""A readable summary of a bus trace: body frames decoded with the shipped DBC, diagnostic
frames reassembled with can-isotp and named with udsoncan and the contract
(:mod:`ecusim.wire.message_text`: services, sub-functions, DIDs, routines, NRCs).

Used by ``ecusim trace summarize`` and ``ecusim demo``; works on any trace python-can reads
(``can.LogReader``: .log, .asc, .blf, .csv, .trc). Not a program of its own: run
``ecusim trace summarize FILE``.
"""

from __future__ import annotations

import collections
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import can
import isotp

from dbc import body
from ecusim.errors import EcusimError
from ecusim.tool.targets import CERTIFICATION, ENGINE, IMMOBILIZER, Target
from ecusim.wire.message_text import describe
from protocol.isotp_binding import IsoTpAddressing

FIRST_DIAGNOSTIC_ID: Final = 0x700
"""Body and lab control frames are below this ID, diagnostics at or above
(diagnostic-contract.md §6)."""
UNTRACKED_SIGNALS: Final = frozenset(
    {"RollingCounter", "Sequence", "CommunicationId", "EngineSpeed", "WaitingPeriodRemaining"}
)
"""Signals that change all the time: counted, not listed change by change."""
MAX_CHANGES: Final = 12
FLOW_CONTROL: Final = 3
"""ISO 15765-2 §9.6.5: N_PCI type 3 is a flow control frame."""
MAX_PAYLOAD_BYTES: Final = 12
FUNCTIONAL = Target("functional", IsoTpAddressing(request_id=0x7DF, response_id=0x7E8))
DEFAULT_NODES: Final = (IMMOBILIZER, CERTIFICATION, ENGINE)
TIME_ORDER_TOLERANCE_S: Final = 0.1
"""How much earlier than the latest frame before it a frame may be: python-can stamps a frame
before it queues it, so two threads sending on one virtual bus (and ``candump -L any`` over
several interfaces) can write a frame a little out of order. More is a trace out of order."""
TRACE_SUFFIXES: Final = (".log", ".asc", ".blf", ".csv", ".trc")
"""What ``can.LogReader`` reads (candump -L, Vector ASC and BLF, python-can CSV, PCAN TRC)."""
GROUP_BODY: Final = "body"
GROUP_KEY_STATUS: Final = "immobilizer/certification status"
GROUP_LAB: Final = "lab control"
GROUP_DIAGNOSTICS: Final = "diagnostics"
GROUP_OTHER: Final = "not in the DBC"
FRAME_GROUPS: Final = (GROUP_BODY, GROUP_KEY_STATUS, GROUP_LAB, GROUP_DIAGNOSTICS, GROUP_OTHER)
"""The ID groups of :attr:`TraceSummary.frame_times`, by the DBC message's sender."""
_KEY_STATUS_SENDERS: Final = frozenset({"IMMOBILIZER", "CERTIFICATION"})


class TraceError(EcusimError):
    """The trace cannot be read: missing, not a trace python-can reads, or corrupt."""


def frame_group(arbitration_id: int) -> str:
    """The ID group of a frame: diagnostics (0x700 and up), else by the sender of its DBC
    message (the key-code ECUs' status, the lab's TESTER node, the rest of the body)."""
    if arbitration_id >= FIRST_DIAGNOSTIC_ID:
        return GROUP_DIAGNOSTICS
    try:
        senders = set(body.load_body_database().get_message_by_frame_id(arbitration_id).senders)
    except KeyError:
        return GROUP_OTHER
    if body.TESTER_NODE in senders:
        return GROUP_LAB
    return GROUP_KEY_STATUS if senders & _KEY_STATUS_SENDERS else GROUP_BODY


@dataclass
class UdsMessage:
    time: float
    node: str
    from_tester: bool
    payload: bytes

    @property
    def nrc(self) -> int | None:
        """The negative response code of a ``7F <sid> <nrc>`` answer, else ``None``."""
        negative = not self.from_tester and len(self.payload) >= 3 and self.payload[0] == 0x7F
        return self.payload[2] if negative else None

    def wire(self) -> str:
        """The payload's bytes in hex, the first :data:`MAX_PAYLOAD_BYTES` of them."""
        shown = self.payload[:MAX_PAYLOAD_BYTES].hex(" ").upper()
        return shown + (" …" if len(self.payload) > MAX_PAYLOAD_BYTES else "")

    def describe(self) -> str:
        arrow = f"tester → {self.node}" if self.from_tester else f"{self.node} → tester"
        return f"{arrow}: {self.wire()}  ({describe(self.payload, self.from_tester)})"


@dataclass
class TraceSummary:
    path: Path
    frames: int = 0
    body_frames: int = 0
    diagnostic_frames: int = 0
    first_time: float | None = None
    """The earliest frame's time (frames may jitter by :data:`TIME_ORDER_TOLERANCE_S`)."""
    last_time: float | None = None
    """The latest frame's time."""
    body_counts: collections.Counter[str] = field(default_factory=collections.Counter)
    undecodable: list[str] = field(default_factory=list)
    """Body-range frames the DBC does not decode (should be none)."""
    changes: dict[str, list[tuple[float, object]]] = field(default_factory=dict)
    """Each tracked body signal (``MESSAGE.Signal``): its values as they changed, with times."""
    frame_times: dict[str, list[float]] = field(default_factory=dict)
    """The time of every frame, by ID group (:data:`FRAME_GROUPS`)."""
    uds: list[UdsMessage] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What is doubtful about the file itself (a BLF shorter than its header says)."""

    @property
    def duration_s(self) -> float:
        if self.first_time is None or self.last_time is None:
            return 0.0
        return self.last_time - self.first_time

    def _t(self, time: float) -> str:
        return f"{time - (self.first_time or 0.0):8.3f}"

    def render(self) -> str:
        lines = [
            f"trace: {self.path}",
            f"frames: {self.frames} in {self.duration_s:.1f} s "
            f"({self.body_frames} body, {self.diagnostic_frames} diagnostic)",
            f"body frames the DBC does not decode: {len(self.undecodable)}",
            *(f"  {problem}" for problem in self.undecodable[:10]),
            "",
            f"Body messages (decoded with {body.BODY_DBC_FILENAME}):",
            *(
                f"  {name:<22} {count:6d} frames"
                for name, count in sorted(self.body_counts.items())
            ),
            "",
            "State changes (time in s from the first frame):",
        ]
        for signal, values in sorted(self.changes.items()):
            if len(values) < 2:
                continue
            shown = " → ".join(
                f"{value} @{self._t(t).strip()}" for t, value in values[:MAX_CHANGES]
            )
            more = f" … ({len(values) - MAX_CHANGES} more)" if len(values) > MAX_CHANGES else ""
            lines.append(f"  {signal}: {shown}{more}")
        lines += ["", "UDS exchanges (ISO-TP reassembled with can-isotp; repeats folded):"]
        lines += self._uds_lines()
        if self.transport_errors:
            lines += ["", f"ISO-TP notes: {len(self.transport_errors)}"]
            lines += [f"  {error}" for error in self.transport_errors[:10]]
        return "\n".join(lines) + "\n"

    def _uds_lines(self) -> list[str]:
        """Each exchange (a request and the answers up to the next request); consecutive
        exchanges with the same request are folded into one line with their last answer."""
        exchanges: list[list[UdsMessage]] = []
        for message in self.uds:
            if message.from_tester or not exchanges:
                exchanges.append([message])
            else:
                exchanges[-1].append(message)
        lines: list[str] = []
        index = 0
        while index < len(exchanges):
            exchange = exchanges[index]
            lines += [f"  {self._t(m.time)} {m.describe()}" for m in exchange]
            same = index + 1
            while same < len(exchanges) and _request_of(exchanges[same]) == _request_of(exchange):
                same += 1
            if same - index > 1:
                last = exchanges[same - 1]
                answer = last[-1].payload.hex(" ").upper() if len(last) > 1 else "none"
                lines.append(
                    f"           … the same request {same - index - 1} more time(s) until "
                    f"{self._t(last[0].time).strip()} s, last answer: {answer}"
                )
            index = same
        return lines


def _request_of(exchange: list[UdsMessage]) -> tuple[str, bytes] | None:
    first = exchange[0]
    return (first.node, first.payload) if first.from_tester else None


class _Listener:
    """A listen-only ISO-TP receiver for one direction of one node (can-isotp's own logic)."""

    def __init__(self, address: isotp.Address, summary: TraceSummary, node: str, tester: bool):
        self._queue: collections.deque[isotp.CanMessage] = collections.deque()
        self._summary = summary
        self._node = node
        self._tester = tester
        self._time = 0.0
        self._extended = address.get_rx_prefix_size() == 1
        self.logic = isotp.TransportLayerLogic(
            rxfn=self._rx,
            txfn=lambda _msg: None,
            address=address,
            error_handler=lambda exc: summary.transport_errors.append(f"{node}: {exc}"),
            params={"listen_mode": True, "max_frame_size": 0xFFFF},
        )

    def _rx(self, _timeout: float) -> isotp.CanMessage | None:
        return self._queue.popleft() if self._queue else None

    def feed(self, msg: can.Message) -> None:
        pci = msg.data[1 if self._extended else 0] if len(msg.data) > 1 else 0
        if pci >> 4 == FLOW_CONTROL:
            return  # the other side's flow control: a listener has nothing to do with it
        self._time = msg.timestamp
        self._queue.append(
            isotp.CanMessage(
                arbitration_id=msg.arbitration_id,
                data=bytes(msg.data),
                extended_id=msg.is_extended_id,
                is_fd=msg.is_fd,
            )
        )
        while self._queue:
            self.logic.process()
        while self.logic.available():
            payload = self.logic.recv()
            if payload is not None:
                self._summary.uds.append(
                    UdsMessage(self._time, self._node, self._tester, bytes(payload))
                )


def _listeners(
    nodes: Iterable[Target], summary: TraceSummary
) -> dict[tuple[int, int | None], _Listener]:
    found: dict[tuple[int, int | None], _Listener] = {}
    for target in (*nodes, FUNCTIONAL):
        a = target.addressing
        # Requests are read as the node reads them, answers as the tester does.
        for address, rx, tester in ((a.physical(), a.request_id, True),
                                    (a.tester_address(), a.response_id, False)):  # fmt: skip
            if (rx, a.extended_address) not in found:
                found[(rx, a.extended_address)] = _Listener(address, summary, target.name, tester)
    return found


def summarize(path: Path | str, nodes: Iterable[Target] = DEFAULT_NODES) -> TraceSummary:
    """Read the trace at ``path`` and summarise it (see the module docstring); a file that
    is missing, of another format or corrupt raises :class:`TraceError`."""
    path = Path(path)
    if not path.exists():
        raise TraceError(f"trace {path}: no such file")
    if path.is_dir():
        raise TraceError(f"trace {path}: is a folder, not a trace file")
    if path.suffix.lower() not in TRACE_SUFFIXES:
        raise TraceError(
            f"trace {path}: {path.suffix or 'no suffix'} is not a trace format python-can "
            f"reads ({', '.join(TRACE_SUFFIXES)})"
        )
    summary = TraceSummary(path)
    try:
        with can.LogReader(str(path)) as reader:
            _read(_in_time_order(reader, path), summary, _listeners(nodes, summary))
            summary.warnings += _ends_early(reader, path)
    except TraceError:
        raise
    except Exception as exc:  # python-can's readers raise whatever their parser meets
        raise TraceError(
            f"trace {path}: not a readable {path.suffix} trace (after {summary.frames} "
            f"frames): {type(exc).__name__}: {exc}"
        ) from exc
    return summary


def _ends_early(reader: object, path: Path) -> list[str]:
    """A BLF whose header's file size is more than the file has: cut short (a copy stopped
    half-way), and python-can's reader yields the frames up to the cut without a word. A BLF
    whose writer never stopped has the header's own size there, and is not flagged."""
    if not isinstance(reader, can.BLFReader):
        return []
    size = path.stat().st_size
    if reader.file_size <= size:
        return []
    return [
        f"trace {path} ends early (truncated?): {size} of the {reader.file_size} bytes its "
        "BLF header gives"
    ]


def _in_time_order(reader: Iterable[can.Message], path: Path) -> Iterator[can.Message]:
    """The frames of ``reader`` (numbered from 1 as read, error and remote frames too);
    :class:`TraceError` at the first whose timestamp is not finite (inf, nan) or more than
    :data:`TIME_ORDER_TOLERANCE_S` earlier than the latest before it. python-can's loggers
    write frames in the order they arrive; a merged or hand-edited trace out of order is
    refused rather than summarised with a negative duration."""
    latest = -math.inf
    for number, msg in enumerate(reader, start=1):
        if not math.isfinite(msg.timestamp):
            raise TraceError(f"trace {path}: frame {number} has a timestamp that is not finite")
        if msg.timestamp < latest - TIME_ORDER_TOLERANCE_S:
            raise TraceError(
                f"trace {path}: frame {number} goes back in time ({msg.timestamp!r} s after "
                f"{latest!r} s); a trace must be in time order (sort a merged trace)"
            )
        latest = max(latest, msg.timestamp)
        yield msg


def _read(
    reader: Iterable[can.Message],
    summary: TraceSummary,
    listeners: dict[tuple[int, int | None], _Listener],
) -> None:
    latest: dict[str, object] = {}
    for msg in reader:
        if msg.is_error_frame or msg.is_remote_frame:
            continue
        summary.frames += 1
        # The earliest and latest, not the first and last: frames may jitter (see above).
        if summary.first_time is None or msg.timestamp < summary.first_time:
            summary.first_time = msg.timestamp
        if summary.last_time is None or msg.timestamp > summary.last_time:
            summary.last_time = msg.timestamp
        summary.frame_times.setdefault(frame_group(msg.arbitration_id), []).append(msg.timestamp)
        if msg.arbitration_id >= FIRST_DIAGNOSTIC_ID:
            summary.diagnostic_frames += 1
            ext = msg.data[0] if msg.data else None
            listener = listeners.get((msg.arbitration_id, ext)) or listeners.get(
                (msg.arbitration_id, None)
            )
            if listener is not None:
                listener.feed(msg)
            continue
        summary.body_frames += 1
        try:
            decoded = body.decode_message(msg)
        except body.BodyMessageError as exc:
            summary.undecodable.append(str(exc))
            continue
        if decoded is None:
            summary.undecodable.append(f"0x{msg.arbitration_id:03X}: not in the DBC")
            continue
        name, values = decoded
        summary.body_counts[name] += 1
        for signal, value in values.items():
            if signal in UNTRACKED_SIGNALS:
                continue
            qualified = f"{name}.{signal}"
            if latest.get(qualified, _UNSET) != value:
                latest[qualified] = value
                summary.changes.setdefault(qualified, []).append((msg.timestamp, value))


_UNSET: Final = object()

if __name__ == "__main__":  # the summary is a command of the CLI, not a program of its own
    sys.exit("ecusim.demo.trace_summary is a library: run 'ecusim trace summarize FILE'")
