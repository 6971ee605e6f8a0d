"""Issue 14: search finds what officers type — former names (曾用名) and other variants, and a look-alike or
same-sounding character typed for the right one (店阜 for 店埠) — labelled as such, exact matches first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.places import search
from gis_api.places.searchkeys import confusables, look_alikes
from tests.api.test_places_search import places  # noqa: F401  (the fixture: a small gazetteer around 店埠镇)

URL = "/api/v1/places/search"
Login = Callable[..., dict[str, str]]


def _search(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get(URL, params=params)
    assert r.status_code == 200, r.text
    return [f["properties"] for f in r.json()["features"]]


@pytest.fixture
def variants(client: TestClient, places: dict[str, Any], login: Login) -> dict[str, Any]:  # noqa: F811
    """撮镇镇 was 撮镇人民公社; 店铺村 was 石桥村 (so two places are named 石桥村 today and one was)."""
    h = login("officer")
    for name, former in (("撮镇镇", "撮镇人民公社"), ("店铺村", "石桥村")):
        r = client.post(f"/api/v1/places/{places[name]}/variants", headers=h,
                        json={"kind": "曾用名", "name": former, "valid_from": "1958-09-01", "valid_to": "1984-01-01",
                              "reason": "地名志 1988"})
        assert r.status_code in (200, 201), r.text
    return places


def test_a_former_name_finds_the_place_and_says_so(client: TestClient, variants: dict[str, Any]) -> None:
    found = _search(client, q="撮镇人民公社")
    assert [p["id"] for p in found] == [variants["撮镇镇"]]
    assert found[0]["match"] == "exact" and found[0]["name"] == "撮镇镇"
    assert found[0]["matched"] == {"kind": "former_name", "text": "撮镇人民公社"}
    start = _search(client, q="撮镇人民")  # the beginning of a former name
    assert start[0]["id"] == variants["撮镇镇"] and start[0]["match"] == "prefix"
    assert start[0]["matched"]["kind"] == "former_name"
    own = _search(client, q="撮镇镇")
    assert own[0]["id"] == variants["撮镇镇"] and own[0]["matched"] == {"kind": "name", "text": "撮镇镇"}


def test_a_place_named_so_today_comes_before_one_named_so_once(client: TestClient, variants: dict[str, Any]) -> None:
    found = _search(client, q="石桥村")
    ids = [p["id"] for p in found]
    assert set(ids[:2]) == {variants["石桥村"], variants["石桥村#2"]}
    assert all(p["matched"]["kind"] == "name" for p in found[:2])
    former = found[ids.index(variants["店铺村"])]
    assert former["match"] == "exact" and former["matched"] == {"kind": "former_name", "text": "石桥村"}
    # With near, distance orders within a kind only: the former name stays after both names.
    near = variants["店铺村@"]
    found = _search(client, q="石桥村", near=f"{near[0]},{near[1]}")
    assert found[2]["id"] == variants["店铺村"]


@pytest.mark.parametrize("typed", ["店阜", "店阜镇"])
def test_a_look_alike_character_is_tolerated(client: TestClient, variants: dict[str, Any], typed: str) -> None:
    found = _search(client, q=typed)
    dianbu = next(p for p in found if p["id"] == variants["店埠镇"])
    assert dianbu["match"] == "fuzzy"
    assert dianbu["matched"]["kind"] == "name" and dianbu["matched"]["via"] == "confusable"
    assert dianbu["matched"]["read_as"] == typed.replace("阜", "埠")
    # within the county (a local search: its own index, each row checked) the same
    local = _search(client, q=typed, within="340122")
    assert variants["店埠镇"] in [p["id"] for p in local]


def test_look_alikes_of_former_names_and_exact_first(client: TestClient, variants: dict[str, Any]) -> None:
    wrong = next(c for c in confusables()["社"] if c != "社")
    found = _search(client, q=f"撮镇人民公{wrong}")
    assert found and found[0]["id"] == variants["撮镇镇"]
    assert found[0]["matched"] == {"kind": "former_name", "text": "撮镇人民公社", "via": "confusable"}
    # Exact matches stay first: 店埠 (exact key of two places) before anything a look-alike brought in.
    found = _search(client, q="店埠", limit=50)
    tiers = [p["match"] for p in found]
    assert tiers[:2] == ["exact", "exact"] and tiers == sorted(tiers, key=search.TIERS.index)
    assert all("via" not in p["matched"] for p in found if p["match"] != "fuzzy")


def test_the_confusables_table_has_sources_and_both_kinds() -> None:
    from gis_api.places.searchkeys import CONFUSABLES

    header = [line for line in CONFUSABLES.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any("pycorrector" in h for h in header) and any("cjk-decomp" in h for h in header)
    assert any("pypinyin" in h for h in header)
    table = confusables()
    assert "埠" in table["阜"] and "阜" in table["埠"]  # a component more or less (埠 = 土 + 阜)
    assert "部" in table["埠"]  # the same sound (bù)
    assert "店埠" in look_alikes("店阜") and "店阜" not in look_alikes("店阜")


def test_variant_and_look_alike_branches_use_indexes(session: Session, variants: dict[str, Any]) -> None:
    for q in (search.SearchQuery(q="撮镇人民公社"), search.SearchQuery(q="店阜"), search.SearchQuery(q="撮镇人民公杜")):
        plan = "\n".join(search.explain(session, q, analyze=False))
        assert "Seq Scan on places" not in plan and "Seq Scan on place_variants" not in plan, plan
    # the probe that finds the variants (and whether any look-alike key exists) reads indexes too
    params = {"q": "撮镇人民", "q_prefix": "撮镇人民%", "q_len": 4, "look_alikes": look_alikes("撮镇人民"),
              "probe_rows": search.VARIANT_PROBE_ROWS}
    session.execute(text("SELECT set_config('enable_seqscan', 'off', true)"))
    probe = "\n".join(str(r[0]) for r in session.execute(text(f"EXPLAIN {search.VARIANT_PROBE}"), params))
    assert "ix_place_variants_name_prefix" in probe and "ix_places_search_keys" in probe, probe
    count = session.execute(text("SELECT count(*) FROM place_variants WHERE kind = '曾用名'")).scalar_one()
    assert count >= 2
