"""Hypothesis fuzzing of the pure UDS server core (bytes, addressing and time in; bytes out).

Whatever arrives, :meth:`UdsServer.handle` and :meth:`UdsServer.poll` never raise and only
produce well-formed UDS: a positive response starts with the request SID + 0x40; a negative one
is exactly ``7F <sid> <nrc>`` with an NRC of :class:`~protocol.constants.Nrc`; NRCs of
ISO 14229-1 §7.5.3 never answer a functional request; positive responses never answer a request
with the suppress-positive-response bit (diagnostic-contract.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from ecusim.ecus.engine import EngineEcu
from protocol.clock import FakeClock
from protocol.constants import (
    FUNCTIONALLY_SUPPRESSED_NRCS,
    NEGATIVE_RESPONSE_SID,
    POSITIVE_RESPONSE_OFFSET,
    SUPPRESS_POSITIVE_RESPONSE_BIT,
    Addressing,
    Nrc,
    Sid,
)
from protocol.errors import NegativeResponseError
from protocol.passcode import diagnostic_key
from protocol.security_algorithms import LabDiagnosticAlgorithm
from protocol.seed_source import DeterministicSeedSource
from protocol.uds.dtc import DtcMemory
from protocol.uds.pending import TimedWork
from protocol.uds.routines import Routine
from protocol.uds.security import SecurityLevel
from protocol.uds.server import UdsServer

NRC_VALUES = frozenset(int(n) for n in Nrc)
REAL_SIDS = (0x10, 0x11, 0x14, 0x19, 0x22, 0x27, 0x2E, 0x31, 0x3E)
SUB_FUNCTION_SIDS = frozenset({0x10, 0x11, 0x19, 0x27, 0x31, 0x3E})
"""Services whose second byte is a sub-function (with the suppress bit)."""

RESPONSE_PENDING = int(Nrc.REQUEST_CORRECTLY_RECEIVED_RESPONSE_PENDING)

SEND_KEY = b"<send the right key>"
"""A step marker: replaced by ``27 02 <key for the last seed>`` so the fuzzer gets past 0x33."""

PLAUSIBLE_PREFIXES = (
    bytes([0x10, 0x03]),  # DiagnosticSessionControl extended
    bytes([0x10, 0x01]),  # DiagnosticSessionControl default
    bytes([0x10, 0x83]),  # DiagnosticSessionControl extended, suppress bit
    bytes([0x11, 0x01]),  # ECUReset hardReset
    bytes([0x27, 0x01]),  # SecurityAccess requestSeed level 0x01
    bytes([0x27, 0x02]),  # SecurityAccess sendKey level 0x01
    bytes([0x3E, 0x00]),  # TesterPresent
    bytes([0x3E, 0x80]),  # TesterPresent, suppress bit
    bytes([0x22, 0xF1, 0x90]),  # ReadDataByIdentifier VIN
    bytes([0x22, 0xF1, 0x86]),  # ReadDataByIdentifier active session
    bytes([0x2E, 0xF1, 0x90]),  # WriteDataByIdentifier VIN (data follows)
    bytes([0x31, 0x01, 0x02, 0x01]),  # RoutineControl start 0x0201 (slow)
    bytes([0x31, 0x01, 0x02, 0x02]),  # RoutineControl start 0x0202 (fails late)
    bytes([0x31, 0x01, 0x02, 0x03]),  # RoutineControl start 0x0203 (crashes late)
    bytes([0x31, 0x01, 0x02, 0x04]),  # RoutineControl start 0x0204 (immediate, locked)
    bytes([0x31, 0x03, 0x02, 0x01]),  # RoutineControl results 0x0201
    bytes([0x31, 0x02, 0x02, 0x01]),  # RoutineControl stop 0x0201
    bytes([0x19, 0x02, 0xFF]),  # ReadDTCInformation by status mask
    bytes([0x14, 0xFF, 0xFF, 0xFF]),  # ClearDiagnosticInformation all groups
)

plausible_payloads = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(PLAUSIBLE_PREFIXES),
    st.just(b"") | st.binary(min_size=0, max_size=4),
)
payloads = st.one_of(
    st.binary(min_size=0, max_size=64),
    st.builds(
        lambda sid, rest: bytes([sid]) + rest,
        st.sampled_from(REAL_SIDS),
        st.binary(min_size=0, max_size=24),
    ),
    plausible_payloads,
    plausible_payloads,
    st.just(SEND_KEY),
)
addressings = st.sampled_from([Addressing.PHYSICAL, Addressing.PHYSICAL, Addressing.FUNCTIONAL])
advances = st.one_of(
    st.sampled_from([0.0, 0.0, 0.001, 0.049, 0.051, 0.3, 1.0, 2.0, 2.5, 4.99, 5.01, 10.5]),
    st.floats(min_value=0.0, max_value=12.0, allow_nan=False),
)
Step = tuple[bytes, Addressing, float]
UNLOCK_PREAMBLE: list[Step] = [
    (bytes([0x10, 0x03]), Addressing.PHYSICAL, 0.0),  # extended session
    (bytes([0x27, 0x01]), Addressing.PHYSICAL, 0.0),  # requestSeed level 0x01
    (SEND_KEY, Addressing.PHYSICAL, 0.0),  # sendKey with the right key
]
steps = st.builds(
    lambda unlock, rest: (UNLOCK_PREAMBLE if unlock else []) + rest,
    st.booleans(),
    st.lists(st.tuples(payloads, addressings, advances), min_size=1, max_size=30),
)


@dataclass
class Target:
    """A server under test, its fake clock and what the fuzzer learnt (the last seed)."""

    server: UdsServer
    clock: FakeClock
    last_seed: bytes = b""
    pending_sid: int | None = None
    outputs: list[bytes] = field(default_factory=list)


def _engine_target() -> Target:
    clock = FakeClock()
    ecu = EngineEcu(seed_source=DeterministicSeedSource(1))
    return Target(ecu.server, clock)


def _routine_target() -> Target:
    """A server with routines that answer with 0x78 first (built from the framework's parts)."""
    clock = FakeClock()

    def slow(option: bytes) -> TimedWork:
        return TimedWork(clock.now() + 2.5, lambda: bytes([0x00]) + option[:4])

    def fails_late(option: bytes) -> TimedWork:
        def finish() -> bytes:
            raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT)

        return TimedWork(clock.now() + 0.2, finish)

    def crashes_late(option: bytes) -> TimedWork:
        def finish() -> bytes:
            raise RuntimeError("a handler bug")

        return TimedWork(clock.now() + 0.2, finish)

    server = UdsServer(
        routines=[
            Routine(
                0x0201,
                "slow",
                start=slow,
                stop=lambda option: bytes([0x00]),
                results=lambda: bytes([0x00]),
            ),
            Routine(0x0202, "fails late", start=fails_late),
            Routine(0x0203, "crashes late", start=crashes_late),
            Routine(
                0x0204,
                "locked",
                start=lambda option: bytes([0x00]),
                security=frozenset({0x01}),
            ),
        ],
        security_levels=[SecurityLevel(0x01, LabDiagnosticAlgorithm(), name="extended")],
        seed_source=DeterministicSeedSource(2),
        dtcs=DtcMemory([0xA79600, 0x012300]),
    )
    return Target(server, clock)


def _check_response(
    target: Target, request: bytes, addressing: Addressing, response: object
) -> None:
    if not request:
        assert response is None  # an empty payload is ignored
        return
    if response is None:
        return
    assert isinstance(response, bytes)
    assert 1 <= len(response) <= 4095
    sid = request[0]
    if response[0] == NEGATIVE_RESPONSE_SID:
        assert len(response) == 3, response.hex()
        assert response[1] == sid, (request.hex(), response.hex())
        nrc = response[2]
        assert nrc in NRC_VALUES, response.hex()
        if addressing is Addressing.FUNCTIONAL:
            assert nrc not in {int(n) for n in FUNCTIONALLY_SUPPRESSED_NRCS}, response.hex()
        if nrc == RESPONSE_PENDING:
            assert sid == Sid.ROUTINE_CONTROL, response.hex()
            assert target.server.is_busy
            target.pending_sid = sid
        return
    assert response[0] == (sid + POSITIVE_RESPONSE_OFFSET) & 0xFF, (request.hex(), response.hex())
    assert sid in target.server.services
    if sid in SUB_FUNCTION_SIDS:
        assert len(request) >= 2
        assert not request[1] & SUPPRESS_POSITIVE_RESPONSE_BIT, (request.hex(), response.hex())
    if sid == Sid.SECURITY_ACCESS and request[1] % 2 == 1:
        target.last_seed = response[2:]


def _check_poll(target: Target, outputs: object) -> None:
    assert isinstance(outputs, list)
    for output in outputs:
        assert isinstance(output, bytes)
        sid = target.pending_sid
        assert sid is not None, f"poll produced {output.hex()} with nothing pending"
        if output[0] == NEGATIVE_RESPONSE_SID:
            assert len(output) == 3, output.hex()
            assert output[1] == sid
            assert output[2] in NRC_VALUES
        else:
            assert output[0] == sid + POSITIVE_RESPONSE_OFFSET, output.hex()
        if output[0] != NEGATIVE_RESPONSE_SID or output[2] != RESPONSE_PENDING:
            target.pending_sid = None  # the final response is out
    if not target.server.is_busy:
        target.pending_sid = None


def _run(target: Target, sequence: list[Step]) -> None:
    for payload, addressing, advance in sequence:
        now = target.clock.advance(advance)
        _check_poll(target, target.server.poll(now))
        request = payload
        if payload == SEND_KEY:
            key = diagnostic_key(target.last_seed) if target.last_seed else b"\x00\x00\x00\x00"
            request = bytes([0x27, 0x02]) + key  # SecurityAccess sendKey level 0x01 + key
        response = target.server.handle(request, addressing, now)
        _check_response(target, request, addressing, response)
        deadline = target.server.next_deadline()
        assert deadline is None or isinstance(deadline, float)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(payload=payloads, addressing=addressings)
def test_engine_single_requests_are_well_formed(payload: bytes, addressing: Addressing) -> None:
    _run(_engine_target(), [(payload, addressing, 0.0)])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(sequence=steps)
def test_engine_request_sequences_are_well_formed(
    sequence: list[Step],
) -> None:
    target = _engine_target()
    _run(target, sequence)
    assert target.server.poll(target.clock.now()) == []  # the engine never has pending work


@settings(max_examples=250, deadline=None, derandomize=True)
@given(sequence=steps)
def test_pending_routine_sequences_are_well_formed(
    sequence: list[Step],
) -> None:
    target = _routine_target()
    _run(target, sequence)
    # Let any pending work finish: the final response always comes (ISO 14229-1 §7.5).
    for _ in range(10):
        _check_poll(target, target.server.poll(target.clock.advance(1.0)))
    assert not target.server.is_busy
    assert target.pending_sid is None


def test_pending_routine_answers_78_then_final_response() -> None:
    """A deterministic walk through the path the fuzzer must keep reaching."""
    target = _routine_target()
    server, clock = target.server, target.clock
    now = clock.now()

    assert server.handle(bytes([0x10, 0x03]), Addressing.PHYSICAL, now) == bytes(
        [0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]  # extended session, P2 50 ms, P2* 5 s
    )
    assert server.handle(
        bytes([0x31, 0x81, 0x02, 0x01]),  # RoutineControl start (suppress bit), RID 0x0201
        Addressing.PHYSICAL,
        now,
    ) == bytes([0x7F, 0x31, 0x78])  # responsePending
    assert server.handle(bytes([0x3E, 0x80]), Addressing.PHYSICAL, now) is None  # quietly kept
    assert server.handle(bytes([0x22, 0xF1, 0x90]), Addressing.PHYSICAL, now) == bytes(
        [0x7F, 0x22, 0x21]  # busyRepeatRequest while the routine runs
    )
    assert server.poll(clock.advance(2.0)) == [bytes([0x7F, 0x31, 0x78])]  # repeated 0x78
    assert server.poll(clock.advance(0.6)) == [
        bytes([0x71, 0x01, 0x02, 0x01, 0x00])  # final positive response despite the suppress bit
    ]
    assert not server.is_busy
