"""The Textual app of ``ecusim monitor``: a panel per ECU and one for the car, the exchange log.

The decoder is fed from the bus's own thread; the app reads it every :data:`REFRESH_S` (the
events since the last look, and a snapshot of the state), so the UI thread never touches the bus.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar, Final

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Header, RichLog, Static

from ecusim.wire.decoder import WireDecoder, event_line

REFRESH_S: Final = 0.1
MAX_LOG_LINES: Final = 2000
FIELD_ORDER: Final = (
    "session", "security", "registration mode", "waiting period", "key codes", "master keys",
    "sub keys", "smart keys", "key slot", "indicator", "ignition", "key in", "engine",
    "last start", "start permission", "immobilizer",
)  # fmt: skip
"""Fields are shown in this order (by the start of their name), the rest after them."""


def _rank(name: str) -> tuple[int, str]:
    ranks = [index for index, prefix in enumerate(FIELD_ORDER) if name.startswith(prefix)]
    return (ranks[0] if ranks else len(FIELD_ORDER), name)


def panel_text(subject: str, fields: dict[str, str]) -> Text:
    """A panel's text: the subject in bold, then ``field: value`` lines (:data:`FIELD_ORDER`)."""
    text = Text(subject, style="bold")
    if not fields:
        text.append("\n(nothing seen yet)", style="dim")
    for name in sorted(fields, key=_rank):
        text.append(f"\n{name}: ", style="cyan")
        text.append(fields[name])
    return text


class MonitorApp(App[None]):
    """Shows what ``decoder`` reads off the bus; quits on ``q`` or once ``stop`` is set (and
    sets it when it quits, so a car running beside it stops too)."""

    TITLE = "ecusim monitor"
    CSS = """
    #panels { height: auto; max-height: 60%; }
    .panel { width: 1fr; height: auto; border: round $accent; padding: 0 1; }
    #pending { height: auto; color: $warning; }
    #log { height: 1fr; border: round $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def __init__(
        self, decoder: WireDecoder, *, stop: threading.Event | None = None, subtitle: str = ""
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self.stop = stop if stop is not None else threading.Event()
        self.sub_title = subtitle
        self.log_lines: list[str] = []
        """Every line written to the log, for a reader that is not a person (tests)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panels"):
            for index, _subject in enumerate(self.decoder.state.snapshot()):
                yield Static(id=f"panel-{index}", classes="panel")
        yield Static(id="pending")
        yield RichLog(id="log", wrap=True, max_lines=MAX_LOG_LINES)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_from_bus()
        self.set_interval(REFRESH_S, self.refresh_from_bus)

    def refresh_from_bus(self) -> None:
        if self.stop.is_set():
            self.exit()
            return
        self.decoder.tick(time.time())
        log = self.query_one("#log", RichLog)
        for event in self.decoder.drain():
            line = event_line(event)
            self.log_lines.append(line)
            log.write(Text(line), expand=True)
        for index, (subject, fields) in enumerate(self.decoder.state.snapshot().items()):
            self.query_one(f"#panel-{index}", Static).update(panel_text(subject, fields))
        waiting = [
            f"{exchange.node}: {exchange.describe(finished=False)}"
            for exchange in self.decoder.in_progress()
        ]
        self.query_one("#pending", Static).update(Text("\n".join(waiting)))

    def on_unmount(self) -> None:
        self.stop.set()
