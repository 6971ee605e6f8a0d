"""Reads on PostgreSQL hot standbys (``DIMING_READ_REPLICA_URLS``), writes on the primary.

PostgreSQL's streaming replication does the copying; this module only decides, per request, where to read:

- ``ReplicaRouting`` (ASGI middleware, installed by ``create_app`` only when replicas are configured) sets a
  ``Route`` for the request in a context variable: GET/HEAD may read from a replica, every other method uses
  the primary throughout. ``gis_api.deps.get_session`` and the OGC ``PoolReader`` ask ``read_target()`` which
  replica (or None: the primary) to use, so routes and services never know replicas exist.
- Read-your-writes: after a successful write the response carries the primary's WAL insert position (header
  ``Diming-LSN`` and cookie ``diming_lsn``); a read that brings it back goes to a replica only if that
  replica has replayed past it (``pg_last_wal_replay_lsn()``, as last checked), else to the primary.
- ``ReplicaSet`` checks every replica in a background thread: reachable, still in recovery, and not more
  than ``DIMING_REPLICA_MAX_LAG_S`` behind. A replica that fails leaves rotation and is re-checked with
  exponential backoff; a lagging one returns when it has caught up.
- A read whose replica fails mid-request (connection lost, server shut down, a recovery conflict, a GET that
  tried to write) is run again on the primary before anything was sent: the client never sees the failure.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

LSN_HEADER = "Diming-LSN"
LSN_COOKIE = "diming_lsn"
# The token outlives any lag a replica in rotation may have (DIMING_REPLICA_MAX_LAG_S, at most an hour).
LSN_COOKIE_MAX_AGE_S = 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # reads: they may use a replica, get no token
MAX_BACKOFF_S = 30.0
_LSN_RE = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
# Errors of a read on a standby that the primary would not give: the connection or server went away
# (08, 57P01-03: the replica leaves rotation), a query cancelled by a recovery conflict (40001) or a GET that
# tried to write (25006: a route to fix; the replica stays in rotation).
_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03")
_RETRY_ON_PRIMARY = (*_CONNECTION_LOST, "40001", "25006")


def parse_lsn(value: str) -> int | None:
    m = _LSN_RE.fullmatch(value.strip())
    return (int(m[1], 16) << 32 | int(m[2], 16)) if m else None


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


class ReplicaLost(Exception):  # a signal to ReplicaRouting, never an answer to a client
    """The read's replica failed before the response started: ``ReplicaRouting`` runs it again on the primary."""


def standby_failure(exc: BaseException) -> bool:
    """Would this error of a read on a replica go away on the primary? (SQLAlchemy/psycopg2, or asyncpg by its
    SQLSTATE; the OGC reader adds asyncpg's own lost-connection errors.)"""
    if isinstance(exc, OSError):  # asyncpg: refused, socket gone, connect timeout
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or ""
        return exc.connection_invalidated or code.startswith(_RETRY_ON_PRIMARY) or (
            not code and type(exc.orig).__name__ in ("OperationalError", "InterfaceError"))
    code = getattr(exc, "sqlstate", None) or ""
    return isinstance(code, str) and code.startswith(_RETRY_ON_PRIMARY)


def replica_down(exc: BaseException) -> bool:
    """Of those, the ones that say the replica itself is away (it leaves rotation until a check finds it back)."""
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or ""
        return exc.connection_invalidated or code.startswith(_CONNECTION_LOST) or not code
    code = getattr(exc, "sqlstate", None) or ""
    return not isinstance(code, str) or not code or code.startswith(_CONNECTION_LOST)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


@dataclass
class Replica:
    url: str
    engine: Engine
    sessionmaker: sessionmaker[Session]
    healthy: bool = False  # in rotation
    replay_lsn: int = 0
    lag_s: float | None = None
    failures: int = 0
    next_check: float = 0.0
    reason: str = "not checked yet"

    @property
    def name(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


class ReplicaSet:
    def __init__(self, primary: Engine, urls: list[str], *, max_lag_s: float, interval_s: float,
                 pool_size: int = 5) -> None:
        from gis_api.db import make_engine, make_sessionmaker, normalise_url

        self.primary = primary
        self.max_lag_s = max_lag_s
        self.interval_s = interval_s
        self.replicas: list[Replica] = []
        for url in urls:
            engine = make_engine(normalise_url(url), pool_size, connect_timeout=3)
            self.replicas.append(Replica(url, engine, make_sessionmaker(engine)))
        # (time, primary WAL position) samples: a replica's lag is the age of the newest position it has replayed.
        self._samples: deque[tuple[float, int]] = deque(maxlen=int(max_lag_s / interval_s) + 8)
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    # -- routing ---------------------------------------------------------------------------------
    def pick(self, min_lsn: int | None = None) -> Replica | None:
        """A replica in rotation that has replayed ``min_lsn`` (round robin), or None: use the primary."""
        self.start()
        with self._lock:
            ready = [r for r in self.replicas if r.healthy and (min_lsn is None or r.replay_lsn >= min_lsn)]
        return ready[next(self._turn) % len(ready)] if ready else None

    def failed(self, replica: Replica, exc: BaseException) -> None:
        """A read on ``replica`` failed and is re-run on the primary; the replica leaves rotation if it is away."""
        if replica_down(exc):
            self.mark_down(replica, exc)
        else:
            log.warning("read re-run on the primary after %s on replica %s: %s", type(exc).__name__, replica.name,
                        _first_line(exc))

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        with self._lock:
            if replica.healthy:
                log.warning("read replica %s left rotation: %s", replica.name, _first_line(exc))
            replica.healthy = False
            replica.reason = f"failed during a read: {type(exc).__name__}"
            self._backoff(replica)
        replica.engine.dispose()  # its pooled connections are dead too

    def commit_lsn(self) -> int:
        """The primary's WAL insert position: past the commit record of every transaction committed so far."""
        with self.primary.connect() as conn:
            return int(parse_lsn(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()) or 0)

    # -- health ----------------------------------------------------------------------------------
    def start(self) -> None:
        """The checker thread of this process (started on first use: a forked server worker starts its own)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="diming-replica-check", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._thread = None
        for r in self.replicas:
            r.engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check(due_only=True)
            except Exception:  # never let the checker die: replicas would stay as last seen
                log.exception("replica check failed")
            now = time.monotonic()
            wake = min([r.next_check for r in self.replicas] + [now + self.interval_s])
            self._stop.wait(max(0.05, wake - now))

    def check(self, due_only: bool = False) -> None:
        """One round: sample the primary's WAL position, then check each (due) replica."""
        try:
            with self.primary.connect() as conn:
                position = parse_lsn(conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())
            if position is not None:
                self._samples.append((time.monotonic(), position))
        except Exception as exc:  # the primary is away: replicas keep serving reads as last judged
            log.warning("replica check: primary not reachable: %s", _first_line(exc))
        for replica in self.replicas:
            if due_only and replica.next_check > time.monotonic():
                continue
            self._check_one(replica)

    def _check_one(self, replica: Replica) -> None:
        try:
            with replica.engine.connect() as conn:
                recovery, replay = conn.execute(
                    text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")).one()
        except Exception as exc:
            with self._lock:
                if replica.healthy:
                    log.warning("read replica %s left rotation: unreachable", replica.name)
                replica.healthy, replica.reason = False, f"unreachable: {_first_line(exc)}"
                self._backoff(replica)
            replica.engine.dispose()
            return
        now = time.monotonic()
        with self._lock:
            replica.failures, replica.next_check = 0, now + self.interval_s
            if not recovery:  # promoted: it no longer follows the primary, so it may miss the primary's writes
                replica.healthy, replica.reason, replica.lag_s = False, "not a standby (promoted?)", None
                return
            replica.replay_lsn = parse_lsn(replay or "") or 0
            replica.lag_s = self._lag(replica.replay_lsn, now)
            in_rotation = replica.lag_s <= self.max_lag_s
            if in_rotation != replica.healthy:
                log.warning("read replica %s %s rotation (lag %.1f s)", replica.name,
                            "joins" if in_rotation else "leaves", replica.lag_s)
            replica.healthy = in_rotation
            replica.reason = "ok" if in_rotation else f"lagging {replica.lag_s:.1f} s"

    def _lag(self, replay: int, now: float) -> float:
        """Seconds since the primary was last at a position the replica has replayed (0 when caught up)."""
        if not self._samples or replay >= self._samples[-1][1]:
            return 0.0
        behind = [t for t, position in self._samples if position <= replay]
        return now - (behind[-1] if behind else self._samples[0][0] - self.interval_s)

    def _backoff(self, replica: Replica) -> None:
        replica.failures += 1
        replica.next_check = time.monotonic() + min(self.interval_s * 2 ** replica.failures, MAX_BACKOFF_S)

    def status(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"url": r.name, "in_rotation": r.healthy, "replay_lsn": format_lsn(r.replay_lsn),
                     "lag_s": r.lag_s, "state": r.reason} for r in self.replicas]


# -- the request's route ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    replicas: ReplicaSet
    read_only: bool  # GET/HEAD: may read from a replica
    min_lsn: int | None = None  # read-your-writes: only a replica that has replayed this
    primary_only: bool = False  # a retry after its replica failed, or a token that could not be read


_route: ContextVar[Route | None] = ContextVar("diming_replica_route", default=None)


def read_target() -> Replica | None:
    """The replica the current request reads from, or None: the primary (no replicas, a write, a retry …)."""
    route = _route.get()
    if route is None or not route.read_only or route.primary_only:
        return None
    return route.replicas.pick(route.min_lsn)


def _headers(scope: MutableMapping[str, Any]) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _route_for(replicas: ReplicaSet, scope: MutableMapping[str, Any]) -> Route:
    if scope["method"] not in SAFE_METHODS:
        return Route(replicas, read_only=False)
    headers = _headers(scope)
    tokens: list[str] = []
    if b"diming-lsn" in headers:
        tokens.append(headers[b"diming-lsn"].decode("latin-1"))
    if b"cookie" in headers:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers[b"cookie"].decode("latin-1"))
        except Exception:  # a malformed cookie header is not ours to judge; it carries no token then
            cookie = SimpleCookie()
        if LSN_COOKIE in cookie:
            tokens.append(cookie[LSN_COOKIE].value)
    if not tokens:
        return Route(replicas, read_only=True)
    parsed = [parse_lsn(t) for t in tokens]
    if any(p is None for p in parsed):  # unreadable: the primary is always up to date
        return Route(replicas, read_only=True, primary_only=True)
    return Route(replicas, read_only=True, min_lsn=max(p for p in parsed if p is not None))


Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ReplicaRouting:
    """Sets the request's ``Route``; after a write, hands the client its LSN; re-runs a read on the primary
    when its replica failed before the response started."""

    def __init__(self, app: Callable[..., Awaitable[None]], replicas: ReplicaSet) -> None:
        self.app = app
        self.replicas = replicas

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_for(self.replicas, scope)
        token = _route.set(route)
        try:
            if route.read_only:
                await self._read(route, scope, receive, send)
            else:
                await self.app(scope, receive, self._with_lsn(send))
        finally:
            _route.reset(token)

    async def _read(self, route: Route, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
            return
        except ReplicaLost:
            if started:
                raise
        _route.set(replace(route, primary_only=True))
        sent_body = False

        async def again() -> MutableMapping[str, Any]:
            nonlocal sent_body
            if not sent_body:  # a GET/HEAD has no body; the first attempt consumed the empty one
                sent_body = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return await receive()

        await self.app({**scope, "state": dict(scope.get("state") or {})}, again, send)

    def _with_lsn(self, send: Send) -> Send:
        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                try:
                    lsn = format_lsn(await run_in_threadpool(self.replicas.commit_lsn))
                except Exception as exc:  # the write is done; without a token the client reads from the primary
                    log.warning("no commit LSN for the response: %s", _first_line(exc))
                else:
                    cookie = f"{LSN_COOKIE}={lsn}; Path=/; Max-Age={LSN_COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Lax"
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (LSN_HEADER.lower().encode(), lsn.encode()),
                                                      (b"set-cookie", cookie.encode())]}
            await send(message)

        return sending


def replica_set() -> ReplicaSet | None:
    """The current request's replicas (None without replicas or outside a request)."""
    route = _route.get()
    return route.replicas if route is not None else None
