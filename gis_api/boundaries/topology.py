"""Topology validation of the divisions of one level on one date, computed in PostGIS.

Finds invalid polygons, overlaps between divisions of the level (siblings when a parent is given), gaps
(the parent's area not covered by its children, or holes in the union when the parent has no polygon),
children reaching outside their parent, and slivers (a gap, overlap or part that is small or thin). Every
finding carries the codes involved, its size (m², and the mean width for slivers) and its location.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.boundaries.settings import BoundarySettings
from gis_api.divisions.models import Level

SCOPE = """
CREATE TEMP TABLE _topo_scope ON COMMIT DROP AS
SELECT d.code, d.parent_code, d.geom FROM divisions d
WHERE d.level = :level AND ST_Dimension(d.geom) = 2
  AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on)
  AND (CAST(:parent AS text) IS NULL OR d.parent_code = :parent)
"""

PIECES = """
WITH s AS (SELECT * FROM _topo_scope),
parents AS (
    SELECT p.code, p.geom FROM divisions p
    WHERE p.code IN (SELECT DISTINCT parent_code FROM s) AND ST_Dimension(p.geom) = 2
      AND p.valid_from <= :on AND (p.valid_to IS NULL OR p.valid_to > :on)
),
overlap_pieces AS (
    SELECT 'overlap' AS kind, ARRAY[a.code, b.code] AS codes,
           (ST_Dump(ST_CollectionExtract(ST_Intersection(ST_MakeValid(a.geom), ST_MakeValid(b.geom)), 3))).geom AS g
    FROM s a JOIN s b ON a.code < b.code AND a.geom && b.geom AND ST_Intersects(a.geom, b.geom)
),
sib_groups AS (
    SELECT s.parent_code, ST_Union(ST_MakeValid(s.geom)) AS u FROM s GROUP BY s.parent_code
),
gaps_in_parent AS (
    SELECT 'gap' AS kind, ARRAY[p.code] AS codes,
           (ST_Dump(ST_CollectionExtract(ST_Difference(ST_MakeValid(p.geom), g.u), 3))).geom AS g
    FROM sib_groups g JOIN parents p ON p.code = g.parent_code
),
union_parts AS (
    SELECT g.parent_code, (ST_Dump(g.u)).geom AS part FROM sib_groups g
    WHERE g.parent_code IS NULL OR g.parent_code NOT IN (SELECT code FROM parents)
),
holes AS (
    SELECT 'gap' AS kind, ARRAY[coalesce(parent_code, '')] AS codes,
           (ST_Dump(ST_CollectionExtract(ST_Difference(ST_MakePolygon(ST_ExteriorRing(part)), part), 3))).geom AS g
    FROM union_parts
),
outside_pieces AS (
    SELECT 'outside_parent' AS kind, ARRAY[s.code, p.code] AS codes,
           (ST_Dump(ST_CollectionExtract(ST_Difference(ST_MakeValid(s.geom), ST_MakeValid(p.geom)), 3))).geom AS g
    FROM s JOIN parents p ON p.code = s.parent_code
    WHERE NOT ST_CoveredBy(s.geom, p.geom)
),
parts AS (
    SELECT 'part' AS kind, ARRAY[s.code] AS codes, (ST_Dump(s.geom)).geom AS g FROM s
    WHERE ST_NumGeometries(s.geom) > 1
),
everything AS (
    SELECT * FROM overlap_pieces UNION ALL SELECT * FROM gaps_in_parent UNION ALL SELECT * FROM holes
    UNION ALL SELECT * FROM outside_pieces UNION ALL SELECT * FROM parts
),
measured AS (
    SELECT kind, codes, g, ST_Area(g::geography) AS area_m2, ST_Perimeter(g::geography) AS perimeter_m
    FROM everything WHERE NOT ST_IsEmpty(g)
)
SELECT kind, codes, area_m2, perimeter_m,
       CASE WHEN perimeter_m > 0 THEN 4 * pi() * area_m2 / (perimeter_m * perimeter_m) END AS thinness,
       ST_X(ST_PointOnSurface(g)) AS lon, ST_Y(ST_PointOnSurface(g)) AS lat,
       ST_AsGeoJSON(g, 7, 0) AS geometry,
       json_build_array(ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g)) AS bbox
FROM measured
WHERE area_m2 >= :min_area OR kind = 'part'
ORDER BY kind, codes, area_m2 DESC, lon, lat  -- ties (equal pieces) in a fixed order
"""

INVALID = """
SELECT s.code, ST_IsValidReason(s.geom) AS reason,
       ST_X((ST_IsValidDetail(s.geom)).location) AS lon, ST_Y((ST_IsValidDetail(s.geom)).location) AS lat
FROM _topo_scope s WHERE NOT ST_IsValid(s.geom)
"""


def report(session: Session, level: Level, on: dt.date, settings: BoundarySettings,
           parent: str | None = None, *, with_geometry: bool = True) -> dict[str, Any]:
    params = {"level": level.value, "on": on, "parent": parent}
    session.execute(text("DROP TABLE IF EXISTS _topo_scope"))
    session.execute(text(SCOPE), params)
    checked = int(session.execute(text("SELECT count(*) FROM _topo_scope")).scalar_one())
    findings: list[dict[str, Any]] = []
    for r in session.execute(text(INVALID)).mappings():
        findings.append({
            "kind": "invalid", "codes": [r["code"]], "reason": r["reason"], "area_m2": None,
            "location": [r["lon"], r["lat"]] if r["lon"] is not None else None,
        })
    rows = session.execute(text(PIECES), {**params, "min_area": settings.min_area_m2}).mappings().all()
    for r in rows:
        area = float(r["area_m2"])
        perimeter = float(r["perimeter_m"])
        thin = r["thinness"] is not None and float(r["thinness"]) < settings.sliver_thinness
        small = area < settings.sliver_area_m2
        kind = str(r["kind"])
        if kind == "part":
            if not small:
                continue  # a large separate part (an exclave) is legitimate
            sliver_of: str | None = "part"
        else:
            sliver_of = kind if (small or thin) else None
        item: dict[str, Any] = {
            "kind": "sliver" if sliver_of else kind,
            "codes": [c for c in r["codes"] if c],
            "area_m2": round(area, 3),
            "area_mu": round(area / (2000 / 3), 3),
            "perimeter_m": round(perimeter, 3),
            "mean_width_m": round(2 * area / perimeter, 3) if perimeter else None,
            "location": [round(float(r["lon"]), 7), round(float(r["lat"]), 7)],
            "bbox": r["bbox"],
        }
        if sliver_of:
            item["sliver_of"] = sliver_of
        if with_geometry:
            item["geometry"] = json.loads(r["geometry"])
        findings.append(item)
    session.execute(text("DROP TABLE IF EXISTS _topo_scope"))
    summary = {k: 0 for k in ("invalid", "overlap", "gap", "outside_parent", "sliver")}
    for f in findings:
        summary[f["kind"]] += 1
    return {
        "level": level.value, "as_of": on.isoformat(), "parent": parent, "divisions_checked": checked,
        "min_area_m2": settings.min_area_m2, "sliver_area_m2": settings.sliver_area_m2,
        "sliver_thinness": settings.sliver_thinness,
        "valid": not findings, "summary": summary, "findings": findings,
    }


def as_geojson(rep: dict[str, Any]) -> dict[str, Any]:
    """The findings as a FeatureCollection (a point at the location when a finding has no area)."""
    features = []
    for i, f in enumerate(rep["findings"]):
        geometry = f.get("geometry") or (
            {"type": "Point", "coordinates": f["location"]} if f.get("location") else None
        )
        props = {k: v for k, v in f.items() if k != "geometry"}
        features.append({"type": "Feature", "id": i + 1, "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features,
            **{k: v for k, v in rep.items() if k != "findings"}}
