"""FastAPI dependencies in one place: the session, the current user, read access, as_of."""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from gis_api import auth, clock, limits, replicas, route_roles
from gis_api.errors import DimingError, Unauthorized
from gis_api.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: commit when the handler returns, roll back on any error.

    A read (GET/HEAD) may get a session on a read replica (gis_api/replicas.py decides); when that replica
    fails during the request, or does not know a token that was just issued on the primary, ReplicaLost
    has the request run again on the primary."""
    replica = replicas.read_target()
    session: Session = (replica.sessionmaker if replica else request.app.state.sessionmaker)()
    try:
        _statement_timeout(request, session,
                           *limits.timeout_for_method(get_settings(request).limits, request.method))
        yield session
        session.commit()
    except BaseException as exc:
        try:
            session.rollback()
        except Exception:
            if replica is None:
                raise
        if replica is not None and replicas.standby_failure(exc):
            request.app.state.replicas.failed(replica, exc)
            raise replicas.ReplicaLost() from exc
        if replica is not None and isinstance(exc, Unauthorized) and "authorization" in request.headers:
            raise replicas.ReplicaLost() from exc  # a token from a login the replica has not replayed yet
        raise
    finally:
        session.close()


def _statement_timeout(request: Request, session: Session, seconds: float, request_class: str) -> None:
    """Bound the request's statements by its class (read/write/analysis/import); the error handler names it."""
    limits.set_statement_timeout(session, seconds, request_class)
    request.state.timeout = (request_class, seconds)


# scope="function": commit before the response is sent, so a client never sees 200 for a write that
# has not committed (with the default scope the commit runs after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def optional_user(
    request: Request, session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> auth.User | None:
    if creds is None or creds.scheme.lower() != "bearer":
        permission_first(request, None)
        return None
    user = auth.authenticate(session, creds.credentials)
    permission_first(request, user)
    return user


def permission_first(request: Request, user: auth.User | None) -> None:
    """403 before the body is validated when the route's handler would refuse this user's roles anyway.

    Dependencies are solved before FastAPI reports body errors, and every route that knows its user depends on
    ``optional_user``: the role check the handler starts with (``auth.require``, read by ``route_roles``) runs
    here first, so a viewer's invalid PATCH is refused for the role, not answered with the fields it may not
    write. The handler still makes its own check (and the finer ones that depend on the body)."""
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    if endpoint is None:
        return
    required = route_roles.required_roles(endpoint)
    if required is None or not required.roles:
        return
    if user is None and not required.first:
        return  # the handler may answer something else first (a read-only OGC collection: 405 to anyone)
    auth.require(user, *required.roles)  # 401 without a login, 403 without the role


OptionalUser = Annotated[auth.User | None, Depends(optional_user)]


def current_user(user: OptionalUser) -> auth.User:
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[auth.User, Depends(current_user)]


async def permission_before_parsing(request: Request) -> DimingError | None:
    """``permission_first`` for a body that is not even JSON: FastAPI parses the body before it solves any
    dependency, so the validation handler asks here (on a session of its own) before answering 422."""

    def check() -> DimingError | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # the session the request's dependencies would get (tests override it), read only and closed at once
        provider = request.app.dependency_overrides.get(get_session, get_session)
        sessions = provider(request) if inspect.signature(provider).parameters else provider()
        try:
            session: Session = next(sessions)
            user = auth.authenticate(session, token.strip()) if scheme.lower() == "bearer" and token else None
            permission_first(request, user)
        except DimingError as exc:
            return exc
        finally:
            sessions.close()
        return None

    return await run_in_threadpool(check)


def read_access(user: OptionalUser, settings: SettingsDep) -> auth.User | None:
    """Reads are public when DIMING_PUBLIC_READ=true (the demo default), otherwise need a login."""
    if not settings.auth.public_read and user is None:
        raise Unauthorized("login required to read (DIMING_PUBLIC_READ=false)", "需要登录后才能查看")
    return user


ReadAccess = Annotated[auth.User | None, Depends(read_access)]


def as_of_param(
    as_of: Annotated[
        dt.date | None, Query(description="Valid-time date YYYY-MM-DD; default today")
    ] = None,
) -> dt.date:
    return as_of or clock.today()


AsOf = Annotated[dt.date, Depends(as_of_param)]


def analysis_access(request: Request, session: SessionDep, user: ReadAccess) -> Iterator[auth.User | None]:
    """Expensive analyses (coverage, 2SFCA, exclusion check …): planners and admins get the analysis statement
    timeout; everyone else (anonymous reads, other roles) a tight one and a few concurrent slots, then 429."""
    lim = get_settings(request).limits
    if user is not None and user.has_any((auth.Role.planner,)):
        _statement_timeout(request, session, lim.analysis_timeout_s, "analysis")
        yield user
        return
    slots: threading.BoundedSemaphore = request.app.state.anonymous_analysis_slots  # made by create_app
    if not slots.acquire(blocking=False):
        raise limits.TooBusy(
            f"{lim.anonymous_analysis_concurrency} analyses without a planner login are already running "
            "(DIMING_LIMIT_ANONYMOUS_ANALYSIS_CONCURRENCY); try again shortly or log in as a planner",
            f"未以规划人员身份登录的分析已有 {lim.anonymous_analysis_concurrency} 个在运行，请稍后重试或登录",
            rule="DIMING_LIMIT_ANONYMOUS_ANALYSIS_CONCURRENCY", headers={"Retry-After": str(lim.retry_after_s)})
    try:
        _statement_timeout(request, session, lim.anonymous_analysis_timeout_s, "anonymous analysis")
        yield user
    finally:
        slots.release()


AnalysisAccess = Annotated[auth.User | None, Depends(analysis_access, scope="function")]


def import_access(request: Request, session: SessionDep, user: CurrentUser) -> auth.User:
    """File imports run many statements over many rows: the import statement timeout."""
    _statement_timeout(request, session, get_settings(request).limits.import_timeout_s, "import")
    return user


ImportUser = Annotated[auth.User, Depends(import_access)]
