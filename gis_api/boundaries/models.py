"""Boundary lines (行政区域界线), their geometry versions, markers (界桩), joint inspections, patrols, issues.

A line has a stable ``line_id`` derived from the pair of divisions it separates; its geometry lives in
``boundary_line_versions`` (one row per valid-time interval), so re-deriving after an adjustment closes the
old geometry and opens a new one while the line record (agreement, responsible sides, inspections) stays.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base
from gis_api.versioning import RecordVersion, ValidTime, valid_time_constraints

SRID = 4490
MARKER_ID_PATTERN = r"^\d{4}\d{3}[QABCDE]$"  # domain.md §5 (GB/T 17796-2009)


class MarkerStatus(StrEnum):
    intact = "intact"  # 完好
    damaged = "damaged"  # 损坏
    moved = "moved"  # 移位
    missing = "missing"  # 丢失
    removed = "removed"  # 撤除 (by agreement)


MARKER_STATUS_ZH = {
    MarkerStatus.intact: "完好", MarkerStatus.damaged: "损坏", MarkerStatus.moved: "移位",
    MarkerStatus.missing: "丢失", MarkerStatus.removed: "撤除",
}


# Record version and record time (gis_api.versioning); the area's old name stays importable.
Stamped = RecordVersion


class BoundaryLine(Stamped, Base):
    """The line record: who is on each side and the archive (协议书, 界线详图, inspections)."""

    __tablename__ = "boundary_lines"

    line_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    left_code: Mapped[str] = mapped_column(String(12), nullable=False)
    right_code: Mapped[str | None] = mapped_column(String(12))  # NULL: outer edge (nothing loaded there)
    line_no: Mapped[str] = mapped_column(String(4), nullable=False)  # first 4 digits of marker IDs
    name: Mapped[str | None] = mapped_column(Text)
    agreement_ref: Mapped[str | None] = mapped_column(Text)  # 界线协议书
    agreement_signed_on: Mapped[dt.date | None] = mapped_column(Date)
    detail_map_ref: Mapped[str | None] = mapped_column(Text)  # 界线详图
    responsible_left: Mapped[str | None] = mapped_column(Text)
    responsible_right: Mapped[str | None] = mapped_column(Text)
    last_inspection_on: Mapped[dt.date | None] = mapped_column(Date)  # last joint inspection (联检)
    # A plan, not a record: the only boundary date that may lie after today (rule T1, domain.md).
    next_inspection_planned_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, nullable=False, server_default="derived")

    __table_args__ = (
        UniqueConstraint("line_no", name="uq_boundary_lines_line_no"),
        CheckConstraint(r"line_no ~ '^[0-9]{4}$'", name="line_no_format"),
        CheckConstraint("right_code IS NULL OR left_code < right_code", name="pair_ordered"),
        Index("ix_boundary_lines_left", "left_code"),
        Index("ix_boundary_lines_right", "right_code"),
        Index("ix_boundary_lines_level", "level"),
    )


class BoundaryLineVersion(ValidTime, Base):
    """The geometry of a line in one valid-time interval, oriented with ``left_code`` on its left."""

    __tablename__ = "boundary_line_versions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("boundary_lines.line_id"), nullable=False)
    geom: Mapped[Any] = mapped_column(
        Geometry(geometry_type="MULTILINESTRING", srid=SRID, spatial_index=False), nullable=False
    )
    length_m: Mapped[float] = mapped_column(Float, nullable=False)  # geodesic, CGCS2000 ellipsoid

    __table_args__ = (
        *valid_time_constraints("line_id", "boundary_line_versions_one_per_date"),
        Index("ix_boundary_line_versions_geom", "geom", postgresql_using="gist"),
        Index("ix_boundary_line_versions_line", "line_id", "valid_from"),
    )


class BoundaryMarker(ValidTime, Base):
    """A boundary marker (界桩): valid from its erection until removed; every change is audited."""

    __tablename__ = "boundary_markers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    marker_no: Mapped[str] = mapped_column(String(8), nullable=False, unique=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("boundary_lines.line_id"), nullable=False)
    type_letter: Mapped[str] = mapped_column(String(1), nullable=False)
    geom: Mapped[Any] = mapped_column(Geometry(geometry_type="POINT", srid=SRID, spatial_index=False), nullable=False)
    survey_method: Mapped[str] = mapped_column(Text, nullable=False)  # e.g. GNSS-RTK, 全站仪, 图解
    precision_m: Mapped[float] = mapped_column(Float, nullable=False)  # stated precision
    surveyed_on: Mapped[dt.date | None] = mapped_column(Date)
    coord_source: Mapped[str] = mapped_column(Text, nullable=False, server_default="CGCS2000")
    material: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="intact")
    photos: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(r"marker_no ~ '^[0-9]{4}[0-9]{3}[QABCDE]$'", name="marker_no_format"),
        CheckConstraint("type_letter = right(marker_no, 1)", name="type_letter_matches"),
        CheckConstraint(
            "status IN ('intact', 'damaged', 'moved', 'missing', 'removed')", name="status_known"
        ),
        CheckConstraint("precision_m >= 0", name="precision_nonnegative"),
        *valid_time_constraints(),
        Index("ix_boundary_markers_geom", "geom", postgresql_using="gist"),
        Index("ix_boundary_markers_line", "line_id"),
    )


class JointInspection(Stamped, Base):
    """A joint inspection (联检) of one line by both sides (domain.md §5)."""

    __tablename__ = "boundary_inspections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("boundary_lines.line_id"), nullable=False)
    inspected_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, server_default="periodic")
    team_left: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    team_right: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    landmarks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")  # 方位物
    feature_changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    one_sided_markers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    structures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    disputes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    signatures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    filed_on: Mapped[dt.date | None] = mapped_column(Date)
    filing_ref: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        CheckConstraint("kind IN ('periodic', 'flood', 'works', 'other')", name="kind_known"),
        Index("ix_boundary_inspections_line", "line_id", "inspected_on"),
    )


class InspectionFinding(Base):
    """What an inspection found at one marker."""

    __tablename__ = "boundary_inspection_findings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("boundary_inspections.id", ondelete="CASCADE"), nullable=False
    )
    marker_no: Mapped[str] = mapped_column(String(8), nullable=False)
    present: Mapped[bool] = mapped_column(Boolean, nullable=False)
    damaged: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    moved: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    legible: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    cleared: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    photo: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("inspection_id", "marker_no", name="uq_boundary_inspection_findings_marker"),
    )


class Patrol(Base):
    """An uploaded GPX patrol track and what it covered."""

    __tablename__ = "boundary_patrols"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("boundary_lines.line_id"), nullable=False)
    patrolled_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    patrolled_by: Mapped[str] = mapped_column(Text, nullable=False)
    file_name: Mapped[str | None] = mapped_column(Text)
    track: Mapped[Any] = mapped_column(
        Geometry(geometry_type="MULTILINESTRING", srid=SRID, spatial_index=False), nullable=False
    )
    track_length_m: Mapped[float] = mapped_column(Float, nullable=False)
    buffer_m: Mapped[float] = mapped_column(Float, nullable=False)
    line_length_m: Mapped[float] = mapped_column(Float, nullable=False)
    covered_m: Mapped[float] = mapped_column(Float, nullable=False)
    coverage: Mapped[float] = mapped_column(Float, nullable=False)
    markers_visited: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("coverage >= 0 AND coverage <= 1", name="coverage_share"),
        Index("ix_boundary_patrols_line", "line_id", "patrolled_on"),
    )


class BoundaryIssue(Stamped, Base):
    """An open or resolved problem on a line: disputes, risks, damaged/missing/displaced markers."""

    __tablename__ = "boundary_issues"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("boundary_lines.line_id"), nullable=False)
    marker_no: Mapped[str | None] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    risk: Mapped[str] = mapped_column(Text, nullable=False, server_default="medium")
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="open")
    opened_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    resolved_on: Mapped[dt.date | None] = mapped_column(Date)
    resolution: Mapped[str | None] = mapped_column(Text)
    distance_m: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any | None] = mapped_column(Geometry(geometry_type="POINT", srid=SRID, spatial_index=False))
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_inspections.id", ondelete="SET NULL"))
    patrol_id: Mapped[int | None] = mapped_column(ForeignKey("boundary_patrols.id", ondelete="SET NULL"))
    # The same open problem found again (another inspection, another patrol) updates the issue: when, how often.
    last_reported_on: Mapped[dt.date | None] = mapped_column(Date)
    reports: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")

    __table_args__ = (
        CheckConstraint(
            "kind IN ('dispute', 'risk', 'marker_damaged', 'marker_missing', 'marker_moved', 'marker_illegible', "
            "'marker_overgrown', 'displacement', 'structure', 'one_sided_marker', 'feature_change', 'other')",
            name="kind_known",
        ),
        CheckConstraint("status IN ('open', 'resolved')", name="status_known"),
        CheckConstraint("risk IN ('low', 'medium', 'high')", name="risk_known"),
        CheckConstraint("reports >= 1", name="reports_positive"),
        Index("ix_boundary_issues_line", "line_id", "status"),
        Index("uq_boundary_issues_open_marker_kind", "marker_no", "kind", unique=True,
              postgresql_where=text("status = 'open' AND marker_no IS NOT NULL")),
    )

