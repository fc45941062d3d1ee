"""A test ECU file and its server on a fake clock, for the byte-level tests of ECU files.

The file (:data:`BENCH_ECU`) has the sessions default, extended and a custom "engineering"
(0x60); DIDs of every kind; two routines; two DTCs; two security levels: 0x01 with the
insecure ``weak-xor`` algorithm (key = seed XOR A5 A5 A5 A5, so the bytes of a test can be
followed by hand), allowed in extended, and 0x03 (``lab-diagnostic``) allowed in engineering.
Seeds come from a :class:`ScriptedSeedSource`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.ecu_file import DeclarativeEcu, load_ecu_file
from protocol.seed_source import ScriptedSeedSource

BENCH_ECU = """
name = "bench-ecu"

[addressing]
request_id = 0x7A0
response_id = 0x7A8

[timing]
p2_ms = 25
p2_star_ms = 2000

[sessions]
supported = ["default", "extended", "engineering"]
custom = { engineering = 0x60 }
s3_s = 5.0

[dids.0xF18C]
name = "serial number"
value = "12 34"

[dids.0xF197]
name = "system name"
text = "GW"

[dids.0x0150]
name = "light sensitivity"
value = "03"
writable = true
write_sessions = ["extended"]
write_security = 0x01

[dids.0x0160]
name = "calibration"
value = "AA"
read_sessions = ["extended"]
read_security = 0x01

[routines.0x0203]
name = "self test"
start_result = "00 5A"
results = "00 5A"
sessions = ["extended"]
security = 0x01

[routines.0x0204]
name = "lamp test"
start_result = "01"
stop_result = "00"
sessions = ["extended", "engineering"]

[dtcs]
B1234 = 0x09
U0100 = 0x08

[security]
attempt_limit = 2
delay_s = 10.0
boot_delay_s = 10.0

[security.levels.0x01]
algorithm = "weak-xor"
sessions = ["extended"]

[security.levels.0x03]
algorithm = "lab-diagnostic"
sessions = ["engineering"]
"""

SEED = bytes([0x11, 0x22, 0x33, 0x44])
"""The first seed the bench hands out (level 0x01)."""
KEY = bytes([0xB4, 0x87, 0x96, 0xE1])
"""``SEED`` XOR A5 A5 A5 A5: the weak-xor key."""
START_S = 1000.0


@dataclass
class Bench:
    """The bench ECU's server and its clock; :meth:`ask` sends one physical request."""

    ecu: DeclarativeEcu
    clock: FakeClock

    def ask(self, request: bytes) -> bytes | None:
        return self.ecu.server.handle(request, Addressing.PHYSICAL, self.clock.now())


def write_file(folder: Path, text: str, name: str = "bench-ecu.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def bench(tmp_path: Path) -> Bench:
    seeds = ScriptedSeedSource([SEED, bytes([0x01, 0x02, 0x03, 0x04]), bytes([5, 6, 7, 8])])
    ecu = load_ecu_file(write_file(tmp_path, BENCH_ECU), seed_source=seeds)
    clock = FakeClock(START_S)
    ecu.server.power_on(clock.now())
    return Bench(ecu, clock)
