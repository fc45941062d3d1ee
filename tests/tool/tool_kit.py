"""Helpers of the scan-tool workflow tests (the fixtures in ``conftest.py`` build on them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ecusim.car.vehicle import Vehicle
from ecusim.portal.demo_data import DemoDealer
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.service import Portal

PASSWORD: Final = "tool test password"


@dataclass
class ServedPortal:
    service: Portal
    dealer: DemoDealer
    url: str

    def approve_all(self) -> list[str]:
        """The first manager approves every request awaiting approval (in-process)."""
        manager = self.dealer.managers[0].username
        numbers = []
        for request in self.service.inbox(manager).awaiting_approval:
            self.service.approve(manager, request.number, ApprovalConfirmations.all_confirmed())
            numbers.append(request.number)
        return numbers


def ready_for_reset(car: Vehicle) -> Vehicle:
    """The bulletin's conditions: a (factory) key in, ignition ON, vehicle stopped."""
    car.present_key(car.factory_keys[0])
    car.set_ignition("on")
    return car
