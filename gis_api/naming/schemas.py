"""Request bodies and settings of the naming procedure (responses are assembled by the service)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_api.naming.models import DocKind, Kind, Stage


class NamingSettings(BaseSettings):
    """``DIMING_NAMING_*``. The comment period is marked U in domain.md §1.3, so it is a setting."""

    model_config = SettingsConfigDict(env_prefix="DIMING_NAMING_", extra="ignore")

    comment_days: int = Field(default=30, ge=0, le=366, description="public-comment (公示) period in days")
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="largest uploaded file")
    notice_issuer: str = Field(default="肥东县民政局", description="who issues the public notice (D2)")
    pdf_font: str = Field(default="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                          description="CJK TrueType font (or collection) embedded in the PDF notice")


class ProposalCreate(BaseModel):
    """申报 (domain.md §1.3 step 1): a new name for an entity, or a new name for a registered place."""

    kind: Kind
    name: str = Field(max_length=100, description="proposed (new) standard name")
    place_id: int | None = Field(default=None, description="renaming: the place to rename")
    category_code: str | None = Field(default=None, description="naming: category code (required)")
    geometry: dict[str, Any] | None = Field(default=None, description="naming: GeoJSON in lon/lat")
    location_description: str | None = Field(default=None, description="位置描述 (D3)")
    division_code: str | None = Field(default=None, description="所属政区; derived from the geometry when given")
    entity_scale: str | None = Field(default=None, description="规模 of the entity")
    entity_nature: str | None = Field(default=None, description="性质 of the entity")
    attrs: dict[str, float] | None = Field(default=None, description="land_area_m2, floor_area_m2, storeys (§2.1)")
    meaning: str | None = Field(default=None, description="地名含义")
    romanized: str | None = Field(default=None, description="an officer's spelling; wins over the automatic one")
    reasons: str = Field(min_length=1, description="申报理由")
    applicant: str | None = Field(default=None, description="申报单位")
    applied_on: dt.date | None = Field(default=None, description="date of the application; default today")
    comment_start: dt.date | None = Field(default=None, description="first day of the public comment (公示)")
    reason: str | None = Field(default=None, description="for the audit trail; default the reasons")


class Advance(BaseModel):
    """Move a proposal to its next stage; which fields count depends on the stage (domain.md §1.3)."""

    to: Stage
    reason: str = Field(min_length=1, description="why, for the audit trail")
    date: dt.date | None = Field(
        default=None,
        description="date of the step: review (default today), approval (批准时间), filing (备案), notice (公告)",
    )
    doc_no: str | None = Field(default=None, description="文号: approval document, filing number, notice number")
    comment_start: dt.date | None = Field(default=None, description="reviewed: first day of the public comment")
    authority: str | None = Field(default=None, description="approved: 批准机关")
    flags_justification: str | None = Field(
        default=None, description="approved: why the name stands despite open 大/洋/怪/重 flags"
    )
    location_description: str | None = Field(default=None, description="approved: 位置描述 for the notice (D3)")
    filed_with: str | None = Field(default=None, description="filed: the office the approval was filed with")


class Close(BaseModel):
    reason: str = Field(min_length=1)
    date: dt.date | None = Field(default=None, description="default today")


class DocumentIn(BaseModel):
    kind: DocKind
    title: str = Field(min_length=1, max_length=300)
    doc_no: str | None = None
    doc_date: dt.date | None = None
    opinion_handling: str | None = Field(default=None, description="征求意见: how the opinions were handled")
    url: str | None = None
    reason: str | None = None


class AuthorityIn(BaseModel):
    authority: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    needs_civil_affairs_opinion: bool = False
    needs_risk_assessment: bool = False
    rule: str = "§1.3"
    note: str | None = None
    reason: str = Field(min_length=1)
