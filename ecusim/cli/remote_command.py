"""``ecusim remote``: press a keyless-entry remote's button over the bus (``LAB_REMOTE_CMD``).

With ``--wait`` it reads the car's ``KEYLESS_ENTRY`` answer (sent at once on each command) and says
whether the receiver accepted the code, with the door-lock state (docs/keyless-entry.md).
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import time
from typing import Any

import can
from can.cli import add_bus_arguments

from dbc import body
from ecusim.car.keyless import KeylessCommand, RemoteButton
from ecusim.cli.errors import CliError
from ecusim.cli.run_command import open_bus
from protocol.can_bus import close_bus

MAX_WAIT_S = 600.0
SETTLE_S = 0.25
"""After the first ``KEYLESS_ENTRY`` frame, how long a newer one (a new ``CommandCounter``) may
still come: the first may be a periodic frame sent just before the car handled the command."""
POLL_S = 0.05

_CODE = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{1,8})")
_EXPECTED = {
    RemoteButton.LOCK: KeylessCommand.LOCK,
    RemoteButton.UNLOCK: KeylessCommand.UNLOCK,
    RemoteButton.PANIC: KeylessCommand.PANIC,
}


def add_subparser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "remote",
        help="press a keyless-entry remote button on the bus (LAB_REMOTE_CMD)",
        description="Send LAB_REMOTE_CMD (0x6E5): a remote with code --code presses --button. "
        "With --wait, wait for the car's KEYLESS_ENTRY (0x2D0) answer and print 'accepted' or "
        "'ignored' with the door-lock state (exit 0 accepted, 1 ignored or no answer).",
    )
    add_bus_arguments(parser)
    remote = parser.add_argument_group("remote")
    remote.add_argument(
        "--code", required=True, metavar="HEX", help="the remote's 32-bit code, e.g. 2265B1F6"
    )
    remote.add_argument(
        "--button",
        required=True,
        choices=[button.name.lower() for button in RemoteButton],
        help="the button pressed",
    )
    remote.add_argument(
        "--wait",
        type=_wait_seconds,
        metavar="S",
        help=f"wait up to S seconds (at most {MAX_WAIT_S:g}) for the car's answer",
    )
    parser.set_defaults(func=run)


def _wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_WAIT_S):
        raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_WAIT_S:g}: {text!r}")
    return value


def parse_code(text: str) -> int:
    """A remote code: 1 to 8 hex digits (``0x`` allowed), not zero."""
    match = _CODE.fullmatch(text.strip())
    if match is None:
        raise CliError(f"--code: not a 32-bit hex code: {text!r}", exit_code=2)
    code = int(match.group(1), 16)
    if code == 0:
        raise CliError("--code: a remote code is not zero", exit_code=2)
    return code


def run(args: argparse.Namespace) -> int:
    code = parse_code(args.code)
    button = RemoteButton[args.button.upper()]
    command = body.encode_message(body.LAB_REMOTE_CMD, {"RemoteCode": code, "Button": int(button)})
    bus = open_bus(args)
    try:
        _drain(bus)  # what the car sent before the command is not its answer
        try:
            bus.send(command)
        except Exception as exc:  # python-can backends raise their own types (e.g. a closed hub)
            raise CliError(f"cannot send LAB_REMOTE_CMD: {exc!r}") from exc
        if args.wait is None:
            print(f"sent: remote {code:08X} {button.name.lower()}")
            return 0
        answer = _await_answer(bus, args.wait)
    finally:
        close_bus(bus)
    if answer is None or answer["LastCommand"] != _EXPECTED[button]:
        raise CliError(
            f"no KEYLESS_ENTRY answer to remote {code:08X} {button.name.lower()} within "
            f"{args.wait:g} s (is a car running on this bus?)"
        )
    accepted = bool(answer["Accepted"])
    doors = "locked" if answer["DoorsLocked"] else "unlocked"
    verdict = "accepted" if accepted else "ignored"
    print(f"{verdict}: remote {code:08X} {button.name.lower()}; doors {doors}")
    return 0 if accepted else 1


def _recv(bus: can.BusABC, timeout: float) -> can.Message | None:
    """``bus.recv``; a failing bus (any backend's exception) is a one-line error."""
    try:
        return bus.recv(timeout=timeout)
    except Exception as exc:  # python-can backends raise their own types (e.g. a closed hub)
        raise CliError(f"reading from the CAN bus failed: {exc!r}") from exc


def _drain(bus: can.BusABC) -> None:
    for _ in range(10_000):  # bounded: a busy bus cannot keep us here
        if _recv(bus, 0) is None:
            return


def _await_answer(bus: can.BusABC, wait_s: float) -> dict[str, int] | None:
    """The car's answer: the first ``KEYLESS_ENTRY`` after the command, or a later one within
    :data:`SETTLE_S` that carries a new ``CommandCounter`` (the first was then periodic)."""
    deadline = time.monotonic() + wait_s
    first: dict[str, int] | None = None
    while (remaining := deadline - time.monotonic()) > 0:
        message = _recv(bus, min(remaining, POLL_S))
        values = _keyless_entry(message)
        if values is None:
            continue
        if first is None:
            first = values
            deadline = min(deadline, time.monotonic() + SETTLE_S)
        elif values["CommandCounter"] != first["CommandCounter"]:
            return values
    return first


@functools.cache
def _keyless_entry_id() -> int:
    return int(body.load_body_database().get_message_by_name(body.KEYLESS_ENTRY).frame_id)


def _keyless_entry(message: can.Message | None) -> dict[str, int] | None:
    """``KEYLESS_ENTRY``'s signals if ``message`` is one (a malformed one is no answer)."""
    if message is None or message.arbitration_id != _keyless_entry_id():
        return None
    try:
        decoded = body.decode_message(message)
    except body.BodyMessageError:
        return None
    if decoded is None or decoded[0] != body.KEYLESS_ENTRY:
        return None
    return {name: int(value) for name, value in decoded[1].items() if not isinstance(value, str)}
