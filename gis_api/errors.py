"""One error hierarchy, one status map, one JSON shape: ``{code, message, message_zh, field, rule}``.

Services raise these (they never import FastAPI); ``install_handlers`` turns them into responses, and
turns request-validation and database constraint errors into the same shape so bad input is never a 500.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_api.help.anchors import rule_url

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
        out = {
            "code": self.code,
            "message": self.message,
            "message_zh": self.message_zh,
            "field": self.field,
            "rule": self.rule,
            **self.extra,
        }
        if self.rule:  # the rule's entry in the offline manual (docs/rules.md, served at /help/rules)
            out["rule_url"] = rule_url(self.rule)
        return out


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


class MethodNotAllowed(DimingError):
    """405 with the ``Allow`` header (RFC 9110 §15.5.6), e.g. a write to a read-only collection."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, message_zh: str, *, allow: str, **kw: Any) -> None:
        kw.setdefault("headers", {"Allow": allow})
        super().__init__(message, message_zh, **kw)


RETRY_AFTER_S = 5  # the database is away: how long a client should wait before trying again


class Unavailable(DimingError):
    """503 with ``Retry-After``: the database (or another backend) cannot be reached; nothing was changed."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str = "the database is not reachable; try again shortly",
                 message_zh: str = "数据库暂时无法连接，请稍后重试", **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(RETRY_AFTER_S)})
        kw.setdefault("rule", "database_unavailable")
        super().__init__(message, message_zh, **kw)


# SQLSTATE classes that mean "the server or the connection is away", not "the request is wrong":
# 08 connection exception, 53 insufficient resources, 57P admin/crash shutdown, cannot connect now;
# 3D000 (invalid_catalog_name): the server answers but the configured database is not there (not created yet,
# being restored, a wrong DIMING_DATABASE_URL) — nothing can be read, as when the server is away. Shared with OGC.
UNAVAILABLE_SQLSTATE = ("08", "53", "57P", "3D000")
# Transient: the same request succeeds when retried (serialization failure, deadlock, lock not available).
RETRY_SQLSTATE = ("40001", "40P01", "55P03")


def database_error(exc: DBAPIError) -> DimingError | None:
    """The client-facing error of a psycopg2/SQLAlchemy failure that is not the client's fault, or None (a bug)."""
    pgcode = getattr(exc.orig, "pgcode", None) or ""
    if pgcode.startswith(UNAVAILABLE_SQLSTATE) or (not pgcode and exc.connection_invalidated):
        return Unavailable()
    if not pgcode and exc.__class__.__name__ in ("OperationalError", "InterfaceError"):
        return Unavailable()  # connection refused / closed: psycopg2 gives no SQLSTATE then
    if pgcode.startswith(RETRY_SQLSTATE):
        return Unavailable("the database is busy with a conflicting change; try again",
                           "数据库正忙于冲突的修改，请重试", rule="database_busy")
    return None


def error_response(exc: DimingError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _loc_to_field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


# Chinese text of a pydantic error type ({label} is the field's Chinese label; the rest from the error's ctx).
# Pydantic's own msg is English only; these are the types the API's models and parameters can raise.
VALIDATION_ZH: dict[str, str] = {
    "missing": "缺少必填项：{label}",
    "string_too_short": "{label}至少须有 {min_length} 个字符",
    "string_too_long": "{label}不能超过 {max_length} 个字符",
    "too_short": "{label}至少须有 {min_length} 项",
    "too_long": "{label}不能超过 {max_length} 项",
    "string_type": "{label}须为文本",
    "string_pattern_mismatch": "{label}的格式不符合要求",
    "string_unicode": "{label}须为有效的文本",
    "int_type": "{label}须为整数",
    "int_parsing": "{label}须为整数",
    "int_from_float": "{label}须为整数，不能有小数",
    "float_type": "{label}须为数字",
    "float_parsing": "{label}须为数字",
    "decimal_parsing": "{label}须为数字",
    "finite_number": "{label}须为有限的数字",
    "bool_type": "{label}须为是或否",
    "bool_parsing": "{label}须为是或否",
    "date_type": "{label}须为日期（年-月-日）",
    "date_parsing": "{label}须为日期（年-月-日）",
    "date_from_datetime_parsing": "{label}须为日期（年-月-日）",
    "date_from_datetime_inexact": "{label}须为日期，不能含时刻",
    "datetime_type": "{label}须为日期时间",
    "datetime_parsing": "{label}须为日期时间",
    "datetime_from_date_parsing": "{label}须为日期时间",
    "time_parsing": "{label}须为时刻",
    "greater_than": "{label}须大于 {gt}",
    "greater_than_equal": "{label}须不小于 {ge}",
    "less_than": "{label}须小于 {lt}",
    "less_than_equal": "{label}须不大于 {le}",
    "multiple_of": "{label}须为 {multiple_of} 的倍数",
    "literal_error": "{label}须为以下值之一：{expected}",
    "enum": "{label}须为以下值之一：{expected}",
    "extra_forbidden": "不认识的字段：{label}",
    "dict_type": "{label}须为对象",
    "model_type": "{label}须为对象",
    "model_attributes_type": "{label}须为对象",
    "list_type": "{label}须为数组",
    "tuple_type": "{label}须为数组",
    "set_type": "{label}须为数组",
    "json_type": "{label}须为 JSON 文本",
    "json_invalid": "{label}不是有效的 JSON",
    "uuid_parsing": "{label}格式不正确",
    "url_parsing": "{label}须为有效的链接",
    "url_scheme": "{label}的链接协议不受支持",
    "value_error": "{label}取值无效",
    "assertion_error": "{label}取值无效",
    "union_tag_invalid": "{label}的类型不受支持",
    "union_tag_not_found": "{label}缺少类型标识",
    "none_required": "{label}须为空",
    "bytes_too_long": "{label}过长",
    "bytes_too_short": "{label}过短",
}


def _ctx_text(value: Any) -> str:
    # ctx values are numbers or the expected values ("'a' or 'b'"); they are codes, not words to translate.
    return str(value).replace(" or ", "、").replace("'", "")


def validation_message_zh(error: Mapping[str, Any]) -> str:
    """The Chinese message of one pydantic error: the field's Chinese label and what is wrong with it."""
    from gis_api.labels import field_label

    names = [str(p) for p in error.get("loc", ()) if isinstance(p, str) and p not in ("body", "query", "path",
                                                                                      "header", "form")]
    label = field_label(names[-1]) if names else "请求"
    template = VALIDATION_ZH.get(str(error.get("type")), "{label}无效")
    ctx = {k: _ctx_text(v) for k, v in (error.get("ctx") or {}).items()}
    try:
        return template.format(label=label, **ctx)
    except (KeyError, IndexError):
        return f"{label}无效"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DimingError)
    async def _diming(_req: Request, exc: DimingError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            from gis_api.deps import permission_before_parsing  # deps imports this module

            denied = await permission_before_parsing(_req)  # the body is parsed before dependencies run
            return error_response(denied or _malformed_json(exc.body, first))
        field = _loc_to_field(first.get("loc", ()))
        body = InvalidInput(
            f"{field}: {first.get('msg', 'invalid')}",
            validation_message_zh(first),
            field=field,
            rule=str(first.get("type") or "") or None,
        ).body()
        body["errors"] = [
            {"field": _loc_to_field(e.get("loc", ())), "message": e.get("msg", ""),
             "message_zh": validation_message_zh(e)} for e in errors
        ]
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        zh = {404: "未找到", 405: "不支持该请求方法"}.get(exc.status_code, "请求错误")
        return JSONResponse(
            {"code": f"http_{exc.status_code}", "message": str(exc.detail), "message_zh": zh,
             "field": None, "rule": None},
            status_code=exc.status_code,
            headers=exc.headers,  # Allow on 405
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_req: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint the service did not pre-check: still the client's conflict, never a 500.
        diag = getattr(exc.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None)
        column = getattr(diag, "column_name", None)
        if getattr(exc.orig, "pgcode", None) == "23502" and column:  # not_null_violation: a required value
            return error_response(InvalidInput(f"{column} is required (it cannot be null or left out)",
                                               f"{_label(column)}为必填项，不能为空或省略", field=column,
                                               rule="required"))
        if constraint and constraint.endswith("_len"):  # a text-length bound (migration 0008): the field's fault
            from gis_api.limits import length_error

            found = length_error(constraint)
            if found:
                return error_response(found)
        return error_response(
            Conflict(
                f"the change violates database constraint {constraint or ''}".strip(),
                "修改与已有数据冲突（违反数据库约束），未保存",
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
            return error_response(InvalidInput(first_line, "数据无效：数据库不接受该值（如几何或日期格式有误）",
                                               code="invalid_value"))
        known = database_error(exc)
        if known is not None:
            log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
            return error_response(known)
        log.exception("database error")  # a bug (e.g. bad SQL): a 500 that the logs and the fuzz tests show
        return JSONResponse(
            {"code": "database_error", "message": "database error", "message_zh": "数据库错误",
             "field": None, "rule": None},
            status_code=500,
        )

    @app.exception_handler(ValueError)
    async def _value(_req: Request, exc: ValueError) -> JSONResponse:
        # psycopg2 refuses a NUL in a parameter before sending it; RejectNul stops them at the edge except in
        # multipart text fields (uploads are not scanned), so this is the safety net, not the rule.
        if "NUL (0x00)" in str(exc):
            return error_response(InvalidInput(
                "a text value contains a NUL character (\\u0000), which text cannot hold",
                "文本含有无法保存的 NUL 字符", field="request", rule="no_nul_characters", code="invalid_character"))
        log.error("unhandled error", exc_info=exc)
        return JSONResponse({"code": "internal_error", "message": "internal error", "message_zh": "内部错误",
                             "field": None, "rule": None}, status_code=500)

    @app.exception_handler(PoolTimeout)
    async def _pool(_req: Request, _exc: PoolTimeout) -> JSONResponse:
        return error_response(Unavailable("every database connection is busy; try again shortly",
                                          "数据库连接均在使用中，请稍后重试", rule="database_busy"))

    from gis_api.ogc.errors import install_handlers as install_ogc_handlers  # asyncpg (the OGC reads)

    install_ogc_handlers(app)
    # Innermost middleware: it sees the body after the size limit (gis_api.limits) has bounded it.
    app.add_middleware(RejectNul)


# -- malformed JSON and NUL characters --------------------------------------------------------------------

def _malformed_json(doc: Any, error: dict[str, Any]) -> InvalidInput:
    """"malformed JSON at line 1, column 14: Expecting ',' delimiter" — FastAPI gives only a character offset."""
    loc = error.get("loc", ())
    pos = loc[-1] if loc and isinstance(loc[-1], int) else None
    what = (error.get("ctx") or {}).get("error") or error.get("msg") or "invalid JSON"
    where = ""
    if pos is not None and isinstance(doc, str | bytes):
        text = doc if isinstance(doc, str) else doc.decode("utf-8", "replace")
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        where = f" at line {line}, column {col}"
    where_zh = f"（第 {line} 行第 {col} 列）" if where else ""
    return InvalidInput(f"malformed JSON{where}: {what}", f"请求体不是有效的 JSON{where_zh}",
                        field="body", rule="json_syntax", code="malformed_json")


def text_problem(value: str) -> str | None:
    """Why PostgreSQL cannot store ``value`` as text, or None: NUL (\\u0000) or an unpaired UTF-16 surrogate."""
    if "\x00" in value:
        return "a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired UTF-16 surrogate"
    return None


def _find_bad_text(node: Any, path: str) -> tuple[str, str] | None:
    """(JSON path, problem) of the first key or string value that text columns cannot hold."""
    stack = [(node, path)]
    while stack:  # iterative: a deeply nested body must not exhaust the stack
        item, where = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return where or "body", problem
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                sub = f"{where}.{k}" if where else str(k)
                problem = text_problem(str(k))
                if problem:
                    return sub, problem
                stack.append((v, sub))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
    return None


# A NUL or surrogate can only reach a JSON string through an escape: scan for one before parsing anything.
_JSON_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


_LOCATION_ZH = {"the URL": "网址", "query parameter": "查询参数", "body field": "请求字段", "form field": "表单字段"}


def _label(name: str) -> str:
    """The Chinese label of a field path's last name (``spec.new.code`` → 代码)."""
    from gis_api.labels import field_label

    last = re.split(r"[.\[\]]", name.strip("[]."))
    words = [w for w in last if w and not w.isdigit()]
    return field_label(words[-1]) if words else "请求"


def _nul_error(where: str, location: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"{location} {where}: contains {problem}, which text cannot hold",
        f"{_LOCATION_ZH.get(location, location)}“{_label(where)}”含有无法保存的字符"
        f"（{'NUL' if 'NUL' in problem else '不成对的代理项'}）",
        field=where, rule="no_nul_characters", code="invalid_character",
    )


class RejectNul:
    """422 for a NUL character (or an unpaired surrogate) in the path, the query, a form or a JSON body.

    PostgreSQL text cannot hold U+0000 (psycopg2 refuses it before sending, asyncpg gets an encoding error), so
    without this check such input surfaced as a 500 from whichever statement met it first. Uploads (multipart,
    binary bodies) are left alone: files may hold any byte.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._in_url(scope)
        if found is None:
            ctype = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
            is_json = ctype == b"application/json" or ctype.endswith(b"+json")
            if is_json or ctype == b"application/x-www-form-urlencoded":
                body, receive = await _buffer(receive)
                found = self._in_json(body) if is_json else self._in_form(body)
        if found is not None:
            await error_response(found)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _in_url(scope: Scope) -> InvalidInput | None:
        path = scope.get("path", "")
        problem = text_problem(path)
        if problem:
            return _nul_error("path", "the URL", problem)
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    return _nul_error(name.replace("\x00", "\\u0000"), "query parameter", "a NUL character (\\u0000)")
        return None

    @staticmethod
    def _in_json(body: bytes) -> InvalidInput | None:
        if not _JSON_SUSPECT.search(body):
            return None
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return None  # malformed: the route's own parsing answers that
        found = _find_bad_text(doc, "")
        return _nul_error(found[0], "body field", found[1]) if found else None

    @staticmethod
    def _in_form(body: bytes) -> InvalidInput | None:
        if b"%00" not in body and b"\x00" not in body:
            return None
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return _nul_error(name.replace("\x00", "\\u0000"), "form field", "a NUL character (\\u0000)")
        return None


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body; return it and a ``receive`` that replays it (then passes on disconnects)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
