"""Request bodies for facilities, cemeteries, parcels and constraint layers (responses are GeoJSON built in SQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from gis_api.divisions.schemas import ChangeMode
from gis_api.facilities.models import CemeteryType, FacilityStatus, ParcelStatus
from gis_api.limits import LIST_LEN, Code, Name, Ref, Short, Text


class FacilityFields(BaseModel):
    address: Short | None = None
    capacity: int | None = Field(default=None, ge=0, description="places, beds or plots, by kind")
    staff: int | None = Field(default=None, ge=0)
    opened_on: dt.date | None = Field(default=None, description="opening date (开放时间)")
    remarks: Text | None = None


class FacilityCreate(FacilityFields):
    name: Name = Field(max_length=100)
    kind: Code = Field(description="a facility kind id (GET /api/v1/facilities/kinds)")
    geometry: dict[str, Any] = Field(description="GeoJSON Point, lon/lat (CGCS2000 ≈ CRS84)")
    site_geometry: dict[str, Any] | None = Field(default=None, description="site polygon when known")
    division_code: Code | None = Field(default=None, description="stated division; checked against the point")
    status: FacilityStatus = FacilityStatus.open
    source: Short = "planner"
    valid_from: dt.date | None = Field(default=None, description="default: opened_on, else today")
    reason: Text = Field(min_length=1, description="why, for the audit trail")


class FacilityUpdate(FacilityFields):
    mode: ChangeMode = ChangeMode.correction
    effective_date: dt.date | None = None
    reason: Text = Field(min_length=1)
    name: Name | None = Field(default=None)
    kind: Code | None = None
    geometry: dict[str, Any] | None = None
    site_geometry: dict[str, Any] | None = None
    division_code: Code | None = None
    status: FacilityStatus | None = None
    source: Short | None = None


class Retire(BaseModel):
    effective_date: dt.date
    reason: Text = Field(min_length=1)


class KindCreate(BaseModel):
    id: Code = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: Name = Field(min_length=1)
    name_en: Name = Field(min_length=1)
    category: Code = Field(min_length=1)
    default_radius_m: float | None = Field(default=None, gt=0)
    note: Text | None = None
    reason: Text = Field(min_length=1)


# -- cemeteries -------------------------------------------------------------------------------------------

class BurialFields(BaseModel):
    capacity_plots: int | None = Field(default=None, ge=0, description="墓位容量")
    occupied_plots: int | None = Field(default=None, ge=0, description="已安葬")
    eco_burials: int | None = Field(default=None, ge=0, description="节地生态安葬 among the occupied")
    served_townships: list[Code] | None = Field(
        max_length=LIST_LEN, default=None, description="township codes the cemetery serves")
    approval_authority: Short | None = None
    approval_doc: Ref | None = None
    remarks: Text | None = None


class ParcelIn(BaseModel):
    name: Name = Field(min_length=1)
    status: ParcelStatus = ParcelStatus.existing
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, lon/lat")
    plots_capacity: int | None = Field(default=None, ge=0)
    approval_doc: Ref | None = None
    remarks: Text | None = None
    valid_from: dt.date | None = None


class ParcelCreate(ParcelIn):
    reason: Text = Field(min_length=1)


class ParcelUpdate(BaseModel):
    mode: ChangeMode = ChangeMode.correction
    effective_date: dt.date | None = None
    reason: Text = Field(min_length=1)
    name: Name | None = Field(default=None)
    status: ParcelStatus | None = None
    geometry: dict[str, Any] | None = None
    plots_capacity: int | None = Field(default=None, ge=0)
    approval_doc: Ref | None = None
    remarks: Text | None = None


class CemeteryCreate(BurialFields):
    name: Name = Field(max_length=100)
    cemetery_type: CemeteryType = CemeteryType.public
    geometry: dict[str, Any] = Field(description="GeoJSON Point of the cemetery (entrance or centre)")
    division_code: Code | None = None
    address: Short | None = None
    opened_on: dt.date | None = None
    status: FacilityStatus = FacilityStatus.open
    source: Short = "planner"
    valid_from: dt.date | None = None
    parcels: list[ParcelIn] = Field(default_factory=list)
    reason: Text = Field(min_length=1)


class CemeteryUpdate(BurialFields):
    mode: ChangeMode = ChangeMode.correction
    effective_date: dt.date | None = None
    cemetery_type: CemeteryType | None = None
    reason: Text = Field(min_length=1)


class ExclusionCheckIn(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon to check")
    layers: list[Code] | None = Field(
        max_length=LIST_LEN, default=None, description="constraint layer ids; default every active layer")


class ConstraintLayerCreate(BaseModel):
    id: Code = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name_zh: Name = Field(min_length=1)
    name_en: Name = Field(min_length=1)
    buffer_m: float = Field(default=0.0, ge=0)
    active: bool = True
    note: Text | None = None
    reason: Text = Field(min_length=1)


class ConstraintLayerUpdate(BaseModel):
    name_zh: Name | None = None
    name_en: Name | None = None
    buffer_m: float | None = Field(default=None, ge=0)
    active: bool | None = None
    note: Text | None = None
    reason: Text = Field(min_length=1)


class ConstraintFeaturesIn(BaseModel):
    features: dict[str, Any] = Field(description="GeoJSON FeatureCollection (lon/lat); property 'name' is kept")
    source: Short = Field(min_length=1, description="where the layer comes from (survey, plan, synthetic…)")
    replace: bool = Field(default=False, description="delete the layer's features first")
    reason: Text = Field(min_length=1)
