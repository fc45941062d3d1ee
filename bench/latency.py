"""Round-trip latency of our UDS server against a bare can-isotp responder (run on demand).

    python -m bench.latency [--iterations N] [--warmup N] [--rounds R] [--big-iterations N]
                            [--block N] [--udsoncan] [--markdown]

Two targets answer the same requests with the same bytes on a python-can ``virtual`` bus:

* ``bare``: a can-isotp ``NotifierBasedCanStack`` on its own Bus + Notifier with one thread that
  does ``recv(block=True)`` and replies from a precomputed request -> response dict. It is the
  floor: the transport cost with no UDS logic.
* ``server``: our :class:`~protocol.uds.server.UdsServer` behind
  :class:`~protocol.isotp_binding.UdsIsoTpBinding`. TesterPresent and the VIN read go to the
  engine ECU exactly as shipped (``EngineEcu().binding(...)``: physical 0x7E0 -> 0x7E8 plus the
  functional 0x7DF stack); the 4095-byte read goes to a minimal server with one 4092-byte DID
  (0x0F00) bound on 0x7E0 -> 0x7E8 only.

Both targets and the client use the same can-isotp parameters, ``IsoTpParameters().to_isotp()``.
The client is identical for both targets: a raw can-isotp ``NotifierBasedCanStack`` on its own
Bus + Notifier of the same virtual channel that sends one request and blocks on ``recv``; each
sample is ``time.perf_counter_ns()`` around that send + recv. ``--udsoncan`` adds the same
requests through a udsoncan ``Client`` over ``PythonIsoTpV2Connection`` (more client overhead,
same for both targets).

Every round deploys, for each case, both targets side by side on fresh, unique virtual channels
(one client each) and alternates between them every ``--block`` round trips; which target goes
first flips every round. Everything runs in one process, so machine noise hits both targets
alike. ``--block 0`` deploys one target at a time instead (bare, then server, or the reverse)
and times all of its round trips of the round in one go.

Percentiles and ratios (server / bare) are computed over the pooled samples of all rounds; the
per-round p50 ratios are shown as a spread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.metadata
import math
import os
import platform
import shlex
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import can
import isotp

from ecusim.ecus.engine import DEFAULT_VIN, EngineEcu
from ecusim.tool import contract
from protocol.can_bus import BusConnection
from protocol.clock import MonotonicClock
from protocol.isotp_binding import (
    RECV_TIMEOUT_S,
    IsoTpAddressing,
    IsoTpParameters,
    UdsIsoTpBinding,
)
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.server import MAX_CLASSIC_ISOTP_PAYLOAD, UdsServer

REQUEST_ID = 0x7E0
RESPONSE_ID = 0x7E8
CLIENT_ADDRESSING = IsoTpAddressing(REQUEST_ID, RESPONSE_ID)
"""The engine's physical addresses; the client takes the tester's side of them."""
DID_BLOB = 0x0F00
BLOB_LENGTH = MAX_CLASSIC_ISOTP_PAYLOAD - 3
"""``62 0F 00`` + 4092 bytes = 4095 bytes, the largest classic ISO-TP payload."""
CLIENT_TIMEOUT_S = 5.0
"""How long the client waits for one response before the run is declared broken."""

BARE = "bare"
SERVER = "server"
TARGETS = (BARE, SERVER)
RAW = "raw can-isotp"
UDSONCAN = "udsoncan"


class BenchmarkError(RuntimeError):
    """A target did not answer, or answered other bytes than expected."""


# -- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request and the exact response both targets must return."""

    key: str
    label: str
    request: bytes
    response: bytes
    big: bool = False

    def udsoncan_call(self, client: Any) -> Any:
        """The same request through udsoncan's high-level API."""
        if self.request[0] == 0x3E:
            return client.tester_present()
        did = int.from_bytes(self.request[1:3], "big")
        return client.read_data_by_identifier([did])


TESTER_PRESENT = Case("tp", "TesterPresent `3E 00`", bytes([0x3E, 0x00]), bytes([0x7E, 0x00]))
VIN_READ = Case(
    "vin",
    "VIN read `22 F1 90` (20-byte response)",
    bytes([0x22, 0xF1, 0x90]),
    bytes([0x62, 0xF1, 0x90]) + DEFAULT_VIN.encode("ascii"),
)
BIG_READ = Case(
    "big",
    "4095-byte read `22 0F 00`",
    bytes([0x22, 0x0F, 0x00]),
    bytes([0x62, 0x0F, 0x00]) + bytes(BLOB_LENGTH),
    big=True,
)
CASES = (TESTER_PRESENT, VIN_READ, BIG_READ)


def bare_answers() -> dict[bytes, bytes]:
    return {case.request: case.response for case in CASES}


def isotp_parameters() -> IsoTpParameters:
    return IsoTpParameters()


def virtual_connection(channel: str) -> BusConnection:
    """A Bus + Notifier on ``channel``, as a vehicle has (protocol.can_bus)."""
    return BusConnection(can.Bus(interface="virtual", channel=channel))


# -- targets -------------------------------------------------------------------------------------


class Target(Protocol):
    def close(self) -> None: ...


class BareResponder:
    """The floor: one can-isotp stack and one thread answering from a dict."""

    def __init__(self, channel: str, answers: Mapping[bytes, bytes]) -> None:
        self.answers = dict(answers)
        self.connection = virtual_connection(channel)
        self.stack: Any = isotp.NotifierBasedCanStack(
            self.connection.bus,
            self.connection.notifier,
            address=IsoTpAddressing(REQUEST_ID, RESPONSE_ID).physical(),
            params=isotp_parameters().to_isotp(),
        )
        self._stop = threading.Event()
        self.stack.start()
        self._thread = threading.Thread(target=self._loop, name="bare-rx", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            payload = self.stack.recv(block=True, timeout=RECV_TIMEOUT_S)
            if payload is None:
                continue
            response = self.answers.get(bytes(payload))
            if response is not None:
                self.stack.send(response)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.stack.stop()
        self.connection.close()


class ServerTarget:
    """Our server behind UdsIsoTpBinding on its own Bus + Notifier."""

    def __init__(self, channel: str, make_binding: Callable[[BusConnection], UdsIsoTpBinding]):
        self.connection = virtual_connection(channel)
        self.binding = make_binding(self.connection)
        self.binding.start()

    def close(self) -> None:
        self.binding.stop()
        self.connection.close()


def engine_binding(connection: BusConnection) -> UdsIsoTpBinding:
    """The engine ECU exactly as shipped (physical + functional stacks)."""
    ecu = EngineEcu()
    if ecu.isotp_parameters != isotp_parameters():
        raise BenchmarkError("engine ISO-TP parameters differ from the baseline's")
    if (ecu.addressing.request_id, ecu.addressing.response_id) != (REQUEST_ID, RESPONSE_ID):
        raise BenchmarkError(f"engine addressing is {ecu.addressing.describe()}")
    return ecu.binding(connection.bus, connection.notifier, MonotonicClock())


def blob_binding(connection: BusConnection) -> UdsIsoTpBinding:
    """A minimal server with one 4092-byte DID, physical addressing only."""
    server = UdsServer(
        data_identifiers=[DataIdentifier(DID_BLOB, "blob", read=constant(bytes(BLOB_LENGTH)))]
    )
    return UdsIsoTpBinding(
        server,
        connection.bus,
        connection.notifier,
        IsoTpAddressing(REQUEST_ID, RESPONSE_ID),
        parameters=isotp_parameters(),
        clock=MonotonicClock(),
        name="blob",
    )


def open_target(target: str, case: Case, channel: str) -> Target:
    if target == BARE:
        return BareResponder(channel, bare_answers())
    return ServerTarget(channel, blob_binding if case.big else engine_binding)


# -- clients -------------------------------------------------------------------------------------


class BenchClient(Protocol):
    def round_trip(self, case: Case) -> int: ...

    def close(self) -> None: ...


class RawIsoTpClient:
    """send + blocking recv on a raw can-isotp stack; the sample is perf_counter_ns around both."""

    def __init__(self, channel: str) -> None:
        self.connection = virtual_connection(channel)
        self.stack: Any = contract.client_stack(
            self.connection.bus,
            self.connection.notifier,
            CLIENT_ADDRESSING,
            params=isotp_parameters().to_isotp(),
        )
        self.stack.start()

    def round_trip(self, case: Case) -> int:
        request = case.request
        start = time.perf_counter_ns()
        self.stack.send(request)
        response = self.stack.recv(block=True, timeout=CLIENT_TIMEOUT_S)
        elapsed = time.perf_counter_ns() - start
        if response is None:
            raise BenchmarkError(f"{case.key}: no response within {CLIENT_TIMEOUT_S} s")
        if response != case.response:
            raise BenchmarkError(
                f"{case.key}: expected {case.response[:8].hex()}.. ({len(case.response)} B), "
                f"got {bytes(response[:8]).hex()}.. ({len(response)} B)"
            )
        return elapsed

    def close(self) -> None:
        self.stack.stop()
        self.connection.close()


class UdsoncanBenchClient:
    """The same requests through udsoncan's Client over PythonIsoTpV2Connection."""

    def __init__(self, channel: str) -> None:
        self.connection = virtual_connection(channel)
        config = contract.client_config(
            data_identifiers={**contract.did_codecs(), DID_BLOB: contract.RawCodec(BLOB_LENGTH)},
            request_timeout=CLIENT_TIMEOUT_S,
            # udsoncan's default, as the bench always had: no session change, no server timing.
            use_server_timing=True,
        )
        self.client: Any = contract.open_client(
            self.connection.bus,
            self.connection.notifier,
            CLIENT_ADDRESSING,
            params=isotp_parameters().to_isotp(),
            config=config,
        )

    def round_trip(self, case: Case) -> int:
        start = time.perf_counter_ns()
        response = case.udsoncan_call(self.client)
        elapsed = time.perf_counter_ns() - start
        if bytes(response.original_payload) != case.response:
            raise BenchmarkError(f"{case.key}: udsoncan client got other bytes than expected")
        return elapsed

    def close(self) -> None:
        self.client.close()
        self.connection.close()


def open_client(kind: str, channel: str) -> BenchClient:
    if kind == UDSONCAN:
        return UdsoncanBenchClient(channel)
    return RawIsoTpClient(channel)


# -- measurement ---------------------------------------------------------------------------------

Key = tuple[str, str, str]
"""(client kind, case key, target)."""


@dataclass
class Samples:
    """Round-trip times in ns of one (client, case, target), one list per round."""

    per_round: list[list[int]] = field(default_factory=list)

    def pooled(self) -> list[int]:
        return sorted(value for values in self.per_round for value in values)


@dataclass(frozen=True)
class Options:
    iterations: int
    big_iterations: int
    warmup: int
    rounds: int
    block: int
    clients: tuple[str, ...]
    markdown: bool
    command: str


@dataclass
class Run:
    options: Options
    samples: dict[Key, Samples] = field(default_factory=dict)
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    duration_s: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def unique_channel(round_index: int, case: Case, target: str) -> str:
    return f"bench-{uuid.uuid4().hex[:8]}-r{round_index}-{case.key}-{target}"


@contextmanager
def deployed(target: str, case: Case, channel: str) -> Iterator[Target]:
    opened = open_target(target, case, channel)
    try:
        yield opened
    finally:
        opened.close()


def time_sequential(kind: str, case: Case, channel: str, iterations: int, warmup: int) -> list[int]:
    """``--block 0``: one target deployed at a time, all its round trips in one go."""
    client = open_client(kind, channel)
    try:
        for _ in range(warmup):
            client.round_trip(case)
        gc.collect()
        return [client.round_trip(case) for _ in range(iterations)]
    finally:
        client.close()


def time_interleaved(
    *,
    kind: str,
    case: Case,
    channels: Mapping[str, str],
    order: Sequence[str],
    options: Options,
    iterations: int,
) -> dict[str, list[int]]:
    """Both targets deployed side by side (one channel and one client each); the client
    alternates between them every ``options.block`` round trips."""
    values: dict[str, list[int]] = {target: [] for target in order}
    clients: dict[str, BenchClient] = {}
    try:
        for target in order:
            clients[target] = open_client(kind, channels[target])
        for _ in range(options.warmup):
            for target in order:
                clients[target].round_trip(case)
        gc.collect()
        done = 0
        while done < iterations:
            count = min(options.block, iterations - done)
            for target in order:
                client = clients[target]
                values[target] += [client.round_trip(case) for _ in range(count)]
            done += count
    finally:
        for client in clients.values():
            client.close()
    return values


def run_benchmark(options: Options, progress: Callable[[str], None]) -> Run:
    run = Run(options, load_before=os.getloadavg())
    began = time.perf_counter()

    def record(kind: str, case: Case, target: str, round_index: int, values: list[int]) -> None:
        run.samples.setdefault((kind, case.key, target), Samples()).per_round.append(values)
        p50_us = percentile(sorted(values), 50) / 1e3
        progress(
            f"round {round_index + 1}/{options.rounds} {case.key:>3} "
            f"{target:<6} {kind:<13} p50 {p50_us:9.1f} µs"
        )

    for round_index in range(options.rounds):
        order = TARGETS if round_index % 2 == 0 else TARGETS[::-1]
        for case in CASES:
            iterations = options.big_iterations if case.big else options.iterations
            channels = {target: unique_channel(round_index, case, target) for target in order}
            if options.block == 0:
                for target in order:
                    with deployed(target, case, channels[target]):
                        for kind in options.clients:
                            values = time_sequential(
                                kind, case, channels[target], iterations, options.warmup
                            )
                            record(kind, case, target, round_index, values)
                continue
            with ExitStack() as deployments:
                for target in order:
                    deployments.enter_context(deployed(target, case, channels[target]))
                for kind in options.clients:
                    by_target = time_interleaved(
                        kind=kind,
                        case=case,
                        channels=channels,
                        order=order,
                        options=options,
                        iterations=iterations,
                    )
                    for target in order:
                        record(kind, case, target, round_index, by_target[target])
    run.duration_s = time.perf_counter() - began
    run.load_after = os.getloadavg()
    return run


# -- statistics ----------------------------------------------------------------------------------


def percentile(ordered: Sequence[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of sorted ``ordered``."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    n: int
    p50_us: float
    p99_us: float

    @classmethod
    def of(cls, ordered: Sequence[int]) -> Stats:
        return cls(len(ordered), percentile(ordered, 50) / 1e3, percentile(ordered, 99) / 1e3)


@dataclass(frozen=True)
class Row:
    client: str
    case: Case
    bare: Stats
    server: Stats
    round_ratios: tuple[float, ...]

    @property
    def ratio_p50(self) -> float:
        return self.server.p50_us / self.bare.p50_us

    @property
    def ratio_p99(self) -> float:
        return self.server.p99_us / self.bare.p99_us


TARGET_RATIO = 1.15
"""Acceptance: server p50 ≤ 1.15 x the bare responder's p50 (same run)."""


def rows(run: Run) -> list[Row]:
    out: list[Row] = []
    for kind in run.options.clients:
        for case in CASES:
            bare = run.samples[(kind, case.key, BARE)]
            server = run.samples[(kind, case.key, SERVER)]
            ratios = tuple(
                percentile(sorted(s), 50) / percentile(sorted(b), 50)
                for b, s in zip(bare.per_round, server.per_round, strict=True)
            )
            out.append(Row(kind, case, Stats.of(bare.pooled()), Stats.of(server.pooled()), ratios))
    return out


# -- report --------------------------------------------------------------------------------------


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def environment_lines(run: Run) -> list[str]:
    options = run.options
    scheme = (
        "one target deployed at a time"
        if options.block == 0
        else f"both targets side by side, the client switching every {options.block} round trips"
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"Command: `{options.command}`",
        f"Date: {run.started.strftime('%Y-%m-%d %H:%M:%S')} UTC; wall time {run.duration_s:.0f} s",
        (
            f"Python {platform.python_version()} ({platform.python_implementation()}), "
            f"python-can {_version('python-can')}, can-isotp {_version('can-isotp')}, "
            f"udsoncan {_version('udsoncan')}; {platform.system()} {platform.release()} "
            f"{platform.machine()}"
        ),
        (
            f"CPUs: {os.cpu_count()} (usable {usable}); load average before "
            f"{run.load_before[0]:.2f}, after {run.load_after[0]:.2f}; "
            f"sys.getswitchinterval() = {sys.getswitchinterval() * 1e3:g} ms"
        ),
        (
            f"Samples: {options.rounds} rounds x {options.iterations} timed round trips per case "
            f"and target ({options.big_iterations} for the 4095-byte read), after "
            f"{options.warmup} warm-up round trips per target and round; {scheme}; which "
            f"target goes first flips every round; fresh virtual channels every round; one process."
        ),
    ]


HEADERS = (
    "Client",
    "Case",
    "n per target",
    "bare p50 (µs)",
    "bare p99 (µs)",
    "server p50 (µs)",
    "server p99 (µs)",
    "ratio p50",
    "ratio p99",
    "per-round p50 ratio",
    f"p50 ≤ {TARGET_RATIO:g}x",
)


def row_cells(row: Row) -> list[str]:
    spread = f"{min(row.round_ratios):.3f} to {max(row.round_ratios):.3f}"
    return [
        row.client,
        row.case.label,
        str(row.bare.n),
        f"{row.bare.p50_us:,.1f}",
        f"{row.bare.p99_us:,.1f}",
        f"{row.server.p50_us:,.1f}",
        f"{row.server.p99_us:,.1f}",
        f"{row.ratio_p50:.3f}",
        f"{row.ratio_p99:.3f}",
        spread,
        "yes" if row.ratio_p50 <= TARGET_RATIO else "**NO**",
    ]


def markdown_report(run: Run) -> str:
    lines = [f"- {line}" for line in environment_lines(run)]
    lines += ["", "| " + " | ".join(HEADERS) + " |"]
    numeric = {2, 3, 4, 5, 6, 7, 8}
    lines.append(
        "|" + "|".join("---:" if i in numeric else "---" for i in range(len(HEADERS))) + "|"
    )
    lines += ["| " + " | ".join(row_cells(row)) + " |" for row in rows(run)]
    return "\n".join(lines)


def text_report(run: Run) -> str:
    table = [list(HEADERS)] + [
        [cell.replace("`", "").replace("**", "") for cell in row_cells(row)] for row in rows(run)
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*environment_lines(run), "", *rendered])


# -- command line --------------------------------------------------------------------------------


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency",
        description="Round-trip latency of UdsServer vs a bare can-isotp responder "
        "(virtual CAN bus, one process).",
    )
    parser.add_argument(
        "--iterations",
        type=positive,
        default=500,
        help="timed round trips per case, target and round (default 500)",
    )
    parser.add_argument(
        "--big-iterations",
        type=positive,
        default=None,
        help="timed 4095-byte reads per target and round (default: --iterations)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative,
        default=50,
        help="untimed round trips per deployment before timing (default 50)",
    )
    parser.add_argument(
        "--rounds", type=positive, default=5, help="alternating bare/server rounds (default 5)"
    )
    parser.add_argument(
        "--block",
        type=non_negative,
        default=10,
        help="round trips per target before the client switches target; both targets are "
        "deployed side by side (default 10). 0: deploy one target at a time and run all its "
        "round trips of the round in one go",
    )
    parser.add_argument(
        "--udsoncan", action="store_true", help="also time the requests through a udsoncan Client"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(list(argv))
    clients = (RAW, UDSONCAN) if args.udsoncan else (RAW,)
    return Options(
        iterations=args.iterations,
        big_iterations=args.big_iterations or args.iterations,
        warmup=args.warmup,
        rounds=args.rounds,
        block=args.block,
        clients=clients,
        markdown=args.markdown,
        command=shlex.join(["python", "-m", "bench.latency", *argv]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        run = run_benchmark(options, progress)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print(markdown_report(run) if options.markdown else text_report(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
