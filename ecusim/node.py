"""Running simulated ECUs on a bus until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
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
) -> None:
    """Serve every ECU on ``connection`` until ``stop`` is set or ``duration_s`` passes."""
    with ExitStack() as stack:
        for ecu in ecus:
            stack.enter_context(ecu.binding(connection.bus, connection.notifier, clock))
            logger.info("serving %s", ecu.describe())
        stop.wait(duration_s)
