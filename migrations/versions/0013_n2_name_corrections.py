"""R2 second sign-off: an officer's typo correction of a standard name that came out of the naming procedure waits in
``place_name_corrections`` until a reviewer (another, logged-in user) confirms or rejects it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gis_api.audit.sql import enable_tracking

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Frozen copy of limits.COLUMN_LIMITS for this table (the constraints of migration 0008's kind).
LENGTHS = {"place_name_corrections": {"base_etag": 64, "old_name": 100, "new_name": 100, "reason": 4000,
                                      "status": 64, "requested_by": 64, "decided_by": 64, "decision_note": 4000}}


def upgrade() -> None:
    op.create_table(
        "place_name_corrections",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=False),
        sa.Column("proposal_id", sa.BigInteger(), nullable=True),
        sa.Column("base_etag", sa.Text(), nullable=False),
        sa.Column("old_name", sa.Text(), nullable=False),
        sa.Column("new_name", sa.Text(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'rejected')",
                           name="ck_place_name_corrections_status_known"),
        sa.PrimaryKeyConstraint("id", name="pk_place_name_corrections"),
    )
    op.create_index("uq_place_name_corrections_pending", "place_name_corrections", ["place_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_place_name_corrections_status", "place_name_corrections", ["status", "id"])
    for table, cols in LENGTHS.items():
        for column, n in cols.items():
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "ck_{table}_{column}_len" '
                       f'CHECK (char_length("{column}") <= {n})')
    # Versioned (the ETag a reviewer confirms) and audited under the place's id, next to the place's own history.
    op.execute(enable_tracking("place_name_corrections", "place_id"))


def downgrade() -> None:
    op.drop_index("ix_place_name_corrections_status", table_name="place_name_corrections")
    op.drop_index("uq_place_name_corrections_pending", table_name="place_name_corrections")
    op.drop_table("place_name_corrections")
