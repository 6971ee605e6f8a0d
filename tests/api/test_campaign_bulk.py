"""The campaign in bulk gives exactly the findings of the interactive check run on each place in turn.

``checks.run_campaign`` reads the gazetteer once and answers the N7 candidate query from in-memory indexes; the
reference here is ``checks.check`` per place (the officer's check, whose candidates come from the SQL of
``duplicate_candidates``). The demo gazetteer is extended with the cases a bulk rewrite gets wrong: more than 50
identical names in one county (the evidence lists the first 50 by place id), the same name in another county
(out of scope), homophones, a foreign word twice in one name, an officer's exemption (its flag stays exempted and
is not counted) and an open flag with stale evidence (refreshed, its version bumped, not counted as new).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.places import bulk, checks

Flag = tuple[int, str, str, str, str, str, str]


def _extend(session: Session) -> None:
    rows = [bulk.PlaceRow(name="王岗村委会", category_code="222", lon=117.45, lat=31.85,
                          division_code=f"340122100{200 + i:03d}") for i in range(55)]
    rows += [
        bulk.PlaceRow(name="王岗村委会", category_code="222", lon=117.2, lat=31.9, division_code="340123100201"),
        bulk.PlaceRow(name="汪岗村委会", category_code="222", lon=117.45, lat=31.85, division_code="340122100301"),
        bulk.PlaceRow(name="巴黎巴黎小区", category_code="281", lon=117.46, lat=31.86, division_code="340122100"),
        bulk.PlaceRow(name="曼哈頓廣場", category_code="281", lon=117.47, lat=31.87, division_code="340122100"),
    ]
    rep = bulk.import_places(session, rows, actor="test", reason="campaign test", source="test",
                             valid_from=dt.date(2020, 1, 1), check_divisions=False)
    assert not rep.errors, rep.errors


def _reference(session: Session, on: dt.date) -> list[Flag]:
    out: list[Flag] = []
    for pid, name, category, division in session.execute(text(
            "SELECT place_id, name, category_code, division_code FROM places WHERE valid_from <= :on AND "
            "(valid_to IS NULL OR valid_to > :on) ORDER BY place_id"), {"on": on}):
        result = checks.check(session, name, category=category, division_code=division, place_id=pid, as_of=on)
        out += [(pid, name, f["class"], f["rule"], f["reason"], f["reason_zh"], f["evidence"]) for f in result["flags"]]
    return out


def _stored(session: Session, status: str = "open") -> set[Flag]:
    return {tuple(r) for r in session.execute(text(
        "SELECT place_id, name, class, rule, reason, reason_zh, evidence FROM name_flags WHERE status = :s"),
        {"s": status})}


def test_bulk_campaign_equals_the_check_of_each_place(session: Session) -> None:
    _extend(session)
    on = clock.today()
    session.execute(text("DELETE FROM name_flags"))
    before = _reference(session, on)
    # An officer exempted one finding; another finding is open with evidence that has since changed.
    exempt = before[0]
    stale = next(f for f in before if f[2] == "重" and f[:2] != exempt[:2])
    session.execute(text("""
        INSERT INTO name_flags (place_id, name, class, rule, reason, reason_zh, evidence, status, outcome_note)
        VALUES (:p, :n, :c, :r, :reason, :z, :e, 'exempted', 'test'),
               (:p2, :n2, :c2, :r2, :reason2, :z2, 'stale evidence', 'open', NULL)"""),
        {"p": exempt[0], "n": exempt[1], "c": exempt[2], "r": exempt[3], "reason": exempt[4], "z": exempt[5],
         "e": exempt[6], "p2": stale[0], "n2": stale[1], "c2": stale[2], "r2": stale[3], "reason2": stale[4],
         "z2": stale[5]})
    expected = _reference(session, on)  # the interactive check now leaves the exempted finding out
    assert exempt not in expected and stale in expected

    summary = checks.run_campaign(session, "test:campaign", on)

    assert _stored(session) == set(expected)
    assert _stored(session, "exempted") == {exempt}
    assert summary["checked"] == session.execute(text(
        "SELECT count(*) FROM places WHERE valid_from <= :on AND (valid_to IS NULL OR valid_to > :on)"),
        {"on": on}).scalar_one()
    assert summary["flags"] == dict(Counter(f[2] for f in expected))
    assert summary["new_flags"] == len(set(expected)) - 1 and summary["open_flags"] == len(set(expected))
    version = session.execute(text("SELECT version FROM name_flags WHERE place_id = :p AND reason_zh = :z"),
                              {"p": stale[0], "z": stale[5]}).scalar_one()
    assert version == 2  # refreshed through the row trigger, as the row-at-a-time upsert did
    # The cases the bulk path must get right are really there.
    wang = [f for f in expected if f[1] == "王岗村委会" and f[4].startswith("N7: same specific")]
    assert len(wang) >= 55 and max(f[6].count("#") for f in wang) == 50
    assert any(f[1] == "巴黎巴黎小区" and f[2] == "洋" for f in expected)
    assert any(f[1] == "汪岗村委会" and "homophone" in f[4] for f in expected)

    again = checks.run_campaign(session, "test:campaign", on)  # idempotent
    assert again["new_flags"] == 0 and again["flags"] == summary["flags"] and _stored(session) == set(expected)


def test_bulk_campaign_within_a_division(session: Session) -> None:
    _extend(session)
    on = clock.today()
    session.execute(text("DELETE FROM name_flags"))
    expected = {f for f in _reference(session, on) if f[0] in {
        pid for (pid,) in session.execute(text("SELECT place_id FROM places WHERE division_code LIKE '340122100%'"))}}
    summary = checks.run_campaign(session, "test:campaign", on, within="340122100")
    assert _stored(session) == expected and expected
    assert summary["new_flags"] == len(expected)


def _one_scope_length(session: Session) -> None:
    """Every category's N7 scope the county and every place in a county: one prefix length (6), the campaign's
    fast path for a whole gazetteer (suspects from bucket counts, only the rows of shared buckets indexed)."""
    session.execute(text("UPDATE place_categories SET dup_scope = 'county'"))
    session.execute(text("UPDATE places SET division_code = '340122' WHERE division_code IS NULL "
                         "OR length(division_code) < 6"))


def test_fast_path_with_out_of_date_stored_keys(session: Session) -> None:
    """The whole-gazetteer path that trusts bucket counts only for places whose stored key is the one computed
    now: places whose stored keys are out of date (a data file edited since they were written) still get
    exactly the interactive check's findings, as candidates of others and as places checked."""
    _extend(session)
    _one_scope_length(session)
    # Out of date: one 王岗 row stored under another sound (it no longer meets its namesakes by sound, but its
    # 专名 still matches), one row of another name stored under the key of 汪岗 (a candidate the interactive
    # query finds by the stored key, classified by the key computed now), and one row with no stored key at all.
    ids = [pid for (pid,) in session.execute(text(
        "SELECT place_id FROM places WHERE name = '王岗村委会' AND division_code LIKE '340122%' "
        "ORDER BY place_id LIMIT 3"))]
    session.execute(text("UPDATE places SET dup_pinyin = 'wang gang x', dup_dialect = 'x' WHERE place_id = :p"),
                    {"p": ids[0]})
    other = session.execute(text(
        "SELECT place_id FROM places WHERE name NOT LIKE '%岗%' AND division_code LIKE '340122%' "
        "AND valid_to IS NULL ORDER BY place_id LIMIT 1")).scalar_one()
    session.execute(text("UPDATE places SET (dup_specific, dup_pinyin, dup_dialect) = "
                         "(SELECT dup_specific, dup_pinyin, dup_dialect FROM places WHERE name = '汪岗村委会' LIMIT 1) "
                         "WHERE place_id = :p"), {"p": other})
    session.execute(text("UPDATE places SET dup_specific = '', dup_pinyin = '', dup_dialect = '' "
                         "WHERE place_id = :p"), {"p": ids[1]})
    session.execute(text("UPDATE places SET dup_specific = '陈旧', dup_pinyin = 'chen jiu', dup_dialect = 'cen jiu' "
                         "WHERE place_id = :p"), {"p": ids[2]})
    session.execute(text("DELETE FROM name_flags"))
    on = clock.today()
    expected = _reference(session, on)

    summary = checks.run_campaign(session, "test:campaign", on)

    assert _stored(session) == set(expected)
    assert summary["flags"] == dict(Counter(f[2] for f in expected))
    # The places stored under another key still find their namesakes, and are not found by them.
    for pid in ids[1:]:
        assert any(f[0] == pid and f[2] == "重" for f in expected)
        assert not any(f"#{pid} " in f[6] for f in expected if f[0] not in ids)


def test_workers_give_the_same_findings(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The distinct names checked in worker processes (as for a large gazetteer) give what one process gives."""
    _extend(session)
    _one_scope_length(session)
    session.execute(text("DELETE FROM name_flags"))
    on = clock.today()
    one = checks.run_campaign(session, "test:campaign", on, workers=1)
    flags = _stored(session)
    session.execute(text("DELETE FROM name_flags"))
    monkeypatch.setattr(checks, "PARALLEL_MIN_NAMES", 1)
    two = checks.run_campaign(session, "test:campaign", on, workers=2)
    assert two == one and _stored(session) == flags and flags


def test_name_flags_plain_names_take_the_short_way_to_the_same_flags() -> None:
    """``name_flags`` skips the split and the 怪 N3 character tests for a name of standard characters only; for
    every kind of name the flags (and their order) are those of the three checks run in full."""
    from gis_api.places import namecheck
    from gis_api.places.romanize import split_name

    cfg = namecheck.load_config()

    def full(name: str, category: str | None) -> list[namecheck.Flag]:
        specific, _ = split_name(name)
        return [*namecheck._check_big(name, category, {}, cfg), *namecheck._check_foreign(name, specific, cfg),
                *namecheck._check_odd(name, cfg)]

    names = ["王岗村委会", "巴黎巴黎小区", "曼哈頓廣場", "帝豪国际大厦广场", "华盛顿花园", "阎王村", "八五〇农场",
             "ＡＢ小区", "A区3号楼", "12345", "青龙 路", "㐀家村", "朝鲜族村", "内蒙古路", "东方威尼斯城", "龙凤呈祥苑",
             "建德国际", "𠮷野村", "豐村", "金碧辉煌大酒店", "中心广场", "新村", "", "村"]
    plain = namecheck._plain_chars(cfg)
    assert any(plain.issuperset(n) and full(n, None) for n in names)  # the short way does raise flags
    assert any(not plain.issuperset(n) for n in names)
    for name in names:
        for category in (None, "住宅区", "村民委员会"):
            assert namecheck.name_flags(name, category, None, cfg) == full(name, category), name
            assert [f.span for f in namecheck.name_flags(name, category, None, cfg)] == \
                [f.span for f in full(name, category)], name
