"""How the OGC reads reach PostgreSQL: one statement per request, answered as text built by PostGIS.

``PoolReader`` (the server) keeps an asyncpg pool on the app's database: statements are prepared once per
connection and cached, the event loop never waits on a thread, and each read is one round trip (autocommit:
a single statement sees one snapshot). The connections get the same session settings as the app's engine
(no JIT, no parallel workers, UTC) plus ``plan_cache_mode = force_custom_plan`` so a prepared bbox query is
still planned for its actual box.

``SessionReader`` runs the same SQL on a SQLAlchemy session (psycopg2): the tests use it so reads see their
own uncommitted writes, and the write routes use it to answer with the feature they just wrote.
Tests install it with ``app.state.ogc_reader = SessionReader(session)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from gis_api.errors import Unavailable
from gis_api.ogc.errors import connection_lost
from gis_api.ogc.sql import Params, to_dollar
from gis_api.replicas import Replica, read_target, replica_set, standby_failure

SERVER_SETTINGS = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "timezone": "UTC",
    "plan_cache_mode": "force_custom_plan",
    "application_name": "diming-ogc",
}


class Reader(Protocol):
    async def fetchrow(self, sql: str, params: Params) -> Sequence[Any] | None: ...

    async def fetch(self, sql: str, params: Params) -> list[Sequence[Any]]: ...


class SessionReader:
    def __init__(self, session: Session) -> None:
        self.session = session

    def fetchrow_sync(self, sql: str, params: Params) -> Sequence[Any] | None:
        return self.session.connection().exec_driver_sql(sql, params.as_dict()).first()

    async def fetchrow(self, sql: str, params: Params) -> Sequence[Any] | None:
        return self.fetchrow_sync(sql, params)

    async def fetch(self, sql: str, params: Params) -> list[Sequence[Any]]:
        return list(self.session.connection().exec_driver_sql(sql, params.as_dict()).all())


def connect_kwargs(url: URL) -> dict[str, Any]:
    """asyncpg keyword arguments for a SQLAlchemy URL (the embedded cluster puts its socket in ``?host=``)."""
    host = url.host or url.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    return {"user": url.username, "password": url.password, "database": url.database, "host": host,
            "port": url.port}


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """No reset round trip when a connection goes back to the pool: reads leave no session state."""

    def get_reset_query(self) -> str:
        return ""


class PoolReader:
    def __init__(self, url: URL, size: int = 10, statement_timeout_ms: int | None = None) -> None:
        self.url = url
        self.size = size
        # The read statement timeout (DIMING_LIMIT_READ_TIMEOUT_S): OGC reads do not pass through get_session.
        self.server_settings = {**SERVER_SETTINGS, **(
            {"statement_timeout": str(statement_timeout_ms)} if statement_timeout_ms else {})}
        self._pool: asyncpg.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._replica_pools: dict[str, asyncpg.Pool] = {}  # read replicas (gis_api/replicas.py), by URL
        self._gates: dict[str | None, asyncio.Semaphore] = {}  # first come, first served: see _gate

    async def pool(self, replica: Replica | None = None) -> asyncpg.Pool:
        """The primary's pool, or ``replica``'s."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and (self._pool if replica is None else self._replica_pools.get(replica.url)):
            return self._pool if replica is None else self._replica_pools[replica.url]
        if self._loop is not loop:  # a pool belongs to one event loop (a test client may start several)
            self._pool, self._loop, self._lock, self._replica_pools = None, loop, asyncio.Lock(), {}
            self._gates = {}
        assert self._lock is not None
        async with self._lock:
            if replica is not None:
                if replica.url not in self._replica_pools:
                    self._replica_pools[replica.url] = await self._create(replica.engine.url)
                return self._replica_pools[replica.url]
            if self._pool is None:
                self._pool = await self._create(self.url)
        return self._pool

    async def _create(self, url: URL) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            **connect_kwargs(url), min_size=1, max_size=self.size, connection_class=_Connection,
            server_settings=self.server_settings, statement_cache_size=256, timeout=10,
        )

    async def _routed(self, call: Callable[[Replica | None], Awaitable[Any]]) -> Any:
        """A read on the request's replica (gis_api/replicas.py) when it has one; if that replica fails, the
        replica leaves rotation and the read runs on the primary, so a dying replica costs no request."""
        replica = read_target()
        if replica is not None:
            try:
                return await call(replica)
            except Exception as exc:
                if not (standby_failure(exc) or connection_lost(exc)):
                    raise
                routes = replica_set()
                if routes is not None:
                    routes.failed(replica, exc)
                failed = self._replica_pools.get(replica.url)
                if failed is not None and not replica.healthy:  # dead connections; new ones when it is back
                    await failed.expire_connections()
        return await self._retry(lambda: call(None))

    async def _retry(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Reads that survive a database restart: a pooled connection the server has closed (terminated
        backends, a restart) fails the statement on it — asyncpg then raises a connection error, or an
        InternalClientError when the close raced the query. The pool's connections are then expired and the
        read (idempotent) is tried once more on a fresh one; if that fails too, or nothing can connect, the
        answer is 503, never 500."""
        try:
            return await call()
        except OSError as exc:  # refused, socket missing, connect timeout (TimeoutError is an OSError)
            raise Unavailable() from exc
        except Exception as exc:
            if not connection_lost(exc):
                raise
            if self._pool is not None:
                await self._pool.expire_connections()
        try:
            return await call()
        except Exception as exc:
            if isinstance(exc, OSError) or connection_lost(exc):
                raise Unavailable() from exc
            raise

    def _gate(self, replica: Replica | None) -> asyncio.Semaphore:
        """Requests wait for a connection in arrival order. asyncpg's pool hands a released connection to whoever
        asks next, and a waiter it woke that finds the connection taken queues again at the back: with more
        requests than connections, some waited many turns (p99 ~40× p50 for one feature, issue 12 §2). asyncio's
        semaphore is first come, first served; with it in front the pool never makes anyone wait."""
        key = None if replica is None else replica.url
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(self.size)
        return gate

    async def _fetchrow(self, sql: str, params: Params, replica: Replica | None = None) -> Sequence[Any] | None:
        pool = await self.pool(replica)
        async with self._gate(replica):
            row: Sequence[Any] | None = await pool.fetchrow(to_dollar(sql), *params.values)
        return row

    async def _fetch(self, sql: str, params: Params, replica: Replica | None = None) -> list[Sequence[Any]]:
        pool = await self.pool(replica)
        async with self._gate(replica):
            return list(await pool.fetch(to_dollar(sql), *params.values))

    async def fetchrow(self, sql: str, params: Params) -> Sequence[Any] | None:
        row: Sequence[Any] | None = await self._routed(lambda replica: self._fetchrow(sql, params, replica))
        return row

    async def fetch(self, sql: str, params: Params) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self._routed(lambda replica: self._fetch(sql, params, replica))
        return rows

    async def close(self) -> None:
        for pool in self._replica_pools.values():
            await pool.close()
        self._replica_pools = {}
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
