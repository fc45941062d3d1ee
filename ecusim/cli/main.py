"""Entry point of the ``ecusim`` command and ``python -m ecusim``."""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
from collections.abc import Sequence

from ecusim import __version__
from ecusim.cli import (
    demo_command,
    models_command,
    monitor_command,
    portal_command,
    remote_command,
    rom_command,
    run_command,
    secret_command,
    tool_command,
    trace_command,
    vin_command,
)
from ecusim.cli.errors import CliError
from ecusim.errors import EcusimError
from protocol.errors import ProtocolError

SUBCOMMANDS = (
    demo_command,
    run_command,
    monitor_command,
    models_command,
    vin_command,
    rom_command,
    remote_command,
    tool_command,
    portal_command,
    secret_command,
    trace_command,
)
"""Each module has ``add_subparser(subparsers)`` that sets ``func`` on its parser."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecusim",
        description="Vehicle-side ECU simulator: UDS over ISO-TP on any python-can bus.",
    )
    parser.add_argument("--version", action="version", version=f"ecusim {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_subparser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.func(args)
    except CliError as exc:
        print(f"ecusim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (EcusimError, ProtocolError) as exc:  # every other error of ecusim, or of its protocol
        print(f"ecusim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ecusim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if not _stdout_closed():
            print(f"ecusim: error: broken pipe: {exc}", file=sys.stderr)
            return 1
        # The reader of our output went away (``ecusim run | head``): stop quietly, as a Unix
        # tool does, and let no flush at exit try the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    return result


def _stdout_closed() -> bool:
    """Whether standard output is a pipe or socket whose reader has gone (POSIX ``poll``
    reports POLLERR); elsewhere, whether it cannot be flushed any more."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a descriptor
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
