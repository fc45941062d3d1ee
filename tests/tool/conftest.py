"""Fixtures of the scan-tool workflow tests: a car on a virtual channel unique to the test, a
portal with the demo dealer served by uvicorn on 127.0.0.1, and the tool's CLI in-process."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import can
import pytest

from ecusim.car.vehicle import Vehicle
from ecusim.portal.api import BackgroundServer
from ecusim.portal.demo_data import add_demo_dealer
from ecusim.portal.service import Portal
from ecusim.tool.link import DiagnosticLink
from tests.tool.tool_kit import PASSWORD, ServedPortal

SERVER_TIMEOUT_S: Final = 20.0


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    """A python-can virtual channel name no other test uses."""
    return "tool-" + re.sub(r"\W+", "-", request.node.nodeid)


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[ServedPortal]:
    service = Portal.open(f"sqlite:///{tmp_path / 'portal.db'}")
    dealer = add_demo_dealer(service, PASSWORD)
    with BackgroundServer(service) as url:
        yield ServedPortal(service, dealer, url)


@pytest.fixture
def running_car(channel: str) -> Iterator[Callable[..., Vehicle]]:
    """``running_car(model, year, **options)``: a car running on the test's channel until the
    test ends (one per test)."""
    started: list[tuple[Vehicle, can.BusABC]] = []

    def start(model: str, year: int, **options: object) -> Vehicle:
        car = Vehicle.from_catalog(model, year, seed=7, **options)  # type: ignore[arg-type]
        bus = can.Bus(interface="virtual", channel=channel)
        car.start(bus)
        started.append((car, bus))
        return car

    yield start
    for car, bus in started:
        car.stop()
        bus.shutdown()


@pytest.fixture
def link(channel: str) -> Iterator[DiagnosticLink]:
    """The tool's diagnostic link on the test's channel."""
    bus = can.Bus(interface="virtual", channel=channel)
    with DiagnosticLink(bus) as the_link:
        yield the_link
    bus.shutdown()
