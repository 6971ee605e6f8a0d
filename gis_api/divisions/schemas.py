"""Request bodies for divisions (responses are GeoJSON built in SQL)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from gis_api.divisions.models import Level
from gis_api.limits import Code, Name, Ref, Short, Text


class ChangeMode(StrEnum):
    correction = "correction"  # fix a recording mistake: record time only, same valid-time version
    legal = "legal"  # a legal change: closes the current version, opens a new one on effective_date


class DivisionCreate(BaseModel):
    code: Code = Field(description="6, 9 or 12 digits, as a string")
    name: Name
    level: Level
    kind: Code
    parent_code: Code | None = None
    geometry: dict[str, Any] | None = Field(
        default=None, description="GeoJSON MultiPolygon/Polygon/Point in lon/lat (CGCS2000 ≈ CRS84)"
    )
    population: int | None = Field(default=None, ge=0)
    source: Short
    valid_from: dt.date
    document_no: Ref | None = None
    reason: Text = Field(min_length=1, description="why, for the audit trail")


class DivisionUpdate(BaseModel):
    mode: ChangeMode = ChangeMode.correction
    effective_date: dt.date | None = Field(default=None, description="required for a legal change")
    document_no: Ref | None = None
    reason: Text = Field(min_length=1, description="why, for the audit trail")
    name: Name | None = None
    kind: Code | None = None
    geometry: dict[str, Any] | None = None
    population: int | None = Field(default=None, ge=0)
    source: Short | None = None


class DivisionRetire(BaseModel):
    effective_date: dt.date
    document_no: Ref | None = None
    reason: Text = Field(min_length=1)
