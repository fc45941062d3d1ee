"""The README's Quick start, verbatim, in a fresh copy of the repository and a fresh venv.

Slow: line 1 makes a real new virtualenv and runs ``pip install .`` (from PyPI, through pip's
cache), then ``ecusim demo``; line 2 makes the test venv and runs pytest, limited to a small, fast
subset with ``PYTEST_ADDOPTS`` (pytest runs the paths given there instead of ``testpaths``), so
the command line itself stays exactly the README's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can
import cantools
import pytest
from cantools.database.can import Database

from tests.test_readme import _quick_start_lines

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600.0
"""Per Quick start line: a cold pip cache and a slow index still fit; a hang does not."""
DEMO_DONE = "ecusim demo: done"
LINE_2_SUBSET = "tests/dbc"
"""What line 2's pytest runs here (the DBC tests: about a hundred, about a second)."""
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "__pycache__", "*.pyc", "build", "dist", "*.egg-info",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", "htmlcov", ".coverage",
)  # fmt: skip

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    duration_s: float


def _tracked_files(root: Path) -> list[str] | None:
    """The repository's files as git sees them, or None without git: tracked files (what a clone
    has, and all there is in CI's fresh clone) plus files not yet added but not ignored, so that a
    working tree in the middle of a change is copied whole, as the rest of the suite sees it."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({name for name in listing.stdout.decode().split("\0") if name})


def _copy_repository(destination: Path) -> None:
    tracked = _tracked_files(ROOT)
    if tracked is None:
        shutil.copytree(ROOT, destination, ignore=COPY_IGNORE, symlinks=True)
        return
    for name in tracked:
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _is_venv_bin(entry: str) -> bool:
    path = Path(entry or ".").resolve()
    return (path.parent / "pyvenv.cfg").is_file() or (
        sys.prefix != sys.base_prefix and path == Path(sys.prefix).resolve() / "bin"
    )


def _clean_environment(tmp: Path) -> dict[str, str]:
    """This process's environment without its virtualenv: a shell a new user would have."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "PYTHONPATH", "PYTHONHOME"}
        and not name.startswith(("PYTEST_", "CONDA_"))
    }
    env["PATH"] = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if not _is_venv_bin(entry)
    )
    env["TMPDIR"] = str(tmp)  # the demo's temporary folder lands where the test can find it
    return env


def _run_line(line: str, cwd: Path, env: dict[str, str]) -> Run:
    """Run one Quick start line verbatim with bash; kill its whole process group on timeout."""
    started = time.monotonic()
    with subprocess.Popen(
        ["bash", "-c", line],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            partial = output.decode(errors="replace")
            pytest.fail(f"timed out after {TIMEOUT_S:.0f} s: {line}\n{_tail(partial)}")
    run = Run(process.returncode, output.decode(errors="replace"), time.monotonic() - started)
    print(f"{run.duration_s:.1f} s, exit status {run.returncode}: {line}")
    return run


def _tail(output: str, lines: int = 60) -> str:
    return "\n".join(output.splitlines()[-lines:])


def _find_trace(output: str, tmp: Path, cwd: Path) -> Path:
    """The demo's trace: under its temporary folder, or wherever its output says."""
    found = sorted(tmp.rglob("trace.log"))
    for printed in re.findall(r"(\S*trace\.log)\b", output):
        candidate = cwd / printed.strip("'\"`()[],:")
        if candidate.is_file():
            found.append(candidate)
    assert found, "the demo's trace.log is neither in its temporary folder nor named in its output"
    return found[0]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the repository's files without git's and build's leftovers: what a user has
    after cloning (no .venv, no build/, no caches)."""
    copy = tmp_path_factory.mktemp("quickstart") / "ecusim"
    _copy_repository(copy)
    yield copy


def test_line_1_installs_and_runs_the_demo(checkout: Path, tmp_path: Path) -> None:
    line = _quick_start_lines()[0]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run = _run_line(line, checkout, _clean_environment(tmp))
    assert run.returncode == 0, f"exit status {run.returncode}: {line}\n{_tail(run.output)}"
    assert DEMO_DONE in run.output, _tail(run.output)

    trace = _find_trace(run.output, tmp, checkout)
    assert (trace.parent / "trace-summary.txt").is_file()
    database = cantools.database.load_file(
        checkout / "dbc" / "ecusim_body.dbc", database_format="dbc"
    )
    assert isinstance(database, Database)
    body_frames = 0
    undecodable: list[str] = []
    with can.LogReader(trace) as reader:
        for message in reader:
            if message.is_error_frame or message.arbitration_id >= 0x700:
                continue
            body_frames += 1
            try:
                database.decode_message(message.arbitration_id, bytes(message.data))
            except (KeyError, ValueError, cantools.database.DecodeError) as error:
                undecodable.append(f"{message}: {error!r}")
    assert body_frames > 0, f"no body frame in {trace}"
    assert not undecodable, "\n".join(undecodable[:20])


def test_line_2_installs_the_test_tools_and_runs_pytest(checkout: Path, tmp_path: Path) -> None:
    line = _quick_start_lines()[1]
    env = _clean_environment(tmp_path)
    env["PYTEST_ADDOPTS"] = LINE_2_SUBSET
    run = _run_line(line, checkout, env)
    assert run.returncode == 0, f"exit status {run.returncode}: {line}\n{_tail(run.output)}"
    assert re.search(r"\b\d+ passed\b", run.output), _tail(run.output)
    assert "failed" not in run.output.splitlines()[-1], _tail(run.output)
