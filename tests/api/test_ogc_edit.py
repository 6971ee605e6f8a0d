"""OGC API – Features Part 4 on /ogc: the same validation, roles, audit and optimistic concurrency as the JSON API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.ogc.reader import SessionReader
from gis_api.ogc.routes import version_precondition

ITEMS = "/ogc/collections/places/items"


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


def feature(**props: Any) -> dict[str, Any]:
    geometry = props.pop("geometry", {"type": "Point", "coordinates": [117.4712, 31.8823]})
    return {"type": "Feature", "geometry": geometry, "properties": {"name": "青松岗", "category_code": "122", **props}}


def audit_rows(session: Session, place_id: int) -> list[Any]:
    return list(
        session.execute(
            text(
                "SELECT action, actor, reason, version, changed FROM audit_log WHERE table_name = 'places' "
                "AND entity_key = :k ORDER BY id"
            ),
            {"k": str(place_id)},
        )
    )


def test_create_reads_back_and_is_audited(
    ogc: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    officer = login("officer", username="ogc_officer")
    r = ogc.post(ITEMS, json=feature(meaning="岗上青松成林", reason="新增地名（测试）"), headers=officer)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    pid = r.json()["id"]
    assert r.headers["location"].endswith(f"/ogc/collections/places/items/{pid}")
    row = session.execute(
        text("SELECT id, version, romanized, division_code, meaning FROM places WHERE place_id = :p"), {"p": pid}
    ).one()
    # the version's ETag, plus the change tag of the joined category names (a rename changes what it reads)
    assert r.headers["etag"].startswith(f'"p{row.id}.v{row.version}.j')
    assert row.romanized == "Qingsong Gang" and row.meaning == "岗上青松成林"
    assert row.division_code and row.division_code.startswith("340122")  # derived from the point, as the API does
    back = ogc.get(f"{ITEMS}/{pid}")
    assert back.status_code == 200 and back.json()["properties"]["name"] == "青松岗"
    assert back.headers["etag"] == r.headers["etag"]
    rows = audit_rows(session, pid)
    assert [(a.action, a.actor, a.reason) for a in rows] == [("INSERT", "ogc_officer", "新增地名（测试）")]


def test_roles_and_validation_are_the_services(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    assert ogc.post(ITEMS, json=feature()).status_code == 401
    assert ogc.post(ITEMS, json=feature(), headers=login("viewer")).status_code == 403
    officer = login("officer")
    bad_cat = ogc.post(ITEMS, json=feature(category_code="999"), headers=officer)
    assert bad_cat.status_code == 422 and bad_cat.json()["field"] == "category_code"
    outside = ogc.post(ITEMS, json=feature(geometry={"type": "Point", "coordinates": [31.88, 117.47]}), headers=officer)
    assert outside.status_code == 422 and outside.json()["rule"] == "§7"  # swapped lon/lat caught
    unknown = ogc.post(ITEMS, json=feature(colour="red"), headers=officer)
    assert unknown.status_code == 422 and unknown.json()["field"] == "properties.colour"
    not_feature = ogc.post(ITEMS, json={"type": "Point", "coordinates": [117.4, 31.8]}, headers=officer)
    assert not_feature.status_code == 422
    projected = ogc.post(
        ITEMS, json=feature(), headers={**officer, "Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/3857>"}
    )
    assert projected.status_code == 422  # degrees read as metres in EPSG:3857 land far outside the county


def test_patch_needs_if_match_and_detects_stale_versions(
    ogc: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    officer = login("officer", username="ogc_editor")
    created = ogc.post(ITEMS, json=feature(), headers=officer)
    pid, etag = created.json()["id"], created.headers["etag"]
    url = f"{ITEMS}/{pid}"
    patch = {"type": "Feature", "properties": {"meaning": "因岗上多青松得名"}}

    r = ogc.patch(url, json=patch, headers=officer)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = ogc.patch(url, json=patch, headers={**officer, "If-Match": etag, "Diming-Reason": quote("补充地名含义")})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["meaning"] == "因岗上多青松得名"
    new_etag = r.headers["etag"]
    assert new_etag != etag and r.json()["properties"]["version"] == 2
    stale = ogc.patch(url, json={"properties": {"remarks": "x"}}, headers={**officer, "If-Match": etag})
    assert stale.status_code == 412
    # the 412 names the current feature's ETag as GET serves it (with the joined part; If-Match takes either form)
    assert stale.json()["etag"] == new_etag == stale.headers["etag"]
    upd = [a for a in audit_rows(session, pid) if a.action == "UPDATE"]
    assert [(a.actor, a.reason) for a in upd] == [("ogc_editor", "补充地名含义")]
    assert "meaning" in upd[0].changed and upd[0].version == 2
    # the version form of the same ETag (without the joined part) is as good a precondition
    r = ogc.patch(url, json={"properties": {"remarks": "y"}},
                  headers={**officer, "If-Match": version_precondition(new_etag)})
    assert version_precondition(new_etag) != new_etag and r.status_code == 200, r.text


def test_put_replaces_and_ignores_read_only_values(
    ogc: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    officer = login("officer")
    created = ogc.post(ITEMS, json=feature(meaning="旧含义", remarks="旧备注"), headers=officer)
    pid = created.json()["id"]
    read = ogc.get(f"{ITEMS}/{pid}")
    body = read.json()
    body["properties"]["remarks"] = "新备注"
    del body["properties"]["meaning"]  # a replacement without it clears it
    r = ogc.put(f"{ITEMS}/{pid}", json=body, headers={**officer, "If-Match": read.headers["etag"]})
    assert r.status_code == 200, r.text
    row = session.execute(
        text("SELECT meaning, remarks, romanized_by, version FROM places WHERE place_id = :p"), {"p": pid}
    ).one()
    assert (row.meaning, row.remarks, row.romanized_by, row.version) == (None, "新备注", "auto", 2)


def test_delete_retires_on_a_date(ogc: TestClient, login: Callable[..., dict[str, str]], session: Session) -> None:
    officer = login("officer")
    created = ogc.post(ITEMS, json=feature(valid_from="2021-05-01"), headers=officer)
    pid, etag = created.json()["id"], created.headers["etag"]
    assert ogc.delete(f"{ITEMS}/{pid}", headers=officer).status_code == 428
    assert ogc.delete(f"{ITEMS}/{pid}", headers={**officer, "If-Match": '"p1.v99"'}).status_code == 412
    r = ogc.delete(f"{ITEMS}/{pid}", headers={**officer, "If-Match": etag, "Diming-Reason": quote("地名废止")})
    assert r.status_code == 204
    assert ogc.get(f"{ITEMS}/{pid}").status_code == 404
    assert ogc.get(f"{ITEMS}/{pid}?datetime=2022-01-01").status_code == 200  # history stays
    valid_to = session.scalar(text("SELECT valid_to FROM places WHERE place_id = :p"), {"p": pid})
    assert valid_to == clock.today()
    assert audit_rows(session, pid)[-1].reason == "地名废止"


def test_division_edit_through_the_division_service(
    ogc: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    url = "/ogc/collections/townships/items/340122100"
    read = ogc.get(url)
    assert (
        ogc.patch(
            url,
            json={"properties": {"population": 123456}},
            headers={**login("patrol"), "If-Match": read.headers["etag"]},
        ).status_code
        == 403
    )
    r = ogc.patch(
        url,
        json={"properties": {"population": 123456, "reason": "人口更正"}},
        headers={**login("officer"), "If-Match": read.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["population"] == 123456
    reason = session.scalar(
        text(
            "SELECT reason FROM audit_log WHERE table_name = 'divisions' AND entity_key = '340122100' "
            "ORDER BY id DESC LIMIT 1"
        )
    )
    assert reason == "人口更正"
    wrong_level = ogc.patch(
        "/ogc/collections/villages/items/340122100",
        json={"properties": {"population": 1}},
        headers={**login("officer"), "If-Match": r.headers["etag"]},
    )
    assert wrong_level.status_code == 404


def _rounded(coords: Any) -> Any:
    """Coordinates as QGIS writes them (QgsJsonExporter: 6 decimals)."""
    return [_rounded(c) for c in coords] if isinstance(coords[0], list) else [round(c, 6) for c in coords]


def test_division_put_as_qgis_sends_it_keeps_the_boundary(
    ogc: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    """QGIS 3.36+ PUTs back the whole feature without If-Match, the geometry rounded to 6 decimals as the layer's
    MultiPolygon: an attribute edit, not a boundary change of up to ~5 cm that would break the partition."""
    url = "/ogc/collections/townships/items/340122100"
    ewkb = "SELECT ST_AsEWKB(geom) FROM divisions WHERE code = '340122100' AND valid_to IS NULL"
    before = session.scalar(text(ewkb))
    read = ogc.get(url).json()
    props = read["properties"]
    assert isinstance(props["row_id"], int) and isinstance(props["version"], int)
    geometry = read["geometry"]
    if geometry["type"] == "Polygon":
        geometry = {"type": "MultiPolygon", "coordinates": [geometry["coordinates"]]}
    echo = {**geometry, "coordinates": _rounded(geometry["coordinates"])}
    sent: dict[str, Any] = {"type": "Feature", "id": "340122100", "geometry": echo,
                            "properties": {**props, "population": 654321}}
    assert sent["geometry"]["coordinates"] != read["geometry"]["coordinates"]  # the echo really differs
    officer = login("officer")
    r = ogc.put(url, json=sent, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["population"] == 654321
    assert bytes(session.scalar(text(ewkb))) == bytes(before)
    stale = ogc.put(url, json={**sent, "properties": {**sent["properties"], "population": 1}}, headers=officer)
    assert stale.status_code == 412, stale.text
    assert session.scalar(text("SELECT population FROM divisions WHERE code = '340122100' AND valid_to IS NULL")) \
        == 654321
    moved = {**sent, "geometry": {**sent["geometry"], "coordinates": _rounded(geometry["coordinates"])}}
    moved["geometry"]["coordinates"][0][0][1][0] += 1e-4  # ~10 m: a real move is no echo
    fresh = ogc.get(url).json()["properties"]
    r = ogc.put(url, json={**moved, "properties": fresh}, headers=officer)
    assert r.status_code == 200, r.text
    assert bytes(session.scalar(text(ewkb))) != bytes(before)
