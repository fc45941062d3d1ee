"""The reference scan-tool workflow: the reset bulletin's Techstream steps on udsoncan.

Connect (:class:`~ecusim.tool.link.DiagnosticLink`), identify the car
(:func:`~ecusim.tool.identify.identify`), run the reset utility
(:class:`~ecusim.tool.reset.ResetUtility`: Seed Number → portal request and approval →
Pass-Code → confirmation → reset) and the key registration utility
(:class:`~ecusim.tool.registration.KeyRegistration`). Every refusal becomes a
:class:`~ecusim.tool.errors.ToolError` with a sentence for the technician. ``ecusim tool`` is the
command line; ``ecusim demo`` runs it against a virtual car.
"""

from ecusim.tool.errors import CarRefusedError, ToolError

TOOL_VERSION = "9.10.037"
"""The scan-tool software version sent with every Pass-Code request: the bulletin's minimum
Techstream version, which the portal checks."""

__all__ = ["TOOL_VERSION", "CarRefusedError", "ToolError"]
