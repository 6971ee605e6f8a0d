"""FastAPI dependencies in one place: the session, the current user, read access, as_of."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.errors import Unauthorized
from gis_api.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: commit when the handler returns, roll back on any error."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a client never sees 200 for a write that
# has not committed (with the default scope the commit runs after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def optional_user(
    session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> auth.User | None:
    if creds is None or creds.scheme.lower() != "bearer":
        return None
    return auth.authenticate(session, creds.credentials)


OptionalUser = Annotated[auth.User | None, Depends(optional_user)]


def current_user(user: OptionalUser) -> auth.User:
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[auth.User, Depends(current_user)]


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
