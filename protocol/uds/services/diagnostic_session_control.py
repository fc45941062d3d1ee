"""DiagnosticSessionControl 0x10 (ISO 14229-1 §10.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.constants import Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class DiagnosticSessionControlHandler(ServiceHandler):
    """``10 <session>`` → ``50 <session> <P2 ms:2> <P2* 10ms:2>`` (§10.2.3 Table 29)."""

    sid = Sid.DIAGNOSTIC_SESSION_CONTROL
    min_length = 2
    has_sub_function = True

    def check_sub_function(self, request: Request, server: UdsServer) -> None:
        if request.sub_function not in server.config.sessions:
            raise NegativeResponseError(
                Nrc.SUB_FUNCTION_NOT_SUPPORTED, f"session {request.sub_function:#04x}"
            )

    def handle(self, request: Request, server: UdsServer) -> bytes:
        require_length(request, 2)
        server.change_session(request.sub_function, request.now)
        record = server.config.timing.session_parameter_record()
        return bytes([request.sub_function]) + record
