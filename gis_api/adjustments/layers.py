"""Other layers that follow a division adjustment: place names (``places``) and facilities.

Places are updated through the places service as legal changes on the effective date (new valid-time
versions), so ``as_of`` before and after both answer. Facilities are listed for follow-up only.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.adjustments.plan import Plan
from gis_api.errors import DimingError


def _table_exists(session: Session, table: str, *columns: str) -> bool:
    if session.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
        return False
    have = set(session.scalars(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND table_schema = current_schema()"
    ), {"t": table}).all())
    return set(columns) <= have


def _targets(plan: Plan) -> dict[str, str]:
    """Old code -> the code that takes over its places (recoded or merged into)."""
    out = dict(plan.recode)
    for pred, succ, relation in plan.lineage:
        if relation == "merged_into":
            out.setdefault(pred, succ)
    return out


def affected_places(session: Session, plan: Plan) -> list[dict[str, Any]]:
    if not _table_exists(session, "places", "place_id", "division_code", "geom", "valid_from", "valid_to"):
        return []
    before = plan.effective_date - dt.timedelta(days=1)
    targets = _targets(plan)
    renames = {code: new for code, _old, new in plan.renames}
    geom_changes = {c.code: c.values["geom"] for c in plan.changes if "geom" in c.values}
    codes = sorted(set(targets) | set(renames) | set(geom_changes) | set(plan.retires)
                   | {t.from_code for t in plan.transfers})
    if not codes:
        return []
    rows = session.execute(text("""
        SELECT p.place_id, p.name, p.category_code, p.division_code, GeometryType(p.geom) AS gtype,
               d.name AS division_name, ST_X(ST_PointOnSurface(p.geom)) AS lon, ST_Y(ST_PointOnSurface(p.geom)) AS lat
        FROM places p
        LEFT JOIN divisions d ON d.code = p.division_code AND d.valid_from <= :on
             AND (d.valid_to IS NULL OR d.valid_to > :on)
        WHERE p.division_code = ANY(CAST(:codes AS text[])) AND p.valid_from <= :on
          AND (p.valid_to IS NULL OR p.valid_to > :on)
        ORDER BY p.place_id"""), {"codes": codes, "on": before}).mappings().all()
    moved: dict[str, list[tuple[str, str]]] = {}
    for giver, receiver, area in plan.moved_areas:
        moved.setdefault(giver, []).append((receiver, area))
    out: list[dict[str, Any]] = []
    for r in rows:
        code = r["division_code"]
        own = r["name"] == r["division_name"]  # the gazetteer entry of the division itself
        item: dict[str, Any] = {
            "place_id": r["place_id"], "name": r["name"], "category_code": r["category_code"],
            "division_code": code, "new_division_code": code, "actions": [],
            # where to mark it on the map (the impact report is drawn there)
            "lon": round(float(r["lon"]), 7) if r["lon"] is not None else None,
            "lat": round(float(r["lat"]), 7) if r["lat"] is not None else None,
        }
        if code in targets:
            item["new_division_code"] = targets[code]
            if own and code in plan.retires and code not in plan.recode:
                item["actions"].append("retire")  # merged away: the name becomes historic
            else:
                item["actions"].append("recode")
        if code in renames and own:
            item["actions"].append("rename")
            item["new_name"] = renames[code]
        if own and code in geom_changes and r["gtype"] in ("MULTIPOLYGON", "POLYGON"):
            item["actions"].append("geometry")
        if not own and code in moved:
            for receiver, area in moved[code]:
                inside = session.execute(text(
                    "SELECT ST_Within(ST_PointOnSurface(p.geom), ST_GeomFromEWKB(decode(:a, 'hex'))) FROM places p "
                    "WHERE p.place_id = :pid AND p.valid_from <= :on AND (p.valid_to IS NULL OR p.valid_to > :on)"),
                    {"a": area, "pid": r["place_id"], "on": before}).scalar()
                if inside:
                    item["new_division_code"] = receiver
                    item["actions"].append("move")
        if code in plan.retires and not own and code not in targets:
            item["actions"].append("review")  # its division disappears without a successor
        if item["actions"]:
            out.append(item)
    return out


def affected_facilities(session: Session, plan: Plan) -> list[dict[str, Any]]:
    if not _table_exists(session, "facilities", "name", "division_code"):
        return []
    targets = _targets(plan)
    codes = sorted(set(targets) | set(plan.retires) | {t.from_code for t in plan.transfers})
    if not codes:
        return []
    id_col = "facility_id" if _table_exists(session, "facilities", "facility_id") else "id"
    current = ("AND f.valid_from <= :on AND (f.valid_to IS NULL OR f.valid_to > :on)"
               if _table_exists(session, "facilities", "valid_from", "valid_to") else "")
    rows = session.execute(text(
        f"SELECT f.{id_col} AS id, f.name, f.division_code FROM facilities f "  # id_col from a fixed pair
        f"WHERE f.division_code = ANY(CAST(:codes AS text[])) {current} ORDER BY 1"),
        {"codes": codes, "on": plan.effective_date - dt.timedelta(days=1)}).mappings().all()
    return [{"facility_id": r["id"], "name": r["name"], "division_code": r["division_code"],
             "new_division_code": targets.get(r["division_code"], r["division_code"]),
             "action": "update division_code (follow-up)"} for r in rows]


def apply_places(session: Session, plan: Plan, items: list[dict[str, Any]], actor: str, reason: str
                 ) -> dict[str, Any]:
    """Write the place changes as legal versions on the effective date; report what needs a person."""
    from gis_api.places import service as places
    from gis_api.places.schemas import PlaceRetire, PlaceUpdate

    eff = plan.effective_date
    done: list[dict[str, Any]] = []
    manual: list[dict[str, Any]] = []
    geom_changes = {c.code: c.values["geom"] for c in plan.changes if "geom" in c.values}
    for item in items:
        pid = int(item["place_id"])
        actions = item["actions"]
        try:
            if "retire" in actions:
                places.retire(session, pid, PlaceRetire(effective_date=eff, reason=reason), "*", actor)
                done.append({"place_id": pid, "action": "retire"})
                continue
            fields: dict[str, Any] = {"mode": "legal", "effective_date": eff, "reason": reason}
            if item["new_division_code"] != item["division_code"]:
                fields["division_code"] = item["new_division_code"]
            if "rename" in actions:
                fields["name"] = item["new_name"]
            if "geometry" in actions:
                hexg = geom_changes[item["division_code"]]
                fields["geometry"] = json.loads(str(session.execute(
                    text("SELECT ST_AsGeoJSON(ST_GeomFromEWKB(decode(:g, 'hex')), 15, 0)"), {"g": hexg}).scalar_one()))
            if len(fields) == 3:
                manual.append({**item, "why": "nothing to write automatically"})
                continue
            places.update(session, pid, PlaceUpdate(**fields), "*", actor)
            done.append({"place_id": pid, "action": "+".join(actions),
                         "division_code": fields.get("division_code", item["division_code"])})
        except DimingError as exc:  # checked before the places service writes anything
            manual.append({**item, "why": exc.message, "why_zh": exc.message_zh})
    return {"updated": done, "manual": manual}
