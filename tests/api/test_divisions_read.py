"""Reading divisions: GeoJSON shape, as_of, children, history, error shapes (against the demo data)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

FEIDONG = "340122"
NEIGHBOURS = {"340102", "340111", "340121", "340123", "340124", "340181", "341103", "341124", "341125"}
REQUIRED_PROPS = {
    "code", "name", "level", "kind", "parent_code", "area_km2", "population", "source", "valid_from", "valid_to",
}


def _fc(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/divisions", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == "FeatureCollection"
    return body


def test_townships_of_feidong(client: TestClient) -> None:
    fc = _fc(client, level="township", parent=FEIDONG)
    assert fc["numberMatched"] == 20 == fc["numberReturned"] == len(fc["features"])
    feat = fc["features"][0]
    assert set(feat["properties"]) >= REQUIRED_PROPS
    assert feat["geometry"]["type"] == "MultiPolygon"
    lon, lat = feat["geometry"]["coordinates"][0][0][0]
    assert 117.0 < lon < 118.0 and 31.4 < lat < 32.4  # lon/lat order
    assert all(f["properties"]["source"] == "synthetic" for f in fc["features"])
    kinds = {f["properties"]["kind"] for f in fc["features"]}
    assert {"镇", "乡"} <= kinds
    areas = sum(f["properties"]["area_km2"] for f in fc["features"])
    county = client.get(f"/api/v1/divisions/{FEIDONG}").json()
    assert abs(areas - county["properties"]["area_km2"]) < 0.01  # the partition adds up


def test_feidong_county_area_and_neighbours(client: TestClient) -> None:
    county = client.get(f"/api/v1/divisions/{FEIDONG}").json()
    assert county["properties"]["name"] == "肥东县"
    assert county["properties"]["kind"] == "县"
    assert 2150 < county["properties"]["area_km2"] < 2250
    fc = _fc(client, level="county")
    codes = {f["properties"]["code"] for f in fc["features"]}
    assert codes == NEIGHBOURS | {FEIDONG}


def test_villages_under_feidong(client: TestClient) -> None:
    total = 0
    for t in _fc(client, level="township", parent=FEIDONG)["features"]:
        r = client.get(f"/api/v1/divisions/{t['properties']['code']}/children")
        assert r.status_code == 200
        kids = r.json()["features"]
        assert all(k["properties"]["code"].startswith(t["properties"]["code"]) for k in kids)
        assert all(k["geometry"]["type"] == "Point" for k in kids)
        total += len(kids)
    assert total == 252


def test_paging_links(client: TestClient) -> None:
    first = _fc(client, level="village", limit=100)
    assert first["numberMatched"] == 252 and first["numberReturned"] == 100
    nxt = [link for link in first["links"] if link["rel"] == "next"]
    assert nxt and "offset=100" in nxt[0]["href"]
    last = _fc(client, level="village", limit=100, offset=200)
    assert last["numberReturned"] == 52 and last["links"] == []
    seen = {f["id"] for f in first["features"]} | {f["id"] for f in last["features"]}
    assert len(seen) == 152


def test_as_of_before_any_data_is_empty(client: TestClient) -> None:
    assert _fc(client, level="township", parent=FEIDONG, as_of="2019-06-01")["numberMatched"] == 0
    r = client.get(f"/api/v1/divisions/{FEIDONG}", params={"as_of": "2019-06-01"})
    assert r.status_code == 404
    assert r.json()["field"] == "code"


def test_real_rename_between_vintages(client: TestClient) -> None:
    """340122401 was 肥东新城开发区 in the 2021 vintage and 肥东经济开发区管理委员会 in 2023."""
    old = client.get("/api/v1/divisions/340122401", params={"as_of": "2022-06-01"}).json()
    new = client.get("/api/v1/divisions/340122401").json()
    assert old["properties"]["name"] == "肥东新城开发区"
    assert new["properties"]["name"] == "肥东经济开发区管理委员会"
    assert old["properties"]["valid_to"] == new["properties"]["valid_from"] == "2023-01-01"
    hist = client.get("/api/v1/divisions/340122401/history").json()
    assert [v["name"] for v in hist["versions"]] == ["肥东新城开发区", "肥东经济开发区管理委员会"]
    assert {c["actor"] for c in hist["changes"]} == {"system:load-demo"}


def test_error_shapes(client: TestClient) -> None:
    for path, params, status, field in [
        ("/api/v1/divisions", {"as_of": "2024-13-45"}, 422, "as_of"),
        ("/api/v1/divisions", {"level": "galaxy"}, 422, "level"),
        ("/api/v1/divisions", {"bbox": "1,2,3"}, 422, "bbox"),
        ("/api/v1/divisions", {"limit": "0"}, 422, "limit"),
        ("/api/v1/divisions/999999", {}, 404, "code"),
        ("/api/v1/divisions/999999/history", {}, 404, "code"),
    ]:
        r = client.get(path, params=params)
        assert r.status_code == status, (path, params, r.text)
        body = r.json()
        assert set(body) >= {"code", "message", "message_zh", "field", "rule"}
        assert body["field"] == field
        assert body["message"] and body["message_zh"]


def test_health_reports_postgis_and_tuning(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")
    assert body["jit"] == "off" and body["max_parallel_workers_per_gather"] == 0
    assert {"postgis", "pg_trgm", "btree_gist", "pgrouting"} <= set(body["extensions"])


def test_map_page_and_docs_use_local_assets(client: TestClient) -> None:
    page = client.get("/").text
    assert "/static/vendor/leaflet/leaflet.js" in page
    assert "http://" not in page and "https://" not in page
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert "cdn.jsdelivr" not in docs
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
