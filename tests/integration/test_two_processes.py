"""The node in another process: a python-can-remote hub (bound to 127.0.0.1, design guide
pitfall) bridges a virtual bus; ``ecusim run -i remote`` serves the engine on it; the test process
is the tester. Also: the failed-attempt counter survives SIGKILL through ``--state-dir``
(diagnostic-contract.md §3)."""

from __future__ import annotations

import io
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import can
import pytest
from udsoncan.client import Client

from ecusim.catalog.vin import lab_vin
from ecusim.tool.console import TextConsole
from ecusim.tool.contract import open_client
from ecusim.tool.errors import BusLostError, ToolError
from ecusim.tool.identify import identify
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.targets import ENGINE
from protocol.can_bus import close_bus
from protocol.uds.security import NVM_FAILED_ATTEMPTS, NVM_LAST_ATTEMPT_FAILED, NVM_LEVELS
from tests.integration.uds_bench import (
    DID_ACTIVE_SESSION,
    DID_VIN,
    ENGINE_CLIENT_ADDRESS,
    EXTENDED_SESSION,
    client_config,
    nrc_of,
)

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 15.0
"""Deadline for a subprocess to print its ready line (Python start-up on a busy 2-core box)."""

STOP_TIMEOUT_S = 10.0

READY_LINE = r"^ecusim: .*ready"

VIN = lab_vin("LS430", 2004)
"""The VIN of the default car of `ecusim run` (LS430 2004): `--vin` must match the car."""


class Process:
    """A child process whose merged stdout/stderr is read line by line by a thread (so a full
    pipe can never block it) and matched against a pattern to wait for."""

    def __init__(self, args: list[str], on_line: Callable[[str], None] | None = None) -> None:
        self.args = args
        self.on_line = on_line
        self.popen = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.rstrip("\n")
            if self.on_line is not None:
                self.on_line(line)
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first output line matching ``pattern``; fails after ``timeout`` or on exit."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def ready() -> bool:
            found[:] = [m for m in map(regex.search, self.lines) if m is not None][:1]
            return bool(found) or not self._reader.is_alive()

        with self._changed:
            self._changed.wait_for(ready, timeout=timeout)
        if not found:
            pytest.fail(f"{self.args[2:4]} never printed /{pattern}/; output: {self.lines}")
        return found[0]

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._reader.join(timeout=STOP_TIMEOUT_S)
        return code


class Starter(Protocol):
    def __call__(
        self, args: list[str], on_line: Callable[[str], None] | None = None
    ) -> Process: ...


@pytest.fixture
def processes() -> Iterator[Starter]:
    """Starts child processes; kills whatever is left at teardown."""
    started: list[Process] = []

    def start(args: list[str], on_line: Callable[[str], None] | None = None) -> Process:
        process = Process(args, on_line)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop(signal.SIGKILL)


@pytest.fixture
def hub(processes: Starter, channel: str) -> tuple[Process, str]:
    """A python-can-remote hub on 127.0.0.1 and an OS-chosen free port, over a virtual bus:
    the process and its URL."""
    process = processes(
        [sys.executable, "-m", "can_remote", "--interface", "virtual", "--channel", channel,
         "--host", "127.0.0.1", "--port", "0"]
    )  # fmt: skip
    assert process.wait_for(r"Server listening on (\S+):").group(1) == "127.0.0.1"
    port = int(process.wait_for(r"ws://localhost:(\d+)/").group(1))
    return process, f"ws://127.0.0.1:{port}/"


@pytest.fixture
def hub_url(hub: tuple[Process, str]) -> str:
    return hub[1]


def _ecusim_args(hub_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ecusim", "run", "-i", "remote", "-c", hub_url,
            "--duration", "60", "--vin", VIN, *extra]  # fmt: skip


def _start_ecusim(processes: Starter, hub_url: str, *extra: str) -> Process:
    """Start ``ecusim run`` and wait for its ready line (it is serving from then on, see
    ``test_ready_means_serving``)."""
    node = processes(_ecusim_args(hub_url, *extra))
    node.wait_for(READY_LINE)
    return node


@pytest.fixture
def remote_client(hub_url: str) -> Iterator[Client]:
    """A udsoncan client in this process, connected through the hub."""
    bus = can.Bus(interface="remote", channel=hub_url)
    notifier = can.Notifier(bus, [], timeout=0.1)
    client = open_client(bus, notifier, ENGINE_CLIENT_ADDRESS, config=client_config())
    yield client
    client.close()
    notifier.stop()
    bus.shutdown()


def test_udsoncan_through_the_hub_to_an_ecusim_process(
    processes: Starter, hub_url: str, remote_client: Client
) -> None:
    client = remote_client
    node = _start_ecusim(processes, hub_url)

    assert client.read_data_by_identifier_first(DID_VIN) == VIN
    client.change_session(EXTENDED_SESSION)
    assert client.read_data_by_identifier_first(DID_ACTIVE_SESSION) == 0x03
    client.unlock_security_access(0x01)

    assert node.stop(signal.SIGTERM) == 0
    assert node.lines[-1] == "ecusim: stopped"


def _wrong_key(level: int, seed: bytes, params: Any = None) -> bytes:
    return bytes(4)  # never the right key for a non-zero seed


def test_failed_attempt_survives_sigkill(
    processes: Starter,
    hub_url: str,
    remote_client: Client,
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    wrong = remote_client
    node = _start_ecusim(processes, hub_url, "--state-dir", str(state_dir))
    wrong.config["security_algo"] = _wrong_key
    wrong.change_session(EXTENDED_SESSION)

    assert nrc_of(wrong.unlock_security_access, 0x01) == 0x35

    assert node.stop(signal.SIGKILL) == -signal.SIGKILL
    nvm = json.loads((state_dir / "engine.nvm.json").read_text(encoding="ascii"))
    security = nvm["data"]["security"][NVM_LEVELS]["1"]  # on disk before 0x35 went out
    assert security[NVM_FAILED_ATTEMPTS] == 1
    assert security[NVM_LAST_ATTEMPT_FAILED] is True

    _start_ecusim(processes, hub_url, "--state-dir", str(state_dir))
    wrong.change_session(EXTENDED_SESSION)

    # The last attempt failed before the "power cycle": boot delay, requestSeed → 0x37.
    assert nrc_of(wrong.request_seed, 0x01) == 0x37


ANSWER_TIMEOUT_S = 10.0
"""Bound for the answer to the request sent on "ready": it comes within milliseconds through the
hub, so this bounds only a lost request (2 s once, with no margin for a loaded 2-core machine)."""


def _first_frame_on(frames: queue.Queue[can.Message], arbitration_id: int) -> can.Message | None:
    """The first queued frame on ``arbitration_id``, skipping the others (the car's body
    broadcasts start before "ready", and under load one can come before the answer); ``None``
    after ANSWER_TIMEOUT_S."""
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = frames.get(timeout=left)
        except queue.Empty:
            return None
        if frame.arbitration_id == arbitration_id:
            return frame
    return None


def test_ready_means_serving(processes: Starter, hub_url: str) -> None:
    """``ecusim run`` prints "ready" when serving: a request sent the moment the line appears
    must be answered."""
    bus = can.Bus(interface="remote", channel=hub_url)
    responses: queue.Queue[can.Message] = queue.Queue()
    notifier = can.Notifier(bus, [responses.put], timeout=0.1)
    tester_present = can.Message(
        arbitration_id=0x7E0,
        is_extended_id=False,
        data=bytes(
            [
                0x02,  # PCI: Single Frame, 2 bytes
                0x3E,  # TesterPresent
                0x00,  # zeroSubFunction
                0xCC,  # padding
                0xCC,  # padding
                0xCC,  # padding
                0xCC,  # padding
                0xCC,  # padding
            ]
        ),
    )

    def on_line(line: str) -> None:
        if re.search(READY_LINE, line):
            bus.send(tester_present)  # at once, from the thread that reads the output

    try:
        node = processes(_ecusim_args(hub_url), on_line)
        node.wait_for(READY_LINE)
        response = _first_frame_on(responses, 0x7E8)
        assert response is not None, "the request sent on 'ready' was lost"
        assert bytes(response.data[:3]) == bytes(
            [
                0x02,  # PCI: Single Frame, 2 bytes
                0x7E,  # TesterPresent positive response
                0x00,  # zeroSubFunction
            ]
        )
    finally:
        notifier.stop()
        bus.shutdown()


LOST_BUS_TIMEOUT_S = 10.0
"""Bound for noticing a dead hub (3 failed reads, 0.1 s apart, when it works)."""


def test_a_stopped_hub_ends_ecusim_run_with_one_line(
    processes: Starter, hub: tuple[Process, str]
) -> None:
    """The hub goes away under a running car. python-can's Notifier thread would die with a
    traceback and leave a deaf car running; can-remote's shutdown raises on the dead socket.
    Instead the car stops and says why, in one line, with exit status 1."""
    hub_process, url = hub
    node = _start_ecusim(processes, url)
    hub_process.stop(signal.SIGKILL)
    try:
        code = node.popen.wait(timeout=LOST_BUS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ecusim run kept running on a dead hub; output: {node.lines}")
    node.stop()  # the output reader has read everything
    assert code == 1
    assert node.lines[-1].startswith("ecusim: error: lost the CAN bus (WebsocketClosed(")
    assert node.lines[-1].endswith("): the car stopped")
    assert not [line for line in node.lines if "Traceback" in line or "Exception" in line]


def test_the_scan_tool_reports_a_lost_bus_not_a_silent_car(
    hub: tuple[Process, str], caplog: pytest.LogCaptureFixture
) -> None:
    hub_process, url = hub
    bus = can.Bus(interface="remote", channel=url)
    try:
        with DiagnosticLink(bus, request_timeout_s=0.5) as link:
            hub_process.stop(signal.SIGKILL)
            assert link.receive_watch.lost.wait(LOST_BUS_TIMEOUT_S)
            with pytest.raises(ToolError, match=r"^the VIN: lost the CAN bus \(WebsocketClosed"):
                link.read(ENGINE, DID_VIN, "the VIN")
            # Identification probes which nodes answer: a lost bus is not "the car does not
            # answer", even with the model and year known (it would go on and ask for the VIN).
            console = TextConsole(io.StringIO(), assume_yes=True)
            with pytest.raises(BusLostError, match=r": lost the CAN bus \(WebsocketClosed"):
                identify(link, console, model="LS430", year=2004)
    finally:
        close_bus(bus)
    # can-remote's shutdown raises on the dead socket: logged, not raised, and the bus is marked
    # shut so that python-can's finaliser does not try (and fail) again at exit.
    assert "closing the CAN bus failed: OSError(" in caplog.text
    assert bus._is_shutdown
