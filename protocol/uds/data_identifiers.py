"""Data identifiers that an ECU contributes to ReadDataByIdentifier/WriteDataByIdentifier
(ISO 14229-1 §11.2, §11.7)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from protocol.errors import ConfigurationError
from protocol.uds.sessions import EXTENDED_ONLY, allows

T = TypeVar("T")

DidReader = Callable[[], bytes]
"""Returns the DID's current value; may raise ``NegativeResponseError`` (e.g. 0x22)."""

DidWriter = Callable[[bytes], None]
"""Stores a new value; may raise ``NegativeResponseError`` (0x31 invalid value, 0x22, 0x72)."""


@dataclass(frozen=True)
class DataIdentifier:
    """One DID with its access rules.

    ``read_sessions``/``write_sessions``: sessions where the DID exists for that access (``None``:
    all); outside them the DID is treated as unsupported (0x31). ``read_security``/
    ``write_security``: security levels (requestSeed values) any of which grants access; empty
    means none is needed, otherwise a locked server answers 0x33. ``write_length``: the exact
    length a write must have (0x13 otherwise), or ``None`` when the writer checks it.
    """

    did: int
    name: str
    read: DidReader | None = None
    write: DidWriter | None = None
    read_sessions: frozenset[int] | None = None
    write_sessions: frozenset[int] | None = EXTENDED_ONLY
    read_security: frozenset[int] = frozenset()
    write_security: frozenset[int] = frozenset()
    write_length: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.did <= 0xFFFF:
            raise ConfigurationError(f"DID must be 0x0000..0xFFFF, got {self.did:#x}")
        if self.read is None and self.write is None:
            raise ConfigurationError(
                f"DID {self.did:#06x} ({self.name}) is neither readable nor writable"
            )

    def readable_in(self, session: int) -> bool:
        return self.read is not None and allows(self.read_sessions, session)

    def writable_in(self, session: int) -> bool:
        return self.write is not None and allows(self.write_sessions, session)


def did_table(dids: Iterable[DataIdentifier]) -> Mapping[int, DataIdentifier]:
    """Index DIDs by number; a duplicate number is a configuration error."""
    return index_unique(dids, lambda item: item.did, "DID")


def index_unique(items: Iterable[T], number: Callable[[T], int], what: str) -> dict[int, T]:
    """Index ``items`` by ``number``; a number used twice is a configuration error."""
    table: dict[int, T] = {}
    for item in items:
        key = number(item)
        if key in table:
            raise ConfigurationError(f"{what} {key:#06x} is defined twice")
        table[key] = item
    return table


def constant(value: bytes) -> DidReader:
    """A reader that always returns ``value`` (serial numbers, part numbers)."""
    frozen = bytes(value)
    return lambda: frozen
