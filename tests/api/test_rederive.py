"""``diming places rederive``: rows written under an older romanisation rule get the current search and duplicate
keys (no new version, one audit entry per run); their published spelling is listed, and changed only on request,
through the versioned service write."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.errors import InvalidInput
from gis_api.places import checks, rederive
from gis_api.places import cli as places_cli
from gis_api.places.derive import derived_fields

Login = Callable[..., dict[str, str]]
DIANBU = [117.4571, 31.8774]  # inside the synthetic 店埠镇 (340122100)
NAME = "覃塘村"  # 覃 is qín in place names (Qintangcun); an older rule read it tán
# What the older rule stored for 覃塘村 (before issue 14's place-name readings and the everyday-reading keys).
OLD = {
    "romanized": "Tantangcun",
    "search_keys": ["tantang", "tantangcun", "tt", "ttc", "覃塘", "覃塘村"],
    "pinyin": "tantangcun", "initials": "ttc", "dup_pinyin": "tan tang", "dup_dialect": "tan tang",
}
ACTOR, REASON = "cli:rederive-test", "Diming 2026.12: place-name readings 覃 qín, 翟 zhái, 单 shàn"


def _search(client: TestClient, q: str) -> dict[int, str]:
    r = client.get("/api/v1/places/search", params={"q": q, "limit": 50})
    assert r.status_code == 200, r.text
    return {f["properties"]["id"]: f["properties"]["match"] for f in r.json()["features"]}


def _row(session: Session, place_id: int) -> Any:
    return session.execute(text(
        "SELECT id, version, romanized, romanized_by, search_keys, pinyin, initials, dup_pinyin, dup_dialect "
        "FROM places WHERE place_id = :p AND valid_to IS NULL"), {"p": place_id}).one()


def _audit(session: Session, **where: Any) -> list[Any]:
    conds = " AND ".join(f"{k} = :{k}" for k in where)
    return list(session.execute(text(f"SELECT * FROM audit_log WHERE {conds} ORDER BY id"), where).all())


@pytest.fixture
def stale(client: TestClient, session: Session, login: Login) -> int:
    """覃塘村, registered today, then its stored keys and spelling set back to what the older rule wrote."""
    r = client.post("/api/v1/places", headers=login("officer"), json={
        "name": NAME, "category_code": "242", "geometry": {"type": "Point", "coordinates": DIANBU},
        "reason": "test", "source": "test-rederive", "valid_from": "2024-01-01"})
    assert r.status_code == 201, r.text
    place_id = int(r.json()["id"])
    assert _search(client, "qintang").get(place_id) == "exact"  # written today: the current keys
    session.execute(text(
        "UPDATE places SET romanized = :romanized, search_keys = :search_keys, pinyin = :pinyin, "
        "initials = :initials, dup_pinyin = :dup_pinyin, dup_dialect = :dup_dialect WHERE place_id = :p"),
        {**OLD, "p": place_id})
    session.commit()  # a savepoint only (conftest); rederive owns its transactions and rolls back its reads
    return place_id


def _twins(session: Session) -> list[object]:
    """The places N7 compares a new 秦塘村 (qín táng, a homophone) with."""
    kind = session.execute(text("SELECT scope_kind FROM place_categories WHERE code = '242'")).scalar_one()
    return [pid for pid, _ in checks.duplicate_candidates(session, "秦塘村", kind, "340122", clock.today(), None)]


def _run(session: Session, **kw: Any) -> rederive.Report:
    return rederive.rederive(session, actor=ACTOR, reason=REASON, **kw)


def test_stale_keys_are_rederived_without_a_new_version_and_audited_once(
        client: TestClient, session: Session, stale: int) -> None:
    assert _search(client, "qintang").get(stale) != "exact"  # the old rule's keys: no exact match
    assert _search(client, "qtc").get(stale) != "exact"
    twin = _twins(session)  # 秦塘村 is qín táng too
    assert stale not in twin
    before = _row(session, stale)
    row_audits = len(_audit(session, table_name="places", entity_key=str(stale)))

    report = _run(session)

    assert report.complete and report.rows_changed >= 1, report.summary()
    assert report.changed["search_keys"] >= 1 and report.changed["pinyin"] >= 1
    assert report.changed["dup_pinyin"] >= 1 and report.changed["grams"] == 0
    after = _row(session, stale)
    new = derived_fields(NAME, "242")
    assert (after.search_keys, after.pinyin, after.initials) == (new["search_keys"], new["pinyin"], new["initials"])
    assert (after.dup_pinyin, after.dup_dialect) == (new["dup_pinyin"], new["dup_dialect"])
    assert _search(client, "qintang").get(stale) == "exact"
    assert _search(client, "qtc").get(stale) == "exact"
    twin = _twins(session)
    assert stale in twin
    # internal keys: same record version (the ETag officers hold stays valid), no per-row audit …
    assert after.version == before.version and after.id == before.id
    assert len(_audit(session, table_name="places", entity_key=str(stale))) == row_audits
    # … but the run's own entries: its start, one per batch written, its end — who, why, counts per column
    runs = _audit(session, table_name="places", entity_key="rederive", action="REDERIVE")
    assert len(runs) == 2 and runs[0].id == report.audit_id and runs[0].new["rederive"]["status"] == "running"
    assert all((r.actor, r.reason) == (ACTOR, REASON) for r in runs)
    counts = runs[-1].new["rederive"]
    assert counts["run"] == report.audit_id
    assert counts["status"] == "done" and counts["rows_changed"] == report.rows_changed
    assert counts["changed"]["search_keys"] == report.changed["search_keys"]
    assert counts["spellings"]["listed"] >= 1 and counts["spellings"]["applied"] == 0
    batches = _audit(session, table_name="places", entity_key="rederive", action="REDERIVE_BATCH")
    assert len(batches) == report.batches_written and {b.new["rederive"]["run"] for b in batches} == {report.audit_id}
    assert sum(b.new["rederive"]["rows_changed"] for b in batches) == report.rows_changed
    # the triggers are back on: an ordinary write is versioned and audited again
    session.execute(text("UPDATE places SET remarks = 'x' WHERE id = :id"), {"id": after.id})
    assert _row(session, stale).version == after.version + 1
    assert len(_audit(session, table_name="places", entity_key=str(stale))) == row_audits + 1


def test_published_spelling_is_listed_not_changed(client: TestClient, session: Session, stale: int) -> None:
    report = _run(session)
    assert _row(session, stale).romanized == "Tantangcun"
    listed = [s for s in report.spellings if s.place_id == stale]
    assert len(listed) == 1 and listed[0].action == "listed"
    assert listed[0].changes["romanized"] == {"old": "Tantangcun", "new": "Qintangcun"}
    lines = list(csv.DictReader(io.StringIO(rederive.spellings_csv(report.spellings))))
    assert {"place_id": str(stale), "column": "romanized", "old": "Tantangcun", "new": "Qintangcun",
            "action": "listed"}.items() <= next(x for x in lines if x["place_id"] == str(stale)).items()
    as_json = json.loads(rederive.spellings_json(report.spellings))
    assert next(x for x in as_json if x["place_id"] == stale)["changes"]["romanized"]["new"] == "Qintangcun"
    r = client.get(f"/api/v1/places/{stale}")
    assert r.json()["properties"]["romanized"] == "Tantangcun"


def test_apply_romanized_writes_a_versioned_audited_correction(
        client: TestClient, session: Session, stale: int) -> None:
    before = _row(session, stale)
    report = _run(session, apply_romanized=True)
    after = _row(session, stale)
    assert after.romanized == "Qintangcun" and after.romanized_by == "auto"
    assert after.id == before.id and after.version == before.version + 1  # a correction: new record version
    change = next(s for s in report.spellings if s.place_id == stale)
    assert change.action == "applied" and report.applied >= 1 and report.complete
    trail = _audit(session, table_name="places", entity_key=str(stale))
    last = trail[-1]
    assert (last.action, last.actor, last.reason) == ("UPDATE", ACTOR, REASON)
    assert "romanized" in last.changed and last.old["romanized"] == "Tantangcun"
    assert last.new["romanized"] == "Qintangcun"
    r = client.get(f"/api/v1/places/{stale}")
    assert r.json()["properties"]["romanized"] == "Qintangcun"
    assert r.headers["ETag"] == f'"p{after.id}.v{after.version}"'
    run = _audit(session, entity_key="rederive", action="REDERIVE")[-1]
    assert run.new["rederive"]["spellings"]["applied"] == sum(
        s.action == "applied" for s in report.spellings if s.record == "place") >= 1


def test_an_officers_spelling_is_never_replaced(client: TestClient, session: Session, stale: int) -> None:
    session.execute(text("UPDATE places SET romanized_by = 'zhou' WHERE place_id = :p"), {"p": stale})
    report = _run(session, apply_romanized=True)
    row = _row(session, stale)
    assert row.romanized == "Tantangcun" and row.romanized_by == "zhou"
    assert row.pinyin == "qintangcun"  # the internal keys follow the rules all the same
    assert not [s for s in report.spellings if s.place_id == stale and "romanized" in s.changes]


def test_dry_run_changes_nothing(client: TestClient, session: Session, stale: int) -> None:
    before = _row(session, stale)
    runs = len(_audit(session, entity_key="rederive"))
    report = _run(session, dry_run=True, apply_romanized=True)
    assert report.rows_changed >= 1 and report.changed["search_keys"] >= 1  # what a real run would do
    assert any(s.place_id == stale and s.action == "listed" for s in report.spellings)
    assert _row(session, stale) == before
    assert len(_audit(session, entity_key="rederive")) == runs and report.audit_id is None
    assert _search(client, "qintang").get(stale) != "exact"


def test_a_second_run_changes_nothing(session: Session, stale: int) -> None:
    first = _run(session, apply_romanized=True, batch_rows=7)  # small batches: several transactions
    assert first.rows_changed >= 1 and first.batches > 1
    second = _run(session, apply_romanized=True, batch_rows=7)
    assert second.rows_checked == first.rows_checked
    assert second.rows_changed == 0 and sum(second.changed.values()) == 0
    assert second.spellings == [] and second.applied == 0 and second.complete
    ends = [r for r in _audit(session, entity_key="rederive", action="REDERIVE")
            if r.new["rederive"]["status"] != "running"]
    assert len(ends) == 2 and ends[-1].new["rederive"]["rows_changed"] == 0


def test_a_batch_that_cannot_get_its_locks_waits_briefly_and_is_left_for_the_next_run(
        engine: Engine, session: Session, stale: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer holding places (an officer's open transaction) makes the batch give up after lock_timeout:
    nothing is written, the run says so (not complete), and the next run does it."""
    monkeypatch.setattr(rederive, "RETRY_PAUSE_S", 0.0)
    with engine.connect() as other:
        tx = other.begin()
        other.execute(text("UPDATE places SET remarks = remarks WHERE id = (SELECT min(id) FROM places)"))
        report = _run(session, lock_timeout="100ms")
        tx.rollback()
    assert not report.complete and report.rows_left >= 1 and report.batches_written == 0
    assert _row(session, stale).pinyin == "tantangcun"
    run = _audit(session, entity_key="rederive", action="REDERIVE")[-1]
    assert run.new["rederive"]["status"] == "incomplete"
    again = _run(session)
    assert again.complete and _row(session, stale).pinyin == "qintangcun"


def test_only_versions_in_force_are_rederived(client: TestClient, session: Session, stale: int, login: Login) -> None:
    """A legal change today closes the stale version and copies its keys into the new one: the version in force
    gets the current keys, the closed one stays as it was recorded."""
    r = client.get(f"/api/v1/places/{stale}")
    r = client.patch(f"/api/v1/places/{stale}", headers={**login("officer"), "If-Match": r.headers["ETag"]},
                     json={"mode": "legal", "effective_date": clock.today().isoformat(), "description": "扩建",
                           "reason": "test"})
    assert r.status_code == 200, r.text
    rows = session.execute(text("SELECT id, valid_to, pinyin FROM places WHERE place_id = :p ORDER BY valid_from"),
                           {"p": stale}).all()
    assert [x.pinyin for x in rows] == ["tantangcun", "tantangcun"] and rows[0].valid_to == clock.today()
    session.commit()
    report = _run(session)
    pinyin: dict[int, str] = dict(
        session.execute(text("SELECT id, pinyin FROM places WHERE place_id = :p"), {"p": stale}).all())
    assert pinyin == {rows[0].id: "tantangcun", rows[1].id: "qintangcun"}
    assert [s.row_id for s in report.spellings if s.place_id == stale] == [rows[1].id]


def test_actor_and_reason_are_required(session: Session) -> None:
    required: tuple[tuple[dict[str, Any], str], ...] = (
        ({"actor": " ", "reason": "r"}, "actor"), ({"actor": "a", "reason": ""}, "reason"))
    for kw, field in required:
        with pytest.raises(InvalidInput) as err:
            rederive.rederive(session, **kw)
        assert err.value.field == field
    limits: tuple[tuple[dict[str, Any], str], ...] = (
        ({"batch_rows": 0}, "batch_size"), ({"lock_timeout": "soon"}, "lock_timeout"))
    for kw, field in limits:
        with pytest.raises(InvalidInput) as err:
            rederive.rederive(session, actor="a", reason="r", **kw)
        assert err.value.field == field and err.value.message_zh
    parser = argparse.ArgumentParser()
    places_cli.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["places", "rederive", "--actor", "x"])  # --reason missing


def test_cli_dry_run_lists_to_a_file(settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command end to end on the committed test database; a dry run, so nothing there changes."""
    out = tmp_path / "spellings.json"
    args = argparse.Namespace(actor=ACTOR, reason=REASON, dry_run=True, apply_romanized=False, output=str(out),
                              format=None, batch_size=500, lock_timeout="2s")
    assert places_cli.cmd_places(settings, args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dry_run"] is True and summary["rows_checked"] > 0 and summary["audit_id"] is None
    assert isinstance(json.loads(out.read_text(encoding="utf-8")), list)


# -- variants ----------------------------------------------------------------------------------------------------

VARIANT = "覃家塘"  # an alias of 覃塘村; the older rule wrote Tanjia Tang


def _variant(session: Session, variant_id: int) -> Any:
    return session.execute(text("SELECT id, romanized, version FROM place_variants WHERE id = :v"),
                           {"v": variant_id}).one()


def _variant_audits(session: Session, place_id: int) -> list[Any]:
    return _audit(session, table_name="place_variants", entity_key=str(place_id))


@pytest.fixture
def stale_variant(client: TestClient, session: Session, stale: int, login: Login) -> tuple[int, int]:
    """(place, variant): an alias whose stored romanisation is what the older rule wrote."""
    r = client.post(f"/api/v1/places/{stale}/variants", headers=login("officer"),
                    json={"kind": "别名", "name": VARIANT, "reason": "test"})
    assert r.status_code == 201, r.text
    variant_id = int(r.json()["id"])
    assert r.json()["romanized"] == "Qinjia Tang"  # written today: the current rule
    session.execute(text("UPDATE place_variants SET romanized = 'Tanjia Tang' WHERE id = :v"), {"v": variant_id})
    session.commit()
    return stale, variant_id


def test_a_stale_variant_spelling_is_listed_and_changes_nothing_in_a_dry_run(
        session: Session, stale_variant: tuple[int, int]) -> None:
    place_id, variant_id = stale_variant
    before, trail = _variant(session, variant_id), len(_variant_audits(session, place_id))
    for kw in ({"dry_run": True, "apply_romanized": True}, {}):  # a dry run, and a run that only lists spellings
        report = _run(session, **kw)
        listed = [s for s in report.spellings if s.record == "variant" and s.row_id == variant_id]
        assert len(listed) == 1 and listed[0].action == "listed" and listed[0].romanized_by == "auto"
        assert listed[0].changes == {"romanized": {"old": "Tanjia Tang", "new": "Qinjia Tang"}}
        assert listed[0].kind == "别名" and listed[0].etag == f'"pv{variant_id}.v{before.version}"'
        assert report.counts()["variant_spellings"]["listed"] >= 1 and report.variants_checked >= 1
        assert _variant(session, variant_id) == before
        assert len(_variant_audits(session, place_id)) == trail
    line = next(x for x in csv.DictReader(io.StringIO(rederive.spellings_csv(report.spellings)))
                if x["record"] == "variant")
    assert {"place_id": str(place_id), "row_id": str(variant_id), "kind": "别名", "old": "Tanjia Tang",
            "new": "Qinjia Tang", "action": "listed"}.items() <= line.items()


def test_apply_romanized_corrects_a_stale_variant_through_its_versioned_audited_write(
        client: TestClient, session: Session, stale_variant: tuple[int, int]) -> None:
    place_id, variant_id = stale_variant
    before, trail = _variant(session, variant_id), len(_variant_audits(session, place_id))
    report = _run(session, apply_romanized=True)
    after = _variant(session, variant_id)
    assert after.romanized == "Qinjia Tang" and after.version == before.version + 1  # a new version of the variant
    change = next(s for s in report.spellings if s.record == "variant" and s.row_id == variant_id)
    assert change.action == "applied" and report.complete
    audits = _variant_audits(session, place_id)
    assert len(audits) == trail + 1
    last = audits[-1]
    assert (last.action, last.actor, last.reason, last.row_id) == ("UPDATE", ACTOR, REASON, variant_id)
    assert last.changed == ["romanized"] and last.old["romanized"] == "Tanjia Tang"
    assert last.new["romanized"] == "Qinjia Tang" and last.version == after.version
    r = client.get(f"/api/v1/places/{place_id}/variants/{variant_id}")
    assert r.json()["romanized"] == "Qinjia Tang" and r.headers["ETag"] == f'"pv{variant_id}.v{after.version}"'
    end = _audit(session, entity_key="rederive", action="REDERIVE")[-1].new["rederive"]
    assert end["variant_spellings"]["applied"] == 1 and end["status"] == "done"
    again = _run(session, apply_romanized=True)  # idempotent
    assert not [s for s in again.spellings if s.record == "variant"] and _variant(session, variant_id) == after


def test_a_variant_spelling_that_is_no_reading_of_the_name_is_kept_as_an_officers(
        client: TestClient, session: Session, stale: int, login: Login) -> None:
    r = client.post(f"/api/v1/places/{stale}/variants", headers=login("officer"),
                    json={"kind": "别名", "name": VARIANT, "romanized": "Chin Tang", "reason": "old map spelling"})
    assert r.status_code == 201, r.text
    variant_id = int(r.json()["id"])
    report = _run(session, apply_romanized=True)
    assert _variant(session, variant_id).romanized == "Chin Tang"
    kept = next(s for s in report.spellings if s.record == "variant" and s.row_id == variant_id)
    assert kept.action == "listed" and kept.romanized_by == "officer" and kept.note and not kept.applicable
    assert rederive.reads_as("Tanjia Tang", VARIANT) and rederive.reads_as("qín jiā táng", VARIANT)
    assert not rederive.reads_as("Chin Tang", VARIANT) and not rederive.reads_as("Qinjiatangcun", VARIANT)


def test_the_former_name_of_a_rename_follows_the_renamed_versions_rule(
        client: TestClient, session: Session, stale: int, login: Login) -> None:
    """A legal rename keeps the old name as 曾用名 with the old version's spelling (here the stale Tantangcun):
    re-derived with the category of the version it came from (覃塘村, a 242 village: Qintangcun)."""
    r = client.get(f"/api/v1/places/{stale}")
    r = client.patch(f"/api/v1/places/{stale}", headers={**login("officer"), "If-Match": r.headers["ETag"]},
                     json={"mode": "legal", "effective_date": clock.today().isoformat(), "name": "秦塘村",
                           "reason": "test"})
    assert r.status_code == 200, r.text
    former = session.execute(text("SELECT id, romanized FROM place_variants WHERE place_id = :p AND kind = '曾用名'"),
                             {"p": stale}).one()
    assert former.romanized == "Tantangcun"
    session.commit()
    report = _run(session, apply_romanized=True)
    change = next(s for s in report.spellings if s.record == "variant" and s.row_id == former.id)
    assert change.category_code == "242" and change.action == "applied"
    assert _variant(session, former.id).romanized == derived_fields(NAME, "242")["romanized"] == "Qintangcun"


# -- the audit trail is append-only --------------------------------------------------------------------------------

def test_rederive_never_rewrites_an_audit_row(engine: Engine, session: Session, stale_variant: tuple[int, int],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path of a run (batches written, a batch left for lack of locks, spellings applied) only appends to
    audit_log: a trigger (in this test's transaction) refuses UPDATE and DELETE of it, and the rows there before
    are byte for byte what they were, same row versions (xmin)."""
    session.execute(text("""
        CREATE FUNCTION pg_temp.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only: % of row %', TG_OP, OLD.id; END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION pg_temp.audit_log_append_only();"""))
    session.commit()

    def snapshot() -> dict[int, tuple[str, str]]:
        return {r.id: (r.xmin, r.body) for r in session.execute(
            text("SELECT id, xmin::text AS xmin, to_jsonb(a)::text AS body FROM audit_log a")).all()}

    before = snapshot()
    monkeypatch.setattr(rederive, "RETRY_PAUSE_S", 0.0)
    with engine.connect() as other:  # first a run whose batches cannot get their locks: incomplete
        tx = other.begin()
        other.execute(text("UPDATE places SET remarks = remarks WHERE id = (SELECT min(id) FROM places)"))
        left = _run(session, lock_timeout="100ms", batch_rows=7)
        tx.rollback()
    done = _run(session, apply_romanized=True, batch_rows=7)  # then one that writes batches and spellings
    assert not left.complete and done.complete and done.batches_written >= 1 and done.applied >= 2
    after = snapshot()
    assert {k: after[k] for k in before} == before
    new = session.execute(text("SELECT action, new -> 'rederive' ->> 'status' AS status FROM audit_log "
                               "WHERE entity_key = 'rederive' AND id > :last ORDER BY id"),
                          {"last": max(before)}).all()
    assert [(a, s) for a, s in new if a == "REDERIVE"] == [
        ("REDERIVE", "running"), ("REDERIVE", "incomplete"), ("REDERIVE", "running"), ("REDERIVE", "done")]
    assert sum(a == "REDERIVE_BATCH" for a, _ in new) == done.batches_written
