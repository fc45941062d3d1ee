"""The client side of the diagnostic contract (diagnostic-contract.md §2-4), in one place.

The identifiers, the DIDs with their lengths and udsoncan codecs, the udsoncan configuration
(:func:`client_config`) and the tester's can-isotp stack and udsoncan client for an ECU's
addressing (:func:`client_stack`, :func:`open_client`). The scan tool, the test kit
(:mod:`ecusim.testing`), the latency bench and the tests all build their clients from here.

It is a client written against the contract and keeps its own copy instead of importing the
car's (it never imports ``ecusim.car``, ``ecusim.ecus`` or ``ecusim.systems``), so a wrong value
on either side shows up as a failing exchange, not a shared mistake. The acceptance tests keep a
second, deliberately independent copy.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, cast

import can
import isotp
import udsoncan
import udsoncan.configs
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpV2Connection
from udsoncan.typing import ClientConfig

from protocol.isotp_binding import IsoTpAddressing
from protocol.passcode import diagnostic_key

DEFAULT_SESSION: Final = 0x01
EXTENDED_SESSION: Final = 0x03
LEVEL_DIAGNOSTIC: Final = 0x01
"""requestSeed of "extended diagnostics" (lab diagnostic key, §5); its sendKey is 0x02."""
LEVEL_RESET: Final = 0x11
"""requestSeed of "immobilizer reset" (the Seed Number); its sendKey is 0x12."""

DID_ACTIVE_SESSION: Final = 0xF186
DID_PART_NUMBER: Final = 0xF187
DID_SERIAL_NUMBER: Final = 0xF18C
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
"""4 bytes per configured level, in ascending level order: level (requestSeed sub-function),
failed attempts, delay remaining in seconds (2 bytes); :func:`security_status`."""
SECURITY_STATUS_RECORD: Final = ">BBH"
"""One level's record in DID 0x010C: level, failed attempts, delay remaining (s)."""
DID_SMART_KEYS: Final = 0x010D

INDICATOR_FLASHING_CODE: Final = 3
"""DID 0x0108 mode: the security indicator flashes a 2-digit code."""
MODE_AUTOMATIC: Final = 1
"""DID 0x0109: automatic (new) registration (transponder, after a reset)."""
MODE_OPEN: Final = 4
"""DID 0x0109: smart key registration open (the waiting period has run)."""
STATUS_DONE: Final = 0
"""First byte of a routine's status record: done (1 running, 2 failed)."""

DID_REGISTRATION_REFUSAL: Final = 0x010E
"""Lab: the last smart key registration refusal (reason code, then ASCII text)."""

RID_RESET: Final = 0x0201
RID_ADDITIONAL_REGISTRATION: Final = 0x0202
RID_END_AUTOMATIC_REGISTRATION: Final = 0x0203
RID_ERASE_KEYS: Final = 0x0204
RID_SMART_KEY_REGISTRATION: Final = 0x0206

ROUTINE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        RID_RESET: "Immobilizer/Smart Key Reset",
        RID_ADDITIONAL_REGISTRATION: "Additional key registration",
        RID_END_AUTOMATIC_REGISTRATION: "End automatic registration",
        RID_ERASE_KEYS: "Erase keys",
        RID_SMART_KEY_REGISTRATION: "Smart key code registration",
    }
)
"""The contract's routines by RID (diagnostic-contract.md §4)."""
LEVEL_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {LEVEL_DIAGNOSTIC: "extended diagnostics", LEVEL_RESET: "immobilizer reset"}
)
"""The contract's SecurityAccess levels by requestSeed sub-function (§3)."""
REGISTRATION_MODE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        0: "normal",
        MODE_AUTOMATIC: "automatic (new) registration",
        2: "additional registration",
        3: "smart: waiting period running",
        MODE_OPEN: "smart: registration open",
    }
)
"""DID 0x0109 (and the body frames' RegistrationMode) by value (§4)."""
INDICATOR_MODE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {0: "off", 1: "steady", 2: "blinking", INDICATOR_FLASHING_CODE: "flashing a code"}
)
"""DID 0x0108's first byte (and the body frames' IndicatorMode) by value (§4)."""
ROUTINE_STATUS_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {STATUS_DONE: "done", 1: "running", 2: "failed"}
)
"""The first byte of a routine's status record (§4)."""

PAD_BYTE: Final = 0xCC
"""diagnostic-contract.md §1: classic CAN frames padded to 8 bytes with 0xCC."""
CLIENT_ISOTP_PARAMS: Final[Mapping[str, Any]] = MappingProxyType(
    {"tx_padding": PAD_BYTE, "blocking_send": False}
)
"""can-isotp ``params`` of the tester's stack: it pads its own frames too (a real scan tool
does); a car on CAN-FD or without padding wants its own (``params`` of :func:`client_stack`)."""


# -- the DIDs and their codecs -----------------------------------------------------------------


class RawCodec(udsoncan.DidCodec):
    """A DID value as ``bytes``: ``length`` bytes, or (``None``) the rest of the response."""

    def __init__(self, length: int | None = None) -> None:
        self._length = length

    def encode(self, *did_value: Any) -> bytes:
        return bytes(did_value[0])

    def decode(self, did_payload: bytes) -> Any:
        return bytes(did_payload)

    def __len__(self) -> int:
        if self._length is None:
            raise udsoncan.DidCodec.ReadAllRemainingData
        return self._length


class UnsignedCodec(udsoncan.DidCodec):
    """An unsigned big-endian integer of ``length`` bytes, decoded as an ``int``."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self._length = length

    def encode(self, *did_value: Any) -> bytes:
        return int(did_value[0]).to_bytes(self._length, "big")

    def decode(self, did_payload: bytes) -> Any:
        return int.from_bytes(did_payload[: self._length], "big")

    def __len__(self) -> int:
        return self._length


class TextCodec(udsoncan.DidCodec):
    """ASCII text of any length: the whole rest of the response (read it alone, or last)."""

    def encode(self, *did_value: Any) -> bytes:
        return str(did_value[0]).encode("ascii")

    def decode(self, did_payload: bytes) -> Any:
        return bytes(did_payload).decode("ascii")

    def __len__(self) -> int:
        raise udsoncan.DidCodec.ReadAllRemainingData


class RecordsCodec(udsoncan.DidCodec):
    """Records of one ``struct`` format repeated to the end of the response, decoded as a
    tuple of tuples (read such a DID alone, or last)."""

    def __init__(self, fields: str) -> None:
        self._fields = fields
        self._size = struct.calcsize(fields)

    def encode(self, *did_value: Any) -> bytes:
        return b"".join(struct.pack(self._fields, *record) for record in did_value[0])

    def decode(self, did_payload: bytes) -> Any:
        payload = bytes(did_payload)
        if len(payload) % self._size:
            raise ValueError(f"{len(payload)} bytes are not whole {self._size}-byte records")
        return tuple(struct.iter_unpack(self._fields, payload))

    def __len__(self) -> int:
        raise udsoncan.DidCodec.ReadAllRemainingData


@dataclass(frozen=True)
class LevelSecurityStatus:
    """One level's entry of DID 0x010C (diagnostic-contract.md §4)."""

    level: int
    """The requestSeed sub-function (0x01, 0x11)."""
    failed_attempts: int
    delay_remaining_s: int
    """Seconds, rounded up; 0 when the level may be requested."""


def security_status(payload: bytes) -> dict[int, LevelSecurityStatus]:
    """DID 0x010C's value by level (diagnostic-contract.md §4); ``ValueError`` if it is not
    whole 4-byte records."""
    return {
        level: LevelSecurityStatus(level, attempts, remaining)
        for level, attempts, remaining in RecordsCodec(SECURITY_STATUS_RECORD).decode(payload)
    }


@dataclass(frozen=True)
class ContractDid:
    """One DID of the contract: its ``length`` in bytes (``None``: the rest of the response,
    text of any length or ``repeated`` records) and how its value reads: ASCII ``text``, a
    record of several ``fields`` (a ``struct`` format, decoded as a tuple), records of
    ``fields`` ``repeated`` to the end (a tuple of tuples), or else one unsigned integer."""

    did: int
    name: str
    length: int | None
    fields: str | None = None
    text: bool = False
    repeated: bool = False

    def __post_init__(self) -> None:
        if self.repeated:
            if self.fields is None or self.length is not None:
                raise ValueError(f"DID 0x{self.did:04X}: repeated records need fields, no length")
            return
        if self.length is None and not self.text:
            raise ValueError(f"DID 0x{self.did:04X}: only text may have no fixed length")
        if self.fields is not None and struct.calcsize(self.fields) != self.length:
            raise ValueError(f"DID 0x{self.did:04X}: {self.fields!r} is not {self.length} bytes")

    def codec(self) -> udsoncan.DidCodec:
        """The typed codec: ``str`` for text, a tuple for a record, a tuple of tuples for
        repeated records, else an ``int``."""
        if self.repeated and self.fields is not None:
            return RecordsCodec(self.fields)
        if self.text or self.length is None:
            return TextCodec() if self.length is None else udsoncan.AsciiCodec(self.length)
        if self.fields is not None:
            return udsoncan.DidCodec(self.fields)
        return UnsignedCodec(self.length)

    def raw_codec(self) -> udsoncan.DidCodec:
        """The codec giving the value's bytes as they came."""
        return RawCodec(self.length)


CONTRACT_DIDS: Final[tuple[ContractDid, ...]] = (
    ContractDid(DID_VIN, "VIN", 17, text=True),
    ContractDid(DID_SERIAL_NUMBER, "ECU serial number", None, text=True),
    ContractDid(DID_PART_NUMBER, "part number", None, text=True),
    ContractDid(DID_SYSTEM_NAME, "system name", None, text=True),
    ContractDid(DID_ACTIVE_SESSION, "active session", 1),
    ContractDid(DID_IMMOBILIZER_STATE, "immobilizer state", 1),  # 0 unset, 1 set
    ContractDid(DID_MASTER_KEYS, "registered master keys", 1),
    ContractDid(DID_SUB_KEYS, "registered sub keys", 1),
    ContractDid(DID_SECURITY_INDICATOR, "security indicator", 2, fields=">BB"),  # mode, code
    ContractDid(DID_REGISTRATION_MODE, "registration mode", 1),
    ContractDid(DID_CAPABILITIES, "capabilities", 2, fields=">BB"),  # system type, reset
    ContractDid(DID_WAITING_PERIOD, "waiting period remaining, seconds", 2),
    ContractDid(
        DID_SECURITY_STATUS,
        "security access status",
        None,
        fields=SECURITY_STATUS_RECORD,  # per level: level, failed attempts, delay s
        repeated=True,
    ),
    ContractDid(DID_SMART_KEYS, "registered smart keys", 1),
    ContractDid(DID_REGISTRATION_REFUSAL, "last smart key registration refusal", None, text=True),
)
"""The contract's DIDs (diagnostic-contract.md §4)."""


def did_codecs() -> dict[int, udsoncan.DidCodec]:
    """udsoncan codecs of the contract's DIDs (diagnostic-contract.md §4): ints, tuples for the
    records of several fields, ``str`` for text."""
    return {did.did: did.codec() for did in CONTRACT_DIDS}


def raw_did_codecs() -> dict[int, udsoncan.DidCodec]:
    """udsoncan codecs of the contract's DIDs giving each value's ``bytes`` (the scan tool
    decodes them itself)."""
    return {did.did: did.raw_codec() for did in CONTRACT_DIDS}


# -- the udsoncan client -----------------------------------------------------------------------


def lab_security_algo(level: int, seed: bytes, params: Any = None) -> bytes:
    """udsoncan ``security_algo``: the lab key of level 0x01 (diagnostic-contract.md §5) only,
    with ``params`` (udsoncan's ``security_algo_params``) as ``K_diag`` when it is bytes (a
    secret file's ``diag_key``, docs/secrets.md), else the public lab key.

    The reset level 0x11 needs the portal's Pass-Code for the Seed Number, as a real tool does:
    ``request_seed(0x11)``, then ``send_key(0x12, portal.pass_code(vin, seed))``.
    """
    if level in (LEVEL_DIAGNOSTIC, LEVEL_DIAGNOSTIC + 1):
        if isinstance(params, bytes):
            return diagnostic_key(bytes(seed), params)
        return diagnostic_key(bytes(seed))
    raise ValueError(
        f"no key for SecurityAccess level 0x{level:02X} in the client: the reset level's "
        "Pass-Code comes from the portal (portal.pass_code(vin, seed), then send_key(0x12, ...))"
    )


def client_config(**overrides: Any) -> ClientConfig:
    """udsoncan's defaults with :func:`did_codecs`, :func:`lab_security_algo` and
    ``use_server_timing=False`` (udsoncan would apply the car's 50 ms P2 to whole multi-frame
    answers); ``overrides`` replace single keys."""
    config: dict[str, Any] = dict(udsoncan.configs.default_client_config)
    config.update(
        data_identifiers=did_codecs(),
        security_algo=lab_security_algo,
        use_server_timing=False,
    )
    config.update(overrides)
    return cast(ClientConfig, config)


def client_stack(
    bus: can.BusABC,
    notifier: can.Notifier,
    addressing: IsoTpAddressing | isotp.Address,
    *,
    params: Mapping[str, Any] | None = None,
) -> isotp.NotifierBasedCanStack:
    """A new can-isotp stack on ``bus``'s ``notifier`` (one Notifier per bus) to one node; start
    and stop it yourself, or give it to a udsoncan connection (:func:`open_client`).

    ``addressing``: the ECU's :class:`~protocol.isotp_binding.IsoTpAddressing` (the tester sends
    on its request ID and listens on its response ID, with its sub-address under extended
    addressing), or a can-isotp address of the tester's side as it is. ``params``: can-isotp
    parameters over :data:`CLIENT_ISOTP_PARAMS` (CAN-FD, other padding, timings)."""
    if isinstance(addressing, IsoTpAddressing):
        addressing = addressing.tester_address()
    return isotp.NotifierBasedCanStack(
        bus, notifier, address=addressing, params={**CLIENT_ISOTP_PARAMS, **(params or {})}
    )


PayloadObserver = Callable[[bytes, bool], None]
"""Called with each UDS payload a client sends (``True``) or receives (``False``)."""


class ObservedConnection(PythonIsoTpV2Connection):
    """udsoncan's can-isotp connection that also shows each payload to an observer, in the
    client's own thread (every response, each ``7F xx 78`` too, as udsoncan reads it)."""

    def __init__(self, stack: isotp.TransportLayer, observer: PayloadObserver) -> None:
        super().__init__(stack)
        self._observer = observer

    def specific_send(self, payload: bytes, timeout: float | None = None) -> None:
        self._observer(bytes(payload), True)
        super().specific_send(payload, timeout)

    def specific_wait_frame(self, timeout: float | None = None) -> bytes | None:
        frame = super().specific_wait_frame(timeout)
        if frame is not None:
            self._observer(frame, False)
        return frame


def open_client(
    bus: can.BusABC,
    notifier: can.Notifier,
    addressing: IsoTpAddressing | isotp.Address,
    *,
    params: Mapping[str, Any] | None = None,
    config: ClientConfig | None = None,
    observer: PayloadObserver | None = None,
) -> Client:
    """An opened udsoncan client over :func:`client_stack` (``PythonIsoTpV2Connection``, or
    :class:`ObservedConnection` with an ``observer``) with ``config`` (default
    :func:`client_config`); ``close()`` stops its stack."""
    stack = client_stack(bus, notifier, addressing, params=params)
    connection = (
        PythonIsoTpV2Connection(stack) if observer is None else ObservedConnection(stack, observer)
    )
    client = Client(connection, config=config if config is not None else client_config())
    client.open()
    return client
