"""OGC API errors: a bad query parameter is a 400 (OGC API – Features Part 1), in the project's error shape.

The OGC reads run on asyncpg, not SQLAlchemy, so its failures get their own mapping here (installed by
``gis_api.errors.install_handlers``): a value PostgreSQL or the driver refuses is the client's 400, a server
or connection that is away is a 503 with ``Retry-After`` — the same answers the JSON API gives.
"""

from __future__ import annotations

import logging

import asyncpg  # type: ignore[import-untyped]
from asyncpg.exceptions import _base as asyncpg_base  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gis_api.errors import RETRY_SQLSTATE, UNAVAILABLE_SQLSTATE, DimingError, Unavailable, error_response

log = logging.getLogger(__name__)


class BadRequest(DimingError):
    status = 400
    code = "invalid_parameter"


class NotAcceptable(DimingError):
    status = 406
    code = "not_acceptable"




def connection_lost(exc: BaseException) -> bool:
    """Did the connection (not the statement) fail: closed by the server, terminated, or left in a broken state?"""
    if isinstance(exc, asyncpg_base.InternalClientError | asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, asyncpg_base.DataError):
        return True  # "connection is closed", "another operation is in progress" …
    state = getattr(exc, "sqlstate", "") or ""
    return isinstance(exc, asyncpg.PostgresError) and state.startswith(UNAVAILABLE_SQLSTATE)


def translate(exc: BaseException) -> DimingError | None:
    """The client-facing error of an asyncpg / socket failure, or None when it is a bug (a 500)."""
    if isinstance(exc, asyncpg_base.DataError):  # the driver refused a parameter, e.g. beyond int64
        return BadRequest(f"a value is out of range or of the wrong type: {exc}",
                          "参数值超出范围或类型不符", code="invalid_value")
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        if state == "57014":  # query_canceled: the read statement timeout (gis_api/limits.py)
            from gis_api.limits import defaults, timeout_error

            return timeout_error("read", defaults().read_timeout_s, defaults().retry_after_s)
        if state.startswith(UNAVAILABLE_SQLSTATE):
            return Unavailable()
        if state.startswith(RETRY_SQLSTATE):
            return Unavailable("the database is busy with a conflicting change; try again",
                               "数据库正忙于冲突的修改，请重试", rule="database_busy")
        if state.startswith(("22", "XX")):  # data exceptions, e.g. a geometry PostGIS cannot read
            first = str(exc).splitlines()[0]
            return BadRequest(first, f"数据无效：{first}", code="invalid_value")
        return None
    if isinstance(exc, asyncpg.InterfaceError | asyncpg_base.InternalClientError | OSError):
        # connection refused, socket missing, connection closed mid-query, connect timeout
        return Unavailable()
    return None


def install_handlers(app: FastAPI) -> None:
    async def _asyncpg(_req: Request, exc: Exception) -> JSONResponse:
        known = translate(exc)
        if known is None:
            log.exception("OGC database error", exc_info=exc)
            return JSONResponse({"code": "database_error", "message": "database error", "message_zh": "数据库错误",
                                 "field": None, "rule": None}, status_code=500)
        if isinstance(known, Unavailable):
            log.warning("database unavailable (OGC reads): %s", exc)
        return error_response(known)

    app.add_exception_handler(asyncpg.PostgresError, _asyncpg)
    app.add_exception_handler(asyncpg.InterfaceError, _asyncpg)
    app.add_exception_handler(asyncpg_base.InternalClientError, _asyncpg)
