"""A vehicle's bus connection when the bus fails: reception errors are handled (python-can's
Notifier would otherwise die with a traceback) and a bus that keeps failing is declared lost
once. A real dead hub: tests/integration/test_two_processes.py."""

from __future__ import annotations

import threading
import uuid

import can
import pytest

from protocol import can_bus as bus_module
from protocol.can_bus import RECEIVE_ERRORS_FOR_LOST, BusConnection, ReceiveWatch

LOST_TIMEOUT_S = 5.0
FRAMES = 20


@pytest.fixture
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch's back-off is for a Notifier thread; driven directly, it need not wait."""
    monkeypatch.setattr(bus_module, "RECEIVE_RETRY_S", 0.0)


@pytest.mark.usefixtures("no_retry_wait")
def test_errors_between_frames_never_lose_the_bus() -> None:
    lost: list[Exception] = []
    watch = ReceiveWatch(lost.append)
    for _ in range(10):
        for _ in range(RECEIVE_ERRORS_FOR_LOST - 1):
            watch.on_error(can.CanOperationError("one bad read"))
        watch.on_message_received(can.Message(arbitration_id=0x123))  # the bus still delivers
    assert not watch.lost.is_set()
    assert watch.error is None
    assert lost == []


@pytest.mark.usefixtures("no_retry_wait")
def test_errors_in_a_row_lose_the_bus_once() -> None:
    lost: list[Exception] = []
    watch = ReceiveWatch(lost.append)
    errors = [can.CanOperationError(f"read {n}") for n in range(RECEIVE_ERRORS_FOR_LOST + 3)]
    for error in errors:
        watch.on_error(error)
    assert watch.lost.is_set()
    assert watch.error is errors[RECEIVE_ERRORS_FOR_LOST - 1]  # the one that decided it
    assert lost == [watch.error]  # told once, however long the bus keeps failing


def test_a_bus_closed_under_the_connection_is_lost_and_closing_still_works() -> None:
    """python-can's virtual bus raises ``CanOperationError`` on every read once shut down: the
    Notifier thread survives it, the owner is told once, and ``close`` ends the thread."""
    bus = can.Bus(interface="virtual", channel=f"bus-connection-{uuid.uuid4().hex}")
    lost: list[Exception] = []
    connection = BusConnection(bus, owns_bus=False, on_lost=lost.append)
    try:
        bus.shutdown()
        assert connection.receive_watch.lost.wait(LOST_TIMEOUT_S)
    finally:
        connection.close()
    assert len(lost) == 1
    assert isinstance(lost[0], can.CanOperationError)
    assert connection.receive_watch.error is lost[0]


@pytest.mark.usefixtures("no_retry_wait")
def test_errors_far_apart_on_a_quiet_bus_never_lose_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """No frame tells a good read on a quiet bus: errors further apart than
    RECEIVE_ERROR_GAP_S are separate incidents, not "in a row"."""
    monkeypatch.setattr(bus_module, "RECEIVE_ERROR_GAP_S", -1.0)  # every error is "far apart"
    watch = ReceiveWatch()
    for _ in range(RECEIVE_ERRORS_FOR_LOST * 3):
        watch.on_error(can.CanOperationError("a transient error"))
    assert not watch.lost.is_set()


def test_a_failing_listener_is_not_taken_for_a_failing_bus(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """python-can calls the listeners inside the read's ``try``: an exception from one would
    reach the watch as a read error (and its back-off would slow reception to 10 frames/s)."""
    channel = f"bus-connection-{uuid.uuid4().hex}"
    bus = can.Bus(interface="virtual", channel=channel)
    sender = can.Bus(interface="virtual", channel=channel)
    received: list[int] = []
    done = threading.Event()

    def broken(msg: can.Message) -> None:
        raise RuntimeError("a listener bug")

    def counting(msg: can.Message) -> None:
        received.append(msg.arbitration_id)
        if len(received) == FRAMES:
            done.set()

    connection = BusConnection(bus)
    try:
        connection.subscribe(broken)
        connection.subscribe(counting)
        for n in range(FRAMES):
            sender.send(can.Message(arbitration_id=0x100 + n, is_extended_id=False))
        assert done.wait(LOST_TIMEOUT_S)
    finally:
        connection.close()
        sender.shutdown()
    assert received == [0x100 + n for n in range(FRAMES)]
    assert "frame listener" in caplog.text and "a listener bug" in caplog.text
    assert "reading from the CAN bus failed" not in caplog.text
    assert not connection.receive_watch.lost.is_set()
