"""Administrative divisions, time-versioned: one row per (code, valid-time interval)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base
from gis_api.versioning import ValidTime, valid_time_constraints

SRID = 4490  # CGCS2000, the storage CRS (domain.md §7)


class Level(StrEnum):
    province = "province"
    prefecture = "prefecture"
    county = "county"
    township = "township"
    village = "village"


LEVEL_ZH = {
    Level.province: "省级",
    Level.prefecture: "地级",
    Level.county: "县级",
    Level.township: "乡级",
    Level.village: "村级",
}

# domain.md §4: GB/T 2260 six digits; NBS statistical codes add 3 (township) and 3 (village) digits.
CODE_LENGTH = {
    Level.province: 6,
    Level.prefecture: 6,
    Level.county: 6,
    Level.township: 9,
    Level.village: 12,
}
PARENT_LEVEL = {
    Level.prefecture: Level.province,
    Level.county: Level.prefecture,
    Level.township: Level.county,
    Level.village: Level.township,
}
# How many leading digits a child shares with its parent's code.
PARENT_PREFIX = {Level.prefecture: 2, Level.county: 4, Level.township: 6, Level.village: 9}

KINDS: dict[Level, tuple[str, ...]] = {
    Level.province: ("省", "自治区", "直辖市", "特别行政区"),
    Level.prefecture: ("地级市", "地区", "自治州", "盟"),
    Level.county: ("县", "区", "县级市", "自治县", "旗", "自治旗", "林区", "特区"),
    Level.township: ("镇", "乡", "民族乡", "街道", "苏木", "开发区", "区公所"),
    Level.village: ("居委会", "村委会"),
}


class Division(ValidTime, Base):
    __tablename__ = "divisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(String(12))
    geom: Mapped[object | None] = mapped_column(
        Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False), nullable=True
    )
    population: Mapped[int | None] = mapped_column(Integer)
    document_no: Mapped[str | None] = mapped_column(Text)  # 文号 of the legal act that opened this version

    __table_args__ = (
        CheckConstraint(r"code ~ '^([0-9]{6}|[0-9]{9}|[0-9]{12})$'", name="code_format"),
        CheckConstraint(
            "level IN ('province', 'prefecture', 'county', 'township', 'village')", name="level_known"
        ),
        CheckConstraint(
            "geom IS NULL OR GeometryType(geom) IN ('MULTIPOLYGON', 'POINT')", name="geom_type"
        ),
        CheckConstraint("population IS NULL OR population >= 0", name="population_nonnegative"),
        # One version of a code at any date.
        *valid_time_constraints("code", "divisions_one_version_per_date"),
        Index("ix_divisions_geom", "geom", postgresql_using="gist"),
        Index("ix_divisions_parent_code", "parent_code", "valid_from"),
        Index("ix_divisions_level", "level", "code"),
    )


class DivisionCode(Base):
    """Registry of every code ever used: a retired code is never given out again (domain.md §4)."""

    __tablename__ = "division_codes"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    first_valid_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    retired_on: Mapped[dt.date | None] = mapped_column(Date)
    retired_document: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
