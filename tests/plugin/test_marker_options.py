"""The ``ecusim_car`` marker's arguments: a typo is named with the closest valid argument, a
relative ``state_dir`` is a folder of the test's ``tmp_path``, an absolute one is used as is."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Final

import pytest

from ecusim.testing import CarSpec, VirtualCar
from ecusim.testing.pytest_plugin import marker_spec

RUN_TIMEOUT_S: Final = 120.0
VALID: Final = ", ".join(option.name for option in dataclasses.fields(CarSpec))
"""model, year, vin, time_scale, state_dir, seed, secret_file (and any option added later)."""


def _no_tmp_path() -> Path:
    raise AssertionError("tmp_path asked for without a relative state_dir")


def test_a_typo_is_named_with_the_closest_argument_and_the_valid_ones() -> None:
    with pytest.raises(ValueError) as info:
        marker_spec((), {"modle": "LS460"}, _no_tmp_path)
    assert str(info.value) == f"unknown argument 'modle' (did you mean 'model'?); valid: {VALID}"
    assert VALID.startswith("model, year, vin, time_scale, state_dir, seed, secret_file")


def test_an_argument_like_none_is_named_without_a_guess() -> None:
    with pytest.raises(ValueError, match=r"^unknown argument 'colour'; valid: model, year"):
        marker_spec((), {"colour": "red"}, _no_tmp_path)


def test_positional_arguments_follow_the_fields_order() -> None:
    assert marker_spec(("LS430", 2004), {"seed": 3}, _no_tmp_path) == CarSpec("LS430", 2004, seed=3)
    with pytest.raises(ValueError, match="'model' given twice"):
        marker_spec(("LS430",), {"model": "LS460"}, _no_tmp_path)
    count = len(dataclasses.fields(CarSpec))
    with pytest.raises(ValueError, match=f"at most {count} positional arguments"):
        marker_spec(tuple(range(count + 1)), {}, _no_tmp_path)


def test_a_relative_state_dir_is_in_tmp_path_an_absolute_one_as_given(tmp_path: Path) -> None:
    assert marker_spec((), {"state_dir": "car"}, lambda: tmp_path).state_dir == tmp_path / "car"
    nested = marker_spec((), {"state_dir": Path("a/b")}, lambda: tmp_path)
    assert nested.state_dir == tmp_path / "a" / "b"
    absolute = tmp_path / "elsewhere"
    assert marker_spec((), {"state_dir": absolute}, _no_tmp_path).state_dir == absolute
    with pytest.raises(ValueError, match="state_dir must be a path"):
        marker_spec((), {"state_dir": 3}, _no_tmp_path)


@pytest.mark.ecusim_car(state_dir="state")
def test_the_cars_memory_is_written_in_the_tests_tmp_path(
    virtual_car: VirtualCar, tmp_path: Path
) -> None:
    assert virtual_car.vehicle.state_dir == tmp_path / "state"
    assert (tmp_path / "state" / "vehicle.nvm.json").is_file()
    assert (tmp_path / "state" / "certification.nvm.json").is_file()


def test_a_marker_typo_fails_the_test_with_one_line(pytester: pytest.Pytester) -> None:
    """(A fresh run: the error is the inner test's, as a user sees it.)"""
    pytester.makepyfile(
        test_inner="""
import pytest

@pytest.mark.ecusim_car(modle="LS460")
def test_car(virtual_car):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=RUN_TIMEOUT_S)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.ecusim_car: unknown argument 'modle' (did you mean 'model'?); "
            f"valid: {VALID}"
        ]
    )
    result.stdout.no_fnmatch_line("*CarSpec.__init__*")
