"""``ecusim run``: serve the simulated ECUs on a python-can bus until Ctrl-C or ``--duration``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

import can
from can.cli import add_bus_arguments, create_bus_from_namespace

from ecusim.bus import BusConnection
from ecusim.cli.errors import CliError
from ecusim.ecus.engine import DEFAULT_VIN, EngineConfig, EngineEcu
from ecusim.node import serve
from ecusim.vin import VinError, validate_vin
from protocol.clock import MonotonicClock
from protocol.errors import NvmError, ProtocolError
from protocol.isotp_binding import IsoTpParameters
from protocol.nvm import FileNvm


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="serve the simulated ECUs on a CAN bus",
        description="Serve the engine ECU (0x7E0/0x7E8, functional 0x7DF) on any python-can "
        "interface until Ctrl-C or --duration.",
    )
    add_bus_arguments(parser)
    parser.add_argument("--vin", default=DEFAULT_VIN, help=f"the VIN (default {DEFAULT_VIN})")
    parser.add_argument(
        "--state-dir", type=Path, help="keep each ECU's NVM here (default: memory only)"
    )
    parser.add_argument("--duration", type=_positive_seconds, help="stop after this many seconds")
    parser.set_defaults(func=run)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"must be > 0 and at most {MAX_DURATION_S:g} seconds: {text!r}"
        )
    return value


MAX_DURATION_S = 366 * 24 * 3600.0
"""A year: longer (or infinite) durations overflow the platform's timeouts."""


def open_bus(args: argparse.Namespace) -> can.BusABC:
    """The bus named by python-can's flags, or a one-line :class:`CliError` with the cause."""
    try:
        return create_bus_from_namespace(args)
    except (argparse.ArgumentError, can.CanError, ValueError, OSError, ImportError) as exc:
        # python-can wraps the real failure in an ArgumentError that lists the whole namespace.
        cause = exc.__cause__ if isinstance(exc, argparse.ArgumentError) and exc.__cause__ else exc
        where = f"{args.interface or 'configured interface'} {args.channel or ''}".strip()
        raise CliError(f"cannot open the CAN bus ({where}): {cause}") from exc


def run(args: argparse.Namespace) -> int:
    try:
        vin = validate_vin(args.vin)
    except VinError as exc:
        raise CliError(f"--vin: {exc}", exit_code=2) from exc
    nvm = None
    if args.state_dir is not None:
        nvm = FileNvm(args.state_dir / "engine.nvm.json", kind="engine")
        try:
            nvm.check_writable()
        except NvmError as exc:
            raise CliError(f"--state-dir: {exc}") from exc
    try:
        # On a CAN-FD bus (--fd) ISO-TP uses FD frames of up to 64 bytes (ISO 15765-2 §9.4).
        isotp_parameters = IsoTpParameters(fd=bool(getattr(args, "fd", False)))
        ecu = EngineEcu(EngineConfig(vin=vin, isotp=isotp_parameters), nvm=nvm)
    except (NvmError, ProtocolError) as exc:
        raise CliError(str(exc)) from exc
    bus = open_bus(args)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals need the main thread
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        with BusConnection(bus) as connection:

            def announce() -> None:
                print(f"ecusim: {ecu.describe()}", flush=True)
                print(f"ecusim: VIN {ecu.vin}; ready (Ctrl-C to stop)", flush=True)

            serve(
                [ecu],
                connection,
                MonotonicClock(),
                stop,
                duration_s=args.duration,
                on_ready=announce,
            )
    except (NvmError, ProtocolError) as exc:  # state found invalid at power-on
        raise CliError(str(exc)) from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("ecusim: stopped", flush=True)
    return 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
