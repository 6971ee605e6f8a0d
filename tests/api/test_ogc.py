"""OGC API – Features Parts 1–3 and Tiles at /ogc: results checked against SQL and pyproj."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.ogc.reader import SessionReader
from gis_api.ogc.settings import OgcSettings
from tests.today import AS_OF

TODAY = clock.today()


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    """The app with OGC reads on the test's session (so they see the test's own writes)."""
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


def get_json(client: TestClient, url: str, status: int = 200) -> Any:
    r = client.get(url)
    assert r.status_code == status, r.text
    return r.json()


def all_pages(client: TestClient, url: str) -> Iterator[dict[str, Any]]:
    while url:
        page = get_json(client, url)
        yield page
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if nxt:
            parts = urlsplit(nxt[0])
            url = f"{parts.path}?{parts.query}"
        else:
            url = ""


def scalar(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar_one()


# -- Part 1 -----------------------------------------------------------------------------------------------


def test_landing_conformance_and_api(ogc: TestClient) -> None:
    landing = get_json(ogc, "/ogc")
    rels = {link["rel"]: link for link in landing["links"]}
    assert rels["service-desc"]["href"].endswith("/ogc/api")
    assert rels["conformance"]["href"].endswith("/ogc/conformance")
    assert rels["data"]["href"].endswith("/ogc/collections")
    conf = get_json(ogc, "/ogc/conformance")["conformsTo"]
    for c in (
        "ogcapi-features-1/1.0/conf/core",
        "ogcapi-features-1/1.0/conf/geojson",
        "ogcapi-features-2/1.0/conf/crs",
        "ogcapi-features-3/1.0/conf/filter",
        "cql2/1.0/conf/cql2-text",
        "ogcapi-features-4/1.0/conf/create-replace-delete",
        "ogcapi-tiles-1/1.0/conf/mvt",
    ):
        assert any(c in x for x in conf), c
    api = ogc.get("/ogc/api")
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = api.json()
    assert doc["openapi"].startswith("3.0")
    limit = next(
        p for p in doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == 10_000


def test_collections_list_extents(ogc: TestClient, session: Session) -> None:
    doc = get_json(ogc, "/ogc/collections")
    by_id = {c["id"]: c for c in doc["collections"]}
    assert {"counties", "townships", "villages", "places"} <= set(by_id)
    t = by_id["townships"]
    assert t["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    assert "http://www.opengis.net/def/crs/EPSG/0/4548" in t["crs"]
    x1, y1, x2, y2 = t["extent"]["spatial"]["bbox"][0]
    ext = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry e "
            f"FROM divisions WHERE level = 'township' AND {AS_OF}) x"
        )
    ).one()
    assert [x1, y1, x2, y2] == pytest.approx(list(ext), abs=1e-6)
    assert {link["rel"] for link in t["links"]} >= {"self", "items"}


def test_items_page_through_every_township(ogc: TestClient, session: Session) -> None:
    codes: list[str] = []
    pages = list(all_pages(ogc, "/ogc/collections/townships/items?limit=7"))
    want = session.scalars(text(f"SELECT code FROM divisions WHERE level = 'township' AND {AS_OF} ORDER BY code")).all()
    for page in pages:
        assert page["type"] == "FeatureCollection"
        assert page["numberMatched"] == len(want)
        assert page["numberReturned"] == len(page["features"])
        codes += [f["id"] for f in page["features"]]
    assert len(pages) == -(-len(want) // 7)
    assert codes == list(want)  # every one once, in code order


def test_geojson_media_type_and_chinese_unescaped(ogc: TestClient) -> None:
    r = ogc.get("/ogc/collections/townships/items?limit=100")
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    assert "店埠镇".encode() in r.content and b"\\u" not in r.content
    f = next(f for f in r.json()["features"] if f["properties"]["name"] == "店埠镇")
    assert f["properties"]["area_km2"] > 0 and f["geometry"]["type"] == "MultiPolygon"


def test_one_item_etag_and_404(ogc: TestClient, session: Session) -> None:
    row = session.execute(text(f"SELECT id, version FROM divisions WHERE code = '340122100' AND {AS_OF}")).one()
    r = ogc.get("/ogc/collections/townships/items/340122100")
    assert r.status_code == 200
    assert r.headers["etag"] == f'"d{row.id}.v{row.version}"'
    assert r.json()["id"] == "340122100"
    assert ogc.get("/ogc/collections/townships/items/999999999").status_code == 404
    assert ogc.get("/ogc/collections/villages/items/340122100").status_code == 404  # a township, not a village
    assert ogc.get("/ogc/collections/places/items/abc").status_code == 404
    assert ogc.get("/ogc/collections/nowhere/items").status_code == 404


# -- Part 2: CRS ------------------------------------------------------------------------------------------


def test_output_crs_coordinates_and_axis_order(ogc: TestClient, session: Session) -> None:
    code = session.scalar(text(f"SELECT code FROM divisions WHERE level = 'village' AND {AS_OF} ORDER BY code LIMIT 1"))
    lon, lat = session.execute(
        text(f"SELECT ST_X(geom), ST_Y(geom) FROM divisions WHERE code = :c AND {AS_OF}"), {"c": code}
    ).one()
    url = f"/ogc/collections/villages/items/{code}"

    c84 = ogc.get(url).json()["geometry"]["coordinates"]
    assert c84 == pytest.approx([lon, lat], abs=1e-7)

    r = ogc.get(url + "?crs=http://www.opengis.net/def/crs/EPSG/0/4490")
    assert r.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    assert r.json()["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-7)  # latitude first (EPSG)

    merc = ogc.get(url + "?crs=EPSG:3857").json()["geometry"]["coordinates"]
    assert merc == pytest.approx(list(Transformer.from_crs(4490, 3857, always_xy=True).transform(lon, lat)), abs=0.01)

    gk = ogc.get(url + "?crs=http://www.opengis.net/def/crs/EPSG/0/4548").json()["geometry"]["coordinates"]
    north, east = Transformer.from_crs(4490, 4548).transform(lat, lon)  # authority axis order: (lat, lon) → (N, E)
    assert gk == pytest.approx([north, east], abs=0.01)
    assert 3_400_000 < gk[0] < 3_700_000 and 450_000 < gk[1] < 600_000  # northing first for CM 117°E

    assert ogc.get(url + "?crs=EPSG:9999").status_code == 400


def test_bbox_in_each_crs_selects_the_same_villages(ogc: TestClient, session: Session) -> None:
    x1, y1, x2, y2 = 117.35, 31.75, 117.55, 31.95
    want = set(
        session.scalars(
            text(
                f"SELECT code FROM divisions WHERE level = 'village' AND {AS_OF} "
                "AND ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4490))"
            ),
            {"a": x1, "b": y1, "c": x2, "d": y2},
        ).all()
    )
    assert 5 < len(want) < 252

    def ids(url: str) -> set[str]:
        return {f["id"] for page in all_pages(ogc, url) for f in page["features"]}

    base = "/ogc/collections/villages/items?limit=50"
    assert ids(f"{base}&bbox={x1},{y1},{x2},{y2}") == want
    assert ids(f"{base}&bbox={y1},{x1},{y2},{x2}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490") == want
    # a projected bbox: the villages inside the rectangle in EPSG:3857
    mx1, my1 = Transformer.from_crs(4490, 3857, always_xy=True).transform(x1, y1)
    mx2, my2 = Transformer.from_crs(4490, 3857, always_xy=True).transform(x2, y2)
    want_m = set(
        session.scalars(
            text(
                f"SELECT code FROM divisions WHERE level = 'village' AND {AS_OF} "
                "AND ST_Intersects(ST_Transform(geom, 3857), ST_MakeEnvelope(:a, :b, :c, :d, 3857))"
            ),
            {"a": mx1, "b": my1, "c": mx2, "d": my2},
        ).all()
    )
    assert ids(f"{base}&bbox={mx1},{my1},{mx2},{my2}&bbox-crs=EPSG:3857") == want_m
    for bad in ("1,2,3", "a,b,c,d", "117.5,31,117.4,32"):
        assert ogc.get(f"{base}&bbox={bad}").status_code == 400


# -- valid time --------------------------------------------------------------------------------------------


def test_datetime_is_valid_time(ogc: TestClient) -> None:
    url = "/ogc/collections/townships/items/340122401"
    assert ogc.get(url + "?datetime=2021-06-01").json()["properties"]["name"] == "肥东新城开发区"
    assert ogc.get(url).json()["properties"]["name"] == "肥东经济开发区管理委员会"
    assert ogc.get(url + "?datetime=2020-01-01").status_code == 404
    # an interval answers one version per id: the one in force at its end (the others: the history)
    both = get_json(ogc, "/ogc/collections/townships/items?filter=code='340122401'&datetime=2021-06-01/..")
    assert [f["properties"]["name"] for f in both["features"]] == ["肥东经济开发区管理委员会"]
    old = get_json(ogc, "/ogc/collections/townships/items?filter=code='340122401'&datetime=../2022-12-31")
    assert [f["properties"]["valid_to"] for f in old["features"]] == ["2023-01-01"]
    assert ogc.get(url + "?datetime=yesterday").status_code == 400


# -- Part 3: CQL2, queryables, sortby, properties -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cql", "sql"),
    [
        ("name LIKE '%镇'", "name LIKE '%镇'"),
        ("population > 40000", "population > 40000"),
        ("population BETWEEN 30000 AND 60000 AND kind = '镇'", "population BETWEEN 30000 AND 60000 AND kind = '镇'"),
        ("code IN ('340122100', '340122101', '340122999')", "code IN ('340122100', '340122101', '340122999')"),
        ("NOT (kind = '镇') OR population IS NULL", "NOT (kind = '镇') OR population IS NULL"),
        ("CASEI(name) = CASEI('店埠镇')", "lower(name) = lower('店埠镇')"),
        (
            "S_INTERSECTS(geometry, POLYGON((117.3 31.7, 117.6 31.7, 117.6 32.0, 117.3 32.0, 117.3 31.7)))",
            "ST_Intersects(geom, ST_GeomFromText("
            "'POLYGON((117.3 31.7, 117.6 31.7, 117.6 32.0, 117.3 32.0, 117.3 31.7))', 4490))",
        ),
        (
            "S_INTERSECTS(geometry, BBOX(117.3, 31.7, 117.6, 32.0))",
            "ST_Intersects(geom, ST_MakeEnvelope(117.3, 31.7, 117.6, 32.0, 4490))",
        ),
    ],
)
def test_cql2_text_matches_sql(ogc: TestClient, session: Session, cql: str, sql: str) -> None:
    want = set(
        session.scalars(text(f"SELECT code FROM divisions WHERE level = 'township' AND {AS_OF} AND ({sql})")).all()
    )
    r = ogc.get("/ogc/collections/townships/items", params={"filter": cql, "limit": 100})
    assert r.status_code == 200, r.text
    got = {f["id"] for f in r.json()["features"]}
    assert got == want
    assert r.json()["numberMatched"] == len(want)


def test_cql2_json_and_spatial_filter_on_points(ogc: TestClient, session: Session) -> None:
    poly = {
        "type": "Polygon",
        "coordinates": [[[117.3, 31.7], [117.6, 31.7], [117.6, 32.0], [117.3, 32.0], [117.3, 31.7]]],
    }
    tree = {
        "op": "and",
        "args": [
            {"op": "s_within", "args": [{"property": "geometry"}, poly]},
            {"op": ">=", "args": [{"property": "population"}, 3000]},
        ],
    }
    r = ogc.get(
        "/ogc/collections/villages/items", params={"filter": json.dumps(tree), "filter-lang": "cql2-json", "limit": 500}
    )
    assert r.status_code == 200, r.text
    want = set(
        session.scalars(
            text(
                f"SELECT code FROM divisions WHERE level = 'village' AND {AS_OF} AND population >= 3000 AND "
                "ST_Within(geom, ST_SetSRID(ST_GeomFromGeoJSON(:p), 4490))"
            ),
            {"p": json.dumps(poly)},
        ).all()
    )
    assert {f["id"] for f in r.json()["features"]} == want and want


def test_cql2_is_safe_and_strict(ogc: TestClient) -> None:
    url = "/ogc/collections/townships/items"
    injected = ogc.get(url, params={"filter": "name = 'x'' OR 1=1 --'"})
    assert injected.status_code == 200 and injected.json()["numberMatched"] == 0  # a literal, not SQL
    for bad in (
        "geom_secret = 1",
        "pg_sleep(1) = 1",
        "name LIKE",
        "population > 'many'",
        "area_km2 > 1",
        "T_INTERSECTS(valid_from, INTERVAL('2020-01-01','2021-01-01'))",
    ):
        r = ogc.get(url, params={"filter": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["field"] == "filter"
    assert ogc.get(url, params={"filter": "name = 'x'", "filter-lang": "sql"}).status_code == 400


def test_property_equality_parameters(ogc: TestClient, session: Session) -> None:
    want = scalar(session, f"SELECT count(*) FROM divisions WHERE level = 'township' AND kind = '镇' AND {AS_OF}")
    page = get_json(ogc, "/ogc/collections/townships/items?kind=镇&limit=100")
    assert page["numberMatched"] == want and all(f["properties"]["kind"] == "镇" for f in page["features"])
    assert ogc.get("/ogc/collections/townships/items?colour=red").status_code == 400  # unknown parameter
    assert ogc.get("/ogc/collections/townships/items?population=lots").status_code == 400


def test_queryables_schema(ogc: TestClient) -> None:
    q = ogc.get("/ogc/collections/places/queryables")
    assert q.headers["content-type"].startswith("application/schema+json")
    doc = q.json()
    assert doc["properties"]["geometry"]["format"] == "geometry-any"
    assert doc["properties"]["valid_from"] == {"title": "生效日期 valid from", "type": "string", "format": "date"}
    assert doc["properties"]["status"]["enum"] == ["standard", "pending", "non_standard", "historic"]
    assert "category_name" not in doc["properties"]  # output only (a join), not filterable
    assert doc["additionalProperties"] is False


def test_sortby_and_properties(ogc: TestClient, session: Session) -> None:
    page = get_json(
        ogc, "/ogc/collections/townships/items?sortby=-population,code&limit=100&properties=name,population"
    )
    pops = [f["properties"]["population"] for f in page["features"]]
    assert pops == sorted(pops, reverse=True)
    assert set(page["features"][0]["properties"]) == {"name", "population"}
    top = session.scalar(
        text(f"SELECT code FROM divisions WHERE level='township' AND {AS_OF} ORDER BY population DESC, code LIMIT 1")
    )
    assert page["features"][0]["id"] == top
    assert ogc.get("/ogc/collections/townships/items?sortby=area_km2").status_code == 400
    assert ogc.get("/ogc/collections/townships/items?properties=nonsense").status_code == 400


def test_number_matched_exact_or_estimated(app_factory: Callable[..., TestClient], session: Session) -> None:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    n = scalar(session, f"SELECT count(*) FROM divisions WHERE level = 'village' AND {AS_OF}")
    session.execute(text("ANALYZE divisions"))  # planner statistics for the estimate
    client.app.state.ogc_settings = OgcSettings(exact_count_max=10_000)  # type: ignore[attr-defined]
    assert get_json(client, "/ogc/collections/villages/items?limit=10")["numberMatched"] == n
    client.app.state.ogc_settings = OgcSettings(exact_count_max=20)  # type: ignore[attr-defined]
    est = get_json(client, "/ogc/collections/villages/items?limit=10")
    assert est["numberReturned"] == 10 and any(link["rel"] == "next" for link in est["links"])
    assert est["numberMatched"] >= 11 and 0.3 * n < est["numberMatched"] < 3 * n  # the planner's estimate
    last = get_json(client, f"/ogc/collections/villages/items?limit=10&offset={n - 3}")
    assert last["numberMatched"] == n and last["numberReturned"] == 3  # the last page knows
    assert not [link for link in last["links"] if link["rel"] == "next"]
    assert [link for link in last["links"] if link["rel"] == "prev"]


def test_limit_is_clamped_and_validated(ogc: TestClient) -> None:
    page = get_json(ogc, "/ogc/collections/villages/items?limit=50000")
    assert page["numberReturned"] == 252
    assert ogc.get("/ogc/collections/villages/items?limit=0").status_code == 400
    assert ogc.get("/ogc/collections/villages/items?offset=-1").status_code == 400
    assert get_json(ogc, "/ogc/collections/villages/items")["numberReturned"] == 10  # OGC default page


def test_options_announce_editing(ogc: TestClient) -> None:
    r = ogc.options("/ogc/collections/places/items")
    assert r.status_code == 200 and "POST" in r.headers["allow"]
    r = ogc.options("/ogc/collections/places/items/1")
    assert {"PUT", "DELETE"} <= {m.strip() for m in r.headers["allow"].split(",")}  # PATCH: accepted, not advertised


# -- Tiles ---------------------------------------------------------------------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise AssertionError(f"wire type {wire}")
        yield num, value


def mvt_layers(tile: bytes) -> dict[str, dict[str, Any]]:
    """Layer name → {features: n, ids: [...], keys: [...]} from a Mapbox vector tile (protobuf)."""
    out = {}
    for num, layer in _fields(tile):
        assert num == 3
        name, ids, keys, n = "", [], [], 0
        for lnum, value in _fields(layer):
            if lnum == 1:
                name = value.decode()
            elif lnum == 2:
                n += 1
                ids += [v for fnum, v in _fields(value) if fnum == 1]
            elif lnum == 3:
                keys.append(value.decode())
        out[name] = {"features": n, "ids": ids, "keys": keys}
    return out


def test_tiles_metadata_and_mvt_content(ogc: TestClient, session: Session) -> None:
    tms = get_json(ogc, "/ogc/tileMatrixSets")
    assert [t["id"] for t in tms["tileMatrixSets"]] == ["WebMercatorQuad"]
    wmq = get_json(ogc, "/ogc/tileMatrixSets/WebMercatorQuad")
    assert wmq["tileMatrices"][10]["matrixWidth"] == 1024
    ts = get_json(ogc, "/ogc/collections/villages/tiles/WebMercatorQuad")
    item = next(link for link in ts["links"] if link["rel"] == "item")
    assert (
        item["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
        and item["type"] == "application/vnd.mapbox-vector-tile"
    )

    z, x, y = 11, 1691, 832  # covers the county seat area
    r = ogc.get(f"/ogc/collections/villages/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layers = mvt_layers(r.content)
    want = session.scalars(
        text(
            f"SELECT code::bigint FROM divisions WHERE level = 'village' AND {AS_OF} "
            "AND ST_Intersects(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096))"
        ),
        {"z": z, "x": x, "y": y},
    ).all()  # with the buffer
    assert want and sorted(layers["villages"]["ids"]) == sorted(want)
    assert {"name", "code", "kind"} <= set(layers["villages"]["keys"])
    assert ogc.get("/ogc/collections/villages/tiles/WebMercatorQuad/3/0/0").status_code == 204  # empty: no data
    assert ogc.get("/ogc/collections/villages/tiles/WebMercatorQuad/3/9/0").status_code == 404  # outside the matrix


def test_dense_point_tiles_are_thinned(ogc: TestClient, session: Session) -> None:
    from gis_api.ogc import query
    from gis_api.ogc.collections import get

    c = get("places")
    assert c is not None
    assert query.tile_per_cell(c, 10, 845, 416, (116.9, 31.5, 117.8, 32.2), 500_000) > 0
    assert query.tile_per_cell(c, 14, 13525, 6662, (116.9, 31.5, 117.8, 32.2), 500_000) == 0
    sql, params = query.tile_sql(c, 9, 422, 208, query.TimeFilter(as_of=TODAY), per_cell=1)
    tile = bytes(session.connection().exec_driver_sql(sql, params.as_dict()).scalar_one())
    n = mvt_layers(tile)["places"]["features"] if tile else 0
    total = scalar(session, f"SELECT count(*) FROM places WHERE {AS_OF} AND geom IS NOT NULL")
    assert 0 < n <= query.GRID * query.GRID < total  # at most one per cell


def test_every_listed_collection_serves_pages_matching_sql(ogc: TestClient, session: Session) -> None:
    from gis_api.ogc.collections import get

    listed = [c["id"] for c in get_json(ogc, "/ogc/collections")["collections"]]
    for cid in listed:
        c = get(cid)
        assert c is not None
        where = " AND ".join(x for x in (c.where, f"t.{AS_OF}".replace("AND (valid_to", "AND (t.valid_to")) if x)
        want = scalar(session, f"SELECT count(*) FROM {c.table} t WHERE {where}")
        page = get_json(ogc, f"/ogc/collections/{cid}/items?limit=5")
        assert page["numberMatched"] == want, cid
        assert page["numberReturned"] == min(5, want) == len(page["features"]), cid
        assert get_json(ogc, f"/ogc/collections/{cid}/queryables")["type"] == "object"


def test_private_reads_need_a_token(
    app_factory: Callable[..., TestClient], session: Session, login: Callable[..., dict[str, str]]
) -> None:
    client = app_factory(public_read=False)
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    assert client.get("/ogc/collections/places/items").status_code == 401
    assert client.get("/ogc/collections/places/tiles/WebMercatorQuad/10/416/845").status_code == 401
    assert client.get("/ogc/collections/places/items", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/ogc/collections/places/items", headers=login("viewer")).status_code == 200
