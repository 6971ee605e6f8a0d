"""Auth hardening: login throttling state shared by all worker processes, and the authentication trail.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_throttle",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_auth_throttle"),
        sa.CheckConstraint("scope IN ('account', 'address')", name="ck_auth_throttle_scope_known"),
        sa.CheckConstraint("failures >= 0", name="ck_auth_throttle_failures_nonnegative"),
    )
    op.create_index("ix_auth_throttle_last_failure_at", "auth_throttle", ["last_failure_at"])
    op.create_table(
        "auth_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.clock_timestamp(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("username", sa.Text()),
        sa.Column("actor", sa.Text()),
        sa.Column("address", sa.Text()),
        sa.Column("detail", postgresql.JSONB()),
        sa.PrimaryKeyConstraint("id", name="pk_auth_events"),
    )
    op.create_index("ix_auth_events_username", "auth_events", ["username", "id"])
    op.create_index("ix_auth_events_at", "auth_events", ["at"])


def downgrade() -> None:
    op.drop_table("auth_events")
    op.drop_table("auth_throttle")
