"""``ecusim tool``: the reference scan tool on any python-can bus (see :mod:`ecusim.tool`).

- ``identify``: read the VIN and the key system.
- ``reset``: the Immobilizer / Smart Key Reset utility with the portal.
- ``register-keys``: the key registration utility after a reset.

Exit status: 0 done, 1 refused or failed (the message says why), 2 bad arguments, 3 the approval
is still pending, 4 the technician declined the reset. ``--json``: one JSON document on stdout
(the result, or ``{"error": ..., "nrc": ...}`` with the same exit status), the narration on
stderr. The libraries' log lines (udsoncan, can-isotp, the bus) are shown only with ``-v``: the
tool's own message says what failed.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from can.cli import add_bus_arguments

from ecusim.catalog import Catalog, CatalogError
from ecusim.catalog.vin import VinError, validate_vin
from ecusim.cli.car_profile_option import add_car_profile_argument, read_car_profile
from ecusim.cli.errors import CliError
from ecusim.cli.run_command import open_bus
from ecusim.cli.secret_options import add_secret_argument, load_secrets
from ecusim.errors import EcusimError
from ecusim.portal.api_models import DEFAULT_PORT
from ecusim.portal.client import PortalClient, PortalClientError
from ecusim.portal.errors import ValidationError
from ecusim.portal.rules import IdentificationConfirmations, validate_tool_version
from ecusim.tool import TOOL_VERSION
from ecusim.tool.conditions import ConditionsError
from ecusim.tool.console import Console, TextConsole
from ecusim.tool.errors import CancelledError, CarRefusedError, ToolError
from ecusim.tool.identify import CarIdentity, KeyState, identify, read_key_state
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.portal_steps import ApprovalPendingError, PortalSteps, RequestDetails
from ecusim.tool.presenters import LabKeyPresenter
from ecusim.tool.registration import KeyPresenter, KeyRegistration, PromptPresenter
from ecusim.tool.report import RecordingConsole
from ecusim.tool.reset import ResetOutcome, ResetUtility
from ecusim.tool.targets import KeySystem
from protocol.can_bus import close_bus
from protocol.errors import ProtocolError

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
    add_car_profile_argument(car, "diagnose (at its addresses)")
    car.add_argument(
        "--system",
        choices=[s.value for s in KeySystem],
        help="the utility you expect: immobilizer or smart (checked against the car)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="answer yes to the confirmation (scripts)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (the result, or the error); narration on stderr",
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
    reset.add_argument(
        "--no-body-check",
        action="store_true",
        help="do not read the ignition and speed from the body frames (a bench ECU without "
        "the body network; the ECU still checks them)",
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
    profile = read_car_profile(args)
    args.profile_entry = profile.model_year if profile is not None else None
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
def _connected(args: argparse.Namespace) -> Iterator[DiagnosticLink]:
    _check_car_arguments(args)
    bus = open_bus(args)
    try:
        with DiagnosticLink(bus) as link:
            yield link
    finally:
        close_bus(bus)


def _identity(link: DiagnosticLink, console: Console, args: argparse.Namespace) -> CarIdentity:
    system = KeySystem(args.system) if args.system else None
    return identify(
        link,
        console,
        vin=args.vin,
        model=args.model,
        year=args.year,
        system=system,
        model_year=args.profile_entry,
    )


@contextmanager
def _library_logs(verbose: int) -> Iterator[None]:
    """Without ``-v``, no log line of a library (udsoncan, can-isotp, python-can, the bus
    watch, in every thread) reaches stderr above the tool's own message: the tool explains
    each failure itself. Only CRITICAL records pass."""
    if verbose:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def _exit_code(exc: Exception) -> int:
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, ApprovalPendingError):
        return EXIT_PENDING
    if isinstance(exc, CancelledError):
        return EXIT_CANCELLED
    return 1


def _error_document(exc: Exception, console: RecordingConsole) -> dict[str, Any]:
    document: dict[str, Any] = {
        "error": str(exc),
        "nrc": exc.nrc if isinstance(exc, CarRefusedError) else None,
        "exit_code": _exit_code(exc),
    }
    if isinstance(exc, ConditionsError):
        document["conditions"] = list(exc.conditions)
    if isinstance(exc, ApprovalPendingError):
        document["request_number"] = exc.request_number
    document["steps"] = console.steps
    return document


ToolRun = Callable[[argparse.Namespace, RecordingConsole], dict[str, Any]]


def _tool_command(run: ToolRun) -> Callable[[argparse.Namespace], int]:
    """One ``ecusim tool`` command: its console (narration on stdout, or on stderr with
    ``--json``), the libraries' logs held back without ``-v``, its result printed as JSON with
    ``--json``, and the workflow's errors turned into the exit statuses of the module
    docstring (with ``--json`` also into an error document)."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        as_json = bool(getattr(args, "json", False))
        text = TextConsole(sys.stderr if as_json else sys.stdout, assume_yes=args.yes)
        console = RecordingConsole(text)
        with _library_logs(getattr(args, "verbose", 0)):
            try:
                document = run(args, console)
            except (EcusimError, ProtocolError) as exc:
                if as_json:
                    _print_json(_error_document(exc, console))
                if isinstance(exc, CliError):
                    raise
                raise CliError(str(exc), exit_code=_exit_code(exc)) from exc
            finally:
                text.close()
        if as_json:
            _print_json({**document, "steps": console.steps})
        else:
            print(f"ecusim tool: {document['summary']}")
        return 0

    return wrapped


def _print_json(document: dict[str, Any]) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _key_state_document(state: KeyState | None) -> dict[str, Any]:
    if state is None:  # no key-code ECU
        return dict.fromkeys(("keys", "registration_mode", "registration_mode_name",
                              "waiting_period_s"))  # fmt: skip
    return {
        "keys": state.counts(),
        "registration_mode": state.registration_mode,
        "registration_mode_name": state.mode_name,
        "waiting_period_s": state.waiting_period_s,
    }


def _identity_document(identity: CarIdentity) -> dict[str, Any]:
    entry = identity.model_year
    return {
        "vin": identity.vin,
        "vin_read": identity.vin_read,
        "vehicle": entry.name if entry is not None else None,
        "system_type": identity.system_type.value,
        "system": identity.system.value if identity.system is not None else None,
        "reset_supported": identity.reset_supported,
        "key_ecu": identity.key_target.describe() if identity.key_target is not None else None,
    }


@_tool_command
def run_identify(args: argparse.Namespace, console: RecordingConsole) -> dict[str, Any]:
    with _connected(args) as link:
        identity = _identity(link, console, args)
        state = read_key_state(link, identity)
    if state is not None:
        console.info(state.describe())
    reset = "supported" if identity.reset_supported else "not supported"
    summary = f"VIN {identity.vin}; {identity.system_type.label}; reset {reset}"
    if state is not None:
        summary += f"; {state.describe()}"
    return {
        "command": "identify",
        **_identity_document(identity),
        **_key_state_document(state),
        "summary": summary,
    }


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


def _outcome_document(outcome: ResetOutcome) -> dict[str, Any]:
    return {
        "keys_left": outcome.keys_left,
        "registration_mode": outcome.registration_mode,
        "waiting_period_s": outcome.waiting_period_s,
        "indicator": {"mode": outcome.indicator[0], "code": outcome.indicator[1]},
    }


@_tool_command
def run_reset(args: argparse.Namespace, console: RecordingConsole) -> dict[str, Any]:
    details = _details(args)
    try:
        validate_tool_version(args.tool_version, field="--tool-version")
    except ValidationError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    password = _password(args.user)
    with _connected(args) as link, PortalClient(args.portal) as portal:
        identity = _identity(link, console, args)
        identity.require_reset()
        steps = PortalSteps(
            portal,
            password,
            args.tool_version,
            details=details,
            approval_wait_s=args.approval_wait,
        )
        utility = ResetUtility(link, console, identity, steps, body_check=not args.no_body_check)
        utility.check_conditions()  # before the portal is asked for anything
        try:
            portal.login(args.user, password)
        except PortalClientError as exc:
            raise ToolError(f"portal login at {args.portal}: {exc}") from exc
        console.info(f"logged in to the portal as {args.user}")
        outcome = utility.run()
        state = read_key_state(link, identity)
    return {
        "command": "reset",
        **_identity_document(identity),
        "request_number": steps.request_number,
        "seed": outcome.seed.hex().upper(),
        "outcome": _outcome_document(outcome),
        "final": _key_state_document(state),
        "next": "ecusim tool register-keys",
        "summary": f"reset done ({outcome.keys_left} keys registered); next: "
        "ecusim tool register-keys",
    }


@_tool_command
def run_register(args: argparse.Namespace, console: RecordingConsole) -> dict[str, Any]:
    if args.keys + args.subs < 1:
        raise CliError("register at least one key (--keys, --subs)", exit_code=2)
    if not args.lab_keys and not sys.stdin.isatty():
        raise CliError(
            "someone at the car must present each key and press Enter: run in a terminal, "
            "or use --lab-keys for a simulated car",
            exit_code=2,
        )
    diag_key = load_secrets(args).diag_key
    with _connected(args) as link:
        identity = _identity(link, console, args)
        smart = identity.system is KeySystem.SMART_KEY
        if smart and args.subs:
            raise CliError("--subs: smart key systems have no sub keys", exit_code=2)
        kinds = ["smart"] * args.keys if smart else ["master"] * args.keys + ["sub"] * args.subs
        lab = LabKeyPresenter(link.bus, console, seed=args.lab_seed) if args.lab_keys else None
        presenter: KeyPresenter = lab if lab is not None else PromptPresenter(console)
        outcome = KeyRegistration(
            link, console, identity, presenter, kinds, max_wait_s=args.max_wait, diag_key=diag_key
        ).run()
        state = read_key_state(link, identity)
    registered = (
        f"{outcome.smart_keys} smart" if smart else f"{outcome.masters} master, {outcome.subs} sub"
    )
    keys = {"smart": outcome.smart_keys} if smart else {"master": outcome.masters,
                                                        "sub": outcome.subs}  # fmt: skip
    return {
        "command": "register-keys",
        **_identity_document(identity),
        "registered": keys,
        "presented": [f"{key.transponder_id:08X}" for key in lab.keys] if lab else None,
        "final": _key_state_document(state),
        "summary": f"registration done ({registered} key(s) registered)",
    }
