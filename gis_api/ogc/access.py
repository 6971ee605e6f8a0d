"""OGC API plumbing shared by the read, write and tile routes: media types, JSON responses, the reader (pool or
the test's session), read access (public or bearer token), collection lookup and the cached collection metadata."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from gis_api import __version__, auth, clock
from gis_api.errors import NotFound, Unauthorized
from gis_api.ogc import query
from gis_api.ogc.collections import Collection, all_collections, get
from gis_api.ogc.reader import PoolReader, Reader, SessionReader
from gis_api.ogc.settings import OgcSettings
from gis_api.ogc.sql import Params

GEOJSON = "application/geo+json"
JSON = "application/json"
MVT = "application/vnd.mapbox-vector-tile"
SCHEMA_JSON = "application/schema+json"
OAS30 = "application/vnd.oai.openapi+json;version=3.0"


def _json(obj: Any, status: int = 200, media_type: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=media_type, headers=headers)


def ogc_settings(request: Request) -> OgcSettings:
    s: OgcSettings | None = getattr(request.app.state, "ogc_settings", None)
    if s is None:
        s = OgcSettings()
        request.app.state.ogc_settings = s
    return s


def reader(request: Request, generic: bool = False) -> Reader:
    """The OGC read pool (or the test's session). ``generic``: a statement whose best plan does not depend on its
    values (one feature by id, a page without filters): run on a second pool whose connections let PostgreSQL
    reuse a generic plan (``plan_cache_mode = auto``) — planning took 2/3 of such a statement's database time.
    Statements with a bbox or filter stay on connections that plan every execution for its values."""
    r: Reader | None = getattr(request.app.state, "ogc_reader", None)
    if r is None:
        r = PoolReader(request.app.state.engine.url, ogc_settings(request).pool_size,
                       int(request.app.state.settings.limits.read_timeout_s * 1000))
        request.app.state.ogc_reader = r
    if not generic or not isinstance(r, PoolReader):
        return r
    g: PoolReader | None = getattr(request.app.state, "ogc_generic_reader", None)
    if g is None or g.url != r.url:
        g = PoolReader(r.url, r.size)
        g.server_settings = {**r.server_settings, "plan_cache_mode": "auto"}
        request.app.state.ogc_generic_reader = g
    return g


async def read_access(request: Request) -> None:
    """Reads are public when DIMING_PUBLIC_READ=true; otherwise a valid bearer token is needed."""
    if request.app.state.settings.auth.public_read:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("login required to read (DIMING_PUBLIC_READ=false)", "需要登录后才能查看")

    await authenticate(request, token.strip())


async def authenticate(request: Request, token: str) -> auth.User:
    """The user of a bearer token (401 otherwise), checked off the event loop."""
    db = reader(request)
    if isinstance(db, SessionReader):  # reads on a given session (tests): the token is checked on it too
        return auth.authenticate(db.session, token)

    def check() -> auth.User:
        session = request.app.state.sessionmaker()
        try:
            return auth.authenticate(session, token)
        finally:
            session.close()

    return await run_in_threadpool(check)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def collection_or_404(cid: str) -> Collection:
    c = get(cid)
    if c is None:
        raise NotFound(f"no collection {cid!r}; see /ogc/collections", f"不存在数据集 {cid!r}", field="collectionId")
    return c


async def metadata(request: Request, c: Collection, tag: str | None = None) -> dict[str, Any]:
    """Extent, count and valid-time range of what is in force today, and the change tag they were read with.

    Cached: with ``tag`` (the collection's current change tag, ``change_tag``) the cached entry serves only while
    the tag and the day are the same — what a conditional GET needs; without, for ``metadata_ttl_s`` (planning
    hints: thinning tiles, letting a bbox lead)."""
    cache: dict[str, tuple[float, dict[str, Any]]] = getattr(request.app.state, "ogc_metadata", None) or {}
    request.app.state.ogc_metadata = cache
    hit = cache.get(c.id)
    ttl = ogc_settings(request).metadata_ttl_s
    today = clock.today()
    if hit and (hit[1]["tag"] == tag and hit[1]["day"] == today if tag is not None
                else time.monotonic() - hit[0] < ttl):
        return hit[1]
    sql, params = query.extent_sql(c, query.TimeFilter(as_of=today))
    row = await reader(request).fetchrow(sql, params)
    meta: dict[str, Any] = {"bbox": None, "count": 0, "valid_from": None}
    if row is not None and row[0] is not None:
        meta = {"bbox": (float(row[0]), float(row[1]), float(row[2]), float(row[3])), "count": int(row[4]),
                "valid_from": row[5]}
    meta["tag"], meta["day"] = (row[7] if row is not None else None), today
    cache[c.id] = (time.monotonic(), meta)
    return meta


async def change_tag(request: Request, c: Collection) -> str:
    """The collection's change tag now (one tiny statement): what a conditional GET compares first."""
    row = await reader(request).fetchrow(f"SELECT {query.change_tag_sql(c)}", Params())
    return str(row[0]) if row is not None else ""


def etag(tag: str) -> str:
    """A weak ETag (RFC 9110 §8.8.1) of a collection's data as one request reads it: the change tag, the day
    (what "in force today" selects moves at midnight without a write) and the server version (the output
    format)."""
    return f'W/"{__version__}.{clock.today().isoformat()}.{tag}"'


def not_modified(request: Request, current: str | None) -> bool:
    """Whether ``If-None-Match`` names ``current`` (weak comparison, RFC 9110 §13.1.2) or is ``*``."""
    header = request.headers.get("if-none-match")
    if not header or current is None:
        return False
    if header.strip() == "*":
        return True
    opaque = current.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in header.split(","))


def not_modified_response(current: str) -> Response:
    return Response(status_code=304, headers={"ETag": current})


async def visible(request: Request) -> list[Collection]:
    """Registered collections whose table exists (areas still being built are left out)."""
    cached: list[Collection] | None = getattr(request.app.state, "ogc_visible", None)
    if cached is not None:
        return cached
    out = []
    for c in all_collections():
        if c.requires_table:
            params = Params()
            row = await reader(request).fetchrow(f"SELECT to_regclass({params.bind(c.table, 'text')})", params)
            if row is None or row[0] is None:
                continue
        out.append(c)
    request.app.state.ogc_visible = out
    return out
