"""The body-network DBC (docs/body-network.md): load it, encode and decode its frames.

Every message is a classic 11-bit frame of 8 bytes. Encoding and decoding are cantools' own; this
module adds the package-relative path, a strict cached load, defaults for missing signals and
one error type (:class:`BodyMessageError`) that names the message and the signal at fault.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Final, cast

import can
import cantools
from cantools.database.can import Database, Signal
from cantools.database.can import Message as MessageDefinition

SignalValue = float | int | str
"""A signal value as accepted by :func:`encode_message`: a number or the name of a choice."""

BODY_DBC_FILENAME: Final = "ecusim_body.dbc"


def _package_file(name: str) -> Path:
    """The path of a data file shipped inside the ``dbc`` package."""
    try:
        return Path(str(files("dbc").joinpath(name)))
    except NotADirectoryError:
        # Python 3.11's importlib.resources fails on a namespace path that holds a non-directory
        # entry, as an editable install made before dbc/__init__.py existed produces; the file
        # still sits next to this module.
        return Path(__file__).with_name(name)


BODY_DBC_PATH: Final[Path] = _package_file(BODY_DBC_FILENAME)
"""The DBC file inside the installed ``dbc`` package, independent of the working directory."""

TESTER_NODE: Final = "TESTER"
"""The node that sends the lab control messages (any CAN tool on the bench)."""

# Broadcast by the car (periodic).
IGNITION_STATUS: Final = "IGNITION_STATUS"
VEHICLE_SPEED: Final = "VEHICLE_SPEED"
DOOR_STATUS: Final = "DOOR_STATUS"
IMMOBILIZER_STATUS: Final = "IMMOBILIZER_STATUS"
START_PERMISSION: Final = "START_PERMISSION"
SMART_KEY_STATUS: Final = "SMART_KEY_STATUS"
STEERING_LOCK_STATUS: Final = "STEERING_LOCK_STATUS"
ENGINE_STATUS: Final = "ENGINE_STATUS"
KEYLESS_ENTRY: Final = "KEYLESS_ENTRY"
# Lab control, sent by any CAN tool to drive the car's physical inputs.
LAB_IGNITION_CMD: Final = "LAB_IGNITION_CMD"
LAB_KEY_CMD: Final = "LAB_KEY_CMD"
LAB_BRAKE_CMD: Final = "LAB_BRAKE_CMD"
LAB_SPEED_CMD: Final = "LAB_SPEED_CMD"
LAB_DOOR_CMD: Final = "LAB_DOOR_CMD"
LAB_REMOTE_CMD: Final = "LAB_REMOTE_CMD"

MESSAGE_NAMES: Final[tuple[str, ...]] = (
    IGNITION_STATUS,
    VEHICLE_SPEED,
    DOOR_STATUS,
    IMMOBILIZER_STATUS,
    START_PERMISSION,
    SMART_KEY_STATUS,
    STEERING_LOCK_STATUS,
    ENGINE_STATUS,
    KEYLESS_ENTRY,
    LAB_IGNITION_CMD,
    LAB_KEY_CMD,
    LAB_BRAKE_CMD,
    LAB_SPEED_CMD,
    LAB_DOOR_CMD,
    LAB_REMOTE_CMD,
)
"""Every message of the body DBC, in frame-ID order."""


class BodyMessageError(ValueError):
    """A body message or signal value that the DBC cannot represent.

    ``message_name`` is the message concerned; ``signal_name`` is the signal at fault, or ``None``
    when the fault is the message itself (unknown name, wrong frame length).
    """

    def __init__(self, message_name: str, signal_name: str | None, reason: str) -> None:
        self.message_name = message_name
        self.signal_name = signal_name
        self.reason = reason
        where = message_name if signal_name is None else f"{message_name}.{signal_name}"
        super().__init__(f"{where}: {reason}")


@functools.cache
def load_body_database() -> Database:
    """Load the body DBC once (strict: overlapping or oversized signals are an error).

    The database is shared by every caller; treat it as read-only.
    """
    database = cantools.database.load_file(BODY_DBC_PATH, database_format="dbc", strict=True)
    if not isinstance(database, Database):  # load_file also returns diagnostics databases
        raise TypeError(f"{BODY_DBC_PATH} is not a CAN database")
    return database


def _definition(name: str) -> MessageDefinition:
    try:
        return load_body_database().get_message_by_name(name)
    except KeyError:
        raise BodyMessageError(name, None, "no such message in the body DBC") from None


def _default_value(signal: Signal) -> float | int:
    """The signal's initial value (``GenSigStartValue``) when the DBC sets one, else 0."""
    if signal.raw_initial is None:
        return 0
    # decode_choices=False never yields a choice name, only a number.
    return cast(
        float | int, signal.conversion.raw_to_scaled(signal.raw_initial, decode_choices=False)
    )


def _checked_value(message_name: str, signal: Signal, value: SignalValue) -> SignalValue:
    """Return ``value`` if cantools can encode it into ``signal``, else raise BodyMessageError."""
    if isinstance(value, str):
        names = [str(choice) for _, choice in sorted((signal.choices or {}).items())]
        if value not in names:
            expected = f"one of {names}" if names else "a number (this signal has no choices)"
            raise BodyMessageError(message_name, signal.name, f"{value!r} is not {expected}")
        return value
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise BodyMessageError(message_name, signal.name, f"{value!r} is not a finite number")
    tolerance = abs(signal.conversion.scale) * 1e-6
    minimum, maximum = signal.minimum, signal.maximum
    if (minimum is not None and value < minimum - tolerance) or (
        maximum is not None and value > maximum + tolerance
    ):
        unit = f" {signal.unit}" if signal.unit else ""
        raise BodyMessageError(
            message_name,
            signal.name,
            f"{value}{unit} is outside [{minimum}, {maximum}]{unit}",
        )
    return value


def encode_message(name: str, signals: Mapping[str, SignalValue]) -> can.Message:
    """Encode the body message ``name`` into a classic 11-bit frame of 8 data bytes.

    Values are physical (scaled) numbers or choice names from the DBC's value tables; a signal
    left out takes its initial value (0 unless the DBC sets ``GenSigStartValue``). An unknown
    message or signal, an unknown choice name or a value outside the signal's [min, max] raises
    :class:`BodyMessageError`.
    """
    definition = _definition(name)
    by_name = {signal.name: signal for signal in definition.signals}
    for signal_name in signals:
        if signal_name not in by_name:
            raise BodyMessageError(name, signal_name, "no such signal in this message")
    values = {
        signal.name: _checked_value(name, signal, signals.get(signal.name, _default_value(signal)))
        for signal in definition.signals
    }
    try:
        data = definition.encode(values, scaling=True, padding=False, strict=True)
    except (cantools.database.EncodeError, ValueError, KeyError) as error:
        raise BodyMessageError(name, None, f"cannot encode: {error}") from error
    return can.Message(
        arbitration_id=definition.frame_id,
        is_extended_id=False,
        is_fd=False,
        data=data,
    )


def decode_message(message: can.Message) -> tuple[str, dict[str, SignalValue]] | None:
    """Decode a received frame into ``(message name, {signal: physical value})``.

    Returns ``None`` for frames that are not body messages: IDs the DBC does not define (e.g.
    diagnostics at 0x7xx), extended IDs, remote and error frames. Values stay numbers (choices
    are not turned into names). A body ID with a data length other than the DBC's raises
    :class:`BodyMessageError`.
    """
    if message.is_extended_id or message.is_remote_frame or message.is_error_frame:
        return None
    try:
        definition = load_body_database().get_message_by_frame_id(message.arbitration_id)
    except KeyError:
        return None
    data = bytes(message.data)
    if len(data) != definition.length:
        raise BodyMessageError(
            definition.name,
            None,
            f"expected {definition.length} data bytes, got {len(data)}",
        )
    try:
        decoded = definition.decode_simple(data, decode_choices=False, scaling=True)
    except cantools.database.DecodeError as error:
        raise BodyMessageError(definition.name, None, f"cannot decode: {error}") from error
    # decode_choices=False: every value is a number, never a NamedSignalValue.
    return definition.name, cast(dict[str, SignalValue], decoded)


def cycle_time_s(name: str) -> float | None:
    """The message's cycle time in seconds (``GenMsgCycleTime``), or ``None`` if not periodic."""
    cycle_time_ms = _definition(name).cycle_time
    return cycle_time_ms / 1000 if cycle_time_ms else None


def periodic_messages() -> tuple[str, ...]:
    """The messages the car broadcasts periodically (those with a cycle time), in ID order."""
    return tuple(
        definition.name for definition in load_body_database().messages if definition.cycle_time
    )


def control_messages() -> tuple[str, ...]:
    """The lab control messages (``LAB_*_CMD``, sent by the TESTER node), in ID order."""
    return tuple(
        definition.name
        for definition in load_body_database().messages
        if TESTER_NODE in definition.senders
    )
