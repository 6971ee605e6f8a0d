"""Shared pieces of the tests that run an app: a uvicorn on a free loopback port, an app on the test's rolled-back
session, and scratch databases (migrated, loaded with the demo) for tests whose server writes for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gis_api.boundaries.demo import load_demo_boundaries
from gis_api.cli import run_migrations
from gis_api.db import recreate_database
from gis_api.deps import get_session
from gis_api.divisions.demo import load_demo
from gis_api.facilities.demo import load_demo_facilities
from gis_api.places.demo import load_demo_places
from gis_api.settings import Settings

# The demo as people load it (`diming load-demo`), plus the areas' own demo commands while they have them.
DEMO_COMMANDS: list[tuple[list[str], bool]] = [
    (["load-demo"], False), (["coverage", "load-demo"], True), (["boundaries", "load-demo"], True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI, *, lifespan: Literal["auto", "on", "off"] = "auto", log_level: str = "warning",
          start_timeout: float = 30) -> Iterator[str]:
    """``app`` served by uvicorn in a daemon thread; yields its root URL once it accepts connections."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan=lifespan))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


def scratch_database(settings: Settings, suffix: str) -> str:
    """A fresh, migrated, empty database ``<test db>_<suffix>`` on the test database's server; its URL."""
    assert settings.db.database_url
    url = make_url(settings.db.database_url)
    own = url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)
    recreate_database(own)
    run_migrations(own)
    return own


def load_demo_data(session: Session) -> None:
    """The demo data in-process (the suite's test database is loaded the same way); the caller commits."""
    load_demo(session)
    load_demo_boundaries(session)
    load_demo_places(session)
    load_demo_facilities(session)


def load_demo_cli(url: str) -> None:
    """The demo loaded into ``url`` by the same CLI commands people use (``DEMO_COMMANDS``)."""
    env = {**os.environ, "DIMING_DATABASE_URL": url}
    for args, optional in DEMO_COMMANDS:
        done = subprocess.run([sys.executable, "-m", "gis_api.cli", *args], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        if optional and done.returncode == 2 and "invalid choice" in done.stderr:
            continue  # that area's command is not there yet
        assert done.returncode == 0, f"diming {' '.join(args)}: {done.stderr}"


def on_session(app: FastAPI, session: Session) -> None:
    """Every request of ``app`` on the test's ``session``: a handler's commit releases a savepoint only, so the
    outer transaction still rolls everything back after the test."""

    def _session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    app.dependency_overrides[get_session] = _session
