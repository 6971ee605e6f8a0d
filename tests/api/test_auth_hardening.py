"""Auth hardening (issue 10 §3): login throttling, no username timing oracle, token revocation on password
change and disable, user management in the CLI and the API, and nothing readable anonymously when
DIMING_PUBLIC_READ=false."""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import auth, cli
from gis_api.app import create_app
from gis_api.errors import Unauthorized
from gis_api.ogc.reader import SessionReader
from gis_api.settings import Settings

PASSWORD = "s3cret-password"


def _login(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object], dict[str, str]]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code, r.json(), dict(r.headers)


def _bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    status, body, _ = _login(client, username, password)
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


def _events(session: Session, username: str, event: str) -> int:
    return session.scalar(
        select(func.count()).select_from(auth.AuthEvent)
        .where(auth.AuthEvent.username == username, auth.AuthEvent.event == event)
    ) or 0


def _age_failures(session: Session, seconds: int) -> None:
    """Pretend the recorded failures happened ``seconds`` earlier (lock-outs run out without sleeping)."""
    session.execute(update(auth.AuthThrottle).values(
        last_failure_at=auth.AuthThrottle.last_failure_at - text(f"interval '{seconds} seconds'")))
    session.commit()


# -- throttling -------------------------------------------------------------------------------------------

def test_fifty_wrong_passwords_lock_the_account(app_factory: Callable[..., TestClient], session: Session) -> None:
    client = app_factory(auth_max_failures_address=1000)  # this test is about the account
    auth.create_user(session, "sun", PASSWORD, ["viewer"])
    statuses = []
    first_429: tuple[dict[str, object], dict[str, str]] | None = None
    for _ in range(50):
        status, body, headers = _login(client, "sun", "wrong-password")
        statuses.append(status)
        if status == 429 and first_429 is None:
            first_429 = (body, headers)
    assert statuses == [401] * 5 + [429] * 45
    assert first_429 is not None
    body, headers = first_429
    assert 45 <= int(headers["retry-after"]) <= 60  # 60 s from the 5th attempt, less its hashing time
    assert body["code"] == "too_many_attempts" and body["rule"] == "login_throttle" and body["field"] == "username"
    assert "try again in" in str(body["message"]) and "秒后再试" in str(body["message_zh"])
    # The right password does not get through a lock-out either.
    status, body, headers = _login(client, "sun", PASSWORD)
    assert status == 429 and int(headers["retry-after"]) > 0
    # Audited: who, from where, when.
    assert _events(session, "sun", "login_failed") == 5
    assert _events(session, "sun", "login_throttled") == 46
    assert _events(session, "sun", "lockout") == 1
    row = session.scalars(select(auth.AuthEvent).where(auth.AuthEvent.username == "sun")
                          .order_by(auth.AuthEvent.id.desc())).first()
    assert row is not None and row.address == "testclient" and row.at is not None
    assert row.detail == {"locked": ["account"], "retry_after": int(headers["retry-after"])}


def test_lockout_doubles_and_a_success_resets_the_account(
    app_factory: Callable[..., TestClient], session: Session
) -> None:
    client = app_factory(auth_max_failures_address=1000)
    auth.create_user(session, "li", PASSWORD, ["viewer"])
    assert [_login(client, "li", "nope-nope")[0] for _ in range(6)] == [401] * 5 + [429]
    _age_failures(session, 61)  # the first lock-out (60 s) is over
    assert _login(client, "li", "nope-nope")[0] == 401  # one more failure: locked again, twice as long
    status, _body, headers = _login(client, "li", PASSWORD)
    assert status == 429 and 100 <= int(headers["retry-after"]) <= 120
    _age_failures(session, 121)
    assert _login(client, "li", PASSWORD)[0] == 200
    # The success cleared the account's count: five more failures before the next lock-out.
    assert [_login(client, "li", "nope-nope")[0] for _ in range(6)] == [401] * 5 + [429]


def test_failures_are_forgotten_after_the_window(app_factory: Callable[..., TestClient], session: Session) -> None:
    client = app_factory(auth_max_failures_address=1000, auth_failure_window_seconds=600)
    auth.create_user(session, "zhou", PASSWORD, ["viewer"])
    assert [_login(client, "zhou", "nope-nope")[0] for _ in range(4)] == [401] * 4
    _age_failures(session, 601)
    assert [_login(client, "zhou", "nope-nope")[0] for _ in range(5)] == [401] * 5
    assert _login(client, "zhou", "nope-nope")[0] == 429


def test_one_address_guessing_many_accounts_is_locked(
    app_factory: Callable[..., TestClient], session: Session
) -> None:
    client = app_factory()  # defaults: 20 failures per address
    auth.create_user(session, "wu", PASSWORD, ["viewer"])
    statuses = [_login(client, f"guess{i}", "password1")[0] for i in range(25)]
    assert statuses == [401] * 20 + [429] * 5
    status, body, headers = _login(client, "wu", PASSWORD)  # the whole address waits, even a right password
    assert status == 429 and body["field"] is None and int(headers["retry-after"]) > 0
    lock = session.scalars(select(auth.AuthEvent).where(auth.AuthEvent.event == "lockout")).one()
    assert lock.detail == {"scope": "address", "failures": 20, "seconds": 60} and lock.address == "testclient"


def test_parallel_guesses_on_separate_connections_share_one_count(engine: Engine) -> None:
    """Worker processes share nothing but PostgreSQL: 12 guesses on 12 connections at once get exactly
    5 x 401 and 7 x 429 (each attempt is counted before its password is checked)."""
    name, address = f"ghost-{uuid.uuid4().hex[:8]}", f"10.{uuid.uuid4().int % 250}.0.1"
    policy = auth.Throttle(max_account=5, max_address=1000)
    results: list[str] = []
    barrier = threading.Barrier(12)

    def attempt() -> None:
        with Session(engine) as s:
            barrier.wait()
            try:
                auth.throttled_login(s, policy, name, "wrong-password", 1, address)
            except auth.TooManyAttempts:
                results.append("429")
            except Unauthorized:
                results.append("401")

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results) == ["401"] * 5 + ["429"] * 7
    finally:
        with Session(engine) as s:
            s.execute(delete(auth.AuthThrottle).where(auth.AuthThrottle.key.in_([name, address])))
            s.execute(delete(auth.AuthEvent).where(auth.AuthEvent.username == name))
            s.commit()


def test_nul_and_huge_usernames_are_plain_failures(client: TestClient, session: Session) -> None:
    # Over HTTP a NUL may already be refused as bad input (422); the service must not fail on it either.
    assert _login(client, "ad\x00min", "whatever1")[0] in (401, 422)
    with pytest.raises(Unauthorized):
        auth.throttled_login(session, auth.Throttle(), "ad\x00min", "whatever1", 1, "10.0.0.\x00")
    assert _login(client, "x" * 10_000, "whatever1")[0] == 401
    keys = session.scalars(select(auth.AuthThrottle.key).where(auth.AuthThrottle.scope == "account")).all()
    assert "ad\ufffdmin" in keys and max(len(k) for k in keys) == auth.KEY_CHARS


# -- timing -----------------------------------------------------------------------------------------------

def test_unknown_and_known_users_take_the_same_time(
    app_factory: Callable[..., TestClient], session: Session
) -> None:
    client = app_factory(auth_max_failures_account=1000, auth_max_failures_address=1000)
    auth.create_user(session, "zheng", PASSWORD, ["viewer"])
    known: list[float] = []
    unknown: list[float] = []
    for i in range(7):  # interleaved, so a slow moment of the machine hits both
        for name, out in (("zheng", known), (f"nobody{i}", unknown)):
            start = time.perf_counter()
            assert _login(client, name, "wrong-password")[0] == 401
            out.append(time.perf_counter() - start)
    ratio = statistics.median(unknown) / statistics.median(known)
    print(f"login timing: known-wrong median {statistics.median(known) * 1000:.1f} ms, "
          f"unknown median {statistics.median(unknown) * 1000:.1f} ms, ratio {ratio:.2f}")
    assert 1 / 3 <= ratio <= 3, (known, unknown)  # without the dummy hash: ~1/50


# -- revocation and user management -----------------------------------------------------------------------

def test_admin_password_change_and_disable_revoke_tokens(
    client: TestClient, session: Session, login: Callable[..., dict[str, str]]
) -> None:
    admin = login("admin")
    auth.create_user(session, "feng", PASSWORD, ["officer"])
    old = _bearer(client, "feng")
    assert client.get("/api/v1/auth/me", headers=old).status_code == 200
    r = client.put("/api/v1/users/feng/password", json={"password": "another-password"}, headers=admin)
    assert r.status_code == 204, r.text
    r = client.get("/api/v1/auth/me", headers=old)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert _login(client, "feng", PASSWORD)[0] == 401
    fresh = _bearer(client, "feng", "another-password")

    r = client.post("/api/v1/users/feng/disable", headers=admin)
    assert r.status_code == 200 and r.json() == {"username": "feng", "roles": ["officer"], "active": False}
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 401
    assert _login(client, "feng", "another-password")[0] == 401  # disabled: same answer as a wrong password
    r = client.post("/api/v1/users/feng/enable", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is True
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 401  # enabling does not revive tokens
    assert client.get("/api/v1/auth/me", headers=_bearer(client, "feng", "another-password")).status_code == 200

    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json()}
    assert listed["feng"]["active"] is True
    trail = client.get("/api/v1/auth/events", params={"username": "feng"}, headers=admin).json()
    kinds = [e["event"] for e in trail]
    assert {"user_created", "password_changed", "user_disabled", "user_enabled", "login", "login_failed"} <= set(
        kinds)
    disabled = next(e for e in trail if e["event"] == "user_disabled")
    assert disabled["actor"].startswith("user") and disabled["detail"] == {"tokens_revoked": 1}
    assert disabled["address"] == "testclient"


def test_admin_password_reset_lifts_a_lockout(
    app_factory: Callable[..., TestClient], session: Session, login: Callable[..., dict[str, str]]
) -> None:
    client = app_factory(auth_max_failures_address=1000)
    admin = login("admin")
    auth.create_user(session, "lu", PASSWORD, ["viewer"])
    assert [_login(client, "lu", "forgotten-1")[0] for _ in range(6)] == [401] * 5 + [429]
    r = client.put("/api/v1/users/lu/password", json={"password": "reset-by-admin"}, headers=admin)
    assert r.status_code == 204
    assert _login(client, "lu", "reset-by-admin")[0] == 200


def test_user_admin_rules(client: TestClient, session: Session, login: Callable[..., dict[str, str]]) -> None:
    officer = login("officer", username="han")
    r = client.get("/api/v1/users", headers=officer)
    assert r.status_code == 403
    assert client.post("/api/v1/users/han/disable", headers=officer).status_code == 403
    r = client.put("/api/v1/users/admin/password", json={"password": "taken-over-1"}, headers=officer)
    assert r.status_code == 403 and r.json()["message_zh"]
    admin = login("admin", username="boss")
    r = client.post("/api/v1/users/boss/disable", headers=admin)
    assert r.status_code == 409 and r.json()["rule"] == "not_self"
    r = client.post("/api/v1/users/nobody-here/disable", headers=admin)
    assert r.status_code == 404 and r.json()["field"] == "username"
    r = client.put("/api/v1/users/han/password", json={"password": "short"}, headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "password"


def test_last_active_admin_cannot_be_disabled(session: Session) -> None:
    session.execute(update(auth.User).where(auth.User.roles.contains(["admin"])).values(active=False))
    auth.create_user(session, "only-admin", PASSWORD, ["admin"])
    with pytest.raises(Exception) as exc:
        auth.set_active(session, "only-admin", False, actor="cli:test")
    assert getattr(exc.value, "rule", None) == "last_admin"


def test_own_password_change_needs_the_old_one(
    app_factory: Callable[..., TestClient], session: Session
) -> None:
    client = app_factory(auth_max_failures_address=1000)
    auth.create_user(session, "chen", PASSWORD, ["viewer"])
    h = _bearer(client, "chen")
    r = client.put("/api/v1/users/chen/password", json={"password": "brand-new-pass"}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "old_password" and r.json()["rule"] == "required"
    r = client.put("/api/v1/users/chen/password", json={"password": "brand-new-pass", "old_password": "guess"},
                   headers=h)
    assert r.status_code == 422 and r.json()["rule"] == "matches_current" and r.json()["message_zh"] == "原密码错误"
    # Guessing the old password through a stolen token is throttled like a login.
    for _ in range(4):
        client.put("/api/v1/users/chen/password", json={"password": "brand-new-pass", "old_password": "guess"},
                   headers=h)
    r = client.put("/api/v1/users/chen/password", json={"password": "brand-new-pass", "old_password": PASSWORD},
                   headers=h)
    assert r.status_code == 429 and "retry-after" in r.headers
    _age_failures(session, 61)
    r = client.put("/api/v1/users/chen/password", json={"password": "brand-new-pass", "old_password": PASSWORD},
                   headers=h)
    assert r.status_code == 204, r.text
    assert client.get("/api/v1/auth/me", headers=h).status_code == 401
    assert _login(client, "chen", "brand-new-pass")[0] == 200
    assert _events(session, "chen", "password_change_failed") == 5


@pytest.fixture
def committed_user(engine: Engine) -> Iterator[tuple[str, str]]:
    """A user committed for real (the CLI works on its own connection), and a token of it; removed after."""
    name = f"shell-{uuid.uuid4().hex[:8]}"
    with Session(engine) as s:
        auth.create_user(s, name, PASSWORD, ["officer"])
        token, _record, _user = auth.login(s, name, PASSWORD, 1)
        s.commit()
    yield name, token
    with Session(engine) as s:
        s.execute(delete(auth.User).where(auth.User.username == name))
        s.execute(delete(auth.AuthEvent).where(auth.AuthEvent.username == name))
        s.execute(delete(auth.AuthThrottle).where(auth.AuthThrottle.key == name))
        s.commit()


def _cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *argv: str, stdin: str = "") -> int:
    monkeypatch.setenv("DIMING_DATABASE_URL", settings.db.database_url or "")
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return cli.main(list(argv))


def test_cli_passwd_disable_enable_list_revoke_tokens(
    settings: Settings, committed_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], engine: Engine,
) -> None:
    name, token = committed_user
    # Real transactions here (not the rolled-back test session): the CLI commits on its own connection.
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=h).status_code == 200
    assert _cli(monkeypatch, settings, "user", "passwd", name, stdin="changed-by-cli\n") == 0
    r = client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    h2 = _bearer(client, name, "changed-by-cli")

    assert _cli(monkeypatch, settings, "user", "disable", name) == 0
    assert client.get("/api/v1/auth/me", headers=h2).status_code == 401
    assert _cli(monkeypatch, settings, "user", "list") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(name + "\t"))
    assert line.split("\t")[1:] == ["officer", "disabled", "0"]
    assert _cli(monkeypatch, settings, "user", "enable", name) == 0
    assert client.get("/api/v1/auth/me", headers=h2).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(client, name, "changed-by-cli")).status_code == 200

    assert _cli(monkeypatch, settings, "user", "disable", "no-such-user") == 2
    assert '"field": "username"' in capsys.readouterr().err
    with Session(engine) as s:
        actors = s.execute(select(auth.AuthEvent.event, auth.AuthEvent.actor)
                           .where(auth.AuthEvent.username == name, auth.AuthEvent.actor.like("cli%"))
                           .order_by(auth.AuthEvent.id)).all()
    assert [e for e, _a in actors] == ["password_changed", "user_disabled", "user_enabled"]


def test_info_does_not_print_the_admin_password(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = tmp_path / "admin-credentials"
    creds.write_text("username=admin\npassword=TopSecret-42\n")
    s = replace(settings, db=settings.db.model_copy(update={"home": tmp_path}))
    assert cli.cmd_info(s, argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert "TopSecret-42" not in out and str(creds) in out


# -- DIMING_PUBLIC_READ=false: nothing that reveals data is open -------------------------------------------

# GET routes anyone may call with public_read off: the login page, API descriptions, static files, bare
# health status, and the OGC documents that describe the service rather than its data.
OPEN_WITHOUT_LOGIN = {
    "/", "/docs", "/openapi.json", "/api/v1/health",
    "/ogc", "/ogc/conformance", "/ogc/api", "/ogc/tileMatrixSets", "/ogc/tileMatrixSets/{tms_id}",
    "/help", "/help/help.css", "/help/{name}",  # the manuals and docs (gis_api/help): no data
    # the phone app's shell (gis_api/field/routes.py): like "/", static files only; its data needs a login
    "/field/", "/field/sw.js", "/field/manifest.webmanifest",
}
# Open too, but the sample name is no file there: 404 rather than 401.
OPEN_WITHOUT_LOGIN_NOT_FOUND = {"/help/manuals/{manual}", "/help/manuals/img/{image}"}
SAMPLE_PARAMS = {
    "collection_id": "places", "tms_id": "WebMercatorQuad", "z": "10", "y": "416", "x": "845",
    "code": "340122", "feature_id": "1", "kind": "school", "name": "rules",
}


def _get_routes(routes: list[object], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every route of the app, including those of included routers (FastAPI does not flatten them)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _get_routes(inner.routes, prefix + (r.include_context.prefix or ""))  # type: ignore[attr-defined]
        elif getattr(r, "path", None) is not None:
            yield prefix + r.path, set(getattr(r, "methods", None) or ())  # type: ignore[attr-defined]


def test_no_anonymous_read_when_public_read_is_off(
    app_factory: Callable[..., TestClient], session: Session, login: Callable[..., dict[str, str]]
) -> None:
    client = app_factory(public_read=False)
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    routes = sorted({(p, frozenset(m)) for p, m in _get_routes(list(client.app.routes))})  # type: ignore[attr-defined]
    gets = sorted({p for p, m in routes if "GET" in m})
    assert len(gets) > 50  # the walk found the routers' routes
    leaks = {}
    for path in gets:
        url = path
        for name, value in SAMPLE_PARAMS.items():
            url = url.replace("{" + name + "}", value)
        url = url.replace("{", "").replace("}", "")  # any other parameter: its own name as the value
        r = client.get(url)
        if path in OPEN_WITHOUT_LOGIN:
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
        elif path in OPEN_WITHOUT_LOGIN_NOT_FOUND:
            assert r.status_code == 404, (path, r.status_code, r.text[:200])
        elif r.status_code != 401:
            leaks[path] = (r.status_code, r.text[:120])
    assert leaks == {}
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    assert client.get("/static/favicon.svg").status_code == 200
    full = client.get("/api/v1/health", headers=login("viewer")).json()
    assert full["status"] == "ok" and "postgis" in full and full["public_read"] is False
    assert client.get("/api/v1/ui-config", headers=login("viewer")).status_code == 200


def test_public_read_on_keeps_health_details(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and "postgis" in body and body["public_read"] is True
    assert client.get("/api/v1/ui-config").status_code == 200
