"""Hostile input is a 4xx with the usual error body, never a 500; a database that is away is a 503 with
Retry-After (issue 10 §6). Each case here was a 500 before."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gis_api.app import create_app
from gis_api.ogc.reader import SessionReader
from gis_api.settings import Settings

ERROR_KEYS = {"code", "message", "message_zh", "field", "rule"}


def error(r: Any, status: int) -> dict[str, Any]:
    """The error body of ``r`` once it has ``status``; the five keys are always there, the message in words."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) >= ERROR_KEYS, body
    assert body["message"] and body["message_zh"], body
    return body  # type: ignore[no-any-return]


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def pooled(app_factory: Callable[..., TestClient]) -> Iterator[TestClient]:
    """The app with its real OGC reader (asyncpg pool, as the server runs): the driver's own errors surface."""
    client = app_factory()
    with client:  # one event loop for the whole test, so one pool
        yield client


# -- NUL characters -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/divisions/%00", "path"),
    ("/api/v1/divisions/34%0012", "path"),
    ("/api/v1/facilities?within=%00", "within"),
    ("/api/v1/places/search?q=a%00b", "q"),
    ("/ogc/collections/places/items?filter=name%3D%27%00%27", "filter"),
    ("/ogc/collections/places/items/%00", "path"),
])
def test_nul_in_url_is_422_naming_where(client: TestClient, url: str, field: str) -> None:
    body = error(client.get(url), 422)
    assert body["field"] == field and body["rule"] == "no_nul_characters"
    assert "NUL" in body["message"]


def test_nul_in_json_body_names_the_field(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    body = error(client.post("/api/v1/names/check", json={"name": "店埠\x00镇", "category_code": "10"}), 422)
    assert body["field"] == "name" and "NUL" in body["message"]
    headers = login("officer")
    nested = {"name": "x", "category_code": "10", "variants": [{"name": "ok"}, {"name": "bad\x00"}]}
    body = error(client.post("/api/v1/places", json=nested, headers=headers), 422)
    assert body["field"] == "variants[1].name"
    # OGC bodies are application/geo+json
    feature = {"type": "Feature", "geometry": None, "properties": {"name": "\x00"}}
    r = client.post("/ogc/collections/places/items", content=json.dumps(feature),
                    headers={**headers, "Content-Type": "application/geo+json"})
    assert error(r, 422)["field"] == "properties.name"
    # an unpaired surrogate cannot be stored either
    r = client.post("/api/v1/names/check", content=b'{"name": "\\ud800"}', headers={"Content-Type": "application/json"})
    assert error(r, 422)["field"] == "name" and "surrogate" in r.json()["message"]


def test_escaped_backslash_before_u0000_is_not_a_nul(client: TestClient) -> None:
    # "\\u0000" in JSON is a backslash followed by "u0000": ordinary text
    r = client.post("/api/v1/names/check", content=b'{"name": "a\\\\u0000"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code != 422 or r.json()["rule"] != "no_nul_characters", r.text
    assert r.status_code < 500


def test_nul_in_login_form_is_422(client: TestClient) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "ad\x00min", "password": "x"})
    body = error(r, 422)
    assert body["field"] == "username"


def test_nul_in_reason_header_is_422(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    headers = {**login("officer"), "Diming-Reason": "why%00not", "If-Match": '"x"'}
    r = ogc.patch("/ogc/collections/places/items/1", json={"properties": {}}, headers=headers)
    assert error(r, 422)["field"] == "Diming-Reason"


# -- malformed JSON -----------------------------------------------------------------------------------------

def test_malformed_json_says_where_and_what(client: TestClient) -> None:
    r = client.post("/api/v1/names/check", content=b'{"name": "a"\n "x": 1}',
                    headers={"Content-Type": "application/json"})
    body = error(r, 422)
    assert body["field"] == "body" and body["code"] == "malformed_json"
    assert body["message"] == "malformed JSON at line 2, column 2: Expecting ',' delimiter", body["message"]


# -- OGC: numbers and ids beyond bigint, odd digits, CQL2 --------------------------------------------------

BIG = "99999999999999999999"


@pytest.mark.parametrize("fid", [BIG, "%C2%B2", "-" + BIG, "1e3", "%D9%A3"])
def test_odd_integer_feature_ids_are_404(pooled: TestClient, fid: str) -> None:
    body = error(pooled.get(f"/ogc/collections/places/items/{fid}"), 404)
    assert body["field"] == "featureId"


@pytest.mark.parametrize(("query", "field"), [
    (f"offset={BIG}", "offset"),
    ("offset=%C2%B2", "offset"),
    (f"limit={BIG}", "limit"),
    (f"established_year={BIG}", "established_year"),
    ("established_year=%C2%B2", "established_year"),
    ("population=1e999", "population"),
])
def test_out_of_range_parameters_are_400(pooled: TestClient, query: str, field: str) -> None:
    collection = "places" if "established" in query else "villages" if "population" in query else "places"
    body = error(pooled.get(f"/ogc/collections/{collection}/items?{query}"), 400)
    assert body["field"] == field


@pytest.mark.parametrize("cql", [
    f"established_year = {BIG}",
    f"established_year IN ({BIG}, 1)",
    f"established_year BETWEEN -{BIG} AND {BIG}",
])
def test_huge_numbers_in_cql2_compare_as_numbers(pooled: TestClient, cql: str) -> None:
    r = pooled.get("/ogc/collections/places/items", params={"filter": cql})
    assert r.status_code == 200, r.text
    if "=" in cql and "IN" not in cql:
        assert r.json()["numberReturned"] == 0


@pytest.mark.parametrize(("cql", "lang"), [
    ('{"op":"not","args":[]}', "cql2-json"),
    ('{"op":"not","args":"x"}', "cql2-json"),
    ('{"op":"isNull","args":[]}', "cql2-json"),
    ("S_INTERSECTS(geometry, BBOX(a,b,c,d))", "cql2-text"),
    ("S_INTERSECTS(geometry, BBOX(3,2,1,0))", "cql2-text"),
    ("NOT " * 1000 + "name = 'x'", "cql2-text"),
    ("NOT (" * 1000 + "name = 'x'" + ")" * 1000, "cql2-text"),
    ('{"op":"not","args":[' * 1000 + '{"op":"=","args":[{"property":"name"},"x"]}' + "]}" * 1000, "cql2-json"),
    ("name = 'x'" + " " * 20_000, "cql2-text"),
    ('{"op":"=","args":[{"property":"name"},"a\\u0000b"]}', "cql2-json"),
    ("population = 1e999", "cql2-text"),
])
def test_bad_filters_are_400(pooled: TestClient, cql: str, lang: str) -> None:
    collection = "villages" if "population" in cql else "places"
    r = pooled.get(f"/ogc/collections/{collection}/items", params={"filter": cql, "filter-lang": lang})
    assert error(r, 400)["field"] == "filter"


def test_deep_filter_does_not_kill_the_process(pooled: TestClient) -> None:
    # 4,000 levels overflowed the cql2 parser's stack (SIGSEGV of the whole server) before it got its own thread
    r = pooled.get("/ogc/collections/places/items", params={"filter": "NOT (" * 3000 + "name = 'x'" + ")" * 3000})
    assert error(r, 400)["field"] == "filter"
    assert pooled.get("/ogc/collections/places/items?limit=1").status_code == 200


# -- OGC writes: read-only collections, OPTIONS, missing properties ----------------------------------------

def test_write_to_read_only_collection_is_405_with_allow(ogc: TestClient,
                                                         login: Callable[..., dict[str, str]]) -> None:
    feature: dict[str, Any] = {"type": "Feature", "geometry": None, "properties": {}}
    for headers in ({}, login("admin")):
        r = ogc.post("/ogc/collections/facilities/items", json=feature, headers=headers)
        body = error(r, 405)
        assert body["field"] == "collectionId"
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        r = ogc.put("/ogc/collections/facilities/items/1", json=feature, headers=headers)
        assert error(r, 405) and r.headers["allow"] == "GET, HEAD, OPTIONS"
        r = ogc.delete("/ogc/collections/facilities/items/1", headers=headers)
        assert error(r, 405) and r.headers["allow"] == "GET, HEAD, OPTIONS"
    # an editable collection still needs a login
    assert error(ogc.post("/ogc/collections/places/items", json=feature), 401)


def test_unsupported_method_is_405_with_allow(client: TestClient) -> None:
    r = client.post("/ogc/collections")
    assert error(r, 405) and "GET" in r.headers["allow"]


def _allow(r: Any) -> set[str]:
    assert r.status_code == 200, r.text
    return {m.strip() for m in r.headers["allow"].split(",")}


def test_options_allow_follows_the_role(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    assert _allow(ogc.options("/ogc/collections/places/items")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert _allow(ogc.options("/ogc/collections/places/items", headers=login("officer"))) >= {"POST"}
    assert _allow(ogc.options("/ogc/collections/places/items/1", headers=login("officer"))) == {
        "GET", "HEAD", "OPTIONS", "PUT", "DELETE"}  # PATCH is accepted but not advertised (QGIS would use it)
    viewer = login("viewer")
    assert _allow(ogc.options("/ogc/collections/places/items", headers=viewer)) == {"GET", "HEAD", "OPTIONS"}
    assert _allow(ogc.options("/ogc/collections/places/items/1", headers=viewer)) == {"GET", "HEAD", "OPTIONS"}
    assert _allow(ogc.options("/ogc/collections/facilities/items", headers=login("admin"))) == {
        "GET", "HEAD", "OPTIONS"}
    assert error(ogc.options("/ogc/collections/nope/items"), 404)


def test_ogc_put_missing_required_property_is_422_naming_it(ogc: TestClient, session: Session,
                                                            login: Callable[..., dict[str, str]]) -> None:
    headers = login("officer")
    r = ogc.get("/ogc/collections/places/items/1")
    assert r.status_code == 200, r.text
    feature = r.json()
    etag = r.headers["etag"]
    for missing in ("name", "category_code"):
        props = {k: v for k, v in feature["properties"].items() if k != missing}
        r = ogc.put("/ogc/collections/places/items/1", headers={**headers, "If-Match": etag},
                    json={"type": "Feature", "geometry": feature["geometry"], "properties": props})
        assert error(r, 422)["field"] == missing
    code = session.execute(text(
        "SELECT code FROM divisions WHERE level = 'township' AND valid_to IS NULL LIMIT 1")).scalar_one()
    r = ogc.get(f"/ogc/collections/townships/items/{code}")
    assert r.status_code == 200, r.text
    township = r.json()
    props = {k: v for k, v in township["properties"].items() if k != "name"}
    r = ogc.put(f"/ogc/collections/townships/items/{code}", json={**township, "properties": props},
                headers={**login("admin"), "If-Match": r.headers["etag"]})
    assert error(r, 422)["field"] == "name"


# -- the database is away: 503 with Retry-After, REST and OGC alike ----------------------------------------

def _app_with_database_url(settings: Settings, **url_parts: Any) -> Iterator[TestClient]:
    url = make_url(str(settings.db.database_url)).set(**url_parts)
    s = replace(settings, db=settings.db.model_copy(update={"database_url": url.render_as_string(False)}))
    with TestClient(create_app(s), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def no_database(settings: Settings) -> Iterator[TestClient]:
    """The app pointed at a port where nothing listens (the shared cluster is never stopped by tests)."""
    yield from _app_with_database_url(settings, host="127.0.0.1", port=9, query={})


@pytest.mark.parametrize("url", [
    "/api/v1/health",
    "/api/v1/divisions",
    "/api/v1/places/1",
    "/ogc/collections",
    "/ogc/collections/places/items",
    "/ogc/collections/places/items/1",
    "/ogc/collections/townships/tiles/WebMercatorQuad/10/420/843",
])
def test_database_away_is_503_with_retry_after(no_database: TestClient, url: str) -> None:
    r = no_database.get(url)
    body = error(r, 503)
    assert body["code"] == "unavailable" and int(r.headers["retry-after"]) > 0


@pytest.fixture
def missing_database(settings: Settings) -> Iterator[TestClient]:
    """The app pointed at a database the (running) embedded cluster does not have: SQLSTATE 3D000 on connect."""
    yield from _app_with_database_url(settings, database="diming_no_such_database")


@pytest.mark.parametrize("url", [
    "/api/v1/health",
    "/api/v1/divisions",
    "/ogc/collections",
    "/ogc/collections/places/items",
    "/ogc/collections/townships/items/340122100",
    "/ogc/collections/townships/tiles/WebMercatorQuad/10/420/843",
])
def test_missing_database_is_503_with_retry_after(missing_database: TestClient, url: str) -> None:
    r = missing_database.get(url)
    body = error(r, 503)
    assert body["code"] == "unavailable" and int(r.headers["retry-after"]) > 0


def test_write_while_database_away_is_503(no_database: TestClient) -> None:
    r = no_database.post("/api/v1/auth/token", data={"username": "admin", "password": "x"})
    assert error(r, 503)["code"] == "unavailable"


def test_terminated_backend_connections_are_503_then_recover(pooled: TestClient, engine: Any) -> None:
    """The reads' pooled connections are killed (as by a database restart): the next read expires the pool and
    is retried on a fresh connection (or is a 503), never a 500 — asyncpg's InternalClientError ("another
    operation is in progress") after a terminated backend was one, intermittently."""
    assert pooled.get("/ogc/collections/places/items?limit=1").status_code == 200
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND application_name = 'diming-ogc'"))
    statuses: list[int] = []
    for _ in range(10):  # the pool drops the dead connections one by one and opens new ones
        r = pooled.get("/ogc/collections/places/items?limit=1")
        statuses.append(r.status_code)
        assert r.status_code in (200, 503), (statuses, r.text)
        if r.status_code == 503:
            assert error(r, 503)["code"] == "unavailable" and r.headers["retry-after"]
        else:
            break
    assert statuses[-1] == 200, statuses


def test_ogc_put_without_a_not_null_register_field_is_422(ogc: TestClient,
                                                          login: Callable[..., dict[str, str]]) -> None:
    """A replacement clears what it does not carry; a field the register cannot leave empty (usage, 使用时间)
    is then a 422 naming it — it was a 409 "violates database constraint" with no field."""
    r = ogc.get("/ogc/collections/places/items/1")
    feature = r.json()
    props = {k: v for k, v in feature["properties"].items() if k != "usage"}
    r = ogc.put("/ogc/collections/places/items/1", headers={**login("officer"), "If-Match": r.headers["etag"]},
                json={"type": "Feature", "geometry": feature["geometry"], "properties": props})
    body = error(r, 422)
    assert body["field"] == "usage" and body["rule"] == "required"


# -- the OpenAPI documents tell the truth (the fuzz in tests/fuzz holds the routes to them) -----------------

def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete", "options"):
                yield path, method, op


@pytest.mark.parametrize("public_read", [True, False])
def test_openapi_security_follows_public_read(app_factory: Callable[..., TestClient], public_read: bool) -> None:
    doc = app_factory(public_read=public_read).get("/openapi.json").json()
    ops = {(m, p): op for p, m, op in _operations(doc)}
    read = ops[("get", "/api/v1/places")]
    write = ops[("post", "/api/v1/places")]
    assert write["security"] == [{"HTTPBearer": []}]
    assert read["security"] == ([{}, {"HTTPBearer": []}] if public_read else [{"HTTPBearer": []}])
    assert ops[("post", "/ogc/collections/{collection_id}/items")]["security"] == [{"HTTPBearer": []}]
    ogc = app_factory(public_read=public_read).get("/ogc/api").json()
    assert ogc["security"] == ([{}, {"bearer": []}] if public_read else [{"bearer": []}])
    assert ogc["paths"]["/collections/{collectionId}/items"]["post"]["security"] == [{"bearer": []}]


def test_openapi_declares_shared_errors_and_if_match(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    error_ref = {"$ref": "#/components/schemas/Error"}
    if_match_ops = 0
    for path, method, op in _operations(doc):
        responses = op["responses"]
        for status in ("400", "401", "404", "422", "429", "503"):
            assert responses[status]["content"]["application/json"]["schema"] == error_ref, (method, path, status)
        assert "Retry-After" in responses["503"]["headers"]
        if_match = [p for p in op.get("parameters", []) if p["in"] == "header" and p["name"].lower() == "if-match"]
        if if_match:
            if_match_ops += 1
            assert if_match[0]["required"] is True, (method, path)
            assert {"412", "428"} <= set(responses), (method, path)
    assert if_match_ops >= 10  # places, divisions, facilities, boundaries, markers, proposals …
    geo = doc["paths"]["/api/v1/places/{place_id}"]["get"]["responses"]["200"]["content"]
    assert "application/geo+json" in geo


def test_nul_in_a_multipart_text_field_is_422(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    """Uploads are not scanned at the edge (files hold any byte); a NUL in one of their text fields still
    reaches no statement: the driver's refusal is a 422, not a 500."""
    gpx = b'<?xml version="1.0"?><gpx version="1.1" creator="t"><trk><trkseg>' \
          b'<trkpt lat="31.9" lon="117.4"></trkpt><trkpt lat="31.91" lon="117.41"></trkpt></trkseg></trk></gpx>'
    r = client.post("/api/v1/boundary-patrols", headers=login("patrol"), data={"line_id": "34\x0012"},
                    files={"file": ("t.gpx", gpx, "application/gpx+xml")})
    assert error(r, 422)["rule"] == "no_nul_characters"
