"""Cemeteries (domain.md §6): burial facts, parcels in m² and 亩, served townships, and the exclusion check of a
parcel against the configurable constraint layers. Areas and intersections are computed by PostGIS on the
ellipsoid (geography), never in degrees.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from geoalchemy2 import WKBElement
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag
from gis_api.divisions.schemas import ChangeMode
from gis_api.errors import Conflict, InvalidInput, NotFound
from gis_api.facilities import service as facilities
from gis_api.facilities import versioning
from gis_api.facilities.models import (
    PARCEL_ID_SEQ,
    Cemetery,
    CemeteryParcel,
    CemeteryType,
    ConstraintFeature,
    ConstraintLayer,
    ParcelStatus,
)
from gis_api.facilities.schemas import (
    CemeteryCreate,
    CemeteryUpdate,
    ConstraintFeaturesIn,
    ConstraintLayerCreate,
    ConstraintLayerUpdate,
    FacilityCreate,
    ParcelCreate,
    ParcelIn,
    ParcelUpdate,
)
from gis_api.geo.geometry_input import parse_geojson

MU = "(10000.0 / 15)"  # m² per 亩
KIND_OF_TYPE = {
    CemeteryType.public: "public_cemetery",
    CemeteryType.rural_public: "public_cemetery",
    CemeteryType.commercial: "public_cemetery",
    CemeteryType.ash_hall: "ash_hall",
}
BURIAL_FIELDS = ("capacity_plots", "occupied_plots", "eco_burials", "approval_authority", "approval_doc", "remarks")

PARCEL_SQL = f"""
json_build_object(
    'type', 'Feature', 'id', p.parcel_id,
    'geometry', ST_AsGeoJSON(p.geom, 7, 0)::json,
    'properties', json_build_object(
        'id', p.parcel_id, 'row_id', p.id, 'cemetery_id', p.facility_id, 'name', p.name, 'status', p.status,
        'area_m2', round(ST_Area(p.geom::geography)::numeric, 1),
        'area_mu', round((ST_Area(p.geom::geography) / {MU})::numeric, 2),
        'plots_capacity', p.plots_capacity, 'approval_doc', p.approval_doc, 'remarks', p.remarks,
        'source', p.source, 'valid_from', p.valid_from, 'valid_to', p.valid_to, 'version', p.version
    )
)"""
P_AS_OF = "p.valid_from <= :as_of AND (p.valid_to IS NULL OR p.valid_to > :as_of)"
C_AS_OF = "c.valid_from <= :as_of AND (c.valid_to IS NULL OR c.valid_to > :as_of)"
F_AS_OF = "f.valid_from <= :as_of AND (f.valid_to IS NULL OR f.valid_to > :as_of)"

CEMETERY_SQL = f"""
json_build_object(
    'type', 'Feature', 'id', c.facility_id,
    'geometry', ST_AsGeoJSON(f.geom, 7, 0)::json,
    'properties', json_build_object(
        'id', c.facility_id, 'row_id', c.id, 'name', f.name, 'kind', f.kind, 'cemetery_type', c.cemetery_type,
        'division_code', f.division_code, 'facility_status', f.status,
        'capacity_plots', c.capacity_plots, 'occupied_plots', c.occupied_plots,
        'remaining_plots', c.capacity_plots - c.occupied_plots, 'eco_burials', c.eco_burials,
        'eco_share', CASE WHEN c.occupied_plots > 0 THEN round(c.eco_burials::numeric / c.occupied_plots, 4) END,
        'served_townships', (
            SELECT coalesce(json_agg(json_build_object('code', t.code, 'name', (
                SELECT d.name FROM divisions d WHERE d.code = t.code ORDER BY d.valid_from DESC LIMIT 1))
                ORDER BY t.code), '[]'::json)
            FROM unnest(c.served_townships) AS t(code)),
        'area_m2_by_status', (
            SELECT coalesce(json_object_agg(s.status, s.a), '{{}}'::json) FROM (
                SELECT p.status, round(sum(ST_Area(p.geom::geography))::numeric, 1) AS a
                FROM cemetery_parcels p WHERE p.facility_id = c.facility_id AND {P_AS_OF} GROUP BY p.status) s),
        'area_mu_by_status', (
            SELECT coalesce(json_object_agg(s.status, s.a), '{{}}'::json) FROM (
                SELECT p.status, round((sum(ST_Area(p.geom::geography)) / {MU})::numeric, 2) AS a
                FROM cemetery_parcels p WHERE p.facility_id = c.facility_id AND {P_AS_OF} GROUP BY p.status) s),
        'parcels', (SELECT coalesce(json_agg({PARCEL_SQL} ORDER BY p.parcel_id), '[]'::json)
                    FROM cemetery_parcels p WHERE p.facility_id = c.facility_id AND {P_AS_OF}),
        'approval_authority', c.approval_authority, 'approval_doc', c.approval_doc, 'remarks', c.remarks,
        'source', c.source, 'valid_from', c.valid_from, 'valid_to', c.valid_to, 'version', c.version
    )
)"""


def etag(row_id: int, version: int) -> str:
    return make_etag("c", row_id, version)


def parcel_etag(row_id: int, version: int) -> str:
    return make_etag("pc", row_id, version)


# -- reads --------------------------------------------------------------------------------------------------------

def list_geojson(session: Session, as_of: dt.date, within: str | None) -> str:
    sql = f"""
        SELECT json_build_object(
            'type', 'FeatureCollection', 'as_of', CAST(:as_of AS date),
            'features', coalesce(json_agg({CEMETERY_SQL} ORDER BY c.facility_id), '[]'::json))::text
        FROM cemeteries c JOIN facilities f ON f.facility_id = c.facility_id AND {F_AS_OF}
        WHERE {C_AS_OF} AND (CAST(:within AS text) IS NULL OR f.division_code LIKE :within || '%')"""
    return str(session.execute(text(sql), {"as_of": as_of, "within": within}).scalar_one())


def feature(session: Session, cemetery_id: int, as_of: dt.date) -> tuple[str, str]:
    row = session.execute(
        text(f"""SELECT ({CEMETERY_SQL})::text, c.id, c.version
                 FROM cemeteries c JOIN facilities f ON f.facility_id = c.facility_id
                      AND f.valid_from <= greatest(:as_of, c.valid_from)
                      AND (f.valid_to IS NULL OR f.valid_to > greatest(:as_of, c.valid_from))
                 WHERE c.facility_id = :id AND {C_AS_OF}"""),
        {"id": cemetery_id, "as_of": as_of},
    ).first()
    if row is None:
        raise NotFound(f"no cemetery {cemetery_id} in force on {as_of}",
                       f"{as_of} 时不存在编号为 {cemetery_id} 的公墓", field="id")
    return str(row[0]), etag(int(row[1]), int(row[2]))


def parcel_feature(session: Session, parcel_id: int, as_of: dt.date) -> tuple[str, str]:
    row = session.execute(
        text(f"SELECT ({PARCEL_SQL})::text, p.id, p.version FROM cemetery_parcels p "
             f"WHERE p.parcel_id = :id AND {P_AS_OF}"), {"id": parcel_id, "as_of": as_of},
    ).first()
    if row is None:
        raise NotFound(f"no parcel {parcel_id} in force on {as_of}", f"{as_of} 时不存在编号为 {parcel_id} 的地块",
                       field="id")
    return str(row[0]), parcel_etag(int(row[1]), int(row[2]))


def _no_cemetery(cemetery_id: int) -> NotFound:
    return NotFound(f"no cemetery {cemetery_id}", f"不存在编号为 {cemetery_id} 的公墓", field="id")


def _no_parcel(parcel_id: int) -> NotFound:
    return NotFound(f"no parcel {parcel_id}", f"不存在编号为 {parcel_id} 的地块", field="id")


def current(session: Session, cemetery_id: int) -> Cemetery:
    """The open version, for reading; writers get theirs from ``GUARD.lock``."""
    row = session.scalars(select(Cemetery).where(Cemetery.facility_id == cemetery_id,
                                                 Cemetery.valid_to.is_(None))).first()
    if row is None:
        raise _no_cemetery(cemetery_id)
    return row


def current_parcel(session: Session, parcel_id: int) -> CemeteryParcel:
    row = session.scalars(select(CemeteryParcel).where(CemeteryParcel.parcel_id == parcel_id,
                                                       CemeteryParcel.valid_to.is_(None))).first()
    if row is None:
        raise _no_parcel(parcel_id)
    return row


GUARD = Versioned(
    model=Cemetery, key=Cemetery.facility_id, latest=(Cemetery.valid_from.desc(),),
    etag=lambda r: etag(r.id, r.version),
    label=lambda r: (f"cemetery {r.facility_id}", f"公墓 {r.facility_id} "),
    body=lambda s, r: feature(s, r.facility_id, r.valid_from)[0],
)
PARCEL_GUARD = Versioned(
    model=CemeteryParcel, key=CemeteryParcel.parcel_id, latest=(CemeteryParcel.valid_from.desc(),),
    etag=lambda r: parcel_etag(r.id, r.version),
    label=lambda r: (f"parcel {r.parcel_id}", f"地块 {r.parcel_id} "),
    body=lambda s, r: parcel_feature(s, r.parcel_id, r.valid_from)[0],
)


def parcel_history(session: Session, parcel_id: int) -> dict[str, Any]:
    current_parcel(session, parcel_id)
    return {"id": parcel_id, "changes": audit.history(session, "cemetery_parcels", str(parcel_id))}


# -- validation ----------------------------------------------------------------------------------------------------

def _townships(session: Session, codes: list[str], on: dt.date) -> list[str]:
    codes = sorted(set(c.strip() for c in codes))
    found = set(session.execute(
        text("SELECT code FROM divisions d WHERE d.code = ANY(:codes) AND d.level = 'township' "
             "AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on)"), {"codes": codes, "on": on},
    ).scalars())
    missing = [c for c in codes if c not in found]
    if missing:
        raise InvalidInput(
            f"served_townships: {', '.join(missing)} are not townships in force on {on}",
            f"服务乡镇 {'、'.join(missing)} 在 {on} 时不是有效的乡镇级区划", field="served_townships", rule="§6",
        )
    return codes


def _check_counts(capacity: int | None, occupied: int, eco: int) -> None:
    if eco > occupied:
        raise InvalidInput("eco_burials cannot exceed occupied_plots", "节地生态安葬数不能超过已安葬数",
                           field="eco_burials", rule="§6")
    if capacity is not None and occupied > capacity:
        raise InvalidInput("occupied_plots exceeds capacity_plots", "已安葬数超过墓位容量", field="occupied_plots")


# -- exclusion check ------------------------------------------------------------------------------------------------

EXCLUSION_SQL = f"""
WITH p AS (SELECT ST_GeomFromEWKB(:g) AS g),
zones AS (
    SELECT l.code AS layer, l.name_zh, l.name_en, l.buffer_m, l.rule, cf.name,
           CASE WHEN l.buffer_m > 0 THEN ST_SetSRID(ST_Buffer(cf.geom::geography, l.buffer_m)::geometry, 4490)
                WHEN ST_Dimension(cf.geom) = 2 THEN cf.geom END AS zone
    FROM constraint_layers l JOIN constraint_features cf ON cf.layer_id = l.code, p
    WHERE l.active AND (CAST(:layers AS text[]) IS NULL OR l.code = ANY(CAST(:layers AS text[])))
      -- index prefilter: the buffer in degrees of longitude at the parcel's latitude, generously
      AND cf.geom && ST_Expand(p.g, l.buffer_m / (111000.0 * cos(radians(least(abs(ST_YMax(p.g)), 80)))) * 1.2
                                     + 1e-7)
      AND ST_DWithin(cf.geom::geography, p.g::geography, l.buffer_m)
),
hits AS (
    SELECT z.layer, z.name_zh, z.name_en, z.buffer_m, z.rule,
           array_agg(DISTINCT z.name) FILTER (WHERE z.name IS NOT NULL) AS names,
           ST_CollectionExtract(ST_Intersection(ST_Union(z.zone), p.g), 3) AS c
    FROM zones z, p WHERE z.zone IS NOT NULL
    GROUP BY z.layer, z.name_zh, z.name_en, z.buffer_m, z.rule, p.g
),
measured AS (SELECT h.*, ST_Area(h.c::geography) AS a FROM hits h WHERE NOT ST_IsEmpty(h.c)),
conflict AS (SELECT coalesce(ST_Area(ST_Union(m.c)::geography), 0) AS a FROM measured m WHERE m.a > 0.01)
SELECT json_build_object(
    'parcel_area_m2', round(ST_Area(p.g::geography)::numeric, 1),
    'parcel_area_mu', round((ST_Area(p.g::geography) / {MU})::numeric, 2),
    'conflict_area_m2', round(conflict.a::numeric, 1),
    'conflict_area_mu', round((conflict.a / {MU})::numeric, 2),
    'layers', coalesce((SELECT json_agg(json_build_object(
                  'layer', m.layer, 'name_zh', m.name_zh, 'name_en', m.name_en, 'buffer_m', m.buffer_m,
                  'rule', m.rule, 'area_m2', round(m.a::numeric, 1), 'area_mu', round((m.a / {MU})::numeric, 2),
                  'features', coalesce(to_json(m.names), '[]'::json),
                  'geometry', ST_AsGeoJSON(m.c, 7, 0)::json) ORDER BY m.a DESC, m.layer)
               FROM measured m WHERE m.a > 0.01), '[]'::json),
    'checked_layers', (SELECT coalesce(json_agg(l.code ORDER BY l.code), '[]'::json) FROM constraint_layers l
                       WHERE l.active AND (CAST(:layers AS text[]) IS NULL
                                           OR l.code = ANY(CAST(:layers AS text[]))))
)::text FROM p, conflict"""


def exclusion_check(session: Session, geom: WKBElement, layers: list[str] | None = None) -> dict[str, Any]:
    """Conflicting area of ``geom`` with every active constraint layer (features widened by ``buffer_m``)."""
    if layers is not None:
        known = set(session.scalars(select(ConstraintLayer.id)))
        unknown = [x for x in layers if x not in known]
        if unknown:
            raise InvalidInput(f"unknown constraint layers: {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                               f"未知的约束图层：{'、'.join(unknown)}", field="layers", rule="§6")
    out: dict[str, Any] = json.loads(session.execute(
        text(EXCLUSION_SQL), {"g": bytes(geom.data), "layers": layers}
    ).scalar_one())
    out["ok"] = not out["layers"]
    out["rule"] = "§6"
    return out


def check_geometry(session: Session, geometry: dict[str, Any], layers: list[str] | None) -> dict[str, Any]:
    return exclusion_check(session, facilities.parse_area(geometry, "geometry"), layers)


def parcel_exclusion(session: Session, parcel_id: int, layers: list[str] | None) -> dict[str, Any]:
    row = current_parcel(session, parcel_id)
    assert isinstance(row.geom, WKBElement)
    return {"parcel_id": parcel_id, "name": row.name, "status": row.status,
            **exclusion_check(session, row.geom, layers)}


def _refuse_conflicting_approval(session: Session, geom: WKBElement, name: str) -> None:
    report = exclusion_check(session, geom)
    if not report["ok"]:
        layers = ", ".join(f"{x['layer']} {x['area_m2']} m²" for x in report["layers"])
        layers_zh = "、".join(f"{x['name_zh']} {x['area_m2']} 平方米（{x['area_mu']} 亩）" for x in report["layers"])
        raise Conflict(
            f"parcel {name} cannot be approved: it overlaps forbidden land ({layers}; "
            f"{report['conflict_area_m2']} m² = {report['conflict_area_mu']} mu in all)",
            f"地块“{name}”不能批准：与禁止用地重叠（{layers_zh}）", field="geometry", rule="§6",
            code="exclusion_conflict", extra={"exclusion": report},
        )


# -- writes ----------------------------------------------------------------------------------------------------------

def _add_parcel(session: Session, cemetery_id: int, p: ParcelIn, on: dt.date, source: str) -> CemeteryParcel:
    geom = facilities.parse_area(p.geometry, "geometry")
    if p.status is ParcelStatus.approved:
        _refuse_conflicting_approval(session, geom, p.name)
    parcel_id = int(session.execute(PARCEL_ID_SEQ.next_value()).scalar_one())
    row = CemeteryParcel(
        parcel_id=parcel_id, facility_id=cemetery_id, name=p.name.strip(), status=p.status.value, geom=geom,
        plots_capacity=p.plots_capacity, approval_doc=p.approval_doc, remarks=p.remarks,
        valid_from=p.valid_from or on, source=source,
    )
    session.add(row)
    session.flush()
    return row


def create(session: Session, body: CemeteryCreate, actor: str) -> Cemetery:
    """A cemetery is a facility (kind public_cemetery or ash_hall) plus its burial facts and parcels."""
    on = body.valid_from or body.opened_on or clock.today()
    occupied, eco = body.occupied_plots or 0, body.eco_burials or 0
    _check_counts(body.capacity_plots, occupied, eco)
    served = _townships(session, body.served_townships or [], on)
    facility = facilities.create(session, FacilityCreate(
        name=body.name, kind=KIND_OF_TYPE[body.cemetery_type], geometry=body.geometry,
        division_code=body.division_code, address=body.address, capacity=body.capacity_plots,
        opened_on=body.opened_on, status=body.status, source=body.source, valid_from=on, reason=body.reason,
        remarks=body.remarks,
    ), actor)
    if not served and facility.division_code and len(facility.division_code) == 9:
        served = [facility.division_code]
    row = Cemetery(
        facility_id=facility.facility_id, cemetery_type=body.cemetery_type.value,
        capacity_plots=body.capacity_plots, occupied_plots=occupied, eco_burials=eco, served_townships=served,
        approval_authority=body.approval_authority, approval_doc=body.approval_doc, remarks=body.remarks,
        valid_from=on, source=facility.source,
    )
    session.add(row)
    session.flush()
    for p in body.parcels:
        _add_parcel(session, facility.facility_id, p, on, facility.source)
    session.refresh(row)
    return row


def update(session: Session, cemetery_id: int, body: CemeteryUpdate, if_match: str | None, actor: str) -> Cemetery:
    row = GUARD.lock(session, cemetery_id, if_match, where=(Cemetery.valid_to.is_(None),),
                     missing=lambda: _no_cemetery(cemetery_id))
    sent = body.model_fields_set
    changes: dict[str, Any] = {k: getattr(body, k) for k in BURIAL_FIELDS if k in sent}
    for counted in ("occupied_plots", "eco_burials"):  # a sent null means none
        if counted in changes and changes[counted] is None:
            changes[counted] = 0
    if body.cemetery_type is not None:
        changes["cemetery_type"] = body.cemetery_type.value
    if "served_townships" in sent:
        changes["served_townships"] = _townships(session, body.served_townships or [],
                                                 body.effective_date or clock.today())
    _check_counts(changes.get("capacity_plots", row.capacity_plots), changes.get("occupied_plots", row.occupied_plots),
                  changes.get("eco_burials", row.eco_burials))
    audit.set_context(session, actor, body.reason)
    return versioning.apply_change(session, row, changes, body.mode, body.effective_date)


def add_parcel(session: Session, cemetery_id: int, body: ParcelCreate, actor: str) -> CemeteryParcel:
    cem = current(session, cemetery_id)
    audit.set_context(session, actor, body.reason)
    return _add_parcel(session, cemetery_id, body, body.valid_from or clock.today(), cem.source)


def update_parcel(session: Session, parcel_id: int, body: ParcelUpdate, if_match: str | None, actor: str
                  ) -> CemeteryParcel:
    row = PARCEL_GUARD.lock(session, parcel_id, if_match, where=(CemeteryParcel.valid_to.is_(None),),
                            missing=lambda: _no_parcel(parcel_id))
    sent = body.model_fields_set
    changes: dict[str, Any] = {k: getattr(body, k) for k in ("plots_capacity", "approval_doc", "remarks") if k in sent}
    if body.name is not None:
        changes["name"] = facilities.check_name(body.name)
    if body.geometry is not None:
        changes["geom"] = facilities.parse_area(body.geometry, "geometry")
    if body.status is not None:
        changes["status"] = body.status.value
    if body.status is ParcelStatus.approved and body.mode is ChangeMode.correction and row.status != "approved":
        raise InvalidInput("an approval is a legal change: send mode 'legal' with effective_date",
                           "批准属于法定变更：请选择法定变更并填写生效日期", field="mode", rule="§6")
    becomes_approved = changes.get("status", row.status) == ParcelStatus.approved.value
    if becomes_approved and ("status" in changes or "geom" in changes):
        geom = changes.get("geom", row.geom)
        assert isinstance(geom, WKBElement)
        _refuse_conflicting_approval(session, geom, changes.get("name", row.name))
    audit.set_context(session, actor, body.reason)
    return versioning.apply_change(session, row, changes, body.mode, body.effective_date)


# -- constraint layers ------------------------------------------------------------------------------------------------

def layer_etag(code: str, version: int) -> str:
    return make_etag("cl", code, version)


def constraint_layers(session: Session, code: str | None = None) -> list[dict[str, Any]]:
    """Every layer's settings with its ETag (or only ``code``'s)."""
    rows = session.execute(text("""
        SELECT l.code AS id, l.name_zh, l.name_en, l.buffer_m, l.active, l.rule, l.note, l.version,
               (SELECT count(*) FROM constraint_features cf WHERE cf.layer_id = l.code) AS n,
               (SELECT array_agg(DISTINCT cf.source) FROM constraint_features cf WHERE cf.layer_id = l.code) AS src
        FROM constraint_layers l WHERE CAST(:code AS text) IS NULL OR l.code = :code ORDER BY l.code"""),
        {"code": code}).all()
    return [
        {"id": r.id, "name_zh": r.name_zh, "name_en": r.name_en, "buffer_m": r.buffer_m, "active": r.active,
         "rule": r.rule, "note": r.note, "version": r.version, "etag": layer_etag(r.id, r.version),
         "features": r.n, "sources": r.src or []}
        for r in rows
    ]


def constraint_layer(session: Session, code: str) -> dict[str, Any]:
    found = constraint_layers(session, code)
    if not found:
        raise _no_layer(code)
    return found[0]


def _no_layer(layer_id: str) -> NotFound:
    return NotFound(f"no constraint layer {layer_id}", f"不存在约束图层 {layer_id}", field="layer_id")


LAYER_GUARD = Versioned(
    model=ConstraintLayer, key=ConstraintLayer.id, etag=lambda r: layer_etag(r.id, r.version),
    label=lambda r: (f"constraint layer {r.id}", f"约束图层 {r.id} "),
    body=lambda s, r: json.dumps(constraint_layer(s, r.id), ensure_ascii=False),
)


def add_constraint_layer(session: Session, body: ConstraintLayerCreate, actor: str) -> ConstraintLayer:
    if session.get(ConstraintLayer, body.id) is not None:
        raise Conflict(f"constraint layer {body.id} already exists", f"约束图层 {body.id} 已存在", field="id")
    audit.set_context(session, actor, body.reason)
    row = ConstraintLayer(id=body.id, name_zh=body.name_zh, name_en=body.name_en, buffer_m=body.buffer_m,
                          active=body.active, note=body.note)
    session.add(row)
    session.flush()
    return row


def _layer(session: Session, layer_id: str) -> ConstraintLayer:
    row = session.get(ConstraintLayer, layer_id)
    if row is None:
        raise NotFound(f"no constraint layer {layer_id}", f"不存在约束图层 {layer_id}", field="layer_id")
    return row


def update_constraint_layer(session: Session, layer_id: str, body: ConstraintLayerUpdate, if_match: str | None,
                            actor: str) -> ConstraintLayer:
    """Change a layer's settings; If-Match: the layer's ETag (GET /constraint-layers/{id} or the list)."""
    row = LAYER_GUARD.lock(session, layer_id, if_match, missing=lambda: _no_layer(layer_id))
    audit.set_context(session, actor, body.reason)
    for key in ("name_zh", "name_en", "buffer_m", "active", "note"):
        if key in body.model_fields_set and getattr(body, key) is not None:
            setattr(row, key, getattr(body, key))
    session.flush()
    session.refresh(row)
    return row


CONSTRAINT_TYPES = ("MultiPolygon", "LineString", "MultiLineString", "Point", "MultiPoint")


def import_constraint_features(session: Session, layer_id: str, body: ConstraintFeaturesIn, if_match: str | None,
                               actor: str) -> int:
    """Add (or, ``replace``, swap in) a layer's features. The layer's content is part of what its ETag names
    (``features``, ``sources``), so this takes the layer's lock with If-Match like a PATCH of its settings —
    an import and a PATCH never interleave, and a replacement based on a stale read gets 412."""
    fc = body.features
    if fc.get("type") != "FeatureCollection" or not isinstance(fc.get("features"), list):
        raise InvalidInput("features must be a GeoJSON FeatureCollection", "要素须为 GeoJSON 要素集合",
                           field="features")
    rows = []
    for i, feat in enumerate(fc["features"]):
        geom = (feat or {}).get("geometry")
        if not isinstance(geom, dict):
            raise InvalidInput(f"feature {i} has no geometry", f"第 {i} 个要素没有几何", field=f"features.{i}.geometry")
        wkb = parse_geojson(geom, field=f"features.{i}.geometry", allowed=CONSTRAINT_TYPES)
        props = feat.get("properties") or {}
        rows.append({"layer_id": layer_id, "name": props.get("name"), "geom": wkb, "source": body.source})
    layer = LAYER_GUARD.lock(session, layer_id, if_match, missing=lambda: _no_layer(layer_id))
    audit.set_context(session, actor, body.reason)
    # The settings are unchanged, so the version trigger would not bump it: the new content is a new version.
    layer.version += 1
    if body.replace:
        session.execute(text("DELETE FROM constraint_features WHERE layer_id = :l"), {"l": layer_id})
    for r in rows:
        session.add(ConstraintFeature(**r))
    session.flush()
    return len(rows)


def constraint_features_geojson(session: Session, layer_id: str) -> str:
    _layer(session, layer_id)
    return str(session.execute(text("""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', cf.id, 'geometry', ST_AsGeoJSON(cf.geom, 7, 0)::json,
            'properties', json_build_object('name', cf.name, 'source', cf.source, 'layer', cf.layer_id))
            ORDER BY cf.id), '[]'::json))::text
        FROM constraint_features cf WHERE cf.layer_id = :l"""), {"l": layer_id}).scalar_one())
