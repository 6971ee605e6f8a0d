"""Request bodies for places (responses are GeoJSON built in SQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_api.divisions.schemas import ChangeMode
from gis_api.limits import Code, LongText, Name, Romanized, Short, Text
from gis_api.places.models import PlaceStatus, VariantKind


class GazetteerSettings(BaseSettings):
    """``DIMING_GAZETTEER_*``: whose gazetteer this is. A county's gazetteer holds its own names (domain.md G1)."""

    model_config = SettingsConfigDict(env_prefix="DIMING_GAZETTEER_", extra="ignore")

    county: str = Field(default="340122", pattern=r"^\d{6}$",
                        description="GB/T 2260 code of the county whose names this gazetteer holds")
    typo_max_edits: int = Field(default=1, ge=0, le=5, description=(
        "R2: characters a confirmed correction of a standard name may change (per 3 characters of the name; "
        "a same-sounding spelling also counts as a typo)"))


class RegisterFields(BaseModel):
    """Census-register fields (domain.md §1.5); all optional on input."""

    meaning: Text | None = Field(default=None, description="地名含义")
    history: LongText | None = Field(default=None, description="历史沿革")
    description: Text | None = Field(default=None, description="地理实体描述")
    sources: Text | None = Field(default=None, description="资料来源")
    usage: Code | None = Field(default=None, description="使用时间: 现今 / 历史")
    registered_on: dt.date | None = Field(default=None, description="登记时间")
    registered_by: Short | None = Field(default=None, description="登记人")
    registering_unit: Short | None = Field(default=None, description="登记单位")
    named_on: dt.date | None = Field(default=None, description="命名时间")
    established_year: int | None = Field(default=None, ge=1, le=2100)
    abolished_year: int | None = Field(default=None, ge=1, le=2100)
    coord_method: Code | None = Field(default=None, description="测量方法: 实测 / 图解 / 其他")
    coord_precision_m: float | None = Field(default=None, ge=0)
    elevation_m: float | None = None
    sign_count: int | None = Field(default=None, ge=0)
    minority_script: Short | None = None
    language: Code | None = None
    remarks: Text | None = None


REGISTER_FIELDS = tuple(RegisterFields.model_fields)


class VariantIn(BaseModel):
    kind: VariantKind
    name: Name = Field(min_length=1)
    language: Code = "zh"
    script: Code = "Hans"
    romanized: Romanized | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    note: Text | None = None


class PlaceCreate(RegisterFields):
    name: Name = Field(max_length=100)
    category_code: Code
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON in lon/lat (CGCS2000 ≈ CRS84)")
    division_code: Code | None = Field(default=None, description="stated division; checked against the geometry")
    status: PlaceStatus = PlaceStatus.standard
    romanized: Romanized | None = Field(default=None, description="an officer's spelling; wins over the automatic one")
    source: Short = "officer"
    valid_from: dt.date | None = Field(default=None, description="default today")
    variants: list[VariantIn] = Field(default_factory=list)
    reason: Text = Field(min_length=1, description="why, for the audit trail")


class PlaceUpdate(RegisterFields):
    mode: ChangeMode = ChangeMode.correction
    effective_date: dt.date | None = None
    reason: Text = Field(min_length=1)
    name: Name | None = Field(default=None)
    category_code: Code | None = None
    geometry: dict[str, Any] | None = None
    division_code: Code | None = None
    status: PlaceStatus | None = None
    romanized: Romanized | None = None
    source: Short | None = None


class PlaceRetire(BaseModel):
    effective_date: dt.date
    reason: Text = Field(min_length=1)


class ProtectionIn(BaseModel):
    category: Code = Field(min_length=1, description="e.g. 千年古镇, 红色地名 (domain.md §1.4)")
    listed_on: dt.date
    measures: Text | None = Field(default=None, description="protective measures taken")
    measures_recorded_on: dt.date | None = None
    note: Text | None = None
    reason: Text = Field(min_length=1)


class NameCheckIn(BaseModel):
    name: Name = Field(min_length=1)
    category: Code | None = Field(default=None, description="category code (for size rules and N7 scope)")
    division_code: Code | None = Field(default=None, description="where the entity lies (N7 scope)")
    attrs: dict[str, float] | None = Field(default=None, description="land_area_m2, floor_area_m2, storeys")
    place_id: int | None = Field(default=None, description="the place itself, when re-checking it")
