"""What the simulator knows about cars before one is built: the support chart and VINs.

- :mod:`ecusim.catalog.chart`: the packaged support chart (``support_chart.json``), one
  :class:`ModelYear` per model and model year, and the :class:`Catalog` that looks them up.
- :mod:`ecusim.catalog.vin`: VIN structure, check digit and model-year rules.

The chart's public names are re-exported here: ``from ecusim.catalog import Catalog``.
"""

from ecusim.catalog.chart import (
    CHART_FORMAT,
    CHART_RESOURCE,
    CHART_VERSION,
    Basis,
    BasisKind,
    Catalog,
    CatalogError,
    DiagnosticAddresses,
    FactoryKeys,
    KeylessEntry,
    KeyLimits,
    ModelYear,
    NodeAddress,
    RegistrationLimit,
    SystemType,
    normalize_model,
    parse_chart,
)

__all__ = [
    "CHART_FORMAT",
    "CHART_RESOURCE",
    "CHART_VERSION",
    "Basis",
    "BasisKind",
    "Catalog",
    "CatalogError",
    "DiagnosticAddresses",
    "FactoryKeys",
    "KeyLimits",
    "KeylessEntry",
    "ModelYear",
    "NodeAddress",
    "RegistrationLimit",
    "SystemType",
    "normalize_model",
    "parse_chart",
]
