"""Division adjustments as proposals: draft → submitted → approved → applied (or rejected/withdrawn).

Before approval a proposal carries an impact report computed from the same plan that applying writes.
Applying versions every record on the effective date (old versions close, new ones open, codes are retired,
never reused), follows up place names, and re-derives the boundary lines of the levels involved.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.adjustments import layers
from gis_api.adjustments.models import (
    KIND_ZH,
    Adjustment,
    AdjustmentKind,
    AdjustmentStatus,
    DivisionLineage,
    DivisionSeat,
)
from gis_api.adjustments.plan import MU_PER_M2, Plan, build
from gis_api.adjustments.schemas import (
    AdjustmentApprove,
    AdjustmentCreate,
    AdjustmentDecision,
    AdjustmentSpec,
    AdjustmentUpdate,
)
from gis_api.audit import service as audit
from gis_api.boundaries import lines
from gis_api.concurrency import Versioned, make_etag
from gis_api.divisions import service as divisions
from gis_api.divisions.models import Level
from gis_api.divisions.schemas import ChangeMode, DivisionCreate, DivisionRetire, DivisionUpdate
from gis_api.errors import Conflict, Forbidden, InvalidInput, NotFound

TABLE = "adjustments"
DERIVABLE = (Level.province, Level.prefecture, Level.county, Level.township, Level.village)


def etag(row: Adjustment) -> str:
    return make_etag("a", row.id, row.version)


def _no_adjustment(adjustment_id: int) -> NotFound:
    return NotFound(f"no adjustment {adjustment_id}", f"不存在区划调整 {adjustment_id}", field="id")


def get(session: Session, adjustment_id: int) -> Adjustment:
    """The proposal, for reading; writers get it from ``GUARD.lock``."""
    row = session.get(Adjustment, adjustment_id)
    if row is None:
        raise _no_adjustment(adjustment_id)
    return row


GUARD = Versioned(
    model=Adjustment, key=Adjustment.id, etag=etag,
    label=lambda r: (f"adjustment {r.id}", f"区划调整 {r.id} "),
    body=lambda _s, r: json.dumps(as_dict(r), ensure_ascii=False, default=str),
)


def as_dict(row: Adjustment) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind, "kind_zh": KIND_ZH[AdjustmentKind(row.kind)], "title": row.title,
        "status": row.status, "legal": row.kind != AdjustmentKind.geometry_correction.value, "spec": row.spec,
        "documents": row.documents, "approving_authority": row.approving_authority, "document_no": row.document_no,
        "approved_on": row.approved_on.isoformat() if row.approved_on else None,
        "effective_date": row.effective_date.isoformat() if row.effective_date else None,
        "impact": row.impact, "impact_at": row.impact_at.isoformat() if row.impact_at else None,
        "result": row.result, "proposed_by": row.proposed_by, "decided_by": row.decided_by,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None, "decision_note": row.decision_note,
        "applied_by": row.applied_by, "applied_at": row.applied_at.isoformat() if row.applied_at else None,
        "version": row.version,
    }


def list_all(session: Session, status: str | None) -> list[dict[str, Any]]:
    stmt = select(Adjustment).order_by(Adjustment.id)
    if status:
        stmt = stmt.where(Adjustment.status == status)
    return [as_dict(r) for r in session.scalars(stmt)]


def history(session: Session, adjustment_id: int) -> dict[str, Any]:
    get(session, adjustment_id)
    return {"id": adjustment_id, "changes": audit.history(session, TABLE, str(adjustment_id))}


# -- impact ---------------------------------------------------------------------------------------------------

def _area(session: Session, hexg: str | None) -> float:
    if not hexg:
        return 0.0
    return float(session.execute(
        text("SELECT coalesce(ST_Area(ST_GeomFromEWKB(decode(:g, 'hex'))::geography), 0)"), {"g": hexg}
    ).scalar_one())


def _fig(m2: float) -> dict[str, float]:
    return {"m2": round(m2, 1), "km2": round(m2 / 1e6, 4), "mu": round(m2 * MU_PER_M2, 1)}


def impact_report(session: Session, kind: AdjustmentKind, spec: AdjustmentSpec, effective: dt.date) -> dict[str, Any]:
    plan = build(session, kind, spec, effective)
    return _impact(session, plan)


def _impact(session: Session, plan: Plan) -> dict[str, Any]:
    snaps = plan.snapshots
    new_by_code = {n.code: n for n in plan.creates}
    villages_moved = []
    for t in plan.transfers:
        for v in t.villages:
            s = snaps[v]
            villages_moved.append({"code": v, "new_code": plan.recode.get(v), "name": s.name,
                                   "population": s.population, "from": t.from_code, "to": t.to_code,
                                   **_lonlat(session, s.geom)})
    transfers = []
    total_m2 = 0.0
    for t in plan.transfers:
        total_m2 += t.area_m2
        transfers.append({
            "from": t.from_code, "from_name": snaps[t.from_code].name if t.from_code in snaps else None,
            "to": t.to_code,
            "to_name": snaps[t.to_code].name if t.to_code in snaps else new_by_code[t.to_code].name,
            "area": _fig(t.area_m2), "villages": len(t.villages), "population": t.population,
            "geometry": _geojson(session, t.area, digits=7),  # the area that moves, for the map
        })
    divisions_before_after = []
    stitched = [c.code for c in plan.changes if plan.legal and not c.legal]
    involved = [c.code for c in plan.changes if c.code not in stitched] + [
        c for c in plan.retires if snaps[c].level is not Level.village]
    for code in dict.fromkeys(involved):
        s = snaps[code]
        change = next((c for c in plan.changes if c.code == code), None)
        before_villages = session.execute(text(
            "SELECT count(*) FROM divisions WHERE parent_code = :c AND valid_from <= :on "
            "AND (valid_to IS NULL OR valid_to > :on)"), {"c": code, "on": effective_before(plan)}).scalar_one()
        moved_out = sum(len(t.villages) for t in plan.transfers if t.from_code == code)
        moved_in = sum(len(t.villages) for t in plan.transfers if t.to_code == code)
        retired = code in plan.retires
        after_geom = change.values.get("geom", s.geom) if change else s.geom
        divisions_before_after.append({
            "code": code, "name": s.name, "level": s.level.value,
            "before": {"name": s.name, "area_km2": round(_area(session, s.geom if s.dim == 2 else None) / 1e6, 4),
                       "population": s.population, "subdivisions": int(before_villages)},
            "after": None if retired else {
                "name": change.values.get("name", s.name) if change else s.name,
                "area_km2": round(_area(session, after_geom if s.dim == 2 else None) / 1e6, 4),
                "population": change.values.get("population", s.population) if change else s.population,
                "subdivisions": int(before_villages) - moved_out + moved_in,
            },
        })
    for n in plan.creates:
        if n.level is Level.village and n.predecessor:
            continue
        divisions_before_after.append({
            "code": n.code, "name": n.name, "level": n.level.value, "before": None,
            "after": {"name": n.name, "area_km2": round(_area(session, n.geom) / 1e6, 4) if n.level is not Level.village
                      else None, "population": n.population,
                      "subdivisions": sum(1 for c in plan.creates if c.parent_code == n.code)},
        })
    places = layers.affected_places(session, plan)
    facilities = layers.affected_facilities(session, plan)
    involved_codes = sorted({*plan.retires, *(c.code for c in plan.changes if "geom" in c.values)})
    lines_affected = list(session.scalars(text(
        """SELECT DISTINCT l.line_id FROM boundary_lines l JOIN boundary_line_versions v ON v.line_id = l.line_id
           WHERE (l.left_code = ANY(CAST(:codes AS text[])) OR l.right_code = ANY(CAST(:codes AS text[])))
             AND v.valid_from <= :on AND (v.valid_to IS NULL OR v.valid_to > :on) ORDER BY 1"""),
        {"codes": involved_codes, "on": effective_before(plan)}).all())
    seat = None
    if plan.seat:
        old = session.execute(text(
            """SELECT seat_name, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4490)::geography) AS d
               FROM division_seats WHERE code = :c AND valid_from <= :on AND (valid_to IS NULL OR valid_to > :on)"""),
            {"c": plan.seat["code"], "x": plan.seat["lon"], "y": plan.seat["lat"], "on": effective_before(plan)},
        ).mappings().first()
        seat = {**plan.seat, "previous_name": old["seat_name"] if old else None,
                "moved_m": round(float(old["d"]), 1) if old else None}
    return {
        "kind": plan.kind.value, "kind_zh": KIND_ZH[plan.kind], "legal": plan.legal,
        "effective_date": plan.effective_date.isoformat(), "state_as_of": effective_before(plan).isoformat(),
        "codes_retired": [{"code": c, "name": snaps[c].name, "level": snaps[c].level.value} for c in plan.retires],
        "codes_created": [{"code": n.code, "name": n.name, "level": n.level.value, "kind": n.kind,
                           "parent_code": n.parent_code, "predecessor": n.predecessor} for n in plan.creates],
        "renamed": [{"code": c, "from": old, "to": new} for c, old, new in plan.renames],
        "area_moved": _fig(total_m2),
        "transfers": transfers,
        "villages_moved": villages_moved,
        "villages_moved_count": len(villages_moved),
        "population_moved": sum(v["population"] or 0 for v in villages_moved),
        "divisions": divisions_before_after,
        "places_affected": places,
        "places_affected_count": len(places),
        "facilities_affected": facilities,
        "lines_affected": lines_affected,
        "levels_rederived": sorted(lv.value for lv in plan.levels),
        "seat": seat,
        "vertices_added_to": stitched,
        "warnings": plan.warnings,
    }


def effective_before(plan: Plan) -> dt.date:
    return plan.effective_date - dt.timedelta(days=1)


# -- workflow -------------------------------------------------------------------------------------------------

def _spec(row: Adjustment) -> AdjustmentSpec:
    return AdjustmentSpec.model_validate(row.spec)


def _default_effective(effective_date: dt.date | None) -> dt.date:
    return effective_date or (clock.today() + dt.timedelta(days=1))


def _planning_date(row: Adjustment) -> dt.date:
    return _default_effective(row.effective_date)


def current_impact(session: Session, row: Adjustment) -> dict[str, Any]:
    """The stored report once applied, else the report recomputed on the current data."""
    if row.status == AdjustmentStatus.applied.value and row.impact is not None:
        return row.impact
    return impact_report(session, AdjustmentKind(row.kind), _spec(row), _planning_date(row))


def _refresh_impact(session: Session, row: Adjustment) -> None:
    row.impact = impact_report(session, AdjustmentKind(row.kind), _spec(row), _planning_date(row))
    row.impact_at = dt.datetime.now(dt.UTC)


def create(session: Session, body: AdjustmentCreate, actor: str) -> Adjustment:
    effective = _default_effective(body.effective_date)
    report = impact_report(session, body.kind, body.spec, effective)  # validates the proposal
    audit.set_context(session, actor, body.reason)
    row = Adjustment(
        kind=body.kind.value, title=body.title.strip(), spec=body.spec.model_dump(mode="json", exclude_none=True),
        documents=[d.model_dump() for d in body.documents], effective_date=body.effective_date,
        approving_authority=body.approving_authority, impact=report, impact_at=dt.datetime.now(dt.UTC),
        proposed_by=actor,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def _locked(session: Session, adjustment_id: int, if_match: str | None, *allowed: AdjustmentStatus) -> Adjustment:
    """The proposal, locked, after the If-Match and status checks every workflow step starts with."""
    row = GUARD.lock(session, adjustment_id, if_match, missing=lambda: _no_adjustment(adjustment_id))
    _require_status(row, *allowed)
    return row


def _save(session: Session, row: Adjustment, actor: str, reason: str | None) -> Adjustment:
    audit.set_context(session, actor, reason)
    session.flush()
    session.refresh(row)
    return row


def _require_status(row: Adjustment, *allowed: AdjustmentStatus) -> None:
    if row.status not in {a.value for a in allowed}:
        raise Conflict(
            f"adjustment {row.id} is {row.status}; this needs {' or '.join(a.value for a in allowed)}",
            f"区划调整 {row.id} 当前状态为 {row.status}，此操作要求状态为 {'或'.join(a.value for a in allowed)}",
            field="status", code="wrong_status",
        )


def update(session: Session, adjustment_id: int, body: AdjustmentUpdate, if_match: str | None,
           actor: str) -> Adjustment:
    row = _locked(session, adjustment_id, if_match, AdjustmentStatus.draft, AdjustmentStatus.submitted)
    if body.title is not None:
        row.title = body.title.strip()
    if body.spec is not None:
        row.spec = body.spec.model_dump(mode="json", exclude_none=True)
    if body.documents is not None:
        row.documents = [d.model_dump() for d in body.documents]
    if body.effective_date is not None:
        row.effective_date = body.effective_date
    if body.approving_authority is not None:
        row.approving_authority = body.approving_authority
    _refresh_impact(session, row)
    row.status = AdjustmentStatus.draft.value  # an edited proposal is submitted again
    return _save(session, row, actor, body.reason)


def submit(session: Session, adjustment_id: int, body: AdjustmentDecision, if_match: str | None,
           actor: str) -> Adjustment:
    row = _locked(session, adjustment_id, if_match, AdjustmentStatus.draft)
    _refresh_impact(session, row)
    row.status = AdjustmentStatus.submitted.value
    return _save(session, row, actor, body.reason)


def approve(session: Session, adjustment_id: int, body: AdjustmentApprove, if_match: str | None,
            user: auth.User) -> Adjustment:
    row = _locked(session, adjustment_id, if_match, AdjustmentStatus.submitted)
    if row.proposed_by == user.username and auth.Role.admin.value not in user.roles:
        raise Forbidden("a proposal is approved by someone other than its proposer", "提出人不能审批自己的申请",
                        code="four_eyes")
    legal = row.kind != AdjustmentKind.geometry_correction.value
    effective = body.effective_date or row.effective_date
    if legal:
        if not body.document_no:
            raise InvalidInput("a legal change needs the approval document number (文号)", "法定变更须填写批准文号",
                               field="document_no", rule="§4")
        if effective is None:
            raise InvalidInput("a legal change needs an effective date", "法定变更须填写生效日期",
                               field="effective_date", rule="§4")
        if effective < body.approved_on:
            raise InvalidInput("the effective date is before the approval", "生效日期早于批准日期",
                               field="effective_date")
    authority = body.approving_authority or row.approving_authority
    if legal and not authority:
        raise InvalidInput("name the approving authority", "须填写批准机关", field="approving_authority", rule="§4")
    row.effective_date = effective
    _refresh_impact(session, row)
    row.approving_authority = authority
    row.document_no = body.document_no
    row.approved_on = body.approved_on
    row.decided_by = user.username
    row.decided_at = dt.datetime.now(dt.UTC)
    row.decision_note = body.note
    row.status = AdjustmentStatus.approved.value
    return _save(session, row, user.username, body.reason)


def reject(session: Session, adjustment_id: int, body: AdjustmentDecision, if_match: str | None,
           user: auth.User) -> Adjustment:
    row = _locked(session, adjustment_id, if_match, AdjustmentStatus.submitted)
    row.status = AdjustmentStatus.rejected.value
    row.decided_by = user.username
    row.decided_at = dt.datetime.now(dt.UTC)
    row.decision_note = body.note
    return _save(session, row, user.username, body.reason)


def withdraw(session: Session, adjustment_id: int, body: AdjustmentDecision, if_match: str | None,
             actor: str) -> Adjustment:
    row = _locked(session, adjustment_id, if_match,
                  AdjustmentStatus.draft, AdjustmentStatus.submitted, AdjustmentStatus.approved)
    row.status = AdjustmentStatus.withdrawn.value
    row.decision_note = body.note
    return _save(session, row, actor, body.reason)


def _geojson(session: Session, hexg: str | None, digits: int = 15) -> dict[str, Any] | None:
    if hexg is None:
        return None
    return dict(json.loads(str(session.execute(
        text("SELECT ST_AsGeoJSON(ST_GeomFromEWKB(decode(:g, 'hex')), :d, 0)"), {"g": hexg, "d": digits}
    ).scalar_one())))


def _lonlat(session: Session, hexg: str | None) -> dict[str, float]:
    """Where to mark a division on the map (its point, or a point inside its area); nothing without a geometry."""
    if hexg is None:
        return {}
    r = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM ST_PointOnSurface(ST_GeomFromEWKB(decode(:g, 'hex'))) AS p"), {"g": hexg}).one()
    return {"lon": round(float(r[0]), 7), "lat": round(float(r[1]), 7)}


def apply(session: Session, adjustment_id: int, if_match: str | None, actor: str) -> Adjustment:
    """Write the approved adjustment: all or nothing (the request's transaction)."""
    row = _locked(session, adjustment_id, if_match, AdjustmentStatus.approved)
    kind = AdjustmentKind(row.kind)
    legal = kind is not AdjustmentKind.geometry_correction
    eff = row.effective_date or clock.today()
    plan = build(session, kind, _spec(row), eff)
    places_plan = layers.affected_places(session, plan)
    reason = f"{KIND_ZH[kind]}: {row.title}" + (f" ({row.document_no})" if row.document_no else "")
    doc = row.document_no
    for n in plan.creates:
        divisions.create(session, DivisionCreate(
            code=n.code, name=n.name, level=n.level, kind=n.kind, parent_code=n.parent_code,
            geometry=_geojson(session, n.geom), population=n.population, source=n.source, valid_from=eff,
            document_no=doc, reason=reason,
        ), actor)
    for c in plan.changes:
        fields: dict[str, Any] = {k: v for k, v in c.values.items() if k in ("name", "kind", "population")}
        if "geom" in c.values:
            fields["geometry"] = _geojson(session, c.values["geom"])
        if c.legal:
            body = DivisionUpdate(mode=ChangeMode.legal, effective_date=eff, document_no=doc, reason=reason, **fields)
        else:
            body = DivisionUpdate(mode=ChangeMode.correction, reason=reason, **fields)
        divisions.update(session, c.code, body, "*", actor)
    for code in plan.retires:
        divisions.retire(session, code, DivisionRetire(effective_date=eff, document_no=doc, reason=reason), "*", actor)
    audit.set_context(session, actor, reason)
    for pred, succ, relation in plan.lineage:
        session.add(DivisionLineage(adjustment_id=row.id, effective_date=eff, predecessor_code=pred,
                                    successor_code=succ, relation=relation))
    if plan.seat:
        _move_seat(session, plan.seat, eff, doc, reason)
    session.flush()
    places_result = layers.apply_places(session, plan, places_plan, actor, reason)
    derived = []
    for level in sorted(plan.levels, key=lambda lv: DERIVABLE.index(lv)):
        has_lines = session.execute(text("SELECT 1 FROM boundary_lines WHERE level = :l LIMIT 1"),
                                    {"l": level.value}).first()
        polygons = session.execute(text(
            "SELECT 1 FROM divisions WHERE level = :l AND ST_Dimension(geom) = 2 LIMIT 1"), {"l": level.value}).first()
        if has_lines or (polygons and level is not Level.village):
            on = eff if legal else clock.today()
            derived.append(lines.derive(session, level, on, actor, reason).as_dict())
    audit.set_context(session, actor, reason)
    row.status = AdjustmentStatus.applied.value
    row.applied_by = actor
    row.applied_at = dt.datetime.now(dt.UTC)
    row.result = {
        "effective_date": eff.isoformat(),
        "created": [n.code for n in plan.creates], "retired": plan.retires,
        "changed": [c.code for c in plan.changes], "lineage": [list(x) for x in plan.lineage],
        "places": places_result, "facilities_follow_up": layers.affected_facilities(session, plan),
        "lines": derived, "warnings": plan.warnings,
    }
    session.flush()
    session.refresh(row)
    return row


def _move_seat(session: Session, seat: dict[str, Any], eff: dt.date, doc: str | None, reason: str) -> None:
    current = session.scalars(select(DivisionSeat).where(
        DivisionSeat.code == seat["code"], DivisionSeat.valid_from <= eff,
        (DivisionSeat.valid_to.is_(None)) | (DivisionSeat.valid_to > eff),
    ).with_for_update()).first()
    if current is not None:
        if current.valid_from >= eff:
            raise InvalidInput("the seat already changed on or after the effective date",
                               "驻地在生效日期当天或之后已变更",
                               field="effective_date")
        current.valid_to = eff
        session.flush()
    session.add(DivisionSeat(code=seat["code"], seat_name=seat.get("name"), document_no=doc, valid_from=eff,
                             source="adjustment",
                             geom=f"SRID=4490;POINT({float(seat['lon'])!r} {float(seat['lat'])!r})"))
    session.flush()


def seat_of(session: Session, code: str, as_of: dt.date) -> dict[str, Any] | None:
    r = session.execute(text(
        """SELECT code, seat_name, ST_X(geom) AS lon, ST_Y(geom) AS lat, valid_from, valid_to, document_no
           FROM division_seats WHERE code = :c AND valid_from <= :on AND (valid_to IS NULL OR valid_to > :on)"""),
        {"c": code, "on": as_of}).mappings().first()
    if r is None:
        return None
    return {**dict(r), "valid_from": r["valid_from"].isoformat(),
            "valid_to": r["valid_to"].isoformat() if r["valid_to"] else None}


def lineage(session: Session, code: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(DivisionLineage).where(
        (DivisionLineage.predecessor_code == code) | (DivisionLineage.successor_code == code)
    ).order_by(DivisionLineage.effective_date, DivisionLineage.id)).all()
    return [{"predecessor": r.predecessor_code, "successor": r.successor_code, "relation": r.relation,
             "effective_date": r.effective_date.isoformat(), "adjustment_id": r.adjustment_id} for r in rows]
