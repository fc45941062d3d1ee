"""How the workflow talks to the technician: narration, progress bars, confirmations.

:class:`TextConsole` writes to a text stream. On a terminal a progress bar redraws in place;
elsewhere (a log file, a CI job) it prints a line at the start, at each quarter and at the end,
so a record of the run stays readable.
"""

from __future__ import annotations

import getpass
import sys
from typing import Protocol, TextIO

BAR_WIDTH = 30
_QUARTERS = (0.25, 0.5, 0.75)


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


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """``[######........]`` for ``fraction`` in [0, 1] (clamped)."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


class TextProgress:
    """A progress bar on a text stream (see the module docstring)."""

    def __init__(self, stream: TextIO, label: str, total: float, unit: str, live: bool) -> None:
        self._stream = stream
        self._label = label
        self._total = max(total, 1e-9)
        self._unit = unit
        self._live = live
        self._quarters_shown = 0
        self._first = True
        self._complete_shown = False
        self._finished = False
        self.update(0.0)

    def _line(self, done: float, note: str) -> str:
        fraction = max(0.0, min(1.0, done / self._total))
        amount = f"{done:.0f}/{self._total:.0f} {self._unit}".rstrip()
        tail = f"  {note}" if note else ""
        return f"  {self._label} {bar(fraction)} {fraction:4.0%} {amount}{tail}"

    def update(self, done: float, note: str = "") -> None:
        if self._finished:
            return
        if self._live:
            self._stream.write(f"\r{self._line(done, note)}\x1b[K")
        else:
            fraction = done / self._total
            crossed = [q for q in _QUARTERS[self._quarters_shown :] if fraction >= q]
            if self._first or crossed:
                self._stream.write(f"{self._line(done, note)}\n")
                self._complete_shown = done >= self._total
            self._first = False
            self._quarters_shown += len(crossed)
        self._stream.flush()

    def finish(self, note: str = "", done: float | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        if self._complete_shown and not note and done is None:
            return  # the last line already says 100 %
        line = self._line(self._total if done is None else done, note)
        self._stream.write(f"\r{line}\x1b[K\n" if self._live else f"{line}\n")
        self._stream.flush()


class TextConsole:
    """A console on ``stream`` (default stdout). ``assume_yes`` answers every confirmation
    with yes (``--yes``); without it and without a terminal, confirmations answer no."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        assume_yes: bool = False,
        interactive: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.assume_yes = assume_yes
        isatty = getattr(self.stream, "isatty", None)
        live = bool(isatty()) if callable(isatty) else False
        self.interactive = live if interactive is None else interactive

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, text: str) -> None:
        self._print(f"\n== {text}")

    def info(self, text: str) -> None:
        self._print(f"  {text}")

    def warn(self, text: str) -> None:
        self._print(f"  ! {text}")

    def progress(self, label: str, total: float, unit: str = "s") -> TextProgress:
        return TextProgress(self.stream, label, total, unit, live=self.interactive)

    def confirm(self, question: str) -> bool:
        if self.assume_yes:
            self._print(f"  {question} [y/N] yes (--yes)")
            return True
        if not (self.interactive and sys.stdin.isatty()):
            self._print(f"  {question} [y/N] no (nobody to answer: use --yes)")
            return False
        return input(f"  {question} [y/N] ").strip().lower() in {"y", "yes"}

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        if not sys.stdin.isatty():
            raise EOFError(f"{prompt}: no terminal to ask on")
        if secret:
            return getpass.getpass(f"  {prompt}: ")
        return input(f"  {prompt}: ")
