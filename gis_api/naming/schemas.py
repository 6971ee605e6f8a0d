"""Request bodies and settings of the naming procedure (responses are assembled by the service)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_api.limits import LIST_LEN, Code, Name, Ref, Romanized, Short, Text, Title, Url
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
    name: Name = Field(description="proposed (new) standard name")
    place_id: int | None = Field(default=None, description="renaming: the place to rename")
    category_code: Code | None = Field(default=None, description="naming: category code (required)")
    geometry: dict[str, Any] | None = Field(default=None, description="naming: GeoJSON in lon/lat")
    location_description: Text | None = Field(default=None, description="位置描述 (D3)")
    division_code: Code | None = Field(default=None, description="所属政区; derived from the geometry when given")
    entity_scale: Short | None = Field(default=None, description="规模 of the entity")
    entity_nature: Short | None = Field(default=None, description="性质 of the entity")
    attrs: dict[str, float] | None = Field(default=None, description="land_area_m2, floor_area_m2, storeys (§2.1)")
    meaning: Text | None = Field(default=None, description="地名含义")
    romanized: Romanized | None = Field(default=None, description="an officer's spelling; wins over the automatic one")
    reasons: Text = Field(min_length=1, description="申报理由")
    applicant: Short | None = Field(default=None, description="申报单位")
    applied_on: dt.date | None = Field(default=None, description="date of the application; default today")
    comment_start: dt.date | None = Field(default=None, description="first day of the public comment (公示)")
    reason: Text | None = Field(default=None, description="for the audit trail; default the reasons")


class Advance(BaseModel):
    """Move a proposal to its next stage; which fields count depends on the stage (domain.md §1.3)."""

    to: Stage
    reason: Text = Field(min_length=1, description="why, for the audit trail")
    date: dt.date | None = Field(
        default=None,
        description="date of the step: review (default today), approval (批准时间), filing (备案), notice (公告)",
    )
    doc_no: Ref | None = Field(default=None, description="文号: approval document, filing number, notice number")
    comment_start: dt.date | None = Field(default=None, description="reviewed: first day of the public comment")
    authority: Short | None = Field(default=None, description="approved: 批准机关")
    flags_justification: Text | None = Field(
        default=None, description="approved: why the name stands despite open 大/洋/怪/重 flags"
    )
    location_description: Text | None = Field(default=None, description="approved: 位置描述 for the notice (D3)")
    filed_with: Short | None = Field(default=None, description="filed: the office the approval was filed with")


class Close(BaseModel):
    reason: Text = Field(min_length=1)
    date: dt.date | None = Field(default=None, description="default today")


class DocumentIn(BaseModel):
    kind: DocKind
    title: Title = Field(min_length=1)
    doc_no: Ref | None = None
    doc_date: dt.date | None = None
    opinion_handling: Text | None = Field(default=None, description="征求意见: how the opinions were handled")
    url: Url | None = None
    reason: Text | None = None


class AuthorityIn(BaseModel):
    authority: Short = Field(min_length=1)
    aliases: list[Short] = Field(max_length=LIST_LEN, default_factory=list)
    needs_civil_affairs_opinion: bool = False
    needs_risk_assessment: bool = False
    rule: Code = "§1.3"
    note: Text | None = None
    reason: Text = Field(min_length=1)
