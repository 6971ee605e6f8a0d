"""Coverage against small cases computed by hand: radius and network distance, population-weighted shares,
facility loads, 2SFCA (the textbook two-step example), MCLP/LSCP site suggestion, the plan's township rules on
the demo's deliberate gaps, outputs (GeoJSON, CSV, offline HTML) and the CLI.

Hand cases are laid out in metres on the Gauss-Krüger central meridian (EPSG:4548, 117°E, scale factor 1),
where distances along the meridian are exact geodesic distances.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import limits
from gis_api.cli import main
from gis_api.facilities.demo import load_demo_facilities
from gis_api.settings import Settings

Login = Callable[..., dict[str, str]]
_GK = Transformer.from_crs("EPSG:4548", "EPSG:4490", always_xy=True)
X0, Y0 = 500_000.0, 3_530_000.0  # on 117°E, about 31.9°N: west of Feidong, outside its townships


@pytest.fixture(scope="module", autouse=True)
def demo_facilities(engine: Engine) -> Iterator[None]:
    with Session(engine) as s:
        load_demo_facilities(s)
        s.commit()
    yield


def lonlat(x: float, y: float) -> list[float]:
    lon, lat = _GK.transform(X0 + x, Y0 + y)
    return [lon, lat]


def pt(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": lonlat(x, y)}


@pytest.fixture
def planner(login: Login) -> dict[str, str]:
    return login("planner")


def kind(client: TestClient, h: dict[str, str], name: str = "t_station") -> str:
    r = client.post("/api/v1/facilities/kinds", headers=h, json={
        "id": name, "name_zh": "测试站", "name_en": "test station", "category": "test", "reason": "test"})
    assert r.status_code == 201, r.text
    return name


def facility(client: TestClient, h: dict[str, str], k: str, x: float, y: float, **over: Any) -> int:
    body = {"name": f"站{x:.0f},{y:.0f}", "kind": k, "geometry": pt(x, y), "opened_on": "2024-01-01",
            "reason": "test", **over}
    r = client.post("/api/v1/facilities", json=body, headers=h)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def demand(client: TestClient, h: dict[str, str], name: str, points: list[tuple[str, float, float, float]],
           polygons: list[tuple[str, float, float, float]] | None = None) -> None:
    feats = [{"type": "Feature", "properties": {"code": c, "name": c, "pop": w}, "geometry": pt(x, y)}
             for c, x, y, w in points]
    for c, x, y, w in polygons or []:  # a 20 m square centred on (x, y)
        ring = [lonlat(x - 10, y - 10), lonlat(x + 10, y - 10), lonlat(x + 10, y + 10), lonlat(x - 10, y + 10)]
        feats.append({"type": "Feature", "properties": {"code": c, "name": c, "pop": w},
                      "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}})
    r = client.post("/api/v1/coverage/demand-layers", headers=h, json={
        "name": name, "features": {"type": "FeatureCollection", "features": feats}, "weight_property": "pop",
        "code_property": "code", "source": "synthetic test layer"})
    assert r.status_code == 201, r.text


def cover(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/coverage", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


# -- radius -----------------------------------------------------------------------------------------------------

def test_radius_coverage_by_hand(client: TestClient, planner: dict[str, str]) -> None:
    k = kind(client, planner)
    f1 = facility(client, planner, k, 0, 0, capacity=100)
    # Along the meridian: 500 m, 900 m, 1,500 m north and 2,500 m south of the facility; a polygon at 700 m.
    demand(client, planner, "hand", [("d1", 0, 500, 100), ("d2", 0, 900, 200), ("d3", 0, 1500, 300),
                                      ("d4", 0, -2500, 400)], polygons=[("d5", 0, 700, 50)])
    out = cover(client, facility_kind=k, radius_m=1000, demand="hand")
    assert set(out) >= {"population_total", "population_covered", "share_covered", "uncovered", "by_township",
                        "facility_load"}
    assert out["population_total"] == 1050 and out["population_covered"] == 350  # d1 + d2 + d5
    assert out["share_covered"] == pytest.approx(350 / 1050, abs=1e-6)
    assert out["uncovered"] == [{"code": "d4", "name": "d4", "population": 400},
                                {"code": "d3", "name": "d3", "population": 300}]
    assert out["facility_load"] == [{"facility_id": f1, "name": "站0,0", "capacity": 100, "population_served": 350,
                                     "demand_points_served": 3, "population_in_reach": 350,
                                     "population_per_capacity": 3.5}]
    assert out["by_township"][0]["code"] is None  # outside every township
    assert cover(client, facility_kind=k, radius_m=1600, demand="hand")["population_covered"] == 650
    # A second facility 2 km north: d3 (500 m from it) joins; each point is served by its nearest facility.
    f2 = facility(client, planner, k, 0, 2000, capacity=10)
    out = cover(client, facility_kind=k, radius_m=1000, demand="hand")
    assert out["population_covered"] == 650 and out["share_covered"] == pytest.approx(650 / 1050, abs=1e-6)
    load = {f["facility_id"]: f for f in out["facility_load"]}
    assert load[f1]["population_served"] == 350 and load[f2]["population_served"] == 300
    assert load[f2]["population_per_capacity"] == 30.0
    # Valid time: as of 2023 neither facility had opened.
    assert cover(client, facility_kind=k, radius_m=1000, demand="hand", as_of="2023-06-01")["population_covered"] == 0


def test_village_population_is_the_default_demand(client: TestClient, planner: dict[str, str],
                                                  session: Session) -> None:
    k = kind(client, planner)
    code, pop, x, y, town_pop = session.execute(text("""
        SELECT v.code, v.population, ST_X(v.geom), ST_Y(v.geom),
               (SELECT sum(population) FROM divisions w WHERE w.level = 'village' AND left(w.code, 9) = '340122100'
                  AND w.valid_to IS NULL)
        FROM divisions v WHERE v.code = '340122100001' AND v.valid_to IS NULL""")).one()
    r = client.post("/api/v1/facilities", headers=planner, json={
        "name": "站", "kind": k, "geometry": {"type": "Point", "coordinates": [x, y]}, "opened_on": "2024-01-01",
        "reason": "test"})
    assert r.status_code == 201
    total = session.execute(text("SELECT sum(population) FROM divisions WHERE level = 'village' "
                                 "AND code LIKE '340122%' AND valid_to IS NULL")).scalar_one()
    out = cover(client, facility_kind=k, radius_m=1)  # a village counts when its point is within the distance
    assert out["population_covered"] == pop and out["population_total"] == total == 1_000_000
    assert out["query"]["demand"]["source"] == "synthetic"
    town = next(t for t in out["by_township"] if t["code"] == "340122100")
    assert town["name"] == "店埠镇" and town["population_covered"] == pop and town["population_total"] == town_pop
    assert town["share_covered"] == pytest.approx(pop / town_pop, abs=1e-6)
    assert code not in {u["code"] for u in out["uncovered"]} and len(out["uncovered"]) == 251
    inside = cover(client, facility_kind=k, radius_m=1, within="340122100")
    assert inside["population_total"] == town_pop and len(inside["by_township"]) == 1


def test_life_circle_presets(client: TestClient, planner: dict[str, str]) -> None:
    p = client.get("/api/v1/coverage/presets").json()
    assert (p["5min"]["radius_m"], p["10min"]["radius_m"], p["15min"]["radius_m"]) == (300, 500, 1000)
    assert p["15min"]["population"] == [50_000, 100_000] and p["15min"]["standard"] == "GB 50180-2018"
    k = kind(client, planner)
    facility(client, planner, k, 0, 0)
    demand(client, planner, "hand", [("a", 0, 250, 1), ("b", 0, 450, 2), ("c", 0, 900, 4)])
    got = {name: cover(client, facility_kind=k, preset=name, demand="hand")["population_covered"]
           for name in ("5min", "10min", "15min")}
    assert got == {"5min": 1, "10min": 3, "15min": 7}


def test_bad_requests_name_the_field(client: TestClient, planner: dict[str, str]) -> None:
    def err(body: dict[str, Any]) -> dict[str, Any]:
        r = client.post("/api/v1/coverage", json=body)
        assert r.status_code == 422, r.text
        return dict(r.json())

    e = err({"facility_kind": "elderly_care_station", "radius_m": 500, "network_m": 500})
    assert e["field"] == "radius_m" and e["rule"] == "§6"
    assert err({"facility_kind": "elderly_care_station"})["field"] == "radius_m"
    assert err({"facility_kind": "nope", "radius_m": 5})["field"] == "facility_kind"
    assert err({"facility_kind": "elderly_care_station", "radius_m": 5, "demand": "nope"})["field"] == "demand"
    assert err({"facility_kind": "elderly_care_station", "preset": "20min"})["field"] == "preset"
    assert err({"facility_kind": "elderly_care_station", "radius_m": -5})["field"] == "radius_m"
    assert err({"facility_kind": "elderly_care_station", "network_m": 500, "network": "nope"})["field"] == "network"
    r = client.post("/api/v1/coverage/demand-layers", headers=planner, json={
        "name": "x", "weight_property": "pop", "source": "t", "features": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"pop": "many"}, "geometry": pt(0, 0)}]}})
    assert r.status_code == 422 and r.json()["field"] == "features.0.properties.pop"


def test_demand_layer_geometries_are_checked_before_shapely(client: TestClient, planner: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Demand layers take any lon/lat on Earth, but like every other input an open ring is refused (shapely would
    close it silently) and the vertices are counted against the limit before anything is built."""
    ring = [lonlat(0, 0), lonlat(50, 0), lonlat(50, 50), lonlat(0, 50)]

    def load(geometry: dict[str, Any]) -> Any:
        return client.post("/api/v1/coverage/demand-layers", headers=planner, json={
            "name": "checked", "weight_property": "pop", "source": "t", "features": {
                "type": "FeatureCollection", "features": [
                    {"type": "Feature", "properties": {"pop": 1}, "geometry": pt(0, 0)},
                    {"type": "Feature", "properties": {"pop": 2}, "geometry": geometry}]}})

    r = load({"type": "Polygon", "coordinates": [ring]})  # first point not repeated at the end
    assert r.status_code == 422, r.text
    e = r.json()
    assert e["field"] == "features.1.geometry.coordinates[0]" and e["rule"] == "closed ring"
    assert "未闭合" in e["message_zh"]
    monkeypatch.setattr(limits, "defaults", lambda: limits.LimitSettings(geometry_max_vertices=8))
    many = [lonlat(i, 0) for i in range(8)] + [lonlat(7, 9), lonlat(0, 0)]
    r = load({"type": "Polygon", "coordinates": [many]})
    assert r.status_code == 422 and r.json()["code"] == "too_many_vertices", r.text
    assert r.json()["field"] == "features.1.geometry"
    r = load({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})  # closed, 5 vertices: loads
    assert r.status_code == 201 and r.json()["features"] == 2, r.text


# -- network --------------------------------------------------------------------------------------------------------

def _line_network(client: TestClient, h: dict[str, str]) -> None:
    """A—B—C—D along the meridian (costs 400, 300, 500 m) and a branch B—E 1,000 m east."""
    def line(a: tuple[float, float], b: tuple[float, float], cost: float) -> dict[str, Any]:
        return {"type": "Feature", "properties": {"cost_m": cost},
                "geometry": {"type": "LineString", "coordinates": [lonlat(*a), lonlat(*b)]}}

    lines = [line((0, 0), (0, 400), 400), line((0, 400), (0, 700), 300), line((0, 700), (0, 1200), 500),
             line((0, 400), (1000, 400), 1000)]
    r = client.post("/api/v1/coverage/networks", headers=h, json={
        "name": "hand-net", "lines": {"type": "FeatureCollection", "features": lines}, "cost_property": "cost_m",
        "source": "synthetic test lines"})
    assert r.status_code == 201, r.text
    assert r.json()["vertices"] == 5 and r.json()["edges"] == 4


def test_network_coverage_by_hand(client: TestClient, planner: dict[str, str]) -> None:
    _line_network(client, planner)
    k = kind(client, planner)
    facility(client, planner, k, 0, 0)  # at A
    # B, C, D, E on the network; F 100 m east of C (off the road); G 3 km away (beyond the 1 km snap limit).
    demand(client, planner, "net", [("B", 0, 400, 10), ("C", 0, 700, 20), ("D", 0, 1200, 30), ("E", 1000, 400, 40),
                                    ("F", 100, 700, 50), ("G", 3000, 0, 5)])

    def covered(m: float) -> set[str]:
        out = cover(client, facility_kind=k, network_m=m, network="hand-net", demand="net")
        return {"B", "C", "D", "E", "F", "G"} - {u["code"] for u in out["uncovered"]}

    assert covered(350) == set()
    assert covered(750) == {"B", "C"}  # 400, 700
    assert covered(850) == {"B", "C", "F"}  # F: 700 along the road + 100 to reach it
    assert covered(1250) == {"B", "C", "F", "D"}  # D at 1,200; E at 400 + 1,000 = 1,400
    assert covered(1450) == {"B", "C", "F", "D", "E"}  # G stays off the network
    out = cover(client, facility_kind=k, network_m=850, network="hand-net", demand="net", service_areas=True)
    assert out["population_covered"] == 80 and out["population_total"] == 155
    assert out["share_covered"] == pytest.approx(80 / 155, abs=1e-6)
    assert out["query"]["distance"]["mode"] == "network" and out["query"]["distance"]["network"] == "hand-net"
    area = out["service_areas"]["features"][0]
    assert area["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # Straight-line distance is shorter: E (about 1,077 m away) is within a 1,250 m radius but not 1,250 m of road.
    radius = cover(client, facility_kind=k, radius_m=1250, demand="net")
    assert "E" not in {u["code"] for u in radius["uncovered"]}


# -- 2SFCA ----------------------------------------------------------------------------------------------------------

def test_two_step_floating_catchment_textbook_example(client: TestClient, planner: dict[str, str]) -> None:
    """Luo & Wang (2003): R_j = S_j / Σ P_k in reach of j; A_i = Σ R_j in reach of i.

    A(1000) —1 km— X(10) —1 km— B(2000) —1 km— Y(20) —1 km— C(3000), catchment 1.5 km:
    R_X = 10 / (1000 + 2000) = 1/300, R_Y = 20 / (2000 + 3000) = 1/250;
    A_A = 1/300 ≈ 0.003333, A_B = 1/300 + 1/250 ≈ 0.007333, A_C = 1/250 = 0.004.
    """
    k = kind(client, planner)
    fx = facility(client, planner, k, 0, 1000, capacity=10)
    fy = facility(client, planner, k, 0, 3000, capacity=20)
    demand(client, planner, "sfca", [("A", 0, 0, 1000), ("B", 0, 2000, 2000), ("C", 0, 4000, 3000)])
    r = client.post("/api/v1/coverage/accessibility", json={"facility_kind": k, "radius_m": 1500, "demand": "sfca"})
    assert r.status_code == 200, r.text
    out = r.json()
    score = {v["code"]: v["score"] for v in out["villages"]}
    assert score["A"] == pytest.approx(1 / 300, abs=1e-9)
    assert score["B"] == pytest.approx(1 / 300 + 1 / 250, abs=1e-9)
    assert score["C"] == pytest.approx(1 / 250, abs=1e-9)
    assert {v["code"]: v["score_per_1000"] for v in out["villages"]}["C"] == pytest.approx(4.0)
    ratio = {f["facility_id"]: f["ratio"] for f in out["facilities"]}
    assert ratio[fx] == pytest.approx(1 / 300, abs=1e-9) and ratio[fy] == pytest.approx(1 / 250, abs=1e-9)
    # The population-weighted mean equals total supply over total population when everyone is in reach.
    assert out["population_weighted_mean_score"] == pytest.approx(30 / 6000, abs=1e-9)
    assert out["population_without_access"] == 0
    csv_text = client.post("/api/v1/coverage/accessibility", params={"format": "csv"},
                           json={"facility_kind": k, "radius_m": 1500, "demand": "sfca"}).text
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))}
    assert float(rows["B"]["score_per_1000"]) == pytest.approx(1000 * (1 / 300 + 1 / 250), abs=1e-5)


# -- site suggestion ----------------------------------------------------------------------------------------------

def test_mclp_and_lscp_site_suggestion(client: TestClient, planner: dict[str, str], login: Login) -> None:
    k = kind(client, planner)
    facility(client, planner, k, 0, 0)  # existing, fixed: covers p (500 m)
    demand(client, planner, "sites", [("p", 0, 500, 100), ("q1", 5000, 0, 300), ("q2", 5000, 600, 200),
                                      ("r", -5000, 0, 250)])
    base = {"facility_kind": k, "radius_m": 1000, "demand": "sites", "candidates": "demand"}
    assert client.post("/api/v1/coverage/suggest", json={**base, "k": 1}, headers=login("viewer")).status_code == 403
    r = client.post("/api/v1/coverage/suggest", json={**base, "k": 1}, headers=planner)
    assert r.status_code == 200, r.text
    one = r.json()
    assert one["optimal"] is True and one["solver"].startswith("PuLP")
    assert one["population_covered_before"] == 100 and one["population_covered_after"] == 600
    assert one["share_after"] == pytest.approx(600 / 850, abs=1e-6)
    assert [s["added_population"] for s in one["sites"]] == [500]  # q1 or q2: either covers both (600 m)
    assert one["sites"][0]["code"] in ("q1", "q2") and one["sites"][0]["rank"] == 1
    two = client.post("/api/v1/coverage/suggest", json={**base, "k": 2}, headers=planner).json()
    assert [s["added_population"] for s in two["sites"]] == [500, 250] and two["share_after"] == 1.0
    lscp = client.post("/api/v1/coverage/suggest", json={**base, "method": "lscp", "target_share": 1.0},
                       headers=planner).json()
    assert lscp["optimal"] is True and len(lscp["sites"]) == 2 and lscp["population_covered_after"] == 850
    half = client.post("/api/v1/coverage/suggest", json={**base, "method": "lscp", "target_share": 0.5},
                       headers=planner).json()
    assert len(half["sites"]) == 1 and half["population_covered_after"] == 600  # 1 site; the better one
    # The Feidong villages are ~45 km away: no candidate reaches this demand.
    bad = client.post("/api/v1/coverage/suggest", headers=planner,
                      json={**base, "candidates": "villages", "method": "lscp", "target_share": 0.5})
    assert bad.status_code == 422 and bad.json()["code"] == "infeasible" and bad.json()["field"] == "target_share"
    assert bad.json()["max_share"] == pytest.approx(100 / 850, abs=1e-6)
    assert client.post("/api/v1/coverage/suggest", json=base, headers=planner).json()["field"] == "k"
    page = client.post("/api/v1/coverage/suggest", params={"format": "html"}, json={**base, "k": 2}, headers=planner)
    assert page.status_code == 200 and "L.divIcon(" in page.text and "建议新址" in page.text
    assert "+500" in page.text and "+250" in page.text  # the ranked sites in the report's table
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", page.text, re.I)
    sites = client.post("/api/v1/coverage/suggest", params={"format": "geojson"}, json={**base, "k": 2},
                        headers=planner).json()
    assert [f["properties"]["rank"] for f in sites["features"]] == [1, 2] and sites["properties"]["optimal"]
    assert not [f for f in sites["features"] if "crs" in (f["geometry"] or {})]  # RFC 7946


def test_suggest_on_the_demo_with_a_grid(client: TestClient, planner: dict[str, str]) -> None:
    r = client.post("/api/v1/coverage/suggest", headers=planner, json={
        "facility_kind": "township_social_work_station", "radius_m": 5000, "k": 3, "candidates": "grid",
        "grid_m": 5000})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["optimal"] and len(out["sites"]) == 3 and out["candidate_count"] > 50
    gains = [s["added_population"] for s in out["sites"]]
    assert gains == sorted(gains, reverse=True) and all(g > 0 for g in gains)
    assert out["population_covered_after"] == out["population_covered_before"] + sum(gains)


# -- the plan's rules ---------------------------------------------------------------------------------------------

def test_township_rules_flag_the_demo_gaps(client: TestClient, planner: dict[str, str], session: Session) -> None:
    out = client.get("/api/v1/coverage/rules").json()
    rules = {r["id"]: r for r in out["rules"]}
    social = rules["social_work_station_per_township"]
    assert not social["passed"] and social["townships_total"] == 20 and social["rule"] == "§6"
    assert {f["name"] for f in social["failing"]} == {"陈集镇", "马湖乡", "合肥循环经济示范园"}  # 马湖乡: planned only
    cem = rules["cemetery_or_ash_hall_per_township"]
    assert {f["code"] for f in cem["failing"]} == {"340122204", "340122401", "340122402"}
    served = {f["code"]: [s["name"] for s in f["served_by"]] for f in cem["failing"]}
    assert served["340122402"] == ["花岗公墓园"] and served["340122204"] == []
    eco = rules["eco_burial_share"]
    assert eco["target"] == 0.5 and all(c["eco_share"] < 0.5 for c in eco["failing"])
    assert not out["passed"]
    # Open a station in 陈集镇: the rule no longer flags it.
    x, y = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM divisions "
                                "WHERE code = '340122111' AND valid_to IS NULL) t")).one()
    r = client.post("/api/v1/facilities", headers=planner, json={
        "name": "陈集镇社工站", "kind": "township_social_work_station", "opened_on": "2024-05-01", "reason": "opened",
        "geometry": {"type": "Point", "coordinates": [x, y]}})
    assert r.status_code == 201 and r.json()["properties"]["division_code"] == "340122111"
    social = next(r for r in client.get("/api/v1/coverage/rules").json()["rules"] if r["id"].startswith("social"))
    assert {f["name"] for f in social["failing"]} == {"马湖乡", "合肥循环经济示范园"}
    early = client.get("/api/v1/coverage/rules", params={"as_of": "2024-04-01"}).json()["rules"][0]
    assert "陈集镇" in {f["name"] for f in early["failing"]}


# -- outputs ----------------------------------------------------------------------------------------------------------

def test_outputs_geojson_csv_and_offline_html(client: TestClient) -> None:
    body = {"facility_kind": "township_social_work_station", "radius_m": 5000}
    summary = cover(client, **body)
    gj = client.post("/api/v1/coverage", params={"format": "geojson"}, json={**body, "service_areas": True})
    assert gj.status_code == 200 and gj.headers["content-type"].startswith("application/geo+json")
    fc = gj.json()
    # RFC 7946 §4: no "crs" member anywhere (PostGIS adds one to each geometry unless told not to).
    assert "crs" not in fc and not [f for f in fc["features"] if "crs" in (f["geometry"] or {})]
    layers = [f["properties"]["layer"] for f in fc["features"]]
    assert layers.count("demand") == 252 and layers.count("facility") == layers.count("service_area") == 17
    covered = sum(f["properties"]["population"] for f in fc["features"]
                  if f["properties"]["layer"] == "demand" and f["properties"]["covered"])
    assert covered == summary["population_covered"] == fc["properties"]["population_covered"]
    c = client.post("/api/v1/coverage", params={"format": "csv"}, json=body)
    assert c.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(c.text.lstrip("\ufeff"))))
    assert len(rows) == 252 and sum(int(r["population"]) for r in rows if r["covered"] == "True") == covered
    h = client.post("/api/v1/coverage", params={"format": "html"}, json=body)
    assert h.status_code == 200 and h.headers["content-type"].startswith("text/html")
    page = h.text
    assert "L.map(" in page and "leaflet" in page.lower() and "<svg" in page and "乡镇(街道)社工站" in page
    # Nothing is fetched: no script, stylesheet, image or frame points off the page.
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "jsdelivr" not in page and "cdnjs" not in page and "unpkg" not in page


# -- CLI ------------------------------------------------------------------------------------------------------------

def test_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             tmp_path: Any) -> None:
    monkeypatch.setenv("DIMING_DATABASE_URL", settings.db.database_url or "")
    assert main(["coverage", "presets"]) == 0
    assert json.loads(capsys.readouterr().out)["10min"]["radius_m"] == 500
    assert main(["coverage", "rules", "--brief"]) == 1  # the demo's gaps fail the rules
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("FAIL  social_work_station_per_township") and "陈集镇" in line for line in lines)
    out = tmp_path / "cov.csv"
    assert main(["coverage", "run", "--kind", "elderly_care_center", "--preset", "15min", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff"))))
    assert len(rows) == 252
    report = tmp_path / "cov.html"
    assert main(["coverage", "run", "--kind", "elderly_care_center", "--radius", "3000", "-o", str(report)]) == 0
    assert "L.map(" in report.read_text(encoding="utf-8")
