"""Fixtures of the browser tests: the portal served by uvicorn on 127.0.0.1 (SQLite in the test's
folder, the demo dealer, the bulletin's clock) and a headless Chromium per browser user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from ecusim.portal.api import BackgroundServer
from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.demo_data import DemoDealer, add_demo_dealer
from ecusim.portal.service import Portal
from protocol.clock import FakeClock
from tests.browser.browser_kit import require_browser, start_chromium
from tests.portal.kit import CHEAP_SETTINGS, START

PASSWORD: Final = "browser test password"


@dataclass(frozen=True)
class ServedPortal:
    """The portal under test: the service (for checks behind the pages), its URL, its staff."""

    service: Portal
    url: str
    dealer: DemoDealer
    clock: FakeClock


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPortal]:
    engine = make_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    upgrade(engine)
    clock = FakeClock(START.timestamp())
    service = Portal(make_session_factory(engine), clock, settings=CHEAP_SETTINGS)
    dealer = add_demo_dealer(service, PASSWORD)
    with BackgroundServer(service, lifespan="off") as url:
        yield ServedPortal(service, url, dealer, clock)
    engine.dispose()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Callable[[str], WebDriver]]:
    """``chromium(name)``: a new headless browser (its own profile: its own cookies), closed
    when the test ends."""
    require_browser()
    started: list[WebDriver] = []

    def start(name: str) -> WebDriver:
        driver = start_chromium(tmp_path / f"chromium-{name}")
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.quit()
