"""The test kit: a virtual car and portal for testing scan tools, with or without pytest.

- :mod:`~ecusim.testing.virtual_car`: :class:`VirtualCar`, :class:`CarSpec`, :func:`client_config`;
- :mod:`~ecusim.testing.portal`: :class:`~ecusim.testing.portal.VirtualPortal`;
- :mod:`~ecusim.testing.pytest_plugin`: the fixtures and marker (the ``pytest11`` entry point).

The pytest plugin is loaded in every pytest run where ecusim is installed, and it imports this
package; so the names below are imported on first use (PEP 562), not here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecusim.testing.virtual_car import (
        CarSpec,
        VirtualCar,
        client_config,
        did_codecs,
        lab_security_algo,
    )

__all__ = ["CarSpec", "VirtualCar", "client_config", "did_codecs", "lab_security_algo"]

_LAZY = {
    "CarSpec": "ecusim.testing.virtual_car",
    "VirtualCar": "ecusim.testing.virtual_car",
    "client_config": "ecusim.testing.virtual_car",
    "did_codecs": "ecusim.testing.virtual_car",
    "lab_security_algo": "ecusim.testing.virtual_car",
}
"""Where each name is imported from on first use (the import-rule tests read this table)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
