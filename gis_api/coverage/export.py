"""Coverage results as GeoJSON (built in SQL from the computation's tables), CSV and the offline HTML report.

Call these in the same transaction as the computation: they read its transaction-local tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import labels
from gis_api.coverage import report
from gis_api.coverage.service import demand_rows, summary, supply_rows
from gis_api.io import safe_cells

Format = Literal["json", "geojson", "csv", "html"]
MEDIA = {"json": "application/json", "geojson": "application/geo+json", "csv": "text/csv; charset=utf-8",
         "html": "text/html; charset=utf-8"}

GEOJSON_SQL = """
WITH best AS (
    SELECT DISTINCT ON (p.demand_id) p.demand_id, p.supply_id, p.dist_m
    FROM pg_temp.cov_pairs p ORDER BY p.demand_id, p.dist_m, p.supply_id),
served AS (SELECT b.supply_id, sum(d.weight) AS w FROM best b JOIN pg_temp.cov_demand d ON d.id = b.demand_id
           GROUP BY b.supply_id),
feats AS (
    SELECT 0 AS o, d.code AS k, json_build_object(
        'type', 'Feature', 'id', d.code, 'geometry', ST_AsGeoJSON(d.geom, 7, 0)::json,
        'properties', json_build_object(
            'layer', 'demand', 'code', d.code, 'name', d.name, 'township', d.township, 'population', d.weight,
            'covered', b.supply_id IS NOT NULL, 'nearest_facility_id', b.supply_id,
            'distance_m', round(b.dist_m::numeric, 1))) AS f
    FROM pg_temp.cov_demand d LEFT JOIN best b ON b.demand_id = d.id
    UNION ALL
    SELECT 1, lpad(s.id::text, 12, '0'), json_build_object(
        'type', 'Feature', 'id', 'facility-' || s.id, 'geometry', ST_AsGeoJSON(s.geom, 7, 0)::json,
        'properties', json_build_object(
            'layer', 'facility', 'facility_id', s.id, 'name', s.name, 'capacity', s.capacity, 'status', s.status,
            'population_served', coalesce(sv.w, 0)))
    FROM pg_temp.cov_supply s LEFT JOIN served sv ON sv.supply_id = s.id)
SELECT json_build_object('type', 'FeatureCollection',
                         'features', coalesce(json_agg(f ORDER BY o, k), '[]'::json))::text FROM feats"""


def coverage_geojson(session: Session, result: dict[str, Any]) -> dict[str, Any]:
    """Demand points (covered or not, nearest facility, distance) and facilities (population served); service
    areas too when the result has them. Summary figures go in ``properties`` of the collection."""
    fc: dict[str, Any] = json.loads(session.execute(text(GEOJSON_SQL)).scalar_one())
    for f in (result.get("service_areas") or {}).get("features", []):
        fc["features"].append({**f, "properties": {**f["properties"], "layer": "service_area"}})
    fc["properties"] = {k: result[k] for k in ("population_total", "population_covered", "share_covered", "query")
                        if k in result}
    return fc


CSV_FIELDS = ("code", "name", "township", "township_name", "population", "covered", "nearest_facility_id",
              "nearest_facility", "distance_m", "facilities_in_reach", "lon", "lat")


def coverage_csv(session: Session, as_of: dt.date, scores: dict[str, float] | None = None,
                 lang: labels.Lang | None = None) -> str:
    """One row per demand point (UTF-8 with BOM so spreadsheet programs read the Chinese names); facility and
    village names that a spreadsheet would run as formulas are escaped (``safe_cells``). With ``lang`` (the
    reader's Accept-Language) the headings and yes/no cells are words of that language, as the layer exports do
    (``gis_api/io``); without it, column names and true/false for programs."""
    fields = [*CSV_FIELDS, *(("score_2sfca", "score_per_1000") if scores is not None else ())]

    def rows() -> Iterator[list[Any]]:
        for r in demand_rows(session, as_of):
            if scores is not None:
                r["score_2sfca"] = scores.get(r["code"], 0.0)
                r["score_per_1000"] = round(scores.get(r["code"], 0.0) * 1000, 6)
            yield [r.get(f) if lang is None else labels.cell(f, r.get(f), lang) for f in fields]

    header = fields if lang is None else [labels.field_label(f, lang) for f in fields]
    return safe_cells.csv_text(header, rows())


def townships(session: Session, as_of: dt.date, county: str) -> dict[str, Any]:
    return dict(json.loads(session.execute(text("""
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', d.code,
            'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(d.geom, 0.0003), 6, 0)::json,
            'properties', json_build_object('code', d.code, 'name', d.name, 'source', d.source)) ORDER BY d.code),
            '[]'::json))::text
        FROM divisions d WHERE d.level = 'township' AND d.parent_code = :county AND ST_Dimension(d.geom) = 2
          AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)"""),
        {"as_of": as_of, "county": county}).scalar_one()))


def html_report(session: Session, result: dict[str, Any], as_of: dt.date, county: str, title: str,
                sites: list[dict[str, Any]] | None = None, scores: dict[str, float] | None = None) -> str:
    return report.build(title, result, demand_rows(session, as_of), supply_rows(session),
                        townships(session, as_of, county), result.get("service_areas"), sites, scores)


def as_of_of(result: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(result["query"]["as_of"])


def summary_report(session: Session, result: dict[str, Any], county: str, title: str,
                   sites: list[dict[str, Any]] | None = None, scores: dict[str, float] | None = None) -> str:
    """The HTML report of an accessibility or suggestion ``result``: coverage summary of the current pairs."""
    as_of = as_of_of(result)
    # A suggestion's shares before and after its sites go along, for the report's header.
    keys = ("population_covered_before", "share_before", "population_covered_after", "share_after")
    shares: dict[str, Any] = {k: result[k] for k in keys if k in result}
    cov: dict[str, Any] = {**summary(session, as_of), "query": result["query"], **shares}
    return html_report(session, cov, as_of, county, title, sites=sites, scores=scores)


def sites_geojson(result: dict[str, Any], *, with_ids: bool = True) -> dict[str, Any]:
    """Suggested sites as a FeatureCollection; the query and totals go into its ``properties``."""
    def feat(s: dict[str, Any]) -> dict[str, Any]:
        return {"type": "Feature", **({"id": s["candidate_id"]} if with_ids else {}),
                "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]}, "properties": s}

    return {"type": "FeatureCollection", "properties": {k: v for k, v in result.items() if k != "sites"},
            "features": [feat(s) for s in result["sites"]]}
