"""The editing exchange of QGIS's OAPIF provider (3.36+), over HTTP against a live server, request for request.

What QGIS sends, from its source (src/providers/wfs/oapif/, QGIS master 2025):

- capabilities (qgsoapifprovider.cpp ``computeCapabilities``; ``Allow`` split on commas by
  ../qgsbasenetworkrequest.cpp ``sendOPTIONS``): ``OPTIONS …/items`` listing POST enables adding, then
  ``OPTIONS …/items/{first id of the page}``: PUT → change attributes and geometries, DELETE → delete,
  PATCH → it PATCHes instead of PUTting.
- writes carry no If-Match (``sendPOSTOrPUTOrPATCH`` sets Content-Type, Content-Crs and authorisation only;
  ``sendDELETE`` nothing but authorisation). The layer is in the collection's ``storageCrs`` (EPSG:4490 here),
  so bodies carry ``Content-Crs: http://www.opengis.net/def/crs/EPSG/0/4490`` and latitude first.
- create: ``POST …/items`` (``application/geo+json``, every attribute, nulls included) → the new id from
  ``Location`` → ``GET …/items/{id}`` whose attributes (``row_id``, ``version`` among them) replace the local ones.
- change without PATCH (``changeAttributeValues`` / ``changeGeometryValues``): the feature from QGIS's local
  cache with the edit applied, exported whole (qgsoapifputfeaturerequest.cpp: ``{"type": "Feature", "id": "<id>",
  "geometry", "properties": every attribute read}``, ``bbox`` dropped), ``PUT …/items/{id}``,
  ``application/geo+json``. After a success QGIS updates only the edited values in its cache, so ``version``
  stays what it read: the next change of that feature is based on a stale version (412) until the layer is
  read again. Attributes and geometry changed in one save are two PUTs (``changeFeatures``), the second stale.
- change with PATCH (qgsoapifpatchfeaturerequest.cpp): ``application/merge-patch+json``,
  ``{"properties": {changed only}}`` or ``{"geometry": …}`` — no version, so no precondition at all.
- an error is shown as "Cannot modify feature of id N" / "Feature deletion failed: … server replied: <reason
  phrase>"; the response body (our message) reaches only QGIS's log when it is OGC-XML, i.e. never here.

So the server takes the ``row_id`` and ``version`` a PUT carries as its precondition (as the OSM API takes the
version in the body) and advertises PUT, DELETE but not PATCH on a feature (it still accepts PATCH): QGIS then
PUTs whole features, which can be checked. DELETE has no body and stays 428 without If-Match.

The live server runs on the test's session (one transaction, rolled back afterwards), so nothing is left
behind in the test database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.app import create_app
from gis_api.ogc.reader import SessionReader
from gis_api.settings import Settings
from tests.live import on_session, serve

EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
NEW_POINT = (117.4712, 31.8823)  # lon, lat (inside 店埠镇)
MOVED_POINT = (117.4801, 31.8907)


@pytest.fixture
def live(settings: Settings, session: Session) -> Iterator[str]:
    """uvicorn on a free loopback port, every request on the test's session (rolled back afterwards)."""
    app = create_app(settings)
    on_session(app, session)
    app.state.ogc_reader = SessionReader(session)
    with serve(app, lifespan="off") as base:
        yield f"{base}/ogc"


def allow(r: httpx.Response) -> set[str]:
    """``Allow`` split the way QGIS splits it (comma, trimmed)."""
    assert r.status_code == 200, r.text
    return {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}


def lat_lon(lon: float, lat: float) -> dict[str, Any]:
    """A point as QGIS sends it in EPSG:4490 (authority axis order: latitude first)."""
    return {"type": "Point", "coordinates": [lat, lon]}


def qgis_feature(props: dict[str, Any], geometry: dict[str, Any], fid: str | None = None) -> dict[str, Any]:
    """A feature as QgsJsonExporter writes it for QGIS's POST (no id) and PUT (the id as a string)."""
    feature: dict[str, Any] = {"type": "Feature", "geometry": geometry, "properties": props}
    return {**feature, "id": fid} if fid is not None else feature


QGIS_PUT = {"Content-Type": "application/geo+json", "Content-Crs": EPSG4490}  # and no If-Match


@pytest.mark.parametrize("collection", ["place-points", "places"])
def test_the_qgis_editing_exchange(live: str, login: Callable[..., dict[str, str]], session: Session,
                                   collection: str) -> None:
    officer = login("officer")
    items = f"{live}/collections/{collection}/items"
    with httpx.Client(headers=officer, timeout=30) as http:
        # 1. capabilities: OPTIONS on /items, then on the first feature of a page; no PATCH, so QGIS will PUT
        assert {"POST", "GET"} <= allow(http.options(items))
        page = http.get(items, params={"limit": 10, "crs": EPSG4490})
        assert page.status_code == 200 and page.headers["content-crs"] == f"<{EPSG4490}>"
        first = page.json()["features"][0]["id"]
        methods = allow(http.options(f"{items}/{first}"))
        assert {"PUT", "DELETE"} <= methods and "PATCH" not in methods
        fields = http.get(f"{live}/collections/{collection}/schema").json()["properties"]

        # 2. create: every attribute (nulls for the ones not typed in), in EPSG:4490 lat/lon
        props: dict[str, Any] = {k: None for k, v in fields.items() if "type" in v}
        props.update(name="青松岗", category_code="122", meaning="岗上青松成林")
        r = http.post(items, json=qgis_feature(props, lat_lon(*NEW_POINT)),
                      headers={"Content-Type": "application/geo+json", "Content-Crs": EPSG4490})
        assert r.status_code == 201, r.text
        location = r.headers["location"]
        fid = location[location.rindex("/items/") + len("/items/"):]
        assert fid == str(r.json()["id"])

        # 3. the re-read QGIS makes after a create: its attributes (row_id, version) replace the local ones
        back = http.get(location)
        assert back.status_code == 200 and back.json()["properties"]["name"] == "青松岗"
        cached = {**props, **back.json()["properties"]}
        assert isinstance(cached["row_id"], int) and isinstance(cached["version"], int)
        drawn = lat_lon(*NEW_POINT)

        # 4. an attribute changed: the whole cached feature PUT back, without If-Match
        r = http.put(f"{items}/{fid}", json=qgis_feature({**cached, "remarks": "QGIS 编辑"}, drawn, fid),
                     headers=QGIS_PUT)
        assert r.status_code == 200, r.text
        assert r.json()["properties"]["remarks"] == "QGIS 编辑"
        assert r.json()["properties"]["version"] != cached["version"] or \
            r.json()["properties"]["row_id"] != cached["row_id"]
        cached["remarks"] = "QGIS 编辑"  # QGIS updates the edited value only; row_id/version stay as read

        # 5. the next change of the same feature from that cache is based on a stale version: 412, nothing written
        r = http.put(f"{items}/{fid}", json=qgis_feature(cached, lat_lon(*MOVED_POINT), fid), headers=QGIS_PUT)
        assert r.status_code == 412 and r.json()["field"] == "If-Match", r.text
        assert r.json()["etag"] == r.headers["etag"] and r.json()["current"]["properties"]["remarks"] == "QGIS 编辑"
        assert r.json()["message_zh"]

        # 6. the layer read again (F5 / reopen): the geometry change goes through
        cached = {**cached, **http.get(location).json()["properties"]}
        r = http.put(f"{items}/{fid}", json=qgis_feature(cached, lat_lon(*MOVED_POINT), fid), headers=QGIS_PUT)
        assert r.status_code == 200, r.text
        assert [round(c, 6) for c in r.json()["geometry"]["coordinates"]] == list(MOVED_POINT)  # CRS84 answer
        stored = session.execute(text(
            "SELECT ST_X(geom), ST_Y(geom), remarks FROM places WHERE place_id = :p AND valid_to IS NULL"),
            {"p": int(fid)}).one()
        assert (round(stored[0], 6), round(stored[1], 6), stored[2]) == (*MOVED_POINT, "QGIS 编辑")

        # 7. DELETE as QGIS sends it (no header, no body): 428 saying how to retire instead; nothing retired
        r = http.delete(f"{items}/{fid}")
        assert r.status_code == 428 and r.json()["field"] == "If-Match" and "retire" in r.json()["message"]
        assert http.get(f"{items}/{fid}").status_code == 200
        # a client that sends If-Match can (registered today, retired today: withdrawn)
        r = http.delete(f"{items}/{fid}", headers={"If-Match": http.get(location).headers["etag"]})
        assert r.status_code == 204, r.text
        assert http.get(f"{items}/{fid}").status_code == 404


def test_body_version_is_a_precondition(live: str, login: Callable[..., dict[str, str]], session: Session) -> None:
    """Two QGIS users read the same feature; the second one's PUT is based on a version that is gone: 412.
    A PUT without If-Match and without the read version has nothing to check against: 428 saying what to send.
    If-Match, when sent, decides over the body's version."""
    officer, other = login("officer"), login("officer")
    pid = session.execute(text(
        "SELECT place_id FROM places WHERE ST_Dimension(geom) = 0 AND valid_to IS NULL ORDER BY place_id LIMIT 1"
    )).scalar_one()
    url = f"{live}/collections/place-points/items/{pid}"
    read = httpx.get(url, params={"crs": EPSG4490}).json()
    mine, theirs = dict(read["properties"]), dict(read["properties"])

    r = httpx.put(url, json=qgis_feature({**mine, "remarks": "甲改"}, read["geometry"], str(pid)),
                  headers={**officer, **QGIS_PUT})
    assert r.status_code == 200, r.text
    now = r.headers["etag"]
    r = httpx.put(url, json=qgis_feature({**theirs, "remarks": "乙改"}, read["geometry"], str(pid)),
                  headers={**other, **QGIS_PUT})
    assert r.status_code == 412 and r.json()["etag"] == now and r.json()["current"]["properties"]["remarks"] == "甲改"

    for missing in ("version", "row_id"):
        props = {k: v for k, v in mine.items() if k != missing}
        r = httpx.put(url, json=qgis_feature(props, read["geometry"], str(pid)), headers={**officer, **QGIS_PUT})
        assert r.status_code == 428 and r.json()["field"] == "If-Match", r.text
        assert "row_id" in r.json()["message"] and "row_id" in r.json()["message_zh"]
    r = httpx.put(url, json=qgis_feature({**mine, "version": None}, read["geometry"], str(pid)),
                  headers={**officer, **QGIS_PUT})
    assert r.status_code == 428  # a null version (a feature QGIS never re-read) is no version
    r = httpx.put(url, json=qgis_feature({**mine, "version": str(mine["version"])}, read["geometry"], str(pid)),
                  headers={**officer, **QGIS_PUT})
    assert r.status_code == 428  # not an integer: not taken for one

    # If-Match decides: with the current ETag, the stale version in the body does not matter
    r = httpx.put(url, json=qgis_feature({**mine, "remarks": "丙改"}, read["geometry"], str(pid)),
                  headers={**officer, **QGIS_PUT, "If-Match": now})
    assert r.status_code == 200, r.text
    assert session.execute(text("SELECT remarks FROM places WHERE place_id = :p AND valid_to IS NULL"),
                           {"p": pid}).scalar_one() == "丙改"


def test_allow_follows_the_role_and_the_geometry_family(live: str, login: Callable[..., dict[str, str]],
                                                       session: Session) -> None:
    points = f"{live}/collections/place-points/items"
    viewer, officer = login("viewer"), login("officer")
    assert "POST" not in allow(httpx.options(points, headers=viewer))
    assert "POST" in allow(httpx.options(points))  # without a login: allowed after one
    assert "POST" not in allow(httpx.options(f"{live}/collections/markers/items", headers=officer))  # read-only
    for cid in ("place-lines", "place-areas", "townships"):
        r = httpx.options(f"{live}/collections/{cid}/items/1", headers=officer)
        assert allow(r) == {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}  # PATCH accepted, not advertised (README)
        assert "PATCH" in r.headers["access-control-allow-methods"]

    # a write keeps the collection's geometry type; a place of another family is not a feature here
    area = {"type": "Polygon", "coordinates": [[[117.47, 31.88], [117.48, 31.88], [117.48, 31.89], [117.47, 31.88]]]}
    r = httpx.post(points, json=qgis_feature({"name": "青松岗", "category_code": "122"}, area), headers=officer)
    assert r.status_code == 422 and r.json()["field"] == "geometry" and r.json()["rule"] == "geometry_family"
    assert r.json()["message_zh"]
    line = session.execute(text(
        "SELECT place_id FROM places WHERE ST_Dimension(geom) = 1 AND valid_to IS NULL LIMIT 1")).scalar()
    etag = httpx.get(f"{live}/collections/places/items/{line}").headers["etag"]
    r = httpx.patch(f"{points}/{line}", json={"properties": {"remarks": "x"}}, headers={**officer, "If-Match": etag})
    assert r.status_code == 404 and r.json()["field"] == "featureId"
    r = httpx.post(f"{live}/collections/place-lines/items", headers=officer, json=qgis_feature(
        {"name": "青松路", "category_code": "211"},
        {"type": "LineString", "coordinates": [[117.47, 31.88], [117.48, 31.885]]}))
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["type"] == "MultiLineString"  # served as the layer's type


def _six_decimals(coords: Any) -> Any:
    return [_six_decimals(c) for c in coords] if isinstance(coords, list) else round(coords, 6)


@pytest.mark.parametrize(("dimension", "collection"), [(0, "place-points"), (1, "place-lines"), (2, "place-areas")])
def test_an_attribute_edit_from_qgis_leaves_the_geometry_alone(
        live: str, login: Callable[..., dict[str, str]], session: Session, dimension: int, collection: str) -> None:
    """QGIS PUTs the geometry back with 6 decimals (QgsJsonExporter's default) and as the layer's type (Multi*):
    that echo is not a move — the stored geometry keeps every digit and its type; a real move is stored."""
    pid = session.execute(text(
        "SELECT place_id FROM places WHERE ST_Dimension(geom) = :d AND valid_to IS NULL ORDER BY place_id LIMIT 1"
    ), {"d": dimension}).scalar_one()
    stored = "SELECT ST_AsText(geom) FROM places WHERE place_id = :p AND valid_to IS NULL"
    before = session.execute(text(stored), {"p": pid}).scalar_one()
    url = f"{live}/collections/{collection}/items/{pid}"
    read = httpx.get(url, params={"crs": EPSG4490}).json()
    echoed = {**read["geometry"], "coordinates": _six_decimals(read["geometry"]["coordinates"])}
    r = httpx.put(url, json=qgis_feature({**read["properties"], "remarks": "只改备注"}, echoed, str(pid)),
                  headers={**login("officer"), **QGIS_PUT})
    assert r.status_code == 200, r.text
    assert session.execute(text(stored), {"p": pid}).scalar_one() == before
    assert session.execute(text("SELECT remarks FROM places WHERE place_id = :p AND valid_to IS NULL"),
                           {"p": pid}).scalar_one() == "只改备注"

    props = {**read["properties"], **httpx.get(url).json()["properties"]}
    moved = {**echoed, "coordinates": _shift(echoed["coordinates"], 2e-6)}  # ~0.2 m north
    r = httpx.put(url, json=qgis_feature(props, moved, str(pid)), headers={**login("officer"), **QGIS_PUT})
    assert r.status_code == 200, r.text
    assert session.execute(text(stored), {"p": pid}).scalar_one() != before


def _shift(coords: Any, d: float) -> Any:
    """Latitude (first in EPSG:4490) of every position moved by ``d``."""
    if coords and not isinstance(coords[0], list):
        return [coords[0] + d, *coords[1:]]
    return [_shift(c, d) for c in coords]


def test_qgis_merge_patches_have_no_precondition(live: str, login: Callable[..., dict[str, str]],
                                                 session: Session) -> None:
    """What QGIS would send if Allow listed PATCH: only the changed values, no If-Match, no version — 428
    naming what to send (this is why Allow does not list PATCH). A PATCH that carries row_id and version works."""
    officer = login("officer")
    pid = session.execute(text(
        "SELECT place_id FROM places WHERE ST_Dimension(geom) = 0 AND valid_to IS NULL ORDER BY place_id LIMIT 1"
    )).scalar_one()
    url = f"{live}/collections/place-points/items/{pid}"
    patch = {**officer, "Content-Type": "application/merge-patch+json"}
    for body in ({"properties": {"remarks": "x"}}, {"geometry": lat_lon(*MOVED_POINT)}):
        r = httpx.patch(url, json=body, headers={**patch, "Content-Crs": EPSG4490})
        assert r.status_code == 428 and r.json()["field"] == "If-Match" and "version" in r.json()["message"]
    read = httpx.get(url).json()["properties"]
    r = httpx.patch(url, headers=patch, json={"properties": {"remarks": "带版本", "row_id": read["row_id"],
                                                             "version": read["version"]}})
    assert r.status_code == 200 and r.json()["properties"]["remarks"] == "带版本", r.text
    r = httpx.patch(url, headers=patch, json={"properties": {"remarks": "旧版本", "row_id": read["row_id"],
                                                             "version": read["version"]}})
    assert r.status_code == 412
