"""Fixtures of the acceptance tests (the issue's acceptance points, end to end).

- ``channel``: a python-can virtual channel name unique to the test.
- ``processes``: starts child processes (:class:`acceptance_kit.Process`), killed at teardown.
- ``hub_url``: a python-can-remote hub bound to 127.0.0.1 on a free port, over a virtual bus.
- ``remote_tester``: a :class:`acceptance_kit.Tester` connected through the hub.
"""

from __future__ import annotations

import re
import signal
import sys
import uuid
from collections.abc import Iterator

import can
import pytest

from tests.acceptance.acceptance_kit import Process, Starter, Tester


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    """A python-can virtual channel name no other test uses."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", request.node.nodeid)[-60:]
    return f"ecusim-acceptance-{readable}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def processes() -> Iterator[Starter]:
    """Starts child processes; kills whatever is left at teardown."""
    started: list[Process] = []

    def start(args: list[str]) -> Process:
        process = Process(args)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop(signal.SIGKILL)


@pytest.fixture
def hub_url(processes: Starter, channel: str) -> str:
    """A python-can-remote hub on 127.0.0.1 and an OS-chosen free port, over a virtual bus
    (bound to 127.0.0.1: the hub listens on all addresses by default)."""
    hub = processes(
        [sys.executable, "-m", "can_remote", "--interface", "virtual", "--channel", channel,
         "--host", "127.0.0.1", "--port", "0"]
    )  # fmt: skip
    assert hub.wait_for(r"Server listening on (\S+):").group(1) == "127.0.0.1"
    port = int(hub.wait_for(r"ws://localhost:(\d+)/").group(1))
    return f"ws://127.0.0.1:{port}/"


@pytest.fixture
def remote_tester(hub_url: str) -> Iterator[Tester]:
    """A scan tool in this process, connected to the hub."""
    bus = can.Bus(interface="remote", channel=hub_url)
    tester = Tester(bus)
    yield tester
    tester.close()
    bus.shutdown()
