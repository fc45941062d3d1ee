"""Helpers of the plugin's tests: the Python blocks of docs/pytest-plugin.md.

``pytester`` itself is enabled in tests/conftest.py (pytest refuses ``pytest_plugins`` in a
conftest below the top level when the whole suite runs).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "pytest-plugin.md"
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    """Every fenced Python block of docs/pytest-plugin.md, in order."""
    return _PYTHON_BLOCK.findall(DOCS_PAGE.read_text(encoding="utf-8"))


@pytest.fixture
def docs_blocks() -> list[str]:
    blocks = python_blocks()
    assert blocks, f"no ```python block in {DOCS_PAGE}"
    return blocks
