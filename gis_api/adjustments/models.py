"""Division adjustments (区划调整) as proposals, their lineage, and division seats (驻地)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.boundaries.models import Stamped
from gis_api.db import Base
from gis_api.versioning import ValidTime, valid_time_constraints


class AdjustmentKind(StrEnum):
    establish = "establish"  # 设立
    abolish = "abolish"  # 撤销
    merge = "merge"  # 合并 (= 撤销 + 设立, or absorbed into an existing division)
    rename = "rename"  # 更名
    reparent = "reparent"  # 隶属关系变更
    boundary_change = "boundary_change"  # 行政区域界线变更 (part of an area moves to a neighbour)
    seat_move = "seat_move"  # 驻地迁移
    geometry_correction = "geometry_correction"  # 测绘更正: not a legal change (record time only)


KIND_ZH = {
    AdjustmentKind.establish: "设立", AdjustmentKind.abolish: "撤销", AdjustmentKind.merge: "合并",
    AdjustmentKind.rename: "更名", AdjustmentKind.reparent: "隶属关系变更",
    AdjustmentKind.boundary_change: "行政区域界线变更", AdjustmentKind.seat_move: "驻地迁移",
    AdjustmentKind.geometry_correction: "测绘更正",
}


class AdjustmentStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    applied = "applied"
    withdrawn = "withdrawn"


class Adjustment(Stamped, Base):
    __tablename__ = "adjustments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="draft")
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    approving_authority: Mapped[str | None] = mapped_column(Text)
    document_no: Mapped[str | None] = mapped_column(Text)  # 批准文号
    approved_on: Mapped[dt.date | None] = mapped_column(Date)
    effective_date: Mapped[dt.date | None] = mapped_column(Date)
    impact: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    impact_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    proposed_by: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    applied_by: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "kind IN ('establish', 'abolish', 'merge', 'rename', 'reparent', 'boundary_change', 'seat_move', "
            "'geometry_correction')",
            name="kind_known",
        ),
        CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'applied', 'withdrawn')", name="status_known"
        ),
        Index("ix_adjustments_status", "status"),
    )


class DivisionLineage(Base):
    """Which code became which on which date, and why (codes are never reused, so this is the only link)."""

    __tablename__ = "division_lineage"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    adjustment_id: Mapped[int] = mapped_column(ForeignKey("adjustments.id"), nullable=False)
    effective_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    predecessor_code: Mapped[str] = mapped_column(String(12), nullable=False)
    successor_code: Mapped[str] = mapped_column(String(12), nullable=False)
    relation: Mapped[str] = mapped_column(Text, nullable=False)  # recoded | merged_into | area_to | renamed

    __table_args__ = (
        Index("ix_division_lineage_predecessor", "predecessor_code"),
        Index("ix_division_lineage_successor", "successor_code"),
    )


class DivisionSeat(ValidTime, Base):
    """驻地: where a division's government sits, valid-time versioned (moved by a 驻地迁移 adjustment)."""

    __tablename__ = "division_seats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), nullable=False)
    seat_name: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry(geometry_type="POINT", srid=4490, spatial_index=False), nullable=False)
    document_no: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        *valid_time_constraints("code", "division_seats_one_per_date"),
    )
