"""Facility rules and SQL: as-of reads as GeoJSON built in PostGIS; versioned, audited writes.

Services take a session and never commit: the request (or CLI command) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import WKBElement
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag
from gis_api.errors import Conflict, InvalidInput, NotFound
from gis_api.facilities import versioning
from gis_api.facilities.models import FACILITY_ID_SEQ, Facility, FacilityKind
from gis_api.facilities.schemas import FacilityCreate, FacilityUpdate, KindCreate, Retire
from gis_api.geo.geometry_input import parse_geojson

TABLE = "facilities"
AS_OF = "f.valid_from <= :as_of AND (f.valid_to IS NULL OR f.valid_to > :as_of)"

FEATURE_SQL = """
json_build_object(
    'type', 'Feature',
    'id', f.facility_id,
    'geometry', ST_AsGeoJSON(f.geom, 7, 0)::json,
    'properties', json_build_object(
        'id', f.facility_id, 'row_id', f.id, 'name', f.name, 'kind', f.kind,
        'kind_name', (SELECT k.name_zh FROM facility_kinds k WHERE k.code = f.kind),
        'division_code', f.division_code,
        'division_name', (SELECT d.name FROM divisions d WHERE d.code = f.division_code
                          ORDER BY (d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)) DESC,
                                   d.valid_from DESC LIMIT 1),
        'address', f.address, 'capacity', f.capacity, 'staff', f.staff, 'opened_on', f.opened_on,
        'status', f.status, 'source', f.source, 'remarks', f.remarks,
        'site_area_m2', CASE WHEN f.site_geom IS NOT NULL
                             THEN round(ST_Area(f.site_geom::geography)::numeric, 1) END,
        'site_area_mu', CASE WHEN f.site_geom IS NOT NULL
                             THEN round((ST_Area(f.site_geom::geography) / (10000.0 / 15))::numeric, 2) END,
        'valid_from', f.valid_from, 'valid_to', f.valid_to, 'version', f.version
    )
)"""


def etag(row_id: int, version: int) -> str:
    return make_etag("f", row_id, version)


def _not_found(facility_id: int, as_of: dt.date) -> NotFound:
    return NotFound(
        f"no facility {facility_id} in force on {as_of.isoformat()}",
        f"{as_of.isoformat()} 时不存在编号为 {facility_id} 的设施", field="id",
    )


# -- kinds ----------------------------------------------------------------------------------------------------

def kinds(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(FacilityKind).order_by(FacilityKind.sort_order, FacilityKind.id)).all()
    return [
        {"id": k.id, "name_zh": k.name_zh, "name_en": k.name_en, "category": k.category,
         "default_radius_m": k.default_radius_m, "note": k.note}
        for k in rows
    ]


def check_kind(session: Session, kind: str, field: str = "kind") -> FacilityKind:
    row = session.get(FacilityKind, kind)
    if row is None:
        known = ", ".join(session.scalars(select(FacilityKind.id).order_by(FacilityKind.sort_order)))
        raise InvalidInput(
            f"unknown facility kind {kind!r}; known kinds: {known}",
            f"未知的设施类型 {kind!r}；可选：{known}", field=field, rule="§6",
        )
    return row


def add_kind(session: Session, body: KindCreate, actor: str) -> FacilityKind:
    if session.get(FacilityKind, body.id) is not None:
        raise Conflict(f"facility kind {body.id} already exists", f"设施类型 {body.id} 已存在", field="id")
    audit.set_context(session, actor, body.reason)
    top = session.execute(text("SELECT coalesce(max(sort_order), 0) FROM facility_kinds")).scalar_one()
    row = FacilityKind(id=body.id, name_zh=body.name_zh.strip(), name_en=body.name_en.strip(),
                       category=body.category.strip(), default_radius_m=body.default_radius_m, note=body.note,
                       sort_order=int(top) + 10)
    session.add(row)
    session.flush()
    return row


# -- reads ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListQuery:
    as_of: dt.date
    kinds: tuple[str, ...] = ()
    within: str | None = None
    status: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    limit: int = 1000
    offset: int = 0


def list_geojson(session: Session, q: ListQuery, next_url: str | None) -> str:
    """A FeatureCollection of the facilities in force on ``as_of``, assembled by PostgreSQL."""
    conds = [AS_OF]
    params: dict[str, Any] = {"as_of": q.as_of, "limit": q.limit, "offset": q.offset, "next": next_url}
    if q.kinds:
        for k in q.kinds:
            check_kind(session, k)
        conds.append("f.kind = ANY(:kinds)")
        params["kinds"] = list(q.kinds)
    if q.within:
        conds.append("f.division_code LIKE :within || '%'")
        params["within"] = q.within
    if q.status:
        conds.append("f.status = :status")
        params["status"] = q.status
    if q.bbox:
        conds.append("f.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490)")
        params.update(dict(zip(("x1", "y1", "x2", "y2"), q.bbox, strict=True)))
    where = " AND ".join(conds)  # fixed fragments; values are bound
    sql = f"""
        WITH matched AS (SELECT count(*) AS n FROM facilities f WHERE {where}),
        page AS (SELECT f.* FROM facilities f WHERE {where} ORDER BY f.facility_id LIMIT :limit OFFSET :offset)
        SELECT json_build_object(
            'type', 'FeatureCollection',
            'numberMatched', (SELECT n FROM matched),
            'numberReturned', (SELECT count(*) FROM page),
            'as_of', CAST(:as_of AS date),
            'features', coalesce((SELECT json_agg({FEATURE_SQL} ORDER BY f.facility_id) FROM page f), '[]'::json),
            'links', CASE WHEN (SELECT n FROM matched) > :offset + :limit AND CAST(:next AS text) IS NOT NULL
                          THEN json_build_array(json_build_object(
                              'rel', 'next', 'type', 'application/geo+json', 'href', CAST(:next AS text)))
                          ELSE '[]'::json END
        )::text"""
    return str(session.execute(text(sql), params).scalar_one())


def feature(session: Session, facility_id: int, as_of: dt.date) -> tuple[str, str]:
    """(GeoJSON Feature with the site polygon, ETag) of the version in force on ``as_of``."""
    row = session.execute(
        text(f"""SELECT jsonb_set(({FEATURE_SQL})::jsonb, '{{properties,site_geometry}}',
                                  coalesce(ST_AsGeoJSON(f.site_geom, 7, 0)::jsonb, 'null'::jsonb))::text,
                        f.id, f.version
                 FROM facilities f WHERE f.facility_id = :fid AND {AS_OF}"""),
        {"fid": facility_id, "as_of": as_of},
    ).first()
    if row is None:
        raise _not_found(facility_id, as_of)
    return str(row[0]), etag(int(row[1]), int(row[2]))


def current_row(session: Session, facility_id: int, as_of: dt.date) -> Facility | None:
    """The version in force on ``as_of``, for reading; writers get theirs from ``GUARD.lock``."""
    stmt = select(Facility).where(
        Facility.facility_id == facility_id,
        Facility.valid_from <= as_of,
        (Facility.valid_to.is_(None)) | (Facility.valid_to > as_of),
    )
    return session.scalars(stmt).first()


# Writers take the newest version (a planned facility may start in the future).
GUARD = Versioned(
    model=Facility, key=Facility.facility_id, latest=(Facility.valid_from.desc(),),
    etag=lambda r: etag(r.id, r.version),
    label=lambda r: (f"facility {r.facility_id}", f"设施 {r.facility_id} "),
    body=lambda s, r: feature(s, r.facility_id, r.valid_from)[0],
)


def history(session: Session, facility_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(Facility.id, Facility.name, Facility.kind, Facility.status, Facility.valid_from, Facility.valid_to,
               Facility.version).where(Facility.facility_id == facility_id).order_by(Facility.valid_from)
    ).all()
    if not rows:
        raise NotFound(f"no facility {facility_id}", f"不存在编号为 {facility_id} 的设施", field="id")
    versions = [
        {"row_id": r.id, "name": r.name, "kind": r.kind, "status": r.status, "valid_from": r.valid_from.isoformat(),
         "valid_to": r.valid_to.isoformat() if r.valid_to else None, "version": r.version}
        for r in rows
    ]
    changes = [
        {**c, "table": table} for table in ("facilities", "cemeteries")
        for c in audit.history(session, table, str(facility_id))
    ]
    changes.sort(key=lambda c: str(c["at"]))
    return {"id": facility_id, "versions": versions, "changes": changes}


# -- validation ------------------------------------------------------------------------------------------------

def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", "名称不能为空", field="name")
    return name


def parse_point(geometry: dict[str, Any], field: str = "geometry") -> WKBElement:
    return parse_geojson(geometry, field=field, allowed=("Point",))


def parse_area(geometry: dict[str, Any], field: str) -> WKBElement:
    return parse_geojson(geometry, field=field, allowed=("MultiPolygon",))


def township_of(session: Session, geom: WKBElement, as_of: dt.date) -> str | None:
    """The township (else county) whose polygon covers the point, in force on ``as_of``."""
    return session.execute(
        text("""SELECT d.code FROM divisions d
                WHERE d.level IN ('township', 'county') AND ST_Covers(d.geom, ST_GeomFromEWKB(:g))
                  AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)
                ORDER BY d.level = 'township' DESC, d.code LIMIT 1"""),
        {"g": bytes(geom.data), "as_of": as_of},
    ).scalar()


def resolve_division(session: Session, stated: str | None, geom: WKBElement, as_of: dt.date) -> str | None:
    derived = township_of(session, geom, as_of)
    if not stated:
        return derived
    exists = session.execute(
        text("SELECT name FROM divisions d WHERE d.code = :c AND d.valid_from <= :d "
             "AND (d.valid_to IS NULL OR d.valid_to > :d)"), {"c": stated, "d": as_of},
    ).scalar()
    if exists is None:
        raise InvalidInput(f"division_code {stated} is not a division in force on {as_of}",
                           f"所在行政区代码 {stated} 在 {as_of} 时不存在", field="division_code")
    if derived is None or derived.startswith(stated) or stated.startswith(derived):
        return stated if derived is None or len(stated) >= len(derived) else derived
    raise InvalidInput(
        f"division_code {stated} ({exists}) does not match the point, which lies in {derived}",
        f"所填行政区 {stated}（{exists}）与位置不符：该设施位于 {derived}", field="division_code",
    )


# -- writes -------------------------------------------------------------------------------------------------------

def create(session: Session, body: FacilityCreate, actor: str) -> Facility:
    name = check_name(body.name)
    check_kind(session, body.kind)
    geom = parse_point(body.geometry)
    site = parse_area(body.site_geometry, "site_geometry") if body.site_geometry else None
    valid_from = body.valid_from or body.opened_on or clock.today()
    division = resolve_division(session, body.division_code, geom, valid_from)
    if site is not None:
        _check_site(session, geom, site)
    audit.set_context(session, actor, body.reason)
    facility_id = int(session.execute(FACILITY_ID_SEQ.next_value()).scalar_one())
    row = Facility(
        facility_id=facility_id, name=name, kind=body.kind, geom=geom, site_geom=site, division_code=division,
        address=body.address, capacity=body.capacity, staff=body.staff, opened_on=body.opened_on,
        status=body.status.value, source=body.source.strip() or "planner", valid_from=valid_from,
        remarks=body.remarks,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def _check_site(session: Session, point: WKBElement, site: WKBElement) -> None:
    """The site polygon must hold the facility point or lie within 1 km of it (a typo check, not a survey)."""
    near = session.execute(
        text("SELECT ST_DWithin(ST_GeomFromEWKB(:p)::geography, ST_GeomFromEWKB(:s)::geography, 1000)"),
        {"p": bytes(point.data), "s": bytes(site.data)},
    ).scalar_one()
    if not near:
        raise InvalidInput("site_geometry lies more than 1 km from the facility point",
                           "场地范围距设施位置超过1公里", field="site_geometry")


def update(session: Session, facility_id: int, body: FacilityUpdate, if_match: str | None, actor: str) -> Facility:
    row = GUARD.lock(session, facility_id, if_match, missing=lambda: _not_found(facility_id, clock.today()))
    if row.valid_to is not None and row.valid_to <= clock.today():
        raise _not_found(facility_id, clock.today())
    sent = body.model_fields_set
    changes: dict[str, Any] = {k: getattr(body, k) for k in ("address", "capacity", "staff", "opened_on", "remarks")
                               if k in sent}
    if body.name is not None:
        changes["name"] = check_name(body.name)
    if body.kind is not None:
        check_kind(session, body.kind)
        changes["kind"] = body.kind
    if body.status is not None:
        changes["status"] = body.status.value
    if body.source is not None:
        changes["source"] = body.source
    on = body.effective_date or clock.today()
    if body.geometry is not None:
        changes["geom"] = parse_point(body.geometry)
    if "site_geometry" in sent:
        changes["site_geom"] = parse_area(body.site_geometry, "site_geometry") if body.site_geometry else None
    if body.geometry is not None or body.division_code:
        geom = changes.get("geom", row.geom)
        if isinstance(geom, WKBElement):
            changes["division_code"] = resolve_division(session, body.division_code, geom, on)
    if changes.get("site_geom") is not None:
        point = changes.get("geom", row.geom)
        if isinstance(point, WKBElement):
            _check_site(session, point, changes["site_geom"])
    audit.set_context(session, actor, body.reason)
    return versioning.apply_change(session, row, changes, body.mode, body.effective_date)


def retire(session: Session, facility_id: int, body: Retire, if_match: str | None, actor: str) -> Facility:
    row = GUARD.lock(session, facility_id, if_match, missing=lambda: _not_found(facility_id, clock.today()))
    if row.valid_to is not None:
        raise _not_found(facility_id, clock.today())
    audit.set_context(session, actor, body.reason)
    versioning.close(session, row, body.effective_date)
    return row
