"""Key counts and the key reset over any udsoncan client (ecusim's diagnostic contract).

A busy ECU (NRC 0x21 busyRepeatRequest, ISO 14229-1 Annex A.1) is asked again a few times;
a long job's 0x78 responsePending is udsoncan's own business.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException

DID_MASTER_KEYS: Final = 0x0106
DID_SUB_KEYS: Final = 0x0107
DID_SMART_KEYS: Final = 0x010D
DID_CAPABILITIES: Final = 0x010A
"""(system type, reset supported); system type 3: smart key (only then is 0x010D there)."""
SMART_KEY_SYSTEM: Final = 3
EXTENDED_SESSION: Final = 0x03
RESET_LEVEL: Final = 0x11
"""SecurityAccess requestSeed of the reset level; sendKey is 0x12."""
RID_KEY_RESET: Final = 0x0201
BUSY_REPEAT_REQUEST: Final = 0x21
RETRY_PAUSE_S: Final = 0.05


class ScanToolError(Exception):
    """What the tool tells its user in one line."""


@dataclass(frozen=True)
class KeyCounts:
    masters: int
    subs: int
    smart: int

    @property
    def total(self) -> int:
        return self.masters + self.subs + self.smart


def read_key_counts(client: Client, *, retries: int = 3) -> KeyCounts:
    """The registered master, sub and smart keys; a busy ECU is asked up to ``retries`` more
    times."""
    for attempt in range(retries + 1):
        try:
            system_type, _ = client.read_data_by_identifier_first(DID_CAPABILITIES)
            dids = [DID_MASTER_KEYS, DID_SUB_KEYS]
            if system_type == SMART_KEY_SYSTEM:
                dids.append(DID_SMART_KEYS)
            values = client.read_data_by_identifier(dids).service_data.values
        except NegativeResponseException as exc:
            if exc.response.code != BUSY_REPEAT_REQUEST:
                raise ScanToolError(f"the key ECU refused to read the key counts: {exc}") from exc
            if attempt == retries:
                raise ScanToolError(
                    f"the key ECU stayed busy (NRC 0x21) through {retries + 1} attempts"
                ) from exc
            time.sleep(RETRY_PAUSE_S)
            continue
        return KeyCounts(
            values[DID_MASTER_KEYS], values[DID_SUB_KEYS], values.get(DID_SMART_KEYS, 0)
        )
    raise AssertionError("unreachable")


def reset_keys(client: Client, vin: str, pass_code: Callable[[str, bytes], bytes]) -> KeyCounts:
    """The bulletin's key reset: extended session, the reset level unlocked with the Pass-Code
    the dealer portal issues for the car's seed (``pass_code(vin, seed)``), routine 0x0201;
    returns the key counts after it (all zero)."""
    try:
        client.change_session(EXTENDED_SESSION)
        seed = bytes(client.request_seed(RESET_LEVEL).service_data.seed)
        client.send_key(RESET_LEVEL + 1, pass_code(vin, seed))
        client.start_routine(RID_KEY_RESET)
    except NegativeResponseException as exc:
        raise ScanToolError(f"the key reset was refused: {exc}") from exc
    return read_key_counts(client)
