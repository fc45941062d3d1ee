"""Routines that an ECU contributes to RoutineControl (ISO 14229-1 §14.2)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from protocol.errors import ConfigurationError
from protocol.uds.data_identifiers import index_unique
from protocol.uds.pending import Reply
from protocol.uds.sessions import EXTENDED_ONLY

RoutineStart = Callable[[bytes], Reply]
"""Called with the routineControlOptionRecord; returns the routineStatusRecord or pending work.
May raise ``NegativeResponseError`` (0x22 preconditions, 0x31 bad option record, 0x33)."""

RoutineStop = Callable[[bytes], bytes]
"""Called with the option record of a stopRoutine request; returns the status record."""

RoutineResults = Callable[[], bytes]
"""Returns the routineStatusRecord of requestRoutineResults."""


class RoutineStatus(enum.IntEnum):
    """First byte of this project's routine results (diagnostic-contract.md §4)."""

    DONE = 0x00
    RUNNING = 0x01
    FAILED = 0x02


@dataclass(frozen=True)
class Routine:
    """One routine identifier with its handlers and access rules.

    ``sessions``: where the RID exists (``None``: every session the service is allowed in);
    elsewhere it answers 0x31. ``security``: levels any of which grants access (empty: none
    needed), else 0x33. A routine without ``stop``/``results`` answers those with 0x12.
    """

    rid: int
    name: str
    start: RoutineStart
    stop: RoutineStop | None = None
    results: RoutineResults | None = None
    sessions: frozenset[int] | None = EXTENDED_ONLY
    security: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.rid <= 0xFFFF:
            raise ConfigurationError(f"RID must be 0x0000..0xFFFF, got {self.rid:#x}")


def routine_table(routines: Iterable[Routine]) -> Mapping[int, Routine]:
    """Index routines by RID; a duplicate RID is a configuration error."""
    return index_unique(routines, lambda item: item.rid, "RID")
