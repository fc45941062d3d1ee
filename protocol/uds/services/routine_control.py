"""RoutineControl 0x31 (ISO 14229-1 §14.2)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from protocol.constants import Nrc, RoutineControlType, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.pending import PrefixedWork, Reply
from protocol.uds.request import Request
from protocol.uds.routines import Routine
from protocol.uds.services.base import ServiceHandler
from protocol.uds.sessions import NON_DEFAULT_SESSIONS, allows

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer

CONTROL_TYPES = frozenset(int(t) for t in RoutineControlType)


class RoutineControlHandler(ServiceHandler):
    """``31 <type> <RID> [option]`` → ``71 <type> <RID> [status record]``.

    Checks in §14.2.4 order: 0x13 (< 4 bytes), 0x12 (type not 01/02/03), 0x31 (RID unknown or not
    in this session), 0x33 (locked), 0x12 (this RID has no stop/results), 0x24 (stop or results
    before start), then the routine (0x22 preconditions, 0x31 option record). A start may return
    pending work: the server answers 0x78 until it is done.
    """

    sid = Sid.ROUTINE_CONTROL
    min_length = 4
    has_sub_function = True

    def __init__(self, *, sessions: frozenset[int] | None = NON_DEFAULT_SESSIONS) -> None:
        super().__init__(sessions=sessions)

    def supported_sub_functions(self, server: UdsServer) -> Container[int]:
        return CONTROL_TYPES

    def handle(self, request: Request, server: UdsServer) -> Reply:
        rid = int.from_bytes(request.payload[2:4], "big")
        routine = server.routines.get(rid)
        if routine is None or not allows(routine.sessions, server.session):
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, f"RID {rid:#06x}")
        if not server.security.is_unlocked(routine.security):
            raise NegativeResponseError(Nrc.SECURITY_ACCESS_DENIED, f"RID {rid:#06x}")
        control = RoutineControlType(request.sub_function)
        echo = bytes([request.sub_function]) + request.payload[2:4]
        option = request.payload[4:]
        if control is RoutineControlType.START_ROUTINE:
            return self._start(routine, option, echo, server)
        if (control is RoutineControlType.STOP_ROUTINE and routine.stop is None) or (
            control is RoutineControlType.REQUEST_ROUTINE_RESULTS and routine.results is None
        ):
            raise NegativeResponseError(Nrc.SUB_FUNCTION_NOT_SUPPORTED, f"RID {rid:#06x}")
        if rid not in server.started_routines:
            raise NegativeResponseError(Nrc.REQUEST_SEQUENCE_ERROR, f"RID {rid:#06x} not started")
        if control is RoutineControlType.STOP_ROUTINE:
            assert routine.stop is not None
            record = routine.stop(option)
            server.started_routines.discard(rid)
            return echo + record
        assert routine.results is not None
        return echo + routine.results()

    @staticmethod
    def _start(routine: Routine, option: bytes, echo: bytes, server: UdsServer) -> Reply:
        reply = routine.start(option)
        server.started_routines.add(routine.rid)
        if isinstance(reply, bytes | bytearray):
            return echo + bytes(reply)
        return PrefixedWork(echo, reply)
