"""A tiny scan tool: reads a Lexus key ECU's key counts and runs the key reset."""

from scan_tool.keys import KeyCounts, ScanToolError, read_key_counts, reset_keys

__all__ = ["KeyCounts", "ScanToolError", "read_key_counts", "reset_keys"]
