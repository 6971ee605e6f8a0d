"""Request bodies for division adjustments (区划调整)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gis_api.adjustments.models import AdjustmentKind
from gis_api.limits import LIST_LEN, Code, Name, Ref, Short, Text, Title


class NewDivisionSpec(BaseModel):
    code: Code = Field(description="the new code (never a used one)")
    name: Name
    kind: Code
    parent_code: Code | None = Field(default=None, description="default: the parent of the divisions it replaces")


class SeatSpec(BaseModel):
    lon: float
    lat: float
    name: Name | None = Field(default=None, description="驻地: the village/community or street the seat is in")


class CorrectionSpec(BaseModel):
    code: Code
    geometry: dict[str, Any]


class AdjustmentSpec(BaseModel):
    """What changes; which fields apply depends on the kind (see the kind's description in the API docs)."""

    model_config = ConfigDict(extra="forbid")

    code: Code | None = Field(default=None, description="rename, abolish, seat_move: the division")
    codes: list[Code] | None = Field(
        max_length=LIST_LEN, default=None, description="merge: the divisions merged; reparent: the divisions")
    into: Code | None = Field(default=None, description="merge/abolish: the existing division that takes them over")
    new: NewDivisionSpec | None = Field(default=None, description="merge/establish: the new division")
    name: Name | None = Field(default=None, description="rename: the new name")
    kind: Code | None = Field(default=None, description="rename: the new kind (e.g. 乡 → 镇)")
    new_code: Code | None = Field(default=None, description="rename: a new code when the change needs one")
    new_parent: Code | None = Field(default=None, description="reparent: the new superior division")
    from_code: Code | None = Field(default=None, description="boundary_change: the division giving up area")
    to_code: Code | None = Field(default=None, description="boundary_change: the neighbour receiving it")
    villages: list[Code] | None = Field(max_length=LIST_LEN,
        default=None, description="villages moving with their area (their Voronoi cells within the old township)"
    )
    area: dict[str, Any] | None = Field(default=None, description="GeoJSON (Multi)Polygon of the area that moves")
    area_mode: Code = Field(default="voronoi", pattern="^(voronoi|none)$",
                           description="reparent of villages: move their Voronoi cells (default) or no area")
    seat: SeatSpec | None = None
    corrections: list[CorrectionSpec] | None = Field(default=None, description="geometry_correction")
    allow_exclave: bool = Field(default=False, description="accept a moved area that does not border the receiver")


class DocumentRef(BaseModel):
    kind: Code = Field(description="申请书, 风险评估, 专家论证, 征求意见, 变更前后示意图 …")
    title: Title
    ref: Ref | None = Field(default=None, description="archive file or number")


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AdjustmentKind
    title: Title = Field(min_length=1)
    spec: AdjustmentSpec
    documents: list[DocumentRef] = Field(default_factory=list)
    effective_date: dt.date | None = Field(default=None, description="proposed; fixed on approval")
    approving_authority: Short | None = None
    reason: Text = Field(default="adjustment proposed", min_length=1)


class AdjustmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    spec: AdjustmentSpec | None = None
    documents: list[DocumentRef] | None = None
    effective_date: dt.date | None = None
    approving_authority: Short | None = None
    reason: Text = Field(min_length=1)


class AdjustmentApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approving_authority: Short | None = Field(default=None, description="e.g. 安徽省人民政府 (乡镇 changes)")
    document_no: Ref | None = Field(default=None, description="批准文号; required for a legal change")
    approved_on: dt.date
    effective_date: dt.date | None = Field(default=None, description="required for a legal change")
    note: Text | None = None
    reason: Text = Field(default="approved", min_length=1)


class AdjustmentDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text | None = None
    reason: Text = Field(default="decision", min_length=1)
