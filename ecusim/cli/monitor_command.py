"""``ecusim monitor``: watch one car on any python-can bus (docs/monitor.md). It only reads."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from can.cli import add_bus_arguments

from ecusim.catalog import Catalog, CatalogError, ModelYear
from ecusim.cli.car_profile_option import add_car_profile_argument, read_car_profile
from ecusim.cli.errors import CliError
from ecusim.cli.monitor_options import add_events_argument, event_stream, run_view, wait
from ecusim.cli.run_command import _positive_seconds, open_bus
from ecusim.monitor.output import EventWriter, LineWriter
from ecusim.wire.decoder import WireDecoder, model_targets
from protocol.can_bus import BusConnection


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "monitor",
        help="watch a car on a CAN bus: UDS exchanges, sessions, security, keys, indicator",
        description="Watch one car on any python-can bus: each ECU's session and security "
        "state, registration mode, waiting period and keys, the security indicator, ignition, "
        "engine and start permission, and a log of the decoded UDS exchanges (names from the "
        "diagnostic contract, NRC names, 0x78 counts, timing against P2/P2*). It only reads "
        "the bus. 'q' quits the view.",
    )
    add_bus_arguments(parser)
    car = parser.add_argument_group("car (its diagnostic addresses)")
    car.add_argument("--model", help="model of the support chart (default: the contract's nodes)")
    car.add_argument("--year", type=int, help="model year (with --model)")
    add_car_profile_argument(car, "watch")
    output = parser.add_argument_group("output")
    output.add_argument(
        "--plain", action="store_true", help="print the log as lines (for a pipe), no view"
    )
    add_events_argument(output)
    parser.add_argument("--duration", type=_positive_seconds, help="stop after this many seconds")
    parser.set_defaults(func=run)


def model_year_of(args: argparse.Namespace) -> ModelYear | None:
    """The car whose addresses are watched: ``--car``'s, ``--model/--year``'s, or ``None``
    (the contract's nodes)."""
    profile = read_car_profile(args)
    if profile is not None:
        return profile.model_year
    if args.model is None and args.year is None:
        return None
    if args.model is None or args.year is None:
        raise CliError("--model and --year go together", exit_code=2)
    try:
        return Catalog.load().lookup(args.model, args.year)
    except CatalogError as exc:
        raise CliError(str(exc), exit_code=2) from exc


@dataclass
class Watched:
    """The decoder on the bus of ``ecusim monitor``'s flags, and what the view shows as its
    subtitle (the car's name)."""

    decoder: WireDecoder
    connection: BusConnection
    subtitle: str
    events: TextIO | None


@contextlib.contextmanager
def watching(args: argparse.Namespace, stop: threading.Event) -> Iterator[Watched]:
    """Open the bus of ``args`` with the decoder of the car's addresses on it (and the
    ``--events`` writer, ``--plain`` lines); ``stop`` is set if the bus is lost."""
    if args.plain and args.events == "-":
        raise CliError("--plain and --events - both want standard output: pick one", 2)
    model_year = model_year_of(args)
    decoder = WireDecoder(model_targets(model_year))
    subtitle = model_year.name if model_year is not None else "the contract's addresses"
    with event_stream(args.events) as stream:
        if stream is not None:
            decoder.callbacks.append(EventWriter(stream))
        if args.plain:
            decoder.callbacks.append(LineWriter(sys.stdout))
        bus = open_bus(args)
        with BusConnection(bus, on_lost=lambda _: stop.set()) as connection:
            connection.add_listener(decoder)
            try:
                yield Watched(decoder, connection, subtitle, stream)
            finally:
                connection.remove_listener(decoder)
        if connection.receive_watch.error is not None:
            raise CliError(f"lost the CAN bus ({connection.receive_watch.error!r})")


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Watch until Ctrl-C, SIGTERM, ``--duration``, 'q' in the view, or ``stop`` is set.
    Without a terminal to draw the view on, the log is printed as with ``--plain``."""
    stop = stop if stop is not None else threading.Event()
    no_terminal = not args.plain and args.events != "-" and not _is_terminal(sys.stdout)
    args.plain = args.plain or no_terminal
    with watching(args, stop) as watched:
        if no_terminal:
            print("ecusim: standard output is not a terminal: the log as lines (--plain)",
                  file=sys.stderr, flush=True)  # fmt: skip
        with _stopped_by_signals(stop):
            if args.plain or watched.events is sys.stdout:
                wait(stop, watched.decoder, args.duration)
            else:
                run_view(watched.decoder, stop, watched.subtitle, args.duration)
    return 0


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the view then restores the terminal as it ends)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals need the main thread
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without one, or closed
        return False


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
