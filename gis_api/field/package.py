"""Work packages: what a patrol team takes offline — the chosen lines and their markers (with the versions a later
sync is based on), the last inspection and patrol per line, open issues, the divisions around, and the list of
vector tiles (the OGC API tiles of this server) covering the area. Built on request, never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.boundaries import lines as lines_service
from gis_api.boundaries import markers as markers_service
from gis_api.boundaries.models import BoundaryLine, BoundaryMarker
from gis_api.boundaries.settings import BoundarySettings
from gis_api.errors import InvalidInput, NotFound
from gis_api.field.schemas import PackageRequest
from gis_api.limits import LimitSettings, too_large
from gis_api.ogc import collections as ogc_collections
from gis_api.ogc import tiles as ogc_tiles

FORMAT = "diming-field-package/1"
CORRIDOR_M = 500.0  # tiles above WHOLE_AREA_ZOOM cover the lines and this much on either side
WHOLE_AREA_ZOOM = 12  # up to this zoom every tile of the package's box (the overview)
MAX_CANDIDATES = 1_000_000  # tiles of the box tested against the corridor at one zoom
TILE_TEMPLATE = "/ogc/collections/{collection}/tiles/" + ogc_tiles.TMS_ID + "/{z}/{y}/{x}"

IN_FORCE = "v.valid_from <= :on AND (v.valid_to IS NULL OR v.valid_to > :on)"

SELECT_SQL = f"""
SELECT l.line_id FROM boundary_lines l
JOIN boundary_line_versions v ON v.line_id = l.line_id AND {IN_FORCE}
WHERE (CAST(:ids AS text[]) IS NULL OR l.line_id = ANY(CAST(:ids AS text[])))
  AND (CAST(:code AS text) IS NULL OR :code IN (l.left_code, l.right_code))
  AND (CAST(:level AS text) IS NULL OR l.level = :level)
  AND (CAST(:x0 AS float8) IS NULL OR ST_Intersects(v.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)))
ORDER BY l.line_no LIMIT :limit
"""

LINES_SQL = f"""
SELECT l.line_id, json_build_object(
  'type', 'Feature', 'id', l.line_id, 'geometry', ST_AsGeoJSON(v.geom, 7, 0)::json,
  'properties', json_build_object(
    'line_id', l.line_id, 'line_no', l.line_no, 'name', l.name, 'level', l.level, 'left_code', l.left_code,
    'right_code', l.right_code, 'length_m', round(v.length_m::numeric, 2), 'version', l.version,
    'last_inspection_on', l.last_inspection_on, 'next_inspection_planned_on', l.next_inspection_planned_on,
    'responsible_left', l.responsible_left, 'responsible_right', l.responsible_right,
    'last_inspection', (SELECT json_build_object('id', i.id, 'inspected_on', i.inspected_on, 'kind', i.kind,
                               'filed_on', i.filed_on, 'findings', (SELECT count(*) FROM boundary_inspection_findings f
                                                                    WHERE f.inspection_id = i.id))
                        FROM boundary_inspections i WHERE i.line_id = l.line_id AND i.inspected_on <= :on
                        ORDER BY i.inspected_on DESC, i.id DESC LIMIT 1),
    'last_patrol', (SELECT json_build_object('id', p.id, 'patrolled_on', p.patrolled_on,
                                             'coverage', round(p.coverage::numeric, 4))
                    FROM boundary_patrols p WHERE p.line_id = l.line_id AND p.patrolled_on <= :on
                    ORDER BY p.patrolled_on DESC, p.id DESC LIMIT 1))
)::text AS feature
FROM boundary_lines l JOIN boundary_line_versions v ON v.line_id = l.line_id AND {IN_FORCE}
WHERE l.line_id = ANY(:ids) ORDER BY l.line_no
"""

MARKERS_SQL = """
SELECT m.marker_no, json_build_object(
  'type', 'Feature', 'id', m.marker_no, 'geometry', ST_AsGeoJSON(m.geom, 8, 0)::json,
  'properties', json_build_object(
    'marker_no', m.marker_no, 'line_id', m.line_id, 'type_letter', m.type_letter, 'status', m.status,
    'note', m.note, 'precision_m', m.precision_m, 'survey_method', m.survey_method, 'surveyed_on', m.surveyed_on,
    'material', m.material, 'source', m.source, 'version', m.version,
    'attachments', (SELECT count(*) FROM field_attachment_links k
                    WHERE k.target_kind = 'marker' AND k.target_key = m.marker_no))
)::text AS feature
FROM boundary_markers m
WHERE m.line_id = ANY(:ids) AND m.valid_from <= :on AND (m.valid_to IS NULL OR m.valid_to > :on)
ORDER BY m.marker_no
"""

ISSUES_SQL = """
SELECT i.id, i.line_id, i.marker_no, i.kind, i.description, i.risk, i.status, i.opened_on, i.last_reported_on,
       i.reports, i.distance_m, i.version, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM boundary_issues i WHERE i.line_id = ANY(:ids) AND i.status = 'open' AND i.opened_on <= :on
ORDER BY i.line_id, i.id
"""

AREA_SQL = f"""
WITH g AS (SELECT ST_Union(v.geom) AS g FROM boundary_line_versions v WHERE v.line_id = ANY(:ids) AND {IN_FORCE}),
c AS (SELECT ST_SetSRID(ST_Buffer(g.g::geography, :corridor)::geometry, 4490) AS c FROM g)
SELECT ST_XMin(c.c), ST_YMin(c.c), ST_XMax(c.c), ST_YMax(c.c), ST_AsEWKB(ST_Transform(c.c, 3857)) FROM c
"""

DIVISIONS_SQL = """
SELECT json_build_object('type', 'Feature', 'id', d.code,
       'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(d.geom, 0.0002), 6, 0)::json,
       'properties', json_build_object('code', d.code, 'name', d.name, 'level', d.level, 'source', d.source))::text
FROM divisions d
WHERE d.level IN ('county', 'township') AND d.geom IS NOT NULL
  AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on)
  AND ST_Intersects(d.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490))
ORDER BY d.level, d.code
"""

CORRIDOR_TILES_SQL = """
SELECT x, y FROM generate_series(CAST(:x0 AS int), CAST(:x1 AS int)) x,
                 generate_series(CAST(:y0 AS int), CAST(:y1 AS int)) y
WHERE ST_Intersects(ST_TileEnvelope(:z, x, y), ST_GeomFromEWKB(:corridor))
ORDER BY y, x
"""


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def _tiles(session: Session, bbox: tuple[float, float, float, float], corridor: bytes, body: PackageRequest,
           max_urls: int) -> dict[str, Any]:
    zmin, zmax = body.zooms
    per_level: list[tuple[int, list[tuple[int, int]]]] = []
    urls: list[str] = []
    complete: int | None = None
    truncated = False
    for z in range(zmin, zmax + 1):
        x0, y0 = _tile_xy(bbox[0], bbox[3], z)  # north-west corner: the smallest row
        x1, y1 = _tile_xy(bbox[2], bbox[1], z)
        candidates = (x1 - x0 + 1) * (y1 - y0 + 1)
        # Nothing is enumerated that could not fit: the box's tiles bound a level's count from above (the whole
        # box) or, for the corridor, bound the work of finding them.
        if (z <= WHOLE_AREA_ZOOM and len(urls) + candidates * len(body.collections) > max_urls) or \
                candidates > MAX_CANDIDATES:
            truncated = True
            break
        if z <= WHOLE_AREA_ZOOM:
            cells = [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]
        else:
            cells = [(int(r[0]), int(r[1])) for r in session.execute(
                text(CORRIDOR_TILES_SQL), {"x0": x0, "x1": x1, "y0": y0, "y1": y1, "z": z, "corridor": corridor})]
        level = [TILE_TEMPLATE.format(collection=c, z=z, y=y, x=x)
                 for (x, y) in cells for c in body.collections]
        if len(urls) + len(level) > max_urls:
            truncated = True  # whole levels only: a level cut in the middle would leave holes in the base map
            break
        urls.extend(level)
        per_level.append((z, cells))
        complete = z
    return {
        "template": TILE_TEMPLATE, "collections": list(body.collections), "zooms": [zmin, zmax],
        "complete_to_zoom": complete, "count": len(urls), "truncated": truncated,
        "per_zoom": {str(z): len(cells) for z, cells in per_level}, "urls": urls,
    }


def build(session: Session, body: PackageRequest, settings: BoundarySettings, limits: LimitSettings,
          user: str) -> tuple[bytes, str]:
    """The package as JSON bytes and its ETag."""
    on = body.as_of or clock.today()
    for c in body.collections:
        if ogc_collections.get(c) is None:
            raise InvalidInput(f"no collection {c!r} to take tiles from", f"不存在图层 {c!r}", field="collections")
    max_tiles = limits.field_package_tiles if body.max_tiles is None else min(body.max_tiles,
                                                                               limits.field_package_tiles)
    bbox_in = body.bbox or (None, None, None, None)
    ids = [str(r) for r in session.scalars(text(SELECT_SQL), {
        "ids": body.line_ids, "code": body.code, "level": body.level.value if body.level else None, "on": on,
        "x0": bbox_in[0], "y0": bbox_in[1], "x1": bbox_in[2], "y1": bbox_in[3],
        "limit": limits.field_package_lines + 1,
    })]
    if len(ids) > limits.field_package_lines:
        raise too_large("the work package (lines)", "工作包的界线条数", limits.field_package_lines,
                        "field_package_lines", field="line_ids")
    if body.line_ids:
        missing = sorted(set(body.line_ids) - set(ids))
        if missing:
            raise NotFound(f"no boundary line {', '.join(missing)} in force on {on}",
                           f"{on} 时不存在界线 {'、'.join(missing)}", field="line_ids")
    if not ids:
        raise NotFound(f"no boundary line matches on {on}", f"{on} 时没有符合条件的界线", field="line_ids")

    line_rows = {r.line_id: r for r in session.scalars(select(BoundaryLine).where(BoundaryLine.line_id.in_(ids)))}
    line_features = []
    for line_id, feature in session.execute(text(LINES_SQL), {"ids": ids, "on": on}):
        f = json.loads(feature)
        f["properties"]["etag"] = lines_service.etag(line_rows[line_id])
        line_features.append(f)
    marker_rows = {r.marker_no: r for r in session.scalars(
        select(BoundaryMarker).where(BoundaryMarker.line_id.in_(ids), BoundaryMarker.valid_from <= on,
                                     (BoundaryMarker.valid_to.is_(None)) | (BoundaryMarker.valid_to > on)))}
    marker_features = []
    for marker_no, feature in session.execute(text(MARKERS_SQL), {"ids": ids, "on": on}):
        f = json.loads(feature)
        f["properties"]["etag"] = markers_service.etag(marker_rows[marker_no])
        marker_features.append(f)
    issues = []
    for r in session.execute(text(ISSUES_SQL), {"ids": ids, "on": on}).mappings():
        issues.append({
            "id": r["id"], "line_id": r["line_id"], "marker_no": r["marker_no"], "kind": r["kind"],
            "description": r["description"], "risk": r["risk"], "status": r["status"],
            "opened_on": r["opened_on"].isoformat(),
            "last_reported_on": r["last_reported_on"].isoformat() if r["last_reported_on"] else None,
            "reports": r["reports"], "distance_m": r["distance_m"],
            "location": [r["lon"], r["lat"]] if r["lon"] is not None else None,
            "etag": f'"q{r["id"]}.v{r["version"]}"',
        })
    area = session.execute(text(AREA_SQL), {"ids": ids, "on": on, "corridor": CORRIDOR_M}).one()
    bbox = (round(float(area[0]), 6), round(float(area[1]), 6), round(float(area[2]), 6), round(float(area[3]), 6))
    divisions = [json.loads(str(r[0])) for r in session.execute(
        text(DIVISIONS_SQL), {"on": on, "x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3]})]
    tiles = _tiles(session, bbox, bytes(area[4]), body, max_tiles)
    data = {
        "as_of": on.isoformat(), "bbox": list(bbox),
        "settings": {"buffer_m": settings.patrol_buffer_m, "visit_m": settings.patrol_visit_m,
                     "tolerance_m": settings.marker_tolerance_m},
        "lines": {"type": "FeatureCollection", "features": line_features},
        "markers": {"type": "FeatureCollection", "features": marker_features},
        "issues": issues,
        "divisions": {"type": "FeatureCollection", "features": divisions},
        "tiles": tiles,
    }
    package_id = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()
                                ).hexdigest()[:16]
    doc = {
        "format": FORMAT, "package_id": package_id,
        "generated_at": dt.datetime.now(clock.zone()).isoformat(timespec="seconds"), "generated_by": user,
        **data,
        "counts": {"lines": len(line_features), "markers": len(marker_features), "issues": len(issues),
                   "divisions": len(divisions), "tiles": tiles["count"]},
        "size_bytes": 0,
    }
    # The document states its own size: fix the number once its digits are known (two passes suffice).
    raw = b""
    for _ in range(4):
        raw = json.dumps(doc, ensure_ascii=False, default=str, separators=(",", ":")).encode()
        if doc["size_bytes"] == len(raw):
            break
        doc["size_bytes"] = len(raw)
    return raw, f'"pkg-{package_id}"'
