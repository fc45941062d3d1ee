"""Passwords (OWASP ASVS 4.0.3 V2.1, V2.4.3): scrypt at the configured cost for every new hash,
weaker hashes upgraded at the next login, the dummy hash of unknown users as costly as a real
one, and the policy on every password set (service, demo data, CLI)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Engine, func, select

from ecusim.cli.main import main
from ecusim.portal import passwords
from ecusim.portal.db import make_engine, make_session_factory, upgrade
from ecusim.portal.demo_data import add_demo_dealer
from ecusim.portal.errors import AuthenticationError, ValidationError
from ecusim.portal.models import AuditRecord, Staff
from ecusim.portal.service import Portal
from ecusim.portal.settings import PortalSettings
from protocol.clock import FakeClock

from .kit import CHEAP_SCRYPT_N, CHEAP_SETTINGS, DEALER, PASSWORD, snapshot

GOOD = "a long enough passphrase"
REFUSED = [
    ("letmein12", "needs at least 12 characters, got 9"),
    ("short", "needs at least 12 characters, got 5"),
    ("x" * 129, "may have at most 128 characters, got 129"),
    ("qwerty123456", "is one of the most common passwords: choose another"),
    ("QwErTy123456", "is one of the most common passwords: choose another"),
    ("1QAZ2WSX3EDC", "is one of the most common passwords: choose another"),
    ("my name is Technician-Tess", "must not contain the username"),
    ("TECHNICIAN-TESS", "must not contain the username"),
]
USERNAME = "technician-tess"


def _stored_hash(engine: Engine, username: str) -> str:
    with make_session_factory(engine)() as session:
        stored = session.scalar(select(Staff.password_hash).where(Staff.username == username))
    assert stored is not None
    return stored


def _audit_count(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(AuditRecord)) or 0


# -- the hash ------------------------------------------------------------------------------------


def test_the_default_cost_is_owasps(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One real hash at the default cost: N 2^17, r 8, p 1."""
    monkeypatch.delenv("ECUSIM_PORTAL_SCRYPT_N")
    assert PortalSettings().scrypt_n == passwords.DEFAULT_SCRYPT_N == 2**17
    engine = make_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    upgrade(engine)
    portal = Portal(make_session_factory(engine), clock)
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.add_staff(DEALER, "alice", "Alice", "Service Manager", PASSWORD)
    assert _stored_hash(engine, "alice").startswith("scrypt$131072$8$1$")
    engine.dispose()


def test_new_hashes_use_the_configured_cost(portal: Portal, engine: Engine) -> None:
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.add_staff(DEALER, "alice", "Alice", "Service Manager", PASSWORD)
    assert passwords.scrypt_n(_stored_hash(engine, "alice")) == CHEAP_SCRYPT_N


def test_needs_rehash() -> None:
    old = passwords.hash_password(PASSWORD, 2**10)
    assert passwords.needs_rehash(old, 2**11)
    assert not passwords.needs_rehash(old, 2**10)
    assert not passwords.needs_rehash(old, 2**9)  # a stronger stored cost is never lowered
    n, r, p, salt, digest = old.split("$")[1:]
    assert passwords.needs_rehash(f"scrypt${n}$4${p}${salt}${digest}", 2**10)  # r below 8
    assert passwords.needs_rehash(f"scrypt${n}${r}${p}${salt[:8]}${digest}", 2**10)  # short salt
    assert passwords.needs_rehash("bcrypt$whatever", 2**10)


def test_an_old_hash_is_upgraded_at_login(
    engine: Engine, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A hash made at N 2^14 (the portal's old cost) becomes one at the configured N at the
    first successful login; the password still works; the audit log is not touched."""
    factory = make_session_factory(engine)
    old_portal = Portal(factory, clock, settings=PortalSettings(scrypt_n=2**14))
    old_portal.enroll_dealer(DEALER, "Lexus of Lab City")
    old_portal.add_staff(DEALER, "alice", "Alice", "Service Manager", PASSWORD)
    old = _stored_hash(engine, "alice")
    assert old.startswith("scrypt$16384$8$1$")
    records = _audit_count(engine)

    portal = Portal(factory, clock, settings=PortalSettings(scrypt_n=2**15))
    with pytest.raises(AuthenticationError):
        portal.authenticate("alice", "not the password")
    assert _stored_hash(engine, "alice") == old  # only a successful login upgrades

    assert portal.authenticate("alice", PASSWORD).username == "alice"
    new = _stored_hash(engine, "alice")
    assert new != old and new.startswith("scrypt$32768$8$1$")
    assert portal.authenticate("alice", PASSWORD).username == "alice"
    assert _stored_hash(engine, "alice") == new  # up to date: not re-hashed again
    with pytest.raises(AuthenticationError):
        portal.authenticate("alice", "not the password")
    assert _audit_count(engine) == records


def test_a_stronger_hash_is_kept(engine: Engine, clock: FakeClock) -> None:
    factory = make_session_factory(engine)
    strong = Portal(factory, clock, settings=PortalSettings(scrypt_n=2**11))
    strong.enroll_dealer(DEALER, "Lexus of Lab City")
    strong.add_staff(DEALER, "alice", "Alice", "Service Manager", PASSWORD)
    stored = _stored_hash(engine, "alice")
    Portal(factory, clock, settings=CHEAP_SETTINGS).authenticate("alice", PASSWORD)
    assert _stored_hash(engine, "alice") == stored


class _ScryptSpy:
    """Records the cost of every scrypt computation."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.costs: list[tuple[int, int, int]] = []
        spy = self

        def recording(**kwargs: Any) -> Any:
            spy.costs.append((kwargs["n"], kwargs["r"], kwargs["p"]))
            return Scrypt(**kwargs)

        monkeypatch.setattr(passwords, "Scrypt", recording)


@pytest.mark.parametrize("n", [2**10, 2**12])
def test_an_unknown_user_costs_one_hash_at_the_configured_cost(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    """Equal work, so the answer time does not tell whether a username exists (ASVS V2.2,
    OWASP Authentication Cheat Sheet); the same work as a known user's current hash."""
    portal = Portal(make_session_factory(engine), clock, settings=PortalSettings(scrypt_n=n))
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.add_staff(DEALER, "alice", "Alice", "Service Manager", PASSWORD)
    spy = _ScryptSpy(monkeypatch)
    for username in ("alice", "nobody"):
        with pytest.raises(AuthenticationError) as caught:
            portal.authenticate(username, "not the password")
        assert caught.value.reason == "wrong username or password"
    assert spy.costs == [(n, 8, 1), (n, 8, 1)]


# -- the policy ----------------------------------------------------------------------------------


def test_the_common_list_ships_with_the_package() -> None:
    assert passwords.is_common_password("password")
    assert passwords.is_common_password("LetMeIn")
    assert not passwords.is_common_password(PASSWORD)
    assert len(passwords._common_passwords()) == 30000


@pytest.mark.parametrize(("password", "reason"), REFUSED, ids=range(len(REFUSED)))
def test_the_service_refuses_a_weak_password(
    portal: Portal, engine: Engine, password: str, reason: str
) -> None:
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    before = snapshot(engine)
    with pytest.raises(ValidationError) as caught:
        portal.add_staff(DEALER, USERNAME, "Tess", "Technician", password)
    assert (caught.value.field, caught.value.reason) == ("password", reason)
    assert snapshot(engine) == before


@pytest.mark.parametrize("password", ["x" * 7 + "yz" + "w" * 3, "v" * 128, GOOD])
def test_the_service_accepts_12_to_128_characters(
    portal: Portal, engine: Engine, password: str
) -> None:
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.add_staff(DEALER, USERNAME, "Tess", "Technician", password)
    assert portal.authenticate(USERNAME, password).username == USERNAME


def test_a_short_username_may_appear_in_the_password(portal: Portal) -> None:
    portal.enroll_dealer(DEALER, "Lexus of Lab City")
    portal.add_staff(DEALER, "al", "Al", "Technician", "always a long phrase")
    with pytest.raises(ValidationError, match="must not contain the username"):
        portal.add_staff(DEALER, "bob", "Bob", "Technician", "bob's long phrase")


@pytest.mark.parametrize(
    ("password", "reason"),
    [*REFUSED[:4], ("demo-manager2 password", "must not contain the username")],
    ids=range(5),
)
def test_a_weak_demo_password_adds_nothing(
    portal: Portal, engine: Engine, password: str, reason: str
) -> None:
    before = snapshot(engine)
    with pytest.raises(ValidationError) as caught:
        add_demo_dealer(portal, password)
    assert (caught.value.field, caught.value.reason) == ("password", reason)
    assert snapshot(engine) == before


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("ECUSIM_PORTAL_PASSWORD", raising=False)
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    assert main(["portal", "--db", url, "init"]) == 0
    assert main(["portal", "--db", url, "dealer", "add", DEALER, "Lexus of Lab City"]) == 0
    return url


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("ecusim: error: ") and err.count("\n") == 1, err
    return err.removeprefix("ecusim: error: ").rstrip("\n")


@pytest.mark.parametrize(("password", "reason"), REFUSED, ids=range(len(REFUSED)))
def test_the_cli_refuses_a_weak_staff_password(
    capsys: pytest.CaptureFixture[str], cli_db: str, tmp_path: Path, password: str, reason: str
) -> None:
    engine = make_engine(cli_db)
    before = snapshot(engine)
    password_file = tmp_path / "password.txt"
    password_file.write_text(password + "\n", encoding="utf-8")
    for source in (("--password", password), ("--password-file", str(password_file))):
        argv = ("portal", "--db", cli_db, "staff", "add", DEALER, USERNAME, "--name", "Tess",
                "--job-title", "Technician", *source)  # fmt: skip
        assert _one_line_error(capsys, 2, *argv) == f"password: {reason}"
    assert snapshot(engine) == before
    engine.dispose()


@pytest.mark.parametrize(
    ("password", "reason"),
    [*REFUSED[:4], ("Demo-Technician!", "must not contain the username")],
    ids=range(5),
)
def test_the_cli_refuses_a_weak_demo_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, password: str, reason: str
) -> None:
    database = tmp_path / "portal.db"
    argv = ("portal", "--db", f"sqlite:///{database}", "init", "--demo",
            "--demo-password", password)  # fmt: skip
    assert _one_line_error(capsys, 2, *argv) == f"password: {reason}"
    assert not database.exists()  # refused before anything is written
