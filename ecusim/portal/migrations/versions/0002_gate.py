"""The portal's gate: server-side login sessions, the failure throttle, closing approvals and
the keyed audit chain's scheme column.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ecusim.portal.models import UtcDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "login_session",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("step_up_until", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_login_session_staff_id_staff"),
        sa.PrimaryKeyConstraint("id", name="pk_login_session"),
        sa.UniqueConstraint("token_sha256", name="uq_login_session_token_sha256"),
    )
    op.create_index("ix_login_session_staff_id", "login_session", ["staff_id"])
    op.create_table(
        "auth_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_failure"),
    )
    op.create_index("ix_auth_failure_at", "auth_failure", ["at"])
    op.create_index("ix_auth_failure_username", "auth_failure", ["username"])
    op.create_index("ix_auth_failure_client_address", "auth_failure", ["client_address"])
    with op.batch_alter_table("approval") as batch:
        batch.add_column(sa.Column("closed_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("closed_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_approval_closed_by_id_staff", "staff", ["closed_by_id"], ["id"]
        )
    op.create_index(
        "ix_pass_code_issue_approval_seed", "pass_code_issue", ["approval_id", "seed_sha256"]
    )
    with op.batch_alter_table("audit_record") as batch:
        batch.add_column(
            sa.Column("scheme", sa.String(16), nullable=False, server_default="sha256")
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_record") as batch:
        batch.drop_column("scheme")
    op.drop_index("ix_pass_code_issue_approval_seed", table_name="pass_code_issue")
    with op.batch_alter_table("approval") as batch:
        batch.drop_constraint("fk_approval_closed_by_id_staff", type_="foreignkey")
        batch.drop_column("closed_by_id")
        batch.drop_column("closed_at")
    op.drop_table("auth_failure")
    op.drop_table("login_session")
