"""The root of every error that ecusim raises, so that a caller can catch them all at once.

Every ecusim error is an :class:`EcusimError`, and most also carry the builtin they resemble
(python-can's ``CanTimeoutError(CanError, TimeoutError)`` pattern): a :class:`VehicleError` is a
``ValueError`` too, a portal ``NotFoundError`` a ``LookupError``. The ``protocol`` package knows
nothing of ecusim and keeps its own root, :class:`protocol.errors.ProtocolError`.

Where each family lives:

- :class:`VehicleError` (here): a call the car cannot honour;
- :class:`ecusim.catalog.CatalogError`, :class:`ecusim.catalog.vin.VinError`;
- :class:`ecusim.car.keys.InvalidKeyError`, :class:`ecusim.car.keyless.KeylessError`;
- :class:`ecusim.tool.errors.ToolError` (the scan tool);
- :class:`ecusim.portal.errors.PortalError`, :class:`ecusim.portal.client.PortalClientError`,
  :class:`ecusim.portal.api.ServerStartError`;
- :class:`ecusim.demo.scenario.DemoError`, :class:`ecusim.cli.errors.CliError`.
"""

from __future__ import annotations


class EcusimError(Exception):
    """Something ecusim could not do; ``str()`` says what and why, in one sentence."""


class VehicleError(EcusimError, ValueError):
    """A call the car cannot honour in its current state, or that makes no sense for it."""
