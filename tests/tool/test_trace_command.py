"""``ecusim trace summarize FILE [--plot PICTURE]`` (issue 14): the decoded summary with the
contract's names, the matplotlib timeline, and one line for a trace it cannot read.

The acceptance test runs ``ecusim demo`` on its defaults (LS460 2012, virtual bus, SQLite) and
summarises and draws its trace; the others use a small candump trace written here with
python-can's own writer (body frames encoded with the DBC, UDS single frames by hand).
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import can
import numpy as np
import pytest
from matplotlib.patches import StepPatch

from dbc import body
from ecusim.cli.main import main
from ecusim.demo.trace_plot import (
    LANE_ENGINE,
    LANE_IGNITION,
    LANE_INDICATOR,
    LANE_REGISTRATION,
    MAX_BINS,
    draw_timeline,
)
from ecusim.demo.trace_summary import TIME_ORDER_TOLERANCE_S, summarize

ROOT: Final = Path(__file__).resolve().parents[2]
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
MIN_PICTURE_BYTES: Final = 20_000
"""A timeline with its six panels is far more than a blank picture (a few kB)."""
CERTIFICATION_REQUEST: Final = 0x750
CERTIFICATION_RESPONSE: Final = 0x758
CERTIFICATION_SUB_ADDRESS: Final = 0xB5
"""diagnostic-contract.md §1: the certification ECU, extended addressing 0xB5."""
PAD: Final = 0xCC
REGISTRATION_WAITING: Final = 3
REGISTRATION_OPEN: Final = 4


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (right after the signature)."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# -- the acceptance test: the demo's trace shows the reset ------------------------------------


@pytest.fixture(scope="module")
def demo_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ecusim demo`` on its defaults: the smart-key reset, traced."""
    folder = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--dir", str(folder)]) == 0
    return folder / "trace.log"


@pytest.mark.slow
def test_summarize_the_demo_trace_with_a_plot_that_shows_the_reset(
    demo_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ecusim trace summarize trace.log --plot t.png``: a real PNG of sensible size, and the
    drawn data has the reset in it: the 0x78 mark on RoutineControl and the registration mode
    lane going normal → waiting period (→ open) → normal."""
    capsys.readouterr()  # the demo's narration
    picture = tmp_path / "t.png"
    assert main(["trace", "summarize", str(demo_trace), "--plot", str(picture)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"timeline: {picture}\n")
    # The reset routine, named, and its response pending, named.
    assert "31 01 02 01  (RoutineControl startRoutine 0x0201 Immobilizer/Smart Key Reset)" in out
    assert re.search(
        r"7F 31 78  \(negative response to RoutineControl: NRC 0x78 "
        r"requestCorrectlyReceived-ResponsePending\)",
        out,
    )
    assert "27 11  (SecurityAccess requestSeed 0x11, level 0x11 (immobilizer reset))" in out
    assert "(ReadDataByIdentifier 0xF190 VIN)" in out
    assert "(DiagnosticSessionControl extendedDiagnosticSession)" in out

    data = picture.read_bytes()
    width, height = _png_size(data)
    assert width >= 800 and height >= 600, (width, height)
    assert len(data) > MIN_PICTURE_BYTES

    timeline = draw_timeline(summarize(demo_trace))
    try:
        assert "0x78" in timeline.nrc_labels
        routine_row = [t.get_text() for t in timeline.exchanges.get_yticklabels()]
        assert "RoutineControl" in routine_row
        assert any("Immobilizer/Smart Key Reset" in t.get_text() for t in timeline.exchanges.texts)
        assert set(timeline.lanes) == {LANE_INDICATOR, LANE_IGNITION, LANE_REGISTRATION,
                                       LANE_ENGINE}  # fmt: skip
        (registration,) = timeline.lanes[LANE_REGISTRATION].get_lines()
        modes = [int(y) for y in np.asarray(registration.get_ydata(), dtype=float).tolist()]
        deduplicated = [m for i, m in enumerate(modes) if i == 0 or modes[i - 1] != m]
        # The reset starts the waiting period and the new keys end registration; "open" lasts
        # only until the tool's next poll, so a 100 ms broadcast may or may not catch it.
        assert deduplicated[:2] == [0, REGISTRATION_WAITING], modes
        assert deduplicated[-1] == 0, modes
        assert set(deduplicated) <= {0, REGISTRATION_WAITING, REGISTRATION_OPEN}, modes
    finally:
        timeline.figure.clear()


# -- a small trace written here ----------------------------------------------------------------


def _uds(arbitration_id: int, payload: bytes, time: float) -> can.Message:
    """A single frame under extended addressing: sub-address, length, payload, 0xCC padding."""
    data = bytes([CERTIFICATION_SUB_ADDRESS, len(payload)]) + payload
    return can.Message(
        timestamp=time,
        arbitration_id=arbitration_id,
        is_extended_id=False,
        data=data.ljust(8, bytes([PAD])),
    )


def _status(mode: int, time: float) -> can.Message:
    frame = body.encode_message(body.SMART_KEY_STATUS, {"RegistrationMode": mode})
    frame.timestamp = time
    return frame


def _small_trace(path: Path) -> Path:
    frames = [
        _status(0, 0.0),
        _uds(CERTIFICATION_REQUEST, bytes([0x22, 0xF1, 0x90]), 0.1),  # read DID 0xF190
        _uds(CERTIFICATION_RESPONSE, bytes([0x7F, 0x22, 0x31]), 0.11),  # NRC 0x31
        _uds(CERTIFICATION_REQUEST, bytes([0x27, 0x12, 1, 2, 3, 4]), 0.2),  # sendKey 0x12
        _uds(CERTIFICATION_RESPONSE, bytes([0x7F, 0x27, 0x35]), 0.21),  # NRC 0x35 invalidKey
        _uds(CERTIFICATION_REQUEST, bytes([0x31, 0x01, 0x02, 0x01]), 0.3),  # start RID 0x0201
        _uds(CERTIFICATION_RESPONSE, bytes([0x7F, 0x31, 0x78]), 0.31),  # NRC 0x78 pending
        _uds(CERTIFICATION_RESPONSE, bytes([0x71, 0x01, 0x02, 0x01, 0x00]), 0.4),  # done
        _status(REGISTRATION_WAITING, 0.5),
        _status(REGISTRATION_OPEN, 1.0),
    ]
    writer = can.Logger(str(path))
    try:
        for frame in frames:
            writer.on_message_received(frame)
    finally:
        writer.stop()
    return path


@pytest.fixture
def small_trace(tmp_path: Path) -> Path:
    return _small_trace(tmp_path / "small.log")


def test_summarize_names_dids_routines_and_nrcs(
    small_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "summarize", str(small_trace)]) == 0
    out = capsys.readouterr().out
    assert "tester → certification ECU: 22 F1 90  (ReadDataByIdentifier 0xF190 VIN)" in out
    assert (
        "certification ECU → tester: 7F 22 31  (negative response to ReadDataByIdentifier: "
        "NRC 0x31 requestOutOfRange)"
    ) in out
    assert "27 12 01 02 03 04  (SecurityAccess sendKey 0x12, level 0x11 (immobilizer reset))" in out
    assert "7F 27 35  (negative response to SecurityAccess: NRC 0x35 invalidKey)" in out
    assert "NRC 0x78 requestCorrectlyReceived-ResponsePending" in out
    assert (
        "71 01 02 01 00  (RoutineControl positive response, startRoutine 0x0201 "
        "Immobilizer/Smart Key Reset)"
    ) in out
    assert "SMART_KEY_STATUS.RegistrationMode: 0 @0.000 → 3 @0.500 → 4 @1.000" in out


def test_the_plot_labels_every_nrc_and_draws_svg_too(small_trace: Path, tmp_path: Path) -> None:
    timeline = draw_timeline(summarize(small_trace))
    try:
        assert timeline.nrc_labels == ["0x31", "0x35", "0x78"]
        drawn = [t.get_text() for t in timeline.exchanges.texts]
        assert {"0x31", "0x35", "0x78"} <= set(drawn)
        # SMART_KEY_STATUS is the only body message here: its indicator and registration lanes.
        assert list(timeline.lanes) == [LANE_INDICATOR, LANE_REGISTRATION]
    finally:
        timeline.figure.clear()
    picture = tmp_path / "small.svg"
    assert main(["trace", "summarize", str(small_trace), "--plot", str(picture)]) == 0
    svg = picture.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_the_model_year_picks_the_cars_addresses(
    small_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """LS460 2012's certification ECU is the contract's 0x750/0x758 ext 0xB5: the same names."""
    assert main(["trace", "summarize", str(small_trace), "--model", "LS460",
                 "--year", "2012"]) == 0  # fmt: skip
    assert "NRC 0x35 invalidKey" in capsys.readouterr().out


def test_a_trace_spanning_decades_draws_a_bounded_number_of_bins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two frames 1e9 s apart: the frame-rate panel has at most MAX_BINS bins, the picture is
    written (fixed-width bins over that span never finished)."""
    trace = tmp_path / "bigspan.log"
    trace.write_text(
        "(1.0) vcan0 7E0#0322F190CCCCCCCC R\n(1000000000.0) vcan0 7E8#037F223100000000 T\n",
        encoding="utf-8",
    )
    timeline = draw_timeline(summarize(trace))
    try:
        (stairs,) = timeline.rates.patches
        assert isinstance(stairs, StepPatch)
        assert 1 <= len(stairs.get_data()[0]) <= MAX_BINS
    finally:
        timeline.figure.clear()
    picture = tmp_path / "bigspan.png"
    assert main(["trace", "summarize", str(trace), "--plot", str(picture)]) == 0
    assert capsys.readouterr().out.endswith(f"timeline: {picture}\n")
    assert picture.read_bytes().startswith(PNG_SIGNATURE)


def test_frames_a_little_out_of_order_are_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """python-can stamps a frame before it queues it: two senders on one bus can log a frame
    a few ms before the one ahead of it. Within TIME_ORDER_TOLERANCE_S that is accepted and
    the span runs from the earliest frame to the latest."""
    times = (1.0, 1.02, 0.99, 3.0)  # 0.99: 30 ms before the latest, and the earliest
    assert TIME_ORDER_TOLERANCE_S > 1.02 - 0.99
    trace = _candump(*(f"({t}) {_READ_VIN}" for t in times))(tmp_path / "jitter.log")
    assert main(["trace", "summarize", str(trace)]) == 0
    assert "frames: 4 in 2.0 s (0 body, 4 diagnostic)" in capsys.readouterr().out
    assert summarize(trace).duration_s == pytest.approx(3.0 - 0.99)


# -- what it cannot read: one line, exit non-zero ----------------------------------------------


def _garbage(path: Path) -> Path:
    path.write_bytes(PNG_SIGNATURE + b"not a trace \x00\xff\n")
    return path


def _truncated(path: Path) -> Path:
    """A candump trace cut in the middle of a line."""
    text = _small_trace(path).read_text(encoding="utf-8")
    path.write_text(text[: text.index("\n", 40) + 12], encoding="utf-8")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _candump(*lines: str) -> Callable[[Path], Path]:
    """A maker of a candump trace with these lines (UDS ReadDataByIdentifier 0xF190 frames)."""

    def make(path: Path) -> Path:
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    return make


_READ_VIN: Final = "vcan0 7E0#0322F190CCCCCCCC R"


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("missing.log", None, r"trace .*missing\.log: no such file"),
        ("foreign.log", _garbage, r"trace .*foreign\.log: not a readable \.log trace .*"),
        ("foreign.blf", _garbage, r"trace .*foreign\.blf: not a readable \.blf trace .*"),
        (
            "cut.log",
            _truncated,
            r"trace .*cut\.log: not a readable \.log trace \(after \d frames\): ValueError: .*",
        ),
        (
            "notes.txt",
            _empty,
            r"trace .*notes\.txt: \.txt is not a trace format python-can reads \(\.log, .*\)",
        ),
        ("empty.log", _empty, r"trace .*empty\.log: no CAN frames in it \(an empty trace\)"),
        (
            "inf.log",
            _candump(f"(1.0) {_READ_VIN}", f"(1e400) {_READ_VIN}"),  # 1e400 reads as inf
            r"trace .*inf\.log: frame 2 has a timestamp that is not finite",
        ),
        (
            "nan.log",
            _candump(f"(nan) {_READ_VIN}"),
            r"trace .*nan\.log: frame 1 has a timestamp that is not finite",
        ),
        (
            "back.log",
            _candump(f"(1.0) {_READ_VIN}", f"(1.0) {_READ_VIN}", f"(0.5) {_READ_VIN}"),  # -0.5 s
            r"trace .*back\.log: frame 3 goes back in time \(0\.5 s after 1\.0 s\); a trace "
            r"must be in time order \(sort a merged trace\)",
        ),
        (
            "far-back.log",
            _candump(f"(1e20) {_READ_VIN}", f"(1.0) {_READ_VIN}"),
            r"trace .*far-back\.log: frame 2 goes back in time \(1\.0 s after 1e\+20 s\); .*",
        ),
    ],
)
@pytest.mark.parametrize("plot", [False, True], ids=["summary", "with-plot"])
def test_a_trace_it_cannot_read_is_one_line_and_exit_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    name: str,
    make: object,
    expected: str,
    plot: bool,
) -> None:
    """Also with ``--plot``: refused before drawing, no picture written."""
    path = tmp_path / name
    if callable(make):
        make(path)
    picture = tmp_path / "t.png"
    assert main(["trace", "summarize", str(path), *(["--plot", str(picture)] if plot else [])]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert re.fullmatch(f"ecusim: error: {expected}\n", captured.err), captured.err
    assert not picture.exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--plot", "t.jpg"], "ecusim: error: --plot t.jpg: write a .png or an .svg picture\n"),
        (
            ["--plot", "pictures/t.png/"],  # a folder: it wrote t.png, exit 0
            "ecusim: error: --plot pictures/t.png/: ends in a separator: name a picture file\n",
        ),
        (["--model", "LS460"], "ecusim: error: give --model and --year together\n"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    small_trace: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(small_trace.parent)
    (small_trace.parent / "pictures").mkdir()
    assert main(["trace", "summarize", str(small_trace), *extra]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", expected)
    assert not list((small_trace.parent / "pictures").iterdir())


def test_a_picture_it_cannot_write_is_one_line(
    small_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "no-such-folder" / "t.png"
    assert main(["trace", "summarize", str(small_trace), "--plot", str(picture)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ecusim: error: --plot {picture}: cannot write it: "), err
    assert err.count("\n") == 1


def test_the_summary_module_is_not_a_silent_program(small_trace: Path) -> None:
    """The reported ``python -m …trace_summary trace.log`` printed nothing and exited 0."""
    done = subprocess.run(
        [sys.executable, "-m", "ecusim.demo.trace_summary", str(small_trace)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.strip().endswith("run 'ecusim trace summarize FILE'"), done.stderr
    assert "Traceback" not in done.stderr


_LOG_CASES: Final = [
    pytest.param(
        # A single frame with 3 bytes announced in 2, then a frame python-can cannot read.
        ["(1.0) vcan0 7E0#0322F1", "(1.0) vcan0 7E0#ZZ"],
        1,
        r"ecusim: error: trace .*odd\.log: not a readable \.log trace \(after 1 frames\): .*",
        "WARNING isotp: Received invalid CAN frame",
        id="invalid-frame-then-unreadable",
    ),
    pytest.param(
        # A CAN FD first frame announcing 17 bytes (too few for a first frame of CAN FD).
        ["(1.0) vcan0 7E0##0100112233445566778899AABBCCDDEEFF"],
        0,
        None,
        "WARNING isotp: Received a FirstFrame",
        id="can-fd-first-frame",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("lines", "exit_code", "error", "leak"), _LOG_CASES)
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "-v"])
def test_library_log_lines_show_only_with_v(
    tmp_path: Path,
    *,
    lines: list[str],
    exit_code: int,
    error: str | None,
    leak: str,
    verbose: bool,
) -> None:
    """can-isotp's warnings (which the summary reports itself, as ISO-TP notes) leaked above
    the one-line error; now only ``-v`` shows them. A child ``ecusim``: its real stderr."""
    trace = _candump(*lines)(tmp_path / "odd.log")
    done = subprocess.run(
        [sys.executable, "-m", "ecusim", *(["-v"] if verbose else []), "trace", "summarize",
         str(trace)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == exit_code, done.stderr
    err = [line for line in done.stderr.splitlines() if line.strip()]
    assert any(leak in line for line in err) == verbose, err
    if error is None:
        assert "ISO-TP notes: 1" in done.stdout
    else:
        assert done.stdout == ""
        assert re.fullmatch(error, err[-1]), err
    if not verbose:
        assert len(err) == (error is not None), err


def _blf(path: Path, frames: int = 400) -> Path:
    """A BLF of python-can's writer: the registration mode status, ``frames`` times."""
    writer = can.Logger(str(path))
    try:
        for index in range(frames):
            writer.on_message_received(_status(index % 5, index * 0.1))
    finally:
        writer.stop()
    return path


@pytest.mark.parametrize(
    ("cut", "exit_code"), [(None, 0), (600, 0), (200, 1)], ids=["whole", "cut", "cut-early"]
)
def test_a_blf_shorter_than_its_header_says_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cut: int | None, exit_code: int
) -> None:
    """python-can's BLF reader yields the frames up to the cut and no word: the header's file
    size says how long it was. Cut after some frames: summarised, and one warning line; cut
    before the first frame: one error line, not "an empty trace"; whole: no warning."""
    trace = _blf(tmp_path / "t.blf")
    whole = trace.read_bytes()
    assert len(whole) > 600
    if cut is not None:
        trace.write_bytes(whole[:cut])
    assert main(["trace", "summarize", str(trace)]) == exit_code
    captured = capsys.readouterr()
    if cut is None:
        assert captured.err == ""
        assert "frames: 400 in 39.9 s" in captured.out
        return
    prefix = "error" if exit_code else "warning"
    assert re.fullmatch(
        f"ecusim: {prefix}: trace .*t\\.blf ends early \\(truncated\\?\\): {cut} of the "
        f"{len(whole)} bytes its BLF header gives\n",
        captured.err,
    ), captured.err
    if exit_code:
        assert captured.out == ""
    else:
        assert re.search(r"^frames: [1-9]\d* in ", captured.out, re.MULTILINE), captured.out


# -- the picture in the docs -------------------------------------------------------------------


def _doc_images(doc: Path) -> Iterator[str]:
    yield from re.findall(r"!\[[^\]]*\]\(([^)]+)\)", doc.read_text(encoding="utf-8"))


def test_the_demo_doc_shows_an_existing_timeline_picture() -> None:
    doc = ROOT / "docs" / "demo.md"
    images = list(_doc_images(doc))
    assert any(image.endswith("demo-trace.png") for image in images), images
    for image in images:
        picture = doc.parent / image
        assert picture.is_file(), image
        width, height = _png_size(picture.read_bytes())
        assert width >= 800 and height >= 600
    assert "ecusim trace summarize" in doc.read_text(encoding="utf-8")


def test_a_car_profile_gives_the_addresses_of_its_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--car FILE``: a certification ECU moved to 0x740 → 0x748 (ext 0x47) is decoded with the
    profile, and not on the contract's addresses (the summary of ``demo --car`` is this)."""
    assert main(["models", "--export", "LS460", "2012"]) == 0
    profile = capsys.readouterr().out.replace('request = "0x750"', 'request = "0x740"')
    profile = profile.replace('response = "0x758"', 'response = "0x748"')
    car = tmp_path / "moved.toml"
    car.write_text(profile.replace('extended_address = "0xB5"', 'extended_address = "0x47"'))
    trace = tmp_path / "moved.log"
    trace.write_text(
        # 47: the address byte; 03: single frame of 3 bytes; 22 F1 90: read the VIN
        "(1.0) vcan0 740#470322F190CCCCCC R\n"
        # 47: address byte; 03: single frame; 7F 22 31: requestOutOfRange
        "(1.1) vcan0 748#47037F2231CCCCCC R\n",
        encoding="utf-8",
    )
    assert main(["trace", "summarize", str(trace), "--car", str(car)]) == 0
    named = capsys.readouterr().out
    assert "22 F1 90  (ReadDataByIdentifier 0xF190 VIN)" in named
    assert "NRC 0x31 requestOutOfRange" in named
    assert main(["trace", "summarize", str(trace)]) == 0
    assert "ReadDataByIdentifier" not in capsys.readouterr().out
    assert main(["trace", "summarize", str(trace), "--car", str(car), "--year", "2012"]) == 2
    assert "--car: the profile names the model and year" in capsys.readouterr().err
