"""Request bodies of the coverage API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from gis_api.limits import Code, Name, Short


class CoverageQuery(BaseModel):
    """What to cover and how far: exactly one of ``radius_m``, ``network_m`` or a life-circle ``preset``."""

    facility_kind: Code
    radius_m: float | None = Field(default=None, gt=0, le=200_000, description="geodesic radius in metres")
    network_m: float | None = Field(default=None, gt=0, le=200_000, description="distance along the road network")
    preset: Code | None = Field(default=None, description="life circle: 5min, 10min, 15min (GB 50180) or rural")
    network: Code | None = Field(default=None, description="road network name or id (network_m)")
    directed: bool = Field(default=False, description="respect one-way streets (measured from the facility)")
    as_of: dt.date | None = Field(default=None, description="facilities and villages in force on this date")
    demand: Code | None = Field(default="villages", description="'villages' (population) or a demand layer name")
    within: Code | None = Field(default=None, description="division code: only demand inside it")
    include_planned: bool = Field(default=False, description="count planned and under-construction facilities")


class CoverageRequest(CoverageQuery):
    service_areas: bool = Field(default=False, description="add service-area polygons (GeoJSON)")


class SuggestRequest(CoverageQuery):
    method: Literal["mclp", "lscp"] = "mclp"
    k: int | None = Field(default=None, ge=1, le=500, description="MCLP: number of new sites")
    target_share: float | None = Field(default=None, gt=0, le=1, description="LSCP: population share to reach")
    candidates: Literal["villages", "grid", "demand"] = "villages"
    grid_m: float = Field(default=2000.0, ge=100, le=50_000, description="grid cell size (candidates=grid)")
    time_limit_s: float | None = Field(default=None, gt=0, le=3600)


class DemandLayerIn(BaseModel):
    name: Name = Field(min_length=1)
    features: dict[str, Any] = Field(description="GeoJSON FeatureCollection of points or polygons (lon/lat)")
    weight_property: Short = Field(min_length=1, description="property holding the weight (e.g. population)")
    weight_label: Name | None = None
    code_property: Short | None = None
    name_property: Short | None = None
    source: Short = Field(min_length=1, description="where the layer comes from; say 'synthetic' when it is")
    replace: bool = False


class LineNetworkIn(BaseModel):
    name: Name = Field(min_length=1)
    lines: dict[str, Any] = Field(description="GeoJSON FeatureCollection of noded LineStrings (lon/lat)")
    cost_property: Short | None = Field(default=None, description="edge cost in metres; default geodesic length")
    oneway_property: Short | None = None
    source: Short = Field(min_length=1)
    replace: bool = False
