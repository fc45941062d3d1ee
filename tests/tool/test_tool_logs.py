"""Issue 14: udsoncan's and the bus's log lines (``WARNING UdsClient…``, ``ERROR …can_bus…``,
``OSError(107…)``) leaked above the tool's own one-line error. Now only ``-v`` shows them.

The tool runs as ``ecusim`` in a child process (its real stderr, with the CLI's own logging set
up) against a car in this process, through a python-can-remote hub on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import can
import pytest

from ecusim.car.vehicle import Vehicle
from protocol.can_bus import close_bus
from tests.acceptance.acceptance_kit import Process
from tests.tool.tool_kit import PASSWORD, ServedPortal, ready_for_reset

ROOT: Final = Path(__file__).resolve().parents[2]
TOOL_TIMEOUT_S: Final = 120.0
"""A generous bound for one tool run (the machine may be loaded)."""


@pytest.fixture
def hub() -> Iterator[tuple[str, Process]]:
    """A python-can-remote hub on 127.0.0.1 and a free port, over a virtual bus of its own."""
    process = Process(
        [sys.executable, "-m", "can_remote", "--interface", "virtual", "--channel",
         f"tool-logs-{os.getpid()}", "--host", "127.0.0.1", "--port", "0"]
    )  # fmt: skip
    try:
        process.wait_for(r"Server listening on 127\.0\.0\.1:")
        port = int(process.wait_for(r"ws://localhost:(\d+)/").group(1))
        yield f"ws://127.0.0.1:{port}/", process
    finally:
        process.stop(signal.SIGKILL)


@pytest.fixture
def remote_car(hub: tuple[str, Process]) -> Iterator[Callable[..., Vehicle]]:
    """``remote_car(model, year)``: a car in this process on the hub's bus."""
    started: list[tuple[Vehicle, can.BusABC]] = []

    def start(model: str, year: int) -> Vehicle:
        car = Vehicle.from_catalog(model, year, seed=7, time_scale=500.0)
        bus = can.Bus(interface="remote", channel=hub[0])
        car.start(bus)
        started.append((car, bus))
        return car

    yield start
    for car, bus in started:
        car.stop()
        close_bus(bus)  # the test may have taken the hub away: a failure is only logged


def _ecusim(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ECUSIM_PORTAL_PASSWORD": PASSWORD}
    return subprocess.Popen(
        [sys.executable, "-m", "ecusim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _stderr_lines(child: subprocess.Popen[str]) -> tuple[int, list[str]]:
    _, err = child.communicate(timeout=TOOL_TIMEOUT_S)
    return child.returncode, [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("verbose", [False, True])
def test_a_refusal_shows_only_the_tool_s_line_unless_verbose(
    hub: tuple[str, Process], remote_car: Callable[..., Vehicle], verbose: bool
) -> None:
    """A smart car with the ignition OFF refuses registration (7F 31 22): stderr is the tool's
    one line; with ``-v`` udsoncan's warning about the negative response is there too."""
    remote_car("LS460", 2012)
    flags = ["-v"] if verbose else []
    child = _ecusim(*flags, "tool", "register-keys", "-i", "remote", "-c", hub[0], "--lab-keys")
    code, lines = _stderr_lines(child)
    assert code == 1, lines
    mine = [line for line in lines if line.startswith("ecusim: error: ")]
    assert len(mine) == 1 and "(NRC 0x22 conditionsNotCorrect)" in mine[0], lines
    library = [line for line in lines if "UdsClient" in line]
    if verbose:
        assert any("NegativeResponseException" in line for line in library), lines
    else:
        assert lines == mine  # nothing above the tool's own error


def test_a_lost_bus_shows_only_the_tool_s_line(
    hub: tuple[str, Process], remote_car: Callable[..., Vehicle], portal: ServedPortal
) -> None:
    """The hub goes away while the tool waits for the approval: the bus watch's warnings and
    errors (``reading from the CAN bus failed``, ``the CAN bus is lost``, ``closing the CAN bus
    failed: OSError(107…)``) stay out of stderr; the tool says what happened, once."""
    url, hub_process = hub
    ready_for_reset(remote_car("LS430", 2004))
    child = _ecusim(
        "tool", "reset", "-i", "remote", "-c", url, "--portal", portal.url, "--user",
        portal.dealer.technician.username, "--repair-order", "RO-1", "--customer", "Smith",
        "--confirm-identification", "--approval-wait", "300",
    )  # fmt: skip
    assert child.stdout is not None
    seen: list[str] = []
    for line in child.stdout:  # the tool waits for a manager once it printed the approval file
        seen.append(line)
        if "approval file:" in line:
            break
    assert any("approval file:" in line for line in seen), seen
    hub_process.stop(signal.SIGKILL)
    code, lines = _stderr_lines(child)
    assert code == 1, lines
    assert len(lines) == 1 and lines[0].startswith("ecusim: error: "), lines
    assert "the car stopped answering" in lines[0] or "lost the CAN bus" in lines[0], lines
