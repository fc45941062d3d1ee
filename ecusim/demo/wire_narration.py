"""``ecusim demo --wire``: the scan tool's UDS bytes in the narration, where each step sends them.

A :class:`~ecusim.tool.link.DiagnosticLink` observer (``on_wire``): each request and its
answers as one line per answer, ``wire  27 11 → 67 11 05 80 …``, a negative answer with its NRC
name (``wire  31 01 02 01 → 7F 31 78 requestCorrectlyReceived-ResponsePending``), a request
nobody answers as ``→ no answer``. The same request repeated (polls, TesterPresent) is folded
into one line with its last answer, as in the trace summary.
"""

from __future__ import annotations

import threading
from typing import Final

from ecusim.tool.console import Console
from ecusim.tool.targets import Target
from ecusim.wire.message_text import nrc_text
from protocol.constants import NEGATIVE_RESPONSE_SID

MAX_BYTES: Final = 12


def wire_bytes(payload: bytes) -> str:
    """``67 11 05 80 …``: the first :data:`MAX_BYTES` bytes in hex."""
    shown = payload[:MAX_BYTES].hex(" ").upper()
    return shown + (" …" if len(payload) > MAX_BYTES else "")


def _answer_text(payload: bytes) -> str:
    if len(payload) >= 3 and payload[0] == NEGATIVE_RESPONSE_SID:
        return f"{wire_bytes(payload)} ({nrc_text(payload[2])})"
    return wire_bytes(payload)


class WireNarration:
    """Prints the tool's exchanges on ``console`` (thread-safe: the keep-alive sends too)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._request: tuple[Target, bytes] | None = None
        self._answered = True
        self._repeats = 0
        self._last_answer: bytes | None = None

    def __call__(self, target: Target, payload: bytes, sent: bool) -> None:
        with self._lock:
            if sent:
                self._on_request(target, payload)
            else:
                self._on_answer(payload)

    def _on_request(self, target: Target, payload: bytes) -> None:
        if (target, payload) == self._request:
            if self._repeats == 0 and not self._answered:
                self._say(f"{wire_bytes(payload)} → no answer ({target.name})")
            self._repeats += 1
            self._answered = False
            return
        self._close()
        self._request = (target, payload)
        self._answered = False

    def _on_answer(self, payload: bytes) -> None:
        if self._request is None:
            return
        self._answered = True
        self._last_answer = payload
        if not self._repeats:  # a repeat is folded: the closing line gives its last answer
            self._say(f"{wire_bytes(self._request[1])} → {_answer_text(payload)}")

    def _close(self) -> None:
        """The previous request's end: no answer, or the fold of its repeats."""
        if self._request is None:
            return
        request = wire_bytes(self._request[1])
        if self._repeats == 0 and not self._answered:
            self._say(f"{request} → no answer ({self._request[0].name})")
        elif self._repeats:
            last = "no answer" if not self._answered else _answer_text(self._last_answer or b"")
            self._say(f"… the same request {self._repeats} more time(s), last answer: {last}")
        self._repeats = 0
        self._last_answer = None

    def _say(self, text: str) -> None:
        self._console.info(f"wire  {text}")

    def flush(self) -> None:
        """Print what is pending (a fold, an unanswered request): at the end of the demo."""
        with self._lock:
            self._close()
            self._request = None
            self._answered = True
