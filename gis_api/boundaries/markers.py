"""Boundary markers (界桩): register with ID rules (GB/T 17796, domain.md §5), audited changes, on-line check."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import shapely
from geoalchemy2 import WKBElement
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock, geojson_sql
from gis_api.audit import service as audit
from gis_api.boundaries.models import MARKER_ID_PATTERN, BoundaryLine, BoundaryMarker
from gis_api.boundaries.schemas import CoordSystem, MarkerChangeMode, MarkerCreate, MarkerUpdate
from gis_api.boundaries.settings import BoundarySettings
from gis_api.boundaries.when import photos_not_after_today
from gis_api.concurrency import Versioned, make_etag
from gis_api.errors import Conflict, InvalidInput, NotFound
from gis_api.geo.gcj02 import gcj02_to_wgs84
from gis_api.geo.geometry_input import LAT_RANGE, LON_RANGE
from gis_api.when import not_after_today

TABLE = "boundary_markers"
MARKER_RE = re.compile(MARKER_ID_PATTERN)
# Type letters by kind of group: Q single (单立); A/B same-number pair (同号双立); C/D/E triple (同号三立).
GROUPS: dict[str, frozenset[str]] = {
    "Q": frozenset("Q"), "A": frozenset("AB"), "B": frozenset("AB"),
    "C": frozenset("CDE"), "D": frozenset("CDE"), "E": frozenset("CDE"),
}
GROUP_ZH = {"Q": "单立", "A": "同号双立", "B": "同号双立", "C": "同号三立", "D": "同号三立", "E": "同号三立"}


def etag(row: BoundaryMarker) -> str:
    return make_etag("m", row.marker_no, row.version)


def check_marker_no(marker_no: str) -> None:
    if not MARKER_RE.match(marker_no):
        raise InvalidInput(
            f"marker ID {marker_no!r} must be 4 digits (line) + 3 digits (sequence) + one of Q, A, B, C, D, E",
            f"界桩编号 {marker_no!r} 须为4位界线编号+3位序号+类型字母（Q、A、B、C、D、E）",
            field="marker_no", rule="§5",
        )
    if marker_no[4:7] == "000":
        raise InvalidInput("marker sequence numbers start at 001", "界桩序号从001开始", field="marker_no", rule="§5")


def check_group(session: Session, marker_no: str, *, exclude_id: int | None = None) -> None:
    """The letter must fit the letters already used with the same number (Q alone; A/B; C/D/E)."""
    letter = marker_no[-1]
    used = set(session.scalars(
        select(BoundaryMarker.type_letter).where(
            BoundaryMarker.marker_no.startswith(marker_no[:7]),
            BoundaryMarker.id != (exclude_id or -1),
        )
    ))
    if used and not used <= GROUPS[letter]:
        raise InvalidInput(
            f"marker {marker_no} is a {GROUP_ZH[letter]} marker but number {marker_no[:7]} is already used with "
            f"type {', '.join(sorted(used))}; Q stands alone, A/B form a pair, C/D/E a triple",
            f"界桩 {marker_no} 为{GROUP_ZH[letter]}界桩，但编号 {marker_no[:7]} 已用于类型 {'、'.join(sorted(used))}；"
            "Q为单立，A/B为同号双立，C/D/E为同号三立",
            field="marker_no", rule="§5",
        )


def to_point(lon: float, lat: float, system: CoordSystem, field: str = "lon") -> WKBElement:
    if system is CoordSystem.gcj02:
        lon, lat = gcj02_to_wgs84(lon, lat)
    if not (LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
        raise InvalidInput(
            f"({lon}, {lat}) lies outside China in lon/lat; give longitude, latitude in CGCS2000",
            f"坐标 ({lon}, {lat}) 超出中国范围；须为 CGCS2000 经度、纬度", field=field, rule="§7",
        )
    geom = shapely.set_srid(shapely.Point(lon, lat), 4490)
    return WKBElement(shapely.to_wkb(geom, include_srid=True), srid=4490, extended=True)


def _coord_source(system: CoordSystem) -> str:
    return "GCJ-02 converted to CGCS2000" if system is CoordSystem.gcj02 else system.value


def _line_in_force(session: Session, line_id: str, on: dt.date) -> BoundaryLine:
    line = session.get(BoundaryLine, line_id)
    in_force = session.execute(
        text("SELECT 1 FROM boundary_line_versions WHERE line_id = :id AND valid_from <= :on "
             "AND (valid_to IS NULL OR valid_to > :on)"), {"id": line_id, "on": on},
    ).first()
    if line is None or in_force is None:
        raise InvalidInput(
            f"boundary line {line_id} is not in force on {on}", f"界线 {line_id} 在 {on} 时不存在",
            field="line_id", rule="§5",
        )
    return line


def distance_to_line(session: Session, marker_id: int, as_of: dt.date) -> float | None:
    value = session.execute(
        text("""SELECT ST_Distance(m.geom::geography, v.geom::geography) FROM boundary_markers m
                JOIN boundary_line_versions v ON v.line_id = m.line_id AND v.valid_from <= :on
                     AND (v.valid_to IS NULL OR v.valid_to > :on)
                WHERE m.id = :id"""), {"id": marker_id, "on": as_of},
    ).scalar()
    return None if value is None else float(value)


def create(session: Session, body: MarkerCreate, actor: str) -> BoundaryMarker:
    marker_no = body.marker_no.strip().upper()
    check_marker_no(marker_no)
    not_after_today(body.surveyed_on, "surveyed_on", "a survey", "测量")
    not_after_today(body.valid_from, "valid_from", "the erection of a marker", "界桩埋设")
    photos_not_after_today(body.photos)
    line = _line_in_force(session, body.line_id, body.valid_from)
    if marker_no[:4] != line.line_no:
        raise InvalidInput(
            f"marker {marker_no} must start with the number {line.line_no} of line {line.line_id}",
            f"界桩编号 {marker_no} 的前4位须为界线 {line.line_id} 的编号 {line.line_no}",
            field="marker_no", rule="§5",
        )
    if session.scalar(select(BoundaryMarker.id).where(BoundaryMarker.marker_no == marker_no)) is not None:
        raise Conflict(f"marker {marker_no} is already registered", f"界桩 {marker_no} 已登记", field="marker_no")
    check_group(session, marker_no)
    audit.set_context(session, actor, body.reason)
    row = BoundaryMarker(
        marker_no=marker_no, line_id=line.line_id, type_letter=marker_no[-1],
        geom=to_point(body.lon, body.lat, body.coord_system), survey_method=body.survey_method.strip(),
        precision_m=body.precision_m, surveyed_on=body.surveyed_on, coord_source=_coord_source(body.coord_system),
        material=body.material, status=body.status.value, photos=[p.model_dump(mode="json") for p in body.photos],
        valid_from=body.valid_from, source=body.source, note=body.note,
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def _no_marker(marker_no: str) -> NotFound:
    return NotFound(f"no marker {marker_no}", f"不存在界桩 {marker_no}", field="marker_no")


def get(session: Session, marker_no: str) -> BoundaryMarker:
    """The marker, for reading; writers get it from ``GUARD.lock``."""
    row = session.scalars(select(BoundaryMarker).where(BoundaryMarker.marker_no == marker_no)).first()
    if row is None:
        raise _no_marker(marker_no)
    return row


FEATURE_SQL = """
json_build_object(
    'type', 'Feature', 'id', m.marker_no,
    'geometry', ST_AsGeoJSON(m.geom, 8, 0)::json,
    'properties', json_build_object(
        'marker_no', m.marker_no, 'line_id', m.line_id, 'type_letter', m.type_letter,
        'survey_method', m.survey_method, 'precision_m', m.precision_m, 'surveyed_on', m.surveyed_on,
        'coord_source', m.coord_source, 'material', m.material, 'status', m.status, 'photos', m.photos,
        'source', m.source, 'note', m.note, 'valid_from', m.valid_from, 'valid_to', m.valid_to,
        'version', m.version,
        'distance_to_line_m', (SELECT round(ST_Distance(m.geom::geography, v.geom::geography)::numeric, 3)
                               FROM boundary_line_versions v WHERE v.line_id = m.line_id
                               AND v.valid_from <= :as_of AND (v.valid_to IS NULL OR v.valid_to > :as_of))
    )
)"""

AS_OF_M = "m.valid_from <= :as_of AND (m.valid_to IS NULL OR m.valid_to > :as_of)"


def list_geojson(session: Session, as_of: dt.date, line_id: str | None, status: str | None, limit: int,
                 offset: int, next_url: str | None) -> str:
    conds = [AS_OF_M]
    params: dict[str, Any] = {"as_of": as_of}
    if line_id:
        conds.append("m.line_id = :line_id")
        params["line_id"] = line_id
    if status:
        conds.append("m.status = :status")
        params["status"] = status
    return geojson_sql.collection(
        session, table="boundary_markers", alias="m", where=conds, feature_sql=FEATURE_SQL,
        order_by="m.marker_no", params=params, limit=limit, offset=offset, next_url=next_url,
    )


def feature(session: Session, marker_no: str, as_of: dt.date) -> tuple[str, str]:
    row = get(session, marker_no)
    text_ = session.execute(
        text(f"SELECT {FEATURE_SQL}::text FROM boundary_markers m WHERE m.id = :id"), {"id": row.id, "as_of": as_of}
    ).scalar_one()
    return str(text_), etag(row)


GUARD = Versioned(
    model=BoundaryMarker, key=BoundaryMarker.marker_no, etag=etag,
    label=lambda r: (f"marker {r.marker_no}", f"界桩 {r.marker_no} "),
    body=lambda s, r: feature(s, r.marker_no, clock.today())[0],
)


def hold(session: Session, marker_no: str) -> BoundaryMarker:
    """The marker locked without a version check (a joint inspection records the status it found)."""
    return GUARD.hold(session, marker_no, missing=lambda: _no_marker(marker_no))


def history(session: Session, marker_no: str) -> dict[str, Any]:
    get(session, marker_no)
    return {"marker_no": marker_no, "changes": audit.history(session, TABLE, marker_no)}


def update(session: Session, marker_no: str, body: MarkerUpdate, if_match: str | None, actor: str) -> BoundaryMarker:
    not_after_today(body.surveyed_on, "surveyed_on", "a survey", "测量")
    photos_not_after_today(body.photos)
    row = GUARD.lock(session, marker_no, if_match, missing=lambda: _no_marker(marker_no))
    changes: dict[str, Any] = {}
    moving = body.lon is not None or body.lat is not None
    if moving:
        if body.lon is None or body.lat is None:
            raise InvalidInput("give both lon and lat", "须同时填写经度和纬度",
                               field="lon" if body.lon is None else "lat")
        if body.mode is MarkerChangeMode.relocation and not (body.agreement_ref and body.both_sides_present):
            raise InvalidInput(
                "a marker is moved only with both sides present and the agreement recorded; a unilateral move is void",
                "界桩须在双方在场并记录协议后方可移动，单方移动无效",
                field="agreement_ref", rule="§5",
            )
        changes["geom"] = to_point(body.lon, body.lat, body.coord_system)
        changes["coord_source"] = _coord_source(body.coord_system)
    for key in ("survey_method", "precision_m", "surveyed_on", "material", "note"):
        value = getattr(body, key)
        if value is not None:
            changes[key] = value
    if body.status is not None:
        changes["status"] = body.status.value
    if body.photos is not None:
        changes["photos"] = [p.model_dump(mode="json") for p in body.photos]
    if body.mode is MarkerChangeMode.relocation and body.agreement_ref:
        changes["note"] = ((changes.get("note") or row.note or "") + f" [relocated: {body.agreement_ref}]").strip()
    if not changes:
        raise InvalidInput("nothing to change", "没有需要修改的内容", field="body")
    audit.set_context(session, actor, body.reason)
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()
    session.refresh(row)
    return row


def check(session: Session, settings: BoundarySettings, as_of: dt.date, *, line_id: str | None = None,
          tolerance_m: float | None = None) -> dict[str, Any]:
    """Every marker in force against its line (geodesic distance), ID groups, and sequence gaps."""
    tol = tolerance_m if tolerance_m is not None else settings.marker_tolerance_m
    rows = session.execute(
        text("""
            SELECT m.marker_no, m.line_id, m.status, m.precision_m, ST_X(m.geom) AS lon, ST_Y(m.geom) AS lat,
                   ST_Distance(m.geom::geography, v.geom::geography) AS distance_m
            FROM boundary_markers m
            LEFT JOIN boundary_line_versions v ON v.line_id = m.line_id AND v.valid_from <= :on
                 AND (v.valid_to IS NULL OR v.valid_to > :on)
            WHERE m.valid_from <= :on AND (m.valid_to IS NULL OR m.valid_to > :on)
              AND (CAST(:line AS text) IS NULL OR m.line_id = :line)
            ORDER BY m.marker_no"""),
        {"on": as_of, "line": line_id},
    ).mappings().all()
    outliers = []
    no_line = []
    groups: dict[str, set[str]] = {}
    for r in rows:
        groups.setdefault(r["marker_no"][:7], set()).add(r["marker_no"][-1])
        if r["distance_m"] is None:
            no_line.append(r["marker_no"])
        elif r["distance_m"] > tol:
            outliers.append({
                "marker_no": r["marker_no"], "line_id": r["line_id"], "status": r["status"],
                "distance_m": round(float(r["distance_m"]), 3), "excess_m": round(float(r["distance_m"]) - tol, 3),
                "precision_m": r["precision_m"], "location": [r["lon"], r["lat"]],
            })
    incomplete = []
    for number, letters in sorted(groups.items()):
        kind = next(iter(letters))
        expected = GROUPS[kind]
        if letters != expected:
            incomplete.append({"number": number, "present": sorted(letters), "missing": sorted(expected - letters)})
    return {
        "as_of": as_of.isoformat(), "tolerance_m": tol, "checked": len(rows), "outliers": outliers,
        "without_line": no_line, "incomplete_groups": incomplete,
    }
