"""Tables of the field API: attachments (content-addressed), their links to boundary records, applied changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base

TARGET_KINDS = ("marker", "inspection", "patrol", "issue")


class FieldAttachment(Base):
    """One file, named by the SHA-256 of its bytes; the bytes live on disk (``gis_api.field.attachments``)."""

    __tablename__ = "field_attachments"

    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    content_type: Mapped[str] = mapped_column(Text, nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # What the camera recorded (kept here; stripped from the served copy).
    exif: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    exif_geom: Mapped[Any | None] = mapped_column(Geometry(geometry_type="POINT", srid=4490, spatial_index=False))
    uploaded_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False,
                                                    server_default=func.now())

    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),
        CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')",
                        name="content_type_known"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )


class FieldAttachmentLink(Base):
    """An attachment belongs to a marker, inspection, patrol or issue (one file may belong to several)."""

    __tablename__ = "field_attachment_links"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("field_attachments.sha256"), nullable=False)
    target_kind: Mapped[str] = mapped_column(Text, nullable=False)
    target_key: Mapped[str] = mapped_column(Text, nullable=False)
    caption: Mapped[str | None] = mapped_column(Text)
    linked_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False,
                                                    server_default=func.now())

    __table_args__ = (
        CheckConstraint("target_kind IN ('marker', 'inspection', 'patrol', 'issue')", name="target_kind_known"),
        UniqueConstraint("sha256", "target_kind", "target_key", name="uq_field_attachment_links_target"),
        Index("ix_field_attachment_links_target", "target_kind", "target_key"),
    )


class FieldChange(Base):
    """A change from a phone's queue that was applied: its id (the idempotency key) and the result sent back."""

    __tablename__ = "field_changes"

    change_id: Mapped[str] = mapped_column(Text, primary_key=True)
    username: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    digest: Mapped[str] = mapped_column(Text, nullable=False)  # SHA-256 of the change as sent (replay check)
    device: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False,
                                                    server_default=func.now())

    __table_args__ = (
        CheckConstraint("change_id ~ '^[A-Za-z0-9_-]{8,64}$'", name="change_id_format"),
        Index("ix_field_changes_user", "username", "applied_at"),
    )
