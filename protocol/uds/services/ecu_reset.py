"""ECUReset 0x11 (ISO 14229-1 §10.3)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from protocol.constants import ResetType, Sid
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class EcuResetHandler(ServiceHandler):
    """``11 <type>`` → ``51 <type>``, then the reset: volatile state lost, NVM kept."""

    sid = Sid.ECU_RESET
    min_length = 2
    has_sub_function = True

    def supported_sub_functions(self, server: UdsServer) -> Container[int]:
        return server.config.reset_types

    def handle(self, request: Request, server: UdsServer) -> bytes:
        require_length(request, 2)
        server.schedule_reset(ResetType(request.sub_function))
        return bytes([request.sub_function])
