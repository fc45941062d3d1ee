"""The examples of docs/pytest-plugin.md run as they are, in a fresh pytest process that finds
the plugin through its ``pytest11`` entry point (with ``--strict-markers``).

A subprocess, not pytester's in-process run: that one unloads the modules a run imported, and
the ``cryptography`` bindings do not survive being imported twice in one process.
"""

from __future__ import annotations

from typing import Final

import pytest

RUN_TIMEOUT_S: Final = 120.0
"""Bound of one pytest subprocess (Python start-up and imports on a busy 2-core machine)."""


def test_the_headline_example_passes(pytester: pytest.Pytester, docs_blocks: list[str]) -> None:
    headline = docs_blocks[0]
    assert "virtual_car" in headline and "portal.pass_code" in headline
    assert len(headline.strip().splitlines()) <= 12  # about ten lines, as the page promises
    pytester.makepyfile(test_headline_reset=headline)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--strict-markers", "-q", timeout=RUN_TIMEOUT_S
    )
    result.assert_outcomes(passed=1)


def test_every_other_example_of_the_page_passes(
    pytester: pytest.Pytester, docs_blocks: list[str]
) -> None:
    examples = {f"test_docs_block_{index}": block for index, block in enumerate(docs_blocks)}
    del examples["test_docs_block_0"]
    tests = sum(
        block.count("\ndef test_") + block.startswith("def test_") for block in examples.values()
    )
    pytester.makepyfile(**examples)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--strict-markers", "-q", timeout=RUN_TIMEOUT_S
    )
    result.assert_outcomes(passed=tests)
