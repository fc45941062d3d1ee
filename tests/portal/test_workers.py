"""``ecusim portal serve --workers 2`` as a subprocess on a free port of 127.0.0.1, on SQLite and
PostgreSQL: the sessions and the failure throttle are the database's, so they hold across the
worker processes. Which worker served a call is read from the access log, whose lines carry the
worker's process id (``[pid]``); nothing of it is in the answers.

Real clock, default settings (15-minute failure window, budget 5).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from ecusim.cli.main import main
from ecusim.portal.api.workers import LAB_SECRET_ENV_VAR, WorkerConfigError, app_from_env
from ecusim.portal.db import URL_ENV_VAR
from ecusim.portal.service import Portal
from ecusim.secret_file import ENV_VAR as SECRET_FILE_ENV_VAR

from .kit import PASSWORD, Staffing

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
LOG_TIMEOUT_S = 30.0
MAX_CALLS = 2000
"""Bound of the calls made while waiting for the second worker to take one."""
ACCESS_LINE = re.compile(r'\[(\d+)\] [^ ]+ - "(\w+) (\S+) HTTP/[\d.]+" (\d{3})')


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """A ``serve --workers`` subprocess and the lines it printed so far."""

    url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.lock:
                self.lines.append(line)

    def access(self, method: str, path: str) -> list[tuple[int, int]]:
        """(worker pid, status) of every logged call of ``method path``."""
        with self.lock:
            lines = list(self.lines)
        found = []
        for line in lines:
            match = ACCESS_LINE.search(line)
            if match and (match[2], match[3]) == (method, path):
                found.append((int(match[1]), int(match[4])))
        return found

    def wait_logged(self, method: str, path: str, count: int) -> list[tuple[int, int]]:
        """The access lines of ``method path`` once there are ``count`` (bounded wait)."""
        deadline = time.monotonic() + LOG_TIMEOUT_S
        while len(found := self.access(method, path)) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} calls logged"
            time.sleep(0.05)
        return found


@pytest.fixture
def served(db_url: str, portal: Portal, staff: Staffing) -> Iterator[Served]:
    """The portal (its staff added in-process) served by 2 worker processes."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "ECUSIM_PORTAL_SCRYPT_N": "1024",  # cheap hashes for users added by the workers
    }
    env.pop("ECUSIM_SECRET_FILE", None)
    command = [sys.executable, "-m", "ecusim", "portal", "--db", db_url, "serve"]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the workers end with it
    )
    result = Served(f"http://127.0.0.1:{port}/api/v1", process)
    reader = threading.Thread(target=result.read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, "".join(result.lines)
            try:
                if httpx.get(f"{result.url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve --workers 2 did not answer /health"
            time.sleep(0.1)
        yield result
    finally:
        _end(process)
        reader.join(timeout=STOP_TIMEOUT_S)


def _end(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the whole process group, SIGKILL if it does not end in time."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)


def _workers_seen(found: list[tuple[int, int]]) -> set[int]:
    return {pid for pid, _status in found}


def test_the_failure_budget_holds_across_two_workers(served: Served, staff: Staffing) -> None:
    """Wrong passwords on fresh connections, until both workers have answered some: exactly
    the budget's worth are checked (401), every later one is refused (429), the right password
    too; per-worker counting would have let up to twice as many through."""
    statuses: list[int] = []
    body = {"username": staff.technician, "password": "wrong password"}
    while len(statuses) < 30 or len(_workers_seen(served.access("POST", "/api/v1/login"))) < 2:
        assert len(statuses) < MAX_CALLS, "every call went to one worker"
        answer = httpx.post(f"{served.url}/login", json=body, timeout=10.0)  # a new connection
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) >= 1
    assert statuses == [401] * 5 + [429] * (len(statuses) - 5)
    right = {"username": staff.technician, "password": PASSWORD}
    for _ in range(10):
        assert httpx.post(f"{served.url}/login", json=right, timeout=10.0).status_code == 429
    logged = served.wait_logged("POST", "/api/v1/login", len(statuses) + 10)
    assert len(_workers_seen(logged)) == 2
    assert len(_workers_seen([entry for entry in logged if entry[1] == 429])) == 2


def test_one_session_is_served_by_every_worker(served: Served, staff: Staffing) -> None:
    """200 calls of one logged-in client on fresh connections: all succeed, and at least two
    worker processes served them (the in-memory tokens of old answered 39 of 100 with 401)."""
    login = httpx.post(
        f"{served.url}/login",
        json={"username": staff.manager, "password": PASSWORD},
        timeout=10.0,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    calls = 0
    while calls < 200 or len(_workers_seen(served.access("GET", "/api/v1/audit"))) < 2:
        assert calls < MAX_CALLS, "every call went to one worker"
        answer = httpx.get(f"{served.url}/audit", headers=headers, timeout=10.0)
        assert answer.status_code == 200, answer.text
        calls += 1
    logged = served.wait_logged("GET", "/api/v1/audit", calls)
    assert {status for _pid, status in logged} == {200}
    assert len(_workers_seen(logged)) == 2

    assert httpx.post(f"{served.url}/logout", headers=headers, timeout=10.0).status_code == 204
    for _ in range(20):  # revoked in the database: no worker accepts it any more
        answer = httpx.get(f"{served.url}/me", headers=headers, timeout=10.0)
        assert answer.status_code == 401


@pytest.mark.parametrize("workers", ["0", "-1", "two", "65"])
def test_a_bad_number_of_workers_is_a_usage_error(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["portal", "serve", "--workers", workers])
    assert exit_status.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_a_worker_without_a_database_or_a_secret_does_not_start(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.delenv(URL_ENV_VAR, raising=False)
    with pytest.raises(WorkerConfigError, match=URL_ENV_VAR):
        app_from_env()
    monkeypatch.setenv(URL_ENV_VAR, db_url)
    monkeypatch.delenv(SECRET_FILE_ENV_VAR, raising=False)
    monkeypatch.delenv(LAB_SECRET_ENV_VAR, raising=False)
    with pytest.raises(WorkerConfigError, match=LAB_SECRET_ENV_VAR):
        app_from_env()
    monkeypatch.setenv(LAB_SECRET_ENV_VAR, "1")
    assert app_from_env().state.portal.settings.login_failure_budget == 5
