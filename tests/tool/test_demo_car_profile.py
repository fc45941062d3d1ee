"""``ecusim demo --car``: the narrated reset on the car of docs/car-profiles.md's example (0x00
padding, immobilizer on 0x740 → 0x748 with sub-address 0x47): the tool finds it at the
profile's addresses, the trace carries the profile's padding and its summary decodes the
exchanges."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import can
import pytest

from ecusim.cli.main import main

DOCS_PAGE: Final = Path(__file__).resolve().parents[2] / "docs" / "car-profiles.md"
RESPONSE_ID: Final = 0x748
SUB_ADDRESS: Final = 0x47


def docs_profile() -> str:
    """The TOML example of docs/car-profiles.md (its only ```toml block)."""
    blocks = re.findall(r"^```toml\n(.*?)^```", DOCS_PAGE.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, "docs/car-profiles.md has one TOML example"
    return str(blocks[0])


@pytest.mark.slow
def test_the_demo_runs_the_docs_example_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "my-car.toml"
    profile.write_text(docs_profile(), encoding="utf-8")
    folder = tmp_path / "demo"
    assert main(["demo", "--car", str(profile), "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "The car: LS430 2004" in out
    assert "0x740 -> 0x748 ext 0x47" in out  # the key-code ECU the tool found
    assert "reset complete" in out
    answers = [
        frame
        for frame in can.LogReader(str(folder / "trace.log"))
        if frame.arbitration_id == RESPONSE_ID
    ]
    assert answers, "the immobilizer never answered at the profile's address"
    assert all(frame.data[0] == SUB_ADDRESS for frame in answers)
    paddings = [  # a single frame's bytes after its payload
        bytes(frame.data[2 + (frame.data[1] & 0x0F) :])
        for frame in answers
        if frame.data[1] >> 4 == 0 and (frame.data[1] & 0x0F) < 6
    ]
    assert paddings, "no single frame with room for padding"
    assert all(set(padding) == {0x00} for padding in paddings), paddings
    summary = (folder / "trace-summary.txt").read_text(encoding="utf-8")
    # the reset, decoded at 0x740 and named
    assert (
        "31 01 02 01  (RoutineControl startRoutine 0x0201 Immobilizer/Smart Key Reset)" in summary
    )
    assert "7F 31 78" in summary
