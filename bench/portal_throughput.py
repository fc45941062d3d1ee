"""Pass-Code issues per second through the portal's HTTP API (run on demand, not a test).

    python -m bench.portal_throughput [--clients 1,4,16] [--workers 1,2] [--db sqlite,postgresql]
                                      [--postgres-url URL] [--seconds S] [--markdown]

For each database and worker count, a fresh portal database gets a dealer, its managers, one
technician per client and one approved request per technician; then ``ecusim portal serve
--workers W`` runs as a subprocess on a free loopback port with a fresh secret file. Each client
is a thread with its own ``httpx.Client`` (kept-alive connection): it logs in, re-enters its
password once (``POST /step-up``, the bulletin's re-entry) and then asks for Pass-Codes for
distinct seeds (a seeded RNG) for ``--seconds``. Every answer is checked (201 and a Pass-Code).

Same run, same clients, same server: ``GET /me`` (a token check and the user re-read, no write)
is timed the same way as the baseline, so the ratio issue ÷ me shows what the write costs over
an authenticated read on this noisy machine.

Before the clients start, ``ecusim portal audit anchor`` writes a signed checkpoint; after the
server stops, ``ecusim portal audit verify --anchor`` must say the chain is intact (the run
fails otherwise).

The per-approval issue limit is raised for the run (``ECUSIM_PORTAL_ISSUE_RATE_LIMIT``): the
benchmark measures the server, not the limit. Password hashes use the shipped scrypt cost.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ecusim.catalog.vin import check_digit
from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal
from ecusim.secret_file import load as load_secrets
from ecusim.secret_file import write_new

API = "/api/v1"
DEALER = "63123"
PASSWORD = "bench-password-0fd2c9a7"
TOOL_VERSION = "9.10.037"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Sample:
    latencies_s: tuple[float, ...]
    wall_s: float

    @property
    def rate(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        position = (len(ordered) - 1) * q
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _vin(index: int) -> str:
    """A valid VIN per technician (its check digit computed)."""
    body = f"JTHBL5EF0C5{index:06d}"
    return body[:8] + check_digit(body) + body[9:]


@contextmanager
def _database(kind: str, postgres_url: str | None, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'portal.db'}"
        return
    if not postgres_url:
        raise SystemExit("--db postgresql needs --postgres-url (or $ECUSIM_TEST_POSTGRES_URL)")
    name = f"ecusim_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prepare(url: str, secret_file: Path, technicians: int) -> list[tuple[str, str]]:
    """Dealer, two managers, ``technicians`` technicians with an approved request each."""
    engine = make_engine(url)
    upgrade(engine)
    portal = Portal(
        make_session_factory(engine), master_secret=load_secrets(secret_file).master_secret
    )
    portal.enroll_dealer(DEALER, "Bench Lexus")
    portal.add_staff(DEALER, "gm", "Gina Manager", "General Manager", PASSWORD)
    portal.add_staff(DEALER, "sm", "Sam Manager", "Service Manager", PASSWORD)
    pairs = []
    for index in range(technicians):
        username = f"tech{index:02d}"
        portal.add_staff(DEALER, username, f"Tech {index}", "Technician", PASSWORD)
        request = portal.create_request(
            username,
            _vin(index),
            f"RO-{index}",
            "Smith",
            IdentificationConfirmations.all_confirmed(),
        )
        portal.approve("gm", request.number, ApprovalConfirmations.all_confirmed())
        pairs.append((username, request.number))
    engine.dispose()
    return pairs


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecusim.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@contextmanager
def _server(url: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecusim.cli.main",
            "portal",
            "--db",
            url,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise SystemExit(
                    f"the server stopped: {process.stderr.read() if process.stderr else ''}"
                )
            try:
                if httpx.get(f"{base}{API}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer /health in time")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _client_session(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base + API, timeout=60)
    login = client.post("/login", json={"username": username, "password": PASSWORD})
    login.raise_for_status()
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    client.post("/step-up", json={"password": PASSWORD}).raise_for_status()
    return client


def _run(
    base: str, pairs: list[tuple[str, str]], clients: int, seconds: float, *, what: str, seed: int
) -> Sample:
    sessions = [_client_session(base, pairs[index][0]) for index in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = sessions[index]
        number = pairs[index][1]
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            if what == "issue":
                seed_hex = rng.randbytes(16).hex()
                answer = client.post(
                    f"/requests/{number}/pass-codes",
                    json={"tool_version": TOOL_VERSION, "seed": seed_hex},
                )
                ok = answer.status_code == 201 and len(answer.json()["pass_code"]) > 0
            else:
                answer = client.get("/me")
                ok = answer.status_code == 200
            if not ok:
                errors.append(f"{answer.status_code} {answer.text[:200]}")
                return
            latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    for client in sessions:
        client.close()
    if errors:
        raise SystemExit(f"{what}: {len(errors)} failed answers, first: {errors[0]}")
    return Sample(tuple(value for per in latencies for value in per), wall)


Row = tuple[str, int, int, Sample, Sample]
"""Database, workers, clients, the issue sample and the ``GET /me`` sample."""


def _ms(sample: Sample, q: float) -> float:
    return sample.percentile(q) * 1e3


def _line(kind: str, workers: int, clients: int, issue: Sample, me: Sample) -> str:
    return (
        f"{kind:<10} workers {workers} clients {clients:>2}: {issue.rate:7.1f} issues/s "
        f"p50 {_ms(issue, 0.5):6.1f} ms p99 {_ms(issue, 0.99):6.1f} ms | "
        f"GET /me {me.rate:7.1f}/s p50 {_ms(me, 0.5):5.1f} ms"
    )


def _measure(kind: str, workers: int, args: argparse.Namespace, counts: list[int]) -> list[Row]:
    """One database and worker count: every client count, then the anchored audit check."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ecusim-bench-") as tmp:
        folder = Path(tmp)
        secret_file = folder / "secrets.toml"
        write_new(secret_file)
        with _database(kind, args.postgres_url, folder) as url:
            pairs = _prepare(url, secret_file, max(counts))
            env = {
                **os.environ,
                "ECUSIM_SECRET_FILE": str(secret_file),
                "ECUSIM_PORTAL_ISSUE_RATE_LIMIT": "100000",
            }
            anchors = folder / "anchors.jsonl"
            anchored = _cli("portal", "--db", url, "audit", "anchor", "-o", str(anchors), env=env)
            if anchored.returncode != 0:
                raise SystemExit(f"audit anchor failed: {anchored.stderr.strip()}")
            with _server(url, workers, env) as base:
                for clients in counts:
                    me = _run(base, pairs, clients, args.seconds / 2, what="me", seed=args.seed)
                    issue = _run(base, pairs, clients, args.seconds, what="issue", seed=args.seed)
                    rows.append((kind, workers, clients, issue, me))
                    print(_line(kind, workers, clients, issue, me), flush=True)
            verified = _cli(
                "portal", "--db", url, "audit", "verify", "--anchor", str(anchors), env=env
            )
            said = verified.stdout.strip() or verified.stderr.strip()
            print(f"  audit verify --anchor: {said}", flush=True)
            if verified.returncode != 0:
                raise SystemExit("the audit chain is not intact after the run")
    return rows


def _markdown(rows: list[Row]) -> None:
    print()
    print(
        "| DB | workers | clients | issues/s | p50 ms | p99 ms | GET /me /s | me p50 ms "
        "| issue ÷ me rate |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, workers, clients, issue, me in rows:
        print(
            f"| {kind} | {workers} | {clients} | {issue.rate:.0f} | {_ms(issue, 0.5):.1f} "
            f"| {_ms(issue, 0.99):.1f} | {me.rate:.0f} | {_ms(me, 0.5):.1f} "
            f"| {issue.rate / me.rate:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client counts")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("ECUSIM_TEST_POSTGRES_URL"))
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per case")
    parser.add_argument("--seed", type=int, default=1, help="RNG seed of the Seed Numbers")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.clients.split(",")]
    rows: list[Row] = []
    for kind in (part.strip() for part in args.db.split(",")):
        for workers in (int(part) for part in args.workers.split(",")):
            rows += _measure(kind, workers, args, counts)
    if args.markdown:
        _markdown(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
