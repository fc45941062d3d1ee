"""Records, in the JUnit XML report, the channel and state folder each test's car used, so a
run under ``pytest -n 4`` can be checked for anything shared (ecusim's own suite does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _record_what_the_test_used(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    car = request.node.funcargs.get("virtual_car")
    if car is not None:
        request.node.user_properties.append(("channel", car.channel))
        request.node.user_properties.append(("state_dir", str(car.vehicle.state_dir)))
