"""docs/monitor.md shows the acceptance test's screenshot, and the file is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def test_the_monitor_doc_shows_its_screenshot() -> None:
    text = (DOCS / "monitor.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]*\]\((images/[^)]+\.svg)\)", text)
    assert shown == ["images/monitor-reset.svg"]
    picture = (DOCS / shown[0]).read_text(encoding="utf-8")
    assert picture.startswith("<svg") and "7F 31 78" in picture.replace("&#160;", " ")
