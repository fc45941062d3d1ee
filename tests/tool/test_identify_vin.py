"""The tool sends the portal the VIN the Pass-Code comes from (issue 11, finding 1 from the
tool's side): an engine VIN rewritten with the public level 0x01 key is refused."""

from __future__ import annotations

import io
from collections.abc import Callable

import can
import pytest

from ecusim.car.vehicle import Vehicle
from ecusim.catalog.vin import lab_vin
from ecusim.tool.console import TextConsole
from ecusim.tool.contract import open_client
from ecusim.tool.errors import ToolError
from ecusim.tool.identify import identify
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.targets import ENGINE

OTHER_CARS_VIN = lab_vin("LS430", 2004, 19)
"""An approved car's VIN the attacker wants the portal to see."""


def test_an_engine_vin_rewritten_to_another_cars_is_refused(
    running_car: Callable[..., Vehicle], link: DiagnosticLink, channel: str
) -> None:
    car = running_car("LS430", 2004)
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [])
    try:
        attacker = open_client(bus, notifier, ENGINE.addressing)
        try:
            attacker.change_session(0x03)  # 10 03: extended session
            attacker.unlock_security_access(0x01)  # the public lab level 0x01 key
            attacker.write_data_by_identifier(0xF190, OTHER_CARS_VIN)  # 2E F1 90 + 17 ASCII
        finally:
            attacker.close()
    finally:
        notifier.stop()
        bus.shutdown()
    with pytest.raises(ToolError, match=r"identity does not add up") as refused:
        identify(link, TextConsole(io.StringIO(), assume_yes=True))
    assert OTHER_CARS_VIN in str(refused.value) and car.vin in str(refused.value)


def test_a_consistent_car_is_identified_by_its_key_code_ecu_s_vin(
    running_car: Callable[..., Vehicle], link: DiagnosticLink
) -> None:
    car = running_car("LS430", 2004)
    identity = identify(link, TextConsole(io.StringIO(), assume_yes=True))
    assert identity.vin == car.vin
