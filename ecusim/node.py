"""Running simulated ECUs on a bus until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from ecusim.bus import BusConnection
from ecusim.ecus.base import DiagnosableEcu
from protocol.clock import Clock

logger = logging.getLogger(__name__)


def serve(
    ecus: Sequence[DiagnosableEcu],
    connection: BusConnection,
    clock: Clock,
    stop: threading.Event,
    *,
    duration_s: float | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve every ECU on ``connection`` until ``stop`` is set or ``duration_s`` passes.

    ``on_ready`` runs once every ECU is powered on and listening (its NVM validated)."""
    with ExitStack() as stack:
        for ecu in ecus:
            stack.enter_context(ecu.binding(connection.tx_bus, connection.notifier, clock))
            logger.info("serving %s", ecu.describe())
        if on_ready is not None:
            on_ready()
        stop.wait(duration_s)
