"""The monitor's outputs for a pipe: log lines (``--plain``) and JSON lines (``--events``)."""

from __future__ import annotations

import json
import threading
from typing import TextIO

from ecusim.wire.decoder import Event, event_line


class EventWriter:
    """Writes each event as one JSON object on a line (docs/monitor.md), flushed at once; a
    write that fails (a closed pipe) stops the writer, not the bus."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.error: OSError | None = None

    def __call__(self, event: Event) -> None:
        line = json.dumps(event.to_json(), ensure_ascii=False)
        with self._lock:
            if self.error is not None:
                return
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError) as exc:  # ValueError: the file was closed
                self.error = exc if isinstance(exc, OSError) else OSError(str(exc))


class LineWriter:
    """Writes each event as its log line (:func:`~ecusim.wire.decoder.event_line`)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._stream.write(event_line(event) + "\n")
            self._stream.flush()
