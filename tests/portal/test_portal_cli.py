"""``ecusim portal …`` in this process on a temporary SQLite file: set-up with a demo dealer, the
whole request → approval → Pass-Code path without a server, and every bad input as one line
``ecusim: error: …`` with exit status 2 (bad input) or 1 (refused), never a traceback."""

from __future__ import annotations

import getpass
import io
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecusim.cli import portal_command as portal_cli
from ecusim.cli.main import main
from ecusim.portal.errors import AuthenticationError
from ecusim.portal.service import Portal
from ecusim.secret_file import load
from protocol.passcode import format_code, parse_code, pass_code

from .kit import VIN

SEED = "00010203-04050607-08090A0B-0C0D0E0F"
PASS_CODE = "68048306-E57DF5FB-1D818A1B-527791CD"
DEMO_PASSWORD = "lab demo password"
MANAGER, TECHNICIAN = "demo-manager1", "demo-technician"
READY = "portal database ready: "


@pytest.fixture(autouse=True)
def _no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No prompt unless a test fakes a terminal; no password from the environment."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv(portal_cli.PASSWORD_ENV_VAR, raising=False)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("ECUSIM_PORTAL_DB", raising=False)
    return f"sqlite:///{tmp_path / 'portal.db'}"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


LAB_NOTE = (
    "ecusim: note: the portal is running on the public lab secret (anyone can compute its "
    "Pass-Codes): use --secret-file FILE or $ECUSIM_SECRET_FILE (make one with 'ecusim secret "
    "new FILE')\n"
)
"""What ``passcode`` says on stderr without a secret file (docs/secrets.md)."""


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    if "passcode" in argv and "--secret-file" not in argv:
        assert err.startswith(LAB_NOTE), err
        err = err.removeprefix(LAB_NOTE)
    assert (code, err) == (0, ""), f"{argv}: {err}"
    return out


def _one_line_error(
    capsys: pytest.CaptureFixture[str], expected_code: int, *argv: str, output: str = ""
) -> str:
    """The message of the one-line error; ``output``: what stdout must start with."""
    code, out, err = _run(capsys, *argv)
    assert code == expected_code, f"{argv}: exit {code}, stderr {err!r}"
    assert out.startswith(output) and (out == "" or output), out
    assert err.startswith("ecusim: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, f"not one line: {err!r}"
    return err.removeprefix("ecusim: error: ").rstrip("\n")


def _demo(capsys: pytest.CaptureFixture[str], db: str) -> None:
    _ok(capsys, "portal", "init", "--db", db, "--demo", "--demo-password", DEMO_PASSWORD)


def _create_request(capsys: pytest.CaptureFixture[str], db: str) -> str:
    out = _ok(capsys, "portal", "request", "create", "--db", db, "--as", TECHNICIAN,
              "--vin", VIN, "--repair-order", "RO-4711", "--customer", "Smith",
              "--confirmed")  # fmt: skip
    match = re.fullmatch(r"request (\d{11}) requested: VIN (\w+), .*expires .* UTC\n", out)
    assert match is not None, out
    assert match.group(2) == VIN
    return match.group(1)


def test_init_demo_prints_users_with_random_passwords(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    out = _ok(capsys, "portal", "init", "--db", db, "--demo")
    users = dict(re.findall(r"^  (\S+)\s+password (\S+)\s+", out, re.MULTILINE))
    assert set(users) == {"demo-manager1", "demo-manager2", "demo-technician"}
    assert len(set(users.values())) == 3
    assert all(len(password) >= 16 for password in users.values())
    portal = Portal.open(db)
    for username, password in users.items():
        assert portal.authenticate(username, password).username == username
    manager, technician = (portal.authenticate(u, users[u]) for u in (MANAGER, TECHNICIAN))
    assert manager.can_approve and not technician.can_approve
    # Again: the schema is up to date; the demo dealer cannot be added twice.
    assert _ok(capsys, "portal", "--db", db, "init").startswith(READY)
    error = _one_line_error(capsys, 1, "portal", "init", "--db", db, "--demo", output=READY)
    assert error == "dealer_code: dealer 63123 already exists"


def test_init_demo_with_a_given_password(capsys: pytest.CaptureFixture[str], db: str) -> None:
    _demo(capsys, db)
    portal = Portal.open(db)
    assert portal.authenticate(TECHNICIAN, DEMO_PASSWORD).username == TECHNICIAN


def test_a_too_short_demo_password_adds_nothing(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    error = _one_line_error(capsys, 2, "portal", "init", "--db", db, "--demo",
                            "--demo-password", "short")  # fmt: skip
    assert error == "password: needs at least 12 characters, got 5"
    assert not Path(db.removeprefix("sqlite:///")).exists()  # refused before anything is written
    _demo(capsys, db)  # nothing was half-added: the demo dealer can still be added


def test_request_approve_and_pass_code_by_command_line(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _demo(capsys, db)
    number = _create_request(capsys, db)
    out = _ok(capsys, "portal", "--db", db, "approve", number, "--as", MANAGER, "--confirmed")
    assert out.startswith(f"request {number} approved: ")
    assert "approved by Dana Manager, valid until " in out

    password_file = tmp_path / "password.txt"
    password_file.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    passcode = ("portal", "passcode", number, "--db", db, "--as", TECHNICIAN, "--seed", SEED,
                "--tool-version", "9.10.037")  # fmt: skip
    assert _ok(capsys, *passcode, "--password-file", str(password_file)) == PASS_CODE + "\n"
    monkeypatch.setenv(portal_cli.PASSWORD_ENV_VAR, DEMO_PASSWORD)
    assert _ok(capsys, *passcode) == PASS_CODE + "\n"
    assert _ok(capsys, *passcode, "--password", DEMO_PASSWORD) == PASS_CODE + "\n"

    code, out, err = _run(capsys, "portal", "--db", db, "audit", "verify")
    # 4 enrolments, request, approve, one issue: the same seed three times is one record
    assert (code, out) == (0, "audit log intact (7 records, 0 anchors)\n")
    assert "audit chain is keyed with the public lab secret" in err  # no secret file
    monthly = _ok(capsys, "portal", "report", "monthly", "63123", number_month(number),
                  "--db", db, "--format", "csv")  # fmt: skip
    assert monthly.count(number) == 3  # request, approve, 1 issue (the same seed thrice: once)


def number_month(number: str) -> str:
    """``26112100001`` → ``2026-11`` (request numbers start with the UTC date)."""
    return f"20{number[:2]}-{number[2:4]}"


def test_refuse_and_add_staff(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    _demo(capsys, db)
    number = _create_request(capsys, db)
    out = _ok(capsys, "portal", "--db", db, "refuse", number, "--as", "demo-manager2",
              "--reason", "no picture ID")  # fmt: skip
    assert out.startswith(f"request {number} refused: ")
    assert out.endswith("refused by Gale Manager: no picture ID\n")

    _ok(capsys, "portal", "--db", db, "dealer", "add", "64001", "Lexus of Elsewhere")
    password_file = tmp_path / "password.txt"
    password_file.write_text("a new password\nignored\n", encoding="utf-8")
    out = _ok(capsys, "portal", "staff", "add", "64001", "erin", "--db", db, "--name", "Erin",
              "--job-title", "Service Manager", "--password-file", str(password_file))  # fmt: skip
    assert out == "staff erin added to dealer 64001: manager, enrolled\n"
    portal = Portal.open(db)
    assert portal.authenticate("erin", "a new password").can_approve
    with pytest.raises(AuthenticationError):
        portal.authenticate("erin", "a new password\nignored")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_staff_add_prompts_twice(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _demo(capsys, db)
    monkeypatch.setattr("sys.stdin", _Terminal())
    answers = iter(["typed password", "typed password", "typed password", "a typo"])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    add = ("portal", "staff", "add", "63123", "--db", db, "--name", "Tess",
           "--job-title", "Technician")  # fmt: skip
    assert _ok(capsys, *add[:4], "tess", *add[4:]).startswith("staff tess added")
    assert len(prompts) == 2
    assert _one_line_error(capsys, 2, *add[:4], "tim", *add[4:]) == "the two passwords differ"
    assert Portal.open(db).authenticate("tess", "typed password").username == "tess"


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (("request", "create", "--as", TECHNICIAN, "--vin", VIN, "--repair-order", "RO",
          "--customer", "Smith"), 2, "confirmations.customer_authority: must be confirmed"),
        (("request", "create", "--as", TECHNICIAN, "--vin", "JTHBL5EF0C500000X",
          "--repair-order", "RO", "--customer", "Smith", "--confirmed"), 2, "vin: "),
        (("request", "create", "--as", "nobody", "--vin", VIN, "--repair-order", "RO",
          "--customer", "Smith", "--confirmed"), 1, "no staff member 'nobody'"),
        (("approve", "14070100001", "--as", MANAGER, "--confirmed"), 1, "no request No."),
        (("passcode", "14070100001", "--as", TECHNICIAN, "--seed", SEED,
          "--tool-version", "9.10.037", "--password", "wrong password"), 1, "wrong password"),
        (("passcode", "14070100001", "--as", TECHNICIAN, "--seed", "00-zz",
          "--tool-version", "9.10.037", "--password", DEMO_PASSWORD), 2, "seed: 'z' at"),
        (("passcode", "14070100001", "--as", TECHNICIAN, "--seed", SEED,
          "--tool-version", "9.10.037"), 2, "a password is needed"),
        (("passcode", "14070100001", "--as", TECHNICIAN, "--seed", SEED,
          "--tool-version", "9.10.037", "--password-file", "/nonexistent/pw"), 2,
         "--password-file: cannot read /nonexistent/pw"),
        (("staff", "add", "63123", "x", "--name", "X", "--job-title", "Technician",
          "--password", "short"), 2, "password: needs at least 12"),
        (("staff", "add", "99999", "xavier", "--name", "X", "--job-title", "Technician",
          "--password", "long enough password"), 1, "no dealer 99999"),
        (("report", "monthly", "63123", "2014-13"), 2, "month: expected YYYY-MM"),
        (("report", "nicb", "--since", "2014-07-01", "--until", "July"), 2,
         "--until: expected YYYY-MM-DD"),
        (("init", "--demo-password", "lab demo password"), 2, "--demo-password needs --demo"),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else None,
)  # fmt: skip
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], db: str, argv: tuple[str, ...], code: int, expected: str
) -> None:
    _demo(capsys, db)
    error = _one_line_error(capsys, code, "portal", "--db", db, *argv)
    assert expected in error


def test_an_uninitialised_database_is_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.db"
    for argv in (("audit", "verify"), ("report", "monthly", "63123", "2014-07"),
                 ("approve", "1", "--as", MANAGER, "--confirmed")):  # fmt: skip
        error = _one_line_error(capsys, 1, "portal", "--db", f"sqlite:///{missing}", *argv)
        assert error == f"no portal database at {missing}: run `ecusim portal init` first"
    assert not missing.exists()


@pytest.mark.parametrize(
    ("url", "code", "expected"),
    [
        ("nonsense://host/db", 2, "--db: unsupported database URL nonsense://host/db; "),
        ("sqlite://", 2, "--db: unsupported database URL sqlite://; supported: sqlite:///PATH"),
        ("postgresql+psycopg://nobody@127.0.0.1:9/portal", 1, "portal database: "),
    ],
)
def test_unusable_databases_are_one_line(
    capsys: pytest.CaptureFixture[str], url: str, code: int, expected: str
) -> None:
    assert _one_line_error(capsys, code, "portal", "--db", url, "audit", "verify").startswith(
        expected
    )


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """``api.serve`` replaced by a recorder (no uvicorn), and ``api.listen`` binding a free port
    for whatever address is asked (recorded first as ``("listen", host, port)``)."""
    api = pytest.importorskip("ecusim.portal.api", reason="ecusim.portal.api is not there yet")
    calls: list[tuple[Any, ...]] = []
    real_listen: Callable[[str, int], socket.socket] = api.listen

    def listen(host: str, port: int) -> socket.socket:
        calls.append(("listen", host, port))
        return real_listen(host, 0)

    def serve(portal: Portal, host: str, port: int, *, sock: socket.socket) -> None:
        assert sock.getsockname()[:2] == (host, port)  # served where it listens
        calls.append(("serve", portal, host, port))

    monkeypatch.setattr(api, "listen", listen)
    monkeypatch.setattr(api, "serve", serve)
    return calls


def test_serve_hands_the_portal_to_the_api(
    capsys: pytest.CaptureFixture[str], db: str, served: list[tuple[Any, ...]]
) -> None:
    _one_line_error(capsys, 1, "portal", "serve", "--db", db)  # not initialised
    _ok(capsys, "portal", "init", "--db", db)
    out = _ok(capsys, "portal", "serve", "--db", db, "--port", "18077")
    listen, (serve, portal, host, port) = served
    assert listen == ("listen", "127.0.0.1", 18077)
    assert serve == "serve" and isinstance(portal, Portal) and host == "127.0.0.1"
    assert out.startswith(f"ecusim: portal API on http://127.0.0.1:{port}/api/v1")  # bound port


def test_serve_default_address(
    capsys: pytest.CaptureFixture[str], db: str, served: list[tuple[Any, ...]]
) -> None:
    _ok(capsys, "portal", "init", "--db", db)
    _ok(capsys, "portal", "serve", "--db", db)
    assert served[0] == ("listen", "127.0.0.1", 8077)


def test_serve_on_a_taken_port_is_one_line_and_announces_nothing(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    """The port is bound before anything is printed or uvicorn starts (which would log its
    failure in three lines and exit 3)."""
    _ok(capsys, "portal", "init", "--db", db)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        error = _one_line_error(capsys, 1, "portal", "serve", "--db", db, "--port", str(port))
    assert error.startswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")


def test_serve_on_an_unknown_host_is_one_line(capsys: pytest.CaptureFixture[str], db: str) -> None:
    _ok(capsys, "portal", "init", "--db", db)
    error = _one_line_error(
        capsys, 1, "portal", "serve", "--db", db, "--host", "no-such-host.invalid"
    )
    assert error.startswith("cannot listen on no-such-host.invalid:8077: ")


# -- the secret file (docs/secrets.md) ---------------------------------------------------------


def _secret_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    path = tmp_path / "portal.secrets.toml"
    assert main(["secret", "new", str(path)]) == 0
    capsys.readouterr()
    return path


def test_passcode_with_a_secret_file_issues_the_file_s_pass_code(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _secret_file(capsys, tmp_path)
    _demo(capsys, db)
    number = _create_request(capsys, db)
    _ok(capsys, "portal", "--db", db, "approve", number, "--as", MANAGER, "--confirmed")
    passcode = ("portal", "passcode", number, "--db", db, "--as", TECHNICIAN, "--seed", SEED,
                "--tool-version", "9.10.037", "--password", DEMO_PASSWORD)  # fmt: skip
    expected = format_code(pass_code(VIN, parse_code(SEED), load(secret).master_secret))
    assert expected != PASS_CODE  # the lab answer of diagnostic-contract.md §5
    assert _ok(capsys, *passcode, "--secret-file", str(secret)) == expected + "\n"
    before = ("portal", "--secret-file", str(secret), *passcode[1:])
    assert _ok(capsys, *before) == expected + "\n"  # before the action, as --db
    monkeypatch.setenv("ECUSIM_SECRET_FILE", str(secret))
    code, out, err = _run(capsys, *passcode)
    assert (code, out, err) == (0, expected + "\n", "")  # from the environment, no notice
    # Without one: the lab answer, and the notice once on stderr.
    monkeypatch.delenv("ECUSIM_SECRET_FILE")
    code, out, err = _run(capsys, *passcode)
    assert (code, out, err) == (0, PASS_CODE + "\n", LAB_NOTE)


def test_a_bad_secret_file_is_one_line_and_issues_nothing(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _demo(capsys, db)
    number = _create_request(capsys, db)
    _ok(capsys, "portal", "--db", db, "approve", number, "--as", MANAGER, "--confirmed")
    missing = tmp_path / "none.toml"
    passcode = ("portal", "passcode", number, "--db", db, "--as", TECHNICIAN, "--seed", SEED,
                "--tool-version", "9.10.037", "--password", DEMO_PASSWORD)  # fmt: skip
    error = _one_line_error(capsys, 2, *passcode, "--secret-file", str(missing))
    assert error == f"--secret-file: secret file {missing}: no such file"
    monkeypatch.setenv("ECUSIM_SECRET_FILE", str(missing))
    error = _one_line_error(capsys, 2, *passcode)
    assert error == f"$ECUSIM_SECRET_FILE: secret file {missing}: no such file"


def test_serve_says_once_that_it_runs_on_the_public_lab_secret(
    capsys: pytest.CaptureFixture[str], db: str, served: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    _ok(capsys, "portal", "init", "--db", db)
    out = _ok(capsys, "portal", "serve", "--db", db, "--port", "18078")
    assert out.count("public lab secret") == 1 and "anyone can compute its Pass-Codes" in out
    secret = _secret_file(capsys, tmp_path)
    out = _ok(capsys, "portal", "serve", "--db", db, "--secret-file", str(secret))
    assert "public lab secret" not in out
    portal = served[-1][1]
    assert isinstance(portal, Portal)
    issued = portal._master_secret  # the file's, handed to the API
    assert issued == load(secret).master_secret
