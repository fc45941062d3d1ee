"""How the workflow talks to the technician: narration, progress bars, confirmations.

:class:`TextConsole` writes to a text stream through a Rich console. On a terminal a progress bar
is a live Rich bar redrawn in place, its label kept and a long note cut to the width; elsewhere
(a pipe, a log file, a CI job) Rich draws nothing while the bar runs and one line when it ends,
with its real outcome, so a record of the run has no redraw codes and no repeated lines.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from typing import Final, Protocol, TextIO

from rich.console import Console as RichConsole
from rich.progress import BarColumn, TaskID, TaskProgressColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.table import Column

BAR_WIDTH: Final = 30
"""Characters of the bar in a log (on a terminal it takes the width left)."""
LOG_WIDTH: Final = 240
"""A log's line width (no terminal to fit): notes are cut only past it."""


class Progress(Protocol):
    def update(self, done: float, note: str = "") -> None:
        """``done`` of the total units (seconds, keys) are done."""

    def finish(self, note: str = "", done: float | None = None) -> None:
        """The wait is over (``done`` default: all of it)."""


class Console(Protocol):
    """What the workflow needs from a user interface."""

    def step(self, text: str) -> None:
        """A new step of the procedure (a heading)."""

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...

    def progress(self, label: str, total: float, unit: str = "s") -> Progress: ...

    def confirm(self, question: str) -> bool:
        """Yes or no; ``False`` when nobody can answer."""

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        """A line typed by the technician (``secret``: not echoed); ``EOFError`` if nobody can
        type."""


class RichBar:
    """A :class:`Progress` drawn by Rich (see the module docstring)."""

    def __init__(self, console: RichConsole, label: str, total: float, unit: str) -> None:
        self._total = max(total, 1e-9)
        self._unit = unit
        live = console.is_terminal
        self._bar = RichProgress(
            TextColumn("  {task.description}", table_column=Column(no_wrap=True)),
            BarColumn(
                bar_width=None if live else BAR_WIDTH,
                table_column=Column(ratio=1, min_width=10) if live else None,
            ),
            TaskProgressColumn(),
            TextColumn("{task.fields[amount]}", table_column=Column(no_wrap=True)),
            TextColumn(
                "{task.fields[note]}",
                table_column=Column(no_wrap=True, overflow="ellipsis", ratio=2 if live else None),
            ),
            console=console,
            auto_refresh=False,  # redrawn at each update: no thread of its own
            expand=live,
        )
        self._task: TaskID = self._bar.add_task(
            label, total=self._total, amount=self._amount(0.0), note=""
        )
        self._finished = False
        self._bar.start()
        self._bar.refresh()

    def _amount(self, done: float) -> str:
        return f"{done:.0f}/{self._total:.0f} {self._unit}".rstrip()

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def done(self) -> float:
        return float(self._bar.tasks[0].completed)

    def update(self, done: float, note: str = "") -> None:
        if self._finished:
            return
        done = max(0.0, min(self._total, done))
        self._bar.update(
            self._task, completed=done, amount=self._amount(done), note=note, refresh=True
        )

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The bar stops being live while someone types (a prompt below it), then resumes."""
        if self._finished:
            yield
            return
        self._bar.stop()
        try:
            yield
        finally:
            self._bar.start()
            self._bar.refresh()

    def finish(self, note: str = "", done: float | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        if done is None:
            done = self._total
        done = max(0.0, min(self._total, done))
        if note or done != self.done:
            self._bar.update(self._task, completed=done, amount=self._amount(done), note=note)
        self._bar.stop()  # the last state stays on the terminal; a log gets its one line


class TextConsole:
    """A console on ``stream`` (default stdout). ``assume_yes`` answers every confirmation
    with yes (``--yes``); without it and without a terminal, confirmations answer no.
    ``interactive`` (default: whether ``stream`` is a terminal) draws live bars; ``width``
    overrides the terminal's."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        assume_yes: bool = False,
        interactive: bool | None = None,
        width: int | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.assume_yes = assume_yes
        isatty = getattr(self.stream, "isatty", None)
        live = bool(isatty()) if callable(isatty) else False
        self.interactive = live if interactive is None else interactive
        self.rich = RichConsole(
            file=self.stream,
            force_terminal=self.interactive,
            width=width if width is not None or self.interactive else LOG_WIDTH,
            markup=False,
            emoji=False,
            highlight=False,
        )
        self._bars: list[RichBar] = []

    def _print(self, text: str) -> None:
        self.rich.print(text, soft_wrap=True)  # above a live bar; a log line as it is
        self.stream.flush()

    def step(self, text: str) -> None:
        self._print(f"\n== {text}")

    def info(self, text: str) -> None:
        self._print(f"  {text}")

    def warn(self, text: str) -> None:
        self._print(f"  ! {text}")

    def progress(self, label: str, total: float, unit: str = "s") -> RichBar:
        self.close()  # one bar at a time
        bar = RichBar(self.rich, label, total, unit)
        self._bars = [bar]
        return bar

    def close(self) -> None:
        """Stop a bar a failed step left running (its last state stays shown)."""
        for bar in self._bars:
            if not bar.finished:
                bar.finish("stopped", done=bar.done)
        self._bars = []

    def confirm(self, question: str) -> bool:
        if self.assume_yes:
            self._print(f"  {question} [y/N] yes (--yes)")
            return True
        if not (self.interactive and sys.stdin.isatty()):
            self._print(f"  {question} [y/N] no (nobody to answer: use --yes)")
            return False
        with self._bars_paused():
            return input(f"  {question} [y/N] ").strip().lower() in {"y", "yes"}

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        if not sys.stdin.isatty():
            raise EOFError(f"{prompt}: no terminal to ask on")
        with self._bars_paused():
            if secret:
                return getpass.getpass(f"  {prompt}: ")
            return input(f"  {prompt}: ")

    @contextlib.contextmanager
    def _bars_paused(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for bar in self._bars:
                stack.enter_context(bar.paused())
            yield
