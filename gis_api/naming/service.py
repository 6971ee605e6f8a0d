"""The naming and renaming procedure (命名、更名审批, domain.md §1.3) as rules and SQL.

申报 → 论证/征求意见 → 批准 → 备案 (D1) → 公告 (D2), or 不予批准 / 撤回 before approval. Each step is one
transaction (the caller's), audited by the triggers with who and why, guarded by the proposal's ETag.
Approval makes the name standard through the gazetteer's own service (``places.service``), so every rule
of the gazetteer (division check, romanisation, protection list, 曾用名 on renaming, flags) applies.

Services take a session and never commit. The approving authorities (data) are in ``naming.authorities``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag
from gis_api.divisions.models import Division
from gis_api.errors import (
    Conflict,
    DimingError,
    InvalidInput,
    NotFound,
)
from gis_api.geo.geometry_input import parse_geojson
from gis_api.naming.authorities import authority_for
from gis_api.naming.models import (
    CLOSED_BEFORE_APPROVAL,
    KIND_ZH,
    ORDER,
    REVIEW_DOCS,
    STAGE_ZH,
    DocKind,
    Kind,
    Proposal,
    ProposalDocument,
    ProposalFile,
    ProposalStep,
    Stage,
)
from gis_api.naming.schemas import Advance, Close, DocumentIn, NamingSettings, ProposalCreate
from gis_api.places import checks
from gis_api.places import service as places
from gis_api.places.models import PlaceCategory, PlaceStatus, ProtectionListing
from gis_api.places.schemas import PlaceCreate, PlaceUpdate
from gis_api.when import not_after_today

FILING_DAYS = 15  # D1: filed within 15 days of approval (C)
NOTICE_DAYS = 15  # D2: announced within 15 days of approval (C)
DIVISION_PREFIX = "21"  # 行政区域 categories: division names also need 风险评估 (§1.3 step 2)
APPROVED_STAGES = (Stage.approved, Stage.filed, Stage.announced)
OPEN_STAGES = (Stage.applied, Stage.reviewed)

# Who may move a proposal into each stage (admin always may): approval and rejection are decisions.
STAGE_ROLES: dict[Stage, tuple[auth.Role, ...]] = {
    Stage.reviewed: (auth.Role.officer,),
    Stage.approved: (auth.Role.reviewer,),
    Stage.filed: (auth.Role.officer,),
    Stage.announced: (auth.Role.officer,),
    Stage.rejected: (auth.Role.reviewer,),
    Stage.withdrawn: (auth.Role.officer,),
}


class TooLarge(DimingError):
    status = 413
    code = "too_large"


def etag(p: Proposal) -> str:
    return make_etag("n", p.id, p.version)


def _iso(d: dt.date | dt.datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def zh_date(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


# -- reads ------------------------------------------------------------------------------------------------

def _no_proposal(proposal_id: int) -> NotFound:
    return NotFound(f"no proposal {proposal_id}", f"不存在编号为 {proposal_id} 的命名更名申报", field="id")


def get(session: Session, proposal_id: int) -> Proposal:
    """The proposal, for reading; writers get it from ``GUARD.lock``."""
    p = session.scalars(select(Proposal).where(Proposal.id == proposal_id)).first()
    if p is None:
        raise _no_proposal(proposal_id)
    return p


GUARD = Versioned(
    model=Proposal, key=Proposal.id, etag=etag,
    label=lambda p: (f"proposal {p.id}", f"申报 {p.id} "),
    body=lambda s, p: json.dumps(detail(s, p.id, clock.today())[0], ensure_ascii=False, default=str),
)


def deadlines(p: Proposal, as_of: dt.date) -> dict[str, Any]:
    """D1/D2 due dates and whether they are overdue (not done by ``as_of``) or were met late."""
    out: dict[str, Any] = {"as_of": as_of.isoformat(), "filing_due": None, "notice_due": None,
                           "filing_overdue": False, "notice_overdue": False, "filing_late": False,
                           "notice_late": False}
    if p.approved_on is None or p.approved_on > as_of or p.stage not in APPROVED_STAGES:
        return out
    filing_due = p.approved_on + dt.timedelta(days=FILING_DAYS)
    notice_due = p.approved_on + dt.timedelta(days=NOTICE_DAYS)
    filed = p.filed_on is not None and p.filed_on <= as_of
    announced = p.announced_on is not None and p.announced_on <= as_of
    out.update(
        filing_due=filing_due.isoformat(), notice_due=notice_due.isoformat(),
        filing_overdue=not filed and as_of > filing_due, notice_overdue=not announced and as_of > notice_due,
        filing_late=filed and p.filed_on is not None and p.filed_on > filing_due,
        notice_late=announced and p.announced_on is not None and p.announced_on > notice_due,
    )
    return out


def _overdue_clause(as_of: dt.date) -> Any:
    """SQL twin of :func:`deadlines`: D1 or D2 not done by ``as_of`` and past due."""
    filing_due = Proposal.approved_on + text(f"{FILING_DAYS}")
    notice_due = Proposal.approved_on + text(f"{NOTICE_DAYS}")
    return (
        Proposal.stage.in_([s.value for s in APPROVED_STAGES])
        & (Proposal.approved_on <= as_of)
        & or_(
            (or_(Proposal.filed_on.is_(None), Proposal.filed_on > as_of)) & (filing_due < as_of),
            (or_(Proposal.announced_on.is_(None), Proposal.announced_on > as_of)) & (notice_due < as_of),
        )
    )


def _key_date() -> Any:
    return func.coalesce(Proposal.approved_on, Proposal.applied_on)


def _division_name_sql() -> Any:
    on = _key_date()
    return (
        select(Division.name)
        .where(Division.code == Proposal.division_code, Division.valid_from <= on,
               or_(Division.valid_to.is_(None), Division.valid_to > on))
        .correlate(Proposal)
        .limit(1)
        .scalar_subquery()
    )


def _select() -> Select[Any]:
    return select(Proposal, func.ST_AsGeoJSON(Proposal.geom, 7, 0), _division_name_sql())


def next_stages(p: Proposal) -> list[str]:
    stage = Stage(p.stage)
    if stage not in ORDER or stage is ORDER[-1]:
        return []
    following = [ORDER[ORDER.index(stage) + 1].value]
    if stage in OPEN_STAGES:
        following += [s.value for s in CLOSED_BEFORE_APPROVAL]
    return following


def to_json(p: Proposal, geometry: str | None, division_name: str | None, as_of: dt.date) -> dict[str, Any]:
    comment_end = p.comment_start + dt.timedelta(days=p.comment_days - 1) if p.comment_start else None
    review_from = p.comment_start + dt.timedelta(days=p.comment_days) if p.comment_start else None
    return {
        "id": p.id, "kind": p.kind, "kind_zh": KIND_ZH[Kind(p.kind)], "stage": p.stage,
        "stage_zh": STAGE_ZH[Stage(p.stage)], "next_stages": next_stages(p),
        "name": p.name, "romanized": p.romanized, "old_name": p.old_name, "place_id": p.place_id,
        "category_code": p.category_code, "division_code": p.division_code, "division_name": division_name,
        "geometry": json.loads(geometry) if geometry else None,
        "location_description": p.location_description, "entity_scale": p.entity_scale,
        "entity_nature": p.entity_nature, "attrs": p.attrs, "meaning": p.meaning, "reasons": p.reasons,
        "applicant": p.applicant, "applied_on": _iso(p.applied_on), "applied_by": p.applied_by,
        "comment": {"start": _iso(p.comment_start), "days": p.comment_days, "end": _iso(comment_end),
                    "review_from": _iso(review_from)},
        "flags": p.flags, "exempted": p.exempted, "flags_scope": p.flags_scope,
        "flags_checked_on": _iso(p.flags_checked_on), "flags_justification": p.flags_justification,
        "warnings": p.warnings,
        "reviewed_on": _iso(p.reviewed_on), "reviewed_by": p.reviewed_by,
        "approved_on": _iso(p.approved_on), "approval_authority": p.approval_authority,
        "approval_doc_no": p.approval_doc_no, "approved_by": p.approved_by,
        "filed_on": _iso(p.filed_on), "filing_doc_no": p.filing_doc_no, "filed_with": p.filed_with,
        "filed_by": p.filed_by,
        "announced_on": _iso(p.announced_on), "notice_no": p.notice_no, "announced_by": p.announced_by,
        "closed_on": _iso(p.closed_on), "closed_by": p.closed_by, "closed_reason": p.closed_reason,
        "deadlines": deadlines(p, as_of),
        "version": p.version, "created_at": _iso(p.created_at), "updated_at": _iso(p.updated_at),
    }


def document_json(d: ProposalDocument) -> dict[str, Any]:
    return {
        "id": d.id, "kind": d.kind, "title": d.title, "doc_no": d.doc_no, "doc_date": _iso(d.doc_date),
        "opinion_handling": d.opinion_handling, "url": d.url, "file_name": d.file_name,
        "content_type": d.content_type, "size_bytes": d.size_bytes, "sha256": d.sha256, "stage": d.stage,
        "uploaded_by": d.uploaded_by, "created_at": _iso(d.created_at),
        "file_url": f"/api/v1/proposals/{d.proposal_id}/documents/{d.id}/file" if d.file_name else None,
    }


def _step_json(s: ProposalStep) -> dict[str, Any]:
    return {"id": s.id, "from": s.from_stage, "to": s.to_stage, "date": _iso(s.on_date), "doc_no": s.doc_no,
            "actor": s.actor, "reason": s.reason, "details": s.details, "at": _iso(s.at)}


def detail(session: Session, proposal_id: int, as_of: dt.date) -> tuple[dict[str, Any], str]:
    """(The proposal with its documents and steps, ETag)."""
    row = session.execute(_select().where(Proposal.id == proposal_id)).first()
    if row is None:
        raise NotFound(f"no proposal {proposal_id}", f"不存在编号为 {proposal_id} 的命名更名申报", field="id")
    p, geometry, division_name = row
    body = to_json(p, geometry, division_name, as_of)
    docs = session.scalars(select(ProposalDocument).where(ProposalDocument.proposal_id == p.id)
                           .order_by(ProposalDocument.id)).all()
    steps = session.scalars(select(ProposalStep).where(ProposalStep.proposal_id == p.id)
                            .order_by(ProposalStep.id)).all()
    body["documents"] = [document_json(d) for d in docs]
    body["steps"] = [_step_json(s) for s in steps]
    # What the checks found at each step, and what changed since the step before (steps before this record
    # was kept have none).
    body["checks"] = [{"step": s.id, "from": s.from_stage, "to": s.to_stage, "date": _iso(s.on_date),
                       **s.details["check"]} for s in steps if isinstance(s.details, dict) and "check" in s.details]
    return body, etag(p)


@dataclass(frozen=True)
class ListQuery:
    as_of: dt.date
    stage: Stage | None = None
    kind: Kind | None = None
    overdue: bool = False
    place_id: int | None = None
    limit: int = 100
    offset: int = 0


def list_proposals(session: Session, q: ListQuery) -> tuple[list[dict[str, Any]], int]:
    conds: list[Any] = []
    if q.stage is not None:
        conds.append(Proposal.stage == q.stage.value)
    if q.kind is not None:
        conds.append(Proposal.kind == q.kind.value)
    if q.place_id is not None:
        conds.append(Proposal.place_id == q.place_id)
    if q.overdue:
        conds.append(_overdue_clause(q.as_of))
    total = int(session.execute(select(func.count()).select_from(Proposal).where(*conds)).scalar_one())
    rows = session.execute(
        _select().where(*conds).order_by(Proposal.id.desc()).limit(q.limit).offset(q.offset)
    ).all()
    return [to_json(p, g, n, q.as_of) for p, g, n in rows], total


def history(session: Session, proposal_id: int) -> dict[str, Any]:
    get(session, proposal_id)
    key = str(proposal_id)
    changes = [
        {**c, "table": table}
        for table in ("proposals", "proposal_documents", "proposal_steps")
        for c in audit.history(session, table, key)
    ]
    changes.sort(key=lambda c: str(c["at"]))
    return {"id": proposal_id, "changes": changes}


def document_file(session: Session, proposal_id: int, document_id: int) -> tuple[ProposalDocument, bytes]:
    doc = session.get(ProposalDocument, document_id)
    if doc is None or doc.proposal_id != proposal_id or doc.file_name is None:
        raise NotFound(f"no uploaded file for document {document_id} of proposal {proposal_id}",
                       f"申报 {proposal_id} 的材料 {document_id} 没有上传文件", field="document_id")
    content = session.scalar(select(ProposalFile.content).where(ProposalFile.document_id == document_id))
    return doc, bytes(content or b"")


def _norm(s: str) -> str:
    return "".join(s.split())


# -- checks shared by the steps ----------------------------------------------------------------------------

def _measured_attrs(session: Session, p: Proposal) -> dict[str, float] | None:
    """The §2.1 size attributes: what the applicant stated, plus the land area of a mapped site."""
    attrs = dict(p.attrs or {})
    if "land_area_m2" not in attrs and p.geom is not None:
        area = session.execute(
            text("SELECT ST_Area(geom::geography) FROM proposals WHERE id = :id AND ST_Dimension(geom) = 2"),
            {"id": p.id},
        ).scalar()
        if area is not None:
            attrs["land_area_m2"] = float(area)
    return {k: float(v) for k, v in attrs.items()} or None


def _flag_key(f: dict[str, Any]) -> tuple[str, str, str]:
    return str(f.get("class")), str(f.get("rule")), str(f.get("reason"))


def _run_checks(session: Session, p: Proposal, on: dt.date) -> dict[str, Any]:
    """大/洋/怪/重 review flags of the proposed name, stored on the proposal (they never block by themselves).

    Run at every step against the gazetteer as it stands when the step is recorded: every name in force on the
    step's date *or later* counts (the name would be standard from a date on or after it, open-ended), so a
    backdated step still sees a name registered today. Returns the step's check record: the flags, and which
    appeared or disappeared since the previous step."""
    before = {_flag_key(f): f for f in p.flags or []}
    result = checks.check(session, p.name, category=p.category_code, division_code=p.division_code,
                          attrs=_measured_attrs(session, p), place_id=p.place_id, as_of=on, onward=True)
    now = {_flag_key(f): f for f in result["flags"]}
    p.flags = list(result["flags"])
    p.exempted = list(result["exempted"])
    p.flags_scope = str(result["scope"])
    p.flags_checked_on = on
    return {"as_of": on.isoformat(), "checked_on": clock.today().isoformat(), "scope": p.flags_scope,
            "flags": p.flags, "appeared": [f for k, f in now.items() if k not in before],
            "disappeared": [f for k, f in before.items() if k not in now]}


def _protection_warning(session: Session, place_id: int, name: str) -> dict[str, Any] | None:
    listing = session.scalar(select(ProtectionListing).where(ProtectionListing.place_id == place_id))
    if listing is None or (listing.measures and listing.measures_recorded_on):
        return None
    return {
        "code": "protected_name", "rule": "§1.4",
        "message": f"{name} is on the place-name culture protection list ({listing.category}); approval will be "
                   "refused until the protective measures are recorded",
        "message_zh": f"“{name}”已列入地名文化保护名录（{listing.category}），登记保护措施前不能批准更名",
    }


def _not_future(on: dt.date, field: str) -> None:
    """T1: a step is recorded once it has happened (the comment start may be planned: it has its own field)."""
    not_after_today(on, field, "the step", "办理日期")


def _not_before(on: dt.date, earlier: dt.date | None, what: str, what_zh: str, field: str = "date") -> None:
    if earlier is not None and on < earlier:
        raise InvalidInput(f"{field} {on} is before the {what} ({earlier})",
                           f"日期 {on} 早于{what_zh}（{earlier}）", field=field, rule="§1.3")


def _step(session: Session, p: Proposal, from_stage: str | None, to: Stage, on: dt.date, doc_no: str | None,
          actor: str, reason: str, details: dict[str, Any] | None = None) -> None:
    session.add(ProposalStep(proposal_id=p.id, from_stage=from_stage, to_stage=to.value, on_date=on,
                             doc_no=doc_no, actor=actor, reason=reason, details=details or {}))


def _required(value: str | None, field: str, what: str, what_zh: str, rule: str) -> str:
    if value is None or not value.strip():
        raise InvalidInput(f"{what} ({field}) is required", f"须填写{what_zh}（{field}）", field=field, rule=rule)
    return value.strip()


# -- 申报 ----------------------------------------------------------------------------------------------------

def create(session: Session, body: ProposalCreate, actor: str, settings: NamingSettings) -> Proposal:
    today = clock.today()
    applied_on = body.applied_on or today
    _not_future(applied_on, "applied_on")
    if body.comment_start is not None:
        _not_before(body.comment_start, applied_on, "application", "申报日期", field="comment_start")
    name = body.name.strip()
    if not name:
        raise InvalidInput("name must not be empty", "名称不能为空", field="name", rule="N0")
    audit.set_context(session, actor, body.reason or body.reasons)
    common: dict[str, Any] = {
        "name": name, "romanized": (body.romanized or "").strip() or None, "reasons": body.reasons.strip(),
        "entity_scale": body.entity_scale, "entity_nature": body.entity_nature, "attrs": body.attrs,
        "meaning": body.meaning, "applicant": body.applicant, "applied_on": applied_on, "applied_by": actor,
        "comment_start": body.comment_start, "comment_days": settings.comment_days,
    }
    warnings: list[dict[str, Any]] = []
    if body.kind is Kind.naming:
        p = _naming_proposal(session, body, applied_on, common)
    else:
        p, warning = _renaming_proposal(session, body, today, common)
        if warning:
            warnings.append(warning)
    p.warnings = warnings
    session.add(p)
    session.flush()
    check = _run_checks(session, p, applied_on)
    _step(session, p, None, Stage.applied, applied_on, None, actor, body.reason or body.reasons,
          {"flags": [f["class"] for f in p.flags], "warnings": [w["code"] for w in warnings], "check": check})
    session.flush()
    session.refresh(p)
    return p


def _naming_proposal(session: Session, body: ProposalCreate, applied_on: dt.date, common: dict[str, Any]
                     ) -> Proposal:
    if body.place_id is not None:
        raise InvalidInput("a naming proposal names a new entity; to rename a registered place use kind renaming",
                           "命名申报用于新地理实体；已登记地名的更名请提交更名申报", field="place_id", rule="§1.3")
    code = _required(body.category_code, "category_code", "the category of the entity", "地名类别", "§1.5")
    if session.get(PlaceCategory, code) is None:
        raise InvalidInput(f"unknown category_code {code!r} (see GET /api/v1/places/categories)",
                           f"未知的地名类别代码 {code!r}", field="category_code", rule="§1.5")
    geom = parse_geojson(body.geometry, allowed=places.GEOMETRY_TYPES) if body.geometry else None
    location = (body.location_description or "").strip() or None
    if geom is None and location is None:
        raise InvalidInput("a naming proposal needs the geometry or a location description (位置描述)",
                           "命名申报须提供几何位置或位置描述", field="location_description", rule="§1.3")
    # The same rule as the gazetteer's: the entity lies in this county (G1).
    division = places.locate(session, geom, body.division_code, applied_on, standard=False)
    if division is None:
        raise InvalidInput("division_code is required when the geometry does not lie in a division (所属政区, D3)",
                           "须填写所属政区代码（公告须载明所属政区）", field="division_code", rule="D3")
    return Proposal(kind=Kind.naming.value, category_code=code, geom=geom, division_code=division,
                    location_description=location, **common)


def _renaming_proposal(session: Session, body: ProposalCreate, today: dt.date, common: dict[str, Any]
                       ) -> tuple[Proposal, dict[str, Any] | None]:
    if body.place_id is None:
        raise InvalidInput("a renaming proposal needs place_id (the place to rename)",
                           "更名申报须指明被更名的地名", field="place_id", rule="§1.3")
    if body.geometry is not None:
        raise InvalidInput("a renaming changes the name only; correct the geometry through the gazetteer",
                           "更名只改变名称；几何位置请在地名库中修改", field="geometry", rule="§1.3")
    row = places.current_row(session, body.place_id, today)
    if row is None:
        raise NotFound(f"no place {body.place_id} in force today", f"今天不存在编号为 {body.place_id} 的地名",
                       field="place_id")
    if body.category_code and body.category_code != row.category_code:
        raise InvalidInput(f"a renaming keeps the category {row.category_code}",
                           f"更名不改变地名类别（{row.category_code}）", field="category_code", rule="§1.3")
    if body.division_code and body.division_code != row.division_code:
        raise InvalidInput(f"a renaming keeps the division {row.division_code}",
                           f"更名不改变所属政区（{row.division_code}）", field="division_code", rule="§1.3")
    if common["name"] == row.name:
        raise InvalidInput(f"{row.name} is already the name of place {row.place_id}",
                           f"新名称与现名称“{row.name}”相同", field="name", rule="R1")
    pending = session.scalar(select(Proposal.id).where(
        Proposal.place_id == row.place_id, Proposal.stage.in_([s.value for s in OPEN_STAGES])))
    if pending is not None:
        raise Conflict(f"place {row.place_id} already has an open renaming proposal ({pending})",
                       f"地名 {row.place_id} 已有未办结的更名申报（{pending}）", field="place_id", rule="§1.3",
                       code="open_proposal")
    location = (body.location_description or "").strip() or row.description
    proposal = Proposal(kind=Kind.renaming.value, category_code=row.category_code, place_id=row.place_id,
                        old_name=row.name, division_code=row.division_code, location_description=location,
                        **common)
    return proposal, _protection_warning(session, row.place_id, row.name)


# -- supporting documents -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    file_name: str
    content_type: str | None
    content: bytes


def add_document(session: Session, proposal_id: int, doc: DocumentIn, upload: Upload | None, actor: str,
                 settings: NamingSettings) -> ProposalDocument:
    p = GUARD.hold(session, proposal_id, missing=lambda: _no_proposal(proposal_id))
    if Stage(p.stage) in CLOSED_BEFORE_APPROVAL:
        raise Conflict(f"proposal {p.id} is {p.stage}; it takes no more documents",
                       f"申报 {p.id} 已{STAGE_ZH[Stage(p.stage)]}，不能再添加材料", field="id", code="closed")
    not_after_today(doc.doc_date, "doc_date", "the document date", "材料日期")
    handling = (doc.opinion_handling or "").strip() or None
    if doc.kind is DocKind.consultation and handling is None:
        raise InvalidInput("a 征求意见 report must say how the opinions were handled (opinion_handling)",
                           "征求意见材料须说明意见处理情况", field="opinion_handling", rule="§1.3")
    if upload is not None:
        if len(upload.content) > settings.max_attachment_bytes:
            raise TooLarge(f"the file is {len(upload.content)} bytes; the limit is {settings.max_attachment_bytes}",
                           f"文件大小 {len(upload.content)} 字节，超过上限 {settings.max_attachment_bytes} 字节",
                           field="file")
        if not upload.content:
            raise InvalidInput("the uploaded file is empty", "上传的文件为空", field="file")
    audit.set_context(session, actor, doc.reason or f"{doc.kind.value}: {doc.title}")
    row = ProposalDocument(
        proposal_id=p.id, kind=doc.kind.value, title=doc.title.strip(), doc_no=(doc.doc_no or "").strip() or None,
        doc_date=doc.doc_date, opinion_handling=handling, url=(doc.url or "").strip() or None, stage=p.stage,
        uploaded_by=actor,
    )
    if upload is not None:
        row.file_name = upload.file_name
        row.content_type = upload.content_type
        row.size_bytes = len(upload.content)
        row.sha256 = hashlib.sha256(upload.content).hexdigest()
    session.add(row)
    session.flush()
    if upload is not None:
        session.add(ProposalFile(document_id=row.id, content=upload.content))
        session.flush()
    session.refresh(row)
    return row


def _document_kinds(session: Session, p: Proposal) -> set[str]:
    rows = session.scalars(select(ProposalDocument.kind).where(ProposalDocument.proposal_id == p.id)).all()
    return set(rows)


def _missing(session: Session, p: Proposal, wanted: list[DocKind], rule: str) -> None:
    have = _document_kinds(session, p)
    missing = [k.value for k in wanted if k.value not in have]
    if missing:
        raise InvalidInput(
            f"missing supporting documents: {', '.join(missing)} (POST /api/v1/proposals/{p.id}/documents)",
            f"缺少论证材料：{'、'.join(missing)}", field="documents", rule=rule, code="missing_documents",
            extra={"missing": missing},
        )


# -- stage transitions ------------------------------------------------------------------------------------------

def roles_for(stage: Stage) -> tuple[auth.Role, ...]:
    if stage not in STAGE_ROLES:
        raise InvalidInput(f"a proposal cannot be moved to {stage.value}", f"申报不能转入 {stage.value} 阶段",
                           field="to", rule="§1.3")
    return STAGE_ROLES[stage]


def advance(session: Session, proposal_id: int, body: Advance, if_match: str | None, actor: str) -> Proposal:
    today = clock.today()
    p = GUARD.lock(session, proposal_id, if_match, missing=lambda: _no_proposal(proposal_id))
    stage = Stage(p.stage)
    if body.to in CLOSED_BEFORE_APPROVAL:
        return close(session, p, body.to, Close(reason=body.reason, date=body.date), actor)
    if stage in CLOSED_BEFORE_APPROVAL or stage is ORDER[-1]:
        raise Conflict(f"proposal {p.id} is {stage.value}; the procedure is over",
                       f"申报 {p.id} 已{STAGE_ZH[stage]}，程序已结束", field="to", rule="§1.3", code="closed")
    expected = ORDER[ORDER.index(stage) + 1]
    if body.to is not expected:
        raise Conflict(
            f"proposal {p.id} is {stage.value}; its next stage is {expected.value}, not {body.to.value} (§1.3 order: "
            f"{' → '.join(s.value for s in ORDER)})",
            f"申报 {p.id} 当前为“{STAGE_ZH[stage]}”，下一步应为“{STAGE_ZH[expected]}”，不能直接“{STAGE_ZH[body.to]}”",
            field="to", rule="§1.3", code="stage_order",
        )
    audit.set_context(session, actor, body.reason)
    step = {Stage.reviewed: _review, Stage.approved: _approve, Stage.filed: _file, Stage.announced: _announce}
    on, doc_no, details = step[expected](session, p, body, actor, today)
    if "check" not in details:  # filing, notice: the checks run again all the same, and show what changed
        details["check"] = _run_checks(session, p, on)
    p.stage = expected.value
    session.flush()
    _step(session, p, stage.value, expected, on, doc_no, actor, body.reason, details)
    session.flush()
    session.refresh(p)
    return p


def _review(session: Session, p: Proposal, body: Advance, actor: str, today: dt.date
            ) -> tuple[dt.date, str | None, dict[str, Any]]:
    """论证、征求意见 done: the reports are on file and the public comment period is over (§1.3 step 2)."""
    on = body.date or today
    _not_future(on, "date")
    _not_before(on, p.applied_on, "application", "申报日期")
    start = body.comment_start or p.comment_start
    if start is None:
        raise InvalidInput("when did the public comment (公示) start? give comment_start",
                           "须填写公示开始日期", field="comment_start", rule="§1.3")
    _not_before(start, p.applied_on, "application", "申报日期", field="comment_start")
    review_from = start + dt.timedelta(days=p.comment_days)
    if on < review_from:
        last = review_from - dt.timedelta(days=1)
        raise InvalidInput(
            f"the public comment runs {p.comment_days} days, {start} to {last}; the review can pass from "
            f"{review_from}, not on {on}",
            f"公示期 {p.comment_days} 天（{start} 至 {last}）尚未结束，{review_from} 起方可完成论证",
            field="date", rule="§1.3", code="comment_period_open",
            extra={"comment_start": start.isoformat(), "comment_end": last.isoformat(),
                   "review_from": review_from.isoformat()},
        )
    wanted = list(REVIEW_DOCS)
    authority = authority_for(session, p.category_code)
    if p.category_code.startswith(DIVISION_PREFIX) or (authority is not None and authority.needs_risk_assessment):
        wanted.append(DocKind.risk)
    _missing(session, p, wanted, "§1.3")
    check = _run_checks(session, p, on)
    p.comment_start = start
    p.reviewed_on = on
    p.reviewed_by = actor
    return on, body.doc_no, {"documents": [k.value for k in wanted], "flags": [f["class"] for f in p.flags],
                             "check": check}


def _approve(session: Session, p: Proposal, body: Advance, actor: str, today: dt.date
             ) -> tuple[dt.date, str | None, dict[str, Any]]:
    """批准 (§1.3 step 3): the stated authority must be the competent one; the name becomes standard."""
    if body.date is None:
        raise InvalidInput("the approval date (批准时间) is required in date", "须填写批准时间", field="date",
                           rule="D3")
    on = body.date
    _not_future(on, "date")
    _not_before(on, p.reviewed_on, "review", "论证完成日期")
    doc_no = _required(body.doc_no, "doc_no", "the approval document number (文号)", "批准文号", "§1.3")
    stated = _required(body.authority, "authority", "the approving authority (批准机关)", "批准机关", "D3")
    row = authority_for(session, p.category_code)
    if row is None:
        raise InvalidInput(
            f"no approving authority is configured for category {p.category_code}; an admin adds one with "
            "PUT /api/v1/proposals/authorities/{prefix}",
            f"未配置类别 {p.category_code} 的批准机关，请管理员先行配置", field="category_code", rule="§1.3",
            code="no_authority",
        )
    accepted = {_norm(row.authority), *(_norm(a) for a in row.aliases)}
    if _norm(stated) not in accepted:
        raise InvalidInput(
            f"names of category {p.category_code} are approved by {row.authority}, not {stated} "
            f"({row.note or row.rule})",
            f"类别 {p.category_code} 的地名由{row.authority}批准，而不是{stated}",
            field="authority", rule=row.rule, code="authority_mismatch", extra={"expected": row.authority},
        )
    if row.needs_civil_affairs_opinion:
        _missing(session, p, [DocKind.civil_affairs_opinion], row.rule)
    location = (body.location_description or "").strip() or p.location_description
    if not location:
        raise InvalidInput("the public notice needs a location description (location_description, 位置描述)",
                           "公告须载明位置描述", field="location_description", rule="D3")
    p.location_description = location
    check = _run_checks(session, p, on)
    justification = (body.flags_justification or "").strip() or None
    if p.flags and justification is None:
        rules = sorted({str(f["rule"]) for f in p.flags})
        classes = "".join(sorted({str(f["class"]) for f in p.flags}, key="大洋怪重".index))
        raise InvalidInput(
            f"{p.name} has open review flags ({classes}: {'; '.join(str(f['reason']) for f in p.flags)}); "
            "approving it needs flags_justification",
            f"“{p.name}”存在未处理的不规范地名标记（{classes}），批准须填写保留理由",
            field="flags_justification", rule=", ".join(rules), code="flags_need_justification",
            extra={"flags": p.flags},
        )
    reason = f"{KIND_ZH[Kind(p.kind)]}批准：{stated} {doc_no}"
    if p.kind == Kind.naming.value:
        place_id = _create_place(session, p, on, doc_no, stated, actor, reason)
    else:
        place_id = _rename_place(session, p, on, actor, reason)
    if justification is not None:
        checks.close_flags(session, place_id, "exempted", actor, justification, name=p.name)
    p.place_id = place_id
    p.approved_on = on
    p.approval_authority = stated
    p.approval_doc_no = doc_no
    p.approved_by = actor
    p.flags_justification = justification
    return on, doc_no, {"authority": stated, "place_id": place_id, "flags": [f["class"] for f in p.flags],
                        "check": check}


def _create_place(session: Session, p: Proposal, on: dt.date, doc_no: str, authority: str, actor: str, reason: str
                  ) -> int:
    geometry = session.scalar(select(func.ST_AsGeoJSON(Proposal.geom, 9, 0)).where(Proposal.id == p.id))
    body = PlaceCreate(
        name=p.name, category_code=p.category_code, geometry=json.loads(geometry) if geometry else None,
        division_code=p.division_code, status=PlaceStatus.standard, romanized=p.romanized,
        source=f"naming proposal {p.id}", valid_from=on, reason=reason, named_on=on, meaning=p.meaning,
        description=p.location_description, sources=f"{authority} {doc_no}",
    )
    row, _flags = places.create(session, body, actor)
    return row.place_id


def _rename_place(session: Session, p: Proposal, on: dt.date, actor: str, reason: str) -> int:
    assert p.place_id is not None  # the renaming_place constraint
    # Read, then written through places.update, which locks and compares with the version read here: a change
    # made in between answers 412 instead of being overwritten.
    current = places.current_row(session, p.place_id, clock.today())
    if current is None:
        raise Conflict(f"place {p.place_id} is no longer in force", f"地名 {p.place_id} 已废止",
                       field="place_id", rule="§1.3", code="place_gone")
    if current.name != p.old_name:
        raise Conflict(f"place {p.place_id} is now called {current.name}, not {p.old_name}; withdraw and reapply",
                       f"地名 {p.place_id} 现名为“{current.name}”而非“{p.old_name}”，请撤回后重新申报",
                       field="place_id", rule="§1.3", code="place_changed")
    change: dict[str, Any] = {"mode": "legal", "effective_date": on, "name": p.name,
                              "status": PlaceStatus.standard, "reason": reason}
    if p.romanized:
        change["romanized"] = p.romanized
    row, _flags = places.update(session, p.place_id, PlaceUpdate(**change), places.etag(current.id, current.version),
                                actor, via_proposal=p.id)
    return row.place_id


def _deadline(p: Proposal, on: dt.date, days: int, code: str, rule: str, verb: str, verb_zh: str
              ) -> tuple[dt.date, bool]:
    """(Due date, late?) for a step due ``days`` after approval; a late step is recorded as a warning on ``p``."""
    assert p.approved_on is not None
    due = p.approved_on + dt.timedelta(days=days)
    late = on > due
    if late:
        p.warnings = [*p.warnings, {
            "code": code, "rule": rule,
            "message": f"{verb} on {on}, {(on - due).days} days after the due date {due}",
            "message_zh": f"{zh_date(on)}{verb_zh}，超过期限（{zh_date(due)}）{(on - due).days}天",
        }]
    return due, late


def _file(session: Session, p: Proposal, body: Advance, actor: str, today: dt.date
          ) -> tuple[dt.date, str | None, dict[str, Any]]:
    """备案 (D1): within 15 days of approval; a late filing is recorded with a warning, not refused."""
    on = body.date or today
    _not_future(on, "date")
    _not_before(on, p.approved_on, "approval", "批准时间")
    doc_no = _required(body.doc_no, "doc_no", "the filing number (备案文号)", "备案文号", "D1")
    due, late = _deadline(p, on, FILING_DAYS, "filing_late", "D1", "filed", "备案")
    p.filed_on = on
    p.filing_doc_no = doc_no
    p.filed_with = (body.filed_with or "").strip() or None
    p.filed_by = actor
    return on, doc_no, {"due": due.isoformat(), "late": late, "filed_with": p.filed_with}


def _announce(session: Session, p: Proposal, body: Advance, actor: str, today: dt.date
              ) -> tuple[dt.date, str | None, dict[str, Any]]:
    """公告 (D2): within 15 days of approval; a late notice is recorded with a warning, not refused."""
    on = body.date or today
    _not_future(on, "date")
    _not_before(on, p.filed_on, "filing", "备案日期")
    doc_no = _required(body.doc_no, "doc_no", "the notice number (公告编号)", "公告编号", "D2")
    due, late = _deadline(p, on, NOTICE_DAYS, "notice_late", "D2", "announced", "公告")
    p.announced_on = on
    p.notice_no = doc_no
    p.announced_by = actor
    return on, doc_no, {"due": due.isoformat(), "late": late}


def close(session: Session, p: Proposal, to: Stage, body: Close, actor: str) -> Proposal:
    """不予批准 or 撤回: only before approval (after it, the name is law and changes by a new procedure)."""
    stage = Stage(p.stage)
    if stage not in OPEN_STAGES:
        raise Conflict(
            f"proposal {p.id} is {stage.value}; only an open proposal (applied, reviewed) can be {to.value}",
            f"申报 {p.id} 已{STAGE_ZH[stage]}，只有批准前的申报才能{STAGE_ZH[to]}",
            field="to", rule="§1.3", code="stage_order",
        )
    on = body.date or clock.today()
    _not_future(on, "date")
    _not_before(on, p.applied_on, "application", "申报日期")
    audit.set_context(session, actor, body.reason)
    check = _run_checks(session, p, on)
    p.stage = to.value
    p.closed_on = on
    p.closed_by = actor
    p.closed_reason = body.reason
    session.flush()
    _step(session, p, stage.value, to, on, None, actor, body.reason, {"check": check})
    session.flush()
    session.refresh(p)
    return p


def close_by_id(session: Session, proposal_id: int, to: Stage, body: Close, if_match: str | None, actor: str
                ) -> Proposal:
    p = GUARD.lock(session, proposal_id, if_match, missing=lambda: _no_proposal(proposal_id))
    return close(session, p, to, body, actor)


# -- the public notice (D2, D3) -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """What a 公告 says: the six statutory fields of D3 (in order), plus title, number and issuer."""

    proposal_id: int
    kind: str
    title: str
    issuer: str
    notice_no: str | None
    announced_on: dt.date | None
    approval_doc_no: str
    old_name: str | None
    fields: tuple[tuple[str, str], ...]

    def field(self, label: str) -> str:
        return dict(self.fields)[label]


D3_FIELDS = ("标准名称", "罗马字母拼写", "所属政区", "位置描述", "批准机关", "批准时间")


def division_path(session: Session, code: str | None, on: dt.date) -> str:
    """所属政区 as the chain of names in force on ``on`` (安徽省合肥市肥东县店埠镇)."""
    if not code:
        return ""
    chain = session.execute(
        text("""
            WITH RECURSIVE chain(code, name, parent_code, depth) AS (
                SELECT d.code, d.name, d.parent_code, 0 FROM divisions d
                WHERE d.code = :c AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on)
                UNION ALL
                SELECT d.code, d.name, d.parent_code, chain.depth + 1 FROM divisions d JOIN chain
                    ON d.code = chain.parent_code
                WHERE d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on) AND chain.depth < 6
            )
            SELECT string_agg(name, '' ORDER BY depth DESC) FROM chain"""),
        {"c": code, "on": on},
    ).scalar()
    return str(chain or code)


def notice(session: Session, proposal_id: int, settings: NamingSettings) -> Notice:
    p = get(session, proposal_id)
    if Stage(p.stage) not in APPROVED_STAGES or p.approved_on is None or p.place_id is None:
        raise Conflict(
            f"proposal {p.id} is {p.stage}; a public notice is generated once the name is approved",
            f"申报 {p.id} 尚未批准（{STAGE_ZH[Stage(p.stage)]}），批准后方可生成公告",
            field="stage", rule="D2", code="not_approved",
        )
    row = places.current_row(session, p.place_id, p.approved_on)
    name = row.name if row is not None else p.name
    romanized = row.romanized if row is not None else (p.romanized or "")
    division = row.division_code if row is not None and row.division_code else p.division_code
    kind_zh = KIND_ZH[Kind(p.kind)]
    subject = f"{p.old_name}更名为{name}" if p.kind == Kind.renaming.value else f"{name}命名"
    fields = (
        ("标准名称", name),
        ("罗马字母拼写", romanized),
        ("所属政区", division_path(session, division, p.approved_on)),
        ("位置描述", p.location_description or ""),
        ("批准机关", p.approval_authority or ""),
        ("批准时间", zh_date(p.approved_on)),
    )
    return Notice(
        proposal_id=p.id, kind=kind_zh, title=f"{settings.notice_issuer}关于{subject}的公告",
        issuer=settings.notice_issuer, notice_no=p.notice_no, announced_on=p.announced_on,
        approval_doc_no=p.approval_doc_no or "", old_name=p.old_name, fields=fields,
    )
