"""The field sync under real parallel transactions (a live server on a copy of the test database): a phone that
retries while its first upload is still running must not double anything, and two teams editing one marker from
the same version give one change and conflicts — never a lost update."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from gis_api import auth
from gis_api.app import create_app
from gis_api.db import CONNECTION_OPTIONS
from gis_api.settings import Settings
from tests.live import serve

N = 8
PASSWORD = "correct horse battery"


@dataclass
class Live:
    url: str
    tokens: dict[str, str]
    engine: Engine

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[user]}"}, timeout=120)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as c:
            return c.execute(text(sql), params).scalar_one()


@pytest.fixture(scope="module")
def live(engine: Engine, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    assert settings.db.database_url
    url = make_url(settings.db.database_url)
    own = url.set(database=f"{url.database}_fieldconc")
    engine.dispose()  # a template database must have no other connections
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": url.database})
        c.execute(text(f'CREATE DATABASE "{own.database}" TEMPLATE "{url.database}"'))
    own_url = own.render_as_string(hide_password=False)
    own_engine = create_engine(own_url, connect_args={"options": CONNECTION_OPTIONS})
    with Session(own_engine) as s:
        for name in ("team_a", "team_b"):
            auth.create_user(s, f"field_{name}", PASSWORD, ["patrol"])
        s.commit()
    mp = pytest.MonkeyPatch()
    mp.setenv("DIMING_ATTACHMENTS_DIR", str(tmp_path_factory.mktemp("attachments")))
    app = create_app(replace(settings, db=settings.db.model_copy(update={"database_url": own_url})))
    try:
        with serve(app) as base:
            tokens = {}
            for name in ("team_a", "team_b"):
                r = httpx.post(f"{base}/api/v1/auth/token", data={"username": f"field_{name}", "password": PASSWORD})
                r.raise_for_status()
                tokens[name] = str(r.json()["access_token"])
            yield Live(base, tokens, own_engine)
    finally:
        mp.undo()
        own_engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        admin.dispose()


def race(live: Live, users: list[str], send: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(users))

    def one(i: int) -> httpx.Response:
        with live.client(users[i]) as c:
            c.get("/api/v1/health")  # connect first: the barrier releases requests, not handshakes
            barrier.wait()
            r = send(c, i)
            r.read()
            return r

    with ThreadPoolExecutor(len(users)) as pool:
        return list(pool.map(one, range(len(users))))


def _markers(live: Live) -> list[dict[str, Any]]:
    with live.client("team_a") as c:
        r = c.post("/api/v1/field/packages", json={"code": "340122", "level": "county", "zooms": [8, 8]})
        r.raise_for_status()
        return list(r.json()["markers"]["features"])


def test_a_retried_upload_running_in_parallel_applies_once(live: Live) -> None:
    marker = _markers(live)[5]
    marker_no, etag = marker["id"], marker["properties"]["etag"]
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 90, 150)).save(buf, "JPEG")
    photo = buf.getvalue()
    # The same photo sent N times at once: one row, every answer names it.
    ups = race(live, ["team_a"] * N, lambda c, _i: c.post("/api/v1/field/attachments",
                                                            files={"file": ("p.jpg", photo, "image/jpeg")}))
    assert sorted(r.status_code for r in ups) == [200] * (N - 1) + [201]
    sha = ups[0].json()["sha256"]
    assert live.scalar("SELECT count(*) FROM field_attachments WHERE sha256 = :s", s=sha) == 1
    version = live.scalar("SELECT version FROM boundary_markers WHERE marker_no = :m", m=marker_no)
    audits = live.scalar("SELECT count(*) FROM audit_log")
    queue = {"device": "phone-retry", "changes": [
        {"change_id": uuid.uuid4().hex, "kind": "marker_visit", "base_etag": etag,
         "data": {"marker_no": marker_no, "status": "damaged", "note": "重试", "attachments": [{"sha256": sha}]}}]}
    # The same queue N times at once (a phone retrying while the first upload still runs).
    rs = race(live, ["team_a"] * N, lambda c, _i: c.post("/api/v1/field/sync", json=queue))
    results = [r.json()["results"][0] for r in rs]
    assert all(r.status_code == 200 for r in rs)
    assert [x["status"] for x in results] == ["applied"] * N
    assert sorted(x["replayed"] for x in results) == [False] + [True] * (N - 1)
    assert len({json.dumps(x["result"], sort_keys=True) for x in results}) == 1  # the one stored result
    assert live.scalar("SELECT version FROM boundary_markers WHERE marker_no = :m", m=marker_no) == version + 1
    assert live.scalar("SELECT count(*) FROM field_changes WHERE device = 'phone-retry'") == 1
    assert live.scalar("SELECT count(*) FROM field_attachment_links WHERE target_key = :m", m=marker_no) == 1
    assert live.scalar("SELECT count(*) FROM boundary_issues WHERE marker_no = :m AND kind = 'marker_damaged'",
                       m=marker_no) == 1
    assert live.scalar("SELECT count(*) FROM audit_log") > audits


def test_two_teams_from_the_same_version_give_one_change_and_a_conflict(live: Live) -> None:
    marker = _markers(live)[6]
    marker_no, etag = marker["id"], marker["properties"]["etag"]
    notes = ["A 组：完好", "B 组：丢失"]

    def send(c: httpx.Client, i: int) -> httpx.Response:
        return c.post("/api/v1/field/sync", json={"changes": [
            {"change_id": uuid.uuid4().hex, "kind": "marker_visit", "base_etag": etag,
             "data": {"marker_no": marker_no, "status": ["intact", "missing"][i], "note": notes[i]}}]})

    rs = race(live, ["team_a", "team_b"], send)
    results = [r.json()["results"][0] for r in rs]
    assert sorted(x["status"] for x in results) == ["applied", "conflict"]
    won = next(i for i, x in enumerate(results) if x["status"] == "applied")
    lost = results[1 - won]["conflict"]
    assert lost["base_etag"] == etag and lost["etag"] == results[won]["result"]["etag"]
    assert lost["current"]["properties"]["note"] == notes[won]
    # The winner's edit stands; the loser's wrote nothing.
    assert live.scalar("SELECT note FROM boundary_markers WHERE marker_no = :m", m=marker_no) == notes[won]
