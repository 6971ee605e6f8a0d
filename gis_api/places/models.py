"""The gazetteer: place names with their census-register fields, variants, protection and review flags.

``places`` is time-versioned like divisions: one row per (place_id, valid-time interval); ``place_id`` is
the stable identifier that survives renames. Search columns (pinyin, initials, normalised name, grams)
are filled on write so search is answered by indexes.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from gis_api.db import Base
from gis_api.versioning import ValidTime, valid_time_constraints

PLACE_ID_SEQ = Sequence("place_id_seq", metadata=Base.metadata)


class CorePoint(UserDefinedType[str]):
    """PostgreSQL's own ``point`` (two float8): its GiST opclass can return the value, so index-only scans."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "POINT"


class PlaceStatus(StrEnum):
    standard = "standard"  # 标准地名 (approved)
    pending = "pending"  # 待审 (in a naming procedure)
    non_standard = "non_standard"  # 不规范 (flagged by the clean-up campaign)
    historic = "historic"  # 历史地名


STATUS_ZH = {
    PlaceStatus.standard: "标准地名",
    PlaceStatus.pending: "待审批",
    PlaceStatus.non_standard: "不规范地名",
    PlaceStatus.historic: "历史地名",
}


class VariantKind(StrEnum):
    short = "简称"
    alias = "别名"
    former = "曾用名"
    historic = "历史名"
    map_name = "图上名称"


class FlagStatus(StrEnum):
    open = "open"
    renamed = "renamed"
    exempted = "exempted"
    retired = "retired"


class PlaceCategory(Base):
    """GB/T 18521-style hierarchical category codes, kept as data (domain.md §1.5)."""

    __tablename__ = "place_categories"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text, nullable=False)
    name_en: Mapped[str] = mapped_column(Text, nullable=False)
    census_class: Mapped[str | None] = mapped_column(Text)
    scope_kind: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    dup_scope: Mapped[str] = mapped_column(Text, nullable=False)  # N7: national|province|county|township
    parent_code: Mapped[str | None] = mapped_column(String(8))


class Place(ValidTime, Base):
    __tablename__ = "places"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    zhuanming: Mapped[str] = mapped_column(Text, nullable=False)
    tongming: Mapped[str] = mapped_column(Text, nullable=False)
    romanized: Mapped[str] = mapped_column(Text, nullable=False)
    romanized_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="auto")
    tongming_romanized: Mapped[str | None] = mapped_column(Text)
    category_code: Mapped[str] = mapped_column(ForeignKey("place_categories.code"), nullable=False)
    scope_kind: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="standard")
    geom: Mapped[object | None] = mapped_column(
        Geometry(geometry_type="GEOMETRY", srid=4490, spatial_index=False)
    )
    division_code: Mapped[str | None] = mapped_column(String(12))
    # Census register (domain.md §1.5)
    meaning: Mapped[str | None] = mapped_column(Text)  # 地名含义
    history: Mapped[str | None] = mapped_column(Text)  # 历史沿革
    description: Mapped[str | None] = mapped_column(Text)  # 地理实体描述
    sources: Mapped[str | None] = mapped_column(Text)  # 资料来源
    usage: Mapped[str] = mapped_column(Text, nullable=False, server_default="现今")  # 使用时间
    registered_on: Mapped[dt.date | None] = mapped_column(Date)  # 登记时间
    registered_by: Mapped[str | None] = mapped_column(Text)  # 登记人
    registering_unit: Mapped[str | None] = mapped_column(Text)  # 登记单位
    named_on: Mapped[dt.date | None] = mapped_column(Date)  # 命名时间
    established_year: Mapped[int | None] = mapped_column(SmallInteger)  # 设立年份
    abolished_year: Mapped[int | None] = mapped_column(SmallInteger)  # 废止年份
    coord_method: Mapped[str | None] = mapped_column(Text)  # 测量方法: 实测 / 图解
    coord_precision_m: Mapped[float | None] = mapped_column(Float)
    coord_system: Mapped[str] = mapped_column(Text, nullable=False, server_default="CGCS2000")
    elevation_m: Mapped[float | None] = mapped_column(Float)  # 高程
    sign_count: Mapped[int | None] = mapped_column(Integer)  # 标牌个数
    minority_script: Mapped[str | None] = mapped_column(Text)  # 民族文字
    language: Mapped[str | None] = mapped_column(Text)  # 语种
    remarks: Mapped[str | None] = mapped_column(Text)  # 备注
    # Search helpers, computed on write (places.searchkeys): exact keys (name, 专名, their pinyin and
    # initials), toneless pinyin (ü as v, as people type it), initials, and Chinese 1- and 2-grams.
    search_keys: Mapped[list[str]] = mapped_column(ARRAY(Text(collation="C")), nullable=False)
    pinyin: Mapped[str] = mapped_column(Text, nullable=False)
    initials: Mapped[str] = mapped_column(Text, nullable=False)
    grams: Mapped[list[str]] = mapped_column(ARRAY(Text(collation="C")), nullable=False)
    # N7 duplicate keys (namecheck.duplicate_key): normalised 专名, its toneless and dialect readings. The keys
    # here and above are compared for equality only: COLLATE "C" (memcmp; migration 0018).
    dup_specific: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    dup_pinyin: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    dup_dialect: Mapped[str] = mapped_column(Text(collation="C"), nullable=False)
    # A point geometry's x/y (NULL for lines, areas, no geometry), computed by PostgreSQL (migration 0016): its
    # GiST index carries the id and valid time, so an OGC bbox is counted and paged from the index alone.
    geom_pt: Mapped[str | None] = mapped_column(CorePoint(), Computed(
        "CASE WHEN GeometryType(geom) = 'POINT' THEN point(ST_X(geom), ST_Y(geom)) END", persisted=True),
        deferred=True)

    __table_args__ = (
        CheckConstraint(
            "status IN ('standard', 'pending', 'non_standard', 'historic')", name="status_known"
        ),
        CheckConstraint("scope_kind BETWEEN 1 AND 8", name="scope_kind_range"),
        CheckConstraint(
            "geom IS NULL OR GeometryType(geom) IN "
            "('POINT', 'LINESTRING', 'MULTILINESTRING', 'POLYGON', 'MULTIPOLYGON')",
            name="geom_type",
        ),
        CheckConstraint("coord_method IS NULL OR coord_method IN ('实测', '图解', '其他')", name="coord_method"),
        *valid_time_constraints(),
        # One version of a place on any date, over one core box (migration 0017: a far cheaper GiST than
        # btree_gist + daterange, the same guarantee).
        ExcludeConstraint((text("diming_version_box(place_id, valid_from, valid_to)"), "&&"),
                          name="places_one_version_per_date", using="gist"),
        Index("ix_places_place_id", "place_id", "valid_from"),
        Index("ix_places_geom", "geom", postgresql_using="gist"),
        Index("ix_places_geom_pt", "geom_pt", postgresql_using="gist",
              postgresql_include=["place_id", "id", "valid_from", "valid_to"]),
        Index("ix_places_geom_other", "geom", postgresql_using="gist", postgresql_where=text("geom_pt IS NULL")),
        Index("ix_places_division", "division_code"),
        Index("ix_places_category", "category_code"),
        Index("ix_places_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}),
        Index("ix_places_pinyin_prefix", "pinyin", postgresql_ops={"pinyin": "text_pattern_ops"}),
        Index("ix_places_initials_prefix", "initials", postgresql_ops={"initials": "text_pattern_ops"}),
        Index("ix_places_search_keys", "search_keys", postgresql_using="gin"),
        Index("ix_places_dup_specific", "dup_specific"),
        Index("ix_places_dup_pinyin", "dup_pinyin"),
        Index("ix_places_dup_dialect", "dup_dialect"),
        Index("ix_places_grams", "grams", postgresql_using="gin"),
        Index("ix_places_pinyin_trgm", "pinyin", postgresql_using="gin", postgresql_ops={"pinyin": "gin_trgm_ops"}),
        Index("ix_places_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
    )


class PlaceVariant(Base):
    """简称, 别名, 曾用名, historic names — each with language/script, romanisation and validity."""

    __tablename__ = "place_variants"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    language: Mapped[str] = mapped_column(Text, nullable=False, server_default="zh")
    script: Mapped[str] = mapped_column(Text, nullable=False, server_default="Hans")
    romanized: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("kind IN ('简称', '别名', '曾用名', '历史名', '图上名称')", name="kind_known"),
        Index("ix_place_variants_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_place_variants_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}),  # search
    )


class ProtectionListing(Base):
    """地名文化保护名录 entry (domain.md §1.4): a listed name is not renamed before measures are recorded."""

    __tablename__ = "place_protection"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    category: Mapped[str] = mapped_column(Text, nullable=False)
    listed_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    listed_by: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    measures_recorded_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class NameFlag(Base):
    """A 大/洋/怪/重 review flag of the clean-up campaign, tracked to its outcome (domain.md §2)."""

    __tablename__ = "name_flags"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    cls: Mapped[str] = mapped_column("class", Text, nullable=False)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    reason_zh: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="open")
    outcome_note: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'renamed', 'exempted', 'retired')", name="status_known"),
        CheckConstraint("class IN ('大', '洋', '怪', '重')", name="class_known"),
        # One flag per place, name and finding: re-running the campaign refreshes evidence, never duplicates.
        Index("uq_name_flags_identity", "place_id", "name", "class", "reason_zh", unique=True),
        Index("ix_name_flags_status", "status"),
    )


class NameCorrection(Base):
    """R2: an officer's typo correction of a standard name that came out of the naming procedure, waiting for a
    reviewer's sign-off (a second, logged-in user). ``changes`` is the PATCH body it applies, ``base_etag`` the
    place version it was made against: the confirmation writes through the places service with that If-Match."""

    __tablename__ = "place_name_corrections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    place_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    proposal_id: Mapped[int | None] = mapped_column(BigInteger)  # the naming proposal that approved old_name
    base_etag: Mapped[str] = mapped_column(Text, nullable=False)
    old_name: Mapped[str] = mapped_column(Text, nullable=False)
    new_name: Mapped[str] = mapped_column(Text, nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="pending")
    requested_by: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="status_known"),
        # One waiting correction per place: a second one would be based on the same version and collide.
        Index("uq_place_name_corrections_pending", "place_id", unique=True,
              postgresql_where=text("status = 'pending'")),
        Index("ix_place_name_corrections_status", "status", "id"),
    )
