"""The portal's first tables: dealers, staff, requests, approvals, issues, audit chain.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ecusim.portal.models import GENESIS_HASH, UtcDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "dealer",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_dealer"),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dealer_code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("job_title", sa.String(60), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("enrolled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_code"], ["dealer.code"], name="fk_staff_dealer_code_dealer"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
        sa.UniqueConstraint("username", name="uq_staff_username"),
    )
    op.create_index("ix_staff_dealer_code", "staff", ["dealer_code"])
    op.create_table(
        "reset_request",
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("dealer_code", sa.String(16), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("vin", sa.String(17), nullable=False),
        sa.Column("repair_order", sa.String(60), nullable=False),
        sa.Column("customer_last_name", sa.String(60), nullable=False),
        sa.Column("confirm_customer_authority", sa.Boolean(), nullable=False),
        sa.Column("confirm_customer_identity", sa.Boolean(), nullable=False),
        sa.Column("confirm_vehicle_registration", sa.Boolean(), nullable=False),
        sa.Column("confirm_terms", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("refused_by_id", sa.Integer(), nullable=True),
        sa.Column("refused_at", UtcDateTime(), nullable=True),
        sa.Column("refusal_reason", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_code"], ["dealer.code"], name="fk_reset_request_dealer_code_dealer"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"], ["staff.id"], name="fk_reset_request_technician_id_staff"
        ),
        sa.ForeignKeyConstraint(
            ["refused_by_id"], ["staff.id"], name="fk_reset_request_refused_by_id_staff"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_reset_request"),
    )
    op.create_index("ix_reset_request_dealer_code", "reset_request", ["dealer_code"])
    op.create_index("ix_reset_request_technician_id", "reset_request", ["technician_id"])
    op.create_index("ix_reset_request_vin", "reset_request", ["vin"])
    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_number", sa.String(16), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=False),
        sa.Column("confirm_details_verified", sa.Boolean(), nullable=False),
        sa.Column("confirm_nicb_log", sa.Boolean(), nullable=False),
        sa.Column("confirm_terms", sa.Boolean(), nullable=False),
        sa.Column("approved_at", UtcDateTime(), nullable=False),
        sa.Column("valid_until", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_number"],
            ["reset_request.number"],
            name="fk_approval_request_number_reset_request",
        ),
        sa.ForeignKeyConstraint(["manager_id"], ["staff.id"], name="fk_approval_manager_id_staff"),
        sa.PrimaryKeyConstraint("id", name="pk_approval"),
        sa.UniqueConstraint("request_number", name="uq_approval_request_number"),
    )
    op.create_index("ix_approval_manager_id", "approval", ["manager_id"])
    op.create_table(
        "pass_code_issue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=False),
        sa.Column("technician_id", sa.Integer(), nullable=False),
        sa.Column("seed_sha256", sa.String(64), nullable=False),
        sa.Column("tool_version", sa.String(32), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approval_id"], ["approval.id"], name="fk_pass_code_issue_approval_id_approval"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"], ["staff.id"], name="fk_pass_code_issue_technician_id_staff"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pass_code_issue"),
    )
    op.create_index("ix_pass_code_issue_approval_id", "pass_code_issue", ["approval_id"])
    op.create_table(
        "audit_record",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("dealer_code", sa.String(16), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("request_number", sa.String(16), nullable=True),
        sa.Column("vin", sa.String(17), nullable=True),
        sa.Column("repair_order", sa.String(60), nullable=True),
        sa.Column("seed_sha256", sa.String(64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_record"),
        sa.UniqueConstraint("hash", name="uq_audit_record_hash"),
    )
    op.create_index("ix_audit_record_at", "audit_record", ["at"])
    op.create_index("ix_audit_record_dealer_code", "audit_record", ["dealer_code"])
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    for table in (
        "audit_head",
        "audit_record",
        "pass_code_issue",
        "approval",
        "reset_request",
        "staff",
        "dealer",
    ):
        op.drop_table(table)
