"""DiagnosticSessionControl 0x10 (ISO 14229-1 §10.2)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from protocol.constants import Sid
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class DiagnosticSessionControlHandler(ServiceHandler):
    """``10 <session>`` → ``50 <session> <P2 ms:2> <P2* 10ms:2>`` (§10.2.3 Table 29)."""

    sid = Sid.DIAGNOSTIC_SESSION_CONTROL
    min_length = 2
    has_sub_function = True

    def supported_sub_functions(self, server: UdsServer) -> Container[int]:
        return server.config.sessions

    def handle(self, request: Request, server: UdsServer) -> bytes:
        require_length(request, 2)
        server.change_session(request.sub_function, request.now)
        record = server.config.timing.session_parameter_record()
        return bytes([request.sub_function]) + record
