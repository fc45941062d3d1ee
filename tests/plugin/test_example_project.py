"""examples/scan-tool-project's suite passes under ``pytest -n 4`` (pytest-xdist): run in a
subprocess, every test passes (read from its JUnit XML), the tests ran on more than one worker,
and no two tests shared a car's channel or state folder."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLE: Final = ROOT / "examples" / "scan-tool-project"
RUN_TIMEOUT_S: Final = 600.0
"""Bound of the whole run: 4 worker processes importing ecusim on a busy 2-core machine."""
WORKERS: Final = 4
BAD: Final = ("failure", "error", "skipped")
"""What a JUnit test case holds when it did not pass."""


def _properties(case: ET.Element) -> dict[str, str]:
    return {prop.attrib["name"]: prop.attrib["value"] for prop in case.iter("property")}


@pytest.mark.slow
def test_the_example_suite_passes_on_4_workers_sharing_nothing(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )  # the ecusim of this checkout
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-n", str(WORKERS), "-p", "xdist",
            "-p", "no:cacheprovider", "-q", f"--junitxml={report}",
            f"--basetemp={tmp_path / 'tmp'}",
        ],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    output = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None, output
    cases = list(suite.iter("testcase"))
    outcomes = {name: suite.attrib[name] for name in ("failures", "errors", "skipped")}
    assert outcomes == {"failures": "0", "errors": "0", "skipped": "0"}, output
    assert int(suite.attrib["tests"]) == len(cases) >= 10, output
    bad = [case.attrib["name"] for case in cases for tag in BAD if case.find(tag) is not None]
    assert not bad, output

    used = [_properties(case) for case in cases]
    channels = [props["channel"] for props in used if "channel" in props]
    folders = [props["state_dir"] for props in used if props.get("state_dir", "None") != "None"]
    assert len(channels) >= 10 and len(folders) >= 1
    assert Counter(channels).most_common(1)[0][1] == 1, channels  # no channel shared
    assert len(set(folders)) == len(folders), folders
    assert all(Path(folder).is_relative_to(tmp_path / "tmp") for folder in folders), folders
    workers = {channel.split("-")[1] for channel in channels}  # ecusim-gw<n>-<n>-<test>
    assert len(workers) > 1 and all(worker.startswith("gw") for worker in workers), workers
    assert any(props.get("portal_url", "").startswith("http://127.0.0.1:") for props in used)
