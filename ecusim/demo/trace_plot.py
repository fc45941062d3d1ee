"""A timeline picture of a summarised trace (:class:`~ecusim.demo.trace_summary.TraceSummary`),
drawn with matplotlib on its Agg canvas (no display needed): PNG or SVG.

Top to bottom: frames per second per ID group (body, immobilizer/certification status, lab
control, diagnostics); the UDS exchanges as marks by service (requests as ticks, positive
answers as dots, negative ones as crosses labelled with their NRC, e.g. ``0x78``; routine
starts named); then state lanes decoded from the body frames with the DBC (security indicator,
ignition, registration mode, engine), each with the DBC's value names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dbc import body
from ecusim.demo.trace_summary import FRAME_GROUPS, TraceSummary, UdsMessage
from ecusim.errors import EcusimError
from ecusim.tool.contract import ROUTINE_NAMES
from ecusim.wire.names import service_name
from protocol.constants import Sid

PLOT_SUFFIXES: Final = (".png", ".svg")
BIN_WIDTHS_S: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
MAX_BINS: Final = 60
START_ROUTINE: Final = 0x01
LANE_INDICATOR: Final = "security indicator"
LANE_IGNITION: Final = "ignition"
LANE_REGISTRATION: Final = "registration mode"
LANE_ENGINE: Final = "engine"
_LANE_SIGNALS: Final = (
    (LANE_INDICATOR, (body.SMART_KEY_STATUS, body.IMMOBILIZER_STATUS), "IndicatorMode"),
    (LANE_IGNITION, (body.IGNITION_STATUS,), "IgnitionState"),
    (LANE_REGISTRATION, (body.SMART_KEY_STATUS, body.IMMOBILIZER_STATUS), "RegistrationMode"),
    (LANE_ENGINE, (body.ENGINE_STATUS,), "EngineRunning"),
)
"""Each lane: its name, the messages that carry it (the first one in the trace is drawn: a
smart car's certification ECU, else the transponder key ECU) and the signal."""
_ENGINE_NAMES: Final = {0: "stopped", 1: "running"}
_POSITIVE: Final = "tab:green"
_NEGATIVE: Final = "tab:red"


class PlotError(EcusimError):
    """The picture cannot be written (format, folder)."""


@dataclass
class Timeline:
    """The drawn figure and its axes, for a caller who looks at what was drawn."""

    figure: Figure
    rates: Axes
    exchanges: Axes
    lanes: dict[str, Axes] = field(default_factory=dict)
    """Lane name (:data:`LANE_INDICATOR` …) → its axes; a lane the trace lacks is absent."""
    nrc_labels: list[str] = field(default_factory=list)
    """The NRC labels on the exchanges' marks, in time order (``0x78``)."""


def _bin_width(duration_s: float) -> float:
    """The narrowest of :data:`BIN_WIDTHS_S` that gives at most :data:`MAX_BINS` bins; for a
    longer span, the span cut into :data:`MAX_BINS` bins (any span draws in bounded time)."""
    return next((w for w in BIN_WIDTHS_S if duration_s / w <= MAX_BINS), duration_s / MAX_BINS)


def _draw_rates(ax: Axes, summary: TraceSummary, start: float, duration: float) -> None:
    width = _bin_width(duration)
    edges = np.arange(0, math.ceil(duration / width) + 1) * width
    if len(edges) < 2:
        edges = np.array([0.0, width])
    for group in FRAME_GROUPS:
        times = summary.frame_times.get(group)
        if not times:
            continue
        counts, _ = np.histogram(np.asarray(times) - start, bins=edges)
        ax.stairs(counts / width, edges, label=f"{group} ({len(times)})", linewidth=1.2)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.4)  # room for the legend
    ax.set_ylabel(f"frames/s\n({width:g} s bins)")
    ax.legend(loc="upper right", fontsize="small", ncols=2)
    ax.grid(True, alpha=0.3)


def _routine_start_name(message: UdsMessage) -> str | None:
    payload = message.payload
    if len(payload) >= 4 and payload[0] == Sid.ROUTINE_CONTROL and payload[1] == START_ROUTINE:
        rid = int.from_bytes(payload[2:4], "big")
        return ROUTINE_NAMES.get(rid, f"routine 0x{rid:04X}")
    return None


def _draw_exchanges(ax: Axes, summary: TraceSummary, start: float, timeline: Timeline) -> None:
    """Each UDS message as a mark on its service's row (the request's service for answers)."""
    rows: dict[int, int] = {}
    for message in summary.uds:
        sid = _service_of(message)
        rows.setdefault(sid, 0)
    for index, sid in enumerate(sorted(rows)):
        rows[sid] = index
    routines = 0
    for message in summary.uds:
        x, y = message.time - start, rows[_service_of(message)]
        if message.from_tester:
            ax.plot([x], [y], marker="|", color="0.45", markersize=12, linestyle="none")
            routine = _routine_start_name(message)
            if routine is not None:  # alternately left and right of the mark: starts come close
                side, dx = (("right", -4), ("left", 4))[routines % 2]
                routines += 1
                ax.annotate(f"start {routine}", (x, y), xytext=(dx, 8),
                            textcoords="offset points", fontsize="x-small", ha=side,
                            color="0.25")  # fmt: skip
        elif message.nrc is None:
            ax.plot([x], [y], marker="o", color=_POSITIVE, markersize=4, linestyle="none")
        else:
            label = f"0x{message.nrc:02X}"
            ax.plot([x], [y], marker="X", color=_NEGATIVE, markersize=8, linestyle="none")
            ax.annotate(label, (x, y), xytext=(4, -12), textcoords="offset points",
                        fontsize="small", color=_NEGATIVE, fontweight="bold")  # fmt: skip
            timeline.nrc_labels.append(label)
    ax.set_yticks(range(len(rows)), [service_name(sid) for sid in sorted(rows)])
    ax.set_ylim(-0.7, max(len(rows) - 0.3, 0.7))
    ax.set_ylabel("UDS")
    ax.grid(True, axis="x", alpha=0.3)
    ax.plot([], [], marker="|", color="0.45", linestyle="none", label="request")
    ax.plot([], [], marker="o", color=_POSITIVE, linestyle="none", label="positive response")
    ax.plot([], [], marker="X", color=_NEGATIVE, linestyle="none", label="negative response (NRC)")
    ax.legend(loc="upper left", fontsize="x-small", ncols=3)


def _service_of(message: UdsMessage) -> int:
    payload = message.payload or b"\x00"
    if message.from_tester:
        return payload[0]
    if message.nrc is not None:
        return payload[1]
    return payload[0] - 0x40


def _value_names(message: str, signal: str) -> dict[int, str]:
    if signal == "EngineRunning":
        return dict(_ENGINE_NAMES)
    definition = body.load_body_database().get_message_by_name(message)
    choices = definition.get_signal_by_name(signal).choices
    return {int(value): str(name) for value, name in (choices or {}).items()}


@dataclass(frozen=True)
class _Lane:
    name: str
    message: str
    signal: str
    values: list[tuple[float, object]]


def _draw_lane(ax: Axes, lane: _Lane, start: float, end: float) -> None:
    values = lane.values
    xs = [t - start for t, _ in values] + [end - start]
    ys = [float(v) if isinstance(v, int | float) else 0.0 for _, v in values]
    ys.append(ys[-1])
    ax.step(xs, ys, where="post", color="tab:blue", linewidth=1.8)
    ax.fill_between(xs, ys, step="post", alpha=0.15, color="tab:blue")
    names = _value_names(lane.message, lane.signal)
    shown = sorted({int(y) for y in ys} | {0})
    ax.set_yticks(shown, [names.get(v, str(v)) for v in shown], fontsize="x-small")
    ax.set_ylim(min(shown) - 0.4, max(shown) + 0.4)
    ax.set_ylabel(
        f"{lane.name}\n({lane.message})", fontsize="x-small", rotation=0, ha="right", va="center"
    )
    ax.grid(True, axis="x", alpha=0.3)


def draw_timeline(summary: TraceSummary) -> Timeline:
    """The timeline of ``summary`` (see the module docstring) on a new Agg figure."""
    start = summary.first_time or 0.0
    end = summary.last_time if summary.last_time is not None else start
    duration = max(end - start, 1e-3)
    lanes = []
    for name, messages, signal in _LANE_SIGNALS:
        source = next((m for m in messages if summary.changes.get(f"{m}.{signal}")), None)
        if source is not None:
            lanes.append(_Lane(name, source, signal, summary.changes[f"{source}.{signal}"]))
    figure = Figure(figsize=(12, 4.6 + 0.85 * len(lanes)), layout="constrained")
    FigureCanvasAgg(figure)
    ratios = [2.2, 2.4] + [0.85] * len(lanes)
    axes = figure.subplots(len(ratios), 1, sharex=True, height_ratios=ratios, squeeze=False)
    column = [row[0] for row in axes]
    timeline = Timeline(figure, column[0], column[1])
    _draw_rates(timeline.rates, summary, start, duration)
    _draw_exchanges(timeline.exchanges, summary, start, timeline)
    for ax, lane in zip(column[2:], lanes, strict=True):
        _draw_lane(ax, lane, start, end)
        timeline.lanes[lane.name] = ax
    column[-1].set_xlabel("time from the first frame (s)")
    column[-1].set_xlim(0, duration)
    figure.suptitle(
        f"{summary.path.name}: {summary.frames} frames in {summary.duration_s:.1f} s, "
        f"{len(summary.uds)} UDS messages"
    )
    return timeline


def write_plot(summary: TraceSummary, path: Path) -> Timeline:
    """Draw ``summary``'s timeline into ``path`` (.png or .svg); :class:`PlotError` when the
    format is another or the file cannot be written."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise PlotError(f"--plot {path}: write a .png or an .svg picture")
    timeline = draw_timeline(summary)
    try:
        timeline.figure.savefig(path, dpi=100)
    except OSError as exc:
        raise PlotError(f"--plot {path}: cannot write it: {exc.strerror or exc}") from exc
    return timeline
