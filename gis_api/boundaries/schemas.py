"""Request bodies for boundary lines, markers, inspections and issues (responses are GeoJSON/JSON)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gis_api.boundaries.models import MarkerStatus
from gis_api.limits import LIST_LEN, Code, Name, Ref, Short, Text


class CoordSystem(StrEnum):
    cgcs2000 = "CGCS2000"  # EPSG:4490 (≈ WGS84 at map scale)
    wgs84 = "WGS84"
    gcj02 = "GCJ-02"  # Amap/Tencent: converted at the edge, never stored (domain.md §7)


class LineUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, description="why, for the audit trail")
    name: Name | None = None
    agreement_ref: Ref | None = Field(default=None, description="界线协议书 reference")
    agreement_signed_on: dt.date | None = None
    detail_map_ref: Ref | None = Field(default=None, description="界线详图 reference")
    responsible_left: Short | None = Field(default=None, description="unit responsible on the left side")
    responsible_right: Short | None = Field(default=None, description="unit responsible on the right side")
    last_inspection_on: dt.date | None = Field(default=None, description="last joint inspection (from the archive)")
    next_inspection_planned_on: dt.date | None = Field(
        default=None, description="planned next joint inspection (a plan: the one date that may be in the future)")
    note: Text | None = None


class Photo(BaseModel):
    """Photo metadata; the file itself lives in the archive (``ref``)."""

    ref: Ref = Field(min_length=1, description="archive file name or URI")
    taken_on: dt.date | None = None
    taken_by: Short | None = None
    caption: Text | None = None
    sha256: Code | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class MarkerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marker_no: Code = Field(description="8 characters: line number (4 digits) + sequence (3) + type Q/A/B/C/D/E")
    line_id: Code
    lon: float
    lat: float
    coord_system: CoordSystem = CoordSystem.cgcs2000
    survey_method: Short = Field(min_length=1, description="e.g. GNSS-RTK, 全站仪, 图解")
    precision_m: float = Field(ge=0, description="stated precision of the surveyed position")
    surveyed_on: dt.date | None = None
    material: Short | None = Field(default=None, description="e.g. 花岗岩, 混凝土")
    status: MarkerStatus = MarkerStatus.intact
    photos: list[Photo] = Field(default_factory=list)
    valid_from: dt.date = Field(description="date the marker was erected (or registered)")
    source: Short = "survey"
    note: Text | None = None
    reason: Text = Field(min_length=1)


class MarkerChangeMode(StrEnum):
    correction = "correction"  # fix a recording mistake (e.g. a mistyped coordinate)
    relocation = "relocation"  # the marker was moved: both sides present, agreement recorded (domain.md §5)


class MarkerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1)
    mode: MarkerChangeMode = MarkerChangeMode.correction
    agreement_ref: Ref | None = Field(default=None, description="required for a relocation")
    both_sides_present: bool = False
    lon: float | None = None
    lat: float | None = None
    coord_system: CoordSystem = CoordSystem.cgcs2000
    survey_method: Short | None = None
    precision_m: float | None = Field(default=None, ge=0)
    surveyed_on: dt.date | None = None
    material: Short | None = None
    status: MarkerStatus | None = None
    photos: list[Photo] | None = None
    note: Text | None = None


class Team(BaseModel):
    unit: Short = Field(min_length=1, description="e.g. 肥东县民政局")
    leader: Short | None = None
    members: list[Name] = Field(max_length=LIST_LEN, default_factory=list)


class Finding(BaseModel):
    marker_no: Code
    present: bool = True
    damaged: bool = False
    moved: bool = False
    legible: bool = True
    cleared: bool = Field(default=True, description="surroundings cleared (无遮挡)")
    photo: Ref | None = None
    note: Text | None = None


class RiskLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class Dispute(BaseModel):
    description: Text = Field(min_length=1)
    risk: RiskLevel = RiskLevel.medium
    lon: float | None = None
    lat: float | None = None


class Signature(BaseModel):
    side: Code = Field(pattern="^(left|right)$")
    name: Name = Field(min_length=1)
    unit: Short | None = None
    signed_on: dt.date


class InspectionKind(StrEnum):
    periodic = "periodic"  # the 5-yearly joint inspection
    flood = "flood"  # ad hoc after floods
    works = "works"  # ad hoc after construction works
    other = "other"


class InspectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_id: Code
    inspected_on: dt.date = Field(description="the day it took place: not after today (rule T1)")
    next_inspection_planned_on: dt.date | None = Field(
        default=None, description="the next joint inspection agreed on (a plan, recorded on the line)")
    kind: InspectionKind = InspectionKind.periodic
    team_left: Team
    team_right: Team
    findings: list[Finding] = Field(default_factory=list)
    landmarks: list[dict[str, Any]] = Field(default_factory=list, description="方位物 and their state")
    feature_changes: list[dict[str, Any]] = Field(default_factory=list, description="terrain/feature changes")
    one_sided_markers: list[dict[str, Any]] = Field(default_factory=list)
    structures: list[dict[str, Any]] = Field(default_factory=list, description="structures across the line")
    disputes: list[Dispute] = Field(default_factory=list, description="disputes and risks")
    signatures: list[Signature] = Field(default_factory=list)
    filed_on: dt.date | None = None
    filing_ref: Ref | None = None
    note: Text | None = None
    reason: Text = Field(default="joint inspection record", min_length=1)


class InspectionFiling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filed_on: dt.date
    filing_ref: Ref = Field(min_length=1)
    signatures: list[Signature] | None = None
    reason: Text = Field(default="inspection filed", min_length=1)


class IssueResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolved_on: dt.date
    resolution: Text = Field(min_length=1)
    reason: Text = Field(default="issue resolved", min_length=1)
