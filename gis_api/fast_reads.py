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
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
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


class _Held:
    """The request's transaction (``deps.get_session``), opened by ``write_user`` to check the token and then
    handed to ``in_session`` for the write itself — or rolled back if the handler never gets there."""

    def __init__(self, request: Request) -> None:
        self.ctx: Any = _given_session(_override(request) or get_session, request)
        self.session: Session | None = None

    def open_and_check(self, token: str) -> auth.User:
        self.session = self.ctx.__enter__()
        try:
            return auth.authenticate(self.session, token)
        except BaseException:
            self.abandon(*sys.exc_info())
            raise

    def abandon(self, *exc: Any) -> None:
        ctx, self.ctx = self.ctx, None
        if ctx is not None:
            ctx.__exit__(*(exc if exc and exc[0] is not None else (_Unused, _Unused(), None)))

    def run(self, work: Callable[[Session], T]) -> T:
        ctx, self.ctx = self.ctx, None
        assert ctx is not None and self.session is not None
        try:
            result = work(self.session)
        except BaseException:
            if not ctx.__exit__(*sys.exc_info()):
                raise
            raise AssertionError("get_session swallowed an exception") from None
        ctx.__exit__(None, None, None)  # commit
        return result


class _Unused(Exception):
    """Thrown into the session provider of a write that never ran (its handler refused first): roll back."""


async def in_session(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` on the request's session (``deps.get_session``: replica routing, the read statement
    timeout, one transaction) in one trip through the thread pool — a route whose session, user and as_of are
    synchronous dependencies takes five. After ``write_user``, on the transaction it checked the token in."""
    held: _Held | None = getattr(request.state, "held_session", None)
    if held is not None and held.ctx is not None:
        return await run_in_threadpool(held.run, work)
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


async def write_user(request: Request) -> AsyncIterator[auth.User]:
    """``current_user`` for a route that writes through ``in_session``: the token is checked in the write's own
    transaction (one pool checkout, ping and rollback fewer per write than a session of its own) — the same
    answers: 401 without a login or with a bad token, the route's role check first (``deps.permission_first``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not (scheme.lower() == "bearer" and token):
        permission_first(request, None)
        raise Unauthorized()
    held = _Held(request)
    user = await run_in_threadpool(held.open_and_check, token)
    try:
        permission_first(request, user)
        request.state.held_session = held
        yield user
    finally:
        if held.ctx is not None:  # the handler refused before writing, or the body was not valid
            await run_in_threadpool(held.abandon)


WriteUser = Annotated[auth.User, Depends(write_user)]


async def as_of_param(
    as_of: Annotated[dt.date | None, Query(description="Valid-time date YYYY-MM-DD; default today")] = None,
) -> dt.date:
    """``deps.AsOf`` on the event loop (a synchronous dependency is a trip through the thread pool)."""
    return as_of or clock.today()


AsOf = Annotated[dt.date, Depends(as_of_param)]
INT64 = (-(2**63), 2**63 - 1)  # a bigint key outside this range matches no row (asyncpg would refuse to send it)
