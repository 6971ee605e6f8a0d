"""GET of a place, a division and a boundary line on the read pool (gis_api/fast_reads.py): the same bytes, ETags,
404s and access answers as the statement on a SQLAlchemy session — which is what the write routes (and, before,
these GETs) answer with.

The other API tests run every request on their own session (``get_session`` overridden), so they exercise the
statements but not the asyncpg path; here an app without that override reads the suite's committed demo data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
from anyio.from_thread import BlockingPortal
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.app import create_app
from gis_api.boundaries import lines
from gis_api.boundaries.settings import BoundarySettings
from gis_api.divisions import service as divisions
from gis_api.errors import DimingError
from gis_api.ogc.reader import PoolReader
from gis_api.places import service as places
from gis_api.settings import Settings


def _pooled(settings: Settings, **auth_overrides: object) -> Iterator[TestClient]:
    s = replace(settings, auth=settings.auth.model_copy(update=auth_overrides)) if auth_overrides else settings
    app = create_app(s)
    with TestClient(app, raise_server_exceptions=False) as client:  # one event loop: the pool lives on it
        yield client
        for name in ("ogc_reader", "ogc_generic_reader"):
            r = getattr(app.state, name, None)
            if isinstance(r, PoolReader):
                cast(BlockingPortal, client.portal).call(r.close)  # set while the client is open
    app.state.engine.dispose()


@pytest.fixture
def pooled(settings: Settings) -> Iterator[TestClient]:
    yield from _pooled(settings)


def _expected(fn: object, *args: object) -> tuple[int, str, str | None]:
    """(status, body, ETag) the session statement gives (``service.feature``), or its 404."""
    try:
        body, tag = fn(*args)  # type: ignore[operator]
    except DimingError as exc:
        return exc.status, exc.message, None
    return 200, body, tag


def test_same_bytes_and_etag_as_the_session_statement(pooled: TestClient, session: Session) -> None:
    today = clock.today()
    pids = list(session.scalars(text("SELECT place_id FROM places WHERE valid_to IS NULL ORDER BY place_id LIMIT 5")))
    codes = list(session.scalars(text("SELECT code FROM divisions WHERE valid_to IS NULL ORDER BY code LIMIT 4")))
    line_ids = list(session.scalars(text("SELECT line_id FROM boundary_lines ORDER BY line_id LIMIT 4")))
    assert pids and codes and line_ids
    bset = BoundarySettings()
    cases: list[tuple[str, Callable[..., tuple[str, str]], tuple[Any, ...]]] = [
        (f"/api/v1/places/{p}", places.feature, (session, p, today)) for p in pids]
    cases += [(f"/api/v1/divisions/{c}", divisions.feature, (session, c, today)) for c in codes]
    cases += [(f"/api/v1/boundaries/{b}", lines.feature, (session, b, today, bset)) for b in line_ids]
    for path, fn, args in cases:
        r = pooled.get(path)
        status, body, tag = _expected(fn, *args)
        assert r.status_code == status == 200, (path, r.text)
        assert r.text == body, path  # byte for byte: PostGIS builds the text on either driver
        assert r.headers["etag"] == tag, path
        assert r.headers["content-type"] == "application/geo+json"
    # it did run on the read pool, not on a session
    assert isinstance(pooled.app.state.ogc_generic_reader, PoolReader)  # type: ignore[attr-defined]


def test_not_found_answers(pooled: TestClient, session: Session) -> None:
    long_ago = dt.date(1900, 1, 1)
    line_id = session.scalar(text("SELECT line_id FROM boundary_lines ORDER BY line_id LIMIT 1"))
    pid = session.scalar(text("SELECT place_id FROM places ORDER BY place_id LIMIT 1"))
    bset = BoundarySettings()
    cases = [
        ("/api/v1/places/987654321", places.feature, (session, 987654321, clock.today())),
        (f"/api/v1/places/{pid}?as_of=1900-01-01", places.feature, (session, pid, long_ago)),
        ("/api/v1/divisions/999999", divisions.feature, (session, "999999", clock.today())),
        ("/api/v1/boundaries/no-such-line", lines.feature, (session, "no-such-line", clock.today(), bset)),
        (f"/api/v1/boundaries/{line_id}?as_of=1900-01-01", lines.feature, (session, line_id, long_ago, bset)),
    ]
    for path, fn, args in cases:
        r = pooled.get(path)
        status, message, _tag = _expected(fn, *args)
        assert (r.status_code, r.json()["message"]) == (status, message), path
        assert status == 404
    # beyond bigint: no such place (asyncpg would refuse the parameter), as the session statement answered
    huge = 2**63
    r = pooled.get(f"/api/v1/places/{huge}")
    assert r.status_code == 404 and r.json()["field"] == "id", r.text
    assert pooled.get("/api/v1/places/12?as_of=not-a-date").status_code == 422


def test_access(settings: Settings, engine: Engine, pooled: TestClient) -> None:
    code = "340122"
    assert pooled.get(f"/api/v1/divisions/{code}").status_code == 200
    bad = {"Authorization": "Bearer not-a-token"}
    r = pooled.get(f"/api/v1/divisions/{code}", headers=bad)
    assert r.status_code == 401 and r.json()["message"] == "invalid token", r.text  # as deps.optional_user
    assert pooled.get(f"/api/v1/divisions/{code}", headers={"Authorization": "Basic abc"}).status_code == 200
    name = "fast_reads_viewer"
    with Session(engine) as s:  # the pooled app reads committed rows only: a committed user, removed below
        auth.create_user(s, name, "correct horse battery", ["viewer"])
        token, _rec, _u = auth.login(s, name, "correct horse battery", 1)
        s.commit()
    try:
        for client in _pooled(settings, public_read=False):
            for path in (f"/api/v1/divisions/{code}", "/api/v1/places/1", "/api/v1/boundaries/x"):
                r = client.get(path)
                assert r.status_code == 401 and "DIMING_PUBLIC_READ" in r.json()["message"], (path, r.text)
            r = client.get(f"/api/v1/divisions/{code}", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
    finally:
        with Session(engine) as s:
            s.execute(text("DELETE FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE username = :u)"),
                      {"u": name})
            s.execute(text("DELETE FROM users WHERE username = :u"), {"u": name})
            s.commit()


def test_a_patch_locks_its_place_once(client: TestClient, session: Session,
                                      login: Callable[..., dict[str, str]]) -> None:
    """The officer's PATCH (corrections.patch_place) hands its locked row to service.update: one advisory lock and
    one row lock per write, not two of each — and still 412 for a stale ETag."""
    h = login("officer")
    pid = session.scalar(text("SELECT place_id FROM places WHERE valid_to IS NULL ORDER BY place_id LIMIT 1"))
    url = f"/api/v1/places/{pid}"
    tag = client.get(url).headers["etag"]
    seen: list[str] = []

    def count(_conn: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    conn = session.connection()
    event.listen(conn, "before_cursor_execute", count)
    try:
        r = client.patch(url, json={"history": "合成示例：一次更正", "reason": "test"}, headers={**h, "If-Match": tag})
    finally:
        event.remove(conn, "before_cursor_execute", count)
    assert r.status_code == 200, r.text
    assert sum("pg_advisory_xact_lock" in s for s in seen) == 1
    assert sum("FOR UPDATE" in s and "FROM places" in s for s in seen) == 1
    stale = client.patch(url, json={"history": "再改", "reason": "test"}, headers={**h, "If-Match": tag})
    assert stale.status_code == 412 and stale.headers["etag"] == r.headers["etag"]


def test_a_line_get_reads_the_boundary_settings_once_per_app(pooled: TestClient, session: Session,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """BoundarySettings() parsed the environment on every line GET — half the route's Python time under the mixed
    load (py-spy); now once per app, and the answer is the same."""
    from gis_api.boundaries import routes as boundary_routes

    made: list[BoundarySettings] = []

    def counted() -> BoundarySettings:
        made.append(BoundarySettings())
        return made[-1]

    monkeypatch.setattr(boundary_routes, "load_boundary_settings", counted)
    line_id = session.scalar(text("SELECT line_id FROM boundary_lines ORDER BY line_id LIMIT 1"))
    bodies = {pooled.get(f"/api/v1/boundaries/{line_id}").text for _ in range(3)}
    assert len(made) == 1 and len(bodies) == 1
    body, _tag = lines.feature(session, line_id, clock.today(), BoundarySettings())
    assert bodies == {body}


def test_a_patch_checks_its_token_in_its_own_transaction(settings: Settings, engine: Engine, pooled: TestClient,
                                                          session: Session) -> None:
    """fast_reads.write_user: the officer's token is checked in the transaction the write then runs in — one pool
    checkout per PATCH, not a session of its own for the token (a checkout, ping and rollback more per write); a
    request refused before the write (412, 422, 403) gives its connection back, rolled back."""
    pid = session.scalar(text("SELECT place_id FROM places WHERE valid_to IS NULL ORDER BY place_id LIMIT 1"))
    users = {"fast_reads_officer": ["officer"], "fast_reads_viewer2": ["viewer"]}
    tokens = {}
    with Session(engine) as s:
        for name, roles in users.items():
            auth.create_user(s, name, "correct horse battery", roles)
            tokens[name] = auth.login(s, name, "correct horse battery", 1)[0]
        s.commit()
    pool = pooled.app.state.engine.pool  # type: ignore[attr-defined]
    checkouts: list[object] = []
    event.listen(pool, "checkout", lambda *a: checkouts.append(a))
    try:
        officer = {"Authorization": f"Bearer {tokens['fast_reads_officer']}"}
        body = {"history": "合成示例：不会写入", "reason": "test"}
        stale = pooled.patch(f"/api/v1/places/{pid}", json=body, headers={**officer, "If-Match": '"p0.v0"'})
        assert stale.status_code == 412, stale.text
        assert len(checkouts) == 1 and pool.checkedout() == 0
        bad = pooled.patch(f"/api/v1/places/{pid}", json={"reason": 5}, headers={**officer, "If-Match": '"p0.v0"'})
        assert bad.status_code == 422 and pool.checkedout() == 0, bad.text
        viewer = {"Authorization": f"Bearer {tokens['fast_reads_viewer2']}", "If-Match": '"p0.v0"'}
        assert pooled.patch(f"/api/v1/places/{pid}", json={"reason": 5}, headers=viewer).status_code == 403
        assert pooled.patch(f"/api/v1/places/{pid}", json=body, headers={"If-Match": '"p0.v0"'}).status_code == 401
        assert pool.checkedout() == 0
    finally:
        with Session(engine) as s:
            for name in users:
                s.execute(text("DELETE FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE username = :u)"),
                          {"u": name})
                s.execute(text("DELETE FROM users WHERE username = :u"), {"u": name})
            s.commit()
