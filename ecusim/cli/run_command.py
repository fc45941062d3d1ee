"""``ecusim run``: a simulated car on any python-can bus until Ctrl-C, SIGTERM or ``--duration``."""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import threading
from pathlib import Path
from typing import Any

import can
from can.cli import add_bus_arguments, create_bus_from_namespace

from ecusim.car.keyless import KeylessError, RomChip
from ecusim.car.state_folder import DATA_DIR_VARIABLE, StateFolderError, default_state_dir
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import Catalog, CatalogError, KeylessEntry
from ecusim.catalog.profile import CarProfile
from ecusim.catalog.vin import VinError, check_vin_matches, lab_vin, validate_written_vin
from ecusim.cli import ecu_files
from ecusim.cli.car_profile_option import add_car_profile_argument, read_car_profile
from ecusim.cli.errors import CliError
from ecusim.cli.monitor_options import Watch, add_run_arguments
from ecusim.cli.secret_options import LAB_NOTICE, add_secret_argument, load_secrets
from ecusim.tool.targets import Target
from ecusim.wire.decoder import model_targets
from protocol.can_bus import BusConnection
from protocol.ecu_file import DeclarativeEcu
from protocol.errors import NvmError
from protocol.isotp_binding import IsoTpParameters

DEFAULT_MODEL = "LS430"
DEFAULT_YEAR = 2004
MAX_DURATION_S = 366 * 24 * 3600.0
"""A year: longer (or infinite) durations overflow the platform's timeouts."""
MAX_TIME_SCALE = 10_000.0
TRACE_SUFFIXES = (".asc", ".blf", ".log", ".csv", ".trc")
"""Trace formats of python-can's ``can.Logger`` chosen by the file name's suffix."""


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run a simulated car on a CAN bus",
        description="Run a simulated car of the support chart (see 'ecusim models') on any "
        "python-can interface until Ctrl-C, SIGTERM or --duration. It answers UDS on its "
        "diagnostic addresses, broadcasts its body-network messages and obeys the lab control "
        "messages of the shipped DBC.",
    )
    add_bus_arguments(parser)
    car = parser.add_argument_group("car")
    car.add_argument("--model", help=f"model (default {DEFAULT_MODEL})")
    car.add_argument("--year", type=int, help=f"model year (default {DEFAULT_YEAR})")
    add_car_profile_argument(car, "run")
    car.add_argument(
        "--vin",
        help="the VIN (default: a lab VIN for the model-year); a Lexus WMI and the model-year "
        "character of --year (position 10, as 'ecusim vin' reads it) are required",
    )
    car.add_argument(
        "--allow-foreign-vin",
        action="store_true",
        help="accept a --vin of another make or model year (its check digit must still be right)",
    )
    state = car.add_mutually_exclusive_group()
    state.add_argument(
        "--state-dir",
        type=Path,
        help="keep each ECU's NVM in this folder (default: a folder per VIN in the user data "
        f"directory, <data dir>/cars/<VIN>; ${DATA_DIR_VARIABLE} overrides the data dir)",
    )
    state.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep the car's state in memory only: a restart forgets keys, attempt counters "
        "and delays",
    )
    car.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        help="run the vehicle clock this many times faster (waits, delays; default 1)",
    )
    car.add_argument("--seed", type=int, help="seed of the car's random numbers (new keys)")
    add_secret_argument(car)
    car.add_argument(
        "--rom",
        type=Path,
        metavar="FILE",
        help="install this keyless-entry ROM image ('ecusim rom new') in a ROM-receiver car "
        "(1992-93 SC300/SC400) at start; kept in the state folder",
    )
    parser.add_argument(
        "--log",
        type=Path,
        help=f"write a bus trace with python-can ({', '.join(TRACE_SUFFIXES)} by suffix)",
    )
    parser.add_argument("--duration", type=_positive_seconds, help="stop after this many seconds")
    ecu_files.add_arguments(parser)
    add_run_arguments(parser)
    parser.set_defaults(func=run)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _number(text)
    if not 0 < value <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"must be > 0 and at most {MAX_DURATION_S:g} seconds: {text!r}"
        )
    return value


def _time_scale(text: str) -> float:
    value = _number(text)
    if not 0 < value <= MAX_TIME_SCALE:
        raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_TIME_SCALE:g}: {text!r}")
    return value


def open_bus(args: argparse.Namespace) -> can.BusABC:
    """The bus named by python-can's flags, or a one-line :class:`CliError` with the cause."""
    try:
        return create_bus_from_namespace(args)
    except (argparse.ArgumentError, can.CanError, ValueError, OSError, ImportError) as exc:
        # python-can wraps the real failure in an ArgumentError that lists the whole namespace.
        cause = exc.__cause__ if isinstance(exc, argparse.ArgumentError) and exc.__cause__ else exc
        # python-can's flags are absent from the namespace when not given.
        interface = getattr(args, "interface", None) or "configured interface"
        where = f"{interface} {getattr(args, 'channel', None) or ''}".strip()
        if getattr(args, "interface", None) is None and "None" in str(cause):
            raise CliError(
                "no CAN interface given: use -i INTERFACE -c CHANNEL, or a python-can "
                "configuration (~/.can, $CAN_INTERFACE)",
                exit_code=2,
            ) from exc
        raise CliError(f"cannot open the CAN bus ({where}): {cause}") from exc


def _checked_vin(args: argparse.Namespace) -> str | None:
    """``--vin``: a valid VIN of a Lexus of ``--year`` (domain.md §9), or with
    ``--allow-foreign-vin`` any valid VIN; else a one-line usage error naming the reason."""
    if args.vin is None:
        return None
    try:
        vin = validate_written_vin(args.vin)
    except VinError as exc:
        raise CliError(f"--vin: {exc}", exit_code=2) from exc
    if args.allow_foreign_vin:
        return vin
    try:
        return check_vin_matches(vin, args.year)
    except VinError as exc:
        raise CliError(f"--vin: {exc} (--allow-foreign-vin to run it anyway)", 2) from exc


def _car_profile(args: argparse.Namespace) -> CarProfile | None:
    """``--car FILE`` (read and checked), which sets ``args.model``/``args.year``; without it
    --model/--year or their defaults."""
    profile = read_car_profile(args)
    if profile is None:
        args.model = DEFAULT_MODEL if args.model is None else args.model
        args.year = DEFAULT_YEAR if args.year is None else args.year
        return None
    args.model, args.year = profile.model_year.model, profile.model_year.year
    return profile


def _build(args: argparse.Namespace) -> Vehicle:
    profile = _car_profile(args)
    vin = _checked_vin(args)
    secrets = load_secrets(args)
    try:
        options: dict[str, Any] = {
            "state_dir": _state_folder(args, vin),
            "time_scale": args.time_scale,
            "seed": args.seed,
            # On a CAN-FD bus (--fd) ISO-TP uses FD frames of up to 64 bytes (ISO 15765-2 §9.4).
            "isotp": IsoTpParameters(fd=bool(getattr(args, "fd", False))),
            "secrets": secrets,
        }
        if profile is not None:
            return Vehicle.from_profile(profile, vin, **options)
        return Vehicle.from_catalog(args.model, args.year, vin, **options)
    except CatalogError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    except StateFolderError as exc:  # another car's folder, or one a running car holds
        prefix = "--state-dir: " if args.state_dir is not None else ""
        raise CliError(f"{prefix}{exc}") from exc
    except NvmError as exc:
        prefix = "--state-dir: " if "not writable" in str(exc) else ""
        raise CliError(f"{prefix}{exc}") from exc


def _state_folder(args: argparse.Namespace, vin: str | None) -> Path | None:
    """``--state-dir``, else (unless ``--ephemeral``) the car's folder in the user data
    directory: the default car remembers its keys, attempt counters and delays."""
    if args.ephemeral:
        return None
    if args.state_dir is not None:
        return Path(args.state_dir)
    if vin is None and args.car is not None:  # a profile's car need not be in the chart
        vin = lab_vin(args.model, args.year)
    if vin is None:
        entry = Catalog.load().lookup(args.model, args.year)
        vin = lab_vin(entry.model, entry.year)
    return default_state_dir(vin)


def _trace(path: Path) -> can.Listener:
    if path.suffix.lower() not in TRACE_SUFFIXES:
        raise CliError(f"--log: use one of {', '.join(TRACE_SUFFIXES)}, not {path.name!r}", 2)
    if not path.parent.is_dir():  # a mistyped path creates no folders
        raise CliError(f"--log: cannot write {path}: no folder {path.parent}")
    try:
        logger: can.Listener = can.Logger(path)
    except (OSError, ValueError) as exc:
        raise CliError(f"--log: cannot write {path}: {exc}") from exc
    return logger


def _announce(car: Vehicle, args: argparse.Namespace) -> None:
    entry = car.model_year
    print(f"ecusim: {entry.name} ({entry.system_type.label}), VIN {car.vin}", flush=True)
    for line in car.describe():
        print(f"ecusim: {line}", flush=True)
    if not entry.reset_supported and entry.key_store is not None:
        print(
            "ecusim: note: this car's immobilizer cannot be reset with a scan tool (the "
            "bulletin: refer to the most recent SPOC bulletin)",
            flush=True,
        )
    registered = car.registered_keys  # what the key-code ECU holds now, not the factory set
    if registered is None:
        print("ecusim: registered keys: none (no immobilizer)", flush=True)
    else:
        keys = ", ".join(f"{key.kind.value} {key.transponder_id:08X}" for key in registered)
        print(f"ecusim: registered keys: {keys or 'none'}", flush=True)
    remotes = ", ".join(f"{remote.code:08X}" for remote in car.remotes)
    receiver = "ROM " + car.keyless.receiver.rom.part_number if car.keyless.receiver.rom else ""
    print(f"ecusim: keyless remotes: {remotes} ({receiver or 'programmable receiver'})", flush=True)
    details = [f"time scale {args.time_scale:g}"]
    if args.car is not None:
        details.insert(0, f"car profile {args.car}")
    if car.state_dir is not None:
        details.append(f"state in {car.state_dir}")
    else:
        details.append("state in memory only (--ephemeral): a restart forgets it")
    if args.log is not None:
        details.append(f"trace to {args.log}")
    print(f"ecusim: {'; '.join(details)}", flush=True)
    if car.secrets.source is None:
        print(f"ecusim: note: {LAB_NOTICE}", flush=True)
    else:
        print(f"ecusim: secrets from {car.secrets.source}", flush=True)
    print("ecusim: ready (Ctrl-C to stop)", flush=True)


def _install_rom(car: Vehicle, path: Path) -> None:
    """``--rom``: swap the receiver's ROM for the image at ``path`` (ROM-receiver cars only)."""
    if car.model_year.keyless_entry is not KeylessEntry.ROM:
        raise CliError(
            f"--rom: {car.model_year.name}: this car's receiver is programmable: it has no ROM",
            exit_code=2,
        )
    try:
        car.swap_rom(RomChip.load(path))
    except (KeylessError, NvmError) as exc:
        raise CliError(f"--rom: {exc}") from exc


def _watch(args: argparse.Namespace, car: Vehicle | None, own_ecus: list[DeclarativeEcu]) -> Watch:
    """``--monitor``/``--events`` on the car's nodes and the ``--ecu`` files' ECUs."""
    targets = model_targets(car.model_year) if car is not None else []
    targets += [Target(ecu.name, ecu.addressing) for ecu in own_ecus]
    names = [car.model_year.name] if car is not None else []
    names += [ecu.name for ecu in own_ecus]
    return Watch(args, targets, ", ".join(names))


def run(args: argparse.Namespace) -> int:
    ecu_files.check_arguments(args)
    car = None if args.no_car else _build(args)
    own_ecus = ecu_files.load(args, car.ecus if car is not None else ())
    if car is not None and args.rom is not None:
        _install_rom(car, args.rom)
    watch = _watch(args, car, own_ecus)
    trace = _trace(args.log) if args.log is not None else None
    bus = open_bus(args)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals need the main thread
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        with BusConnection(bus, on_lost=lambda _: stop.set()) as connection:
            if trace is not None:
                connection.add_listener(trace)
            try:
                car_clock = car.protocol_clock if car is not None else None
                own_clock = ecu_files.clock(car_clock, args.time_scale)
                with (
                    car.running(connection) if car is not None else contextlib.nullcontext(),
                    ecu_files.running(own_ecus, connection, own_clock),
                    watch.attached(connection),
                ):
                    with watch.announcing():
                        ecu_files.announce(own_ecus, args)
                        if car is not None:
                            _announce(car, args)
                    watch.wait(stop, args.duration)
            finally:
                if trace is not None:
                    connection.remove_listener(trace)  # no frame may reach a closed file
                    trace.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if connection.receive_watch.error is not None:
        raise CliError(f"lost the CAN bus ({connection.receive_watch.error!r}): the car stopped")
    with watch.announcing():
        print("ecusim: stopped", flush=True)
    return 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
