"""scapy's automotive scanners, independent real-world clients, against the engine node over
python-can's virtual interface (design guide: "udsoncan (and scapy's scanner) as independent
clients"; pitfalls: scanners send one-byte requests and bare First Frames).

scapy talks to python-can through ``PythonCANSocket`` (its ``SocketsPool`` opens its own bus
instance on the channel) with ``ISOTPSoftSocket`` on top; nothing is mocked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from scapy.config import conf

# Read by scapy's contrib modules at import: python-can sockets, scapy's own (soft) ISO-TP.
conf.contribs["CANSocket"] = {"use-python-can": True}
conf.contribs["ISOTP"] = {"use-can-isotp-kernel-module": False}

from scapy.contrib.automotive.uds import UDS  # noqa: E402
from scapy.contrib.automotive.uds_scan import (  # noqa: E402
    UDS_DSCEnumerator,
    UDS_SAEnumerator,
    UDS_Scanner,
    UDS_ServiceEnumerator,
    UDS_TPEnumerator,
    uds_software_reset,
)
from scapy.contrib.cansocket_python_can import PythonCANSocket  # noqa: E402
from scapy.contrib.isotp import ISOTPSoftSocket, isotp_scan  # noqa: E402

from ecusim.ecus.engine import EngineEcu  # noqa: E402
from tests.integration.uds_bench import DID_ACTIVE_SESSION, ClientFactory  # noqa: E402

# scapy's type comments are narrower than its real API (e.g. ``**kwargs`` typed as dicts).
python_can_socket: Any = PythonCANSocket
uds_scanner: Any = UDS_Scanner
scan_isotp: Any = isotp_scan

SCAN_BUDGET_S = 30
"""scapy's scan(timeout=...): the executor stops starting test cases after this."""

ANSWER_TIMEOUT_S = 1.0
"""How long each enumerator waits for one answer. The engine answers every request here within
milliseconds, so this bounds only a missing answer and never lengthens a passing scan (about 4 s
either way). 0.2 s was once exceeded in CI on the loaded 2-core machine: scapy's soft ISO-TP
socket polls from its own scheduler thread, which can be starved for that long."""

ENGINE_SERVICES = {0x10, 0x11, 0x22, 0x27, 0x2E, 0x3E}
"""Services the engine implements (diagnostic-contract.md §2-§4: no routines, no DTCs)."""


@pytest.fixture
def can_socket(channel: str) -> Iterator[Any]:
    """scapy's python-can CAN socket on the test's channel."""
    sock = python_can_socket(interface="virtual", channel=channel)
    yield sock
    sock.close()


@pytest.fixture
def isotp_socket(can_socket: Any) -> Iterator[Any]:
    """scapy's software ISO-TP socket to the engine: 0x7E0 → 0x7E8, frames padded."""
    sock = ISOTPSoftSocket(can_socket, tx_id=0x7E0, rx_id=0x7E8, padding=True, basecls=UDS)
    yield sock
    sock.close()


def _enumerator(scanner: Any, cls: type) -> Any:
    return next(t for t in scanner.configuration.test_cases if isinstance(t, cls))


@pytest.mark.slow
def test_uds_scanner_finds_sessions_services_and_seeds(
    engine_node: EngineEcu, isotp_socket: Any, uds_client: ClientFactory
) -> None:
    scanner = uds_scanner(
        isotp_socket,
        # Without a reset handler the executor assumes resets between paths that never happen:
        # the extended session (S3 = 5 s) leaks into "session 1" results, e.g. seeds there.
        # scapy's own software reset sends ECUReset 11 01, which the engine supports.
        software_reset_handler=uds_software_reset,
        test_cases=[UDS_ServiceEnumerator, UDS_DSCEnumerator, UDS_TPEnumerator, UDS_SAEnumerator],
        unittest=True,  # no TesterPresent sender thread, no 11 s waits after 0x37
        UDS_ServiceEnumerator_kwargs={"timeout": ANSWER_TIMEOUT_S},
        UDS_DSCEnumerator_kwargs={
            "scan_range": [0x01, 0x02, 0x03, 0x04],
            "overwrite_timeout": False,
            "timeout": ANSWER_TIMEOUT_S,
            "delay_state_change": 0,
        },
        UDS_TPEnumerator_kwargs={"timeout": ANSWER_TIMEOUT_S},
        UDS_SAEnumerator_kwargs={"scan_range": [0x01, 0x03, 0x11], "timeout": ANSWER_TIMEOUT_S},
    )

    started = time.monotonic()
    scanner.scan(timeout=SCAN_BUDGET_S)
    elapsed = time.monotonic() - started

    assert elapsed < SCAN_BUDGET_S
    assert scanner.scan_completed

    dsc = _enumerator(scanner, UDS_DSCEnumerator)
    sessions = {r.req.diagnosticSessionType for r in dsc.results_with_positive_response}
    assert sessions == {0x01, 0x03}
    assert any(getattr(state, "session", None) == 3 for state in scanner.final_states)

    services = _enumerator(scanner, UDS_ServiceEnumerator)
    assert not services.results_without_response  # every physical request is answered
    answered = {
        r.req.service
        for r in services.results_with_negative_response
        if r.resp.negativeResponseCode != 0x11
    }
    assert answered == set(engine_node.server.services)  # 0x13 or 0x7F, never a crash
    assert answered >= ENGINE_SERVICES

    security = _enumerator(scanner, UDS_SAEnumerator)
    seeds = [
        r for r in security.results_with_positive_response if getattr(r.state, "session", None) == 3
    ]
    assert [r.req.securityAccessType for r in seeds] == [0x01]
    assert len(seeds[0].resp.securitySeed) == 4
    default_session_answers = {
        r.resp.negativeResponseCode
        for r in security.results_with_negative_response
        if getattr(r.state, "session", None) == 1
    }
    assert default_session_answers == {0x7F}  # SecurityAccess in the default session

    client = uds_client()
    assert client.tester_present() is not None
    assert client.read_data_by_identifier_first(DID_ACTIVE_SESSION) == 0x01


def test_isotp_scan_finds_the_engine_and_abandons_first_frames_harmlessly(
    engine_node: EngineEcu, can_socket: Any, uds_client: ClientFactory
) -> None:
    """scapy's ISO-TP scanner sends bare First Frames (100 bytes announced) and only waits for
    the Flow Control. The functional ID must not answer (listen-only); the node keeps serving."""
    found = scan_isotp(
        can_socket,
        scan_range=range(0x7DD, 0x7E3),
        noise_listen_time=0.05,
        sniff_time=0.02,
        output_format="json",
        can_interface="virtual",
    )

    endpoints = json.loads(found)
    assert [(e["tx_id"], e["rx_id"], e["padding"]) for e in endpoints] == [(0x7E0, 0x7E8, True)]

    client = uds_client()
    assert client.tester_present() is not None
    assert client.read_data_by_identifier_first(DID_ACTIVE_SESSION) == 0x01
