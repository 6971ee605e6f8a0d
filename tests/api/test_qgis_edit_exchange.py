"""The editing exchange of QGIS's OAPIF provider (3.36+), over HTTP against a live server.

What QGIS sends, from its source (src/providers/wfs/oapif: qgsoapifprovider.cpp computeCapabilities,
qgsbasenetworkrequest.cpp sendOPTIONS, qgsoapifcreate/put/patchfeaturerequest.cpp):

- ``OPTIONS …/items``: editing is offered when ``Allow`` lists POST; then ``OPTIONS …/items/{first id}``:
  PUT → change attributes and geometries, DELETE → delete, PATCH → it patches instead of putting.
- the layer is in the collection's ``storageCrs`` (EPSG:4490 here), so writes carry
  ``Content-Crs: http://www.opengis.net/def/crs/EPSG/0/4490`` and coordinates latitude first.
- create: ``POST …/items`` (``application/geo+json``, every attribute, nulls included) → reads the new id from
  the ``Location`` header (after ``/items/``) → ``GET …/items/{id}`` to refresh the feature.
- PATCH bodies are ``application/merge-patch+json``: ``{"properties": {changed}}`` or ``{"geometry": …}``.

The server requires ``If-Match`` on PUT/PATCH/DELETE (optimistic concurrency), so the exchange sends the ETag
of the last GET. QGIS's own requests carry no If-Match header (see the last test).

The live server runs on the test's session (one transaction, rolled back afterwards), so nothing is left
behind in the test database.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.app import create_app
from gis_api.deps import get_session
from gis_api.ogc.reader import SessionReader
from gis_api.settings import Settings

EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
NEW_POINT = (117.4712, 31.8823)  # lon, lat (inside 店埠镇)
MOVED_POINT = (117.4801, 31.8907)


@pytest.fixture
def live(settings: Settings, session: Session) -> Iterator[str]:
    """uvicorn on a free loopback port, every request on the test's session (rolled back afterwards)."""
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        try:
            yield session
            session.commit()  # releases a savepoint only
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = _session
    app.state.ogc_reader = SessionReader(session)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}/ogc"
    srv.should_exit = True
    thread.join(timeout=10)


def allow(r: httpx.Response) -> set[str]:
    """``Allow`` split the way QGIS splits it (comma, trimmed)."""
    assert r.status_code == 200, r.text
    return {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}


def lat_lon(lon: float, lat: float) -> dict[str, Any]:
    """A point as QGIS sends it in EPSG:4490 (authority axis order: latitude first)."""
    return {"type": "Point", "coordinates": [lat, lon]}


def qgis_feature(props: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


@pytest.mark.parametrize("collection", ["place-points", "places"])
def test_the_qgis_editing_exchange(live: str, login: Callable[..., dict[str, str]], session: Session,
                                   collection: str) -> None:
    officer = login("officer")
    items = f"{live}/collections/{collection}/items"
    with httpx.Client(headers=officer, timeout=30) as http:
        # 1. capabilities: OPTIONS on /items, then on the first feature of a page
        assert {"POST", "GET"} <= allow(http.options(items))
        page = http.get(items, params={"limit": 10, "crs": EPSG4490})
        assert page.status_code == 200 and page.headers["content-crs"] == f"<{EPSG4490}>"
        first = page.json()["features"][0]["id"]
        assert {"PUT", "PATCH", "DELETE"} <= allow(http.options(f"{items}/{first}"))
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

        # 3. the re-read QGIS makes after a create (in the layer's CRS), with the ETag for the next write
        back = http.get(location, params={"crs": EPSG4490})
        assert back.status_code == 200 and back.json()["properties"]["name"] == "青松岗"
        lat, lon = back.json()["geometry"]["coordinates"]
        assert (round(lon, 6), round(lat, 6)) == NEW_POINT  # stored where it was drawn, not swapped
        etag = back.headers["etag"]

        # 4. PUT: the whole feature back, one attribute changed
        props = {**back.json()["properties"], "remarks": "QGIS 编辑"}
        r = http.put(f"{items}/{fid}", json=qgis_feature(props, back.json()["geometry"]),
                     headers={"Content-Type": "application/geo+json", "Content-Crs": EPSG4490, "If-Match": etag})
        assert r.status_code == 200, r.text
        assert r.headers["etag"] != etag and r.json()["properties"]["remarks"] == "QGIS 编辑"
        stale, etag = etag, r.headers["etag"]

        # 5. PATCH (merge-patch): an attribute, then the geometry
        r = http.patch(f"{items}/{fid}", content=b'{"properties": {"remarks": "\\u518d\\u6539"}}',
                       headers={"Content-Type": "application/merge-patch+json", "If-Match": stale})
        assert r.status_code == 412  # the version QGIS read is gone: no lost update
        r = http.patch(f"{items}/{fid}", json={"properties": {"remarks": "再改"}},
                       headers={"Content-Type": "application/merge-patch+json", "If-Match": etag})
        assert r.status_code == 200, r.text
        assert r.json()["properties"]["remarks"] == "再改"
        r = http.patch(f"{items}/{fid}", json={"geometry": lat_lon(*MOVED_POINT)},
                       headers={"Content-Type": "application/merge-patch+json", "Content-Crs": EPSG4490,
                                "If-Match": r.headers["etag"]})
        assert r.status_code == 200, r.text
        assert [round(c, 6) for c in r.json()["geometry"]["coordinates"]] == list(MOVED_POINT)  # CRS84 answer
        etag = r.headers["etag"]
        stored = session.execute(text(
            "SELECT ST_X(geom), ST_Y(geom), remarks FROM places WHERE place_id = :p AND valid_to IS NULL"),
            {"p": int(fid)}).one()
        assert (round(stored[0], 6), round(stored[1], 6), stored[2]) == (*MOVED_POINT, "再改")

        # 6. DELETE (registered today, retired today: withdrawn), then the feature is gone
        r = http.delete(f"{items}/{fid}", headers={"If-Match": etag})
        assert r.status_code == 204, r.text
        assert http.get(f"{items}/{fid}").status_code == 404


def test_allow_follows_the_role_and_the_geometry_family(live: str, login: Callable[..., dict[str, str]],
                                                       session: Session) -> None:
    points = f"{live}/collections/place-points/items"
    viewer, officer = login("viewer"), login("officer")
    assert "POST" not in allow(httpx.options(points, headers=viewer))
    assert "POST" in allow(httpx.options(points))  # without a login: allowed after one
    assert "POST" not in allow(httpx.options(f"{live}/collections/markers/items", headers=officer))  # read-only
    for cid in ("place-lines", "place-areas"):
        assert {"PUT", "PATCH", "DELETE"} <= allow(httpx.options(f"{live}/collections/{cid}/items/1", headers=officer))

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


def test_writes_without_if_match_as_qgis_sends_them_are_refused(live: str, login: Callable[..., dict[str, str]],
                                                                session: Session) -> None:
    """QGIS 3.36–3.44 send no If-Match header; the server keeps optimistic concurrency and answers 428 naming it
    (so QGIS can create features, but its updates and deletes are refused — see README, OGC editing)."""
    officer = login("officer")
    pid = session.execute(text(
        "SELECT place_id FROM places WHERE ST_Dimension(geom) = 0 AND valid_to IS NULL LIMIT 1")).scalar()
    url = f"{live}/collections/place-points/items/{pid}"
    r = httpx.patch(url, json={"properties": {"remarks": "x"}},
                    headers={**officer, "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    assert httpx.delete(url, headers=officer).status_code == 428
