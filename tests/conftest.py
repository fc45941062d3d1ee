"""Suite-wide plugins and fixtures.

``pytester`` (pytest's own plugin for running pytest inside a test) is used by tests/plugin to
run the ecusim plugin's documented examples in a fresh pytest session. pytest accepts
``pytest_plugins`` only in a top-level conftest (a deeper one is refused when the whole suite
runs), so it is enabled here.

``$ECUSIM_SECRET_FILE`` of the developer's shell never reaches a test (nor its subprocesses): the
suite's known answers are those of the public lab secret (docs/secrets.md).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_secret_file_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECUSIM_SECRET_FILE", raising=False)
