"""Fixtures of the integration tests: real python-can ``virtual`` buses, can-isotp stacks and
udsoncan clients against simulated ECUs (design guide: real parts, a unique channel per test).

- ``channel``: a virtual channel name unique to the test.
- ``bench``: the vehicle side (:class:`uds_bench.Bench`); ``bench.serve(ecu)`` starts an ECU.
- ``engine_node``: an :class:`~ecusim.ecus.engine.EngineEcu` served on the bench (0x7E0/0x7E8,
  functional 0x7DF) with the real monotonic clock.
- ``tester``: the tester side (:class:`uds_bench.ScanTool`): frame recorder, raw sends, clients.
- ``uds_client``: a factory of opened udsoncan clients (normal addressing 0x7E0/0x7E8 by default).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from ecusim.ecus.engine import EngineEcu
from tests.integration.uds_bench import Bench, ClientFactory, ScanTool


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    """A python-can virtual channel name no other test uses."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", request.node.nodeid)[-60:]
    return f"ecusim-{readable}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bench(channel: str) -> Iterator[Bench]:
    vehicle = Bench(channel)
    yield vehicle
    vehicle.close()


@pytest.fixture
def engine_node(bench: Bench) -> EngineEcu:
    """An engine ECU served on the test's channel with the real monotonic clock."""
    ecu = EngineEcu()
    bench.serve(ecu)
    return ecu


@pytest.fixture
def tester(channel: str) -> Iterator[ScanTool]:
    side = ScanTool(channel)
    yield side
    side.close()


@pytest.fixture
def uds_client(tester: ScanTool) -> ClientFactory:
    """Factory of opened udsoncan clients on the tester's bus (closed by ``tester``)."""
    return tester.client
