"""Merge the area branches (naming, boundaries, facilities) into one head; audit rows tolerate text ids.

Revision ID: 0006
Revises: 0003, 0004, 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

from gis_api.audit.sql import FUNCTIONS

revision = "0006"
down_revision = ("0003", "0004", "0005")
branch_labels = None
depends_on = None

# 0001's version cast any ``id`` to bigint, which failed for tables keyed by text.
OLD_ROW_ID = "(r ->> 'id')::bigint"


def upgrade() -> None:
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(FUNCTIONS.replace("CASE WHEN r ->> 'id' ~ '^[0-9]+$' THEN (r ->> 'id')::bigint END", OLD_ROW_ID))
