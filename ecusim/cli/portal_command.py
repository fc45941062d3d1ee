"""``ecusim portal …``: database set-up, the HTTP server, scripting, audit verification, reports.

``add_subparser(subparsers)`` like the other subcommand modules (``ecusim/cli/main.py`` lists it
in ``SUBCOMMANDS``). The HTTP server (FastAPI, uvicorn) is imported only by ``serve``.

The scripting actions (``dealer add``, ``staff add``, ``staff set``, ``request create``,
``approve``, ``refuse``, ``close``, ``passcode``) work directly on the database through
:class:`Portal`, without the server: whoever can open the database is trusted to act as the
``--as`` user (or as the administrator), except that ``passcode`` re-checks that user's password
as the portal always does (throttled, client address ``cli``). ``serve --workers N`` runs N
worker processes (:mod:`ecusim.portal.api.workers`). Passwords come from ``--password-file``,
``$ECUSIM_PORTAL_PASSWORD`` or an interactive prompt; ``--password`` exists for throwaway scripts
only (other local users can read a command line).

Every failure is one line ``ecusim: error: …``: exit status 2 for bad input, 1 when the portal
refuses or the database fails.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from ecusim.cli.errors import CliError
from ecusim.cli.secret_options import LAB_NOTICE, add_secret_argument, load_secrets
from ecusim.portal import anchors, audit, reports
from ecusim.portal.api_models import DEFAULT_PORT
from ecusim.portal.db import (
    FILE_MODE,
    URL_ENV_VAR,
    UnsupportedDatabaseURLError,
    check_portal_database,
    database_url,
    make_engine,
    make_session_factory,
    records_to_seal,
    sqlite_path,
    tighten_sqlite_file,
    upgrade,
)
from ecusim.portal.demo_data import add_demo_dealer, check_new_demo_password
from ecusim.portal.errors import PortalError, ValidationError
from ecusim.portal.rules import (
    MIN_TOOL_VERSION_TEXT,
    ApprovalConfirmations,
    IdentificationConfirmations,
)
from ecusim.portal.service import Portal, RequestView
from ecusim.portal.settings import PortalSettings
from ecusim.secret_file import ENV_VAR, Secrets

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "PASSWORD_ENV_VAR", "add_subparser", "run"]

PASSWORD_ENV_VAR: Final = "ECUSIM_PORTAL_PASSWORD"
"""Environment variable read for a password when neither option gives one."""
DEFAULT_HOST: Final = "127.0.0.1"
USAGE: Final = 2
"""Exit status of a bad input (argparse's own)."""
_MAX_DB_ERROR_CHARS: Final = 300
MAX_WORKERS: Final = 64
"""Most worker processes ``serve --workers`` starts."""
AUDIT_LAB_NOTICE: Final = (
    "keyed with the public lab secret (anyone can recompute it and sign its anchors): use "
    f"--secret-file FILE or ${ENV_VAR}, the portal's own"
)


# -- the parser --------------------------------------------------------------------------------


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {text!r}") from None
    if not 1 <= workers <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"workers must be 1-{MAX_WORKERS}, got {workers}")
    return workers


def _db_option() -> argparse.ArgumentParser:
    """``--db`` after the action too (``ecusim portal init --db URL``); SUPPRESS keeps the
    value given before the action (``ecusim portal --db URL init``) when it is absent."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="database URL")
    return parent


def _secret_option() -> argparse.ArgumentParser:
    """``--secret-file`` after the action too, as :func:`_db_option` does for ``--db``."""
    parent = argparse.ArgumentParser(add_help=False)
    add_secret_argument(parent, suppress=True)
    return parent


def _password_options(parser: argparse.ArgumentParser, whose: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help=f"read {whose} password from the first line of FILE "
        f"(else ${PASSWORD_ENV_VAR}, else a prompt)",
    )
    group.add_argument(
        "--password",
        metavar="TEXT",
        help="the password on the command line: for throwaway scripts only, other local users "
        "can read it",
    )


def _acting_user(parser: argparse.ArgumentParser, who: str) -> None:
    parser.add_argument("--as", dest="user", metavar="USERNAME", required=True, help=who)


def add_subparser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "portal",
        help="the dealer pass-code portal: database, server, scripting, audit log, reports",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"database URL (default: ${URL_ENV_VAR}, else ./ecusim-portal.db); PostgreSQL: "
        "postgresql+psycopg://user:password@host/dbname",
    )
    add_secret_argument(parser)
    db = [_db_option()]
    actions = parser.add_subparsers(dest="portal_command", metavar="ACTION", required=True)
    _add_setup_actions(actions, db)
    _add_scripting_actions(actions, db)
    _add_audit_and_report_actions(actions, db)
    parser.set_defaults(func=run)


def _add_setup_actions(actions: Any, db: list[argparse.ArgumentParser]) -> None:

    init = actions.add_parser(
        "init", parents=[*db, _secret_option()], help="create or migrate the portal's tables"
    )
    init.add_argument(
        "--demo",
        action="store_true",
        help="also add a demo dealer with two managers and a technician; prints their "
        "usernames and passwords",
    )
    init.add_argument(
        "--demo-password",
        metavar="TEXT",
        help="the demo users' password (default: a random one each)",
    )

    serve = actions.add_parser(
        "serve", parents=[*db, _secret_option()], help="serve the HTTP API (/api/v1, /docs)"
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="worker processes (default 1); more than 1: uvicorn's multiprocess supervisor, "
        "sessions and throttling shared through the database (PostgreSQL intended)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="ADDRESSES",
        help="behind a reverse proxy: its address(es), comma-separated; X-Forwarded-For from "
        "them then names the client (default: never trusted, the TCP peer is the client)",
    )


def _add_scripting_actions(actions: Any, db: list[argparse.ArgumentParser]) -> None:
    dealer = actions.add_parser("dealer", help="dealers")
    dealer_actions = dealer.add_subparsers(dest="dealer_command", metavar="ACTION", required=True)
    writing = [*db, _secret_option()]  # every write extends the keyed audit chain
    dealer_add = dealer_actions.add_parser("add", parents=writing, help="enroll a dealer")
    dealer_add.add_argument("code", help="dealer code (letters and digits)")
    dealer_add.add_argument("name", help="dealer name")

    staff = actions.add_parser("staff", help="dealer staff")
    staff_actions = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    staff_add = staff_actions.add_parser(
        "add", parents=writing, help="add a staff member (an approving job title makes a manager)"
    )
    staff_add.add_argument("dealer", help="dealer code")
    staff_add.add_argument("username")
    staff_add.add_argument("--name", required=True, help="full name")
    staff_add.add_argument(
        "--job-title", required=True, help='e.g. "Service Manager" or "Technician"'
    )
    staff_add.add_argument(
        "--not-enrolled",
        action="store_true",
        help="not (yet) enrolled in the pass-code programme",
    )
    _password_options(staff_add, "the new member's")
    staff_set = staff_actions.add_parser(
        "set",
        parents=writing,
        help="change a member's job title or enrolment (revokes all their login sessions)",
    )
    staff_set.add_argument("username")
    staff_set.add_argument("--job-title", help="the new job title")
    enrolment = staff_set.add_mutually_exclusive_group()
    enrolment.add_argument(
        "--enrolled", dest="enrolled", action="store_const", const=True, help="enrol the member"
    )
    enrolment.add_argument(
        "--not-enrolled",
        dest="enrolled",
        action="store_const",
        const=False,
        help="withdraw the member from the pass-code programme",
    )

    request = actions.add_parser("request", help="reset requests")
    request_actions = request.add_subparsers(
        dest="request_command", metavar="ACTION", required=True
    )
    create = request_actions.add_parser(
        "create", parents=writing, help="send a reset request to the dealer's managers"
    )
    _acting_user(create, "the requesting technician")
    create.add_argument("--vin", required=True)
    create.add_argument("--repair-order", required=True, help="repair order number")
    create.add_argument("--customer", required=True, help="the customer's last name")
    create.add_argument(
        "--confirmed",
        action="store_true",
        help="the technician confirms the Positive Identification Policy: the customer's "
        "authority and identity (picture ID) and the vehicle's registration were verified, and "
        "the TIS Terms and Conditions are agreed",
    )

    approve = actions.add_parser("approve", parents=writing, help="approve a request (managers)")
    approve.add_argument("number", help="request number")
    _acting_user(approve, "the approving manager")
    approve.add_argument(
        "--confirmed",
        action="store_true",
        help="the manager confirms the Request Approval Policy: details verified, NICB "
        "transaction log acknowledged, TIS Terms and Conditions agreed",
    )

    refuse = actions.add_parser("refuse", parents=writing, help="refuse a request (managers)")
    refuse.add_argument("number", help="request number")
    _acting_user(refuse, "the refusing manager")
    refuse.add_argument("--reason", required=True, help="shown to the technician")

    close = actions.add_parser(
        "close", parents=db, help="close an approval: the vehicle repair is completed"
    )
    close.add_argument("number", help="request number")
    _acting_user(close, "an enrolled staff member of the request's dealer")
    close.add_argument("--note", metavar="TEXT", help="for the audit log (at most 200 characters)")

    passcode = actions.add_parser(
        "passcode",
        parents=writing,
        help="issue the Pass-Code for a Seed Number (approved request)",
    )
    passcode.add_argument("number", help="request number")
    _acting_user(passcode, "the staff member obtaining the code (password re-checked)")
    passcode.add_argument("--seed", required=True, help="the Seed Number the car shows")
    passcode.add_argument(
        "--tool-version",
        required=True,
        help=f"scan-tool software version ({MIN_TOOL_VERSION_TEXT} or later)",
    )
    _password_options(passcode, "that user's")


def _add_audit_and_report_actions(actions: Any, db: list[argparse.ArgumentParser]) -> None:
    audit_parser = actions.add_parser("audit", help="the tamper-evident audit log")
    audit_actions = audit_parser.add_subparsers(dest="audit_command", required=True)
    keyed = [*db, _secret_option()]  # the secret gives the HMAC key and the anchor key
    verify = audit_actions.add_parser(
        "verify",
        parents=keyed,
        help="check the keyed hash chain and the signed anchors; exit status 1 if broken",
    )
    verify.add_argument(
        "--anchor",
        type=Path,
        metavar="FILE",
        help="also check every anchor (JSON Lines) of FILE, from `audit anchor -o FILE`",
    )
    anchor = audit_actions.add_parser(
        "anchor",
        parents=keyed,
        help="sign a checkpoint of the chain's head, to keep outside the database",
    )
    anchor.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="append the anchor line to FILE (created with mode 0600; default: stdout)",
    )

    report_parser = actions.add_parser("report", help="NICB export and monthly dealer report")
    report_actions = report_parser.add_subparsers(dest="report_command", required=True)
    nicb = report_actions.add_parser("nicb", parents=db, help="transaction log export (CSV)")
    nicb.add_argument("--since", required=True, help="start date, YYYY-MM-DD (UTC, inclusive)")
    nicb.add_argument("--until", required=True, help="end date, YYYY-MM-DD (UTC, exclusive)")
    nicb.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    monthly = report_actions.add_parser(
        "monthly", parents=db, help="Monthly Vehicle Security Transaction"
    )
    monthly.add_argument("dealer", help="dealer code")
    monthly.add_argument("month", help="YYYY-MM (UTC)")
    monthly.add_argument("--format", choices=("text", "csv", "html"), default="text")
    monthly.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")


# -- helpers -----------------------------------------------------------------------------------


def _date(text: str, field: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CliError(f"{field}: expected YYYY-MM-DD, got {text!r}", USAGE) from None


def _month(text: str) -> tuple[int, int]:
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise CliError(f"month: expected YYYY-MM, got {text!r}", USAGE) from None
    return parsed.year, parsed.month


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _password(args: argparse.Namespace, *, confirm: bool = False) -> str:
    """From ``--password``, ``--password-file``, the environment or a prompt, in that order."""
    if args.password is not None:
        return str(args.password)
    if args.password_file is not None:
        path: Path = args.password_file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise CliError(f"--password-file: cannot read {path}: {reason}", USAGE) from None
        if not lines or not lines[0]:
            raise CliError(f"--password-file: {path} has no password on its first line", USAGE)
        return lines[0]
    from_env = os.environ.get(PASSWORD_ENV_VAR)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise CliError(
            f"a password is needed: --password-file FILE, ${PASSWORD_ENV_VAR} or a terminal",
            USAGE,
        )
    try:
        who = getattr(args, "user", None) or getattr(args, "username", "the user")
        password = getpass.getpass(f"password for {who}: ")
        if confirm and getpass.getpass("the same password again: ") != password:
            raise CliError("the two passwords differ", USAGE)
    except EOFError:
        raise CliError("no password entered", USAGE) from None
    return password


def _one_line(exc: SQLAlchemyError) -> str:
    """The driver's message (not SQLAlchemy's multi-line SQL echo), on one line."""
    cause = getattr(exc, "orig", None)
    text = " ".join(str(cause if cause is not None else exc).split())
    return text[:_MAX_DB_ERROR_CHARS] or type(exc).__name__


def _engine(args: argparse.Namespace) -> Engine:
    url = database_url(args.db)
    try:
        return make_engine(url)
    except UnsupportedDatabaseURLError as exc:
        raise CliError(f"--db: {exc}", USAGE) from None
    except (SQLAlchemyError, ValueError) as exc:
        reason = _one_line(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
        raise CliError(f"--db: unusable database URL: {reason}", USAGE) from None


def _require_schema(engine: Engine) -> None:
    """Fail (without creating an SQLite file) unless ``portal init`` ran on the database."""
    hint = "run `ecusim portal init` first"
    shown = engine.url.render_as_string(hide_password=True)
    sqlite = engine.url.get_backend_name() == "sqlite"
    if sqlite and not Path(engine.url.database or "").is_file():
        raise CliError(f"no portal database at {engine.url.database}: {hint}")
    check_portal_database(engine)  # another application's: refused before a connection writes
    if not inspect(engine).has_table("alembic_version"):
        raise CliError(f"{shown} is not a portal database: {hint}")


def _portal(engine: Engine, master_secret: bytes) -> Portal:
    """The portal on ``engine``: ``master_secret`` issues Pass-Codes and keys the audit chain."""
    _require_schema(engine)
    settings = PortalSettings.from_env()
    return Portal(make_session_factory(engine), master_secret=master_secret, settings=settings)


def _issuing_secrets(args: argparse.Namespace) -> Secrets:
    """The secrets of ``serve`` and of the scripting actions: the master secret issues
    Pass-Codes and keys every audit record they write."""
    return load_secrets(args)


def _say_if_lab(secrets: Secrets, stream: Any, *, serving: bool = False) -> None:
    """Once, at start: a portal on the public lab secret gates nothing (docs/secrets.md), and
    the server's audit chain is keyed with a public key (docs/portal-security.md)."""
    if secrets.source is None:
        chain = "; its audit chain is keyed with a public key" if serving else ""
        print(f"ecusim: note: the portal is {LAB_NOTICE}{chain}", file=stream, flush=True)


def _describe(request: RequestView) -> str:
    line = (
        f"request {request.number} {request.status}: VIN {request.vin}, "
        f"RO {request.repair_order}, {request.customer_last_name}, "
        f"by {request.technician_username} ({request.dealer_code})"
    )
    if request.status == "requested":
        return f"{line}; expires {_when(request.expires_at)}"
    if request.closed_by is not None:
        return f"{line}; closed by {request.closed_by} at {_when(request.closed_at)}"
    if request.approved_by is not None:
        valid = _when(request.valid_until)
        return f"{line}; approved by {request.approved_by}, valid until {valid}"
    if request.refused_by is not None:
        return f"{line}; refused by {request.refused_by}: {request.refusal_reason}"
    return line


# -- the actions -------------------------------------------------------------------------------


def _init(engine: Engine, args: argparse.Namespace) -> int:
    """Create or migrate the tables (another application's database is refused first, an
    existing SQLite file readable by others is made owner-only), then the demo dealer."""
    if args.demo_password is not None and not args.demo:
        raise CliError("--demo-password needs --demo", USAGE)
    if args.demo_password is not None:  # refused before anything is written
        check_new_demo_password(args.demo_password)
    check_portal_database(engine)
    old_mode = tighten_sqlite_file(engine)
    if old_mode is not None:
        path = sqlite_path(engine)
        print(f"permissions of {path} tightened from {old_mode:04o} to {FILE_MODE:04o}")
    # A database from before keyed chaining: its records are sealed with the audit key.
    key = audit.audit_key(load_secrets(args).master_secret) if records_to_seal(engine) else None
    sealed = upgrade(engine, audit_key=key)
    if sealed:
        print(
            f"audit records 1..{sealed} (unkeyed, from before keyed chaining) sealed by record "
            f"{sealed + 1}; take an anchor now: ecusim portal audit anchor -o FILE"
        )
    print(f"portal database ready: {engine.url.render_as_string(hide_password=True)}")
    if not args.demo:
        return 0
    secrets = load_secrets(args)  # the demo's records are keyed like every other
    portal = Portal(make_session_factory(engine), master_secret=secrets.master_secret)
    demo = add_demo_dealer(portal, args.demo_password)
    print(f"demo dealer {demo.code} {demo.name}:")
    width = max(len(user.username) for user in demo.users)
    for user in demo.users:
        print(f"  {user.username:<{width}}  password {user.password}  {user.job_title}")
    if args.demo_password is None:
        print("(random passwords, shown only now)")
    return 0


def _serve(engine: Engine, args: argparse.Namespace) -> int:
    secrets = _issuing_secrets(args)
    portal = _portal(engine, secrets.master_secret)
    try:
        from ecusim.portal import api  # noqa: PLC0415 - FastAPI only when serving
    except ImportError as exc:
        raise CliError(
            f"the HTTP API cannot start: {exc} (it needs fastapi and uvicorn: pip install -e .)"
        ) from None
    try:
        sock = api.listen(args.host, args.port)
    except OSError as exc:
        reason = exc.strerror or exc
        address = f"{api.url_host(args.host)}:{args.port}"
        raise CliError(f"cannot listen on {address}: {reason}") from exc
    with sock:
        host, port = sock.getsockname()[:2]
        print(
            f"ecusim: portal API on http://{api.url_host(host)}:{port}/api/v1 "
            f"(docs /docs), database {engine.url.render_as_string(hide_password=True)}",
            flush=True,
        )
        _say_if_lab(secrets, sys.stdout, serving=True)
        proxy: dict[str, Any] = {}
        if args.forwarded_allow_ips:
            proxy = {"proxy_headers": True, "forwarded_allow_ips": args.forwarded_allow_ips}
        if args.workers == 1:
            api.serve(portal, host, port, sock=sock, **proxy)
            return 0
        from ecusim.portal.api.workers import serve_workers  # noqa: PLC0415 - as above

        print(f"ecusim: {args.workers} worker processes", flush=True)
        serve_workers(
            sock,
            args.workers,
            db_url=engine.url.render_as_string(hide_password=False),
            secret_file=secrets.source,
            **proxy,
        )
    return 0


def _staff_set(engine: Engine, args: argparse.Namespace) -> int:
    staff = _portal(engine, _issuing_secrets(args).master_secret).change_staff(
        "cli", args.username, enrolled=args.enrolled, job_title=args.job_title, admin=True
    )
    role = "manager" if staff.can_approve else "technician"
    enrolled = "enrolled" if staff.enrolled else "not enrolled"
    print(
        f"staff {staff.username} of dealer {staff.dealer_code}: {staff.job_title}, {role}, "
        f"{enrolled}; their login sessions are revoked"
    )
    return 0


def _scripting(engine: Engine, args: argparse.Namespace) -> int:
    command = args.portal_command
    if command == "staff" and args.staff_command == "set":
        return _staff_set(engine, args)
    if command == "staff" and args.password is None and args.password_file is None:
        password: str | None = _password(args, confirm=True)
    elif command in ("staff", "passcode"):
        password = _password(args)
    else:
        password = None
    secrets = _issuing_secrets(args)
    portal = _portal(engine, secrets.master_secret)
    if command == "dealer":
        dealer = portal.enroll_dealer(args.code, args.name, actor="cli")
        print(f"dealer {dealer.code} enrolled: {dealer.name}")
    elif command == "staff":
        assert password is not None
        staff = portal.add_staff(
            args.dealer,
            args.username,
            args.name,
            args.job_title,
            password,
            enrolled=not args.not_enrolled,
            actor="cli",
        )
        role = "manager" if staff.can_approve else "technician"
        enrolled = "enrolled" if staff.enrolled else "not enrolled"
        print(f"staff {staff.username} added to dealer {staff.dealer_code}: {role}, {enrolled}")
    elif command == "request":
        confirmations = (
            IdentificationConfirmations.all_confirmed()
            if args.confirmed
            else IdentificationConfirmations()
        )
        request = portal.create_request(
            args.user, args.vin, args.repair_order, args.customer, confirmations
        )
        print(_describe(request))
    elif command == "approve":
        approvals = (
            ApprovalConfirmations.all_confirmed() if args.confirmed else ApprovalConfirmations()
        )
        print(_describe(portal.approve(args.user, args.number, approvals)))
    elif command == "refuse":
        print(_describe(portal.refuse(args.user, args.number, args.reason)))
    elif command == "close":
        print(_describe(portal.close_approval(args.user, args.number, args.note)))
    else:  # passcode
        assert password is not None
        issued = portal.issue_pass_code(
            args.user, args.number, password, args.tool_version, args.seed
        )
        _say_if_lab(secrets, sys.stderr)  # stdout carries the code alone; a failure, one line
        print(issued.pass_code)
    return 0


def _audit_notes(secrets: Secrets, legacy: int) -> None:
    """On stderr: a chain keyed with the public lab secret proves little; an intact chain's
    legacy records are sealed by the keyed record after them (docs/portal-security.md)."""
    if secrets.source is None:
        print(f"ecusim: note: the audit chain is {AUDIT_LAB_NOTICE}", file=sys.stderr)
    if legacy:
        print(
            f"ecusim: note: records 1..{legacy} are of the unkeyed legacy scheme (sha256), "
            f"sealed by keyed record {legacy + 1}: anchors taken since protect them too",
            file=sys.stderr,
        )


def _audit_verify(engine: Engine, args: argparse.Namespace) -> int:
    secrets = load_secrets(args)
    path: Path | None = args.anchor
    try:
        given = anchors.read_anchors(path) if path is not None else []
    except anchors.AnchorFileError as exc:
        raise CliError(f"--anchor: {path}: {exc}", USAGE) from None
    _require_schema(engine)
    with make_session_factory(engine)() as session, session.begin():
        result = anchors.verify(session, secrets.master_secret, given)
    _audit_notes(secrets, result.legacy if result.ok else 0)
    if result.ok:
        print(f"audit log intact ({result.records} records, {result.anchors} anchors)")
        return 0
    for problem in (*result.problems, *result.anchor_problems):
        print(problem)
    if result.problems:
        where = f"record {result.problems[0].seq}"
    else:
        where = f"anchor line {result.anchor_problems[0].line}"
    count = len(result.problems) + len(result.anchor_problems)
    print(f"audit log BROKEN: {count} problem(s), the first at {where}")
    return 1


def _audit_anchor(engine: Engine, args: argparse.Namespace) -> int:
    secrets = load_secrets(args)
    _require_schema(engine)
    with make_session_factory(engine)() as session, session.begin():
        chain = audit.check(session, audit.audit_key(secrets.master_secret))
        if chain.problems:
            raise CliError(
                f"audit log BROKEN ({len(chain.problems)} problem(s), the first: "
                f"{chain.problems[0]}): not anchored"
            )
        anchor = anchors.make_anchor(session, secrets.master_secret, datetime.now(UTC))
    _audit_notes(secrets, chain.legacy)
    output: Path | None = args.output
    if output is None:
        print(anchors.anchor_line(anchor))
        return 0
    try:
        anchors.append_anchor(output, anchor)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc
    print(f"anchored record {anchor.seq} ({anchor.hash[:16]}…) in {output}")
    return 0


def _report(engine: Engine, args: argparse.Namespace) -> int:
    if args.report_command == "nicb":
        since, until = _date(args.since, "--since"), _date(args.until, "--until")
        _require_schema(engine)
        with make_session_factory(engine)() as session, session.begin():
            text = reports.nicb_csv(reports.nicb_export(session, since, until))
        _write(text, args.output)
        return 0
    year, month = _month(args.month)
    _require_schema(engine)
    with make_session_factory(engine)() as session, session.begin():
        report = reports.monthly_report(session, args.dealer, year, month)
    render = {
        "text": reports.monthly_report_text,
        "csv": reports.monthly_report_csv,
        "html": reports.monthly_report_html,
    }[args.format]
    _write(render(report), args.output)
    return 0


def run(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        command = args.portal_command
        if command == "init":
            return _init(engine, args)
        if command == "serve":
            return _serve(engine, args)
        if command == "audit":
            if args.audit_command == "anchor":
                return _audit_anchor(engine, args)
            return _audit_verify(engine, args)
        if command == "report":
            return _report(engine, args)
        return _scripting(engine, args)
    except ValidationError as exc:
        raise CliError(str(exc), USAGE) from exc
    except PortalError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(f"portal database: {_one_line(exc)}") from exc
    finally:
        engine.dispose()
