"""TesterPresent 0x3E (ISO 14229-1 §10.6)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from protocol.constants import Sid
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer

ZERO_SUB_FUNCTION = 0x00


class TesterPresentHandler(ServiceHandler):
    """``3E 00`` → ``7E 00``; ``3E 80`` → nothing; other sub-functions → 0x12 (§10.6.2)."""

    sid = Sid.TESTER_PRESENT
    min_length = 2
    has_sub_function = True

    def supported_sub_functions(self, server: UdsServer) -> Container[int]:
        return (ZERO_SUB_FUNCTION,)

    def handle(self, request: Request, server: UdsServer) -> bytes:
        require_length(request, 2)
        return bytes([ZERO_SUB_FUNCTION])
