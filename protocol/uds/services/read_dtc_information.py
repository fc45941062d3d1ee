"""ReadDTCInformation 0x19, sub-functions 0x01, 0x02, 0x0A (ISO 14229-1 §12.3)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from protocol.constants import DTC_FORMAT_ISO14229_1, DtcReportType, Sid
from protocol.uds.dtc import DtcMemory
from protocol.uds.request import Request
from protocol.uds.services.base import ServiceHandler, require_length

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer

REQUEST_LENGTHS = {
    DtcReportType.REPORT_NUMBER_OF_DTC_BY_STATUS_MASK: 3,
    DtcReportType.REPORT_DTC_BY_STATUS_MASK: 3,
    DtcReportType.REPORT_SUPPORTED_DTC: 2,
}


class ReadDtcInformationHandler(ServiceHandler):
    """Answers from the server's :class:`~protocol.uds.dtc.DtcMemory`.

    - ``19 01 <mask>`` → ``59 01 <availability> <format 01> <count:2>`` (§12.3.5.2 Table 300)
    - ``19 02 <mask>`` → ``59 02 <availability> (<DTC:3> <status>)…`` (§12.3.5.3)
    - ``19 0A`` → ``59 0A <availability> (<DTC:3> <status>)…`` for every supported DTC (§12.3.5.9)
    """

    sid = Sid.READ_DTC_INFORMATION
    min_length = 2
    has_sub_function = True

    def supported_sub_functions(self, server: UdsServer) -> Container[int]:
        return REQUEST_LENGTHS

    def handle(self, request: Request, server: UdsServer) -> bytes:
        report = DtcReportType(request.sub_function)
        require_length(request, REQUEST_LENGTHS[report])
        memory = server.dtcs if server.dtcs is not None else DtcMemory(())
        head = bytes([request.sub_function, memory.availability_mask])
        if report is DtcReportType.REPORT_SUPPORTED_DTC:
            return head + _records(memory.all())
        matches = memory.matching(request.payload[2])
        if report is DtcReportType.REPORT_NUMBER_OF_DTC_BY_STATUS_MASK:
            return head + bytes([DTC_FORMAT_ISO14229_1]) + len(matches).to_bytes(2, "big")
        return head + _records(matches)


def _records(entries: list[tuple[int, int]]) -> bytes:
    return b"".join(number.to_bytes(3, "big") + bytes([status]) for number, status in entries)
