"""One UDS exchange: a request, its 0x78 responsePending answers and its final response, timed
against the server's P2/P2* (ISO 14229-2:2013 §7.2, Table 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ecusim.tool.nrc_text import nrc_name
from ecusim.wire import names
from ecusim.wire.reassembly import Payload
from protocol.uds.timing import ServerTiming

DEFAULT_TIMING: Final = ServerTiming()
"""diagnostic-contract.md §2: P2server 50 ms, P2*server 5 s, until a 0x50 response says more."""


@dataclass
class Exchange:
    """A request to ``node`` (``functional``: sent to the functional ID) and its answers."""

    node: str
    request: Payload
    functional: bool = False
    p2_s: float = DEFAULT_TIMING.p2_s
    p2_star_s: float = DEFAULT_TIMING.p2_star_s
    pending: list[Payload] = field(default_factory=list)
    """The 0x78 responsePending answers (ISO 14229-1 §A.1), in order."""
    final: Payload | None = None

    @property
    def time(self) -> float:
        return self.request.end

    @property
    def expects_response(self) -> bool:
        return not names.suppressed(self.request.data)

    @property
    def nrc(self) -> int | None:
        return None if self.final is None else names.negative_code(self.final.data)

    @property
    def elapsed_s(self) -> float | None:
        """From the end of the request to the start of the final response."""
        return None if self.final is None else self.final.start - self.request.end

    def add(self, response: Payload) -> bool:
        """Record ``response``; ``True`` if it ends the exchange (not a 0x78)."""
        if names.is_response_pending(response.data):
            self.pending.append(response)
            return False
        self.final = response
        return True

    def timing_problems(self) -> list[str]:
        """Where the server was late: the first answer after P2server_max, an answer after a
        0x78 later than P2*server_max (ISO 14229-2 §7.2)."""
        answers = [*self.pending, *([self.final] if self.final is not None else [])]
        problems: list[str] = []
        previous = self.request.end
        for index, answer in enumerate(answers):
            limit, label = (self.p2_s, "P2") if index == 0 else (self.p2_star_s, "P2*")
            gap = answer.start - previous
            if gap > limit:
                problems.append(f"{label} exceeded: {gap * 1000:.0f} ms > {limit * 1000:.0f} ms")
            previous = answer.start
        return problems

    def describe(self, *, finished: bool = True) -> str:
        """``27 11 SecurityAccess requestSeed … → 67 11 … positive: seed (16 bytes)  3 ms``;
        an exchange not ``finished`` yet ends with ``→ …`` instead of ``→ no response``."""
        request = self.request.data
        text = f"{names.hex_bytes(request)} {names.describe_request(request)}"
        if self.pending:
            first = self.pending[0].data
            text += f" → {names.hex_bytes(first)} {nrc_name(first[2])} ×{len(self.pending)}"  # noqa: RUF001 (a count)
        if self.final is None:
            if not finished:
                text += " → …"
            elif self.expects_response:
                text += " → no response"
            return text
        final = self.final.data
        text += f" → {names.hex_bytes(final)} {names.describe_response(request, final)}"
        elapsed = self.elapsed_s or 0.0
        timing = self.timing_problems()
        limit = "P2*" if self.pending else "P2"
        note = "; ".join(timing) if timing else f"within {limit}"
        return f"{text}  [{elapsed * 1000:.0f} ms, {note}]"

    def to_json(self) -> dict[str, Any]:
        """The JSON event of docs/monitor.md ("exchange")."""
        request = self.request.data
        final = None if self.final is None else self.final.data
        nrc = self.nrc
        return {
            "type": "exchange",
            "time": self.request.end,
            "node": self.node,
            "functional": self.functional,
            "request": request.hex(" ").upper(),
            "service": names.service_name(request[0]) if request else None,
            "request_name": names.describe_request(request),
            "pending": len(self.pending),
            "response": None if final is None else final.hex(" ").upper(),
            "response_time": None if self.final is None else self.final.start,
            "response_name": None if final is None else names.describe_response(request, final),
            "nrc": nrc,
            "nrc_name": None if nrc is None else nrc_name(nrc),
            "elapsed_s": self.elapsed_s,
            "p2_s": self.p2_s,
            "p2_star_s": self.p2_star_s,
            "timing_problems": self.timing_problems(),
            "text": self.describe(),
        }
