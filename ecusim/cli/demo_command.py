"""``ecusim demo``: the whole reset procedure in one process (see :mod:`ecusim.demo.scenario`)."""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from ecusim.catalog import CatalogError
from ecusim.cli.errors import CliError
from ecusim.cli.run_command import _time_scale
from ecusim.cli.secret_options import add_secret_argument, load_secrets
from ecusim.demo.scenario import (
    DEFAULT_MODEL,
    DEFAULT_TIME_SCALE,
    DEFAULT_YEAR,
    run_demo,
)
from ecusim.errors import EcusimError
from ecusim.tool.console import TextConsole
from ecusim.tool.link import UDS_LOGGER
from protocol.errors import ProtocolError


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole reset procedure on a virtual car, narrated",
        description="One process, no hardware: a car on python-can's virtual bus, the pass-code "
        "portal (SQLite) with a demo dealer, and the reference scan tool. It runs the reset "
        "bulletin end to end (request, manager approval, Seed Number, Pass-Code, reset, new "
        "keys) and writes a candump trace with a decoded summary.",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    parser.add_argument(
        "--year", type=int, default=DEFAULT_YEAR, help=f"model year (default {DEFAULT_YEAR})"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="folder for portal.db, trace.log and trace-summary.txt (default: a new temporary "
        "folder, kept)",
    )
    parser.add_argument(
        "--time-scale",
        type=_time_scale,
        default=DEFAULT_TIME_SCALE,
        help=f"run the car's own waits this many times faster (default {DEFAULT_TIME_SCALE:g})",
    )
    add_secret_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    secrets = load_secrets(args)
    folder = args.dir if args.dir is not None else Path(tempfile.mkdtemp(prefix="ecusim-demo-"))
    console = TextConsole(assume_yes=True)
    if not getattr(args, "verbose", 0):  # the tool explains every failure itself
        logging.getLogger(UDS_LOGGER).setLevel(logging.CRITICAL)
    started = time.monotonic()
    try:
        result = run_demo(
            console,
            folder,
            model=args.model,
            year=args.year,
            time_scale=args.time_scale,
            secrets=secrets,
        )
    except CatalogError as exc:
        raise CliError(f"{exc} (see 'ecusim models')", exit_code=2) from exc
    except BrokenPipeError:
        raise  # our reader went away: main() ends quietly
    except (EcusimError, ProtocolError, OSError) as exc:
        raise CliError(f"demo failed: {exc}") from exc
    outcome = "reset and new keys verified" if result.reset_done else "no reset possible"
    print(
        f"\necusim demo: done in {time.monotonic() - started:.1f} s ({outcome}); "
        f"trace {result.trace}",
        flush=True,
    )
    return 0
