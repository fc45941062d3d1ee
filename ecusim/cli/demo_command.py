"""``ecusim demo``: the whole reset procedure in one process (see :mod:`ecusim.demo.scenario`).

``--serve`` keeps the portal up after the procedure, with its pages and the demo logins
printed, until Ctrl-C or SIGTERM (exit 0). A ``--port`` the portal cannot have is exit 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ecusim.catalog import CatalogError
from ecusim.catalog.profile import ProfileError
from ecusim.cli.car_profile_option import add_car_profile_argument, read_car_profile
from ecusim.cli.errors import CliError
from ecusim.cli.run_command import _time_scale
from ecusim.cli.secret_options import add_secret_argument, load_secrets
from ecusim.demo.scenario import (
    DEFAULT_MODEL,
    DEFAULT_TIME_SCALE,
    DEFAULT_YEAR,
    DemoPortal,
    DemoPortError,
    DemoResult,
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
        "keys) and writes a candump trace with a decoded summary and its timeline picture.",
    )
    parser.add_argument("--model", help=f"default {DEFAULT_MODEL}")
    parser.add_argument("--year", type=int, help=f"model year (default {DEFAULT_YEAR})")
    add_car_profile_argument(parser, "demonstrate on")
    parser.add_argument(
        "--dir",
        type=Path,
        help="folder for portal.db, trace.log, trace-summary.txt and trace.png (default: a new "
        "temporary folder, kept)",
    )
    parser.add_argument(
        "--time-scale",
        type=_time_scale,
        default=DEFAULT_TIME_SCALE,
        help=f"run the car's own waits this many times faster (default {DEFAULT_TIME_SCALE:g})",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        help="the portal's port on 127.0.0.1 (default: a free one)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the portal up after the procedure (its pages, the demo logins printed) "
        "until Ctrl-C",
    )
    parser.add_argument(
        "--wire",
        action="store_true",
        help="show the UDS bytes of each step in the narration (27 11 → 67 11 …)",
    )
    add_secret_argument(parser)
    parser.set_defaults(func=run)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Outcome:
    """The closing line, printed once: before serving with ``--serve``, else at the end."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.printed = False

    def report(self, result: DemoResult) -> None:
        if self.printed:
            return
        self.printed = True
        outcome = "reset and new keys verified" if result.reset_done else "no reset possible"
        print(
            f"\necusim demo: done in {time.monotonic() - self.started:.1f} s ({outcome}); "
            f"trace {result.trace}",
            flush=True,
        )

    def serve(self, result: DemoResult, portal: DemoPortal) -> None:
        """``--serve``: announce the portal's pages and logins, wait for Ctrl-C or SIGTERM."""
        self.report(result)
        url = portal.url
        print(f"\necusim demo: the portal stays up on {url} (Ctrl-C to stop)", flush=True)
        for page, what in (("/login", "log in"), ("/inbox", "the inbox: approvals, requests"),
                           ("/docs", "the API")):  # fmt: skip
            print(f"  {url}{page}  {what}")
        print(f"demo logins (dealer {portal.dealer.code} {portal.dealer.name}):")
        for user in portal.dealer.users:
            print(f"  {user.job_title:<16} {user.username:<16} password {user.password}")
        print("ecusim demo: serving", flush=True)
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():  # signals need the main thread
            previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
        try:
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print("ecusim demo: portal stopped", flush=True)


def run(args: argparse.Namespace) -> int:
    profile = read_car_profile(args)
    secrets = load_secrets(args)
    folder = args.dir if args.dir is not None else Path(tempfile.mkdtemp(prefix="ecusim-demo-"))
    console = TextConsole(assume_yes=True)
    if not getattr(args, "verbose", 0):  # the tool explains every failure itself
        logging.getLogger(UDS_LOGGER).setLevel(logging.CRITICAL)
    outcome = _Outcome(time.monotonic())
    try:
        result = run_demo(
            console,
            folder,
            model=DEFAULT_MODEL if args.model is None else args.model,
            year=DEFAULT_YEAR if args.year is None else args.year,
            time_scale=args.time_scale,
            secrets=secrets,
            port=args.port,
            keep_serving=outcome.serve if args.serve else None,
            wire=args.wire,
            car_profile=profile,
        )
    except ProfileError as exc:  # what the profile asks of the car it builds
        raise CliError(str(exc), exit_code=2) from exc
    except CatalogError as exc:
        raise CliError(f"{exc} (see 'ecusim models')", exit_code=2) from exc
    except DemoPortError as exc:
        raise CliError(f"--port {args.port}: {exc}", exit_code=2) from exc
    except BrokenPipeError:
        raise  # our reader went away: main() ends quietly
    except (EcusimError, ProtocolError, OSError) as exc:
        raise CliError(f"demo failed: {exc}") from exc
    outcome.report(result)
    return 0
