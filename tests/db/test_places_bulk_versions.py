"""One version of a place on any date (migration 0017: the exclusion over ``diming_version_box``), in one
transaction and between concurrent connections, refused through the API's 409 path; adjacent versions stay legal."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis_api.app import create_app
from gis_api.settings import Settings

D = dt.date(2030, 1, 1)  # after every demo version: the test's own rows only


def _columns(conn: Connection | Session) -> str:
    """The columns an INSERT may name (not the id, whose default numbers the row; no generated column)."""
    return ", ".join(conn.execute(text(
        "SELECT quote_ident(column_name) FROM information_schema.columns WHERE table_name = 'places' "
        "AND table_schema = current_schema() AND is_generated = 'NEVER' AND column_name <> 'id' "
        "ORDER BY ordinal_position")).scalars())


def _version(conn: Connection | Session, place_id: int, valid_from: dt.date | str, valid_to: dt.date | str | None
             ) -> None:
    """A copy of some demo place's row as a version of ``place_id`` over [valid_from, valid_to)."""
    cols = _columns(conn)
    picked = ", ".join(f"CAST(:{c} AS {t})" if c in ("place_id", "valid_from", "valid_to") else c
                       for c, t in ((c, {"place_id": "bigint"}.get(c, "date")) for c in cols.split(", ")))
    conn.execute(text(f"INSERT INTO places ({cols}) SELECT {picked} FROM places WHERE valid_to IS NULL "
                      "ORDER BY id LIMIT 1"),
                 {"place_id": place_id, "valid_from": valid_from, "valid_to": valid_to})


def _new_place_id(conn: Connection | Session) -> int:
    return int(conn.execute(text("SELECT nextval('place_id_seq')")).scalar_one())


def _refused(session: Session, place_id: int, valid_from: dt.date | str, valid_to: dt.date | str | None
             ) -> IntegrityError:
    with pytest.raises(IntegrityError, match="places_one_version_per_date") as info, session.begin_nested():
        _version(session, place_id, valid_from, valid_to)
    return info.value


def test_overlapping_versions_in_one_transaction_are_refused(session: Session) -> None:
    pid = _new_place_id(session)
    _version(session, pid, D, D + dt.timedelta(days=10))
    _refused(session, pid, D, None)  # same start
    _refused(session, pid, D + dt.timedelta(days=9), None)  # overlaps the last day only
    _refused(session, pid, D - dt.timedelta(days=5), D + dt.timedelta(days=1))  # overlaps the first day only
    _refused(session, pid, D + dt.timedelta(days=3), D + dt.timedelta(days=4))  # inside
    _refused(session, pid, D - dt.timedelta(days=100), None)  # covers it
    # Touching ends are legal (half-open): [D-5, D) and [D+10, open); and other places on the same dates.
    _version(session, pid, D - dt.timedelta(days=5), D)
    _version(session, pid, D + dt.timedelta(days=10), None)
    _version(session, _new_place_id(session), D, None)
    _refused(session, pid, "2100-01-01", None)  # the open version is in force for ever
    # One-day versions, and far dates (infinite ones are refused by the OGC day counts of migration 0015).
    other = _new_place_id(session)
    _version(session, other, D, D + dt.timedelta(days=1))
    _version(session, other, D + dt.timedelta(days=1), D + dt.timedelta(days=2))
    _refused(session, other, D + dt.timedelta(days=1), D + dt.timedelta(days=2))
    far = _new_place_id(session)
    _version(session, far, "0001-01-01", "1900-01-01")
    _version(session, far, "50000-01-01", None)
    _refused(session, far, "1899-12-31", "1900-01-01")
    _refused(session, far, "9999-01-01", "60000-01-01")
    _version(session, far, "1900-01-01", "9999-01-01")
    assert session.execute(text("SELECT count(*) FROM places WHERE place_id = :p"), {"p": pid}).scalar_one() == 3


def test_a_version_moved_onto_another_is_refused(session: Session) -> None:
    """An UPDATE of the dates is checked too (a version re-opened over its successor)."""
    pid = _new_place_id(session)
    _version(session, pid, D, D + dt.timedelta(days=10))
    _version(session, pid, D + dt.timedelta(days=10), None)
    with pytest.raises(IntegrityError, match="places_one_version_per_date"), session.begin_nested():
        session.execute(text("UPDATE places SET valid_to = NULL WHERE place_id = :p AND valid_from = :d"),
                        {"p": pid, "d": D})


def test_the_refusal_is_the_apis_409(session: Session, settings: Settings) -> None:
    """The error handler every route shares answers the violation with 409, naming the constraint."""
    pid = _new_place_id(session)
    _version(session, pid, D, None)
    exc = _refused(session, pid, D + dt.timedelta(days=1), None)
    app = create_app(settings)
    handler = app.exception_handlers[IntegrityError]
    # a thread of its own: an event loop left running in this one by an earlier test (Playwright) refuses asyncio.run
    with ThreadPoolExecutor(1) as pool:
        response: Any = pool.submit(asyncio.run, handler(None, exc)).result()  # type: ignore[arg-type]
    assert response.status_code == 409
    body = response.body.decode()
    assert '"field":"places_one_version_per_date"' in body and "conflict" in body


def test_concurrent_writers_cannot_both_add_an_overlapping_version(engine: Engine) -> None:
    """Two connections, no lock taken by either: the second waits for the first and is refused once it commits."""
    with engine.connect() as a, engine.connect() as b:
        pid = _new_place_id(a)
        a.commit()
        try:
            _version(a, pid, D, None)  # not committed yet
            b.execute(text("SET lock_timeout = '20s'"))
            outcome: dict[str, BaseException | None] = {}

            def second() -> None:
                try:
                    _version(b, pid, D + dt.timedelta(days=30), None)
                    outcome["error"] = None
                except BaseException as exc:  # reported to the main thread
                    outcome["error"] = exc

            t = threading.Thread(target=second)
            t.start()
            t.join(1.0)
            assert t.is_alive(), "the second writer must wait for the first"
            a.commit()
            t.join(20)
            err = outcome.get("error")
            assert isinstance(err, IntegrityError) and "places_one_version_per_date" in str(err)
            assert getattr(err.orig, "pgcode", None) == "23P01"  # exclusion_violation
            b.rollback()
            assert a.execute(text("SELECT count(*) FROM places WHERE place_id = :p"), {"p": pid}).scalar_one() == 1
        finally:
            a.rollback()
            b.rollback()
            a.execute(text("DELETE FROM places WHERE place_id = :p"), {"p": pid})
            a.commit()
