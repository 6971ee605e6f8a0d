"""The coverage engine: demand, supply and candidate sets as transaction-local tables, and the
demand × supply pairs within a distance — geodesic (PostGIS geography, index-assisted) or along a road network
(pgRouting ``pgr_drivingDistance``). Everything else (shares, loads, 2SFCA, the solver's coverage matrix) is
aggregated from those pairs in SQL.

Table names come from a fixed set, never from input; values are bound parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis_api.coverage.models import DemandLayer, RoadNetwork
from gis_api.errors import InvalidInput

SupplyTable = Literal["cov_supply", "cov_cand"]
PairsTable = Literal["cov_pairs", "cov_cand_pairs"]
_TEMP_TABLES = {"cov_demand", "cov_supply", "cov_cand", "cov_pairs", "cov_cand_pairs", "cov_snap_demand",
                "cov_snap_cov_supply", "cov_snap_cov_cand", "cov_reach_cov_supply", "cov_reach_cov_cand"}
OPERATING = ("open",)
PLANNED = ("open", "planned", "under_construction")


@dataclass(frozen=True)
class Distance:
    """Radius (geodesic metres) or network distance (metres along the roads of ``network_id``)."""

    mode: Literal["radius", "network"]
    meters: float
    network_id: int | None = None
    network_name: str | None = None
    directed: bool = False
    max_snap_m: float = 1000.0

    def describe(self) -> dict[str, Any]:
        if self.mode == "radius":
            return {"mode": "radius", "radius_m": self.meters, "metric": "geodesic (CGCS2000 ellipsoid)"}
        return {"mode": "network", "network_m": self.meters, "network": self.network_name,
                "network_id": self.network_id, "directed": self.directed, "max_snap_m": self.max_snap_m}


# Local buffers for the temporary tables: with the 8 MB default a 620k-point run spends about a third of its
# backend time re-reading evicted temp pages. Memory is only taken as the tables grow.
TEMP_BUFFERS = "512MB"


def use_temp_buffers(session: Session) -> bool:
    """Raise ``temp_buffers`` for this transaction; True when it took effect.

    PostgreSQL accepts a change only before the session's first temporary table (or to the size it already has),
    so this runs at the start of coverage work; on a pooled connection whose earlier work (an import) fixed a
    smaller size the attempt is rolled back to its savepoint and the run goes on with that size."""
    tx = session.get_transaction()
    if tx is not None and session.info.get("cov_temp_buffers") is tx:
        return True
    try:
        with session.begin_nested():
            session.execute(text(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'"))
    except DBAPIError:
        return False
    session.info["cov_temp_buffers"] = session.get_transaction()
    return True


def _temp(session: Session, name: str, select_sql: str, params: dict[str, Any], *, geom: bool = True) -> None:
    """(Re)create a transaction-local table from a SELECT; index its geometry and gather statistics."""
    assert name in _TEMP_TABLES
    use_temp_buffers(session)
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{name}"))
    session.execute(text(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select_sql}"), params)
    if geom:
        session.execute(text(f"CREATE INDEX ON pg_temp.{name} USING gist (geom)"))
    session.execute(text(f"ANALYZE pg_temp.{name}"))


def count(session: Session, name: str) -> int:
    assert name in _TEMP_TABLES
    return int(session.execute(text(f"SELECT count(*) FROM pg_temp.{name}")).scalar_one())


# -- demand --------------------------------------------------------------------------------------------------------

def demand_layer(session: Session, demand: str) -> DemandLayer:
    layer = session.query(DemandLayer).filter(DemandLayer.name == demand).one_or_none()
    if layer is None and demand.isdigit():
        layer = session.get(DemandLayer, int(demand))
    if layer is None:
        names = [n for (n,) in session.query(DemandLayer.name).order_by(DemandLayer.name)]
        raise InvalidInput(
            f"demand must be 'villages' or an imported demand layer ({', '.join(names) or 'none imported'})",
            f"需求图层须为村（居）或已导入的需求图层（{'、'.join(names) or '尚无'}）", field="demand",
        )
    return layer


def load_demand(session: Session, demand: str | None, as_of: dt.date, within: str | None) -> dict[str, Any]:
    """``cov_demand(id, code, name, township, weight, geom)``: villages with their population, or a layer.

    A polygon stands for its ``ST_PointOnSurface``: a feature counts when its point is within the distance.
    """
    params: dict[str, Any] = {"as_of": as_of, "within": within}
    if demand in (None, "", "villages"):
        _temp(session, "cov_demand", """
            SELECT row_number() OVER (ORDER BY d.code)::int AS id, d.code::text AS code, d.name,
                   left(d.code, 9)::text AS township, coalesce(d.population, 0)::float8 AS weight,
                   CASE WHEN ST_Dimension(d.geom) = 0 THEN d.geom ELSE ST_PointOnSurface(d.geom) END AS geom
            FROM divisions d
            WHERE d.level = 'village' AND d.geom IS NOT NULL
              AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)
              AND (CAST(:within AS text) IS NULL OR d.code LIKE :within || '%')""", params)
        source = session.execute(text(
            "SELECT string_agg(DISTINCT d.source, ', ') FROM divisions d JOIN pg_temp.cov_demand c ON c.code = d.code"
            " AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)"), params).scalar()
        return {"demand": "villages", "weight": "population", "source": source, "points": count(session, "cov_demand")}
    assert demand is not None
    layer = demand_layer(session, demand)
    params["layer"] = layer.id
    _temp(session, "cov_demand", """
        WITH p AS (
            SELECT dp.id AS src_id, dp.code, dp.name, dp.weight,
                   CASE WHEN ST_Dimension(dp.geom) = 0 THEN dp.geom ELSE ST_PointOnSurface(dp.geom) END AS geom
            FROM demand_points dp WHERE dp.layer_id = :layer)
        SELECT row_number() OVER (ORDER BY p.code, p.src_id)::int AS id, p.code, p.name,
               (SELECT t.code::text FROM divisions t WHERE t.level = 'township' AND ST_Covers(t.geom, p.geom)
                  AND t.valid_from <= :as_of AND (t.valid_to IS NULL OR t.valid_to > :as_of) LIMIT 1) AS township,
               p.weight::float8 AS weight, p.geom
        FROM p
        WHERE CAST(:within AS text) IS NULL OR EXISTS (
            SELECT 1 FROM divisions w WHERE w.code = :within AND ST_Covers(w.geom, p.geom)
              AND w.valid_from <= :as_of AND (w.valid_to IS NULL OR w.valid_to > :as_of))""", params)
    return {"demand": layer.name, "weight": layer.weight_label, "source": layer.source,
            "points": count(session, "cov_demand")}


# -- supply and candidates -------------------------------------------------------------------------------------------

def load_supply(session: Session, kind: str, as_of: dt.date, include_planned: bool = False) -> int:
    """``cov_supply(id, name, capacity, geom)``: the facilities of ``kind`` in force and operating on ``as_of``."""
    _temp(session, "cov_supply", """
        SELECT f.facility_id AS id, f.name, f.capacity, f.status, f.geom
        FROM facilities f
        WHERE f.kind = :kind AND f.status = ANY(:statuses)
          AND f.valid_from <= :as_of AND (f.valid_to IS NULL OR f.valid_to > :as_of)""",
          {"kind": kind, "as_of": as_of, "statuses": list(PLANNED if include_planned else OPERATING)})
    return count(session, "cov_supply")


def load_candidates(session: Session, candidates: str, as_of: dt.date, within: str | None,
                    grid_m: float, county: str) -> int:
    """``cov_cand(id, code, name, geom)``: villages, the demand points, or a square grid over the area."""
    params: dict[str, Any] = {"as_of": as_of, "within": within, "grid": grid_m, "county": within or county}
    if candidates == "villages":
        sql = """
            SELECT row_number() OVER (ORDER BY d.code)::int AS id, d.code::text AS code, d.name,
                   CASE WHEN ST_Dimension(d.geom) = 0 THEN d.geom ELSE ST_PointOnSurface(d.geom) END AS geom
            FROM divisions d
            WHERE d.level = 'village' AND d.geom IS NOT NULL
              AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)
              AND (CAST(:within AS text) IS NULL OR d.code LIKE :within || '%')"""
    elif candidates == "demand":
        sql = "SELECT c.id, c.code, c.name, c.geom FROM pg_temp.cov_demand c"
    elif candidates == "grid":
        # Square cells of grid_m in the local Gauss-Krüger projection (EPSG:4548, CM 117°E); the cell centres
        # inside the area are the candidates.
        sql = """
            WITH area AS (
                SELECT ST_Transform(d.geom, 4548) AS g FROM divisions d
                WHERE d.code = :county AND ST_Dimension(d.geom) = 2
                  AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of) LIMIT 1),
            cells AS (SELECT ST_Centroid(s.geom) AS c FROM area, ST_SquareGrid(:grid, area.g) AS s
                      WHERE ST_Intersects(s.geom, area.g))
            SELECT row_number() OVER (ORDER BY ST_Y(c), ST_X(c))::int AS id,
                   'G' || row_number() OVER (ORDER BY ST_Y(c), ST_X(c)) AS code,
                   NULL::text AS name, ST_Transform(c, 4490) AS geom
            FROM cells, area WHERE ST_Covers(area.g, c)"""
    else:
        raise InvalidInput("candidates must be villages, demand or grid", "候选点须为村（居）、需求点或网格",
                           field="candidates")
    _temp(session, "cov_cand", sql, params)
    return count(session, "cov_cand")


# -- pairs --------------------------------------------------------------------------------------------------------

def resolve_network(session: Session, network: str | None) -> RoadNetwork:
    rows = session.query(RoadNetwork).order_by(RoadNetwork.id).all()
    if network is None:
        if len(rows) == 1:
            return rows[0]
        raise InvalidInput(
            f"name the road network ({', '.join(r.name for r in rows) or 'none imported yet'})",
            f"请指定路网（{'、'.join(r.name for r in rows) or '尚未导入路网'}）", field="network",
        )
    for r in rows:
        if r.name == network or str(r.id) == network:
            return r
    raise InvalidInput(f"no road network {network!r} ({', '.join(r.name for r in rows) or 'none imported'})",
                       f"没有路网 {network!r}", field="network")


def pairs(session: Session, distance: Distance, supply: SupplyTable = "cov_supply",
          out: PairsTable = "cov_pairs", demand_where: str = "TRUE") -> int:
    """``out(demand_id, supply_id, dist_m)``: every demand point within the distance of a supply point.

    ``demand_where`` is a fixed SQL fragment on ``d`` chosen by the caller (never user input).
    """
    if distance.mode == "radius":
        _radius_pairs(session, distance.meters, supply, out, demand_where)
    else:
        _network_pairs(session, distance, supply, out, demand_where)
    return count(session, out)


def _radius_pairs(session: Session, r: float, supply: SupplyTable, out: PairsTable, demand_where: str) -> None:
    # The bounding-box test uses the GiST index on demand; its size in degrees is a safe upper bound of
    # r metres at the point's latitude (1° of latitude ≥ 110,574 m; 1° of longitude ≥ 111,319 m · cos φ).
    # Then the exact test on the ellipsoid (ST_DWithin) and the exact distance, as before, but each point is
    # turned into a geography once (the supply point once per facility, the demand point once per pair, not
    # twice per function): same functions on the same values, so the same pairs and the same distances.
    # (A sphere prefilter was measured and dropped: ST_DistanceSphere costs as much as ST_DWithin.)
    _temp(session, out, f"""
        SELECT c.demand_id, c.supply_id, ST_Distance(c.dg, c.sg) AS dist_m
        FROM (SELECT d.id AS demand_id, s.id AS supply_id, d.geom::geography AS dg, s.g AS sg
              FROM (SELECT s0.id, s0.geom, s0.geom::geography AS g FROM pg_temp.{supply} s0 OFFSET 0) s
              JOIN pg_temp.cov_demand d
                ON d.geom && ST_Expand(
                       s.geom,
                       :r / (111319.0 * cos(radians(least(abs(ST_Y(s.geom)) + :r / 110574.0, 89.0)))) * 1.01 + 1e-9,
                       :r / 110574.0 * 1.01 + 1e-9)
              WHERE {demand_where}
              OFFSET 0) c  -- OFFSET 0: computed once, not re-inlined into both functions
        WHERE ST_DWithin(c.dg, c.sg, :r)""", {"r": r}, geom=False)


def _snap(session: Session, table: str, network_id: int) -> None:
    """Nearest network vertex of every point of ``table`` and the geodesic distance to it."""
    source = "cov_demand" if table == "demand" else table
    _temp(session, f"cov_snap_{table}", f"""
        SELECT t.id, v.vid, v.snap_m
        FROM pg_temp.{source} t CROSS JOIN LATERAL (
            SELECT x.id AS vid, ST_Distance(x.geom::geography, t.geom::geography) AS snap_m
            FROM (SELECT rv.id, rv.geom FROM road_vertices rv WHERE rv.network_id = :n
                  ORDER BY rv.geom <-> t.geom LIMIT 8) x
            ORDER BY 2, 1 LIMIT 1) v""", {"n": network_id}, geom=False)


def edges_sql(network_id: int) -> str:
    return f"SELECT id, source, target, cost, reverse_cost FROM road_edges WHERE network_id = {int(network_id)}"


def _network_pairs(session: Session, distance: Distance, supply: SupplyTable, out: PairsTable,
                   demand_where: str) -> None:
    assert distance.network_id is not None
    n = distance.network_id
    _snap(session, supply, n)
    _snap(session, "demand", n)
    params = {"edges": edges_sql(n), "L": distance.meters, "ms": distance.max_snap_m,
              "directed": distance.directed}
    starts = session.execute(text(
        f"SELECT array_agg(DISTINCT vid) FROM pg_temp.cov_snap_{supply} WHERE snap_m <= :ms"), params).scalar()
    reach = f"cov_reach_{supply}"
    if starts:
        params["starts"] = starts
        _temp(session, reach, """
            SELECT from_v, node, agg_cost
            FROM pgr_drivingDistance(CAST(:edges AS text), CAST(:starts AS bigint[]), CAST(:L AS float8),
                                     directed := CAST(:directed AS boolean))""", params, geom=False)
    else:
        _temp(session, reach, "SELECT 0::bigint AS from_v, 0::bigint AS node, 0::float8 AS agg_cost LIMIT 0",
              {}, geom=False)
    session.execute(text(f"CREATE INDEX ON pg_temp.{reach} (node)"))
    _temp(session, out, f"""
        SELECT dd.id AS demand_id, ss.id AS supply_id, min(ss.snap_m + r.agg_cost + dd.snap_m) AS dist_m
        FROM pg_temp.{reach} r
        JOIN pg_temp.cov_snap_{supply} ss ON ss.vid = r.from_v AND ss.snap_m <= :ms
        JOIN pg_temp.cov_snap_demand dd ON dd.vid = r.node AND dd.snap_m <= :ms
        JOIN pg_temp.cov_demand d ON d.id = dd.id
        WHERE ss.snap_m + r.agg_cost + dd.snap_m <= :L AND {demand_where}
        GROUP BY dd.id, ss.id""", params, geom=False)


# -- service areas ------------------------------------------------------------------------------------------------

def service_areas(session: Session, distance: Distance) -> dict[str, Any]:
    """Service-area polygons per facility: a geodesic disc, or the concave hull of the reachable roads (the parts
    of edges within the distance) widened by 25 m."""
    if distance.mode == "radius":
        sql = """
            SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
                'type', 'Feature', 'id', s.id,
                'geometry', ST_AsGeoJSON(ST_Buffer(s.geom::geography, :r, 'quad_segs=16')::geometry, 6, 0)::json,
                'properties', json_build_object('facility_id', s.id, 'name', s.name, 'radius_m', :r))
                ORDER BY s.id), '[]'::json))
            FROM pg_temp.cov_supply s"""
        return dict(session.execute(text(sql), {"r": distance.meters}).scalar_one())
    assert distance.network_id is not None
    sql = """
        WITH reach AS (
            SELECT ss.id AS supply_id, r.node, ss.snap_m + r.agg_cost AS c
            FROM pg_temp.cov_reach_cov_supply r JOIN pg_temp.cov_snap_cov_supply ss
              ON ss.vid = r.from_v AND ss.snap_m <= :ms),
        parts AS (
            SELECT a.supply_id, ST_LineSubstring(e.geom, 0, least(1, (:L - a.c) / e.cost)) AS g
            FROM reach a JOIN road_edges e ON e.source = a.node AND e.network_id = :n
            WHERE e.cost > 0 AND a.c < :L
            UNION ALL
            SELECT b.supply_id, ST_LineSubstring(e.geom, greatest(0, 1 - (:L - b.c) / e.cost), 1)
            FROM reach b JOIN road_edges e ON e.target = b.node AND e.network_id = :n
            WHERE e.cost > 0 AND b.c < :L),
        areas AS (  -- a concave hull of the reachable roads, widened by 25 m (buffering the roads is far slower)
            SELECT p.supply_id,
                   ST_Buffer(ST_ConcaveHull(ST_Collect(p.g), 0.3)::geography, 25, 'quad_segs=4')::geometry AS g
            FROM parts p GROUP BY p.supply_id)
        SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
            'type', 'Feature', 'id', s.id, 'geometry', ST_AsGeoJSON(a.g, 6, 0)::json,
            'properties', json_build_object('facility_id', s.id, 'name', s.name, 'network_m', :L))
            ORDER BY s.id), '[]'::json))
        FROM areas a JOIN pg_temp.cov_supply s ON s.id = a.supply_id"""
    params = {"L": distance.meters, "ms": distance.max_snap_m, "n": distance.network_id}
    return dict(session.execute(text(sql), params).scalar_one())
