"""The text console: Rich progress bars that stay readable in a pipe and keep their label on a
narrow terminal, confirmations, NRC sentences."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import textwrap

import pytest

from ecusim.tool.console import TextConsole
from ecusim.tool.nrc_text import explain, nrc_name

LONG_NOTE = "the technician brings new smart key 1 (smart key 318AE0F1) to the engine switch"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _frames(raw: str) -> list[str]:
    """What a terminal shows after each redraw: the text between carriage returns and line
    feeds, without the escape sequences."""
    return [frame.strip() for frame in re.split(r"[\r\n]", ANSI.sub("", raw)) if frame.strip()]


def _read_until(fd: int, raw: bytearray, wanted: bytes | None) -> None:
    """Read the pseudo-terminal into ``raw`` until ``wanted`` came (``None``: until it closes)."""
    while wanted is None or wanted not in raw:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            return
        if not chunk:
            return
        raw += chunk


def test_progress_in_a_pipe_prints_one_line_with_the_real_outcome() -> None:
    """Issue 14: outside a terminal "waiting for approval … 0%" printed twice and ended at 0%
    with "approved". Now: no redraw codes, one line, at 100%."""
    out = io.StringIO()
    console = TextConsole(out)
    progress = console.progress("waiting for approval", 60)
    for second in range(4):
        progress.update(second, "pending")
    progress.finish("approved after 3 s")
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    (line,) = text.splitlines()
    assert line.startswith("  waiting for approval ")
    assert "100%" in line and line.endswith("approved after 3 s")


def test_progress_in_a_pipe_keeps_a_long_note_whole() -> None:
    out = io.StringIO()
    progress = TextConsole(out).progress("keys registered", 2, unit="keys")
    progress.update(1, LONG_NOTE)
    progress.finish(LONG_NOTE)
    (line,) = out.getvalue().splitlines()
    assert "keys registered" in line and "2/2 keys" in line and line.endswith(LONG_NOTE)


def test_narration_during_a_bar_in_a_pipe_is_plain_lines() -> None:
    out = io.StringIO()
    console = TextConsole(out)
    progress = console.progress("keys registered", 2, unit="keys")
    console.info("presenting new smart key 1 [lab]")
    progress.update(1, "smart key 1 registered")
    progress.finish()
    narration, bar_line = out.getvalue().splitlines()
    assert narration == "  presenting new smart key 1 [lab]"
    assert bar_line.startswith("  keys registered ") and "100% 2/2 keys" in bar_line


def test_progress_on_a_narrow_terminal_keeps_its_label() -> None:
    """Issue 14: under tmux a long note wrapped and the "keys registered" label was lost. On a
    60-column terminal every redraw keeps the label and fits the width; the last shows 100%."""
    out = io.StringIO()
    console = TextConsole(out, interactive=True, width=60)
    progress = console.progress("keys registered", 2, unit="keys")
    progress.update(0, LONG_NOTE)
    console.info("presenting new smart key 1 (smart key 318AE0F1) at the switch [lab]")
    progress.update(1, LONG_NOTE)
    progress.finish("smart key 2 registered")
    frames = [f for f in _frames(out.getvalue()) if not f.startswith("presenting")]
    assert len(frames) >= 3  # redrawn in place
    assert all(frame.startswith("keys registered") for frame in frames), frames
    assert all(len(frame) <= 60 for frame in frames), frames
    assert "100%" in frames[-1] and "2/2 keys" in frames[-1]
    assert "smart key 2" in frames[-1]


def test_progress_on_a_pseudo_terminal_keeps_its_label() -> None:
    """The same bar drawn by a process whose stdout is a real (pseudo-)terminal of 60 columns:
    the console finds the terminal itself."""
    script = textwrap.dedent(
        f"""
        from ecusim.tool.console import TextConsole
        console = TextConsole()
        progress = console.progress("keys registered", 2, unit="keys")
        progress.update(1, {LONG_NOTE!r})
        progress.finish("smart key 2 registered")
        """
    )
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "60", "LINES": "24", "TERM": "xterm"}
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=terminal, stderr=subprocess.PIPE, env=env
    ) as child:
        os.close(terminal)
        raw = bytearray()
        _read_until(controller, raw, None)
        assert child.wait(timeout=60) == 0, child.stderr.read() if child.stderr else ""
    os.close(controller)
    frames = _frames(raw.decode())
    assert frames and all(frame.startswith("keys registered") for frame in frames), frames
    assert all(len(frame) <= 60 for frame in frames), frames
    assert "100%" in frames[-1] and "smart key 2" in frames[-1]


def test_a_prompt_during_a_live_bar_gets_a_line_of_its_own() -> None:
    """The technician is asked to present a key while "keys registered" is live: the bar stops,
    the prompt stands on its own line with the cursor shown, then the bar goes on below."""
    script = textwrap.dedent(
        """
        from ecusim.tool.console import TextConsole
        console = TextConsole()
        progress = console.progress("keys registered", 1, unit="keys")
        answer = console.ask("insert new master key 1, then press Enter")
        progress.update(1, f"answer {answer!r}")
        progress.finish("master key 1 registered")
        """
    )
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "70", "LINES": "24", "TERM": "xterm"}
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    ) as child:
        os.close(terminal)
        raw = bytearray()
        _read_until(controller, raw, b"press Enter: ")
        os.write(controller, b"ok\n")
        _read_until(controller, raw, None)
        assert child.wait(timeout=60) == 0, bytes(raw)
    os.close(controller)
    text = raw.decode()
    before, after = text.split("press Enter: ", 1)
    assert before.endswith("\x1b[?25h  insert new master key 1, then ")  # cursor back, own line
    frames = _frames(after)
    assert frames[0] == "ok" and frames[-1].startswith("keys registered"), frames
    assert "100%" in frames[-1] and "master key 1 registered" in frames[-1]


def test_a_bar_left_running_by_a_failure_is_stopped_at_its_state() -> None:
    out = io.StringIO()
    console = TextConsole(out)
    console.progress("waiting period", 960).update(240)
    console.close()
    (line,) = out.getvalue().splitlines()
    assert "25%" in line and "240/960 s" in line and line.endswith("stopped")


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
