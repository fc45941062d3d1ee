"""The text console: progress bars that stay readable in a log, confirmations, NRC sentences."""

from __future__ import annotations

import io

import pytest

from ecusim.tool.console import TextConsole, bar
from ecusim.tool.nrc_text import explain, nrc_name


def test_bar_is_clamped() -> None:
    assert bar(0.5, width=4) == "[##..]"
    assert bar(-1, width=4) == "[....]"
    assert bar(2, width=4) == "[####]"


def test_progress_without_a_terminal_prints_start_quarters_and_end() -> None:
    out = io.StringIO()
    progress = TextConsole(out, interactive=False).progress("waiting period", 960)
    for done in range(0, 961, 10):
        progress.update(done)
    progress.finish("registration open")
    lines = out.getvalue().splitlines()
    assert [line.split("]")[1].split()[0] for line in lines] == ["0%", "25%", "50%", "75%", "100%"]
    assert lines[-1].endswith("960/960 s  registration open")


def test_progress_finish_does_not_repeat_a_complete_line() -> None:
    out = io.StringIO()
    progress = TextConsole(out, interactive=False).progress("keys", 2, unit="keys")
    progress.update(1)
    progress.update(2, "key 2 registered")
    progress.finish()
    assert out.getvalue().count("100%") == 1


def test_progress_on_a_terminal_redraws_in_place() -> None:
    out = io.StringIO()
    progress = TextConsole(out, interactive=True).progress("delay", 10)
    progress.update(5)
    progress.finish()
    assert out.getvalue().count("\r") == 3
    assert out.getvalue().endswith("\n")


def test_confirmation_without_anyone_to_answer_is_no() -> None:
    out = io.StringIO()
    assert TextConsole(out).confirm("Start the reset?") is False
    assert "nobody to answer" in out.getvalue()
    assert TextConsole(out, assume_yes=True).confirm("Start the reset?") is True


@pytest.mark.parametrize(
    ("nrc", "context", "words"),
    [
        (0x35, "passcode", "refused the Pass-Code"),
        (0x36, "passcode", "too many wrong Pass-Codes"),
        (0x37, "seed", "security delay"),
        (0x22, "reset", "ignition ON and the vehicle stopped"),
        (0x22, "registration", "vehicle stopped"),
        (0x31, "reset", "SPOC bulletin"),
        (0x33, "", "security access is locked"),
        (0x99, "", "the ECU refused the request"),
    ],
)
def test_nrcs_are_explained_in_words(nrc: int, context: str, words: str) -> None:
    text = explain(nrc, context)
    assert words in text
    assert f"NRC 0x{nrc:02X} {nrc_name(nrc)}" in text


def test_iso_names() -> None:
    assert nrc_name(0x35) == "invalidKey"
    assert nrc_name(0x37) == "requiredTimeDelayNotExpired"
    assert nrc_name(0x99) == "unknown"
