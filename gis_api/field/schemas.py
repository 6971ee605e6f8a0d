"""Request bodies of the field API (docs/field.md)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from gis_api.boundaries.schemas import CoordSystem, RiskLevel
from gis_api.divisions.models import Level
from gis_api.limits import Code, Short, Text

ChangeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
DEFAULT_COLLECTIONS = ("townships", "place-areas", "place-lines", "place-points")


class PackageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    line_ids: list[Code] | None = Field(default=None, min_length=1, max_length=1000,
                                        description="the chosen lines")
    code: Code | None = Field(default=None, description="lines touching this division")
    level: Level | None = Field(default=None, description="lines of this level (with code or bbox)")
    bbox: tuple[float, float, float, float] | None = Field(
        default=None, description="lon_min, lat_min, lon_max, lat_max: lines crossing the box")
    as_of: dt.date | None = None
    zooms: tuple[int, int] = Field(default=(8, 16), description="lowest and highest zoom of the tile list")
    collections: list[Code] = Field(default_factory=lambda: list(DEFAULT_COLLECTIONS), max_length=12,
                                    description="OGC collections whose vector tiles are listed")
    max_tiles: int | None = Field(default=None, ge=0, description="at most this many tile URLs")

    @model_validator(mode="after")
    def _scope(self) -> PackageRequest:
        if not (self.line_ids or self.code or self.bbox):
            raise ValueError("give line_ids, code or bbox")
        z0, z1 = self.zooms
        if not (0 <= z0 <= z1 <= 22):
            raise ValueError("zooms must be two levels 0 ≤ min ≤ max ≤ 22")
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
                raise ValueError("bbox must be lon_min, lat_min, lon_max, lat_max with min < max")
        return self


class AttachmentRef(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    sha256: Sha256
    caption: Text | None = None


class Measured(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lon: float
    lat: float
    accuracy_m: float | None = Field(default=None, ge=0)
    coord_system: CoordSystem = CoordSystem.wgs84


class VisitStatus(StrEnum):
    intact = "intact"  # 完好
    damaged = "damaged"  # 损坏
    moved = "moved"  # 移位
    missing = "missing"  # 丢失


class MarkerVisit(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    marker_no: Code
    status: VisitStatus | None = None
    note: Text | None = None
    measured: Measured | None = None
    visited_on: dt.date | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)


class PatrolTrack(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    line_id: Code
    track: list[tuple[float, float, dt.datetime | None, float | None]] = Field(min_length=2)
    patrolled_on: dt.date | None = None
    max_accuracy_m: float = Field(default=50.0, gt=0)
    gcj02: bool = False
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)


class IssueKind(StrEnum):
    dispute = "dispute"
    risk = "risk"
    marker_damaged = "marker_damaged"
    marker_missing = "marker_missing"
    marker_moved = "marker_moved"
    marker_illegible = "marker_illegible"
    marker_overgrown = "marker_overgrown"
    structure = "structure"
    feature_change = "feature_change"
    other = "other"


class IssueReport(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    line_id: Code
    marker_no: Code | None = None
    kind: IssueKind
    description: Text = Field(min_length=1)
    risk: RiskLevel = RiskLevel.medium
    lon: float | None = None
    lat: float | None = None
    opened_on: dt.date | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)


class Attach(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: Literal["marker", "inspection", "patrol", "issue"]
    key: Code
    sha256: Sha256
    caption: Text | None = None


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    change_id: ChangeId
    kind: Literal["marker_visit", "patrol", "issue", "attach"]
    base_etag: Short | None = None
    recorded_at: dt.datetime | None = None
    data: dict[str, Any]

    @field_validator("base_etag")
    @classmethod
    def _etag(cls, v: str | None) -> str | None:
        return v.strip() if v else v


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    device: Code | None = None
    # Each change is validated on its own (a bad one is rejected, the others still apply).
    changes: list[dict[str, Any]]
