"""Test fixtures: a real PostGIS test database, migrated and loaded once per session; every test runs
inside a transaction that is rolled back, so tests never see each other's writes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from gis_api import auth
from gis_api.app import create_app
from gis_api.cli import run_migrations
from gis_api.db import CONNECTION_OPTIONS, database_url, recreate_database
from gis_api.embedded_db import Cluster
from gis_api.settings import DatabaseSettings, Settings, load_settings
from tests.live import load_demo_data, on_session

# Several people (or agents) can test one checkout at once, each in a database of their own.
TEST_DB = os.environ.get("DIMING_TEST_DB", "diming_test")


def _test_url(db: DatabaseSettings) -> str:
    explicit = os.environ.get("DIMING_TEST_DATABASE_URL")
    if explicit:
        return explicit
    if not db.database_url:
        cluster = Cluster.from_settings(db)
        cluster.up()
    return database_url(db, TEST_DB)


@pytest.fixture(scope="session")
def settings() -> Settings:
    base = load_settings()
    url = _test_url(base.db)
    return replace(base, db=base.db.model_copy(update={"database_url": url}))


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    url = settings.db.database_url
    assert url
    recreate_database(url)
    run_migrations(url)
    eng = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with Session(eng) as session:
        load_demo_data(session)
        session.commit()
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    # Commits inside the code under test only release a savepoint; the outer transaction rolls back.
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app_factory(settings: Settings, session: Session) -> Callable[..., TestClient]:
    def make(**auth_overrides: object) -> TestClient:
        s = settings
        if auth_overrides:
            s = replace(settings, auth=settings.auth.model_copy(update=auth_overrides))
        app = create_app(s)
        on_session(app, session)
        return TestClient(app, raise_server_exceptions=False)

    return make


@pytest.fixture
def client(app_factory: Callable[..., TestClient]) -> TestClient:
    return app_factory()


@pytest.fixture
def login(session: Session, settings: Settings) -> Callable[..., dict[str, str]]:
    """Create a user with the given roles and return its Authorization header."""
    counter = iter(range(1_000_000))

    def make(*roles: str, username: str | None = None) -> dict[str, str]:
        name = username or f"user{next(counter)}_{'_'.join(roles) or 'none'}"
        auth.create_user(session, name, "correct horse battery", list(roles))
        token, _record, _user = auth.login(session, name, "correct horse battery", 1)
        session.commit()  # releases a savepoint only: a failing request must not roll the user back
        return {"Authorization": f"Bearer {token}"}

    return make
