"""Place-name search through GET /api/v1/places/search: every way of typing a name, ranking, filters, errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.errors import InvalidInput
from gis_api.places import search
from gis_api.places.bulk import PlaceRow, import_places

URL = "/api/v1/places/search"
VALID_FROM = dt.date(2024, 1, 1)
GRS80 = Geod(ellps="GRS80")  # the CGCS2000 ellipsoid differs from GRS80 by far less than a millimetre here


def _inside(session: Session, code: str) -> tuple[float, float]:
    row = session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM divisions "
             "WHERE code = :c AND valid_to IS NULL) s"), {"c": code}).one()
    return float(row[0]), float(row[1])


@pytest.fixture
def places(session: Session) -> dict[str, Any]:
    """A small gazetteer around 店埠镇 and 撮镇镇; returns name → place_id and the points used.

    The demo places are removed first (inside the test's transaction, so only for this test): the ranking
    assertions then state the whole gazetteer they rank.
    """
    session.execute(text("DELETE FROM places"))
    dianbu = _inside(session, "340122100")
    cuozhen = _inside(session, "340122101")
    rows = [
        PlaceRow("店埠镇", "212", lon=dianbu[0], lat=dianbu[1]),
        PlaceRow("店埠社区居民委员会", "221", lon=dianbu[0] + 0.002, lat=dianbu[1]),
        PlaceRow("店埠河大桥", "252", lon=dianbu[0] + 0.004, lat=dianbu[1]),
        PlaceRow("新店埠村", "242", lon=dianbu[0], lat=dianbu[1] + 0.003),
        PlaceRow("店铺村", "242", lon=dianbu[0], lat=dianbu[1] - 0.003),
        PlaceRow("撮镇镇", "212", lon=cuozhen[0], lat=cuozhen[1]),
        PlaceRow("石桥村", "242", lon=dianbu[0] - 0.002, lat=dianbu[1] - 0.002),
        PlaceRow("石桥村", "242", lon=cuozhen[0] + 0.002, lat=cuozhen[1] + 0.002),
    ]
    report = import_places(session, rows, actor="test", reason="search fixtures", source="test-search",
                           valid_from=VALID_FROM)
    assert report.ok, report.errors
    old = import_places(session, [PlaceRow("老街口", "251", lon=dianbu[0], lat=dianbu[1])], actor="test",
                        reason="search fixtures", source="test-search", valid_from=dt.date(2021, 1, 1))
    assert old.ok, old.errors
    session.execute(text("UPDATE places SET valid_to = :d WHERE name = '老街口' AND source = 'test-search'"),
                    {"d": dt.date(2023, 12, 31)})
    got = session.execute(text(
        "SELECT place_id, name, ST_X(geom), ST_Y(geom) FROM places WHERE source = 'test-search' ORDER BY place_id"
    )).all()
    ids: dict[str, Any] = {}
    for pid, name, x, y in got:
        key = name if name not in ids else f"{name}#2"
        ids[key] = pid
        ids[f"{key}@"] = (x, y)
    return ids


def _search(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get(URL, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == len(body["features"])
    return body


def _props(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [f["properties"] for f in body["features"]]


def _match_of(body: dict[str, Any], place_id: int) -> str | None:
    return next((p["match"] for p in _props(body) if p["id"] == place_id), None)


def _position(body: dict[str, Any], place_id: int) -> int:
    return [p["id"] for p in _props(body)].index(place_id)


def test_chinese_exact_name(client: TestClient, places: dict[str, Any]) -> None:
    body = _search(client, q="店埠镇")
    first = body["features"][0]
    p = first["properties"]
    assert first["id"] == p["id"] == places["店埠镇"]
    assert (p["name"], p["romanized"]) == ("店埠镇", "Dianbu Zhen")
    assert (p["category"], p["category_name"]) == ("212", "乡级行政区")
    assert (p["division_code"], p["match"]) == ("340122100", "exact")
    assert 0.75 <= p["score"] <= 1.0 and "distance_m" not in p
    assert first["geometry"]["type"] == "Point"
    assert first["geometry"]["coordinates"] == pytest.approx(list(places["店埠镇@"]), abs=1e-7)


def test_name_without_generic_is_exact_then_prefix_then_substring(client: TestClient, places: dict[str, Any]) -> None:
    body = _search(client, q="店埠")
    assert _match_of(body, places["店埠镇"]) == "exact"
    assert _match_of(body, places["店埠社区居民委员会"]) == "exact"  # 专名 of 店埠社区居民委员会
    assert _match_of(body, places["店埠河大桥"]) == "prefix"
    assert _match_of(body, places["新店埠村"]) == "substring"
    # equal match and similarity: the shorter name first
    assert _position(body, places["店埠镇"]) < _position(body, places["店埠社区居民委员会"])
    assert _position(body, places["店埠社区居民委员会"]) < _position(body, places["店埠河大桥"])
    assert _position(body, places["店埠河大桥"]) < _position(body, places["新店埠村"])


def test_chinese_prefix_and_substring(client: TestClient, places: dict[str, Any]) -> None:
    assert _match_of(_search(client, q="店埠社"), places["店埠社区居民委员会"]) == "prefix"
    body = _search(client, q="埠社区")
    assert _match_of(body, places["店埠社区居民委员会"]) == "substring"
    assert _match_of(body, places["店埠镇"]) is None
    assert _match_of(_search(client, q="埠镇"), places["店埠镇"]) == "substring"


def test_full_pinyin_and_initials(client: TestClient, places: dict[str, Any]) -> None:
    assert _props(_search(client, q="dianbu"))[0]["id"] == places["店埠镇"]
    assert _match_of(_search(client, q="DianBu Zhen"), places["店埠镇"]) == "exact"  # case and spaces ignored
    body = _search(client, q="dbz")
    assert _props(body)[0]["id"] == places["店埠镇"] and _props(body)[0]["match"] == "exact"
    assert _match_of(_search(client, q="dbsq"), places["店埠社区居民委员会"]) == "prefix"


def test_everyday_reading_finds_a_place_name_reading(client: TestClient, session: Session,
                                                    places: dict[str, Any]) -> None:
    """单 is read shàn in place names (romanised Shan-), but an officer may type the everyday dan: both
    spellings find it exactly, and its romanisation (Shanzhuangcun) and pinyin column keep the place-name reading."""
    lon, lat = places["店埠镇@"][0], places["店埠镇@"][1] + 0.006
    report = import_places(session, [PlaceRow("单庄村", "242", lon=lon, lat=lat)], actor="test",
                           reason="search fixtures", source="test-search", valid_from=VALID_FROM)
    assert report.ok, report.errors
    for q in ("shanzhuang", "danzhuang", "dzc", "szc"):
        hits = [p for p in _props(_search(client, q=q)) if p["name"] == "单庄村"]
        assert hits and hits[0]["match"] == "exact", q
    assert hits[0]["romanized"] == "Shanzhuangcun"


@pytest.mark.parametrize("typo", ["diambu", "dianbo", "dainbu", "店部镇"])
def test_typos_are_fuzzy_matches(client: TestClient, places: dict[str, Any], typo: str) -> None:
    body = _search(client, q=typo)
    assert _match_of(body, places["店埠镇"]) == "fuzzy"
    assert all(p["match"] == "fuzzy" for p in _props(body))


@pytest.mark.parametrize("area", [{"within": "340122100"}, {"within": "340122"}, {"radius_m": 3000}, {}])
def test_local_searches_match_like_national_ones(
    client: TestClient, places: dict[str, Any], area: dict[str, Any]
) -> None:
    """A county or smaller area (or a radius of a few km) is searched area-first with per-row checks; the
    matches must be the same as through the term indexes."""
    x, y = places["店埠镇@"]
    params = {**area, "near": f"{x},{y}"} if "radius_m" in area else dict(area)
    dianbu, shequ = "店埠镇", "店埠社区居民委员会"
    for q, name, expected in [
        ("店埠", dianbu, "exact"), ("dianbu", dianbu, "exact"), ("dbz", dianbu, "exact"),
        ("店埠社", shequ, "prefix"), ("dbsq", shequ, "prefix"), ("埠社区", shequ, "substring"),
        ("buzhen", dianbu, "substring"), ("diambu", dianbu, "fuzzy"), ("店部镇", dianbu, "fuzzy"),
    ]:
        assert _match_of(_search(client, q=q, **params), places[name]) == expected, (q, area)
    outside = area.get("within") == "340122100" or "radius_m" in area  # 撮镇镇 lies ~25 km away, in 340122101
    assert _match_of(_search(client, q="撮镇镇", **params), places["撮镇镇"]) == (None if outside else "exact")


def test_rank_exact_before_prefix_before_substring_before_fuzzy(client: TestClient, places: dict[str, Any]) -> None:
    body = _search(client, q="dianbu")
    order = [places[n] for n in ("店埠镇", "店埠河大桥", "新店埠村", "店铺村")]
    assert [_match_of(body, pid) for pid in order] == ["exact", "prefix", "substring", "fuzzy"]
    positions = [_position(body, pid) for pid in order]
    assert positions == sorted(positions)
    tiers = [search.TIERS.index(p["match"]) for p in _props(body)]
    assert tiers == sorted(tiers)
    scores = [p["score"] for p in _props(body)]
    assert scores == sorted(scores, reverse=True)


def test_near_puts_the_nearer_of_equal_matches_first(client: TestClient, places: dict[str, Any]) -> None:
    far, close = places["石桥村@"], places["石桥村#2@"]
    body = _search(client, q="石桥村", near=f"{close[0]},{close[1]}")
    props = _props(body)
    assert [p["id"] for p in props[:2]] == [places["石桥村#2"], places["石桥村"]]
    assert props[0]["distance_m"] == pytest.approx(0, abs=0.1)
    _az, _baz, metres = GRS80.inv(close[0], close[1], far[0], far[1])
    assert props[1]["distance_m"] == pytest.approx(metres, abs=1.0)  # geodesic, in metres

    other = _search(client, q="石桥村", near=f"{far[0]},{far[1]}")
    assert [p["id"] for p in _props(other)[:2]] == [places["石桥村"], places["石桥村#2"]]


def test_radius_keeps_only_places_within_the_distance(client: TestClient, places: dict[str, Any]) -> None:
    far, close = places["石桥村@"], places["石桥村#2@"]
    _az, _baz, metres = GRS80.inv(close[0], close[1], far[0], far[1])
    near = f"{close[0]},{close[1]}"
    inner = _search(client, q="石桥村", near=near, radius_m=metres - 50)
    assert [p["id"] for p in _props(inner)] == [places["石桥村#2"]]
    outer = _search(client, q="石桥村", near=near, radius_m=metres + 50)
    assert {places["石桥村"], places["石桥村#2"]} <= {p["id"] for p in _props(outer)}
    assert all(p["distance_m"] <= metres + 50 for p in _props(outer))


def test_within_restricts_by_division_code_prefix(client: TestClient, places: dict[str, Any]) -> None:
    both = {places["石桥村"], places["石桥村#2"]}
    assert {p["id"] for p in _props(_search(client, q="石桥村", within="340122101"))} == {places["石桥村#2"]}
    assert {p["id"] for p in _props(_search(client, q="石桥村", within="340122100"))} == {places["石桥村"]}
    assert both <= {p["id"] for p in _props(_search(client, q="石桥村", within="340122"))}
    assert both <= {p["id"] for p in _props(_search(client, q="石桥村", within="340100"))}  # Hefei: prefix 3401
    assert all(p["division_code"].startswith("340122101")
               for p in _props(_search(client, q="石桥村", within="340122101")))
    assert _search(client, q="石桥村", within="341100")["features"] == []


def test_category_restricts_by_code_prefix(client: TestClient, places: dict[str, Any]) -> None:
    assert [p["category"] for p in _props(_search(client, q="店埠", category="212"))] == ["212"]
    body = _search(client, q="店埠", category="2")
    assert {places["店埠镇"], places["店埠社区居民委员会"], places["店埠河大桥"]} <= {p["id"] for p in _props(body)}
    assert {p["category"] for p in _props(_search(client, q="店埠", category="22"))} == {"221"}


def test_as_of_shows_only_places_in_force(client: TestClient, places: dict[str, Any]) -> None:
    old = places["老街口"]
    assert _match_of(_search(client, q="老街口", as_of="2022-06-01"), old) == "exact"
    assert _match_of(_search(client, q="老街口", as_of="2024-06-01"), old) is None  # retired 2023-12-31
    assert _match_of(_search(client, q="店埠镇", as_of="2023-06-01"), places["店埠镇"]) is None  # not yet
    assert _match_of(_search(client, q="店埠镇", as_of="2024-01-01"), places["店埠镇"]) == "exact"


def test_limit(client: TestClient, places: dict[str, Any]) -> None:
    body = _search(client, q="店埠", limit=2)
    assert [p["id"] for p in _props(body)] == [places["店埠镇"], places["店埠社区居民委员会"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({}, "q"),
        ({"q": "店埠", "near": "117.4"}, "near"),
        ({"q": "店埠", "near": "东经,北纬"}, "near"),
        ({"q": "店埠", "near": "31.8,200"}, "near"),
        ({"q": "店埠", "radius_m": 500}, "near"),
        ({"q": "店埠", "near": "117.4,31.8", "radius_m": -1}, "radius_m"),
        ({"q": "店埠", "within": "34x"}, "within"),
        ({"q": "店埠", "within": "3401221"}, "within"),
        ({"q": "店埠", "category": "777"}, "category"),
        ({"q": "店埠", "limit": 101}, "limit"),
        ({"q": "店埠", "limit": 0}, "limit"),
    ],
)
def test_bad_input_is_422_naming_the_field(client: TestClient, params: dict[str, Any], field: str) -> None:
    r = client.get(URL, params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field and body["message"] and body["message_zh"]


def test_service_validates_without_http(session: Session) -> None:
    with pytest.raises(InvalidInput) as err:
        search.search_geojson(session, search.SearchQuery(q=" "))
    assert err.value.field == "q" and "不能为空" in err.value.message_zh
    with pytest.raises(InvalidInput) as err:
        search.search_geojson(session, search.SearchQuery(q="店埠", limit=500))
    assert err.value.field == "limit"
    assert search.parse_near(" 117.45 , 31.87 ") == (117.45, 31.87)


def test_search_geojson_directly(session: Session, places: dict[str, Any]) -> None:
    near = places["店埠镇@"]
    body = json.loads(search.search_geojson(
        session, search.SearchQuery(q="dbz", near=near, radius_m=1000, as_of=dt.date(2025, 1, 1))))
    assert [f["id"] for f in body["features"]] == [places["店埠镇"]]
    assert body["as_of"] == "2025-01-01"


def test_within_prefix_and_typo_variants() -> None:
    assert [search.within_prefix(c) for c in ("340000", "340100", "340122", "340122100", "340122100001")] == [
        "34", "3401", "340122", "340122100", "340122100001"]
    variants = search.edit_variants("diambu")
    assert {"dianbu", "diamb", "idambu", "diambuo"} <= set(variants) and "diambu" not in variants


@pytest.mark.parametrize(
    "query",
    [
        search.SearchQuery(q="店埠"),
        search.SearchQuery(q="委员会"),
        search.SearchQuery(q="店部镇"),
        search.SearchQuery(q="dianbu"),
        search.SearchQuery(q="diambu", within="340122", category="2"),
        search.SearchQuery(q="店埠", near=(117.45, 31.87)),
        search.SearchQuery(q="dbz", near=(117.45, 31.87), radius_m=5000),
    ],
    ids=lambda q: f"{q.q}-{q.near is not None}-{q.within}",
)
def test_every_branch_has_an_index_path(session: Session, places: dict[str, Any], query: search.SearchQuery) -> None:
    """The plan search runs: sequential scans priced out, so each branch must have an index path (on this
    tiny table the planner would otherwise rather scan), and the setting is restored afterwards."""
    before = session.execute(text("SHOW enable_seqscan")).scalar_one()
    plan = "\n".join(search.explain(session, query, analyze=False))
    assert "Seq Scan on places" not in plan, plan
    assert "ix_places_" in plan
    assert session.execute(text("SHOW enable_seqscan")).scalar_one() == before
