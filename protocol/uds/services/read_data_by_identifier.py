"""ReadDataByIdentifier 0x22 (ISO 14229-1 §11.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.constants import Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


class ReadDataByIdentifierHandler(ServiceHandler):
    """``22 <DID>…`` → ``62 (<DID> <data>)…`` for the supported DIDs, in request order.

    Checks in §11.2.4 Figure 19 order: length 0x13 (odd or above the per-request maximum), none
    of the DIDs supported in this session 0x31, a supported DID locked 0x33, then each reader
    (which may answer 0x22). Unsupported DIDs among supported ones are left out.
    """

    sid = Sid.READ_DATA_BY_IDENTIFIER
    min_length = 3

    def handle(self, request: Request, server: UdsServer) -> bytes:
        data = request.data
        count = len(data) // 2
        if len(data) % 2 or count > server.config.max_dids_per_read:
            raise NegativeResponseError(
                Nrc.INCORRECT_MESSAGE_LENGTH_OR_INVALID_FORMAT,
                f"{len(data)} bytes of DIDs (max {server.config.max_dids_per_read} DIDs)",
            )
        numbers = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        selected = [
            server.dids[n]
            for n in numbers
            if n in server.dids and server.dids[n].readable_in(server.session)
        ]
        if not selected:
            raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "no supported DID requested")
        for item in selected:
            if not server.security.is_unlocked(item.read_security):
                raise NegativeResponseError(Nrc.SECURITY_ACCESS_DENIED, f"DID {item.did:#06x}")
        out = bytearray()
        for item in selected:
            assert item.read is not None  # readable_in checked it
            out += item.did.to_bytes(2, "big") + item.read()
        return bytes(out)
