"""One error hierarchy, one status map, one JSON shape: ``{code, message, message_zh, field, rule}``.

Services raise these (they never import FastAPI); ``install_handlers`` turns them into responses, and
turns request-validation and database constraint errors into the same shape so bad input is never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class DimingError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        message_zh: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh
        self.field = field
        self.rule = rule
        if code:
            self.code = code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "message_zh": self.message_zh,
            "field": self.field,
            "rule": self.rule,
            **self.extra,
        }


class InvalidInput(DimingError):
    status = 422
    code = "invalid"


class NotFound(DimingError):
    status = 404
    code = "not_found"


class Conflict(DimingError):
    status = 409
    code = "conflict"


class Unauthorized(DimingError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str = "login required", message_zh: str = "需要登录", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, message_zh, **kw)


class Forbidden(DimingError):
    status = 403
    code = "forbidden"


class PreconditionRequired(DimingError):
    status = 428
    code = "precondition_required"


class PreconditionFailed(DimingError):
    status = 412
    code = "precondition_failed"


def error_response(exc: DimingError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _loc_to_field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DimingError)
    async def _diming(_req: Request, exc: DimingError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
        field = _loc_to_field(first.get("loc", ()))
        body = InvalidInput(
            f"{field}: {first.get('msg', 'invalid')}",
            f"字段 {field} 无效：{first.get('msg', '')}",
            field=field,
        ).body()
        body["errors"] = [
            {"field": _loc_to_field(e.get("loc", ())), "message": e.get("msg", "")} for e in errors
        ]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        zh = {404: "未找到", 405: "不支持该请求方法"}.get(exc.status_code, "请求错误")
        return JSONResponse(
            {"code": f"http_{exc.status_code}", "message": str(exc.detail), "message_zh": zh,
             "field": None, "rule": None},
            status_code=exc.status_code,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_req: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint the service did not pre-check: still the client's conflict, never a 500.
        diag = getattr(exc.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        if constraint and constraint.endswith("_len"):  # a text-length bound (migration 0008): the field's fault
            from gis_api.limits import length_error

            found = length_error(constraint)
            if found:
                return error_response(found)
        return error_response(
            Conflict(
                f"the change violates database constraint {constraint or ''}".strip(),
                f"修改违反数据库约束 {constraint or ''}".strip(),
                field=constraint,
            )
        )

    @app.exception_handler(DBAPIError)
    async def _dbapi(_req: Request, exc: DBAPIError) -> JSONResponse:
        pgcode = getattr(exc.orig, "pgcode", None) or ""
        if pgcode == "57014":  # query_canceled: the request class's statement timeout (gis_api/limits.py)
            from gis_api.limits import defaults, timeout_error

            request_class, seconds = getattr(_req.state, "timeout", ("read", 0))
            app_settings = getattr(_req.app.state, "settings", None)
            retry = app_settings.limits.retry_after_s if app_settings else defaults().retry_after_s
            return error_response(timeout_error(request_class, seconds, retry))
        if pgcode.startswith("22") or pgcode.startswith("XX"):  # data exceptions, e.g. bad geometry text
            first_line = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
            return error_response(InvalidInput(first_line, f"数据无效：{first_line}", code="invalid_value"))
        log.exception("database error")
        return JSONResponse(
            {"code": "database_error", "message": "database error", "message_zh": "数据库错误",
             "field": None, "rule": None},
            status_code=503,
        )
