"""pytest fixtures for testing scan tools against the virtual car (docs/pytest-plugin.md).

Registered as the ``pytest11`` entry point ``ecusim``: pytest loads it in every run where
ecusim is installed, so it imports nothing heavy until a fixture is used, defines no autouse
fixture and no hook beyond registering its marker. A fixture of the same name in a conftest
overrides it.

Fixtures: ``virtual_car`` (:class:`ecusim.testing.VirtualCar`), ``uds_client`` (udsoncan client
of the key ECU), ``engine_client`` (of the ECM), ``portal``
(:class:`ecusim.testing.portal.VirtualPortal`), ``car_faults`` and ``car_requests``. Marker:
``@pytest.mark.ecusim_car(model=..., year=..., vin=None, time_scale=20.0, state_dir=None,
seed=0, secret_file=None, car=None)`` (``car``: a car profile, a path relative to the test's
file; docs/car-profiles.md); the ``portal`` fixture uses the marker's ``secret_file`` too. A
relative ``state_dir`` is a folder in the test's ``tmp_path``.

Under pytest-xdist every worker is a process of its own: channel names are unique in the process
(python-can's virtual channels are too), folders come from ``tmp_path`` and the portal's API
listens on a free port.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from udsoncan.client import Client

    from ecusim.testing import CarSpec, VirtualCar
    from ecusim.testing.portal import VirtualPortal
    from protocol.uds.faults import FaultPlan, RequestLog

MARKER: Final = "ecusim_car"
MARKER_HELP: Final = (
    f"{MARKER}(model='LS460', year=2012, vin=None, time_scale=20.0, state_dir=None, seed=0, "
    "secret_file=None, car=None): the car of ecusim's virtual_car fixture (car: a car profile "
    "file beside the test); the portal's secret file"
)
_CHANNEL_NUMBERS = itertools.count(1)
"""Makes every channel name unique in the process (python-can's virtual channels are global)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


def channel_name(nodeid: str) -> str:
    """A python-can virtual channel name for the test ``nodeid``, unique in this process (and
    naming the pytest-xdist worker, for the logs)."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", nodeid).strip("-")[-60:]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"ecusim-{worker}{'-' if worker else ''}{next(_CHANNEL_NUMBERS)}-{readable}"


def marker_spec(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], tmp_path: Callable[[], Path]
) -> CarSpec:
    """The :class:`CarSpec` of the marker's arguments; ``ValueError`` naming a wrong argument
    (with the closest valid name) rather than ``CarSpec.__init__()``'s own words. A relative
    ``state_dir`` is put in ``tmp_path()`` (called only then)."""
    from ecusim.testing import CarSpec  # noqa: PLC0415 - only when used

    valid = [option.name for option in dataclasses.fields(CarSpec)]
    for name in kwargs:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown argument {name!r}{hint}; valid: {', '.join(valid)}")
    if len(args) > len(valid):
        raise ValueError(f"at most {len(valid)} positional arguments ({', '.join(valid)})")
    for name in valid[: len(args)]:
        if name in kwargs:
            raise ValueError(f"argument {name!r} given twice (by position and by name)")
    options = dict(zip(valid, args, strict=False)) | dict(kwargs)
    state_dir = options.get("state_dir")
    if state_dir is not None:
        if not isinstance(state_dir, str | os.PathLike):
            raise ValueError(f"state_dir must be a path, got {state_dir!r}")
        folder = Path(state_dir)
        options["state_dir"] = folder if folder.is_absolute() else tmp_path() / folder
    return CarSpec(**options)


@pytest.fixture
def virtual_car(request: pytest.FixtureRequest) -> Iterator[VirtualCar]:
    """A running car on a python-can ``virtual`` channel of its own, with a tester bus on it.

    Default an LS460 2012 (smart key) with its lab VIN, the car's clock 20 times fast; choose
    another with ``@pytest.mark.ecusim_car(...)``. Stopped, and its buses shut down, after the
    test.
    """
    from ecusim.testing import VirtualCar  # noqa: PLC0415 - only when used

    marker = request.node.get_closest_marker(MARKER)
    args, kwargs = (marker.args, marker.kwargs) if marker is not None else ((), {})
    try:
        spec = marker_spec(args, kwargs, lambda: request.getfixturevalue("tmp_path"))
        if isinstance(spec.car, str | Path) and not Path(spec.car).is_absolute():
            spec = dataclasses.replace(spec, car=request.path.parent / spec.car)  # beside the test
        car = VirtualCar.start(channel_name(request.node.nodeid), spec)
    except (TypeError, ValueError, LookupError) as exc:
        pytest.fail(f"@pytest.mark.{MARKER}: {exc}", pytrace=False)
    try:
        yield car
    finally:
        car.close()


@pytest.fixture
def uds_client(virtual_car: VirtualCar) -> Client:
    """An opened udsoncan client of the car's key ECU (transponder key ECU, certification ECU,
    or the ECM on ECM-integrated cars), with codecs for the contract's DIDs and the lab level
    0x01 key; the reset level's Pass-Code comes from the ``portal`` fixture."""
    return virtual_car.client()


@pytest.fixture
def engine_client(virtual_car: VirtualCar) -> Client:
    """An opened udsoncan client of the ECM (0x7E0 → 0x7E8); the same object as ``uds_client``
    where the ECM holds the keys."""
    return virtual_car.client("engine")


@pytest.fixture
def portal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VirtualPortal]:
    """An in-process pass-code portal (SQLite in ``tmp_path``) with the demo dealer: ``service``,
    ``dealer``, ``password``, ``url`` (HTTP API, started on first use), ``approve(vin)`` and
    ``pass_code(vin, seed)``. With the ``ecusim_car`` marker's ``secret_file``, on the same
    secrets as the car."""
    from ecusim.secret_file import LAB_SECRETS, SecretFileError, load  # noqa: PLC0415
    from ecusim.testing.portal import VirtualPortal  # noqa: PLC0415 - only when used

    marker = request.node.get_closest_marker(MARKER)
    secret_file = marker.kwargs.get("secret_file") if marker is not None else None
    try:
        secrets = load(secret_file) if secret_file is not None else LAB_SECRETS
    except SecretFileError as exc:
        pytest.fail(f"@pytest.mark.{MARKER}: {exc}", pytrace=False)
    desk = VirtualPortal(tmp_path / "portal.db", secrets=secrets)
    try:
        yield desk
    finally:
        desk.close()


@pytest.fixture
def car_faults(virtual_car: VirtualCar) -> FaultPlan:
    """``virtual_car.faults``: delay, drop, force_nrc, extra_pending, clear."""
    return virtual_car.faults


@pytest.fixture
def car_requests(virtual_car: VirtualCar) -> RequestLog:
    """``virtual_car.requests``: every request the car's ECUs received, with their responses."""
    return virtual_car.requests
