"""ClearDiagnosticInformation 0x14 (ISO 14229-1 §12.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from protocol.constants import Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer

LENGTH_WITH_MEMORY_SELECTION = 5
PRIMARY_MEMORY = 0x00

ClearCondition = Callable[[], None]
"""Raises ``NegativeResponseError(0x22)`` when the ECU cannot clear now."""


class ClearDiagnosticInformationHandler(ServiceHandler):
    """``14 <group:3> [memory selection]`` → ``54``. Group 0xFFFFFF clears all; a DTC number
    clears that DTC.

    Checks in §12.2.4 Figure 14 order: length 0x13 (4 bytes, or 5 with MemorySelection 0x00;
    another selection is 0x31), unknown group 0x31,
    the ECU's condition 0x22, then clear.
    """

    sid = Sid.CLEAR_DIAGNOSTIC_INFORMATION
    min_length = 4

    def __init__(
        self, *, sessions: frozenset[int] | None = None, condition: ClearCondition | None = None
    ) -> None:
        super().__init__(sessions=sessions)
        self._condition = condition

    def handle(self, request: Request, server: UdsServer) -> bytes:
        if len(request.payload) == LENGTH_WITH_MEMORY_SELECTION:
            # ISO 14229-1:2020 §12.2.2.2: an optional MemorySelection byte picks a user-defined
            # DTC memory; this server has only the primary memory (selection 0x00).
            if request.payload[4] != PRIMARY_MEMORY:
                raise NegativeResponseError(
                    Nrc.REQUEST_OUT_OF_RANGE, f"memory selection {request.payload[4]:#04x}"
                )
        else:
            require_length(request, 4)
        group = int.from_bytes(request.payload[1:4], "big")
        if server.dtcs is None or not server.dtcs.covers(group):
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, f"DTC group {group:#08x}")
        if self._condition is not None:
            self._condition()
        server.dtcs.clear(group)
        return b""
