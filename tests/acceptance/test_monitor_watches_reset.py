"""Acceptance (issue 14): ``ecusim monitor`` watches a reset of a car in another process.

A python-can-remote hub (127.0.0.1) bridges a virtual bus; ``ecusim run -i remote`` runs the
smart-key LS460 2012 in a subprocess; in this process ``ecusim monitor``'s bus and decoder
(:func:`ecusim.cli.monitor_command.watching`, from its own command-line flags) feed its Textual
view, driven by Textual's pilot (``App.run_test``), while udsoncan performs the bulletin's reset
over the hub with the Pass-Code computed independently (``acceptance_kit.pass_code``). The
screen must show the extended session, the unlock, ``7F 31 78``, the erase and the waiting
period. The screenshot is saved as SVG; with ``ECUSIM_SCREENSHOT_DIR=docs/images`` it refreshes
the one docs/monitor.md shows.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

import isotp
import pytest

from dbc import body
from ecusim.catalog.vin import lab_vin
from ecusim.cli.main import build_parser
from ecusim.cli.monitor_command import watching
from ecusim.monitor.app import MonitorApp
from tests.acceptance.acceptance_kit import (
    EXTENDED_SESSION,
    LEVEL_IMMOBILIZER_RESET,
    RID_RESET,
    Starter,
    Tester,
    pass_code,
    start_ecusim,
)

MODEL: Final = "LS460"
YEAR: Final = 2012
VIN: Final = lab_vin(MODEL, YEAR)
"""The car's default VIN (``ecusim run`` without ``--vin``): its Pass-Codes derive from it."""
IGNITION_ON: Final = 2
CERTIFICATION_ADDRESS: Final = isotp.Address(
    isotp.AddressingMode.Extended_11bits,
    txid=0x750,
    rxid=0x758,
    target_address=0xB5,
    source_address=0xB5,
)
"""diagnostic-contract.md §1: the certification ECU, extended addressing, sub-address 0xB5."""
DID_REGISTRATION_MODE: Final = 0x0109
DID_WAITING_PERIOD: Final = 0x010B
SCREEN_SIZE: Final = (180, 60)
SCREEN_TIMEOUT_S: Final = 20.0
SCREENSHOT_NAME: Final = "monitor-reset.svg"
MARKS: Final = {
    "the session": "extendedDiagnosticSession",
    "the unlock": "security 0x11: unlocked",
    "the response pending": "7F 31 78",
    "the erase": "key codes: erased (0x0201",
    "the waiting period": "waiting period running",
}


def screen_text(svg: str) -> str:
    """The text of a Textual SVG screenshot (its ``<text>`` elements, unescaped)."""
    parts = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.DOTALL)
    return html.unescape("".join(parts)).replace("\xa0", " ")


def _pass_code(level: int, seed: bytes, params: Any = None) -> bytes:
    """udsoncan ``security_algo`` (called with keywords): this car's Pass-Code of level 0x11."""
    assert level == LEVEL_IMMOBILIZER_RESET, f"unexpected level {level:#04x}"
    return pass_code(VIN, seed)


def _reset(tester: Tester, outcome: list[Any]) -> None:
    """The bulletin: ignition ON, extended session, Seed Number → Pass-Code, reset (0x78 while
    it erases), then the technician reads the registration mode and the waiting period."""
    try:
        tester.send(body.LAB_IGNITION_CMD, {"IgnitionCommand": IGNITION_ON})
        tester.monitor.wait_for(
            body.IGNITION_STATUS, lambda s: s["IgnitionState"] == IGNITION_ON, "ignition ON"
        )
        client = tester.client(CERTIFICATION_ADDRESS)
        client.set_config("security_algo", _pass_code)
        codecs = dict(client.config["data_identifiers"])
        client.set_config("data_identifiers", {**codecs, DID_WAITING_PERIOD: ">H"})
        client.change_session(EXTENDED_SESSION)
        client.unlock_security_access(LEVEL_IMMOBILIZER_RESET)
        outcome.append(client.start_routine(RID_RESET))
        client.read_data_by_identifier([DID_REGISTRATION_MODE])
        client.read_data_by_identifier([DID_WAITING_PERIOD])
    except BaseException as exc:  # handed to the test thread
        outcome.append(exc)


@pytest.mark.slow
def test_monitor_shows_a_reset_in_another_process(
    processes: Starter, hub_url: str, remote_tester: Tester, tmp_path: Path
) -> None:
    # At the real time scale: S3server is 5 s, so no busy moment of this process can let the
    # session lapse between the unlock and the reset (at 20x it would be 0.25 s).
    start_ecusim(
        processes,
        [sys.executable, "-m", "ecusim", "run", "-i", "remote", "-c", hub_url,
         "--model", MODEL, "--year", str(YEAR), "--ephemeral"],
    )  # fmt: skip
    args = build_parser().parse_args(
        ["monitor", "-i", "remote", "-c", hub_url, "--model", MODEL, "--year", str(YEAR)]
    )
    stop = threading.Event()
    outcome: list[Any] = []
    found: dict[str, str] = {}
    screenshot = tmp_path / SCREENSHOT_NAME

    async def drive(app: MonitorApp) -> str:
        async with app.run_test(size=SCREEN_SIZE) as pilot:
            worker = threading.Thread(target=_reset, args=(remote_tester, outcome), daemon=True)
            worker.start()
            deadline = time.monotonic() + SCREEN_TIMEOUT_S
            text = ""
            while time.monotonic() < deadline:
                await pilot.pause(0.2)
                text = screen_text(app.export_screenshot())
                found.update({what: mark for what, mark in MARKS.items() if mark in text})
                if len(found) == len(MARKS) and not worker.is_alive():
                    break
            worker.join(timeout=SCREEN_TIMEOUT_S)
            while app.decoder.in_progress() and time.monotonic() < deadline:
                await pilot.pause(0.1)  # the last answer may still be on its way to the hub
            await pilot.pause(0.3)
            app.save_screenshot(screenshot.name, path=str(screenshot.parent))
            return text

    with watching(args, stop) as watched:
        text = asyncio.run(drive(MonitorApp(watched.decoder, stop=stop, subtitle=watched.subtitle)))

    assert outcome and not isinstance(outcome[0], BaseException), outcome
    assert outcome[0].positive  # the reset's final response, after its 0x78
    missing = {what: mark for what, mark in MARKS.items() if what not in found}
    assert not missing, f"not on the screen: {missing}\n{text}"
    assert screenshot.read_text(encoding="utf-8").startswith("<svg")
    target = os.environ.get("ECUSIM_SCREENSHOT_DIR")
    if target:
        (Path(target) / SCREENSHOT_NAME).write_text(screenshot.read_text(encoding="utf-8"))
