"""The diagnostic surface the key-code ECUs share (diagnostics.md §4)."""

from __future__ import annotations

from ecusim.ecus.key_ecu.encoding import byte_value, seconds_value
from protocol.uds.server import UdsServer

# -- the diagnostic contract's identifiers (diagnostics.md §4) ---------------------------------

DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C
DID_SMART_KEYS = 0x010D
DID_REGISTRATION_REFUSAL = 0x010E
"""[LAB] The last smart key registration refusal: reason code (1 byte) + ASCII text."""

RID_RESET = 0x0201
RID_ADDITIONAL_REGISTRATION = 0x0202
RID_END_AUTOMATIC_REGISTRATION = 0x0203
RID_ERASE_KEYS = 0x0204
RID_SMART_KEY_REGISTRATION = 0x0206


def security_status(server: UdsServer) -> bytes:
    """DID 0x010C: failed attempts (1 byte), delay remaining in seconds (2 bytes), on the
    server's clock at the request being answered."""
    security = server.security
    remaining = security.delay_remaining(server.now)
    return byte_value(security.failed_attempts) + seconds_value(remaining)
