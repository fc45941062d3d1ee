"""Vehicle-side ECU simulator composed on top of the ``protocol`` package."""

__version__ = "0.1.0"
