"""The row counts kept with the data (migration 0015): ``numberMatched`` of a whole collection on a date, exact
without reading the table. The kept count must equal ``count(*)`` of the rows in force on every date after
inserts, future versions, retirements, deletes, rollbacks (whole and to a savepoint), a TRUNCATE, and many
transactions committing concurrently — and a transaction reads its own writes in it before it commits.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

ITEMS = "/ogc/collections/places/items"
OFFSETS = (-4000, -400, -1, 0, 1, 3, 5, 10, 1000)  # days from today the counts are compared on
BASE = 9_000_000  # place ids of the rows these tests add (removed afterwards)


def mismatches(c: Connection, table: str = "places") -> list[tuple[int, int, int]]:
    """(day offset, kept count, count(*)) wherever they differ, as ``c`` sees the data."""
    out = []
    for off in OFFSETS:
        kept, real = c.execute(text(
            f"SELECT ogc_row_count(:t, current_date + :o), (SELECT count(*) FROM {table} "
            "WHERE valid_from <= current_date + :o AND (valid_to IS NULL OR valid_to > current_date + :o))"),
            {"t": table, "o": off}).one()
        if kept != real:
            out.append((off, kept, real))
    return out


def _columns(c: Connection) -> str:
    skip = {"id", "place_id", "valid_from", "valid_to", "version", "created_at", "updated_at"}
    cols = c.execute(text("SELECT column_name FROM information_schema.columns WHERE table_name = 'places' "
                          "AND table_schema = current_schema() AND is_generated = 'NEVER' "  # not geom_pt
                          "ORDER BY ordinal_position")).scalars()
    return ", ".join(col for col in cols if col not in skip)


def add_place(c: Connection, pid: int, start: int = 0, end: int | None = None) -> None:
    """A copy of the first place under a new place id, in force from today + ``start`` to today + ``end``."""
    cols = _columns(c)
    c.execute(text(
        f"INSERT INTO places (place_id, valid_from, valid_to, {cols}) SELECT :pid, current_date + :s, "
        f"current_date + CAST(:e AS integer), {cols} FROM places WHERE id = (SELECT min(id) FROM places)"),
        {"pid": pid, "s": start, "e": end})


@pytest.fixture
def cleanup(engine: Engine) -> Iterator[None]:
    yield
    with engine.begin() as c:
        c.execute(text("DELETE FROM places WHERE place_id >= :b"), {"b": BASE})
        assert mismatches(c) == []


def test_a_transaction_counts_its_own_writes_and_rollbacks_leave_nothing(engine: Engine, cleanup: None) -> None:
    with engine.connect() as c:
        assert mismatches(c) == []
        before = c.execute(text("SELECT delta FROM ogc_row_counts ORDER BY tbl, day")).scalars().all()
        c.rollback()
        tx = c.begin()
        for i in range(3):
            add_place(c, BASE + i)
        add_place(c, BASE + 10, start=5)  # a future version
        add_place(c, BASE + 11, start=-400, end=3)  # retires in three days
        assert mismatches(c) == []
        c.execute(text("UPDATE places SET valid_to = current_date + 1 WHERE place_id = :p"), {"p": BASE + 1})
        c.execute(text("UPDATE places SET remarks = 'x' WHERE place_id = :p"), {"p": BASE + 2})  # no date moves
        assert mismatches(c) == []
        sp = c.begin_nested()
        add_place(c, BASE + 20)
        c.execute(text("DELETE FROM places WHERE place_id = :p"), {"p": BASE})
        assert mismatches(c) == []
        sp.rollback()
        assert mismatches(c) == []
        c.execute(text("DELETE FROM places WHERE place_id = :p"), {"p": BASE + 2})
        assert mismatches(c) == []
        tx.rollback()
        assert mismatches(c) == []
        assert c.execute(text("SELECT delta FROM ogc_row_counts ORDER BY tbl, day")).scalars().all() == before


def test_committed_writes_keep_the_count_exact(engine: Engine, cleanup: None) -> None:
    def add_four(c: Connection) -> None:
        for i in range(4):
            add_place(c, BASE + i, start=-10 * i)

    steps: list[Callable[[Connection], object]] = [
        add_four,
        lambda c: add_place(c, BASE + 10, start=5),
        lambda c: add_place(c, BASE + 11, start=-400, end=3),
        lambda c: c.execute(text("UPDATE places SET valid_to = current_date WHERE place_id = :p"), {"p": BASE + 3}),
        lambda c: c.execute(text("UPDATE places SET valid_from = current_date - 7 WHERE place_id = :p"),
                            {"p": BASE + 10}),
        lambda c: c.execute(text("DELETE FROM places WHERE place_id = :p"), {"p": BASE + 1}),
    ]
    for step in steps:
        with engine.begin() as c:
            step(c)
        with engine.connect() as c:
            assert mismatches(c) == []
            assert c.execute(text("SELECT current_setting('diming.ogc_counts', true)")).scalar() in (None, "")


def test_a_truncate_is_recounted_at_commit(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(text("CREATE TEMP TABLE keep_markers ON COMMIT PRESERVE ROWS AS SELECT * FROM boundary_markers"))
        n = c.execute(text("SELECT count(*) FROM keep_markers")).scalar_one()
        c.execute(text("TRUNCATE boundary_markers"))
        assert mismatches(c, "boundary_markers") == []  # its own view: 0
        c.execute(text("INSERT INTO boundary_markers SELECT * FROM keep_markers LIMIT 5"))
        assert mismatches(c, "boundary_markers") == []
    with engine.connect() as c:
        assert mismatches(c, "boundary_markers") == []
        assert c.execute(text("SELECT ogc_row_count('boundary_markers', '9999-01-01')")).scalar_one() <= 5
    with engine.begin() as c:
        c.execute(text("DELETE FROM boundary_markers"))
        c.execute(text("INSERT INTO boundary_markers SELECT * FROM keep_markers"))
        c.execute(text("DROP TABLE keep_markers"))
    with engine.connect() as c:
        assert mismatches(c, "boundary_markers") == []
        assert c.execute(text("SELECT count(*) FROM boundary_markers")).scalar_one() == n


def test_interleaved_writers_lose_no_count(engine: Engine, cleanup: None) -> None:
    """Two transactions add rows on the same day and commit in the opposite order of their writes: both counts
    land (the increments are relative, applied at commit under the row's lock)."""
    with engine.connect() as a, engine.connect() as b:
        ta, tb = a.begin(), b.begin()
        add_place(a, BASE)
        add_place(b, BASE + 1)
        add_place(b, BASE + 2)
        c_b = b.execute(text("SELECT ogc_row_count('places', current_date)")).scalar_one()
        c_a = a.execute(text("SELECT ogc_row_count('places', current_date)")).scalar_one()
        assert c_b == c_a + 1  # each sees its own rows only
        tb.commit()
        ta.commit()
    with engine.connect() as c:
        assert mismatches(c) == []


def test_concurrent_transactions_keep_the_count_exact(engine: Engine, cleanup: None) -> None:
    """Eight threads, each many short transactions writing places and facilities in varying orders (adds,
    retirements, deletes; some rolled back): no deadlock, no lost count."""
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        rnd = random.Random(w)
        try:
            with engine.connect() as c:
                for i in range(12):
                    pid = BASE + 1000 * (w + 1) + i
                    tx = c.begin()
                    # SET LOCAL: a session-wide setting would stay on the pooled connection for later tests
                    c.execute(text("SET LOCAL lock_timeout = '20s'"))
                    ops = ["add", "future", "facility"]
                    rnd.shuffle(ops)
                    for op in ops:
                        if op == "add":
                            add_place(c, pid, start=rnd.choice((-30, 0)))
                        elif op == "future":
                            add_place(c, pid + 500, start=rnd.choice((1, 5)), end=rnd.choice((None, 10)))
                        else:
                            c.execute(text("UPDATE facilities SET remarks = remarks WHERE facility_id = "
                                           "(SELECT min(facility_id) FROM facilities)"))
                    if i % 3 == 1:
                        c.execute(text("UPDATE places SET valid_to = current_date + 3 WHERE place_id = :p"),
                                  {"p": pid - 1})
                    if i % 4 == 2:
                        c.execute(text("DELETE FROM places WHERE place_id = :p"), {"p": pid - 2})
                    if i % 5 == 4:
                        tx.rollback()
                    else:
                        tx.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as c:
        assert mismatches(c) == []
        assert mismatches(c, "facilities") == []
        assert c.execute(text("SELECT count(*) FROM ogc_change_flush")).scalar_one() == 0


def test_number_matched_is_the_exact_count(client: TestClient, engine: Engine) -> None:
    with engine.connect() as c:
        n_today, n_past = c.execute(text(
            "SELECT count(*) FILTER (WHERE valid_from <= current_date AND (valid_to IS NULL "
            "OR valid_to > current_date)), count(*) FILTER (WHERE valid_from <= DATE '2020-01-01' "
            "AND (valid_to IS NULL OR valid_to > DATE '2020-01-01')) FROM places")).one()
    r = client.get(f"{ITEMS}?limit=2")
    assert r.status_code == 200 and r.json()["numberMatched"] == n_today
    r = client.get(f"{ITEMS}?limit=2&datetime=2020-01-01")
    assert r.status_code == 200 and r.json()["numberMatched"] == n_past
