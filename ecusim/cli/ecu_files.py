"""``ecusim run --ecu FILE`` (repeatable) and ``--no-car``: ECUs of your own, described by files
(protocol.ecu_file, docs/own-ecu.md), on the bus beside the car or alone."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, Protocol

from ecusim.cli.errors import CliError
from protocol.can_bus import BusConnection
from protocol.clock import Clock, ScaledClock
from protocol.ecu_file import DeclarativeEcu, EcuFileError, address_conflict, load_ecu_file
from protocol.isotp_binding import IsoTpAddressing, UdsIsoTpBinding


class Node(Protocol):
    """What a car's ECU shows of itself here: a name and its addresses."""

    @property
    def name(self) -> str: ...

    @property
    def addressing(self) -> IsoTpAddressing: ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("your own ECUs")
    group.add_argument(
        "--ecu",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="also run the ECU described by this TOML file (docs/own-ecu.md); repeatable",
    )
    group.add_argument(
        "--no-car",
        action="store_true",
        help="run only the --ecu files' ECUs, no car (the car's flags are then ignored)",
    )


CAR_ONLY_OPTIONS: Final = (
    ("model", "--model"),
    ("year", "--year"),
    ("car", "--car"),
    ("vin", "--vin"),
    ("allow_foreign_vin", "--allow-foreign-vin"),
    ("state_dir", "--state-dir"),
    ("ephemeral", "--ephemeral"),
    ("seed", "--seed"),
    ("secret_file", "--secret-file"),
)
"""``ecusim run``'s options that describe the car (attribute, flag): meaningless with
``--no-car``."""


def check_arguments(args: argparse.Namespace) -> None:
    """``--no-car`` needs an ``--ecu`` and takes none of the car's options (``--rom``,
    ``--model``…): a one-line usage error rather than an option silently ignored."""
    if not args.no_car:
        return
    if not args.ecu:
        raise CliError("--no-car: give at least one --ecu FILE to run", exit_code=2)
    if getattr(args, "rom", None) is not None:
        raise CliError("--rom: the ROM goes into the car's receiver: not with --no-car", 2)
    given = [
        flag for name, flag in CAR_ONLY_OPTIONS if getattr(args, name, None) not in (None, False)
    ]
    if given:
        raise CliError(f"{', '.join(given)}: options of the car: not with --no-car", exit_code=2)


def load(args: argparse.Namespace, car_ecus: Sequence[Node]) -> list[DeclarativeEcu]:
    """The ``--ecu`` files' ECUs; a bad file, or addresses that collide with the car's ECUs or
    another file's, is refused in one line (exit 2)."""
    taken = [(f"the car's {ecu.name}", ecu.addressing) for ecu in car_ecus]
    names = {ecu.name: "the car" for ecu in car_ecus}
    loaded: list[DeclarativeEcu] = []
    for path in args.ecu:
        try:
            ecu = load_ecu_file(path)
        except EcuFileError as exc:
            raise CliError(str(exc), exit_code=2) from None
        conflict = address_conflict(ecu.addressing, taken)
        if conflict is not None:
            raise CliError(f"{path}: addressing: {conflict}", exit_code=2)
        if ecu.name in names:
            raise CliError(f"{path}: name: {ecu.name!r} is already an ECU of {names[ecu.name]}", 2)
        taken.append((f"{ecu.name} ({path})", ecu.addressing))
        names[ecu.name] = str(path)
        loaded.append(ecu)
    return loaded


def clock(car_clock: Clock | None, time_scale: float) -> Clock:
    """The car's protocol clock when a car runs (one time scale for all), else a scaled one."""
    return car_clock if car_clock is not None else ScaledClock(time_scale)


@contextlib.contextmanager
def running(
    ecus: Sequence[DeclarativeEcu], connection: BusConnection, ecu_clock: Clock
) -> Iterator[None]:
    """Each ECU's server on the connection's bus (responses through its transmit tap, so a
    ``--log`` trace shows them) until the block ends."""
    bindings: list[UdsIsoTpBinding] = []
    try:
        for ecu in ecus:
            binding = ecu.binding(connection.tx_bus, connection.notifier, ecu_clock)
            binding.start()
            bindings.append(binding)
        yield
    finally:
        for binding in bindings:
            binding.stop()


def announce(ecus: Sequence[DeclarativeEcu], args: argparse.Namespace) -> None:
    """One line per file ECU; alone (``--no-car``) also the ready line."""
    for path, ecu in zip(args.ecu, ecus, strict=True):
        print(f"ecusim: {ecu.describe()} from {path}", flush=True)
    if args.no_car:
        print("ecusim: ready (Ctrl-C to stop)", flush=True)
