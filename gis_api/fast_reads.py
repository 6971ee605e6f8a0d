"""The hot one-record GETs (a place, a division, a boundary line) on the event loop, as the OGC reads run.

A synchronous FastAPI handler costs several trips through the thread pool per request (the session, the user,
read access and as_of are dependencies of their own, and each runs on a worker thread), and it holds one of the
SQLAlchemy pool's connections while it waits for the thread pool and the GIL. Under the 50-client mixed load
(scripts/bench/mixed_load.py) those GETs queued for ~200 ms where the OGC reads, with the same kind of statement,
answered in ~20 ms. These reads now run the services' own statement (GeoJSON built by PostGIS, passed through
as text) on the OGC read pool: asyncpg, statements prepared once per connection, the replica routing and the
retry after a database restart of ``gis_api.ogc.reader.PoolReader``, the read statement timeout. No thread,
no SQLAlchemy session — except to check a bearer token, which is rare on these reads.

Where a request's reads are on a given session (tests: ``get_session`` overridden, or ``app.state.ogc_reader``
a ``SessionReader``), the same statement runs on that session, so tests see their own uncommitted rows.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.deps import get_session, permission_first
from gis_api.errors import Unauthorized
from gis_api.ogc.access import reader
from gis_api.ogc.reader import SessionReader
from gis_api.ogc.sql import Params

T = TypeVar("T")

# SQLAlchemy's own rule for ``:name`` parameters in text() (``::type`` casts are not parameters).
_NAMED = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


@lru_cache(maxsize=256)
def compile_named(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement written for ``sqlalchemy.text`` (``:name``) → psycopg2 placeholders (``%(pN)s``, ``%`` doubled)
    and the names in placeholder order; ``gis_api.ogc.sql.to_dollar`` turns that into asyncpg's ``$N``."""
    names: list[str] = []

    def placeholder(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"%(p{names.index(m.group(1)) + 1})s"

    return _NAMED.sub(placeholder, sql.replace("%", "%%")), tuple(names)


def _override(request: Request) -> Callable[..., Any] | None:
    provider = request.app.dependency_overrides.get(get_session)
    return provider  # type: ignore[no-any-return]


@contextmanager
def _given_session(provider: Callable[..., Any], request: Request) -> Iterator[Session]:
    """The overriding session provider's session, finished the way FastAPI finishes a dependency."""
    with contextmanager(provider)(*([request] if inspect.signature(provider).parameters else [])) as session:
        yield session


async def fetchrow(request: Request, sql: str, params: dict[str, Any]) -> Sequence[Any] | None:
    """One row of ``sql`` (``sqlalchemy.text`` style) on the read pool, or on the test's session."""
    compiled, names = compile_named(sql)
    bound = Params()
    bound.values = [params[n] for n in names]
    provider = _override(request)
    if provider is not None and not isinstance(getattr(request.app.state, "ogc_reader", None), SessionReader):
        with _given_session(provider, request) as session:
            return SessionReader(session).fetchrow_sync(compiled, bound)
    return await reader(request, generic=True).fetchrow(compiled, bound)


def _one_transaction(request: Request, work: Callable[[Session], T]) -> T:
    provider = _override(request) or get_session
    with _given_session(provider, request) as session:
        return work(session)


async def in_session(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` on the request's session (``deps.get_session``: replica routing, the read statement
    timeout, one transaction) in one trip through the thread pool — a route whose session, user and as_of are
    synchronous dependencies takes five."""
    return await run_in_threadpool(_one_transaction, request, work)


async def read_user(request: Request) -> auth.User | None:
    """``deps.ReadAccess`` without the thread pool when no token is sent: the same answers (401 for a bad token
    even on public reads, 401 without one when DIMING_PUBLIC_READ=false, the route's role check first)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user: auth.User | None = None
    if scheme.lower() == "bearer" and token:
        user = await run_in_threadpool(_authenticate, request, token)
    permission_first(request, user)
    if user is None and not request.app.state.settings.auth.public_read:
        raise Unauthorized("login required to read (DIMING_PUBLIC_READ=false)", "需要登录后才能查看")
    return user


def _authenticate(request: Request, token: str) -> auth.User:
    provider = _override(request)
    if provider is not None:
        with _given_session(provider, request) as given:
            return auth.authenticate(given, token)
    session: Session = request.app.state.sessionmaker()  # the primary: a token just issued is there
    try:
        return auth.authenticate(session, token)
    finally:
        session.close()


ReadUser = Annotated[auth.User | None, Depends(read_user)]


async def current_user(request: Request) -> auth.User:
    """``deps.CurrentUser`` in one trip through the thread pool (the token check) instead of three; the route's
    role check first (``deps.permission_first``), 401 without a login."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user = await run_in_threadpool(_authenticate, request, token) if scheme.lower() == "bearer" and token else None
    permission_first(request, user)
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[auth.User, Depends(current_user)]


async def as_of_param(
    as_of: Annotated[dt.date | None, Query(description="Valid-time date YYYY-MM-DD; default today")] = None,
) -> dt.date:
    """``deps.AsOf`` on the event loop (a synchronous dependency is a trip through the thread pool)."""
    return as_of or clock.today()


AsOf = Annotated[dt.date, Depends(as_of_param)]
INT64 = (-(2**63), 2**63 - 1)  # a bigint key outside this range matches no row (asyncpg would refuse to send it)
