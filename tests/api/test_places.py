"""The gazetteer API: register, read as of a date, edit with ETags, rename with history, protection,
name checks and the clean-up campaign (domain.md §1–§3)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

Login = Callable[..., dict[str, str]]
# A point inside the synthetic 店埠镇 (340122100) and one inside 撮镇镇 (340122101), from the demo partition.
DIANBU = [117.4571, 31.8774]
CUOZHEN = [117.6799, 31.9707]


def _place(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "青龙路", "category_code": "251",
        "geometry": {"type": "LineString", "coordinates": [DIANBU, [DIANBU[0] + 0.004, DIANBU[1]]]},
        "reason": "test", "source": "test", "meaning": "因青龙岗得名", "history": "2010年建成",
        "valid_from": "2024-01-01",
    }
    body.update(over)
    return body


def _create(client: TestClient, h: dict[str, str], **over: Any) -> tuple[dict[str, Any], str]:
    r = client.post("/api/v1/places", json=_place(**over), headers=h)
    assert r.status_code == 201, r.text
    return r.json(), r.headers["ETag"]


def test_register_derives_division_romanisation_and_register_fields(client: TestClient, login: Login) -> None:
    feat, tag = _create(client, login("officer"))
    p = feat["properties"]
    assert p["division_code"] == "340122100"  # derived spatially (所在行政区)
    assert p["zhuanming"] == "青龙" and p["tongming"] == "路"
    assert p["romanized"] == "Qinglong Lu" and p["romanized_by"] == "auto"
    assert p["meaning"] == "因青龙岗得名" and p["census_class"] == "交通运输设施"
    assert p["check"] == [] and tag.startswith('"p')
    got = client.get(f"/api/v1/places/{feat['id']}")
    assert got.status_code == 200 and got.headers["ETag"] == tag
    assert "search_keys" not in got.json()["properties"]


def test_stated_division_must_match_geometry(client: TestClient, login: Login) -> None:
    h = login("officer")
    r = client.post("/api/v1/places", json=_place(division_code="340122101"), headers=h)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "division_code" and "340122100" in body["message"] and "店埠镇" in body["message_zh"]
    feat, _ = _create(client, h, division_code="340122")  # the county contains it: fine, finer code kept
    assert feat["properties"]["division_code"] == "340122100"


def test_bad_input_is_a_clear_4xx(client: TestClient, login: Login) -> None:
    h = login("officer")
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"category_code": "999"}, "category_code"),
        ({"name": " "}, "name"),
        ({"geometry": {"type": "Point", "coordinates": [31.8, 117.4]}}, "geometry"),
        ({"geometry": {"type": "GeometryCollection", "geometries": []}}, "geometry"),
        ({"coord_method": "猜测"}, None),
    ]
    for over, field in cases:
        r = client.post("/api/v1/places", json=_place(**over), headers=h)
        assert 400 <= r.status_code < 500, (over, r.text)
        if field:
            assert r.json()["field"] == field, r.json()
    assert client.post("/api/v1/places", json=_place(), headers=login("viewer")).status_code == 403


def test_officer_spelling_wins_and_is_kept(client: TestClient, login: Login) -> None:
    h = login("officer", username="zhou")
    feat, tag = _create(client, h, name="六安路", romanized="Lu'an Lu")
    assert feat["properties"]["romanized"] == "Lu'an Lu" and feat["properties"]["romanized_by"] == "zhou"
    r = client.patch(f"/api/v1/places/{feat['id']}", json={"description": "一条路", "reason": "fill in"},
                     headers={**h, "If-Match": tag})
    assert r.status_code == 200 and r.json()["properties"]["romanized"] == "Lu'an Lu"


def test_etag_conflicts(client: TestClient, login: Login) -> None:
    h = login("officer")
    feat, tag = _create(client, h)
    url = f"/api/v1/places/{feat['id']}"
    assert client.patch(url, json={"remarks": "a", "reason": "r"}, headers=h).status_code == 428
    r = client.patch(url, json={"remarks": "a", "reason": "r"}, headers={**h, "If-Match": tag})
    assert r.status_code == 200
    r = client.patch(url, json={"remarks": "b", "reason": "r"}, headers={**h, "If-Match": tag})
    assert r.status_code == 412
    assert r.json()["current"]["properties"]["remarks"] == "a"


def test_legal_rename_keeps_former_name_and_history(client: TestClient, login: Login) -> None:
    h = login("officer", username="chen")
    feat, tag = _create(client, h)
    url = f"/api/v1/places/{feat['id']}"
    r = client.patch(url, headers={**h, "If-Match": tag}, json={
        "mode": "legal", "effective_date": "2025-06-01", "name": "青云路", "reason": "renamed by 肥政〔2025〕9号"})
    assert r.status_code == 200, r.text
    now = client.get(url).json()["properties"]
    assert now["name"] == "青云路" and now["romanized"] == "Qingyun Lu"
    assert [(v["kind"], v["name"], v["valid_to"]) for v in now["variants"]] == [("曾用名", "青龙路", "2025-06-01")]
    assert client.get(url, params={"as_of": "2025-05-31"}).json()["properties"]["name"] == "青龙路"
    hist = client.get(f"{url}/history").json()
    assert [v["name"] for v in hist["versions"]] == ["青龙路", "青云路"]
    assert any(c["actor"] == "chen" and c["reason"] == "renamed by 肥政〔2025〕9号" for c in hist["changes"])


def test_protected_name_cannot_be_renamed_before_measures(client: TestClient, login: Login) -> None:
    h = login("officer")
    feat, tag = _create(client, h, name="古井巷")
    url = f"/api/v1/places/{feat['id']}"
    listing = {"category": "百年古街巷", "listed_on": "2024-01-01", "reason": "listed"}
    assert client.get(f"{url}/protection").status_code == 404  # not listed yet
    r = client.put(f"{url}/protection", headers=h, json=listing)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"  # neither If-Match nor If-None-Match: *
    r = client.put(f"{url}/protection", headers={**h, "If-None-Match": "*"}, json=listing)
    assert r.status_code == 201 and r.json()["version"] == 1
    listed = r.headers["ETag"]
    assert listed == r.json()["etag"] == f'"pp{feat["id"]}.v1"' == client.get(f"{url}/protection").headers["ETag"]
    assert client.get(url).json()["properties"]["protection"]["etag"] == listed
    again = client.put(f"{url}/protection", headers={**h, "If-None-Match": "*"}, json=listing)
    assert again.status_code == 412 and again.headers["ETag"] == listed  # already listed: change it with If-Match
    tag = client.get(url).headers["ETag"]
    r = client.patch(url, headers={**h, "If-Match": tag}, json={"name": "新井巷", "reason": "rename"})
    assert r.status_code == 409 and r.json()["rule"] == "§1.4" and "保护" in r.json()["message_zh"]
    listing.update(measures="设立地名文化标志", measures_recorded_on="2024-06-01")
    assert client.put(f"{url}/protection", headers=h, json=listing).status_code == 428
    r = client.put(f"{url}/protection", headers={**h, "If-Match": listed}, json=listing)
    assert r.status_code == 200 and r.json()["measures"] == "设立地名文化标志" and r.headers["ETag"] != listed
    stale = client.put(f"{url}/protection", headers={**h, "If-Match": listed}, json=listing)
    assert stale.status_code == 412 and stale.json()["current"]["measures"] == "设立地名文化标志"
    assert stale.headers["ETag"] == r.headers["ETag"]
    tag = client.get(url).headers["ETag"]
    r = client.patch(url, headers={**h, "If-Match": tag}, json={"name": "新井巷", "reason": "rename"})
    assert r.status_code == 200


def test_demo_protected_town_is_refused(client: TestClient, login: Login, session: Session) -> None:
    pid = session.execute(text("SELECT place_id FROM places WHERE name = '撮镇镇' AND valid_to IS NULL")).scalar_one()
    tag = client.get(f"/api/v1/places/{pid}").headers["ETag"]
    r = client.patch(f"/api/v1/places/{pid}", headers={**login("officer"), "If-Match": tag},
                     json={"name": "撮城镇", "reason": "test"})
    assert r.status_code == 409 and r.json()["code"] == "protected_name"


def test_retire_and_as_of(client: TestClient, login: Login) -> None:
    h = login("officer")
    feat, tag = _create(client, h)
    url = f"/api/v1/places/{feat['id']}"
    r = client.post(f"{url}/retire", headers={**h, "If-Match": tag}, json={"effective_date": "2025-01-01",
                                                                            "reason": "road removed"})
    assert r.status_code == 200
    assert client.get(url).status_code == 404
    assert client.get(url, params={"as_of": "2024-06-01"}).json()["properties"]["abolished_year"] == 2025
    listed = client.get("/api/v1/places", params={"within": "340122100", "category": "251"}).json()
    assert feat["id"] not in [f["id"] for f in listed["features"]]


def test_variants(client: TestClient, login: Login) -> None:
    h = login("officer")
    feat, _ = _create(client, h)
    url = f"/api/v1/places/{feat['id']}/variants"
    r = client.post(url, headers=h, json={"kind": "别名", "name": "老龙路", "reason": "local usage"})
    assert r.status_code == 201 and r.json()["romanized"] == "Laolong Lu"
    vid, vtag = r.json()["id"], r.headers["ETag"]
    assert vtag == f'"pv{vid}.v1"' == client.get(f"{url}/{vid}").headers["ETag"]
    variants = client.get(f"/api/v1/places/{feat['id']}").json()["properties"]["variants"]
    assert [(v["name"], v["etag"]) for v in variants] == [("老龙路", vtag)]
    again = client.post(url, headers=h, json={"kind": "别名", "name": "老龙路", "reason": "twice"})
    assert again.status_code == 409 and again.json()["field"] == "name"
    # Removing one needs the variant's ETag: 428 without, 412 with another, 204 with its own.
    assert client.delete(f"{url}/{vid}", headers=h, params={"reason": "wrong"}).status_code == 428
    stale = client.delete(f"{url}/{vid}", headers={**h, "If-Match": f'"pv{vid}.v0"'}, params={"reason": "wrong"})
    assert stale.status_code == 412 and stale.json()["current"]["name"] == "老龙路" and stale.headers["ETag"] == vtag
    assert client.delete(f"{url}/{vid}", headers={**h, "If-Match": vtag}, params={"reason": "wrong"}).status_code == 204
    assert client.get(f"{url}/{vid}").status_code == 404
    gone = client.delete(f"{url}/{vid}", headers={**h, "If-Match": vtag}, params={"reason": "x"})
    assert gone.status_code == 412 and gone.json()["current"] is None  # removed meanwhile: the If-Match is false
    never = client.delete(f"{url}/{vid + 1000}", headers={**h, "If-Match": vtag}, params={"reason": "x"})
    assert never.status_code == 404 and never.json()["field"] == "variant_id"
    assert client.get(f"/api/v1/places/{feat['id']}").json()["properties"]["variants"] == []
    r = client.post(f"/api/v1/places/{feat['id']}/variants", headers=h,
                    json={"kind": "绰号", "name": "x", "reason": "r"})
    assert r.status_code == 422 and r.json()["field"] == "kind"


def test_romanize_endpoint(client: TestClient) -> None:
    r = client.get("/api/v1/romanize", params={"name": "长临河镇"}).json()
    assert r == {"name": "长临河镇", "romanized": "Changlinhe Zhen", "zhuanming": "长临河", "tongming": "镇",
                 "zhuanming_romanized": "Changlinhe", "tongming_romanized": "Zhen"}
    assert client.get("/api/v1/romanize", params={"name": "西安", "tones": True}).json()["romanized"] == "Xī'ān"
    assert client.get("/api/v1/romanize").status_code == 422


def test_name_check_signals(client: TestClient) -> None:
    def classes(name: str, **extra: Any) -> set[str]:
        r = client.post("/api/v1/names/check", json={"name": name, **extra})
        assert r.status_code == 200, r.text
        return {f["class"] for f in r.json()["flags"]}

    assert classes("环球中心", category="282") >= {"大"}
    assert classes("曼哈顿社区", category="221") >= {"洋"}
    assert classes("99大厦", category="282") >= {"怪"}
    assert classes("鹭栖社区", category="221") == set()


def test_duplicate_inside_and_outside_scope(client: TestClient) -> None:
    """Two 沿河路 in 店埠镇 (demo) clash; a 沿河路 in another township's built-up area does not (N7)."""
    inside = client.post("/api/v1/names/check", json={"name": "沿河街", "category": "251",
                                                       "division_code": "340122100"}).json()
    dup = [f for f in inside["flags"] if f["class"] == "重"]
    assert dup and dup[0]["rule"] == "N7" and "沿河路" in dup[0]["evidence"]
    outside = client.post("/api/v1/names/check", json={"name": "沿河街", "category": "251",
                                                        "division_code": "340122102"}).json()
    assert [f for f in outside["flags"] if f["class"] == "重"] == []
    # Village committees are unique county-wide: a homophone in another township still clashes.
    homophone = client.post("/api/v1/names/check", json={"name": "遥岗社区村民委员会", "category": "222",
                                                          "division_code": "340122200"}).json()
    assert any("yao gang" in f["reason"] for f in homophone["flags"])


def test_campaign_run_export_and_outcomes(client: TestClient, login: Login, session: Session) -> None:
    h = login("officer", username="sun")
    r = client.post("/api/v1/names/campaign/run", json={}, headers=h)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["checked"] >= 300 and {"大", "洋", "怪", "重"} <= set(summary["flags"])
    again = client.post("/api/v1/names/campaign/run", json={}, headers=h).json()
    assert again["new_flags"] == 0 and again["open_flags"] == summary["open_flags"]  # idempotent
    items = client.get("/api/v1/names/campaign", params={"class": "洋"}).json()["items"]
    vienna = next(i for i in items if i["name"] == "维也纳花园")
    assert vienna["rule"] == "N5" and vienna["status"] == "open"
    flag_url = f"/api/v1/names/flags/{vienna['flag_id']}"
    tag = vienna["etag"]
    assert client.get(flag_url).headers["ETag"] == tag
    decision = {"status": "exempted", "note": "友好城市命名，经县政府同意"}
    r = client.patch(flag_url, json=decision, headers=h)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = client.patch(flag_url, json={"status": "exempted"}, headers={**h, "If-Match": tag})
    assert r.status_code == 422 and r.json()["field"] == "note"
    r = client.patch(flag_url, headers={**h, "If-Match": tag}, json=decision)
    assert r.status_code == 200 and r.json()["decided_by"] == "sun" and r.headers["ETag"] != tag
    assert r.headers["ETag"] == r.json()["etag"] == client.get(flag_url).headers["ETag"]
    stale = client.patch(flag_url, headers={**h, "If-Match": tag}, json={"status": "renamed"})
    assert stale.status_code == 412 and stale.json()["current"]["status"] == "exempted"
    check = client.post("/api/v1/names/check", json={"name": "维也纳花园", "category": "281",
                                                      "place_id": vienna["place_id"]}).json()
    assert [f["class"] for f in check["flags"]] == [] or "洋" not in [f["class"] for f in check["flags"]]
    assert any(e["exemption"]["justification"] == "友好城市命名，经县政府同意" for e in check["exempted"])
    csv_text = client.get("/api/v1/names/campaign", params={"format": "csv"}).text
    assert csv_text.startswith("\ufeff标记编号") and "维也纳花园" in csv_text
    xlsx = client.get("/api/v1/names/campaign", params={"format": "xlsx"})
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(xlsx.content)).active
    assert ws is not None and ws["C1"].value == "地名" and ws.max_row == len(client.get(
        "/api/v1/names/campaign").json()["items"]) + 1


def test_rename_resolves_flags(client: TestClient, login: Login, session: Session) -> None:
    h = login("officer")
    pid = session.execute(text("SELECT place_id FROM places WHERE name = '99大厦'")).scalar_one()
    tag = client.get(f"/api/v1/places/{pid}").headers["ETag"]
    r = client.patch(f"/api/v1/places/{pid}", headers={**h, "If-Match": tag},
                     json={"mode": "legal", "effective_date": "2026-01-01", "name": "九龙大厦", "reason": "整治更名"})
    assert r.status_code == 200, r.text
    statuses = session.execute(text("SELECT status FROM name_flags WHERE place_id = :p AND name = '99大厦'"),
                               {"p": pid}).scalars().all()
    assert statuses and set(statuses) == {"renamed"}
    assert r.json()["properties"]["variants"][0]["name"] == "99大厦"


def test_demo_gazetteer_covers_every_census_class(session: Session) -> None:
    missing = session.execute(text("""
        SELECT DISTINCT c.census_class FROM place_categories c WHERE c.census_class IS NOT NULL
        EXCEPT SELECT DISTINCT c.census_class FROM places p JOIN place_categories c ON c.code = p.category_code""")
    ).scalars().all()
    assert missing == []
    n = session.execute(text("SELECT count(*) FROM places WHERE division_code LIKE '340122%' AND category_code IN "
                             "('211', '212', '231', '221', '222') AND valid_to IS NULL")).scalar_one()
    assert n == 1 + 20 + 252
    unlabelled = session.execute(text("SELECT count(*) FROM places WHERE source NOT LIKE '%synthetic%' "
                                      "AND category_code NOT IN ('211')")).scalar_one()
    assert unlabelled == 0
