"""The plugin in someone else's pytest run: found by its entry point, its marker registered,
nothing heavy imported until a fixture is used, local fixtures override it, and a wrong marker
fails the test naming the marker."""

from __future__ import annotations

import subprocess
import sys
from typing import Final

import pytest

RUN_TIMEOUT_S: Final = 120.0
HEAVY_MODULES: Final = ("can", "isotp", "udsoncan", "sqlalchemy", "fastapi", "ecusim.car.vehicle")


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, ecusim.testing.pytest_plugin\n"
        f"print([name for name in {HEAVY_MODULES!r} if name in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    assert config.pluginmanager.has_plugin("ecusim")
    assert any(line.startswith("ecusim_car(") for line in config.getini("markers"))


def test_an_unrelated_suite_with_its_own_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def portal():
            return "the suite's own portal"
        """
    )
    pytester.makepyfile(
        test_unrelated=f"""
        import sys

        def test_nothing_heavy_is_loaded():
            assert [name for name in {HEAVY_MODULES!r} if name in sys.modules] == []

        def test_the_local_fixture_wins(portal):
            assert portal == "the suite's own portal"
        """,
        test_wrong_marker="""
        import pytest

        @pytest.mark.ecusim_car(model="NO SUCH CAR")
        def test_never_runs(virtual_car):
            pass
        """,
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--strict-markers", "-q", timeout=RUN_TIMEOUT_S
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.ecusim_car: *NO SUCH CAR*"])
