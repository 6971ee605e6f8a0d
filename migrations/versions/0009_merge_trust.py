"""Merge the trust branches (0007 authentication hardening, 0008 text limits) into one head, and bound the text
columns 0007 added the way 0008 bounds the rest (``ck_<table>_<column>_len``; gis_api/limits.py COLUMN_LIMITS).

Revision ID: 0009
Revises: 0007, 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = ("0007", "0008")
branch_labels = None
depends_on = None

# A frozen copy of the auth rows of gis_api.limits.COLUMN_LIMITS as of this revision.
LIMITS: dict[str, dict[str, int]] = {
    "auth_throttle": {"scope": 64, "key": 200},
    "auth_events": {"event": 64, "username": 200, "actor": 200, "address": 200},
}


def upgrade() -> None:
    for table, cols in LIMITS.items():
        for column, n in cols.items():
            # Login attempts carry what a client typed; longer values are refused before they are stored.
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "ck_{table}_{column}_len" '
                       f'CHECK (char_length("{column}") <= {n}) NOT VALID')
            op.execute(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "ck_{table}_{column}_len"')


def downgrade() -> None:
    for table, cols in LIMITS.items():
        for column in cols:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "ck_{table}_{column}_len"')
