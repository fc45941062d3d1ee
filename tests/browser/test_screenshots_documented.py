"""The pictures of the pages in docs/portal.md are the browser tests' screenshots: every picture
the guide shows is one a test saves (``screenshot(driver, "<name>", …)``) and is in the
repository. They are refreshed with ``ECUSIM_SCREENSHOT_DIR=docs/images/portal python -m pytest
tests/browser`` (docs/portal.md, "The pages in pictures")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
GUIDE: Final = ROOT / "docs" / "portal.md"
PICTURES: Final = ROOT / "docs" / "images" / "portal"
_SHOWN: Final = re.compile(r"\(images/portal/([a-z0-9-]+)\.png\)")
_SAVED: Final = re.compile(r'screenshot\(\s*\w+,\s*"([a-z0-9-]+)"')


def saved_by_tests() -> set[str]:
    return {
        name
        for path in Path(__file__).parent.glob("test_*.py")
        for name in _SAVED.findall(path.read_text(encoding="utf-8"))
    }


def test_every_picture_in_the_guide_is_a_tests_screenshot_and_is_committed() -> None:
    shown = set(_SHOWN.findall(GUIDE.read_text(encoding="utf-8")))
    assert shown, "docs/portal.md shows no page"
    assert shown <= saved_by_tests(), shown - saved_by_tests()
    missing = sorted(name for name in shown if not (PICTURES / f"{name}.png").is_file())
    assert not missing, missing


def test_every_screenshot_the_tests_save_is_shown_in_the_guide() -> None:
    shown = set(_SHOWN.findall(GUIDE.read_text(encoding="utf-8")))
    assert saved_by_tests() <= shown, saved_by_tests() - shown
