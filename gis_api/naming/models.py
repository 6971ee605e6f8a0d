"""Naming and renaming proposals (命名、更名审批, domain.md §1.3): the proposal, its supporting documents,
its step log, and the table of approving authorities.

A proposal is record-time data, not valid-time data: it has a record ``version`` (the ETag) but no
validity interval. The name it approves becomes valid-time data in ``places`` (valid_from = approval date).
Every table here is versioned and audited by the generic triggers (``audit.sql.enable_tracking``), except
the file bytes, which are immutable and whose SHA-256 is kept in the audited document row.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base


class Kind(StrEnum):
    naming = "naming"  # 命名
    renaming = "renaming"  # 更名


KIND_ZH = {Kind.naming: "命名", Kind.renaming: "更名"}


class Stage(StrEnum):
    applied = "applied"  # 申报
    reviewed = "reviewed"  # 论证、征求意见
    approved = "approved"  # 批准
    filed = "filed"  # 备案 (D1)
    announced = "announced"  # 公告 (D2)
    rejected = "rejected"  # 不予批准
    withdrawn = "withdrawn"  # 撤回


STAGE_ZH = {
    Stage.applied: "已申报",
    Stage.reviewed: "已论证",
    Stage.approved: "已批准",
    Stage.filed: "已备案",
    Stage.announced: "已公告",
    Stage.rejected: "不予批准",
    Stage.withdrawn: "已撤回",
}

# The procedure in order (domain.md §1.3); rejected/withdrawn close it before approval.
ORDER = (Stage.applied, Stage.reviewed, Stage.approved, Stage.filed, Stage.announced)
CLOSED_BEFORE_APPROVAL = (Stage.rejected, Stage.withdrawn)


class DocKind(StrEnum):
    application = "申请书"
    assessment = "综合评估"  # legality, feasibility, risk
    expert = "专家论证"  # necessity, soundness
    consultation = "征求意见"  # public opinion and how it was handled
    risk = "风险评估"  # division names (§1.3 step 2, §4)
    civil_affairs_opinion = "民政部门意见"  # 住宅区/楼宇: the housing dept. approves after this opinion
    approval = "批复"
    filing = "备案"
    notice = "公告"
    other = "其他"


REVIEW_DOCS = (DocKind.assessment, DocKind.expert, DocKind.consultation)


class Proposal(Base):
    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    stage: Mapped[str] = mapped_column(Text, nullable=False, server_default="applied")
    name: Mapped[str] = mapped_column(Text, nullable=False)  # proposed (new) name
    romanized: Mapped[str | None] = mapped_column(Text)  # an officer's spelling; else the automatic one
    category_code: Mapped[str] = mapped_column(ForeignKey("place_categories.code"), nullable=False)
    place_id: Mapped[int | None] = mapped_column(BigInteger)  # renaming: from the start; naming: on approval
    old_name: Mapped[str | None] = mapped_column(Text)  # renaming: the name in force when applied
    geom: Mapped[object | None] = mapped_column(Geometry(geometry_type="GEOMETRY", srid=4490, spatial_index=False))
    division_code: Mapped[str | None] = mapped_column(String(12))
    location_description: Mapped[str | None] = mapped_column(Text)  # 位置描述 (D3)
    entity_scale: Mapped[str | None] = mapped_column(Text)  # 规模
    entity_nature: Mapped[str | None] = mapped_column(Text)  # 性质
    attrs: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # land_area_m2, floor_area_m2, storeys (§2.1)
    meaning: Mapped[str | None] = mapped_column(Text)  # 地名含义, carried to the place
    reasons: Mapped[str] = mapped_column(Text, nullable=False)  # 申报理由
    applicant: Mapped[str | None] = mapped_column(Text)  # 申报单位
    applied_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    applied_by: Mapped[str] = mapped_column(Text, nullable=False)
    # Public comment (公示): its length is a setting (domain.md §1.3, U), copied here when applied.
    comment_start: Mapped[dt.date | None] = mapped_column(Date)
    comment_days: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # Name checks (大/洋/怪/重): review flags, shown, never blocking by themselves.
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    exempted: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    flags_scope: Mapped[str | None] = mapped_column(Text)
    flags_checked_on: Mapped[dt.date | None] = mapped_column(Date)
    flags_justification: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, server_default="[]")
    reviewed_on: Mapped[dt.date | None] = mapped_column(Date)
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    approved_on: Mapped[dt.date | None] = mapped_column(Date)  # 批准时间
    approval_authority: Mapped[str | None] = mapped_column(Text)  # 批准机关
    approval_doc_no: Mapped[str | None] = mapped_column(Text)  # 批准文号
    approved_by: Mapped[str | None] = mapped_column(Text)
    filed_on: Mapped[dt.date | None] = mapped_column(Date)  # D1
    filing_doc_no: Mapped[str | None] = mapped_column(Text)
    filed_with: Mapped[str | None] = mapped_column(Text)  # 备案机关
    filed_by: Mapped[str | None] = mapped_column(Text)
    announced_on: Mapped[dt.date | None] = mapped_column(Date)  # D2
    notice_no: Mapped[str | None] = mapped_column(Text)  # 公告编号
    announced_by: Mapped[str | None] = mapped_column(Text)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)  # rejected / withdrawn
    closed_by: Mapped[str | None] = mapped_column(Text)
    closed_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint("kind IN ('naming', 'renaming')", name="kind_known"),
        CheckConstraint(
            "stage IN ('applied', 'reviewed', 'approved', 'filed', 'announced', 'rejected', 'withdrawn')",
            name="stage_known",
        ),
        CheckConstraint("kind = 'naming' OR (place_id IS NOT NULL AND old_name IS NOT NULL)", name="renaming_place"),
        CheckConstraint("comment_days >= 0", name="comment_days_range"),
        CheckConstraint(
            "stage NOT IN ('approved', 'filed', 'announced') OR "
            "(approved_on IS NOT NULL AND approval_authority IS NOT NULL AND approval_doc_no IS NOT NULL "
            "AND place_id IS NOT NULL)",
            name="approval_recorded",
        ),
        CheckConstraint("filed_on IS NULL OR filed_on >= approved_on", name="filed_after_approval"),
        CheckConstraint("announced_on IS NULL OR announced_on >= approved_on", name="announced_after_approval"),
        CheckConstraint(
            "geom IS NULL OR GeometryType(geom) IN "
            "('POINT', 'LINESTRING', 'MULTILINESTRING', 'POLYGON', 'MULTIPOLYGON')",
            name="geom_type",
        ),
        Index("ix_proposals_stage", "stage"),
        Index("ix_proposals_place_id", "place_id"),
        Index("ix_proposals_approved_on", "approved_on"),
    )


class ProposalDocument(Base):
    """A supporting report or step document: kind, title, 文号, date, and a link or an uploaded file."""

    __tablename__ = "proposal_documents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    doc_no: Mapped[str | None] = mapped_column(Text)  # 文号
    doc_date: Mapped[dt.date | None] = mapped_column(Date)
    opinion_handling: Mapped[str | None] = mapped_column(Text)  # 征求意见: how the opinions were handled
    url: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(Text, nullable=False)  # the proposal's stage when attached
    uploaded_by: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            "kind IN ('申请书', '综合评估', '专家论证', '征求意见', '风险评估', '民政部门意见', '批复', '备案', "
            "'公告', '其他')",
            name="kind_known",
        ),
        CheckConstraint("kind <> '征求意见' OR opinion_handling IS NOT NULL", name="consultation_handling"),
        CheckConstraint("(file_name IS NULL) = (sha256 IS NULL)", name="file_hashed"),
        Index("ix_proposal_documents_proposal", "proposal_id", "kind"),
    )


class ProposalFile(Base):
    """The bytes of an uploaded document, kept apart so the audit trail and listings stay small."""

    __tablename__ = "proposal_files"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("proposal_documents.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)


class ProposalStep(Base):
    """One step of the procedure: who, when, from which stage to which, 文号, date, and why."""

    __tablename__ = "proposal_steps"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(Text)
    to_stage: Mapped[str] = mapped_column(Text, nullable=False)
    on_date: Mapped[dt.date] = mapped_column(Date, nullable=False)  # the legal date of the step
    doc_no: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (Index("ix_proposal_steps_proposal", "proposal_id", "id"),)


class ApprovalAuthority(Base):
    """Who approves a name, by category-code prefix (longest prefix wins), kept as data (domain.md §1.3)."""

    __tablename__ = "approval_authorities"

    category_prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    authority: Mapped[str] = mapped_column(Text, nullable=False)
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    needs_civil_affairs_opinion: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    needs_risk_assessment: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    rule: Mapped[str] = mapped_column(Text, nullable=False, server_default="§1.3")
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


# Seed rows (the migration inserts them; admins edit the table). Feidong names; domain.md §1.3 and §4.
AUTHORITY_SEED: tuple[dict[str, Any], ...] = (
    {"category_prefix": "251", "authority": "肥东县人民政府", "aliases": ["肥东县政府"],
     "needs_civil_affairs_opinion": False, "needs_risk_assessment": False, "rule": "§1.3",
     "note": "街路巷: county government"},
    {"category_prefix": "281", "authority": "肥东县住房和城乡建设局", "aliases": ["肥东县住建局"],
     "needs_civil_affairs_opinion": True, "needs_risk_assessment": False, "rule": "§1.3",
     "note": "住宅区: county housing dept. after the civil-affairs opinion"},
    {"category_prefix": "282", "authority": "肥东县住房和城乡建设局", "aliases": ["肥东县住建局"],
     "needs_civil_affairs_opinion": True, "needs_risk_assessment": False, "rule": "§1.3",
     "note": "楼宇: county housing dept. after the civil-affairs opinion"},
    {"category_prefix": "212", "authority": "安徽省人民政府", "aliases": ["安徽省政府"],
     "needs_civil_affairs_opinion": False, "needs_risk_assessment": True, "rule": "§1.3",
     "note": "乡镇 (township-level division) names: province; division names need 风险评估"},
    {"category_prefix": "22", "authority": "肥东县人民政府", "aliases": ["肥东县政府"],
     "needs_civil_affairs_opinion": False, "needs_risk_assessment": False, "rule": "§4",
     "note": "村(居)民委员会: proposed by the township, approved by the county"},
)
