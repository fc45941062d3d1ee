"""Suite-wide plugins and fixtures.

``pytester`` (pytest's own plugin for running pytest inside a test) is used by tests/plugin to
run the ecusim plugin's documented examples in a fresh pytest session. pytest accepts
``pytest_plugins`` only in a top-level conftest (a deeper one is refused when the whole suite
runs), so it is enabled here.

``$ECUSIM_SECRET_FILE`` of the developer's shell never reaches a test (nor its subprocesses): the
suite's known answers are those of the public lab secret (docs/secrets.md).

``ecusim run`` keeps a car's state in the user data directory by default: every test gets its
own (``XDG_DATA_HOME``, which platformdirs honours on Linux, and no ``ECUSIM_DATA_DIR``), also
inherited by the subprocesses it starts, so no test ever touches the real one.

Portals hash passwords at scrypt cost 2^17 by default (~0.3 s each): every test, and every
process it starts, gets ``ECUSIM_PORTAL_SCRYPT_N=1024`` (a test of the default removes it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_secret_file_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECUSIM_SECRET_FILE", raising=False)


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECUSIM_PORTAL_SCRYPT_N", "1024")


@pytest.fixture(autouse=True)
def user_data_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """This test's own user data directory (``$XDG_DATA_HOME``)."""
    home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("ECUSIM_DATA_DIR", raising=False)
    return home
