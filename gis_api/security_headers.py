"""Security headers on every response: a strict Content-Security-Policy, nosniff, no framing, no referrer
leaks (docs/security.md explains each directive), and ``Cache-Control: private`` on answers to a request that
carried a token (unless the route chose its own caching).

A pure ASGI middleware (not ``BaseHTTPMiddleware``): it only adds headers to ``http.response.start``, so
streaming responses and static files pass through untouched. A route that serves a document needing another
policy (the folium coverage report with its inline scripts) sets ``Content-Security-Policy`` itself; the
middleware then leaves that header alone and only adds the others.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis_api.ui_config import UiSettings

# Tianditu serves its WMTS tiles from t0…t7 (Leaflet's {s} subdomains in map_ui/static/js/map.js).
TIANDITU_HOSTS = tuple(f"https://t{i}.tianditu.gov.cn" for i in range(8))
# The app's own pages; every other HTML document (notices, reports) is rendered from data and is sandboxed.
APP_PAGES = frozenset({"/", "/docs", "/field/"})  # /field/: the phone patrol app (map_ui/templates/field.html)


@functools.cache  # two possible values, asked for on every response
def app_csp(tianditu: bool = False) -> str:
    """The policy of the map, /docs and every API answer.

    style-src needs 'unsafe-inline': Leaflet, its plugins and Swagger UI position and size elements with
    inline style attributes, and the notices/reports carry a <style> block. Inline CSS cannot run script in
    any current browser; what it could still do (exfiltrate through url()) is stopped by img-src, font-src
    and connect-src, which allow this server only (plus Tianditu's tile hosts for images when keyed).
    """
    img = ["'self'", "data:", "blob:", *(TIANDITU_HOSTS if tianditu else ())]
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {' '.join(img)}",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])


_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)


def script_hashes(document: str) -> list[str]:
    """CSP source expressions ('sha256-…') of every inline <script> of ``document``."""
    out = []
    for m in _SCRIPT.finditer(document):
        digest = hashlib.sha256(m.group(1).encode("utf-8")).digest()
        out.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return sorted(set(out))


def document_csp(document: str, *, header: bool = True) -> str:
    """The policy of a self-contained HTML document with inline scripts (the folium coverage report).

    Only the scripts it was generated with may run (their hashes); nothing is loaded from anywhere (its
    assets are inline or data: URIs). As a header it is also sandboxed without same-origin: should script
    ever run in it, it runs in an opaque origin with no access to the map's session. ``header=False`` gives
    the <meta> form, which browsers accept without sandbox and frame-ancestors.
    """
    parts = [
        "default-src 'none'",
        f"script-src {' '.join(script_hashes(document)) or chr(39) + 'none' + chr(39)}",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "font-src data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if header:
        parts += ["frame-ancestors 'none'", "sandbox allow-scripts"]
    return "; ".join(parts)


def with_meta_csp(document: str) -> str:
    """``document`` with its policy as the first element of <head>, so that it also holds when the file is
    saved and opened from disk (no HTTP header there)."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{document_csp(document, header=False)}">'
    head = re.search(r"<head\b[^>]*>", document, re.IGNORECASE)
    if head is None:
        return meta + document
    return document[: head.end()] + meta + document[head.end():]


def _tianditu_keyed(scope: Scope) -> bool:
    found = getattr(getattr(scope.get("app"), "state", None), "ui_settings", None)
    settings = found if isinstance(found, UiSettings) else _env_ui_settings()
    return bool((settings.tianditu_key or "").strip())


@functools.cache
def _env_ui_settings() -> UiSettings:
    return UiSettings()  # read once: the environment does not change under a running server


class SecurityHeaders:
    """Adds the security headers to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(_add(message.get("headers", []), scope, path))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _add(headers: Iterable[tuple[bytes, bytes]], scope: Scope, path: str) -> Iterable[tuple[bytes, bytes]]:
    headers = list(headers)
    names = {k.lower() for k, _ in headers}
    if b"content-security-policy" not in names:
        csp = app_csp(tianditu=_tianditu_keyed(scope))
        content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        if content_type.startswith(b"text/html") and path not in APP_PAGES:
            # A notice or report rendered from stored data: no script at all, and a unique origin.
            csp += "; sandbox"
        headers.append((b"content-security-policy", csp.encode()))
    if b"cache-control" not in names and any(k.lower() == b"authorization" for k, _ in scope.get("headers", ())):
        # An answer to a request with a token may be one only that caller may see (DIMING_PUBLIC_READ=false, an
        # attachment not yet linked): a shared cache must not keep it for others. RFC 9111 §3.5 already says so,
        # but reverse-proxy caches do not all honour it; the browser's own cache (and If-None-Match) still works.
        headers.append((b"cache-control", b"private"))
    for name, value in (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        # strict-origin: paths and queries (search terms, ids) never leave; Tianditu, the only other host the
        # page may contact, still sees the origin its browser keys are bound to.
        (b"referrer-policy", b"strict-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ):
        if name not in names:
            headers.append((name, value))
    return headers
