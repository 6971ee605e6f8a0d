"""The connection budget of ``diming serve`` (gis_api/db.py ``check_budget``, gis_api/cli.py): every worker's pools
must fit the server's max_connections less the reserves — shrunk to fit with a message, or refused."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis_api import cli
from gis_api.db import Budget, check_budget, make_engine, server_limits
from gis_api.settings import Settings


def test_limits_are_the_servers(settings: Settings, engine: Engine) -> None:
    assert settings.db.database_url
    with engine.connect() as conn:
        expected = (int(conn.execute(text("SHOW max_connections")).scalar_one()),
                    int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one()))
    assert server_limits(settings.db.database_url) == expected


def test_the_engine_opens_at_most_twice_its_pool(settings: Settings) -> None:
    assert settings.db.database_url
    eng = make_engine(settings.db.database_url, 7)
    try:
        assert (eng.pool.size(), eng.pool._max_overflow) == (14, 0)  # type: ignore[attr-defined]
    finally:
        eng.dispose()


def test_the_engine_keeps_what_a_burst_opened(settings: Settings) -> None:
    """Connections opened under a burst stay in the pool (an overflow closed on return was a new backend —
    fork, cold caches — at the next burst)."""
    assert settings.db.database_url
    eng = make_engine(settings.db.database_url, 2)
    try:
        held = [eng.connect() for _ in range(4)]
        pids = {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in held}
        for c in held:
            c.close()
        assert eng.pool.checkedin() == 4  # type: ignore[attr-defined]
        again = [eng.connect() for _ in range(4)]
        try:
            assert {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in again} == pids
        finally:
            for c in again:
                c.close()
    finally:
        eng.dispose()


def test_a_budget_that_fits_is_kept() -> None:
    budget, note = check_budget(2, 10, 10, 10, (100, 3))
    assert (budget.pool_size, budget.ogc_pool_size, budget.needed, budget.available) == (10, 10, 80, 87)
    assert "fits" in note


def test_too_many_connections_shrink_the_pools_to_fit() -> None:
    budget, note = check_budget(4, 10, 10, 10, (100, 3))  # 4 × 40 = 160 > 87
    assert budget.fits() and budget.needed <= 87
    assert (budget.pool_size, budget.ogc_pool_size) == (5, 5)
    assert "serving with DIMING_POOL_SIZE 5 and DIMING_OGC_POOL_SIZE 5" in note and "160" in note


def test_nothing_fits_refuses_with_the_figures() -> None:
    with pytest.raises(SystemExit) as caught:
        check_budget(40, 10, 10, 10, (100, 3))
    message = str(caught.value)
    assert "1600 connections" in message and "max_connections 100" in message and "DIMING_WORKERS" in message


def test_shrunk_never_grows_a_pool() -> None:
    for workers in range(1, 22):
        b = Budget(workers, 3, 20, 100, 3, 10).shrunk()
        assert b is not None and b.fits() and b.pool_size <= 3 and b.ogc_pool_size <= 20, workers


def test_serve_checks_the_real_server(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert settings.db.database_url
    max_conn, superuser = server_limits(settings.db.database_url)
    # set here so that teardown removes what the check writes into the environment
    monkeypatch.setenv("DIMING_POOL_SIZE", "10")
    monkeypatch.setenv("DIMING_OGC_POOL_SIZE", "10")
    s = replace(settings, db=settings.db.model_copy(update={"pool_size": 10, "reserved_connections": 10}))
    with pytest.raises(SystemExit):  # one connection per pool is 4 a worker: this many workers cannot fit
        cli._connection_budget(s, max_conn)
    workers = max(1, (max_conn - superuser - 10) // 40 + 1)  # one worker more than 10 + 10 per worker fits
    shrunk = cli._connection_budget(s, workers)
    assert shrunk.db.pool_size < 10
    assert os.environ["DIMING_POOL_SIZE"] == str(shrunk.db.pool_size)  # what the worker processes will read
    assert int(os.environ["DIMING_OGC_POOL_SIZE"]) < 10
    assert "too many; serving with" in capsys.readouterr().out
