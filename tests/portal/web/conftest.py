"""Page test fixtures: the portal served by a real uvicorn on 127.0.0.1, and a browser."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ecusim.portal.api import BackgroundServer
from ecusim.portal.service import Portal
from tests.portal.kit import Staffing


@pytest.fixture
def base_url(portal: Portal, staff: Staffing) -> Iterator[str]:
    with BackgroundServer(portal, lifespan="off") as url:
        yield url


@pytest.fixture
def browser(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        yield client
