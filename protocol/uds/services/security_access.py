"""SecurityAccess 0x27 (ISO 14229-1 §10.4; diagnostic-contract.md §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.constants import Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler
from protocol.uds.sessions import NON_DEFAULT_SESSIONS, allows

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class SecurityAccessHandler(ServiceHandler):
    """``27 <odd level> [data]`` → ``67 <level> <seed>``; ``27 <level+1> <key>`` → ``67 <level+1>``.

    Rules (state, counters, delays) are the :class:`~protocol.uds.security.SecurityManager`'s.
    The service is unavailable in the default session (0x7F, diagnostic-contract.md §3).
    """

    sid = Sid.SECURITY_ACCESS
    min_length = 2
    has_sub_function = True

    def __init__(self, *, sessions: frozenset[int] | None = NON_DEFAULT_SESSIONS) -> None:
        super().__init__(sessions=sessions)

    def check_sub_function(self, request: Request, server: UdsServer) -> None:
        level = server.security.level_for(request.sub_function)
        if level is None or request.sub_function == 0:
            raise NegativeResponseError(
                Nrc.SUB_FUNCTION_NOT_SUPPORTED, f"security level {request.sub_function:#04x}"
            )
        if not allows(level.sessions, server.session):
            raise NegativeResponseError(Nrc.SUB_FUNCTION_NOT_SUPPORTED_IN_ACTIVE_SESSION)

    def handle(self, request: Request, server: UdsServer) -> bytes:
        level = server.security.level_for(request.sub_function)
        assert level is not None  # checked by check_sub_function
        echo = bytes([request.sub_function])
        if request.sub_function % 2:
            # requestSeed may carry a securityAccessDataRecord (§10.4.2.2); it is accepted.
            return echo + server.security.request_seed(level, request.now)
        server.security.send_key(level, request.payload[2:], request.now)
        return echo
