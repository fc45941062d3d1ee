"""``ecusim demo``: exits 0 within a minute, and its candump trace decodes with the shipped DBC
(read with cantools directly, independently of the project's own decoder)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Final

import can
import cantools
import httpx
import pytest

from ecusim.cli.main import main
from ecusim.portal.api import listen
from tests.portal.web.pages_kit import csrf_of

DEMO_LIMIT_S: Final = 60.0
DBC: Final = Path(__file__).resolve().parents[2] / "dbc" / "ecusim_body.dbc"
DIAGNOSTIC_IDS: Final = frozenset({0x750, 0x758, 0x7E0, 0x7E8, 0x7DF})


@pytest.mark.slow
def test_demo_exits_0_within_a_minute_and_its_trace_decodes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ecusim", "demo", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=DEMO_LIMIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ecusim demo: done" in done.stdout
    for step in ("request", "approves", "Seed Number", "Pass-Code", "reset complete",
                 "registration ended: 2 smart key(s)", "engine starts", "refused"):  # fmt: skip
        assert step in done.stdout, step

    database = cantools.database.load_file(str(DBC))
    assert isinstance(database, cantools.database.can.Database)
    frames = list(can.LogReader(str(tmp_path / "trace.log")))
    assert len(frames) > 100
    body_ids = set()
    for frame in frames:
        if frame.arbitration_id in DIAGNOSTIC_IDS:
            continue
        decoded = database.decode_message(frame.arbitration_id, bytes(frame.data))  # raises if not
        assert decoded, hex(frame.arbitration_id)
        body_ids.add(database.get_message_by_frame_id(frame.arbitration_id).name)
    assert {"SMART_KEY_STATUS", "ENGINE_STATUS", "IGNITION_STATUS"} <= body_ids
    summary = (tmp_path / "trace-summary.txt").read_text(encoding="utf-8")
    assert "body frames the DBC does not decode: 0" in summary
    # The reset request and the response pending while erasing, with their names.
    assert (
        "31 01 02 01  (RoutineControl startRoutine 0x0201 Immobilizer/Smart Key Reset)" in summary
    )
    assert "7F 31 78  (negative response to RoutineControl: NRC 0x78 " in summary
    assert "SMART_KEY_STATUS.SmartKeys: 2 @" in summary
    # The waiting-period polls fold into one line that gives the last answer: 0 s left.
    assert re.search(r"the same request \d+ more time\(s\) until [\d.]+ s, last answer: "
                     r"71 03 02 06 01 00 00 00", summary)  # fmt: skip


@pytest.mark.slow
def test_demo_runs_on_a_secret_file_made_by_ecusim_secret_new(tmp_path: Path) -> None:
    """Car and portal share a generated secret file (docs/secrets.md): the portal's Pass-Code
    and the tool's level 0x01 key are the file's, and the whole procedure still succeeds."""
    secret = tmp_path / "demo.secrets.toml"
    made = subprocess.run(
        [sys.executable, "-m", "ecusim", "secret", "new", str(secret)],
        capture_output=True, text=True, timeout=DEMO_LIMIT_S, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    done = subprocess.run(
        [sys.executable, "-m", "ecusim", "demo", "--dir", str(tmp_path / "demo"),
         "--secret-file", str(secret)],
        capture_output=True, text=True, timeout=DEMO_LIMIT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ecusim demo: done" in done.stdout and "reset and new keys verified" in done.stdout
    assert f"car and portal share the secrets of {secret}" in done.stdout
    assert "public lab secret" not in done.stdout + done.stderr


def test_demo_says_when_it_runs_on_the_public_lab_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--model", "ES300", "--year", "1998", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("public lab secret") == 1 and "--secret-file" in out


def test_demo_refuses_a_bad_secret_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.toml"
    assert main(["demo", "--dir", str(tmp_path), "--secret-file", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"ecusim: error: --secret-file: secret file {missing}: no such file\n"
    )


@pytest.mark.parametrize(("model", "year", "outcome"),
                         [("LS430", 2004, "reset and new keys verified"),
                          ("ES300", 1998, "no reset possible")])  # fmt: skip
def test_demo_on_other_cars(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, year: int, outcome: str
) -> None:
    assert main(["demo", "--model", model, "--year", str(year), "--dir", str(tmp_path)]) == 0
    assert outcome in capsys.readouterr().out
    assert (tmp_path / "trace-summary.txt").exists()
    assert (tmp_path / "trace.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")  # beside


def test_demo_wire_shows_the_bytes_of_each_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--wire`` on a transponder car: the Seed Number request and its answer, the Pass-Code,
    and the reset's response pending, each as bytes next to its step's narration."""
    assert main(["demo", "--model", "LS430", "--year", "2004", "--dir", str(tmp_path),
                 "--wire"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    wire = [line.strip() for line in lines if line.startswith("  wire  ")]
    # 27 11 = SecurityAccess requestSeed, level 0x11 → 67 11 + the 16-byte Seed Number
    assert any(re.fullmatch(r"wire  27 11 → 67 11( [0-9A-F]{2}){10} …", w) for w in wire), wire
    # 27 12 + the Pass-Code → 67 12: the car accepted it
    assert any(re.fullmatch(r"wire  27 12( [0-9A-F]{2}){10} … → 67 12", w) for w in wire), wire
    # 31 01 02 01 = RoutineControl start RID 0x0201 → 7F 31 78: pending, then 71 01 02 01 done
    pending = "wire  31 01 02 01 → 7F 31 78 (NRC 0x78 requestCorrectlyReceived-ResponsePending)"
    assert pending in wire
    assert wire.index(pending) + 1 == wire.index("wire  31 01 02 01 → 71 01 02 01 00")
    # Each step's bytes come after its heading: the reset's inside "== Reset".
    reset = lines.index("== Reset")
    assert lines.index(f"  {pending}") > reset


def test_demo_refuses_an_unknown_car(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--model", "NOPE", "--year", "2000", "--dir", str(tmp_path)]) == 2
    assert "unknown model 'NOPE'" in capsys.readouterr().err


SERVE_LIMIT_S: Final = 90.0
"""Generous bound for the procedure to reach ``serving``, and for the exit after SIGTERM (a
2-core machine under the full suite)."""
_LOGIN = re.compile(r"^  (?:Service Manager|General Manager|Technician) +(\S+) +password (\S+)$")
_PORTAL = re.compile(r"the portal stays up on (http://127\.0\.0\.1:\d+) ")


class _Lines:
    """The output lines of a child process, read on a thread as they come."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._popen = popen
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._popen.stdout is not None
        for line in self._popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str) -> None:
        def seen() -> bool:
            return text in self.lines or not self._reader.is_alive()

        with self._changed:
            self._changed.wait_for(seen, timeout=SERVE_LIMIT_S)
        assert text in self.lines, self.lines

    def join(self) -> None:
        self._reader.join(timeout=SERVE_LIMIT_S)


@pytest.mark.slow
def test_demo_serve_keeps_the_portal_up_with_its_logins_until_sigterm(tmp_path: Path) -> None:
    """``--serve`` (a free port): after the procedure the portal answers its pages, a printed
    login logs in through the login form, and SIGTERM ends it cleanly (exit 0). The narration
    named the manager's approval message, ``<portal>/inbox/<n>``."""
    popen = subprocess.Popen(
        [sys.executable, "-m", "ecusim", "demo", "--model", "LS430", "--year", "2004",
         "--dir", str(tmp_path), "--serve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        out = _Lines(popen)
        out.wait_for("ecusim demo: serving")
        text = "\n".join(out.lines)
        (url,) = _PORTAL.findall(text)
        assert "ecusim demo: done" in text and "reset and new keys verified" in text
        assert re.search(rf"opens {re.escape(url)}/inbox/\d{{11}}, checks the request", text)
        for page in ("/login", "/inbox", "/docs"):
            assert f"  {url}{page}  " in text, page
        logins = [m.groups() for m in map(_LOGIN.match, out.lines) if m is not None]
        assert [name for name, _ in logins] == ["demo-manager1", "demo-manager2",
                                                "demo-technician"], out.lines  # fmt: skip
        for username, password in logins:  # each printed login opens a session
            with httpx.Client(base_url=url, follow_redirects=False) as browser:
                login_page = browser.get("/login")
                assert login_page.status_code == 200
                answer = browser.post(
                    "/login",
                    data={"csrf_token": csrf_of(login_page), "username": username,
                          "password": password, "next": "/inbox"},
                )  # fmt: skip
                assert answer.status_code == 303, answer.text
                assert answer.headers["location"] == "/inbox"
        popen.send_signal(signal.SIGTERM)
        assert popen.wait(timeout=SERVE_LIMIT_S) == 0, out.lines
        out.join()
        assert out.lines[-1] == "ecusim demo: portal stopped", out.lines
        assert not any("Traceback" in line for line in out.lines)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait()


def test_demo_on_a_taken_port_is_exit_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with listen("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        code = main(["demo", "--model", "ES300", "--year", "1998", "--dir", str(tmp_path),
                     "--port", str(port)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"ecusim: error: --port {port}: the portal's API cannot listen on 127.0.0.1:{port}: "
    ), err
    assert err.count("\n") == 1 and "Traceback" not in err
