"""What a tool run did, as data: the steps it took and what each said (``--json``)."""

from __future__ import annotations

from typing import Any

from ecusim.tool.console import Console, Progress


class RecordingConsole:
    """A :class:`~ecusim.tool.console.Console` that passes everything to ``inner`` and keeps
    each step with its messages and warnings (:attr:`steps`, JSON-ready)."""

    def __init__(self, inner: Console) -> None:
        self.inner = inner
        self.steps: list[dict[str, Any]] = []

    def _current(self) -> dict[str, Any]:
        if not self.steps:
            self.steps.append({"step": "", "messages": [], "warnings": []})
        return self.steps[-1]

    def step(self, text: str) -> None:
        self.steps.append({"step": text, "messages": [], "warnings": []})
        self.inner.step(text)

    def info(self, text: str) -> None:
        self._current()["messages"].append(text)
        self.inner.info(text)

    def warn(self, text: str) -> None:
        self._current()["warnings"].append(text)
        self.inner.warn(text)

    def progress(self, label: str, total: float, unit: str = "s") -> Progress:
        return self.inner.progress(label, total, unit)

    def confirm(self, question: str) -> bool:
        answer = self.inner.confirm(question)
        self._current()["messages"].append(f"{question} {'yes' if answer else 'no'}")
        return answer

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        return self.inner.ask(prompt, secret=secret)
