"""Reports built from the audit log: the NICB transaction feed and the Monthly Vehicle Security
Transaction Report per dealer (bulletin: "Details of this transaction will be included in the
Monthly Vehicle Security Transaction Report sent to the Dealer GM. Also, a log of each transaction
is sent to the National Insurance Crime Bureau").

Both formats are [LAB]: documented in ``docs/portal.md``. Months are UTC calendar months. Cells
that a spreadsheet would run as a formula (starting ``= + - @``) are prefixed with ``'``.

The NICB export carries every transaction and every refused or failed attempt
(:data:`~ecusim.portal.models.Action.ATTEMPTS`), and ends with one row naming the audit chain's
head (:data:`HEAD_ACTION`): whoever keeps the export can later show that the log was rewritten
before that point (OWASP ASVS V7.3.3, docs/portal-security.md).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ecusim.portal import audit
from ecusim.portal.errors import NotFoundError, ValidationError
from ecusim.portal.models import Action, AuditRecord, Dealer

__all__ = [
    "ACTION_LABELS",
    "ATTEMPTS_LABEL",
    "HEAD_ACTION",
    "MONTHLY_COLUMNS",
    "NICB_ACTIONS",
    "NICB_COLUMNS",
    "MonthlyReport",
    "NicbExport",
    "Transaction",
    "month_bounds",
    "monthly_report",
    "monthly_report_csv",
    "monthly_report_html",
    "monthly_report_text",
    "nicb_csv",
    "nicb_export",
    "transactions",
]

NICB_COLUMNS = (
    "timestamp_utc",
    "dealer_code",
    "request_number",
    "action",
    "vin",
    "repair_order",
    "actor",
    "seed_sha256",
    "audit_seq",
    "audit_hash",
)
"""Columns of the NICB transaction-log export, in order."""
NICB_ACTIONS = Action.TRANSACTIONS + Action.ATTEMPTS
"""What the NICB export lists: the transactions and the refused or failed attempts."""
HEAD_ACTION = "audit-head"
"""``action`` of the export's last row: ``audit_seq`` and ``audit_hash`` of the chain's head
when the export was made (the whole log, every dealer's); its other cells are empty."""

MONTHLY_COLUMNS = (
    "timestamp_utc",
    "request_number",
    "action",
    "vin",
    "repair_order",
    "customer_last_name",
    "actor",
    "detail",
    "seed_sha256",
)
"""Columns of the monthly report's CSV form, in order."""


@dataclass(frozen=True)
class Transaction:
    """One vehicle security transaction (request, approval, refusal, pass-code issue, close)
    or refused or failed attempt (``dealer_code`` empty for an unknown username)."""

    at: datetime
    dealer_code: str
    request_number: str
    action: str
    vin: str
    repair_order: str
    actor: str
    seed_sha256: str
    customer_last_name: str
    detail: str
    """Manager and validity, refusal reason or tool version."""
    audit_seq: int
    audit_hash: str


def _detail(action: str, details: dict[str, object]) -> str:
    if action == Action.REQUEST:
        return f"requested by {details.get('technician', '')}"
    if action == Action.APPROVE:
        return f"approved by {details.get('manager', '')} until {details.get('valid_until', '')}"
    if action == Action.REFUSE:
        return f"refused by {details.get('manager', '')}: {details.get('reason', '')}"
    if action == Action.ISSUE:
        return f"scan tool {details.get('tool_version', '')}"
    return "; ".join(f"{key} {value}" for key, value in sorted(details.items()))


def transactions(
    session: Session,
    start: datetime,
    end: datetime,
    dealer_code: str | None = None,
    actions: tuple[str, ...] = NICB_ACTIONS,
) -> list[Transaction]:
    """Records of ``actions`` (default: transactions and attempts) with ``start`` ≤ time <
    ``end`` (aware datetimes), oldest first; of one dealer, or (``None``) of all, attempts
    without a dealer included."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError("period", "start and end must be timezone-aware")
    statement = (
        select(AuditRecord)
        .where(
            AuditRecord.action.in_(actions),
            AuditRecord.at >= start,
            AuditRecord.at < end,
        )
        .order_by(AuditRecord.seq)
    )
    if dealer_code is not None:
        statement = statement.where(AuditRecord.dealer_code == dealer_code)
    names: dict[str, str] = {}
    rows: list[Transaction] = []
    for record in session.scalars(statement):
        details = json.loads(record.details)
        number = record.request_number or ""
        if record.action == Action.REQUEST:
            names[number] = str(details.get("customer_last_name", ""))
        rows.append(
            Transaction(
                at=record.at,
                dealer_code=record.dealer_code or "",
                request_number=number,
                action=record.action,
                vin=record.vin or "",
                repair_order=record.repair_order or "",
                actor=record.actor,
                seed_sha256=record.seed_sha256 or "",
                customer_last_name=names.get(number, ""),
                detail=_detail(record.action, details),
                audit_seq=record.seq,
                audit_hash=record.hash,
            )
        )
    return rows


def _cell(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _csv(header: tuple[str, ...], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


@dataclass(frozen=True)
class NicbExport:
    """The rows of one NICB export and the chain's head, read in one transaction."""

    rows: tuple[Transaction, ...]
    head: audit.ChainHead


def nicb_export(
    session: Session, start: datetime, end: datetime, dealer_code: str | None = None
) -> NicbExport:
    """:func:`transactions` (with the attempts) and :func:`ecusim.portal.audit.head`."""
    rows = transactions(session, start, end, dealer_code)
    return NicbExport(tuple(rows), audit.head(session))


def nicb_csv(export: NicbExport) -> str:
    """The transaction-log export (:data:`NICB_COLUMNS`), CSV with CRLF line ends: a header,
    one row per transaction or attempt, and a last row whose action is :data:`HEAD_ACTION`."""
    head: dict[str, object] = {
        "action": HEAD_ACTION,
        "audit_seq": export.head.seq,
        "audit_hash": export.head.hash,
    }
    trailer = [head.get(column, "") for column in NICB_COLUMNS]
    return _csv(
        NICB_COLUMNS,
        [
            [
                row.at,
                row.dealer_code,
                row.request_number,
                row.action,
                row.vin,
                row.repair_order,
                row.actor,
                row.seed_sha256,
                row.audit_seq,
                row.audit_hash,
            ]
            for row in export.rows
        ]
        + [trailer],
    )


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of a UTC calendar month."""
    if not 1 <= month <= 12 or not 2000 <= year <= 9998:
        raise ValidationError("month", f"no month {year}-{month:02d}")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass(frozen=True)
class MonthlyReport:
    dealer_code: str
    dealer_name: str
    year: int
    month: int
    rows: tuple[Transaction, ...]
    attempts: int = 0
    """Refused or failed attempts of the dealer's staff that month (counted, not listed)."""

    @property
    def counts(self) -> dict[str, int]:
        """Number of transactions per action, every action present."""
        counter = Counter(row.action for row in self.rows)
        return {action: counter.get(action, 0) for action in Action.TRANSACTIONS}

    @property
    def vins(self) -> tuple[str, ...]:
        return tuple(sorted({row.vin for row in self.rows}))


def monthly_report(session: Session, dealer_code: str, year: int, month: int) -> MonthlyReport:
    """The Monthly Vehicle Security Transaction Report of one dealer for the Dealer GM."""
    dealer = session.get(Dealer, dealer_code)
    if dealer is None:
        raise NotFoundError(f"no dealer {dealer_code}", field="dealer_code")
    start, end = month_bounds(year, month)
    rows = transactions(session, start, end, dealer_code, Action.TRANSACTIONS)
    attempts = len(transactions(session, start, end, dealer_code, Action.ATTEMPTS))
    return MonthlyReport(dealer.code, dealer.name, year, month, tuple(rows), attempts)


def monthly_report_csv(report: MonthlyReport) -> str:
    """One line per transaction (:data:`MONTHLY_COLUMNS`)."""
    return _csv(
        MONTHLY_COLUMNS,
        [
            [
                row.at,
                row.request_number,
                row.action,
                row.vin,
                row.repair_order,
                row.customer_last_name,
                row.actor,
                row.detail,
                row.seed_sha256,
            ]
            for row in report.rows
        ],
    )


ACTION_LABELS = {
    Action.REQUEST: "Reset requests",
    Action.APPROVE: "Approvals",
    Action.REFUSE: "Refusals",
    Action.ISSUE: "Pass-codes issued",
    Action.CLOSE: "Approvals closed",
}
"""The report's summary line of each transaction action (text, HTML and the portal's page)."""
ATTEMPTS_LABEL = "Refused/failed tries"
"""The count of :data:`~ecusim.portal.models.Action.ATTEMPTS` (the NICB export lists them)."""


def monthly_report_text(report: MonthlyReport) -> str:
    """A plain-text form for reading or printing."""
    title = (
        f"Monthly Vehicle Security Transaction Report - {report.year}-{report.month:02d} (UTC)\n"
        f"Dealer {report.dealer_code} {report.dealer_name}"
    )
    lines = [title, ""]
    lines += [f"{ACTION_LABELS[action]:<20}{count:>6}" for action, count in report.counts.items()]
    lines += [f"{'Vehicles (VINs)':<20}{len(report.vins):>6}"]
    lines += [f"{ATTEMPTS_LABEL:<20}{report.attempts:>6}", ""]
    if not report.rows:
        lines.append("No transactions this month.")
    for row in report.rows:
        lines.append(
            f"{row.at:%Y-%m-%d %H:%M:%S}  {row.request_number:<11}  {row.action:<7}  {row.vin}  "
            f"RO {row.repair_order}  {row.customer_last_name}  by {row.actor}: {row.detail}"
            + (f"  seed sha256 {row.seed_sha256[:16]}…" if row.seed_sha256 else "")
        )
    return "\n".join(lines) + "\n"


def monthly_report_html(report: MonthlyReport) -> str:
    """A self-contained HTML page (every value escaped)."""
    esc = html.escape
    head = "".join(f"<th>{esc(name)}</th>" for name in MONTHLY_COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(str(value))}</td>"
            for value in (
                f"{row.at:%Y-%m-%d %H:%M:%S}",
                row.request_number,
                row.action,
                row.vin,
                row.repair_order,
                row.customer_last_name,
                row.actor,
                row.detail,
                row.seed_sha256,
            )
        )
        + "</tr>"
        for row in report.rows
    )
    summary = (
        "".join(
            f"<li>{esc(ACTION_LABELS[action])}: {count}</li>"
            for action, count in report.counts.items()
        )
        + f"<li>{esc(ATTEMPTS_LABEL)}: {report.attempts}</li>"
    )
    title = esc(
        f"Monthly Vehicle Security Transaction Report {report.year}-{report.month:02d} - "
        f"{report.dealer_code} {report.dealer_name}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1><ul>{summary}</ul>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>\n"
    )
