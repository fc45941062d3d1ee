"""The explicit list of services a server answers by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.uds.services.base import ServiceHandler
from protocol.uds.services.clear_diagnostic_information import ClearDiagnosticInformationHandler
from protocol.uds.services.diagnostic_session_control import DiagnosticSessionControlHandler
from protocol.uds.services.ecu_reset import EcuResetHandler
from protocol.uds.services.read_data_by_identifier import ReadDataByIdentifierHandler
from protocol.uds.services.read_dtc_information import ReadDtcInformationHandler
from protocol.uds.services.routine_control import RoutineControlHandler
from protocol.uds.services.security_access import SecurityAccessHandler
from protocol.uds.services.tester_present import TesterPresentHandler
from protocol.uds.services.write_data_by_identifier import WriteDataByIdentifierHandler

if TYPE_CHECKING:
    from protocol.uds.server import UdsServer


def default_services(server: UdsServer) -> list[ServiceHandler]:
    """Services matching what the server was given: session control, reset and TesterPresent
    always; SecurityAccess with levels; 0x22/0x2E with DIDs; 0x31 with routines; 0x19/0x14 with
    a DTC memory. A service a node lacks answers 0x11."""
    services: list[ServiceHandler] = [
        DiagnosticSessionControlHandler(),
        EcuResetHandler(),
        TesterPresentHandler(),
    ]
    if server.security.levels:
        services.append(SecurityAccessHandler())
    if server.dids:
        services.append(ReadDataByIdentifierHandler())
        if any(d.write is not None for d in server.dids.values()):
            services.append(WriteDataByIdentifierHandler())
    if server.routines:
        services.append(RoutineControlHandler())
    if server.dtcs is not None:
        services.append(ReadDtcInformationHandler())
        services.append(ClearDiagnosticInformationHandler())
    return services
