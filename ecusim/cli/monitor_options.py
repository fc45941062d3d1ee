"""The bus observers of ``ecusim monitor`` and ``ecusim run``: ``--events FILE|-`` (JSON lines)
and, for ``run``, ``--monitor`` (the Textual view on the same bus, in-process)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TextIO

from ecusim.cli.errors import CliError
from ecusim.monitor.output import EventWriter
from ecusim.tool.targets import Target
from ecusim.wire.decoder import WireDecoder
from protocol.can_bus import BusConnection

POLL_S: Final = 0.2
"""How often a waiting command closes overdue exchanges (a quiet bus sends no frame to)."""


def add_events_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--events",
        metavar="FILE|-",
        help="write one JSON line per UDS exchange and per state change, with timestamps "
        "('-': standard output; docs/monitor.md has the schema)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``ecusim run``'s ``--monitor`` and ``--events``."""
    group = parser.add_argument_group("watch the bus (docs/monitor.md)")
    group.add_argument(
        "--monitor",
        action="store_true",
        help="show the car's diagnostic exchanges and state in a terminal view ('q' quits)",
    )
    add_events_argument(group)


@contextlib.contextmanager
def event_stream(target: str | None) -> Iterator[TextIO | None]:
    """``--events``: standard output for ``-``, else the file (created or emptied; its folder
    must exist: a mistyped path creates no folders)."""
    if target is None:
        yield None
        return
    if target == "-":
        yield sys.stdout
        return
    path = Path(target)
    try:
        stream = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--events: cannot write {path}: {exc.strerror or exc}") from exc
    with stream:
        yield stream


def wait(stop: threading.Event, decoder: WireDecoder, duration: float | None) -> None:
    """Until ``stop`` or ``duration``, closing overdue exchanges every :data:`POLL_S`."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.wait(POLL_S):
        decoder.tick(time.time())
        if deadline is not None and time.monotonic() >= deadline:
            return
    decoder.tick(time.time())


class Watch:
    """``ecusim run``'s observers of its own bus (``--monitor``, ``--events``)."""

    def __init__(self, args: argparse.Namespace, targets: list[Target], subtitle: str) -> None:
        self.monitor = bool(getattr(args, "monitor", False))
        self.events = getattr(args, "events", None)
        if self.monitor and self.events == "-":
            raise CliError("--monitor and --events - both want standard output: use a file", 2)
        self.decoder = WireDecoder(targets) if self.monitor or self.events else None
        self.subtitle = subtitle

    @contextlib.contextmanager
    def attached(self, connection: BusConnection) -> Iterator[Watch]:
        """The decoder on ``connection`` (frames received and sent) while the car runs."""
        if self.decoder is None:
            yield self
            return
        with event_stream(self.events) as stream:
            if stream is not None:
                self.decoder.callbacks.append(EventWriter(stream))
            connection.add_listener(self.decoder)
            try:
                yield self
            finally:
                connection.remove_listener(self.decoder)

    @contextlib.contextmanager
    def announcing(self) -> Iterator[None]:
        """The car's ``ecusim:`` lines go to standard error when the events take standard
        output (a reader of the JSON lines gets nothing else)."""
        if self.events == "-":
            with contextlib.redirect_stdout(sys.stderr):
                yield
        else:
            yield

    def wait(self, stop: threading.Event, duration: float | None) -> None:
        """The car runs until ``stop`` or ``duration``: in the monitor view if ``--monitor``."""
        if self.decoder is None:
            stop.wait(duration)
            return
        if not self.monitor:
            wait(stop, self.decoder, duration)
            return
        run_view(self.decoder, stop, self.subtitle, duration)


def run_view(
    decoder: WireDecoder, stop: threading.Event, subtitle: str, duration: float | None
) -> None:
    """The Textual view until 'q', ``stop`` or ``duration`` (it sets ``stop`` when it ends)."""
    from ecusim.monitor.app import MonitorApp  # noqa: PLC0415 - Textual only for the view

    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    MonitorApp(decoder, stop=stop, subtitle=subtitle).run()
