"""Vehicle-side ECU simulator composed on top of the ``protocol`` package.

The main names are here: ``from ecusim import Vehicle, EcusimError``. :class:`Vehicle` is imported
on first use (PEP 562), so that ``import ecusim`` (which the pytest plugin does in every pytest run
where ecusim is installed) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ecusim.errors import EcusimError, VehicleError

if TYPE_CHECKING:
    from ecusim.car.vehicle import Vehicle

__version__ = "0.1.0"

__all__ = ["EcusimError", "Vehicle", "VehicleError", "__version__"]

_LAZY = {"Vehicle": "ecusim.car.vehicle"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
