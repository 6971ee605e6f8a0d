"""R2 second sign-off: a typo correction of a standard name that came out of the naming procedure.

An officer's ``PATCH /api/v1/places/{id}`` that corrects the spelling of such a name does not write the place: it is
checked (the whole change is tried in a savepoint and rolled back, so what would be refused at confirmation is
refused now) and recorded as a pending correction request — the PATCH body, the place version it was based on
(its ETag), the old and new name, the officer and the reason — answered 202. A reviewer, another logged-in user,
confirms it with a request of their own: the stored body is applied through ``service.update`` with the stored
ETag as If-Match (``Versioned`` lock), so a place changed meanwhile answers 412 and nothing is written; or rejects
it with a reason. The place's audit row names both people; the request's own row keeps requested_by/decided_by.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag
from gis_api.divisions.schemas import ChangeMode
from gis_api.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from gis_api.places import service
from gis_api.places.models import NameCorrection, Place, PlaceStatus
from gis_api.places.schemas import PlaceUpdate

PENDING, CONFIRMED, REJECTED = "pending", "confirmed", "rejected"


def etag(c: NameCorrection) -> str:
    return make_etag("nc", c.id, c.version)


def as_json(c: NameCorrection) -> dict[str, Any]:
    return {"id": c.id, "place_id": c.place_id, "proposal_id": c.proposal_id, "old_name": c.old_name,
            "new_name": c.new_name, "changes": c.changes, "reason": c.reason, "status": c.status,
            "requested_by": c.requested_by, "requested_at": c.created_at.isoformat() if c.created_at else None,
            "base_etag": c.base_etag, "decided_by": c.decided_by,
            "decided_at": c.decided_at.isoformat() if c.decided_at else None, "decision_note": c.decision_note,
            "version": c.version, "etag": etag(c), "url": f"/api/v1/name-corrections/{c.id}",
            "place_url": f"/api/v1/places/{c.place_id}"}


GUARD = Versioned(
    model=NameCorrection, key=NameCorrection.id, etag=etag,
    label=lambda c: (f"name correction request {c.id}", f"地名更正申请 {c.id} "),
    body=lambda _s, c: json.dumps(as_json(c), ensure_ascii=False),
)


def _not_found(correction_id: int) -> NotFound:
    return NotFound(f"no name correction request {correction_id}", f"不存在编号为 {correction_id} 的地名更正申请",
                    field="id")


def get(session: Session, correction_id: int) -> NameCorrection:
    c = session.get(NameCorrection, correction_id)
    if c is None:
        raise _not_found(correction_id)
    return c


def listing(session: Session, status: str | None, place_id: int | None, limit: int = 100) -> dict[str, Any]:
    q = select(NameCorrection).order_by(NameCorrection.id.desc()).limit(limit)
    if status:
        q = q.where(NameCorrection.status == status)
    if place_id is not None:
        q = q.where(NameCorrection.place_id == place_id)
    rows = session.scalars(q).all()
    return {"numberReturned": len(rows), "items": [as_json(c) for c in rows]}


def _needs_sign_off(session: Session, row: Place, body: PlaceUpdate) -> int | None:
    """The naming proposal behind the place's name when ``body`` is a correction of that name that R2 lets
    through only with a reviewer's confirmation (a typo of the registered form); None otherwise — the ordinary
    write path then applies it or refuses it (a new name: 409 R2, pointing to the renaming procedure)."""
    if (body.name is None or body.mode is not ChangeMode.correction or row.status != PlaceStatus.standard.value):
        return None
    new_name = body.name.strip()
    if not new_name or new_name == row.name or not service.is_typo(row.name, new_name):
        return None
    return service.procedure_of(session, row.place_id, row.name)


def patch_place(session: Session, place_id: int, body: PlaceUpdate, if_match: str | None, actor: str
                ) -> tuple[Place, list[dict[str, Any]]] | NameCorrection:
    """The officer's PATCH: the place written (``service.update``), or a pending correction request (R2)."""
    today = clock.today()
    row = service.GUARD.lock(session, place_id, if_match, where=service._in_force(today),
                             missing=lambda: service._not_found(place_id, today))
    proposal = _needs_sign_off(session, row, body)
    if proposal is None:
        return service.update(session, place_id, body, if_match, actor, locked=row)
    waiting = session.scalar(select(NameCorrection).where(NameCorrection.place_id == place_id,
                                                          NameCorrection.status == PENDING))
    if waiting is not None:
        raise Conflict(
            f"a correction of {row.name} to {waiting.new_name} by {waiting.requested_by} is already waiting for a "
            f"reviewer (request {waiting.id}); it must be confirmed or rejected first",
            f"“{row.name}”已有 {waiting.requested_by} 提交的更正申请（改为“{waiting.new_name}”，编号 {waiting.id}）"
            "待审核人确认，须先确认或退回", field="name", rule="R2", code="correction_pending",
            extra={"correction_id": waiting.id})
    base = service.etag(row.id, row.version)
    old_name, new_name = row.name, (body.name or "").strip()
    # Try the whole change as the confirmation will make it, then roll it back: whatever would be refused then
    # (T1, G1, §1.4, the place's other fields) is refused now, to the officer who can fix it.
    trial = session.begin_nested()
    try:
        service.update(session, place_id, body, base, actor, confirmation="trial")
    finally:
        trial.rollback()
    audit.set_context(session, actor, body.reason)
    c = NameCorrection(place_id=place_id, proposal_id=proposal, base_etag=base, old_name=old_name,
                       new_name=new_name, changes=body.model_dump(mode="json", exclude_unset=True),
                       reason=body.reason, requested_by=actor)
    session.add(c)
    session.flush()
    session.refresh(c)
    return c


def _still_pending(c: NameCorrection) -> None:
    if c.status != PENDING:
        raise Conflict(f"name correction request {c.id} was already {c.status} by {c.decided_by}",
                       f"地名更正申请 {c.id} 已由 {c.decided_by} 处理（{c.status}）", field="status", rule="R2",
                       code="correction_decided")


def _decide(session: Session, c: NameCorrection, status: str, who: str, note: str | None, why: str) -> None:
    """One UPDATE of the request, audited as ``who`` with ``why``: the time and the audit context are set before
    the row is touched (either statement would flush a half-made decision as an audit row of its own)."""
    at = session.scalar(select(func.now())) or dt.datetime.now(dt.UTC)
    audit.set_context(session, who, why)
    c.status, c.decided_by, c.decided_at, c.decision_note = status, who, at, note
    session.flush()


def confirm(session: Session, correction_id: int, if_match: str | None, user: auth.User, note: str | None,
            place_etag: str | None = None) -> tuple[NameCorrection, Place]:
    """A reviewer's sign-off: the stored change applied to the place version it was based on (or, after a 412,
    to the version the reviewer has since seen: ``place_etag``), audited with both people."""
    c = GUARD.lock(session, correction_id, if_match, missing=lambda: _not_found(correction_id))
    _still_pending(c)
    if c.requested_by == user.username:
        raise Forbidden(
            f"{user.username} requested this correction and cannot also confirm it: another reviewer must (R2)",
            f"{user.username} 是该更正的申请人，不能自行确认，须由另一位审核人确认（R2）", field="id", rule="R2")
    reviewer = user.username
    confirmation = (f"R2 typo correction of the standard name {c.old_name} → {c.new_name} (naming proposal "
                    f"{c.proposal_id}, correction request {c.id}): requested by {c.requested_by}, confirmed by "
                    f"reviewer {reviewer} / 标准地名书写错误更正，{c.requested_by} 申请，审核人 {reviewer} 确认")
    body = PlaceUpdate.model_validate(c.changes)
    try:
        place, _flags = service.update(session, c.place_id, body, place_etag or c.base_etag, reviewer,
                                       confirmation=confirmation)
    except PreconditionFailed as e:
        raise PreconditionFailed(
            f"place {c.place_id} changed after {c.requested_by} requested this correction (based on {c.base_etag}): "
            "nothing was written; compare the versions, then confirm against the current one or reject the request",
            f"地名 {c.place_id} 在 {c.requested_by} 提交更正申请后已被修改（申请基于 {c.base_etag}），未作任何修改；"
            "请比较两个版本后基于当前版本确认，或退回申请",
            field="If-Match", rule="R2", extra=e.extra, headers=e.headers) from e
    _decide(session, c, CONFIRMED, reviewer, note, note or confirmation)
    session.refresh(c)
    return c, place


def reject(session: Session, correction_id: int, if_match: str | None, user: auth.User, reason: str
           ) -> NameCorrection:
    """A reviewer turns the request down (with the reason); the place is not touched."""
    c = GUARD.lock(session, correction_id, if_match, missing=lambda: _not_found(correction_id))
    _still_pending(c)
    _decide(session, c, REJECTED, user.username, reason, reason)
    session.refresh(c)
    return c

