"""A vehicle's bus connection when the bus fails: reception errors are handled (python-can's
Notifier would otherwise die with a traceback) and a bus that keeps failing is declared lost
once. A real dead hub: tests/integration/test_two_processes.py."""

from __future__ import annotations

import uuid

import can
import pytest

from ecusim import bus as bus_module
from ecusim.bus import RECEIVE_ERRORS_FOR_LOST, BusConnection, ReceiveWatch

LOST_TIMEOUT_S = 5.0


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
