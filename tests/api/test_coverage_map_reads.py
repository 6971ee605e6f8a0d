"""Reads the planner's map needs: a road network's edges as GeoJSON (bbox, bounded size) and the 2SFCA scores as
GeoJSON points, both on hand-made cases whose answers are known."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_coverage import demand, facility, kind, lonlat


@pytest.fixture
def planner(login: Any) -> dict[str, str]:
    return dict(login("planner"))


def _net(client: TestClient, h: dict[str, str]) -> None:
    """A—B—C along the meridian (400 m, 300 m) and a branch B—E 1,000 m east; the branch is one-way."""
    def line(a: tuple[float, float], b: tuple[float, float], **props: Any) -> dict[str, Any]:
        return {"type": "Feature", "properties": {"name": f"{a}-{b}", **props},
                "geometry": {"type": "LineString", "coordinates": [lonlat(*a), lonlat(*b)]}}

    lines = [line((0, 0), (0, 400)), line((0, 400), (0, 700)), line((0, 400), (1000, 400), oneway=True)]
    r = client.post("/api/v1/coverage/networks", headers=h, json={
        "name": "map-net", "lines": {"type": "FeatureCollection", "features": lines}, "oneway_property": "oneway",
        "source": "synthetic test lines"})
    assert r.status_code == 201, r.text


def test_network_edges_as_geojson(client: TestClient, planner: dict[str, str]) -> None:
    _net(client, planner)
    r = client.get("/api/v1/coverage/networks/map-net/edges")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["numberMatched"] == fc["numberReturned"] == 3 and fc["truncated"] is False
    assert fc["network"]["name"] == "map-net" and fc["network"]["source"] == "synthetic test lines"
    lengths = sorted(f["properties"]["length_m"] for f in fc["features"])
    # Gauss-Krüger metres on the central meridian are geodesic metres (the east branch: within 1 m).
    assert lengths[0] == pytest.approx(300, abs=0.5) and lengths[1] == pytest.approx(400, abs=0.5)
    assert lengths[2] == pytest.approx(1000, abs=1)
    assert [f["properties"]["oneway"] for f in fc["features"] if f["properties"]["length_m"] > 900] == [True]
    assert all(f["geometry"]["type"] == "LineString" for f in fc["features"])

    # A bbox around the far end of the branch holds the branch only.
    (x1, y1), (x2, y2) = lonlat(800, 300), lonlat(1100, 500)
    east = client.get("/api/v1/coverage/networks/map-net/edges", params={"bbox": f"{x1},{y1},{x2},{y2}"}).json()
    assert [round(f["properties"]["length_m"]) for f in east["features"]] == [1000]

    # The size is bounded: a limit cuts the answer and says so.
    cut = client.get("/api/v1/coverage/networks/map-net/edges", params={"limit": 2}).json()
    assert cut["numberReturned"] == 2 and cut["numberMatched"] == 3 and cut["truncated"] is True

    bad = client.get("/api/v1/coverage/networks/nope/edges")
    assert bad.status_code == 422 and bad.json()["field"] == "network"
    assert client.get("/api/v1/coverage/networks/map-net/edges", params={"bbox": "1,2,3"}).json()["field"] == "bbox"


def test_accessibility_as_geojson(client: TestClient, planner: dict[str, str]) -> None:
    """The textbook 2SFCA case (see test_coverage): A = 1/300, B = 1/300 + 1/250, C = 1/250, on points."""
    k = kind(client, planner, "t_sfca_map")
    fx = facility(client, planner, k, 0, 1000, capacity=10)
    facility(client, planner, k, 0, 3000, capacity=20)
    demand(client, planner, "sfca-map", [("A", 0, 0, 1000), ("B", 0, 2000, 2000), ("C", 0, 4000, 3000)])
    body = {"facility_kind": k, "radius_m": 1500, "demand": "sfca-map"}
    r = client.post("/api/v1/coverage/accessibility", params={"format": "geojson"}, json=body)
    assert r.status_code == 200, r.text
    fc = r.json()
    points = {f["properties"]["code"]: f for f in fc["features"] if f["properties"]["layer"] == "demand"}
    assert points["A"]["properties"]["score"] == pytest.approx(1 / 300, abs=1e-9)
    assert points["B"]["properties"]["score"] == pytest.approx(1 / 300 + 1 / 250, abs=1e-9)
    assert points["C"]["properties"]["score_per_1000"] == pytest.approx(4.0)
    assert points["B"]["properties"]["facilities_in_reach"] == 2
    assert points["A"]["geometry"]["coordinates"] == pytest.approx(lonlat(0, 0), abs=1e-6)
    ratio = {f["properties"]["facility_id"]: f["properties"]["ratio"]
             for f in fc["features"] if f["properties"]["layer"] == "facility"}
    assert ratio[fx] == pytest.approx(1 / 300, abs=1e-9)
    assert fc["properties"]["population_weighted_mean_score"] == pytest.approx(30 / 6000, abs=1e-9)


def test_network_coverage_geojson_says_which_facilities_are_off_the_network(
        client: TestClient, planner: dict[str, str]) -> None:
    """A facility 1,500 m from the nearest vertex (more than the 1,000 m snap limit) reaches nobody along the roads;
    the GeoJSON says so and draws its snap line, while the one at A is on the network."""
    _net(client, planner)
    k = kind(client, planner, "t_snap_map")
    on = facility(client, planner, k, 0, 0)
    off = facility(client, planner, k, 0, -1500)
    demand(client, planner, "snap-map", [("B", 0, 400, 10), ("C", 0, 700, 20)])
    body = {"facility_kind": k, "network_m": 900, "network": "map-net", "demand": "snap-map"}
    fc = client.post("/api/v1/coverage", params={"format": "geojson"}, json=body).json()
    fac = {f["properties"]["facility_id"]: f["properties"] for f in fc["features"]
           if f["properties"]["layer"] == "facility"}
    assert fac[on]["on_network"] is True and fac[on]["snap_m"] == pytest.approx(0, abs=0.5)
    assert fac[off]["on_network"] is False and fac[off]["snap_m"] == pytest.approx(1500, abs=1)
    lines = {f["properties"]["facility_id"]: f for f in fc["features"] if f["properties"]["layer"] == "snap"}
    assert lines[off]["geometry"]["coordinates"][0] == pytest.approx(lonlat(0, -1500), abs=1e-6)
    assert lines[off]["geometry"]["coordinates"][1] == pytest.approx(lonlat(0, 0), abs=1e-6)
    covered = {f["properties"]["code"]: f["properties"]["nearest_facility_id"] for f in fc["features"]
               if f["properties"]["layer"] == "demand"}
    assert covered == {"B": on, "C": on}
    # A radius request has no snap features.
    radius = client.post("/api/v1/coverage", params={"format": "geojson"},
                         json={"facility_kind": k, "radius_m": 900, "demand": "snap-map"}).json()
    assert not [f for f in radius["features"] if f["properties"]["layer"] == "snap"]
