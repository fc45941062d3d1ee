"""``ecusim trace summarize FILE [--plot FILE.png|svg]``: a bus trace decoded and named.

Any trace python-can reads (candump .log, .asc, .blf, .csv, .trc): body frames with the DBC,
UDS messages reassembled with can-isotp and named (services, sub-functions, DIDs, routines,
NRCs); ``--plot`` draws the timeline (:mod:`ecusim.demo.trace_plot`). The diagnostic addresses
are the contract's, a model-year's of the support chart with ``--model/--year``, or a car
profile's with ``--car FILE`` (the demo's summary of a ``demo --car`` car is that). A missing,
foreign or corrupt file, a trace without frames, and a frame whose timestamp is not finite or
goes back in time by more than jitter (traces must be in time order), is one line and exit 1;
a BLF shorter than its header says is one warning line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from ecusim.catalog import Catalog, CatalogError
from ecusim.cli.car_profile_option import add_car_profile_argument, read_car_profile
from ecusim.cli.errors import CliError
from ecusim.demo.trace_plot import PLOT_SUFFIXES, PlotError, write_plot
from ecusim.demo.trace_summary import DEFAULT_NODES, TRACE_SUFFIXES, TraceError, summarize
from ecusim.tool.targets import Target, targets_for


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "trace",
        help="read a bus trace: decoded summary, timeline picture",
        description="Read CAN bus traces (what 'ecusim run --log' and 'ecusim demo' write).",
    )
    commands = parser.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)
    summarize_parser = commands.add_parser(
        "summarize",
        help="the decoded summary of a trace, with names; --plot draws its timeline",
        description="Summarise a trace python-can reads "
        f"({', '.join(TRACE_SUFFIXES)}): body frames decoded with the DBC, state changes, UDS "
        "exchanges reassembled with can-isotp and named (services, sub-functions, DIDs, "
        "routines, NRCs).",
    )
    summarize_parser.add_argument("file", type=Path, metavar="FILE", help="the trace")
    summarize_parser.add_argument(
        "--plot",
        metavar="PICTURE",
        help="also draw the timeline into PICTURE (.png or .svg): frames per second per ID "
        "group, the UDS exchanges with their NRCs, the indicator, ignition, registration mode "
        "and engine lanes",
    )
    summarize_parser.add_argument(
        "--model", help="read the diagnostic addresses of this model (with --year)"
    )
    summarize_parser.add_argument("--year", type=int, help="model year, with --model")
    add_car_profile_argument(summarize_parser, "read the diagnostic addresses of")
    summarize_parser.set_defaults(func=run_summarize)


def _nodes(args: argparse.Namespace) -> tuple[Target, ...]:
    profile = read_car_profile(args)
    if profile is not None:
        model_year = profile.model_year
    elif (args.model is None) != (args.year is None):
        raise CliError("give --model and --year together", exit_code=2)
    elif args.model is None:
        return DEFAULT_NODES
    else:
        try:
            model_year = Catalog.load().lookup(args.model, args.year)
        except CatalogError as exc:
            raise CliError(f"{exc} (see 'ecusim models')", exit_code=2) from exc
    engine, keys = targets_for(model_year)
    return (*keys.values(), engine)


QUIET_LOGGERS: Final = ("isotp", "can")
"""can-isotp's and python-can's loggers: what they warn of in a trace (an invalid ISO-TP
frame, a FirstFrame too long) the summary reports itself, under "ISO-TP notes"."""


@contextmanager
def _library_logs(verbose: int) -> Iterator[None]:
    """Without ``-v``, no record of :data:`QUIET_LOGGERS` below CRITICAL reaches stderr (above
    the summary or the one-line error) while the command runs; their levels are restored
    after."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run_summarize(args: argparse.Namespace) -> int:
    with _library_logs(getattr(args, "verbose", 0)):
        return _summarize(args)


def _picture(text: str) -> Path:
    """``--plot``'s path, checked as typed: :class:`~pathlib.Path` drops a trailing separator,
    which names a folder, not a picture."""
    if text.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise CliError(f"--plot {text}: ends in a separator: name a picture file", exit_code=2)
    path = Path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise CliError(f"--plot {text}: write a .png or an .svg picture", exit_code=2)
    return path


def _summarize(args: argparse.Namespace) -> int:
    nodes = _nodes(args)
    picture = None if args.plot is None else _picture(args.plot)
    try:
        summary = summarize(args.file, nodes)
    except TraceError as exc:
        raise CliError(str(exc)) from exc
    if summary.frames == 0:  # a BLF cut before its first frame says so rather than "empty"
        raise CliError(
            summary.warnings[0]
            if summary.warnings
            else f"trace {args.file}: no CAN frames in it (an empty trace)"
        )
    print(summary.render(), end="", flush=True)
    for warning in summary.warnings:
        print(f"ecusim: warning: {warning}", file=sys.stderr, flush=True)
    if picture is not None:
        try:
            write_plot(summary, picture)
        except PlotError as exc:
            raise CliError(str(exc)) from exc
        print(f"timeline: {picture}")
    return 0
