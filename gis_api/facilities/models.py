"""Service facilities, cemeteries with parcels, and the constraint layers a planned parcel is checked against.

``facilities`` and ``cemeteries``/``cemetery_parcels`` are time-versioned like divisions and places: one row per
(stable id, valid-time interval), audited by the triggers of ``audit.sql.enable_tracking``. The facility kinds
and constraint layers are data tables, so a bureau can add a kind or a layer without a code change.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

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
    Sequence,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base
from gis_api.versioning import ValidTime, valid_time_constraints

SRID = 4490
MU_M2 = 10_000 / 15  # 1 亩 = 666.67 m² (domain.md §6)
FACILITY_ID_SEQ = Sequence("facility_id_seq", metadata=Base.metadata)
PARCEL_ID_SEQ = Sequence("parcel_id_seq", metadata=Base.metadata)


class FacilityStatus(StrEnum):
    planned = "planned"  # 规划
    under_construction = "under_construction"  # 在建
    open = "open"  # 运营
    suspended = "suspended"  # 暂停
    closed = "closed"  # 关闭


STATUS_ZH = {
    FacilityStatus.planned: "规划",
    FacilityStatus.under_construction: "在建",
    FacilityStatus.open: "运营",
    FacilityStatus.suspended: "暂停",
    FacilityStatus.closed: "关闭",
}


class CemeteryType(StrEnum):
    public = "public"  # 公益性公墓
    rural_public = "rural_public"  # 农村公益性墓地
    commercial = "commercial"  # 经营性公墓
    ash_hall = "ash_hall"  # 骨灰堂


class ParcelStatus(StrEnum):
    existing = "existing"  # 现状
    planned_extension = "planned_extension"  # 规划扩建
    approved = "approved"  # 已批准
    rejected = "rejected"  # 未批准


class FacilityKind(Base):
    """A kind of service facility (id, Chinese label); data, extendable by an administrator."""

    __tablename__ = "facility_kinds"

    # Stored as ``code``: the audit trigger reads a column named ``id`` as a bigint row id.
    id: Mapped[str] = mapped_column("code", Text, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text, nullable=False)
    name_en: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    default_radius_m: Mapped[float | None] = mapped_column(Float)
    sort_order: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="100")
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (CheckConstraint(r"code ~ '^[a-z][a-z0-9_]{1,63}$'", name="code_format"),)


class Facility(ValidTime, Base):
    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    facility_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(ForeignKey("facility_kinds.code"), nullable=False)
    geom: Mapped[object] = mapped_column(
        Geometry(geometry_type="POINT", srid=SRID, spatial_index=False), nullable=False
    )
    site_geom: Mapped[object | None] = mapped_column(
        Geometry(geometry_type="MULTIPOLYGON", srid=SRID, spatial_index=False)
    )
    division_code: Mapped[str | None] = mapped_column(String(12))
    address: Mapped[str | None] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    staff: Mapped[int | None] = mapped_column(Integer)
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="open")
    remarks: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "status IN ('planned', 'under_construction', 'open', 'suspended', 'closed')", name="status_known"
        ),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("staff IS NULL OR staff >= 0", name="staff_nonnegative"),
        *valid_time_constraints("facility_id", "facilities_one_version_per_date"),
        Index("ix_facilities_facility_id", "facility_id", "valid_from"),
        Index("ix_facilities_geom", "geom", postgresql_using="gist"),
        Index("ix_facilities_kind", "kind", "valid_from"),
        Index("ix_facilities_division", "division_code"),
    )


class Cemetery(ValidTime, Base):
    """Burial facts of a cemetery or ash hall; ``facility_id`` is the facility it describes (same stable id)."""

    __tablename__ = "cemeteries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    facility_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cemetery_type: Mapped[str] = mapped_column(Text, nullable=False)
    capacity_plots: Mapped[int | None] = mapped_column(Integer)
    occupied_plots: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    eco_burials: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")  # 节地生态安葬
    served_townships: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    approval_authority: Mapped[str | None] = mapped_column(Text)
    approval_doc: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "cemetery_type IN ('public', 'rural_public', 'commercial', 'ash_hall')", name="type_known"
        ),
        CheckConstraint("capacity_plots IS NULL OR capacity_plots >= 0", name="capacity_nonnegative"),
        CheckConstraint("occupied_plots >= 0 AND eco_burials >= 0", name="counts_nonnegative"),
        CheckConstraint("eco_burials <= occupied_plots", name="eco_within_occupied"),
        *valid_time_constraints("facility_id", "cemeteries_one_version_per_date"),
        Index("ix_cemeteries_facility_id", "facility_id", "valid_from"),
    )


class CemeteryParcel(ValidTime, Base):
    """A land parcel of a cemetery: existing, planned extension, approved or rejected."""

    __tablename__ = "cemetery_parcels"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    facility_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    geom: Mapped[object] = mapped_column(
        Geometry(geometry_type="MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False
    )
    plots_capacity: Mapped[int | None] = mapped_column(Integer)
    approval_doc: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "status IN ('existing', 'planned_extension', 'approved', 'rejected')", name="status_known"
        ),
        CheckConstraint("plots_capacity IS NULL OR plots_capacity >= 0", name="plots_nonnegative"),
        *valid_time_constraints("parcel_id", "cemetery_parcels_one_version_per_date"),
        Index("ix_cemetery_parcels_parcel_id", "parcel_id", "valid_from"),
        Index("ix_cemetery_parcels_facility_id", "facility_id"),
        Index("ix_cemetery_parcels_geom", "geom", postgresql_using="gist"),
    )


class ConstraintLayer(Base):
    """A configurable exclusion layer (domain.md §6: arable land, forest, water-source zones, buffers along
    railways and highways); ``buffer_m`` widens its features before the check."""

    __tablename__ = "constraint_layers"

    id: Mapped[str] = mapped_column("code", Text, primary_key=True)  # stored as ``code`` (see FacilityKind)
    name_zh: Mapped[str] = mapped_column(Text, nullable=False)
    name_en: Mapped[str] = mapped_column(Text, nullable=False)
    buffer_m: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    rule: Mapped[str] = mapped_column(Text, nullable=False, server_default="§6")
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(r"code ~ '^[a-z][a-z0-9_]{1,63}$'", name="code_format"),
        CheckConstraint("buffer_m >= 0", name="buffer_nonnegative"),
    )


class ConstraintFeature(Base):
    __tablename__ = "constraint_features"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("constraint_layers.code", ondelete="CASCADE"), nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[object] = mapped_column(
        Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False), nullable=False
    )
    source: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        Index("ix_constraint_features_layer_id", "layer_id"),
        Index("ix_constraint_features_geom", "geom", postgresql_using="gist"),
    )
