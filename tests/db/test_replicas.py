"""Reads on a real streaming replica: a small primary cluster of this module's own plus a hot standby made by
``diming db replica add`` (pg_basebackup), both torn down at the end. Never a copy of the shared cluster.

What is checked, through the app's ordinary routing (gis_api/replicas.py): reads reach the replica, writes never
do (the routing decides, before any statement could fail on a standby), a writer reads its own write at once
(the LSN token), a lagging replica leaves rotation, and stopping the replica mid-run costs no request."""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gis_api import auth
from gis_api.app import create_app
from gis_api.cli import main, run_migrations
from gis_api.db import make_engine, make_sessionmaker, transaction
from gis_api.deps import SessionDep
from gis_api.embedded_db import Cluster
from gis_api.replicas import LSN_COOKIE, LSN_HEADER, ReplicaSet, parse_lsn
from gis_api.settings import AuthSettings, DatabaseSettings, ServerSettings, Settings

DB = "diming"
PASSWORD = "Replica-test-0001"


def _scratch_home() -> Path:
    # As root the servers run as 'postgres', which cannot enter /root or pytest's private tmp dirs.
    base = Path("/var/lib/diming") if os.geteuid() == 0 else Path.home() / ".cache" / "diming-tests"
    base.mkdir(parents=True, exist_ok=True)
    return base / f"test-replica-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    home = _scratch_home()
    db = DatabaseSettings(home=home, database_url=None, wal_archive=None)
    primary = Cluster.from_settings(db)
    saved = {k: os.environ.get(k) for k in ("DIMING_HOME", "DIMING_DATABASE_URL", "DIMING_WAL_ARCHIVE")}
    try:
        primary.up()
        primary.ensure_database(DB)
        run_migrations(primary.url(DB))
        primary.sql("CREATE TABLE replica_note (id serial PRIMARY KEY, body text NOT NULL)", DB)
        engine = make_engine(primary.url(DB), 1)
        with transaction(make_sessionmaker(engine)) as session:
            auth.create_user(session, "reader", PASSWORD, [auth.Role.viewer.value])
        engine.dispose()
        os.environ["DIMING_HOME"] = str(home)
        os.environ.pop("DIMING_DATABASE_URL", None)
        os.environ.pop("DIMING_WAL_ARCHIVE", None)
        assert main(["db", "replica", "add", "--name", "t1"]) == 0  # the command an operator runs
        assert primary.replica_names() == ["t1"]
        yield primary, primary.replica("t1")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name in primary.replica_names():
            primary.remove_replica(name)
        primary.down()
        shutil.rmtree(home, ignore_errors=True)


def _app(primary: Cluster, replica: Cluster) -> Any:
    db = DatabaseSettings(database_url=primary.url(DB), read_replica_urls=replica.url(DB),
                          replica_check_interval_s=0.2, replica_max_lag_s=30, wal_archive=None)
    app = create_app(Settings(db=db, auth=AuthSettings(public_read=True), server=ServerSettings()))

    # Probes that only run statements through the request's session: route code that knows nothing of replicas.
    @app.get("/probe/recovery")
    @app.post("/probe/recovery")
    def recovery(session: SessionDep) -> dict[str, bool]:
        return {"standby": bool(session.execute(text("SELECT pg_is_in_recovery()")).scalar_one())}

    @app.post("/probe/notes")
    def add_note(session: SessionDep, body: dict[str, str]) -> dict[str, int]:
        return {"id": session.execute(text("INSERT INTO replica_note (body) VALUES (:b) RETURNING id"),
                                      {"b": body["body"]}).scalar_one()}

    @app.get("/probe/write-in-a-get")  # a route bug: a read that writes
    def write_in_get(session: SessionDep) -> dict[str, int]:
        return add_note(session, {"body": "GET"})

    @app.get("/probe/notes/{nid}")
    def get_note(session: SessionDep, nid: int) -> dict[str, Any]:
        found = session.execute(text("SELECT body FROM replica_note WHERE id = :i"), {"i": nid}).scalar()
        return {"body": found}

    return app


def _in_rotation(rs: ReplicaSet, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rs.check()
        if rs.replicas[0].healthy:
            return
        time.sleep(0.1)
    raise AssertionError(f"replica never joined rotation: {rs.status()}")


def _caught_up(rs: ReplicaSet, lsn: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rs.check()
        if rs.replicas[0].healthy and rs.replicas[0].replay_lsn >= lsn:
            return
        time.sleep(0.1)
    raise AssertionError(f"replica never replayed {lsn}: {rs.status()}")


@pytest.fixture(scope="module")
def client(clusters: tuple[Cluster, Cluster]) -> Iterator[TestClient]:
    app = _app(*clusters)
    with TestClient(app) as c:
        _in_rotation(app.state.replicas)
        yield c
    app.state.replicas.close()
    app.state.engine.dispose()


def test_the_replica_streams_from_its_primary(clusters: tuple[Cluster, Cluster]) -> None:
    primary, replica = clusters
    assert replica.sql("SELECT pg_is_in_recovery()") == "t"
    assert primary.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'diming_t1' "
                       "AND state = 'streaming'") == "1"
    assert primary.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'diming_t1'") == "1"


def test_reads_reach_the_replica_and_writes_never_do(client: TestClient, clusters: tuple[Cluster, Cluster]
                                                     ) -> None:
    _, replica = clusters
    with TestClient(client.app) as fresh:  # no token: nothing written by this client; one event loop throughout
        assert fresh.get("/probe/recovery").json() == {"standby": True}
        assert fresh.get("/api/v1/health").status_code == 200
        # The OGC reads (asyncpg pool, kept while the client's event loop runs) go there too.
        assert fresh.get("/ogc/collections/places/items?limit=2").status_code == 200
        apps = replica.sql(f"SELECT string_agg(DISTINCT application_name, ',') FROM pg_stat_activity "
                           f"WHERE datname = '{DB}'")
        assert {"diming", "diming-ogc"} <= set(apps.split(","))
        # A GET that writes fails on the standby (25006) and is re-run on the primary; the replica stays in rotation.
        r = fresh.get("/probe/write-in-a-get")
        assert r.status_code == 200 and r.json()["id"] > 0
        assert client.app.state.replicas.replicas[0].healthy  # type: ignore[attr-defined]
        # The same statement under POST: the routing sends it to the primary (a standby would not refuse it).
        r = fresh.post("/probe/recovery")
        assert r.json() == {"standby": False}
        assert LSN_HEADER in r.headers  # any successful POST hands out a token (it may have written)


def test_a_writer_reads_its_own_write_at_once(client: TestClient, clusters: tuple[Cluster, Cluster]) -> None:
    _, replica = clusters
    rs: ReplicaSet = client.app.state.replicas  # type: ignore[attr-defined]
    writer, other = TestClient(client.app), TestClient(client.app)
    replica.sql("SELECT pg_wal_replay_pause()")  # the replica stays behind, deterministically
    try:
        r = writer.post("/probe/notes", json={"body": "立即可见"})
        assert r.status_code == 200
        token = r.headers[LSN_HEADER]
        assert r.cookies.get(LSN_COOKIE) == token
        lsn = parse_lsn(token)
        assert lsn is not None
        rs.check()
        assert rs.replicas[0].healthy and rs.replicas[0].replay_lsn < lsn  # in rotation, but behind the write
        nid = r.json()["id"]
        # The writer (its cookie) is answered by the primary; a client without the token reads the replica,
        # which has not replayed the write: the token is what makes the difference.
        assert writer.get(f"/probe/notes/{nid}").json() == {"body": "立即可见"}
        assert writer.get("/probe/recovery").json() == {"standby": False}
        assert other.get(f"/probe/notes/{nid}").json() == {"body": None}
        assert other.get("/probe/recovery").json() == {"standby": True}
        # The header works as well as the cookie (API clients).
        assert other.get(f"/probe/notes/{nid}", headers={LSN_HEADER: token}).json() == {"body": "立即可见"}
        # A fresh login's token, used without the LSN: the replica does not know it, the primary answers.
        login = TestClient(client.app).post("/api/v1/auth/token", data={"username": "reader", "password": PASSWORD})
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert replica.sql("SELECT count(*) FROM api_tokens", DB) == "0"
        assert other.get("/api/v1/auth/me", headers=bearer).status_code == 200
        assert other.get("/api/v1/auth/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
    _caught_up(rs, lsn)
    # Once the replica has replayed the write, the writer's reads go there again.
    assert writer.get("/probe/recovery").json() == {"standby": True}
    assert writer.get(f"/probe/notes/{nid}").json() == {"body": "立即可见"}


def test_a_lagging_replica_leaves_rotation(client: TestClient, clusters: tuple[Cluster, Cluster]) -> None:
    _, replica = clusters
    rs: ReplicaSet = client.app.state.replicas  # type: ignore[attr-defined]
    reader = TestClient(client.app)
    replica.sql("SELECT pg_wal_replay_pause()")
    rs.max_lag_s = 0.5
    try:
        rs.check()
        for i in range(3):  # the primary moves on; the replica does not
            assert client.post("/probe/notes", json={"body": f"lag {i}"}).status_code == 200
            time.sleep(0.4)
        rs.check()
        assert not rs.replicas[0].healthy, rs.status()
        assert "lagging" in rs.status()[0]["state"]
        assert reader.get("/probe/recovery").json() == {"standby": False}
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
        rs.max_lag_s = 30
    _in_rotation(rs)
    assert reader.get("/probe/recovery").json() == {"standby": True}


def test_stopping_the_replica_costs_no_request(client: TestClient, clusters: tuple[Cluster, Cluster],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _, replica = clusters
    rs: ReplicaSet = client.app.state.replicas  # type: ignore[attr-defined]
    _in_rotation(rs)
    # The health checker stays silent: only the failing reads themselves may notice the replica is gone.
    monkeypatch.setattr(rs, "check", lambda due_only=False: None)
    answers: list[tuple[int, Any]] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    paths = ["/probe/recovery", "/api/v1/health", "/ogc/collections/places/items?limit=2"]

    client.cookies.clear()  # no token from the earlier writes: reads may go to the replica

    def read(k: int) -> None:
        # One client, so one event loop, as in a server process (the OGC pools belong to their loop).
        i = 0
        while not stop.is_set():
            path = paths[(i + k) % len(paths)]
            try:
                r = client.get(path)
                answers.append((r.status_code, r.json() if path == "/probe/recovery" else None))
            except BaseException as exc:  # an exception is a failed request too
                failures.append(exc)
            i += 1

    threads = [threading.Thread(target=read, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        before = len(answers)
        # Immediate shutdown: connections are cut mid-statement, as when the machine fails.
        replica._run([str(replica.bindir / "pg_ctl"), "-D", str(replica.data_dir), "-m", "immediate", "stop"])
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not failures, failures[:3]
    assert before > 0 and len(answers) > before
    assert {status for status, _ in answers} == {200}, [a for a in answers if a[0] != 200][:5]
    probes = [body for _, body in answers if body is not None]
    assert {"standby": True} in probes and {"standby": False} in probes  # served by the replica, then the primary
    assert not rs.replicas[0].healthy and rs.status()[0]["state"].startswith("failed during a read")
    # Each read path on its own: the replica still counted as in rotation, the read fails there and is re-run.
    for path in paths:
        rs.replicas[0].healthy = True
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert not rs.replicas[0].healthy, path
        if path == "/probe/recovery":
            assert r.json() == {"standby": False}
    monkeypatch.undo()
    replica.up()  # back: it rejoins once it answers again
    _in_rotation(rs)
    assert TestClient(client.app).get("/probe/recovery").json() == {"standby": True}


def test_a_promoted_replica_leaves_rotation_and_remove_drops_its_slot(
        client: TestClient, clusters: tuple[Cluster, Cluster], capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last: it ends the replica. Failover as docs/operations.md describes it, then `db replica list/remove`."""
    primary, replica = clusters
    rs: ReplicaSet = client.app.state.replicas  # type: ignore[attr-defined]
    _in_rotation(rs)
    capsys.readouterr()
    assert main(["db", "replica", "list"]) == 0
    listed = capsys.readouterr().out
    assert "t1" in listed and "streaming" in listed and replica.url(DB) in listed
    assert replica.sql("SELECT pg_promote()") == "t"  # waits until promoted
    rs.check()
    assert not rs.replicas[0].healthy and "not a standby" in rs.status()[0]["state"]
    assert TestClient(client.app).get("/probe/recovery").json() == {"standby": False}
    assert main(["db", "replica", "remove", "t1"]) == 0
    assert primary.replica_names() == []
    assert not replica.home.exists()
    assert primary.sql("SELECT count(*) FROM pg_replication_slots") == "0"
