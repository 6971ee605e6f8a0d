"""The OpenAPI document (/openapi.json) tells the truth about every operation, in one place.

FastAPI documents what a route returns when all goes well and its own validation error; everything else the
service answers comes from shared machinery (``gis_api.errors``, the body limit, throttling, the database
being away), so it is added here once, for every operation, rather than on each decorator:

* the error responses with the shared error body ``{code, message, message_zh, field, rule}`` — 400, 401,
  404, 422, 429 and 503 anywhere; 403 where a login can lack the role; 409 and 413 on writes and bodies;
  412/428 where ``If-Match`` is read (and ``If-Match`` is then declared required: without it the answer is
  428);
* security as it is: reads without a login while ``DIMING_PUBLIC_READ`` is on (an optional bearer token,
  ``[{}, {"HTTPBearer": []}]``), a login required otherwise and on every write;
* ``Retry-After`` on 429/503 and ``Allow`` on 405.

``tests/fuzz/test_schemathesis.py`` holds the document to this: any undeclared status, media type or body
shape fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from gis_api import deps

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "Every error: a machine code, the message in English and Chinese, the field and rule at fault.",
    "required": ["code", "message", "message_zh", "field", "rule"],
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "message_zh": {"type": "string"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "rule": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "rule_url": {"type": "string", "description": "the rule's entry in the offline manual, e.g. /help/rules#t1"},
    },
    "additionalProperties": True,
}

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer"}}}
ERRORS: dict[int, str] = {
    400: "Invalid parameter or request",
    401: "Login required, or the token is invalid or expired",
    403: "The user lacks the role this needs",
    404: "Not found",
    405: "Method not allowed here (see the Allow header)",
    409: "Conflicts with the current state",
    412: "If-Match does not match the current version (someone else changed it)",
    413: "The request (body, archive, geometry) exceeds a configured limit",
    422: "Invalid input: the field and the rule are named",
    428: "If-Match is required (send the ETag of the version you edit)",
    429: "Too many requests or attempts (see Retry-After)",
    503: "The database is away or busy, or a time limit was hit (see Retry-After)",
}
ALWAYS = (400, 401, 404, 422, 429, 503)
WRITE_METHODS = {"post", "put", "patch", "delete"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


GEOJSON = "application/geo+json"
CSV = "text/csv"
HTML = "text/html"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def media(*types: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers (also) in ``types``, e.g. ``responses=media(GEOJSON)``: FastAPI
    only knows the JSON of ``response_model``, not the media type a ``Response`` is built with."""
    return {status: {"content": {t: {"schema": {}} for t in types}}}


def error_response(status: int, ref: str = "#/components/schemas/Error") -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERRORS[status],
                                "content": {"application/json": {"schema": {"$ref": ref}}}}
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    if status == 405:
        response["headers"] = {"Allow": {"description": "the methods allowed", "schema": {"type": "string"}}}
    return response


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _auth(dependant: Dependant, public_read: bool) -> str | None:
    """'required', 'optional' or None (the route never looks at a token)."""
    calls = set(_calls(dependant))
    if deps.current_user in calls:
        return "required"
    if deps.read_access in calls:
        return "optional" if public_read else "required"
    if deps.optional_user in calls:
        return "optional"
    return None


def complete(doc: dict[str, Any], routes: list[Any], public_read: bool) -> dict[str, Any]:
    """Add the shared responses, security and headers to a FastAPI-generated document (in place)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    schemes = components.setdefault("securitySchemes", {})
    schemes.setdefault("HTTPBearer", {"type": "http", "scheme": "bearer"})
    auth_of: dict[tuple[str, str], str | None] = {}
    # FastAPI keeps included routers nested: their contexts carry the full path and the route
    for ctx in iter_route_contexts(routes):
        route = ctx.route
        if isinstance(route, APIRoute) and route.include_in_schema and ctx.path_format is not None:
            kind = _auth(route.dependant, public_read)
            for method in ctx.methods or ():
                auth_of[(ctx.path_format, method.lower())] = kind
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            kind = auth_of.get((path, method))
            if path.startswith("/ogc") and method in WRITE_METHODS:
                kind = "required"  # OGC writes check the login themselves (after the read-only 405)
            _complete_operation(path, method, op, kind)
    return doc


def _complete_operation(path: str, method: str, op: dict[str, Any], auth: str | None) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    params = op.get("parameters", [])
    if_match = False
    for p in params:
        if p.get("in") == "header" and p.get("name", "").lower() == "if-match":
            p["required"] = True  # without it the answer is 428, never a write
            p["schema"] = {"type": "string"}
            p.setdefault("description", "the ETag of the version edited (from GET)")
            if_match = True
    statuses = set(ALWAYS)
    if auth is not None or path.startswith("/ogc"):
        statuses.add(403)
    if method in WRITE_METHODS:
        statuses.add(409)
    if "requestBody" in op or method in WRITE_METHODS:
        statuses.add(413)
    if if_match:
        statuses |= {412, 428}
    if path.startswith("/ogc") and method in WRITE_METHODS:
        statuses.add(405)  # a read-only collection
    for status in sorted(statuses):
        key = str(status)
        existing = responses.get(key)
        # FastAPI's own 422 schema (HTTPValidationError) is not what the handlers send: replace it; a route's
        # own description of a status is kept, with the shared body and headers.
        if existing is None or status == 422:
            responses[key] = error_response(status)
        else:
            shared = error_response(status)
            existing.setdefault("content", shared["content"])
            if "headers" in shared:
                existing["headers"] = {**shared["headers"], **existing.get("headers", {})}
    if method == "options":
        for key in ("200", "204"):
            if key in responses:
                responses[key] = {"description": "The methods allowed (Allow header)",
                                  "headers": {"Allow": {"schema": {"type": "string"}}}}
    if auth == "required":
        op["security"] = [{"HTTPBearer": []}]
    elif auth == "optional":
        op["security"] = [{}, {"HTTPBearer": []}]  # public read: a token is accepted, not needed
    else:
        op.pop("security", None)


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = default()
            app.openapi_schema = complete(doc, list(app.routes), app.state.settings.auth.public_read)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
