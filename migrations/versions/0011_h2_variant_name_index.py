"""Search finds former names (issue 14): a btree on place_variants.name (text_pattern_ops) answers the exact,
prefix and look-alike lookups of a variant's name, as ix_places_name_prefix does for the names themselves.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_place_variants_name_prefix", "place_variants", ["name"], unique=False,
                    postgresql_ops={"name": "text_pattern_ops"})


def downgrade() -> None:
    op.drop_index("ix_place_variants_name_prefix", table_name="place_variants")
