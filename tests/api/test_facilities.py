"""Facilities and cemeteries: kinds as data, versioned and audited writes with ETags, GeoJSON reads as of a date,
parcels in m² and 亩, and the exclusion check against constraint layers (domain.md §6), with areas computed by
hand on rectangles laid out in metres on the Gauss-Krüger central meridian (EPSG:4548, scale factor 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api.facilities.demo import load_demo_facilities

Login = Callable[..., dict[str, str]]
DIANBU = [117.4571, 31.8774]  # inside the synthetic 店埠镇 (340122100)
MU = 10000 / 15
_GK = Transformer.from_crs("EPSG:4548", "EPSG:4490", always_xy=True)
X0, Y0 = 500_000.0, 3_530_000.0  # on 117°E, about 31.9°N


@pytest.fixture(scope="module", autouse=True)
def demo_facilities(engine: Engine) -> Iterator[None]:
    with Session(engine) as s:
        load_demo_facilities(s)
        s.commit()
    yield


def lonlat(x: float, y: float) -> list[float]:
    lon, lat = _GK.transform(X0 + x, Y0 + y)
    return [lon, lat]


def rect(x0: float, y0: float, x1: float, y1: float, step: float = 10.0) -> dict[str, Any]:
    """A rectangle in metres (densified so its edges follow the projection), as a GeoJSON polygon."""
    pts: list[list[float]] = []
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                               ((x0, y1), (x0, y0))):
        n = max(1, int(max(abs(bx - ax), abs(by - ay)) / step))
        pts += [lonlat(ax + (bx - ax) * i / n, ay + (by - ay) * i / n) for i in range(n)]
    return {"type": "Polygon", "coordinates": [[*pts, pts[0]]]}


def _facility(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "测试社工站", "kind": "township_social_work_station",
                            "geometry": {"type": "Point", "coordinates": DIANBU}, "capacity": 40, "staff": 4,
                            "opened_on": "2024-03-01", "reason": "test", "source": "test"}
    body.update(over)
    return body


def _create(client: TestClient, h: dict[str, str], **over: Any) -> tuple[dict[str, Any], str]:
    r = client.post("/api/v1/facilities", json=_facility(**over), headers=h)
    assert r.status_code == 201, r.text
    return r.json(), r.headers["ETag"]


# -- kinds ------------------------------------------------------------------------------------------------------

def test_kinds_are_a_data_table_and_extendable(client: TestClient, login: Login) -> None:
    kinds = {k["id"]: k["name_zh"] for k in client.get("/api/v1/facilities/kinds").json()}
    assert kinds["township_social_work_station"] == "乡镇(街道)社工站"
    assert kinds["community_service_center"] == "村(社区)综合服务中心"
    assert kinds["ash_hall"] == "骨灰堂/公祭堂" and len(kinds) == 12
    h = login("planner")
    r = client.post("/api/v1/facilities/kinds", headers=h, json={
        "id": "disability_center", "name_zh": "残疾人托养中心", "name_en": "disability care centre",
        "category": "welfare", "reason": "test"})
    assert r.status_code == 201, r.text
    feat, _ = _create(client, h, kind="disability_center")
    assert feat["properties"]["kind_name"] == "残疾人托养中心"
    bad = client.post("/api/v1/facilities", json=_facility(kind="spa"), headers=h)
    assert bad.status_code == 422 and bad.json()["field"] == "kind" and bad.json()["rule"] == "§6"


# -- facilities --------------------------------------------------------------------------------------------------

def test_register_read_and_list_as_of(client: TestClient, login: Login) -> None:
    h = login("planner")
    feat, tag = _create(client, h)
    p = feat["properties"]
    assert p["division_code"] == "340122100" and p["division_name"] == "店埠镇"  # derived from the point
    assert p["valid_from"] == "2024-03-01" and p["status"] == "open" and tag.startswith('"f')
    fid = feat["id"]
    got = client.get(f"/api/v1/facilities/{fid}")
    assert got.status_code == 200 and got.headers["ETag"] == tag
    assert got.headers["content-type"].startswith("application/geo+json")
    listed = client.get("/api/v1/facilities", params={"kind": "township_social_work_station", "within": "340122100"})
    ids = [f["id"] for f in listed.json()["features"]]
    assert fid in ids and all(f["properties"]["division_code"].startswith("340122100")
                              for f in listed.json()["features"])
    before = client.get("/api/v1/facilities", params={"kind": "township_social_work_station",
                                                      "as_of": "2024-02-01"}).json()
    assert fid not in [f["id"] for f in before["features"]]
    assert client.get(f"/api/v1/facilities/{fid}", params={"as_of": "2024-02-01"}).status_code == 404
    demo = client.get("/api/v1/facilities", params={"kind": "funeral_home"}).json()
    assert demo["numberMatched"] == 1 and demo["features"][0]["properties"]["source"] == "synthetic"


def test_writes_need_the_planner_role(client: TestClient, login: Login) -> None:
    assert client.post("/api/v1/facilities", json=_facility()).status_code == 401
    r = client.post("/api/v1/facilities", json=_facility(), headers=login("officer"))
    assert r.status_code == 403 and r.json()["code"] == "role_required"


def test_bad_input_is_a_clear_4xx(client: TestClient, login: Login) -> None:
    h = login("planner")
    r = client.post("/api/v1/facilities", json=_facility(geometry={"type": "Point", "coordinates": [31.87, 117.45]}),
                    headers=h)
    assert r.status_code == 422 and r.json()["field"] == "geometry" and r.json()["rule"] == "§7"
    r = client.post("/api/v1/facilities", json=_facility(division_code="340122101"), headers=h)
    assert r.status_code == 422 and r.json()["field"] == "division_code"
    r = client.post("/api/v1/facilities", json=_facility(capacity=-1), headers=h)
    assert r.status_code == 422 and r.json()["field"] == "capacity"


def test_edit_with_etags_versions_and_audit(client: TestClient, login: Login, session: Session) -> None:
    h = login("planner", username="planner_wang")
    feat, tag = _create(client, h)
    fid = feat["id"]
    url = f"/api/v1/facilities/{fid}"
    r = client.patch(url, json={"capacity": 50, "reason": "recount"}, headers=h)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = client.patch(url, json={"capacity": 50, "reason": "recount"}, headers={**h, "If-Match": tag})
    assert r.status_code == 200 and r.json()["properties"]["capacity"] == 50
    new_tag = r.headers["ETag"]
    assert new_tag != tag and r.json()["properties"]["version"] == 2
    stale = client.patch(url, json={"staff": 9, "reason": "late"}, headers={**h, "If-Match": tag})
    assert stale.status_code == 412 and stale.json()["current"]["properties"]["capacity"] == 50
    assert stale.headers["ETag"] == new_tag
    legal = client.patch(url, headers={**h, "If-Match": new_tag}, json={
        "mode": "legal", "effective_date": "2025-01-01", "name": "店埠镇社会工作服务站", "reason": "renamed"})
    assert legal.status_code == 200, legal.text
    assert legal.json()["properties"]["valid_from"] == "2025-01-01"
    old = client.get(url, params={"as_of": "2024-06-01"}).json()
    assert old["properties"]["name"] == "测试社工站" and old["properties"]["capacity"] == 50
    hist = client.get(f"{url}/history").json()
    assert [v["name"] for v in hist["versions"]] == ["测试社工站", "店埠镇社会工作服务站"]
    assert {c["actor"] for c in hist["changes"]} == {"planner_wang"}
    assert "recount" in {c["reason"] for c in hist["changes"]}
    n = session.execute(text("SELECT count(*) FROM audit_log WHERE table_name = 'facilities' AND entity_key = :k"),
                        {"k": str(fid)}).scalar_one()
    assert n >= 4  # insert, correction, closing the old version, opening the new one
    closed = client.post(f"{url}/retire", headers={**h, "If-Match": legal.headers["ETag"]},
                         json={"effective_date": "2026-01-01", "reason": "closed"})
    assert closed.status_code == 200 and closed.json()["properties"]["valid_to"] == "2026-01-01"


# -- cemeteries and parcels ----------------------------------------------------------------------------------------

def _cemetery(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "测试公墓", "cemetery_type": "public", "geometry": {"type": "Point", "coordinates": lonlat(0, 0)},
        "capacity_plots": 5000, "occupied_plots": 2000, "eco_burials": 1100, "served_townships": ["340122100"],
        "reason": "test", "opened_on": "2023-01-01",
        "parcels": [{"name": "现状地块", "status": "existing", "geometry": rect(0, 0, 200, 100)}],
    }
    body.update(over)
    return body


def test_cemetery_parcels_in_square_metres_and_mu(client: TestClient, login: Login) -> None:
    h = login("planner")
    r = client.post("/api/v1/cemeteries", json=_cemetery(), headers=h)
    assert r.status_code == 201, r.text
    p = r.json()["properties"]
    assert p["kind"] == "public_cemetery" and p["eco_share"] == 0.55 and p["remaining_plots"] == 3000
    assert p["served_townships"] == [{"code": "340122100", "name": "店埠镇"}]
    parcel = p["parcels"][0]["properties"]
    assert parcel["area_m2"] == pytest.approx(20_000, abs=2)  # 200 m × 100 m
    assert parcel["area_mu"] == pytest.approx(30.0, abs=0.01)  # 20,000 / 666.67
    cid = r.json()["id"]
    assert client.get(f"/api/v1/facilities/{cid}").json()["properties"]["kind"] == "public_cemetery"
    r = client.post(f"/api/v1/cemeteries/{cid}/parcels", headers=h, json={
        "name": "扩建地块", "status": "planned_extension", "geometry": rect(200, 0, 300, 100), "reason": "plan"})
    assert r.status_code == 201 and r.json()["properties"]["exclusion"]["ok"] is True
    cem = client.get(f"/api/v1/cemeteries/{cid}").json()["properties"]
    assert cem["area_m2_by_status"]["planned_extension"] == pytest.approx(10_000, abs=2)
    assert cem["area_mu_by_status"]["existing"] == pytest.approx(30.0, abs=0.01)
    tag = client.get(f"/api/v1/cemeteries/{cid}").headers["ETag"]
    r = client.patch(f"/api/v1/cemeteries/{cid}", json={"occupied_plots": 2200, "reason": "burials"}, headers=h)
    assert r.status_code == 428
    r = client.patch(f"/api/v1/cemeteries/{cid}", json={"occupied_plots": 2200, "eco_burials": 1320,
                                                        "reason": "burials"}, headers={**h, "If-Match": tag})
    assert r.status_code == 200 and r.json()["properties"]["eco_share"] == 0.6
    stale = client.patch(f"/api/v1/cemeteries/{cid}", json={"occupied_plots": 1, "eco_burials": 0, "reason": "x"},
                         headers={**h, "If-Match": tag})
    assert stale.status_code == 412


def test_cemetery_rules_on_input(client: TestClient, login: Login) -> None:
    h = login("planner")
    r = client.post("/api/v1/cemeteries", json=_cemetery(served_townships=["340122999"]), headers=h)
    assert r.status_code == 422 and r.json()["field"] == "served_townships" and r.json()["rule"] == "§6"
    r = client.post("/api/v1/cemeteries", json=_cemetery(eco_burials=2500), headers=h)
    assert r.status_code == 422 and r.json()["field"] == "eco_burials"


def _layer(client: TestClient, h: dict[str, str], layer: str, buffer_m: float, features: list[dict[str, Any]]
           ) -> None:
    r = client.post("/api/v1/constraint-layers", headers=h, json={
        "id": layer, "name_zh": layer, "name_en": layer, "buffer_m": buffer_m, "reason": "test"})
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/constraint-layers/{layer}/features", headers={**h, "If-Match": r.headers["ETag"]},
                    json={"features": {"type": "FeatureCollection", "features": features}, "source": "test",
                          "reason": "test"})
    assert r.status_code == 201 and r.json()["imported"] == len(features)


def test_exclusion_conflicts_computed_by_hand(client: TestClient, login: Login) -> None:
    h = login("planner")
    # The parcel: 200 m × 100 m = 20,000 m². Arable land covers its east half: 100 × 100 = 10,000 m² = 15 亩.
    _layer(client, h, "t_arable", 0, [{"type": "Feature", "properties": {"name": "东侧耕地"},
                                       "geometry": rect(100, -50, 400, 150)}])
    # A railway runs north-south through x = 50 with a 30 m buffer: the strip 20 ≤ x ≤ 80 is 60 × 100 = 6,000 m².
    rail = {"type": "LineString", "coordinates": [lonlat(50, -300), lonlat(50, 400)]}
    _layer(client, h, "t_rail", 30, [{"type": "Feature", "properties": {"name": "示意铁路"}, "geometry": rail}])
    # A forest patch entirely outside the parcel conflicts with nothing.
    _layer(client, h, "t_forest", 0, [{"type": "Feature", "properties": {"name": "林地"},
                                       "geometry": rect(500, 0, 600, 100)}])
    r = client.post("/api/v1/cemeteries/exclusion-check", json={
        "geometry": rect(0, 0, 200, 100), "layers": ["t_arable", "t_rail", "t_forest"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert "crs" not in r.text  # RFC 7946: no crs member in a geometry
    assert out["parcel_area_m2"] == pytest.approx(20_000, abs=2) and out["parcel_area_mu"] == pytest.approx(30, abs=.01)
    by = {x["layer"]: x for x in out["layers"]}
    assert set(by) == {"t_arable", "t_rail"} and not out["ok"] and out["rule"] == "§6"
    assert by["t_arable"]["area_m2"] == pytest.approx(10_000, rel=1e-3)
    assert by["t_arable"]["area_mu"] == pytest.approx(15.0, abs=0.02)
    assert by["t_arable"]["features"] == ["东侧耕地"]
    assert by["t_rail"]["area_m2"] == pytest.approx(6_000, rel=5e-3)  # the buffer is a polygonal approximation
    assert by["t_rail"]["area_mu"] == pytest.approx(9.0, abs=0.05)
    # No overlap between the two zones, so the total is their sum: 16,000 m² = 24 亩.
    assert out["conflict_area_m2"] == pytest.approx(16_000, rel=5e-3)
    assert out["conflict_area_mu"] == pytest.approx(24.0, abs=0.1)
    # Widen the railway buffer to 80 m: the strip 0 ≤ x ≤ 130 now overlaps the arable half on 100 ≤ x ≤ 130;
    # the union is counted once: 200 × 100 (all of it).
    url = "/api/v1/constraint-layers/t_rail"
    tag = client.get(url).headers["ETag"]
    assert tag == next(x["etag"] for x in client.get("/api/v1/constraint-layers").json() if x["id"] == "t_rail")
    assert client.patch(url, json={"buffer_m": 80, "reason": "rule"}, headers=h).status_code == 428
    r = client.patch(url, json={"buffer_m": 80, "reason": "rule"}, headers={**h, "If-Match": tag})
    assert r.status_code == 200 and r.json()["buffer_m"] == 80 and r.headers["ETag"] not in (None, tag)
    stale = client.patch(url, json={"buffer_m": 10, "reason": "rule"}, headers={**h, "If-Match": tag})
    assert stale.status_code == 412 and stale.json()["current"]["buffer_m"] == 80
    out = client.post("/api/v1/cemeteries/exclusion-check", json={
        "geometry": rect(0, 0, 200, 100), "layers": ["t_arable", "t_rail"]}).json()
    by = {x["layer"]: x for x in out["layers"]}
    assert by["t_rail"]["area_m2"] == pytest.approx(13_000, rel=5e-3)
    assert out["conflict_area_m2"] == pytest.approx(20_000, rel=2e-3)
    bad = client.post("/api/v1/cemeteries/exclusion-check", json={"geometry": rect(0, 0, 10, 10), "layers": ["nope"]})
    assert bad.status_code == 422 and bad.json()["field"] == "layers"


def test_feature_import_takes_the_layer_lock_with_if_match(client: TestClient, login: Login) -> None:
    """Importing features changes the layer's content, so it names the version it was based on (like a PATCH
    of the layer): 428 without If-Match, 412 when stale, and a new ETag afterwards that PATCH must use."""
    h = login("planner")
    url = "/api/v1/constraint-layers/t_water"
    created = client.post("/api/v1/constraint-layers", headers=h, json={
        "id": "t_water", "name_zh": "水源地", "name_en": "water", "buffer_m": 0, "reason": "test"})
    tag0 = created.headers["ETag"]

    def body(name: str, replace: bool = False) -> dict[str, Any]:
        return {"features": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": name}, "geometry": rect(0, 0, 50, 50)}]},
            "source": "survey", "replace": replace, "reason": "test"}

    def names() -> list[str]:
        fc = client.get(f"{url}/features").json()
        return [f["properties"]["name"] for f in fc["features"]]

    r = client.post(f"{url}/features", headers=h, json=body("甲"))
    assert r.status_code == 428 and r.json()["field"] == "If-Match" and names() == []
    r = client.post(f"{url}/features", headers={**h, "If-Match": tag0}, json=body("甲"))
    assert r.status_code == 201, r.text
    tag1 = r.headers["ETag"]
    assert tag1 != tag0 and r.json()["etag"] == tag1 == client.get(url).headers["ETag"] and names() == ["甲"]
    # A PATCH based on the read before the import is stale, and so is a second import from that read.
    stale = client.patch(url, json={"buffer_m": 5, "reason": "rule"}, headers={**h, "If-Match": tag0})
    assert stale.status_code == 412 and stale.json()["current"]["features"] == 1
    stale = client.post(f"{url}/features", headers={**h, "If-Match": tag0}, json=body("乙", replace=True))
    assert stale.status_code == 412 and stale.headers["ETag"] == tag1 and names() == ["甲"]
    r = client.post(f"{url}/features", headers={**h, "If-Match": tag1}, json=body("乙", replace=True))
    assert r.status_code == 201 and names() == ["乙"]
    r = client.patch(url, json={"buffer_m": 5, "reason": "rule"}, headers={**h, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200 and r.json()["buffer_m"] == 5
    missing = client.post("/api/v1/constraint-layers/t_nope/features", headers={**h, "If-Match": "*"},
                          json=body("丙"))
    assert missing.status_code == 404 and missing.json()["field"] == "layer_id"


def test_approving_a_conflicting_parcel_is_refused(client: TestClient, login: Login) -> None:
    h = login("planner")
    _layer(client, h, "t_water", 0, [{"type": "Feature", "properties": {"name": "水源保护区"},
                                      "geometry": rect(-1000, -1000, 1000, 50)}])
    r = client.post("/api/v1/cemeteries", json=_cemetery(parcels=[]), headers=h)
    cid = r.json()["id"]
    r = client.post(f"/api/v1/cemeteries/{cid}/parcels", headers=h, json={
        "name": "拟建地块", "status": "planned_extension", "geometry": rect(0, 0, 100, 100), "reason": "plan"})
    assert r.status_code == 201
    ex = r.json()["properties"]["exclusion"]
    assert {x["layer"]: x["area_m2"] for x in ex["layers"]}["t_water"] == pytest.approx(5_000, rel=1e-3)
    pid, tag = r.json()["id"], r.headers["ETag"]
    r = client.patch(f"/api/v1/cemeteries/parcels/{pid}", json={"status": "approved", "reason": "ok"},
                     headers={**h, "If-Match": tag})
    assert r.status_code == 422 and r.json()["field"] == "mode"
    r = client.patch(f"/api/v1/cemeteries/parcels/{pid}", headers={**h, "If-Match": tag}, json={
        "status": "approved", "mode": "legal", "effective_date": "2030-01-01", "reason": "approval"})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "exclusion_conflict" and body["rule"] == "§6" and body["field"] == "geometry"
    assert body["exclusion"]["conflict_area_m2"] == pytest.approx(5_000, rel=1e-3)
    # Moved north out of the zone (a correction), it can be approved as a legal change.
    r = client.patch(f"/api/v1/cemeteries/parcels/{pid}", headers={**h, "If-Match": tag}, json={
        "geometry": rect(0, 100, 100, 200), "reason": "moved"})
    assert r.status_code == 200, r.text
    r = client.patch(f"/api/v1/cemeteries/parcels/{pid}", headers={**h, "If-Match": r.headers["ETag"]}, json={
        "status": "approved", "mode": "legal", "effective_date": "2030-01-01", "reason": "approval"})
    assert r.status_code == 200 and r.json()["properties"]["status"] == "approved"
    hist = client.get(f"/api/v1/cemeteries/parcels/{pid}/history").json()
    assert [c["action"] for c in hist["changes"]].count("INSERT") == 2  # the parcel, then its approved version


def test_demo_huagang_extension_at_wulinggang(client: TestClient, session: Session) -> None:
    cems = client.get("/api/v1/cemeteries", params={"within": "340122100"}).json()["features"]
    huagang = next(c for c in cems if c["properties"]["name"] == "花岗公墓园")
    p = huagang["properties"]
    assert p["division_code"] == "340122100" and p["source"] == "synthetic"
    parcels = {x["properties"]["status"]: x for x in p["parcels"]}
    existing, ext = parcels["existing"], parcels["planned_extension"]
    assert ext["properties"]["name"] == "武陵岗扩建地块"
    assert existing["properties"]["area_m2"] == pytest.approx(500 * 360, rel=2e-3)
    assert ext["properties"]["area_m2"] == pytest.approx(450 * 300, rel=2e-3)
    assert ext["properties"]["area_mu"] == pytest.approx(202.5, rel=2e-3)

    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4548", always_xy=True)

    def xs(f: dict[str, Any]) -> list[float]:  # easting in metres of every vertex
        return [to_gk.transform(*c)[0] for poly in f["geometry"]["coordinates"] for c in poly[0]]

    assert min(xs(ext)) >= max(xs(existing)) - 1.0  # the extension lies east of the park, adjoining it
    wl = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM places WHERE name = '武陵岗' AND valid_to IS NULL"
                              )).first()
    assert wl is not None and min(xs(ext)) < to_gk.transform(wl[0], wl[1])[0] < max(xs(ext))  # …at Wulinggang
    ex = client.get(f"/api/v1/cemeteries/parcels/{ext['id']}/exclusion").json()
    by = {x["layer"]: x for x in ex["layers"]}
    assert set(by) == {"arable_land"}  # 100 m × 300 m of synthetic arable land
    assert by["arable_land"]["area_m2"] == pytest.approx(30_000, rel=2e-3)
    assert by["arable_land"]["area_mu"] == pytest.approx(45.0, rel=2e-3)
    layers = {x["id"]: x for x in client.get("/api/v1/constraint-layers").json()}
    assert layers["railway"]["buffer_m"] == 200 and layers["arable_land"]["features"] >= 1
