"""What every diagnosable simulated ECU has: a name, its addresses, its UDS server."""

from __future__ import annotations

import can

from protocol.clock import Clock
from protocol.isotp_binding import (
    IsoTpAddressing,
    IsoTpParameters,
    RequestInterceptor,
    UdsIsoTpBinding,
)
from protocol.uds.server import UdsServer


class DiagnosableEcu:
    """Base of the simulated ECUs: subclasses build :attr:`server` and set :attr:`addressing`."""

    name: str
    system_name: str
    addressing: IsoTpAddressing
    isotp_parameters: IsoTpParameters
    server: UdsServer

    def binding(
        self,
        bus: can.BusABC,
        notifier: can.Notifier,
        clock: Clock,
        *,
        interceptor: RequestInterceptor | None = None,
    ) -> UdsIsoTpBinding:
        """A transport binding of this ECU's server on the vehicle's bus and notifier (pass a
        :class:`~protocol.can_bus.BusConnection`'s ``tx_bus`` so the car's trace sees responses).
        ``interceptor``: sees each request first (the vehicle's fault plan and request log),
        named by this ECU's :attr:`name`."""
        return UdsIsoTpBinding(
            self.server,
            bus,
            notifier,
            self.addressing,
            parameters=self.isotp_parameters,
            clock=clock,
            name=self.name,
            interceptor=interceptor,
        )

    def describe(self) -> str:
        return f"{self.name} ({self.system_name}): {self.addressing.describe()}"
