"""Population coverage, 2SFCA accessibility and site suggestion (MCLP/LSCP).

Each computation loads demand and supply into transaction-local tables (``engine``), finds the pairs within
the distance in PostGIS/pgRouting, and aggregates them in SQL; Python only shapes the answer and runs the
solver on the coverage matrix SQL produced.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.coverage import engine, optimize
from gis_api.coverage.config import PlanningSettings, presets
from gis_api.coverage.schemas import CoverageQuery, CoverageRequest, SuggestRequest
from gis_api.errors import InvalidInput
from gis_api.facilities import service as facilities


def num(x: Any) -> Any:
    """Integral floats as ints (populations), others rounded to 6 decimals; None stays None."""
    if x is None:
        return None
    f = float(x)
    return int(f) if f.is_integer() else round(f, 6)


@dataclass(frozen=True)
class Prepared:
    as_of: dt.date
    kind: str
    kind_name: str
    distance: engine.Distance
    demand: dict[str, Any]
    facilities: int

    def header(self) -> dict[str, Any]:
        return {"facility_kind": self.kind, "facility_kind_name": self.kind_name, "as_of": self.as_of.isoformat(),
                "distance": self.distance.describe(), "demand": self.demand, "facilities": self.facilities}


def distance_of(session: Session, q: CoverageQuery, settings: PlanningSettings) -> engine.Distance:
    given = [name for name in ("radius_m", "network_m", "preset") if getattr(q, name) is not None]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of radius_m, network_m or preset" + (f" (got {', '.join(given)})" if given else ""),
            "须且只须提供直线半径、路网距离或生活圈预设之一", field="radius_m", rule="§6",
        )
    if q.preset is not None:
        table = presets(settings)
        if q.preset not in table:
            raise InvalidInput(f"unknown preset {q.preset!r}; presets: {', '.join(table)}",
                               f"未知的生活圈预设 {q.preset!r}；可选：{'、'.join(table)}", field="preset", rule="§6")
        return engine.Distance("radius", float(table[q.preset]["radius_m"]))
    if q.radius_m is not None:
        return engine.Distance("radius", q.radius_m)
    assert q.network_m is not None
    net = engine.resolve_network(session, q.network)
    return engine.Distance("network", q.network_m, net.id, net.name, q.directed, settings.max_snap_m)


def prepare(session: Session, q: CoverageQuery, settings: PlanningSettings) -> Prepared:
    kind = facilities.check_kind(session, q.facility_kind, field="facility_kind")
    distance = distance_of(session, q, settings)
    as_of = q.as_of or clock.today()
    demand = engine.load_demand(session, q.demand, as_of, q.within)
    n = engine.load_supply(session, kind.id, as_of, q.include_planned)
    engine.pairs(session, distance)
    return Prepared(as_of, kind.id, kind.name_zh, distance, demand, n)


SUMMARY_SQL = """
WITH best AS (
    SELECT DISTINCT ON (p.demand_id) p.demand_id, p.supply_id, p.dist_m
    FROM pg_temp.cov_pairs p ORDER BY p.demand_id, p.dist_m, p.supply_id),
dem AS (SELECT d.id, d.code, d.name, d.township, d.weight, b.supply_id, b.dist_m
        FROM pg_temp.cov_demand d LEFT JOIN best b ON b.demand_id = d.id),
tw AS (SELECT dem.township, sum(dem.weight) AS tot,
              coalesce(sum(dem.weight) FILTER (WHERE dem.supply_id IS NOT NULL), 0) AS cov,
              count(*) AS n, count(*) FILTER (WHERE dem.supply_id IS NULL) AS nu
       FROM dem GROUP BY dem.township),
reach AS (SELECT p.supply_id, sum(d.weight) AS w, count(*) AS n
          FROM pg_temp.cov_pairs p JOIN pg_temp.cov_demand d ON d.id = p.demand_id GROUP BY p.supply_id),
served AS (SELECT dem.supply_id, sum(dem.weight) AS w, count(*) AS n FROM dem
           WHERE dem.supply_id IS NOT NULL GROUP BY dem.supply_id)
SELECT json_build_object(
    'population_total', (SELECT coalesce(sum(weight), 0) FROM dem),
    'population_covered', (SELECT coalesce(sum(weight), 0) FROM dem WHERE supply_id IS NOT NULL),
    'uncovered', (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name, 'population', weight)
                                           ORDER BY weight DESC, code), '[]'::json)
                  FROM dem WHERE supply_id IS NULL),
    'by_township', (SELECT coalesce(json_agg(json_build_object(
                        'code', tw.township,
                        'name', (SELECT t.name FROM divisions t WHERE t.code = tw.township
                                   AND t.valid_from <= :as_of AND (t.valid_to IS NULL OR t.valid_to > :as_of) LIMIT 1),
                        'population_total', tw.tot, 'population_covered', tw.cov,
                        'share_covered', CASE WHEN tw.tot > 0 THEN round((tw.cov / tw.tot)::numeric, 6) END,
                        'demand_points', tw.n, 'uncovered_points', tw.nu) ORDER BY tw.township NULLS LAST),
                        '[]'::json) FROM tw),
    'facility_load', (SELECT coalesce(json_agg(json_build_object(
                          'facility_id', s.id, 'name', s.name, 'capacity', s.capacity,
                          'population_served', coalesce(sv.w, 0), 'demand_points_served', coalesce(sv.n, 0),
                          'population_in_reach', coalesce(r.w, 0),
                          'population_per_capacity', CASE WHEN s.capacity > 0
                              THEN round((coalesce(sv.w, 0) / s.capacity)::numeric, 3) END)
                          ORDER BY s.id), '[]'::json)
                      FROM pg_temp.cov_supply s LEFT JOIN served sv ON sv.supply_id = s.id
                           LEFT JOIN reach r ON r.supply_id = s.id)
)::text"""


def summary(session: Session, as_of: dt.date) -> dict[str, Any]:
    """Shares, uncovered villages, townships and facility loads from the current ``cov_pairs``."""
    raw = json.loads(session.execute(text(SUMMARY_SQL), {"as_of": as_of}).scalar_one())
    total, covered = float(raw["population_total"]), float(raw["population_covered"])
    for u in raw["uncovered"]:
        u["population"] = num(u["population"])
    for t in raw["by_township"]:
        t["population_total"], t["population_covered"] = num(t["population_total"]), num(t["population_covered"])
    for f in raw["facility_load"]:
        for key in ("population_served", "population_in_reach"):
            f[key] = num(f[key])
    return {
        "population_total": num(total),
        "population_covered": num(covered),
        "share_covered": round(covered / total, 6) if total > 0 else None,
        "uncovered": raw["uncovered"],
        "by_township": raw["by_township"],
        "facility_load": raw["facility_load"],
    }


def coverage(session: Session, req: CoverageRequest, settings: PlanningSettings) -> dict[str, Any]:
    prep = prepare(session, req, settings)
    out = summary(session, prep.as_of)
    out["query"] = prep.header()
    if req.service_areas:
        out["service_areas"] = engine.service_areas(session, prep.distance)
    return out


DEMAND_ROWS_SQL = """
WITH best AS (
    SELECT DISTINCT ON (p.demand_id) p.demand_id, p.supply_id, p.dist_m
    FROM pg_temp.cov_pairs p ORDER BY p.demand_id, p.dist_m, p.supply_id),
n AS (SELECT p.demand_id, count(*) AS k FROM pg_temp.cov_pairs p GROUP BY p.demand_id)
SELECT d.code, d.name, d.township,
       (SELECT t.name FROM divisions t WHERE t.code = d.township
          AND t.valid_from <= :as_of AND (t.valid_to IS NULL OR t.valid_to > :as_of) LIMIT 1) AS township_name,
       d.weight, b.supply_id, s.name AS facility, round(b.dist_m::numeric, 1) AS dist_m, coalesce(n.k, 0) AS k,
       ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat
FROM pg_temp.cov_demand d LEFT JOIN best b ON b.demand_id = d.id LEFT JOIN pg_temp.cov_supply s ON s.id = b.supply_id
LEFT JOIN n ON n.demand_id = d.id ORDER BY d.code, d.id"""


def demand_rows(session: Session, as_of: dt.date) -> list[dict[str, Any]]:
    """Per demand point: covered or not, its nearest facility within the distance and how far."""
    return [
        {"code": r.code, "name": r.name, "township": r.township, "township_name": r.township_name,
         "population": num(r.weight), "covered": r.supply_id is not None, "nearest_facility_id": r.supply_id,
         "nearest_facility": r.facility, "distance_m": float(r.dist_m) if r.dist_m is not None else None,
         "facilities_in_reach": int(r.k), "lon": round(float(r.lon), 7), "lat": round(float(r.lat), 7)}
        for r in session.execute(text(DEMAND_ROWS_SQL), {"as_of": as_of})
    ]


def supply_rows(session: Session) -> list[dict[str, Any]]:
    return [
        {"facility_id": r.id, "name": r.name, "capacity": r.capacity, "status": r.status,
         "lon": round(float(r.lon), 7), "lat": round(float(r.lat), 7)}
        for r in session.execute(text(
            "SELECT s.id, s.name, s.capacity, s.status, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat "
            "FROM pg_temp.cov_supply s ORDER BY s.id"))
    ]


# -- 2SFCA ---------------------------------------------------------------------------------------------------------

ACCESS_SQL = """
WITH reach AS (SELECT p.supply_id, sum(d.weight) AS pop
               FROM pg_temp.cov_pairs p JOIN pg_temp.cov_demand d ON d.id = p.demand_id GROUP BY p.supply_id),
ratio AS (SELECT s.id, s.name, s.capacity, coalesce(s.capacity, 1)::float8 AS supply, r.pop,
                 coalesce(s.capacity, 1)::float8 / nullif(r.pop, 0) AS r
          FROM pg_temp.cov_supply s LEFT JOIN reach r ON r.supply_id = s.id),
score AS (SELECT d.id, coalesce(sum(ratio.r), 0) AS a, count(ratio.id) AS k
          FROM pg_temp.cov_demand d LEFT JOIN pg_temp.cov_pairs p ON p.demand_id = d.id
          LEFT JOIN ratio ON ratio.id = p.supply_id GROUP BY d.id)
SELECT json_build_object(
    'demand', (SELECT coalesce(json_agg(json_build_object(
                   'code', d.code, 'name', d.name, 'township', d.township, 'population', d.weight,
                   'score', sc.a, 'facilities_in_reach', sc.k) ORDER BY d.code, d.id), '[]'::json)
               FROM pg_temp.cov_demand d JOIN score sc ON sc.id = d.id),
    'facilities', (SELECT coalesce(json_agg(json_build_object(
                       'facility_id', ratio.id, 'name', ratio.name, 'capacity', ratio.capacity,
                       'population_in_reach', coalesce(ratio.pop, 0), 'ratio', ratio.r) ORDER BY ratio.id),
                       '[]'::json) FROM ratio),
    'missing_capacity', (SELECT count(*) FROM pg_temp.cov_supply s WHERE s.capacity IS NULL)
)::text"""


def accessibility(session: Session, q: CoverageQuery, settings: PlanningSettings) -> dict[str, Any]:
    """Two-step floating catchment area (Luo & Wang 2003): R_j = S_j / Σ_{k: d_kj ≤ d0} P_k for every facility j
    (S_j = capacity), then A_i = Σ_{j: d_ij ≤ d0} R_j for every village i (supply per person in reach)."""
    prep = prepare(session, q, settings)
    raw = json.loads(session.execute(text(ACCESS_SQL)).scalar_one())
    villages = [
        {**v, "population": num(v["population"]), "score": round(float(v["score"]), 9),
         "score_per_1000": round(float(v["score"]) * 1000, 6)}
        for v in raw["demand"]
    ]
    pop = sum(float(v["population"]) for v in villages)
    mean = sum(float(v["population"]) * v["score"] for v in villages) / pop if pop > 0 else None
    warnings = []
    if raw["missing_capacity"]:
        warnings.append(f"{raw['missing_capacity']} facilities have no capacity; each counted as supply 1")
    return {
        "query": prep.header(),
        "method": "2SFCA (Luo & Wang 2003), supply = facility capacity, binary catchment",
        "population_weighted_mean_score": round(mean, 9) if mean is not None else None,
        "population_without_access": num(sum(float(v["population"]) for v in villages
                                             if v["facilities_in_reach"] == 0)),
        "villages": villages,
        "facilities": [
            {**f, "population_in_reach": num(f["population_in_reach"]),
             "ratio": round(float(f["ratio"]), 9) if f["ratio"] is not None else None}
            for f in raw["facilities"]
        ],
        "warnings": warnings,
    }


# -- site suggestion ----------------------------------------------------------------------------------------------

GROUPS_SQL = """
WITH sets AS (SELECT cp.demand_id, array_agg(cp.supply_id ORDER BY cp.supply_id) AS cands
              FROM pg_temp.cov_cand_pairs cp GROUP BY cp.demand_id)
SELECT s.cands, sum(d.weight) AS w FROM sets s JOIN pg_temp.cov_demand d ON d.id = s.demand_id
WHERE d.weight > 0 GROUP BY s.cands"""


def suggest(session: Session, req: SuggestRequest, settings: PlanningSettings) -> dict[str, Any]:
    """Choose new sites among candidates with the existing facilities fixed: MCLP (k sites, most population
    newly covered) or LSCP (fewest sites reaching ``target_share``); ranked by the population each adds."""
    if req.method == "mclp" and req.k is None:
        raise InvalidInput("MCLP needs k, the number of new sites", "最大覆盖模型须提供新增站点数", field="k")
    if req.method == "lscp" and req.target_share is None:
        raise InvalidInput("LSCP needs target_share (0–1]", "集合覆盖模型须提供目标覆盖率",
                           field="target_share")
    prep = prepare(session, req, settings)
    n_cand = engine.load_candidates(session, req.candidates, prep.as_of, req.within, req.grid_m, settings.county)
    if n_cand > settings.max_candidates:
        raise InvalidInput(f"{n_cand} candidates exceed the limit of {settings.max_candidates}; use a larger grid_m",
                           f"候选点 {n_cand} 个，超过上限 {settings.max_candidates}", field="grid_m")
    before = summary(session, prep.as_of)
    engine.pairs(session, prep.distance, supply="cov_cand", out="cov_cand_pairs",
                 demand_where="NOT EXISTS (SELECT 1 FROM pg_temp.cov_pairs cp0 WHERE cp0.demand_id = d.id)")
    groups = optimize.aggregate((list(r.cands), float(r.w)) for r in session.execute(text(GROUPS_SQL)))
    limit = req.time_limit_s or settings.solver_time_limit_s
    total = float(before["population_total"])
    covered_before = float(before["population_covered"])
    if req.method == "mclp":
        assert req.k is not None
        sol = optimize.mclp(groups, req.k, limit)
    else:
        assert req.target_share is not None
        need = req.target_share * total - covered_before
        reachable = sum(w for _c, w in groups)
        if need > reachable + 1e-6:
            best = (covered_before + reachable) / total if total else 0.0
            raise InvalidInput(
                f"target_share {req.target_share} cannot be reached from these candidates: at most "
                f"{best:.4f} of the population can be covered",
                f"目标覆盖率 {req.target_share} 无法达到：这些候选点最多覆盖 {best:.2%} 的人口",
                field="target_share", rule="§6", code="infeasible", extra={"max_share": round(best, 6)},
            )
        sol = optimize.lscp(groups, need, limit)
    ranked = optimize.rank(sol.selected, groups)
    sites = _site_rows(session, ranked)
    after = covered_before + sol.covered
    return {
        "query": {**prep.header(), "method": req.method, "k": req.k, "target_share": req.target_share,
                  "candidates": req.candidates, "grid_m": req.grid_m if req.candidates == "grid" else None},
        "optimal": sol.optimal, "status": sol.status, "solver": sol.solver, "solve_seconds": round(sol.seconds, 3),
        "candidate_count": n_cand, "demand_groups": len(groups),
        "population_total": num(total),
        "population_covered_before": num(covered_before),
        "share_before": round(covered_before / total, 6) if total else None,
        "population_covered_after": num(after),
        "share_after": round(after / total, 6) if total else None,
        "sites": sites, "notes": sol.notes,
    }


def _site_rows(session: Session, ranked: list[tuple[int, float]]) -> list[dict[str, Any]]:
    if not ranked:
        return []
    rows = {r.id: r for r in session.execute(text(
        "SELECT c.id, c.code, c.name, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, "
        "(SELECT t.code FROM divisions t WHERE t.level = 'township' AND t.valid_to IS NULL "
        "   AND ST_Covers(t.geom, c.geom) LIMIT 1) AS township "
        "FROM pg_temp.cov_cand c WHERE c.id = ANY(:ids)"), {"ids": [s for s, _g in ranked]})}
    return [
        {"rank": i, "candidate_id": s, "code": rows[s].code, "name": rows[s].name, "township": rows[s].township,
         "lon": round(float(rows[s].lon), 7), "lat": round(float(rows[s].lat), 7), "added_population": num(g)}
        for i, (s, g) in enumerate(ranked, start=1)
    ]
