"""Auth: password login, hashed expiring tokens, roles, public-read switch."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gis_api import auth


def _token(client: TestClient, username: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_login_me_logout(client: TestClient, session: Session) -> None:
    auth.create_user(session, "zhang", "s3cret-password", ["officer", "reviewer"])
    h = _token(client, "zhang", "s3cret-password")
    me = client.get("/api/v1/auth/me", headers=h).json()
    assert me == {"username": "zhang", "roles": ["officer", "reviewer"], "active": True}
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    r = client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["message_zh"]


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, session: Session) -> None:
    auth.create_user(session, "zhao", "s3cret-password", ["viewer"])
    a = client.post("/api/v1/auth/token", data={"username": "zhao", "password": "wrong-password"})
    b = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong-password"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_tokens_are_stored_hashed_and_expire(client: TestClient, session: Session) -> None:
    auth.create_user(session, "qian", "s3cret-password", ["officer"])
    h = _token(client, "qian", "s3cret-password")
    raw = h["Authorization"].split()[1]
    stored = session.scalars(select(auth.ApiToken.token_hash)).all()
    assert raw not in stored and hashlib.sha256(raw.encode()).hexdigest() in stored
    user = session.scalar(select(auth.User).where(auth.User.username == "qian"))
    assert user is not None and user.password_hash.startswith("$argon2")
    session.execute(update(auth.ApiToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    r = client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and "expired" in r.json()["message"]


def test_garbage_token_is_401_not_500(client: TestClient) -> None:
    r = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_private_read_needs_login(app_factory: Callable[..., TestClient],
                                  login: Callable[..., dict[str, str]]) -> None:
    client = app_factory(public_read=False)
    r = client.get("/api/v1/divisions", params={"level": "county"})
    assert r.status_code == 401
    assert client.get("/api/v1/divisions", params={"level": "county"}, headers=login("viewer")).status_code == 200
    assert client.get("/api/v1/health").status_code == 200  # health stays public for monitoring
