"""The identifiers of the diagnostic contract the tool uses (diagnostics.md §2-4), in one place.

The tool keeps its own copy instead of importing the car's: it is a client written against the
contract, so a wrong value on either side shows up as a failing exchange, not a shared mistake.
"""

from __future__ import annotations

from typing import Final

DEFAULT_SESSION: Final = 0x01
EXTENDED_SESSION: Final = 0x03
LEVEL_DIAGNOSTIC: Final = 0x01
"""requestSeed of "extended diagnostics" (lab diagnostic key, §5); its sendKey is 0x02."""
LEVEL_RESET: Final = 0x11
"""requestSeed of "immobilizer reset" (the Seed Number); its sendKey is 0x12."""

DID_VIN: Final = 0xF190
DID_SYSTEM_NAME: Final = 0xF197
DID_IMMOBILIZER_STATE: Final = 0x0101
DID_MASTER_KEYS: Final = 0x0106
DID_SUB_KEYS: Final = 0x0107
DID_SECURITY_INDICATOR: Final = 0x0108
"""2 bytes: mode (see INDICATOR_FLASHING_CODE), flash code."""
DID_REGISTRATION_MODE: Final = 0x0109
DID_CAPABILITIES: Final = 0x010A
DID_WAITING_PERIOD: Final = 0x010B
DID_SECURITY_STATUS: Final = 0x010C
"""3 bytes: failed attempts, delay remaining in seconds (2 bytes)."""
DID_SMART_KEYS: Final = 0x010D

RID_RESET: Final = 0x0201
RID_END_AUTOMATIC_REGISTRATION: Final = 0x0203
RID_SMART_KEY_REGISTRATION: Final = 0x0206

INDICATOR_FLASHING_CODE: Final = 3
"""DID 0x0108 mode: the security indicator flashes a 2-digit code."""
MODE_AUTOMATIC: Final = 1
"""DID 0x0109: automatic (new) registration (transponder, after a reset)."""
MODE_OPEN: Final = 4
"""DID 0x0109: smart key registration open (the waiting period has run)."""
STATUS_DONE: Final = 0
"""First byte of a routine's status record: done (1 running, 2 failed)."""
