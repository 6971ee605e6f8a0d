"""Conditional GET on the OGC API: ETag and If-None-Match → 304 on a collection, its items and one feature.

A stale 304 would be a lost edit for the client (it keeps showing what was there before), so every write route
must change the ETag: the JSON API, OGC Part 4 and imports — tested here on the test's session (its own uncommitted
writes) and, for the counters bumped at commit (migration 0014), with committed transactions on the server's
read pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api.ogc.reader import SessionReader

ITEMS = "/ogc/collections/places/items"
COLLECTION = "/ogc/collections/places"
DIANBU = [117.4571, 31.8774]  # inside the synthetic 店埠镇 (340122100)


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


def revalidate(client: TestClient, path: str, tag: str) -> int:
    return cast(int, client.get(path, headers={"If-None-Match": tag}).status_code)


def tags(client: TestClient) -> dict[str, str]:
    """The current ETags of the places collection document and of two item pages (one with a bbox)."""
    out = {}
    for path in (COLLECTION, f"{ITEMS}?limit=5", f"{ITEMS}?bbox=117.3,31.7,117.6,32.0&limit=3"):
        r = client.get(path)
        assert r.status_code == 200, r.text
        out[path] = r.headers["ETag"]
    return out


def assert_all_changed(client: TestClient, before: dict[str, str]) -> None:
    for path, tag in before.items():
        assert revalidate(client, path, tag) == 200, f"{path}: still 304 after a write (a lost edit)"
    after = tags(client)
    for path, tag in after.items():
        assert tag != before[path]
        assert revalidate(client, path, tag) == 304


def test_unchanged_answers_304_without_a_body(ogc: TestClient) -> None:
    for path, tag in tags(ogc).items():
        assert tag.startswith('W/"')
        r = ogc.get(path, headers={"If-None-Match": tag})
        assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == tag
        # a list with another tag, the strong form and * match too; another tag alone does not
        assert revalidate(ogc, path, f'"x", {tag.removeprefix("W/")}') == 304
        assert revalidate(ogc, path, "*") == 304
        assert revalidate(ogc, path, 'W/"something-else"') == 200


def test_json_api_writes_change_the_etag(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    officer = login("officer")
    before = tags(ogc)
    r = ogc.post("/api/v1/places", headers=officer, json={
        "name": "青松路", "category_code": "251", "reason": "test", "source": "test", "valid_from": "2024-01-01",
        "geometry": {"type": "LineString", "coordinates": [DIANBU, [DIANBU[0] + 0.004, DIANBU[1]]]}})
    assert r.status_code == 201, r.text
    assert_all_changed(ogc, before)

    before = tags(ogc)
    pid, etag = r.json()["id"], r.headers["ETag"]
    r = ogc.patch(f"/api/v1/places/{pid}", json={"remarks": "改", "reason": "r"}, headers={**officer, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert_all_changed(ogc, before)


def test_ogc_writes_change_the_etag(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    officer = login("officer")
    before = tags(ogc)
    r = ogc.post(ITEMS, headers=officer, json={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [117.4712, 31.8823]},
        "properties": {"name": "青松岗", "category_code": "122", "reason": "测试"}})
    assert r.status_code == 201, r.text
    assert_all_changed(ogc, before)

    # one feature: its ETag names its version; 304 until it is edited
    item, etag = r.headers["Location"], r.headers["ETag"]
    path = item[item.index("/ogc/"):]
    assert revalidate(ogc, path, etag) == 304
    before = tags(ogc)
    r = ogc.patch(path, headers={**officer, "If-Match": etag}, json={"properties": {"remarks": "新备注"}})
    assert r.status_code == 200, r.text
    assert revalidate(ogc, path, etag) == 200
    assert ogc.get(path).json()["properties"]["remarks"] == "新备注"
    assert_all_changed(ogc, before)


def test_imports_change_the_etag(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    officer = login("officer")
    before = tags(ogc)
    rows = "name,category_code,lon,lat\n王家郢,242,117.41,31.91\n李家湾,242,117.42,31.92\n"
    r = ogc.post("/api/v1/imports/places", headers=officer, files={"file": ("points.csv", rows.encode())},
                 data={"reason": "测试导入", "engine": "bulk"})
    assert r.status_code == 201, r.text
    assert_all_changed(ogc, before)


def test_a_read_does_not_change_the_etag(ogc: TestClient) -> None:
    before = tags(ogc)
    ogc.get(f"{ITEMS}?limit=50")
    ogc.get("/api/v1/places?limit=5")
    assert tags(ogc) == before


# -- committed writes, the server's read pool ------------------------------------------------------------------

@pytest.fixture
def committed(engine: Engine) -> Iterator[Callable[[str], None]]:
    """Run SQL in its own committed transaction; what it changed on places is put back afterwards."""
    with engine.connect() as c:
        keep = c.execute(text("SELECT id, remarks FROM places ORDER BY id LIMIT 1")).one()

    def run(sql: str) -> None:
        with engine.begin() as c:
            c.execute(text(sql), {"id": keep.id})

    yield run
    with engine.begin() as c:
        c.execute(text("UPDATE places SET remarks = :r WHERE id = :id"), {"r": keep.remarks, "id": keep.id})


def counters(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {r.tbl: r.n for r in c.execute(text("SELECT tbl, n FROM ogc_change_counters"))}


def test_committed_writes_on_the_server_read_path(client: TestClient, engine: Engine,
                                                  committed: Callable[[str], None]) -> None:
    paths = [COLLECTION, f"{ITEMS}?limit=5"]
    first = {p: client.get(p).headers["ETag"] for p in paths}
    assert all(revalidate(client, p, t) == 304 for p, t in first.items())
    n0 = counters(engine)
    # two statements on places and one on divisions in one transaction: each table's counter moves once
    committed("UPDATE places SET remarks = 'x' WHERE id = :id; UPDATE places SET remarks = 'y' WHERE id = :id; "
              "UPDATE divisions SET population = population WHERE code = '340122'")
    n1 = counters(engine)
    assert n1["places"] == n0["places"] + 1 and n1["divisions"] == n0["divisions"] + 1
    assert n1["facilities"] == n0["facilities"]
    for p, t in first.items():
        r = client.get(p, headers={"If-None-Match": t})
        assert r.status_code == 200 and r.headers["ETag"] != t
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM ogc_change_flush")).scalar_one() == 0  # nothing left behind


def test_rolled_back_writes_do_not_change_the_etag(client: TestClient, engine: Engine) -> None:
    tag = client.get(f"{ITEMS}?limit=5").headers["ETag"]
    n0 = counters(engine)
    with engine.connect() as c:
        tx = c.begin()
        c.execute(text("UPDATE places SET remarks = 'gone' WHERE id = (SELECT min(id) FROM places)"))
        tx.rollback()
    assert counters(engine) == n0
    assert revalidate(client, f"{ITEMS}?limit=5", tag) == 304


def test_a_write_to_places_leaves_other_collections_valid(client: TestClient,
                                                          committed: Callable[[str], None]) -> None:
    townships, places = "/ogc/collections/townships/items?limit=2", f"{ITEMS}?limit=2"
    t_tag, p_tag = client.get(townships).headers["ETag"], client.get(places).headers["ETag"]
    committed("UPDATE places SET remarks = 'z' WHERE id = :id")
    assert revalidate(client, townships, t_tag) == 304  # divisions have their own counter
    assert revalidate(client, places, p_tag) == 200


def test_renaming_a_category_changes_its_features_etag(client: TestClient, engine: Engine) -> None:
    """One feature shows its category's name (a join): its ETag must change when the category is renamed, though
    the place's version does not; a write based on the version (If-Match with the old ETag) is still accepted."""
    with engine.connect() as c:
        place = c.execute(text(
            "SELECT p.place_id, p.category_code, k.name_zh FROM places p JOIN place_categories k "
            "ON k.code = p.category_code WHERE p.valid_from <= current_date "
            "AND (p.valid_to IS NULL OR p.valid_to > current_date) ORDER BY p.id LIMIT 1")).one()
    path = f"{ITEMS}/{place.place_id}"
    r = client.get(path)
    assert r.status_code == 200 and r.json()["properties"]["category_name"] == place.name_zh
    tag = r.headers["ETag"]
    assert revalidate(client, path, tag) == 304
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE place_categories SET name_zh = name_zh || '（改）' WHERE code = :c"),
                      {"c": place.category_code})
        r = client.get(path, headers={"If-None-Match": tag})
        assert r.status_code == 200, "still 304 after the category was renamed (a stale name)"
        assert r.json()["properties"]["category_name"] == place.name_zh + "（改）"
        assert r.headers["ETag"] != tag
        assert revalidate(client, path, r.headers["ETag"]) == 304
    finally:
        with engine.begin() as c:
            c.execute(text("UPDATE place_categories SET name_zh = :n WHERE code = :c"),
                      {"n": place.name_zh, "c": place.category_code})
