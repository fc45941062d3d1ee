"""ECUReset 0x11 (ISO 14229-1 §10.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.constants import Nrc, ResetType, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class EcuResetHandler(ServiceHandler):
    """``11 <type>`` → ``51 <type>``, then the reset: volatile state lost, NVM kept."""

    sid = Sid.ECU_RESET
    min_length = 2
    has_sub_function = True

    def check_sub_function(self, request: Request, server: UdsServer) -> None:
        if request.sub_function not in server.config.reset_types:
            raise NegativeResponseError(
                Nrc.SUB_FUNCTION_NOT_SUPPORTED, f"reset type {request.sub_function:#04x}"
            )

    def handle(self, request: Request, server: UdsServer) -> bytes:
        require_length(request, 2)
        server.schedule_reset(ResetType(request.sub_function))
        return bytes([request.sub_function])
