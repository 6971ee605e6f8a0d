"""Bulk import of places: counts, derived columns and division codes, all-or-nothing, and the audit choice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis_api.places import bulk
from gis_api.places.bulk import PlaceRow, import_places, read_csv
from gis_api.places.derive import derived_fields

SOURCE = "test-bulk"
TODAY = dt.date(2025, 6, 1)  # the demo divisions are in force from 2021/2023


def _inside(session: Session, code: str) -> tuple[float, float]:
    """A point surely inside the division ``code`` (its point on surface)."""
    row = session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM divisions "
             "WHERE code = :c AND valid_to IS NULL) s"), {"c": code}).one()
    return float(row[0]), float(row[1])


def _import(session: Session, rows: list[PlaceRow], **kw: Any) -> bulk.ImportReport:
    kw.setdefault("actor", "wang")
    kw.setdefault("reason", "gazetteer import test")
    kw.setdefault("source", SOURCE)
    kw.setdefault("valid_from", TODAY)
    return import_places(session, rows, **kw)


def _places(session: Session) -> list[Any]:
    return list(session.execute(text(
        "SELECT place_id, name, category_code, scope_kind, division_code, romanized, romanized_by, pinyin, "
        "initials, search_keys, grams, zhuanming, tongming, dup_specific, valid_from, "
        "ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y, GeometryType(geom) AS gtype "
        "FROM places WHERE source = :s ORDER BY place_id"),
        {"s": SOURCE}))


def test_import_counts_and_derived_fields(session: Session) -> None:
    x, y = _inside(session, "340122100")
    rows = [
        PlaceRow("店埠镇", "212", lon=x, lat=y),
        PlaceRow("店埠社区居民委员会", "221", lon=str(x + 0.001), lat=str(y)),  # numbers as text (CSV)
        PlaceRow("王村", "242", lon=x, lat=y + 0.001),
        PlaceRow("王村", "242", lon=x, lat=y + 0.002),  # a repeated name is derived once
    ]
    report = _import(session, rows)

    assert report.ok, report.errors
    assert (report.rows_read, report.inserted, report.distinct_names) == (4, 4, 3)
    assert report.rows_per_s > 0
    got = _places(session)
    assert [g.name for g in got] == ["店埠镇", "店埠社区居民委员会", "王村", "王村"]  # place_ids in input order
    assert len({g.place_id for g in got}) == 4
    assert [r.place_id for r in got] == list(range(got[0].place_id, got[0].place_id + 4))
    assert report.place_id_ranges == [(got[0].place_id, got[-1].place_id)]
    for g in got:
        expected = derived_fields(g.name, g.category_code)
        assert (g.pinyin, g.initials, g.romanized, g.zhuanming, g.tongming) == (
            expected["pinyin"], expected["initials"], expected["romanized"], expected["zhuanming"],
            expected["tongming"])
        assert g.search_keys == expected["search_keys"] and g.grams == expected["grams"]
        assert g.valid_from == TODAY and g.romanized_by == "auto"
    assert got[0].scope_kind == 2 and got[1].scope_kind == 3  # from place_categories
    assert got[2].romanized == "Wangcun"  # RZ3: natural villages in one word (category 242)
    assert (round(got[1].x, 7), round(got[1].y, 7)) == (round(x + 0.001, 7), round(y, 7))


def test_division_code_derived_by_point_in_polygon(session: Session) -> None:
    dianbu = _inside(session, "340122100")
    cuozhen = _inside(session, "340122101")
    rows = [
        PlaceRow("甲地", "242", lon=dianbu[0], lat=dianbu[1]),
        PlaceRow("乙地", "242", lon=cuozhen[0], lat=cuozhen[1]),
        PlaceRow("戊地", "242", lon=dianbu[0], lat=dianbu[1], division_code="340122100001"),  # a village inside
    ]
    report = _import(session, rows)

    assert report.ok, report.errors
    assert [g.division_code for g in _places(session)] == ["340122100", "340122101", "340122100001"]
    assert report.divisions_derived == 2


def test_rows_outside_the_county_are_refused(session: Session) -> None:
    """G1: a neighbour's place, or one outside every division held, is named as the row at fault; nothing is
    written (the rows inside the county neither)."""
    dianbu = _inside(session, "340122100")
    yaohai = _inside(session, "340102")  # a neighbouring county
    rows = [
        PlaceRow("甲地", "242", lon=dianbu[0], lat=dianbu[1]),
        PlaceRow("丙地", "242", lon=yaohai[0], lat=yaohai[1]),
        PlaceRow("丁地", "242", lon=100.0, lat=40.0),  # outside every division held
    ]
    report = _import(session, rows)

    assert not report.ok
    assert [(e.row, e.field) for e in report.errors] == [(2, "geometry"), (3, "geometry")]
    assert all("G1" in e.message and "340122" in e.message_zh for e in report.errors)
    assert _places(session) == []


def test_wkt_geometry(session: Session) -> None:
    x, y = _inside(session, "340122100")
    square = f"POLYGON(({x} {y}, {x + 0.001} {y}, {x + 0.001} {y + 0.001}, {x} {y + 0.001}, {x} {y}))"
    report = _import(session, [PlaceRow("店埠广场", "283", wkt=square)])

    assert report.ok, report.errors
    (g,) = _places(session)
    assert g.gtype == "POLYGON" and g.division_code == "340122100"


def test_bad_rows_write_nothing_and_name_every_row(session: Session) -> None:
    x, y = _inside(session, "340122100")
    rows = [
        PlaceRow("好地名", "242", lon=x, lat=y),
        PlaceRow("", "242", lon=x, lat=y),
        PlaceRow("坏类别", "999", lon=x, lat=y),
        PlaceRow("好地名二", "242", lon=x, lat=y),
        PlaceRow("坏经度", "242", lon="东经117度", lat=y),
        PlaceRow("超范围", "242", lon=x, lat=95),
        PlaceRow("坏几何", "242", wkt="POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"),
        PlaceRow("没位置", "242"),
        PlaceRow("坏代码", "242", lon=x, lat=y, division_code="34012"),
    ]
    audit_before = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    report = _import(session, rows)

    assert not report.ok and report.inserted == 0 and report.audit == "none"
    assert [(e.row, e.field) for e in report.errors] == [
        (2, "name"), (3, "category_code"), (5, "lon"), (6, "lat"), (7, "wkt"), (8, "lon"), (9, "division_code")]
    assert "999" in report.errors[1].message and "类别" in report.errors[1].message_zh
    assert "Self-intersection" in report.errors[4].message
    assert _places(session) == []
    assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == audit_before


def test_stated_division_must_exist_and_agree_with_the_location(session: Session) -> None:
    x, y = _inside(session, "340122100")
    rows = [
        PlaceRow("甲地", "242", lon=x, lat=y, division_code="340122100"),
        PlaceRow("乙地", "242", lon=x, lat=y, division_code="340122101"),  # 撮镇镇, but the point is in 店埠镇
        PlaceRow("丙地", "242", lon=x, lat=y, division_code="340122999"),  # no such division
    ]
    report = _import(session, rows)

    assert [(e.row, e.field) for e in report.errors] == [(2, "division_code"), (3, "division_code")]
    assert "340122100" in report.errors[0].message and "店埠镇" in report.errors[0].message_zh
    assert "not a division in force" in report.errors[1].message
    assert _places(session) == []


def test_csv_reader_row_numbers_are_line_numbers(session: Session, tmp_path: Path) -> None:
    x, y = _inside(session, "340122100")
    path = tmp_path / "places.csv"
    path.write_text(
        "名称,类别,经度,纬度,拼写\n"
        f"店埠老街,251,{x},{y},\n"
        f"店埠河,111,{x},{y},Dianbu He\n"
        f"坏点,242,abc,{y},\n",
        encoding="utf-8",
    )
    rows = list(read_csv(path, "名称", "类别", "经度", "纬度", romanized_field="拼写"))
    assert [r.row for r in rows] == [2, 3, 4]

    bad = _import(session, rows)
    assert [(e.row, e.field) for e in bad.errors] == [(4, "lon")]

    good = _import(session, rows[:2])
    assert good.ok and good.inserted == 2
    got = _places(session)
    assert [(g.name, g.romanized, g.romanized_by) for g in got] == [
        ("店埠老街", derived_fields("店埠老街", "251")["romanized"], "auto"),
        ("店埠河", "Dianbu He", "wang"),  # an officer's spelling wins and is attributed (RZ6)
    ]
    with pytest.raises(ValueError, match="no column"):
        list(read_csv(path, "name", "类别", "经度", "纬度"))


def test_small_import_audits_every_row(session: Session) -> None:
    x, y = _inside(session, "340122100")
    report = _import(session, [PlaceRow("甲地", "242", lon=x, lat=y), PlaceRow("乙地", "242", lon=x, lat=y)])

    assert report.audit == "rows"
    trail = session.execute(text(
        "SELECT actor, reason, action, entity_key FROM audit_log WHERE table_name = 'places' "
        "AND txid = txid_current() ORDER BY id")).all()
    ids = [str(g.place_id) for g in _places(session)]
    assert [tuple(t) for t in trail] == [("wang", "gazetteer import test", "INSERT", i) for i in ids]


def test_summary_audit_writes_one_row_and_restores_the_trigger(session: Session) -> None:
    x, y = _inside(session, "340122100")
    rows = [PlaceRow(f"地名{i}", "242", lon=x, lat=y) for i in range(5)]
    report = _import(session, rows, audit_mode="summary")

    assert report.audit == "summary" and report.inserted == 5
    trail = session.execute(text(
        "SELECT actor, reason, action, entity_key, new FROM audit_log WHERE table_name = 'places' "
        "AND txid = txid_current() ORDER BY id")).all()
    assert len(trail) == 1
    actor, reason, action, key, new = trail[0]
    assert (actor, reason, action, key) == ("wang", "gazetteer import test", "IMPORT", "import")
    ids = [g.place_id for g in _places(session)]
    assert new["import"]["rows"] == 5 and new["import"]["source"] == SOURCE
    assert new["import"]["place_id_ranges"] == [[min(ids), max(ids)]]
    enabled = session.execute(text(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = 'places_audit'")).scalar_one()
    assert enabled == "O"  # back on for every later write in the transaction
    session.execute(text("UPDATE places SET remarks = 'x' WHERE place_id = :p"), {"p": ids[0]})
    assert session.execute(text(
        "SELECT count(*) FROM audit_log WHERE table_name = 'places' AND entity_key = :k AND action = 'UPDATE'"),
        {"k": str(ids[0])}).scalar_one() == 1


def test_auto_audit_mode_switches_to_summary_above_the_threshold(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "AUDIT_ROWS_MAX", 2)
    x, y = _inside(session, "340122100")
    small = _import(session, [PlaceRow("甲地", "242", lon=x, lat=y)])
    big = _import(session, [PlaceRow(f"地名{i}", "242", lon=x, lat=y) for i in range(3)])
    assert (small.audit, big.audit) == ("rows", "summary")


def test_parallel_derivation_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "PARALLEL_MIN_NAMES", 10)
    keys = [(f"{a}{b}村", "242", None) for a in "东南西北中" for b in "山水田林湖"] + [("", "242", None)]
    parallel = bulk.derive_all(keys, workers=2)
    serial = bulk.derive_all(keys, workers=1)
    assert parallel == serial and len(parallel) == 26
    assert parallel[("东山村", "242", None)][bulk.DERIVED.index("pinyin")] == "dongshancun"


def test_place_ids_follow_the_row_numbers(session: Session) -> None:
    """The ids are taken in row-number order before the insert joins the rows with their names (a hash join
    returns them in its own order): 3,000 rows given in reverse, the lowest id goes to row 1."""
    x, y = _inside(session, "340122100")
    rows = [PlaceRow(f"序{n}村", "242", lon=x, lat=y, row=n) for n in range(3000, 0, -1)]
    report = _import(session, rows)
    assert report.ok, report.errors
    got = _places(session)
    assert [g.name for g in got] == [f"序{n}村" for n in range(1, 3001)]
    assert report.place_id_ranges == [(got[0].place_id, got[-1].place_id)]
    assert got[-1].place_id - got[0].place_id == 2999


def test_rows_are_stored_by_division_and_keep_their_ids_in_row_order(session: Session) -> None:
    """An import is written to the table in division-code order (a county's or township's rows share pages, so a
    search within it reads few of them), while the ids still follow the rows: 40 rows alternating between
    two townships, the higher code given first."""
    high, low = "340122101", "340122100"
    at = {code: _inside(session, code) for code in (high, low)}
    given = [high if n % 2 else low for n in range(1, 41)]
    rows = [PlaceRow(f"交替{n}村", "242", lon=at[code][0], lat=at[code][1], row=n)
            for n, code in enumerate(given, start=1)]
    report = _import(session, rows)
    assert report.ok, report.errors
    got = _places(session)
    assert [g.name for g in got] == [f"交替{n}村" for n in range(1, 41)]  # ids in row order
    assert [g.division_code for g in got] == given
    # The row id is taken as each row is written: its order is the order of writing (which page a row lands on
    # is PostgreSQL's choice: free space left by earlier tests may come before or after)
    written = [r.division_code for r in session.execute(text(
        "SELECT division_code FROM places WHERE source = :s ORDER BY id"), {"s": SOURCE})]
    assert written == [low] * 20 + [high] * 20


@pytest.fixture
def bad_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A name whose fields cannot be derived (in this process: forked workers inherit it, spawned ones not)."""
    real = derived_fields

    def failing(name: str, *a: Any) -> dict[str, Any]:
        if name == "坏名村":
            raise ValueError("no reading")
        return real(name, *a)

    monkeypatch.setattr(bulk, "derived_fields", failing)
    return "坏名村"


def test_a_name_that_cannot_be_derived_is_a_row_error_and_nothing_is_written(session: Session, bad_name: str) -> None:
    """The names are derived while the load copies and locates the rows; a name that fails is still a row error
    before anything reaches ``places``."""
    x, y = _inside(session, "340122100")
    rows = [PlaceRow("好名村", "242", lon=x, lat=y), PlaceRow("坏名村", "242", lon=x, lat=y),
            PlaceRow("又一村", "242", lon=x, lat=y)]
    report = _import(session, rows, workers=1)
    assert not report.ok and report.inserted == 0
    assert [(e.row, e.field) for e in report.errors] == [(2, "name")]
    assert "cannot derive the name's fields: ValueError: no reading" in report.errors[0].message
    assert _places(session) == []


def test_names_derived_by_the_workers_reach_their_own_rows(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' results are copied as they arrive, chunk by chunk, and numbered in the order the names were
    first seen; every row must still get its own name's fields (a numbering off by one would swap them)."""
    monkeypatch.setattr(bulk, "PARALLEL_MIN_NAMES", 10)
    monkeypatch.setattr(bulk, "STREAM_CHUNK", 7)  # several chunks per worker
    x, y = _inside(session, "340122100")
    names = [f"{a}{b}{c}" for a in "东南西北中" for b in "山水田林" for c in "村郢湾"]  # 60 names
    rows = [PlaceRow(n, "242", lon=x, lat=y) for n in names]
    rows += [PlaceRow(n, "242", lon=x, lat=y) for n in reversed(names[::3])]  # repeats, in another order
    report = _import(session, rows, workers=2)
    assert report.ok, report.errors
    assert (report.inserted, report.distinct_names) == (80, 60)
    assert "derive_wait" in report.phases and "copy_names" in report.phases
    got = _places(session)
    assert [p.name for p in got] == [r.name for r in rows]
    for p in got:
        want = derived_fields(p.name, "242", None)
        assert (p.zhuanming, p.tongming, p.pinyin, p.initials, p.search_keys, p.grams, p.dup_specific) == (
            want["zhuanming"], want["tongming"], want["pinyin"], want["initials"], want["search_keys"],
            want["grams"], want["dup_specific"]), p.name


def test_a_refused_load_stops_the_derive_workers(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "PARALLEL_MIN_NAMES", 10)
    x, y = _inside(session, "340122100")
    rows = [PlaceRow(f"{a}{b}村", "242", lon=x, lat=y) for a in "东南西北中" for b in "山水田林湖"]
    rows.append(PlaceRow("县外村", "242", lon=100.0, lat=30.0))  # outside the county: refused in load
    prep = bulk.prepare(rows, ["242"], workers=2)
    assert prep.derivation is not None and prep.derivation._pool is not None  # workers started
    spool = prep.derivation._spool
    assert spool and Path(spool).is_dir()  # the workers write the names' COPY text there
    report = bulk.load(session, prep, actor="wang", reason="test", source=SOURCE, valid_from=TODAY)
    assert [(e.row, e.field) for e in report.errors] == [(26, "geometry")]
    assert prep.derivation._pool is None  # shut down, not left running
    assert not Path(spool).exists()  # and their files removed
    assert _places(session) == []


def test_a_worker_writes_its_names_numbered_and_returns_those_that_failed(tmp_path: Path, bad_name: str) -> None:
    """What a worker does with ``spool`` (here in this process): COPY lines numbered from its chunk's first name,
    none for a name that cannot be derived — that one comes back with its reason."""
    keys = [("好名村", "242", None), (bad_name, "242", None), ("又一村", "242", None)]
    path, failed = bulk._derive_to_file(keys, 40, str(tmp_path / "40.copy"))
    assert failed == [((bad_name, "242", None), "ValueError: no reading")]
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["40", "好名"], ["42", "又一"]]
    assert len(lines[0].split("\t")) == 1 + len(bulk.DERIVED)


# -- large imports: indexes dropped and re-created in the transaction (issue 12) ---------------------------------

_INDEXES = ("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'places'::regclass ORDER BY 1")


def _overlapping_version(session: Session, place_id: int, valid_from: dt.date) -> None:
    """Insert a copy of the place's row as a second version from ``valid_from`` (it overlaps the first)."""
    session.execute(text("CREATE TEMP TABLE _copy ON COMMIT DROP AS SELECT * FROM places WHERE place_id = :p"),
                    {"p": place_id})
    session.execute(text("UPDATE _copy SET id = (SELECT max(id) + 1 FROM places), valid_from = :d"), {"d": valid_from})
    cols = ", ".join(session.scalars(text(  # not the generated geom_pt (migration 0016): PostgreSQL computes it
        "SELECT quote_ident(column_name) FROM information_schema.columns WHERE table_name = 'places' "
        "AND table_schema = current_schema() AND is_generated = 'NEVER' ORDER BY ordinal_position")))
    session.execute(text(f"INSERT INTO places ({cols}) SELECT {cols} FROM _copy"))


def _index_set(session: Session) -> list[tuple[str, str]]:
    return [tuple(r) for r in session.execute(text(_INDEXES))]


def test_index_rebuild_keeps_every_index_and_the_exclusion(session: Session) -> None:
    before = _index_set(session)
    assert len(before) >= 10 and any("places_one_version_per_date" in n for n, _d in before)
    x, y = _inside(session, "340122100")
    rows = [PlaceRow(f"新地{i}", "242", lon=x + i * 1e-5, lat=y) for i in range(20)]
    report = _import(session, rows, rebuild_indexes=True, audit_mode="summary")

    assert report.ok and report.indexes_rebuilt and report.inserted == 20
    assert _index_set(session) == before  # same names, same definitions
    assert session.execute(text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'places_one_version_per_date'")
    ).scalar_one().startswith("EXCLUDE USING gist")
    new = session.execute(text(
        "SELECT new FROM audit_log WHERE action = 'IMPORT' AND txid = txid_current()")).scalar_one()
    assert new["import"]["rows"] == 20 and new["import"]["indexes_rebuilt"] is True
    # The indexes answer queries again, and the exclusion refuses an overlapping version of an imported place.
    assert session.execute(text("SELECT count(*) FROM places WHERE search_keys @> ARRAY['新地7']")).scalar_one() == 1
    pid = _places(session)[0].place_id
    with pytest.raises(IntegrityError, match="places_one_version_per_date"), session.begin_nested():
        _overlapping_version(session, pid, TODAY + dt.timedelta(days=3))


def test_index_re_creation_checks_the_exclusion_over_every_row(session: Session) -> None:
    """While the constraint is dropped nothing stops an overlap; re-adding it checks all rows and refuses."""
    x, y = _inside(session, "340122100")
    _import(session, [PlaceRow("甲地", "242", lon=x, lat=y)])
    pid = _places(session)[0].place_id
    with pytest.raises(IntegrityError, match="places_one_version_per_date"), session.begin_nested():
        defs = bulk._drop_indexes(session)
        assert defs is not None and any(d.conname for d in defs)
        _overlapping_version(session, pid, TODAY + dt.timedelta(days=3))  # accepted: nothing checks now
        bulk._create_indexes(session, defs)


def test_a_failed_re_creation_is_an_error_and_the_rollback_restores_everything(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _index_set(session)
    x, y = _inside(session, "340122100")

    def broken(s: Session, defs: Any) -> None:
        s.execute(text("CREATE INDEX broken ON places (no_such_column)"))

    monkeypatch.setattr(bulk, "_create_indexes", broken)
    with session.begin_nested() as sp:
        report = _import(session, [PlaceRow("甲地", "242", lon=x, lat=y)], rebuild_indexes=True)
        assert not report.ok and report.errors[0].field == "place_id"
        assert "no_such_column" in report.errors[0].message
        sp.rollback()  # the caller rolls back a failed import (CLI, API)
    assert _index_set(session) == before and _places(session) == []


def test_index_rebuild_falls_back_when_the_table_is_busy(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader holding places keeps the lock from being granted in time: insert row by row instead."""
    monkeypatch.setattr(bulk, "REBUILD_LOCK_TIMEOUT", "200ms")
    x, y = _inside(session, "340122100")
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM places"))  # ACCESS SHARE until this transaction ends
        report = _import(session, [PlaceRow("甲地", "242", lon=x, lat=y)], rebuild_indexes=True)
        reader.rollback()
    assert report.ok and not report.indexes_rebuilt and report.inserted == 1
    assert session.execute(text("SELECT current_setting('lock_timeout')")).scalar_one() == "0"


def test_rebuild_only_when_it_pays(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    table = session.execute(text("SELECT count(*) FROM places")).scalar_one()
    monkeypatch.setattr(bulk, "REBUILD_MIN_ROWS", 1)
    session.execute(text("ANALYZE places"))
    assert bulk._rebuild_pays(session, table + 10)
    assert not bulk._rebuild_pays(session, max(1, table // 2))
    monkeypatch.setattr(bulk, "REBUILD_MIN_ROWS", 10 * table + 100)
    assert not bulk._rebuild_pays(session, 10 * table + 99)


def test_categories_given_from_outside_are_checked_again_on_load(session: Session) -> None:
    """The CLI reads the categories before its write transaction; a code gone by then is a row error."""
    x, y = _inside(session, "340122100")
    prep = bulk.prepare([PlaceRow("甲地", "242", lon=x, lat=y), PlaceRow("乙地", "999", lon=x, lat=y)],
                        {"242", "999"})
    assert prep.report.ok
    report = bulk.load(session, prep, actor="wang", reason="r", source=SOURCE, valid_from=TODAY)
    assert [(e.row, e.field) for e in report.errors] == [(2, "category_code")]
    assert report.inserted == 0


def test_index_rebuild_drops_and_re_checks_the_foreign_keys(session: Session) -> None:
    """The rebuild also drops the category foreign key (a trigger query per inserted row) and re-adds it, which
    checks every row at once: a category that vanished meanwhile is refused, and the rollback restores it."""
    fks = "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'places'::regclass " \
          "AND contype = 'f' ORDER BY conname"
    before = [tuple(r) for r in session.execute(text(fks))]
    assert before and any("place_categories" in d for _n, d in before)
    x, y = _inside(session, "340122100")
    report = _import(session, [PlaceRow(f"新地{i}", "242", lon=x + i * 1e-5, lat=y) for i in range(5)],
                     rebuild_indexes=True, audit_mode="summary")
    assert report.ok and report.indexes_rebuilt
    assert [tuple(r) for r in session.execute(text(fks))] == before
    # The exclusion index is as the migrations define it (the build's buffering option is reset).
    assert session.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'places_one_version_per_date'")
                           ).scalar_one() is None
    with pytest.raises(IntegrityError, match="fk_places_category_code"), session.begin_nested():
        defs = bulk._drop_indexes(session)
        assert defs is not None and any(d.condef and d.condef.startswith("FOREIGN KEY") for d in defs)
        session.execute(text("UPDATE places SET category_code = 'no-such' WHERE place_id = :p"),
                        {"p": _places(session)[0].place_id})  # accepted: nothing checks now
        bulk._create_indexes(session, defs)
    assert [tuple(r) for r in session.execute(text(fks))] == before


_OLD_LOCATE = """
SELECT t.row_no, loc.code FROM _place_import t
CROSS JOIN LATERAL (
    SELECT CASE WHEN t.wkb IS NOT NULL THEN ST_SetSRID(ST_GeomFromWKB(decode(t.wkb, 'hex')), 4490)
                WHEN t.lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4490) END AS geom) g
CROSS JOIN LATERAL (
    SELECT COALESCE(
        (SELECT p.code FROM _place_import_divisions p WHERE p.township AND g.geom IS NOT NULL
           AND ST_Intersects(p.geom, ST_PointOnSurface(g.geom)) ORDER BY p.code LIMIT 1),
        (SELECT p.code FROM _place_import_divisions p WHERE NOT p.township AND g.geom IS NOT NULL
           AND ST_Intersects(p.geom, ST_PointOnSurface(g.geom)) ORDER BY p.code LIMIT 1)) AS code) loc
ORDER BY t.row_no"""


def test_set_based_locate_finds_what_the_per_row_subqueries_found(session: Session) -> None:
    """One probe per row (township first, then the lowest code; a point is its own point on surface) gives the
    division the two per-row subqueries (township, else county, with ST_PointOnSurface) gave: points in each
    township, on a township's edge, in the county outside every township piece, outside everything, a polygon,
    and a row with no location."""
    codes = [str(c) for c in session.scalars(text(
        "SELECT code FROM divisions WHERE level IN ('township', 'county') AND geom IS NOT NULL "
        "AND valid_to IS NULL ORDER BY code"))]
    pts = [_inside(session, c) for c in codes]
    edge = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1) AS p "
        "FROM divisions WHERE code = '340122100' AND valid_to IS NULL) s")).one()
    rows: list[tuple[float | None, float | None, str | None]] = [(x, y, None) for x, y in pts]
    rows += [(float(edge[0]), float(edge[1]), None), (100.0, 40.0, None)]
    x, y = pts[0]
    rows.append((None, None, shapely.to_wkb(shapely.box(x, y, x + 0.01, y + 0.01), hex=True)))
    rows.append((None, None, None))
    session.execute(text(bulk._CREATE_STAGE))
    for i, (lon, lat, wkb) in enumerate(rows, start=1):
        session.execute(text("INSERT INTO _place_import VALUES (:i, 'x', '242', 'auto', :lon, :lat, :wkb, NULL, 0)"),
                        {"i": i, "lon": lon, "lat": lat, "wkb": wkb})
    session.execute(text(bulk._DIVISION_PARTS), {"on": TODAY})
    session.execute(text(bulk._LOCATE))
    new = [tuple(r) for r in session.execute(text(
        "SELECT row_no, derived_division FROM _place_import_located ORDER BY row_no"))]
    old = [tuple(r) for r in session.execute(text(_OLD_LOCATE))]
    assert new == old
    assert sum(1 for _r, c in new if c is not None) >= len(codes)  # the points inside were located
    session.execute(text(f"DROP TABLE {bulk._TEMP_TABLES}"))
