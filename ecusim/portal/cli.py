"""``ecusim portal …``: database set-up, audit verification and reports.

``add_subparser(subparsers)`` follows the other subcommand modules; ``ecusim/cli/main.py`` lists
this module in ``SUBCOMMANDS`` to expose it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ecusim.cli.errors import CliError
from ecusim.portal import audit, reports
from ecusim.portal.db import URL_ENV_VAR, database_url, make_engine, make_session_factory, upgrade
from ecusim.portal.errors import PortalError

__all__ = ["add_subparser", "run"]


def add_subparser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "portal", help="the dealer pass-code portal: database, audit log, reports"
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"database URL (default: ${URL_ENV_VAR}, else ./ecusim-portal.db); PostgreSQL: "
        "postgresql+psycopg://user:password@host/dbname",
    )
    actions = parser.add_subparsers(dest="portal_command", metavar="ACTION", required=True)
    actions.add_parser("init", help="create or migrate the portal's tables")
    audit_parser = actions.add_parser("audit", help="the tamper-evident audit log")
    audit_actions = audit_parser.add_subparsers(dest="audit_command", required=True)
    audit_actions.add_parser("verify", help="check the hash chain; exit status 1 if broken")
    report_parser = actions.add_parser("report", help="NICB export and monthly dealer report")
    report_actions = report_parser.add_subparsers(dest="report_command", required=True)
    nicb = report_actions.add_parser("nicb", help="transaction log export (CSV)")
    nicb.add_argument("--since", required=True, help="start date, YYYY-MM-DD (UTC, inclusive)")
    nicb.add_argument("--until", required=True, help="end date, YYYY-MM-DD (UTC, exclusive)")
    nicb.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    monthly = report_actions.add_parser("monthly", help="Monthly Vehicle Security Transaction")
    monthly.add_argument("dealer", help="dealer code")
    monthly.add_argument("month", help="YYYY-MM (UTC)")
    monthly.add_argument("--format", choices=("text", "csv", "html"), default="text")
    monthly.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.set_defaults(func=run)


def _date(text: str, field: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CliError(f"{field}: expected YYYY-MM-DD, got {text!r}") from None


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8", newline="")


def run(args: argparse.Namespace) -> int:
    try:
        engine = make_engine(database_url(args.db))
        if args.portal_command == "init":
            upgrade(engine)
            print(f"portal database ready: {engine.url.render_as_string(hide_password=True)}")
            return 0
        sessions = make_session_factory(engine)
        with sessions() as session, session.begin():
            if args.portal_command == "audit":
                problems = audit.verify(session)
                last = audit.head(session)
                for problem in problems:
                    print(problem)
                if problems:
                    print(f"audit log BROKEN: {len(problems)} problem(s)", file=sys.stderr)
                    return 1
                print(f"audit log intact: {last.seq} records, head {last.hash}")
                return 0
            if args.report_command == "nicb":
                since, until = _date(args.since, "--since"), _date(args.until, "--until")
                _write(reports.nicb_csv(reports.transactions(session, since, until)), args.output)
                return 0
            try:
                year, month = (int(part) for part in args.month.split("-"))
            except ValueError:
                raise CliError(f"month: expected YYYY-MM, got {args.month!r}") from None
            report = reports.monthly_report(session, args.dealer, year, month)
            render = {
                "text": reports.monthly_report_text,
                "csv": reports.monthly_report_csv,
                "html": reports.monthly_report_html,
            }[args.format]
            _write(render(report), args.output)
            return 0
    except PortalError as exc:
        raise CliError(str(exc)) from exc
    except (SQLAlchemyError, ValueError) as exc:
        raise CliError(f"portal database: {exc}") from exc
