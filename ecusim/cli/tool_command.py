"""``ecusim tool``: the reference scan tool on any python-can bus (see :mod:`ecusim.tool`).

- ``identify``: read the VIN and the key system.
- ``reset``: the Immobilizer / Smart Key Reset utility with the portal.
- ``register-keys``: the key registration utility after a reset.

Exit status: 0 done, 1 refused or failed (the message says why), 2 bad arguments, 3 the approval
is still pending, 4 the technician declined the reset.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from can.cli import add_bus_arguments

from ecusim.catalog import Catalog, CatalogError
from ecusim.catalog.vin import VinError, validate_vin
from ecusim.cli.errors import CliError
from ecusim.cli.run_command import open_bus
from ecusim.cli.secret_options import add_secret_argument, load_secrets
from ecusim.portal.api_models import DEFAULT_PORT
from ecusim.portal.client import PortalClient, PortalClientError
from ecusim.portal.errors import ValidationError
from ecusim.portal.rules import IdentificationConfirmations, validate_tool_version
from ecusim.tool import TOOL_VERSION
from ecusim.tool.console import TextConsole
from ecusim.tool.errors import CancelledError, ToolError
from ecusim.tool.identify import CarIdentity, identify
from ecusim.tool.link import UDS_LOGGER, DiagnosticLink
from ecusim.tool.portal_steps import ApprovalPendingError, PortalSteps, RequestDetails
from ecusim.tool.presenters import LabKeyPresenter
from ecusim.tool.registration import KeyPresenter, KeyRegistration, PromptPresenter
from ecusim.tool.reset import ResetUtility
from ecusim.tool.targets import KeySystem
from protocol.can_bus import close_bus

PASSWORD_ENV: Final = "ECUSIM_PORTAL_PASSWORD"
PORTAL_ENV: Final = "ECUSIM_PORTAL_URL"
EXIT_PENDING: Final = 3
EXIT_CANCELLED: Final = 4
MAX_KEYS: Final = 7


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= MAX_KEYS:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_KEYS}: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 7 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be 0 to 604800 seconds: {text!r}")
    return value


def _car_arguments(parser: argparse.ArgumentParser) -> None:
    add_bus_arguments(parser)
    car = parser.add_argument_group("car")
    car.add_argument("--vin", help="the VIN (checked against the car's; asked if unreadable)")
    car.add_argument("--model", help="model, when the car cannot tell (see 'ecusim models')")
    car.add_argument("--year", type=int, help="model year, with --model")
    car.add_argument(
        "--system",
        choices=[s.value for s in KeySystem],
        help="the utility you expect: immobilizer or smart (checked against the car)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="answer yes to the confirmation (scripts)"
    )


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tool",
        help="the reference scan tool: identify, reset, register keys",
        description="The reset bulletin's scan-tool steps on udsoncan, against any car on any "
        "python-can interface (a simulated one from 'ecusim run', or a bench ECU). Exit status: "
        "0 done, 1 refused or failed, 2 bad arguments, 3 approval pending, 4 declined.",
    )
    commands = parser.add_subparsers(dest="tool_command", metavar="UTILITY", required=True)

    ident = commands.add_parser("identify", help="read the VIN and the key system")
    _car_arguments(ident)
    ident.set_defaults(func=run_identify)

    reset = commands.add_parser(
        "reset",
        help="Immobilizer / Smart Key Reset with a Pass-Code from the portal",
        description="Seed Number, approval on the portal (an existing one is reused; else a "
        "request is sent), Pass-Code, confirmation, reset. The password comes from "
        f"${PASSWORD_ENV} or is asked.",
    )
    _car_arguments(reset)
    portal = reset.add_argument_group("portal")
    portal.add_argument(
        "--portal",
        default=os.environ.get(PORTAL_ENV, f"http://127.0.0.1:{DEFAULT_PORT}"),
        help=f"portal URL (default ${PORTAL_ENV} or http://127.0.0.1:{DEFAULT_PORT})",
    )
    portal.add_argument("--user", required=True, help="your portal username")
    portal.add_argument("--repair-order", help="repair order / parts invoice (new request)")
    portal.add_argument("--customer", help="customer's last name (new request)")
    portal.add_argument(
        "--confirm-identification",
        action="store_true",
        help="you confirm the 4 Positive Identification Policy statements (new request)",
    )
    portal.add_argument(
        "--approval-wait",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a manager's approval (default 0: exit 3 if pending)",
    )
    portal.add_argument(
        "--tool-version", default=TOOL_VERSION, help=f"sent to the portal ({TOOL_VERSION})"
    )
    reset.set_defaults(func=run_reset)

    register = commands.add_parser(
        "register-keys",
        help="register new keys after a reset",
        description="Transponder cars: automatic registration (first a master). Smart cars: "
        "Smart Key Code Registration, after the waiting period. You are asked to present each "
        "key, unless --lab-keys presents new lab keys with the DBC's LAB_KEY_CMD (simulated "
        "cars).",
    )
    _car_arguments(register)
    register.add_argument(
        "--keys", type=_count, default=2, help="new keys to register (masters or smart; 2)"
    )
    register.add_argument(
        "--subs", type=_count, default=0, help="transponder cars: sub keys after the masters"
    )
    register.add_argument(
        "--lab-keys", action="store_true", help="present new lab keys with LAB_KEY_CMD"
    )
    register.add_argument("--lab-seed", type=int, help="seed of the lab keys' transponder IDs")
    add_secret_argument(register)  # its diag_key unlocks level 0x01
    register.add_argument(
        "--max-wait",
        type=_seconds,
        default=1200.0,
        metavar="SECONDS",
        help="longest real-time wait for the smart key waiting period (1200)",
    )
    register.set_defaults(func=run_register)


def _check_car_arguments(args: argparse.Namespace) -> None:
    """Bad car arguments are usage errors (exit 2), found before the bus is touched."""
    if (args.model is None) != (args.year is None):
        raise CliError("give --model and --year together", exit_code=2)
    if args.vin is not None:
        try:
            args.vin = validate_vin(args.vin)
        except VinError as exc:
            raise CliError(f"--vin: {exc}", exit_code=2) from exc
    if args.model is not None:
        try:
            Catalog.load().lookup(args.model, args.year)
        except CatalogError as exc:
            raise CliError(f"{exc} (see 'ecusim models')", exit_code=2) from exc


@contextmanager
def _connected(args: argparse.Namespace) -> Iterator[tuple[DiagnosticLink, TextConsole]]:
    _check_car_arguments(args)
    if not getattr(args, "verbose", 0):  # the tool explains every failure itself
        logging.getLogger(UDS_LOGGER).setLevel(logging.CRITICAL)
    console = TextConsole(assume_yes=args.yes)
    bus = open_bus(args)
    try:
        with DiagnosticLink(bus) as link:
            yield link, console
    finally:
        close_bus(bus)


def _identity(link: DiagnosticLink, console: TextConsole, args: argparse.Namespace) -> CarIdentity:
    system = KeySystem(args.system) if args.system else None
    return identify(link, console, vin=args.vin, model=args.model, year=args.year, system=system)


def _tool_errors(run: Any) -> Any:
    """Turn the workflow's errors into the exit statuses of the module docstring."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            result: int = run(args)
        except ApprovalPendingError as exc:
            raise CliError(str(exc), exit_code=EXIT_PENDING) from exc
        except CancelledError as exc:
            raise CliError(str(exc), exit_code=EXIT_CANCELLED) from exc
        return result

    return wrapped


@_tool_errors
def run_identify(args: argparse.Namespace) -> int:
    with _connected(args) as (link, console):
        identity = _identity(link, console, args)
        print(f"ecusim tool: VIN {identity.vin}; {identity.system_type.label}; reset "
              f"{'supported' if identity.reset_supported else 'not supported'}")  # fmt: skip
    return 0


def _password(username: str) -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if not sys.stdin.isatty():
        raise CliError(f"no password: set ${PASSWORD_ENV} or run in a terminal", exit_code=2)
    return getpass.getpass(f"portal password for {username}: ")


def _details(args: argparse.Namespace) -> RequestDetails | None:
    given = [args.repair_order, args.customer]
    if not any(given) and not args.confirm_identification:
        return None  # an approval must exist already
    if not all(given) or not args.confirm_identification:
        raise CliError(
            "a new request needs --repair-order, --customer and --confirm-identification",
            exit_code=2,
        )
    return RequestDetails(
        args.repair_order, args.customer, IdentificationConfirmations.all_confirmed()
    )


@_tool_errors
def run_reset(args: argparse.Namespace) -> int:
    details = _details(args)
    try:
        validate_tool_version(args.tool_version, field="--tool-version")
    except ValidationError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    password = _password(args.user)
    with _connected(args) as (link, console), PortalClient(args.portal) as portal:
        identity = _identity(link, console, args)
        identity.require_reset()
        try:
            portal.login(args.user, password)
        except PortalClientError as exc:
            raise ToolError(f"portal login at {args.portal}: {exc}") from exc
        console.info(f"logged in to the portal as {args.user}")
        steps = PortalSteps(
            portal,
            password,
            args.tool_version,
            details=details,
            approval_wait_s=args.approval_wait,
        )
        outcome = ResetUtility(link, console, identity, steps).run()
    print(f"ecusim tool: reset done ({outcome.keys_left} keys registered); next: "
          "ecusim tool register-keys")  # fmt: skip
    return 0


@_tool_errors
def run_register(args: argparse.Namespace) -> int:
    if args.keys + args.subs < 1:
        raise CliError("register at least one key (--keys, --subs)", exit_code=2)
    if not args.lab_keys and not sys.stdin.isatty():
        raise CliError(
            "someone at the car must present each key and press Enter: run in a terminal, "
            "or use --lab-keys for a simulated car",
            exit_code=2,
        )
    diag_key = load_secrets(args).diag_key
    with _connected(args) as (link, console):
        identity = _identity(link, console, args)
        smart = identity.system is KeySystem.SMART_KEY
        if smart and args.subs:
            raise CliError("--subs: smart key systems have no sub keys", exit_code=2)
        kinds = ["smart"] * args.keys if smart else ["master"] * args.keys + ["sub"] * args.subs
        presenter: KeyPresenter = (
            LabKeyPresenter(link.bus, console, seed=args.lab_seed)
            if args.lab_keys
            else PromptPresenter(console)
        )
        outcome = KeyRegistration(
            link, console, identity, presenter, kinds, max_wait_s=args.max_wait, diag_key=diag_key
        ).run()
    registered = (
        f"{outcome.smart_keys} smart" if smart else f"{outcome.masters} master, {outcome.subs} sub"
    )
    print(f"ecusim tool: registration done ({registered} key(s) registered)")
    return 0
