"""In the field (issue 16): attachments stored by content hash with their EXIF, links to boundary records, and the
changes applied from phones' offline queues (change id = idempotency key, with the result a replay returns).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Frozen copy of limits.COLUMN_LIMITS for these tables (the constraints of migration 0008's kind).
LENGTHS = {
    "field_attachments": {"sha256": 64, "content_type": 200, "uploaded_by": 64},
    "field_attachment_links": {"sha256": 64, "target_kind": 64, "target_key": 64, "caption": 4000, "linked_by": 64},
    "field_changes": {"change_id": 64, "username": 64, "kind": 64, "digest": 64, "device": 64},
}


def upgrade() -> None:
    op.create_table(
        "field_attachments",
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("exif", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exif_geom", Geometry(geometry_type="POINT", srid=4490, spatial_index=False), nullable=True),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="ck_field_attachments_sha256_hex"),
        sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')",
                           name="ck_field_attachments_content_type_known"),
        sa.CheckConstraint("size_bytes > 0", name="ck_field_attachments_size_positive"),
        sa.PrimaryKeyConstraint("sha256", name="pk_field_attachments"),
    )
    op.create_table(
        "field_attachment_links",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("target_kind", sa.Text(), nullable=False),
        sa.Column("target_key", sa.Text(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("linked_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("target_kind IN ('marker', 'inspection', 'patrol', 'issue')",
                           name="ck_field_attachment_links_target_kind_known"),
        sa.ForeignKeyConstraint(["sha256"], ["field_attachments.sha256"],
                                name="fk_field_attachment_links_sha256_field_attachments"),
        sa.PrimaryKeyConstraint("id", name="pk_field_attachment_links"),
        sa.UniqueConstraint("sha256", "target_kind", "target_key", name="uq_field_attachment_links_target"),
    )
    op.create_index("ix_field_attachment_links_target", "field_attachment_links", ["target_kind", "target_key"])
    op.create_table(
        "field_changes",
        sa.Column("change_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("change_id ~ '^[A-Za-z0-9_-]{8,64}$'", name="ck_field_changes_change_id_format"),
        sa.PrimaryKeyConstraint("change_id", name="pk_field_changes"),
    )
    op.create_index("ix_field_changes_user", "field_changes", ["username", "applied_at"])
    for table, cols in LENGTHS.items():
        for column, n in cols.items():
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "ck_{table}_{column}_len" '
                       f'CHECK (char_length("{column}") <= {n})')


def downgrade() -> None:
    op.drop_index("ix_field_changes_user", table_name="field_changes")
    op.drop_table("field_changes")
    op.drop_index("ix_field_attachment_links_target", table_name="field_attachment_links")
    op.drop_table("field_attachment_links")
    op.drop_table("field_attachments")
