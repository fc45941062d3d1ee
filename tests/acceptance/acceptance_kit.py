"""Helpers of the acceptance tests (the fixtures in ``conftest.py`` build on them).

- The lab Pass-Code of diagnostic-contract.md §5, computed here INDEPENDENTLY of the project's own
  ``protocol.passcode`` with the ``cryptography`` package's HKDF and HMAC primitives.
- :class:`Tester`: a scan tool on any python-can bus (``virtual`` or ``remote``): udsoncan clients
  of the immobilizer (0x750 → 0x758, extended addressing, sub-address 0x57) and of the engine
  (0x7E0 → 0x7E8), lab control messages from the shipped DBC, and a :class:`BodyMonitor` of the
  car's broadcasts.
- :class:`Process`: a child process whose output is read line by line, with deadlines.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, cast

import can
import isotp
import pytest
import udsoncan
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpV2Connection
from udsoncan.exceptions import NegativeResponseException
from udsoncan.typing import ClientConfig

from dbc import body
from ecusim.car.keys import Key

# -- the car under test ------------------------------------------------------------------------

MODEL: Final = "LS430"
YEAR: Final = 2004
VIN: Final = "JTHLSL1S045000001"
"""A VIN of an LS430 2004 (Lexus WMI, model-year character '4'): `ecusim run` checks it."""
TIME_SCALE: Final = 20.0
"""Vehicle clock speed: the reset's 2 s erase takes 0.1 s, but S3 (5 s) lasts only 0.25 s."""

EXTENDED_SESSION: Final = 0x03

EXTENDED_SESSION_REQUEST: Final = bytes(
    [
        0x10,  # DiagnosticSessionControl
        0x03,  # extendedDiagnosticSession
    ]
)
EXTENDED_SESSION_RESPONSE: Final = bytes(
    [
        0x50,  # DiagnosticSessionControl positive response
        0x03,  # extendedDiagnosticSession
        0x00,  # P2server_max high byte
        0x32,  # P2server_max low byte: 50 ms
        0x01,  # P2*server_max high byte
        0xF4,  # P2*server_max low byte: 500 x 10 ms = 5 s
    ]
)
LEVEL_IMMOBILIZER_RESET: Final = 0x11
"""requestSeed sub-function of the "immobilizer reset" level; sendKey is 0x12."""
SEED_LENGTH: Final = 16
PASS_CODE_LENGTH: Final = 16

DID_VIN: Final = 0xF190
DID_MASTER_KEYS: Final = 0x0106
DID_SUB_KEYS: Final = 0x0107
DID_SECURITY_INDICATOR: Final = 0x0108
DID_REGISTRATION_MODE: Final = 0x0109
DID_SECURITY_STATUS: Final = 0x010C

RID_RESET: Final = 0x0201
RID_END_AUTOMATIC_REGISTRATION: Final = 0x0203

INDICATOR_FLASHING_CODE: Final = 3
READY_CODES: Final = frozenset({21, 22})
"""Bulletin: right after a reset early systems flash a 2-digit code "such as 21 or 22"."""

REGISTRATION_NORMAL: Final = 0
REGISTRATION_AUTOMATIC: Final = 1

IMMOBILIZER_REQUEST_ID: Final = 0x750
IMMOBILIZER_RESPONSE_ID: Final = 0x758
IMMOBILIZER_SUB_ADDRESS: Final = 0x57
ENGINE_REQUEST_ID: Final = 0x7E0
ENGINE_RESPONSE_ID: Final = 0x7E8
DIAGNOSTIC_RESPONSE_IDS: Final = frozenset({IMMOBILIZER_RESPONSE_ID, ENGINE_RESPONSE_ID})
FIRST_DIAGNOSTIC_ID: Final = 0x700
"""Body (and lab control) frames are below this ID, diagnostics at or above
(diagnostic-contract.md §6)."""

IMMOBILIZER_ADDRESS: Final = isotp.Address(
    isotp.AddressingMode.Extended_11bits,
    txid=IMMOBILIZER_REQUEST_ID,
    rxid=IMMOBILIZER_RESPONSE_ID,
    target_address=IMMOBILIZER_SUB_ADDRESS,
    source_address=IMMOBILIZER_SUB_ADDRESS,
)
ENGINE_ADDRESS: Final = isotp.Address(
    isotp.AddressingMode.Normal_11bits, txid=ENGINE_REQUEST_ID, rxid=ENGINE_RESPONSE_ID
)
ISOTP_PARAMS: Final[Mapping[str, Any]] = {"tx_padding": 0xCC, "blocking_send": False}

REQUEST_TIMEOUT_S: Final = 5.0
STATE_TIMEOUT_S: Final = 5.0
"""Deadline for a state change to show in the car's broadcasts."""
START_TIMEOUT_S: Final = 20.0
"""Deadline for a subprocess to print its ready line (Python start-up on a busy 2-core box)."""
STOP_TIMEOUT_S: Final = 30.0
"""Bound of a child's clean exit after SIGTERM (generous: a 2-core machine under a full suite)."""
DUMP_TIMEOUT_S: Final = 5.0
"""After a stop times out: how long the child gets to print its threads' stacks (SIGABRT)."""
READY_LINE: Final = r"^ecusim: .*ready"

# -- diagnostic-contract.md §5, independently ------------------------------------------------------

LAB_MASTER_SECRET_LABEL: Final = b"ecusim-lab-master-secret-v1"
VEHICLE_KEY_SALT: Final = b"ecusim/immobilizer-reset/v1"


def _sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def vehicle_key(vin: str) -> bytes:
    """K_vehicle = HKDF-SHA256(ikm=SHA-256(label), salt, info=b"vehicle:" + VIN, length=32)."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=VEHICLE_KEY_SALT,
        info=b"vehicle:" + vin.encode("ascii"),
    ).derive(_sha256(LAB_MASTER_SECRET_LABEL))


def pass_code(vin: str, seed: bytes) -> bytes:
    """HMAC-SHA256(K_vehicle, b"reset-passcode:" + VIN + seed)[:16]."""
    mac = hmac.HMAC(vehicle_key(vin), hashes.SHA256())
    mac.update(b"reset-passcode:" + vin.encode("ascii") + seed)
    return mac.finalize()[:PASS_CODE_LENGTH]


def display_form(value: bytes) -> str:
    """Uppercase hex in groups of 8 joined by ``-`` (diagnostic-contract.md §5)."""
    text = value.hex().upper()
    return "-".join(text[i : i + 8] for i in range(0, len(text), 8))


def parse_display_form(text: str) -> bytes:
    return bytes.fromhex(re.sub(r"[-\s]", "", text))


KNOWN_ANSWERS: Final = (
    ("JTHBL5EF0C5000001", "00010203-04050607-08090A0B-0C0D0E0F",
     "68048306-E57DF5FB-1D818A1B-527791CD"),
    ("JTHBL5EF0C5000001", "A5A5A5A5-A5A5A5A5-A5A5A5A5-A5A5A5A5",
     "443FA847-64476F93-4AF28B91-F496CD6E"),
    ("JTHBA1D29G5000002", "00010203-04050607-08090A0B-0C0D0E0F",
     "68C88FBD-B7B00C85-B4D10C5E-D3457278"),
)  # fmt: skip
"""diagnostic-contract.md §5: (VIN, Seed Number, Pass-Code)."""
KNOWN_VEHICLE_KEY: Final = (
    "JTHBL5EF0C5000001",
    "87dc9c56c5df2dd525d2cc512abef9916adf6408d54a0014c7a6bbbf7bc1f50d",
)


def assert_known_answers() -> None:
    """The independent implementation reproduces every known answer of §5."""
    vin, expected_key = KNOWN_VEHICLE_KEY
    assert vehicle_key(vin).hex() == expected_key
    for vin, seed, expected in KNOWN_ANSWERS:
        assert display_form(pass_code(vin, parse_display_form(seed))) == expected


def wrong_pass_code(vin: str, seed: bytes) -> bytes:
    """A 16-byte Pass-Code that is certainly wrong for ``seed`` (every bit of the right one
    inverted)."""
    return bytes(b ^ 0xFF for b in pass_code(vin, seed))


# -- udsoncan ----------------------------------------------------------------------------------


class ByteCodec(udsoncan.DidCodec):
    """One unsigned byte as an ``int``."""

    def encode(self, *did_value: Any) -> bytes:
        return bytes([int(did_value[0])])

    def decode(self, did_payload: bytes) -> Any:
        return did_payload[0]

    def __len__(self) -> int:
        return 1


class SecurityStatusCodec(udsoncan.DidCodec):
    """DID 0x010C: for each level in ascending order, level (1 byte), failed attempts (1 byte),
    delay remaining in seconds (2 bytes, big-endian); decoded as ``{level: (attempts, s)}``."""

    def encode(self, *did_value: Any) -> bytes:
        levels: Mapping[int, tuple[int, int]] = did_value[0]
        return b"".join(
            bytes([level, attempts]) + int(remaining).to_bytes(2, "big")
            for level, (attempts, remaining) in sorted(levels.items())
        )

    def decode(self, did_payload: bytes) -> Any:
        payload = bytes(did_payload)
        assert len(payload) % 4 == 0, f"0x010C: {payload.hex()} is not whole 4-byte records"
        return {
            payload[i]: (payload[i + 1], int.from_bytes(payload[i + 2 : i + 4], "big"))
            for i in range(0, len(payload), 4)
        }

    def __len__(self) -> int:
        raise udsoncan.DidCodec.ReadAllRemainingData  # one record per level: read it last


def immobilizer_security_algo(level: int, seed: bytes, params: Any = None) -> bytes:
    """udsoncan ``security_algo``: the Pass-Code for level 0x11 (only level used here)."""
    assert level == LEVEL_IMMOBILIZER_RESET, f"unexpected level {level:#04x}"
    return pass_code(VIN, seed)


def client_config() -> ClientConfig:
    config: dict[str, Any] = dict(udsoncan.configs.default_client_config)
    config.update(
        data_identifiers={
            DID_VIN: udsoncan.AsciiCodec(17),
            DID_MASTER_KEYS: ByteCodec(),
            DID_SUB_KEYS: ByteCodec(),
            DID_SECURITY_INDICATOR: udsoncan.DidCodec(">BB"),  # (mode, flash code)
            DID_REGISTRATION_MODE: ByteCodec(),
            DID_SECURITY_STATUS: SecurityStatusCodec(),
        },
        security_algo=immobilizer_security_algo,
        request_timeout=REQUEST_TIMEOUT_S,
        p2_timeout=REQUEST_TIMEOUT_S,
        p2_star_timeout=REQUEST_TIMEOUT_S,
        use_server_timing=False,  # the car's P2 runs on the scaled clock
    )
    return cast(ClientConfig, config)


def nrc_of(call: Callable[..., Any], *args: Any) -> int:
    """Run a udsoncan client call that must fail with a negative response; return its NRC."""
    with pytest.raises(NegativeResponseException) as info:
        call(*args)
    code = info.value.response.code
    assert code is not None
    return int(code)


def read_dids(client: Client, *dids: int) -> dict[int, Any]:
    response = client.read_data_by_identifier(list(dids))
    assert response is not None
    return dict(response.service_data.values)


def key_counts(client: Client) -> tuple[int, int]:
    """(DID 0x0106 master keys, DID 0x0107 sub keys) in one request."""
    values = read_dids(client, DID_MASTER_KEYS, DID_SUB_KEYS)
    return int(values[DID_MASTER_KEYS]), int(values[DID_SUB_KEYS])


def registration_mode(client: Client) -> int:
    """DID 0x0109: 0 normal, 1 automatic (new) registration, 2 additional registration."""
    return int(read_dids(client, DID_REGISTRATION_MODE)[DID_REGISTRATION_MODE])


# -- the car's broadcasts ----------------------------------------------------------------------

Signals = dict[str, float | int | str]


class BodyMonitor(can.Listener):
    """Keeps the latest decoded value of every body message and lets a test wait for a state."""

    def __init__(self) -> None:
        self._latest: dict[str, Signals] = {}
        self._changed = threading.Condition()
        self.errors: list[str] = []

    def on_message_received(self, msg: can.Message) -> None:
        if msg.arbitration_id >= FIRST_DIAGNOSTIC_ID:
            return
        try:
            decoded = body.decode_message(msg)
        except body.BodyMessageError as exc:
            self.errors.append(str(exc))
            return
        if decoded is None:
            return
        name, values = decoded
        with self._changed:
            self._latest[name] = dict(values)
            self._changed.notify_all()

    def latest(self, name: str) -> Signals | None:
        with self._changed:
            return self._latest.get(name)

    def wait_for(
        self,
        name: str,
        predicate: Callable[[Signals], bool],
        what: str,
        timeout: float = STATE_TIMEOUT_S,
    ) -> Signals:
        """The first state of ``name`` satisfying ``predicate``; fails after ``timeout``."""
        found: list[Signals] = []

        def ready() -> bool:
            values = self._latest.get(name)
            if values is not None and predicate(values):
                found.append(values)
                return True
            return False

        with self._changed:
            self._changed.wait_for(ready, timeout=timeout)
        if not found:
            pytest.fail(f"{name} never showed {what} within {timeout} s: {self.latest(name)}")
        return found[0]


class Tester:
    """A scan tool on one bus: its own Notifier, udsoncan clients, lab control messages, a
    monitor of the car's broadcasts and (``record``) a copy of every frame received."""

    __test__ = False  # not a pytest test class

    def __init__(self, bus: can.BusABC, *, record: bool = False) -> None:
        self.bus = bus
        self.monitor = BodyMonitor()
        self.frames: list[can.Message] = []
        listeners: list[can.Listener] = [self.monitor]
        if record:
            listeners.append(_Recorder(self.frames))
        self.notifier = can.Notifier(bus, listeners, timeout=0.1)
        self._clients: list[Client] = []
        self._closed = False

    def client(self, address: isotp.Address = IMMOBILIZER_ADDRESS) -> Client:
        stack = isotp.NotifierBasedCanStack(
            self.bus, self.notifier, address=address, params=dict(ISOTP_PARAMS)
        )
        client = Client(PythonIsoTpV2Connection(stack), config=client_config())
        client.open()
        self._clients.append(client)
        return client

    def send(self, name: str, signals: Mapping[str, body.SignalValue]) -> None:
        """Send a lab control message encoded with the shipped DBC."""
        self.bus.send(body.encode_message(name, signals))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for client in self._clients:
            client.close()
        self.notifier.stop()


class _Recorder(can.Listener):
    def __init__(self, frames: list[can.Message]) -> None:
        self._frames = frames

    def on_message_received(self, msg: can.Message) -> None:
        self._frames.append(msg)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = STATE_TIMEOUT_S) -> None:
    """Poll ``predicate`` until true; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.01)


# -- child processes ---------------------------------------------------------------------------


class Process:
    """A child process whose merged stdout/stderr is read line by line by a thread (so a full
    pipe can never block it) and matched against patterns with deadlines."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        # faulthandler: on SIGABRT (a stop that timed out) the child prints every thread's stack
        self.popen = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._changed:
                self.lines.append(raw.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first output line matching ``pattern``; fails after ``timeout`` or on exit."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def ready() -> bool:
            found[:] = [m for m in map(regex.search, self.lines) if m is not None][:1]
            return bool(found) or not self._reader.is_alive()

        with self._changed:
            self._changed.wait_for(ready, timeout=timeout)
        if not found:
            pytest.fail(f"{self.args[1:]} never printed /{pattern}/; output: {self.lines}")
        return found[0]

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """The exit code; fails if the process is still running after ``timeout``."""
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.args[1:]} still running after {timeout} s: {self.lines}")
        self._reader.join(timeout=STOP_TIMEOUT_S)
        return code

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit code. A child still running after
        :data:`STOP_TIMEOUT_S` is sent SIGABRT (its threads' stacks are printed), then killed,
        and the test fails with its output: a hang is diagnosable, not a bare ``-9``."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.send_signal(signal.SIGABRT)
            try:
                self.popen.wait(timeout=DUMP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
            self._reader.join(timeout=DUMP_TIMEOUT_S)
            tail = "\n".join(self.lines[-80:])
            pytest.fail(f"{self.args[1:]} ignored {sig.name} for {STOP_TIMEOUT_S} s:\n{tail}")
        self._reader.join(timeout=STOP_TIMEOUT_S)
        return code


class Starter(Protocol):
    """The ``processes`` fixture: starts a :class:`Process`, killed at teardown."""

    def __call__(self, args: list[str]) -> Process: ...


def ecusim_run_args(interface: str, channel: str, *extra: str) -> list[str]:
    """``ecusim run`` for the LS430 2004 transponder car at the acceptance time scale unless
    ``extra`` says otherwise (argparse: the last occurrence of a flag wins)."""
    return [sys.executable, "-m", "ecusim", "run", "-i", interface, "-c", channel,
            "--model", MODEL, "--year", str(YEAR), "--vin", VIN,
            "--time-scale", str(TIME_SCALE), *extra]  # fmt: skip


def registered_keys_printed(lines: list[str]) -> list[Key]:
    """The keys registered now, from ``ecusim run``'s ``ecusim: registered keys: master
    1D395D07, ...`` line."""
    for line in lines:
        match = re.search(r"registered keys: (.*)$", line)
        if match:
            return [
                Key(int(number, 16))
                for _, number in re.findall(r"(master|sub|smart) ([0-9A-Fa-f]{8})", match.group(1))
            ]
    pytest.fail(f"ecusim run printed no registered keys: {lines}")


def factory_keys_printed(lines: list[str]) -> list[Key]:
    """The factory keys, as ``ecusim run`` prints them for a new car (its registered keys)."""
    return registered_keys_printed(lines)


def start_ecusim(processes: Starter, args: list[str]) -> Process:
    """Start ``ecusim run`` and wait for its ready line."""
    node = processes(args)
    node.wait_for(READY_LINE)
    return node
