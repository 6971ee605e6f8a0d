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
    return {tuple(r) for r in session.execute(text(  # type: ignore[misc]
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
