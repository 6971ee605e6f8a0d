"""Search at province scale (issue 12 §5): the typo fallback under a time budget, and one-edit typos of long
pinyin found by exact-key lookups instead of that fallback."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.places import search
from tests.api.test_places_search import places  # noqa: F401  (the fixture: a small gazetteer around 店埠镇)

URL = "/api/v1/places/search"
TWO_TYPOS = "dianbbuzhenn"  # 店埠镇 (dianbuzhen) with two letters added: only the trigram fallback finds it


def _body(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get(URL, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _settings(session: Session) -> tuple[str, str]:
    return (session.execute(text("SHOW statement_timeout")).scalar_one(),
            session.execute(text("SHOW enable_seqscan")).scalar_one())


def test_fallback_within_budget_finds_worse_typos(client: TestClient, places: dict[str, Any],  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "FALLBACK_BUDGET_MS", 60_000)
    body = _body(client, q=TWO_TYPOS)
    assert places["店埠镇"] in [f["id"] for f in body["features"]]
    assert all(f["properties"]["match"] == "fuzzy" for f in body["features"])
    assert "partial" not in body


def test_fallback_over_budget_says_the_answer_is_partial(client: TestClient, session: Session,
                                                        places: dict[str, Any],  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 ms budget cannot hold the statement (planning alone takes longer): the search answers without the
    fallback, says so, and leaves the transaction usable with every setting as it was."""
    before = _settings(session)
    monkeypatch.setattr(search, "FALLBACK_BUDGET_MS", 1)
    body = _body(client, q=TWO_TYPOS)
    assert body["features"] == [] and body["numberReturned"] == 0
    assert body["partial"] is True
    assert "1 ms" in body["partial_reason"]["en"] and "1 毫秒" in body["partial_reason"]["zh"]
    assert _settings(session) == before
    assert session.execute(text("SELECT count(*) FROM places WHERE source = 'test-search'")).scalar_one() == 9


def test_over_budget_with_other_matches_is_complete(client: TestClient, session: Session,
                                                    places: dict[str, Any],  # noqa: F811
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """When an exact, prefix or substring branch found places the fallback would not have run: the answer
    without it is the whole answer, not flagged partial."""
    monkeypatch.setattr(search, "FALLBACK_BUDGET_MS", 60_000)
    full = _body(client, q="dianbu")
    monkeypatch.setattr(search, "FALLBACK_BUDGET_MS", 1)
    cut = _body(client, q="dianbu")
    assert [f["id"] for f in cut["features"]] == [f["id"] for f in full["features"]] != []
    assert "partial" not in cut
    # in process too, twice in one transaction (the budget's savepoint released each time)
    for _ in range(2):
        doc = json.loads(search.search_geojson(session, search.SearchQuery(q="dianbu")))
        assert [f["id"] for f in doc["features"]] == [f["id"] for f in full["features"]]
    assert session.execute(text("SHOW statement_timeout")).scalar_one() == "0"


def test_budget_restores_the_settings_after_a_search_in_time(session: Session, places: dict[str, Any],  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "FALLBACK_BUDGET_MS", 60_000)
    session.execute(text("SET LOCAL statement_timeout = '45s'"))
    before = _settings(session)
    doc = json.loads(search.search_geojson(session, search.SearchQuery(q=TWO_TYPOS)))
    assert places["店埠镇"] in [f["id"] for f in doc["features"]]
    assert _settings(session) == before == ("45s", "on")


LONG = "店埠社区居民委员会"  # pinyin dianbushequjuminweiyuanhui: 26 letters


@pytest.mark.parametrize("typo", ["dianbushequjuminweiyuanhiu", "dianbushequjunminweiyuanhui", "dinbuzhen",
                                  "dianbushequjuminwiyuanhui"])
def test_one_edit_typos_of_long_pinyin_need_no_trigram_fallback(session: Session, places: dict[str, Any],  # noqa: F811
                                                                 typo: str) -> None:
    """One letter wrong in a long name's pinyin is found by exact-key lookups of its one-edit variants (their
    cost does not grow with the table), even with the trigram fallback unable to match anything."""
    session.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', '1', true)"))
    doc = json.loads(search.search_geojson(session, search.SearchQuery(q=typo)))
    want = places[LONG] if len(typo) > 20 else places["店埠镇"]
    assert [f["id"] for f in doc["features"]][:1] == [want]
    assert doc["features"][0]["properties"]["match"] == "fuzzy"


def test_typo_variants_hold_every_key_one_edit_away() -> None:
    """Every one-edit typo of a stored pinyin or initials key keeps that key among the variants looked up, and
    they are far fewer than all one-edit strings."""
    import random

    from gis_api.places.searchkeys import search_keys

    rnd = random.Random(12)
    names = ["店埠社区居民委员会", "庄至松上集村民委员会", "东风东庄", "新华村", "撮镇镇", "女儿湾", "略阳县", "二郎庙",
             "安定镇", "鹅湖", "欧家岗", "长乐坊", "爱民村", "峨眉山"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    ours = every = 0
    for name in names:
        for key in search_keys(name).keys:
            if not key.isascii() or len(key) < 4:
                continue
            for _ in range(30):
                i = rnd.randrange(len(key))
                kind = rnd.randrange(4)
                typo = (key[:i] + key[i + 1:] if kind == 0 else
                        key[:i] + key[i + 1] + key[i] + key[i + 2:] if kind == 1 and i < len(key) - 1 else
                        key[:i] + rnd.choice(letters) + key[i + 1:] if kind == 2 else
                        key[:i] + rnd.choice(letters) + key[i:])
                if typo == key or len(typo) < 4:
                    continue
                variants = search.typo_variants(typo)
                assert key in variants, (name, key, typo)
                ours += len(variants)
                every += len(search.edit_variants(typo))
    assert ours * 3 < every
    assert len(search.typo_variants("dianbushequjuminweiyuanhiu")) < 30


@pytest.mark.parametrize("q", ["店埠镇", "dianbuzhen", "dianbuzhem", "店埠", "dbz"])
def test_the_as_of_date_is_checked_on_found_rows_never_looked_up(session: Session, places: dict[str, Any],  # noqa: F811
                                                                 q: str) -> None:
    """A search finds rows by their name keys and checks the date on them. When the date made the versions in force
    look rare (here: none in 1900) the planner used to add a scan of ix_places_place_id's valid_from to a branch —
    at 13M names a past date's 620,573 versions were read for 440 ms to intersect with one key's hit."""
    plan = search.explain(session, search.SearchQuery(q=q, as_of=dt.date(1900, 1, 1)), analyze=False)
    assert [line for line in plan if "Index Cond" in line and "valid_from" in line] == []
