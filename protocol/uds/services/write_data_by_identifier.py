"""WriteDataByIdentifier 0x2E (ISO 14229-1 §11.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.constants import Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class WriteDataByIdentifierHandler(ServiceHandler):
    """``2E <DID> <data>`` → ``6E <DID>``.

    Checks in §11.7.4 Figure 27 order: length 0x13, DID unsupported or not writable in this
    session 0x31, locked 0x33, exact length 0x13, then the writer (0x31 bad value, 0x22, 0x72).
    """

    sid = Sid.WRITE_DATA_BY_IDENTIFIER
    min_length = 4

    def handle(self, request: Request, server: UdsServer) -> bytes:
        number = int.from_bytes(request.payload[1:3], "big")
        item = server.dids.get(number)
        if item is None or not item.writable_in(server.session):
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, f"DID {number:#06x} not writable")
        if not server.security.is_unlocked(item.write_security):
            raise NegativeResponseError(Nrc.SECURITY_ACCESS_DENIED, f"DID {number:#06x}")
        if item.write_length is not None:
            require_length(request, 3 + item.write_length)
        assert item.write is not None  # writable_in checked it
        item.write(request.payload[3:])
        return request.payload[1:3]
