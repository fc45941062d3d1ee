"""Byte-level tests of the pure UDS server core (``protocol.uds``), one module per service."""
