"""OGC API – Features Parts 1–4 and OGC API – Tiles at ``/ogc``.

Reads are async and lean (the hot paths): query parameters are parsed by ``gis_api.ogc.params``, the statement
comes from
``gis_api.ogc.query`` and PostgreSQL returns the finished GeoJSON or MVT; Python only wraps the feature array
in the FeatureCollection envelope. Writes are ordinary sync routes on the request's session that call the
area services through the collection's editor, then answer with the feature as it now reads. The shared plumbing
(reader, read access, metadata) is in ``gis_api.ogc.access``, the Tiles routes in ``gis_api.ogc.tile_routes``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeGuard
from urllib.parse import quote, unquote

import orjson
from fastapi import APIRouter, Body, Header, Query, Request, Response
from sqlalchemy import text as sa_text
from sqlalchemy.exc import DBAPIError

from gis_api import auth, clock
from gis_api.deps import OptionalUser, SessionDep
from gis_api.errors import (
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Unauthorized,
)
from gis_api.ogc import crs as crs_mod
from gis_api.ogc import openapi, query, tile_routes
from gis_api.ogc import schema as schema_mod
from gis_api.ogc.access import (
    GEOJSON,
    JSON,
    OAS30,
    SCHEMA_JSON,
    _json,
    authenticate,
    base_url,
    change_tag,
    collection_or_404,
    etag,
    metadata,
    not_modified,
    not_modified_response,
    ogc_settings,
    read_access,
    reader,
    visible,
)
from gis_api.ogc.collections import Collection, Property
from gis_api.ogc.links import feature_links, with_links
from gis_api.ogc.params import (
    INT64_MAX,
    ITEM_PARAMS,
    _bad,
    _check_params,
    _link,
    int_id,
    items_query,
    parse_datetime,
    parse_props,
)
from gis_api.ogc.reader import Reader, SessionReader
from gis_api.openapi_doc import media

router = APIRouter(prefix="/ogc", tags=["ogc"])

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    schema_mod.CONFORMANCE,
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
ESTIMATE_TTL_S = 60.0  # how long a planner estimate of a large result is reused (the count is skipped)


# -- Part 1: landing page, conformance, API, collections --------------------------------------------------

@router.get("", summary="OGC API landing page")
async def landing(request: Request) -> Response:
    base = base_url(request)
    root = str(request.base_url).rstrip("/")
    return _json({
        "title": "Diming 地名 OGC API",
        "description": "Place names, administrative divisions and boundaries of Feidong County (肥东县, 340122): "
                       "OGC API – Features (Parts 1–4) and Tiles. Storage CRS CGCS2000 (EPSG:4490).",
        "links": [
            _link(base, "self", JSON, "this document"),
            _link(f"{base}/api", "service-desc", OAS30, "the API definition (OpenAPI 3.0)"),
            _link(f"{root}/docs", "service-doc", "text/html", "API documentation"),
            _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/conformance", "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON),
            _link(f"{base}/collections", "data", JSON, "collections"),
            _link(f"{base}/collections", "http://www.opengis.net/def/rel/ogc/1.0/data", JSON),
            _link(f"{base}/tileMatrixSets", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", JSON,
                  "tile matrix sets"),
        ],
    })


@router.get("/conformance", summary="Conformance classes")
async def conformance() -> Response:
    return _json({"conformsTo": CONFORMANCE})


@router.get("/api", summary="OpenAPI 3.0 definition of the OGC API", responses=media(OAS30))
async def api_definition(request: Request) -> Response:
    cs = await visible(request)
    settings = request.app.state.settings
    return _json(openapi.document(base_url(request), cs, settings.server.max_limit,
                                  ogc_settings(request).default_limit, settings.auth.public_read), media_type=OAS30)


async def collection_doc(request: Request, c: Collection, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    base = f"{base_url(request)}/collections/{c.id}"
    meta = meta or await metadata(request, c)
    doc: dict[str, Any] = {
        "id": c.id, "title": c.title, "description": c.description, "keywords": list(c.keywords),
        # geometryType: a hint (GeoJSON type name; "Geometry" = mixed), the schema says it the standard way
        "itemType": "feature", "geometryType": c.geometry_type, "crs": crs_mod.supported(),
        "storageCrs": crs_mod.EPSG_URI.format(crs_mod.STORAGE_SRID),
        "extent": {},
        "links": [
            _link(base, "self", JSON, c.title),
            _link(f"{base}/items", "items", GEOJSON, "features (GeoJSON)"),
            _link(f"{base}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_JSON,
                  "queryables"),
            # Part 5: the schema (QGIS reads this rel); ``describedby`` is what GDAL's OAPIF driver reads, in
            # the GeoJSON Feature shape it expects (gis_api.ogc.schema). Relation types are case-insensitive
            # (RFC 8288 §2.1.1), but GDAL up to 3.7 matches only the exact spelling "describedBy".
            _link(f"{base}/schema", schema_mod.REL_SCHEMA, SCHEMA_JSON, "schema of the features (Part 5)"),
            *(_link(f"{base}/schema?profile=geojson", rel, SCHEMA_JSON, "schema of the GeoJSON features")
              for rel in ("describedby", "describedBy")),
            _link(f"{base}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON,
                  "vector tilesets"),
        ],
    }
    if meta["bbox"]:
        doc["extent"]["spatial"] = {"bbox": [list(meta["bbox"])], "crs": crs_mod.CRS84}
    if c.valid_from:
        start = meta.get("valid_from")
        doc["extent"]["temporal"] = {"interval": [[start.isoformat() + "T00:00:00Z" if start else None, None]],
                                     "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return doc


@router.get("/collections", summary="Feature collections")
async def collections(request: Request) -> Response:
    await read_access(request)
    base = base_url(request)
    docs = [await collection_doc(request, c) for c in await visible(request)]
    return _json({"links": [_link(f"{base}/collections", "self", JSON)], "collections": docs,
                  "crs": crs_mod.supported()})


@router.get("/collections/{collection_id}", summary="One feature collection (ETag, If-None-Match → 304)")
async def collection(request: Request, collection_id: str) -> Response:
    await read_access(request)
    c = collection_or_404(collection_id)
    tag = await change_tag(request, c)
    if not_modified(request, etag(tag)):
        return not_modified_response(etag(tag))
    meta = await metadata(request, c, tag)
    return _json(await collection_doc(request, c, meta), headers={"ETag": etag(meta["tag"])})


@router.get("/collections/{collection_id}/queryables", summary="Queryables (JSON Schema)",
            responses=media(SCHEMA_JSON))
async def queryables(request: Request, collection_id: str) -> Response:
    await read_access(request)
    c = collection_or_404(collection_id)
    return _json(openapi.queryables(c, f"{base_url(request)}/collections/{c.id}/queryables"),
                 media_type=SCHEMA_JSON)


@router.get("/collections/{collection_id}/schema", summary="Feature schema (Part 5, JSON Schema 2020-12)",
            responses=media(SCHEMA_JSON))
async def feature_schema(request: Request, collection_id: str,
                         profile: Annotated[str | None, Query(
                             description="part5 (default) or geojson: the same properties inside a GeoJSON "
                                         "Feature schema, as GDAL's OAPIF driver reads it")] = None) -> Response:
    await read_access(request)
    c = collection_or_404(collection_id)
    _check_params(request, frozenset({"profile", "f"}))
    if profile is not None and profile not in schema_mod.PROFILES:
        raise _bad("profile", f"must be one of {', '.join(schema_mod.PROFILES)}",
                   f"须为 {'、'.join(schema_mod.PROFILES)} 之一")
    url = f"{base_url(request)}/collections/{c.id}/schema" + ("?profile=geojson" if profile == "geojson" else "")
    return _json(schema_mod.schema(c, url, profile or "part5"), media_type=SCHEMA_JSON)


# -- items -------------------------------------------------------------------------------------------------

@router.get("/collections/{collection_id}/items", summary="Features (GeoJSON; ETag, If-None-Match → 304)",
            openapi_extra={"parameters": openapi.ITEMS_PARAMETERS}, responses=media(GEOJSON))
async def items(request: Request, collection_id: str) -> Response:
    c = collection_or_404(collection_id)
    await read_access(request)
    q = items_query(request, c)
    settings = ogc_settings(request)
    db = reader(request)
    if request.headers.get("if-none-match"):
        # Revalidation: nothing the collection reads has been written since the client's copy (every write
        # bumps a counter in its own transaction: migration 0014) — then 304 after one tiny statement.
        current = etag(await change_tag(request, c))
        if not_modified(request, current):
            return not_modified_response(current)
    if q.bbox is not None and not q.sortby:
        meta = await metadata(request, c)
        if meta["bbox"]:
            ex0, ey0, ex1, ey1 = meta["bbox"]
            bx0, by0, bx1, by1 = q.bbox
            inter = max(0.0, min(bx1, ex1) - max(bx0, ex0)) * max(0.0, min(by1, ey1) - max(by0, ey0))
            q.spatial_leads = inter < 0.5 * max((ex1 - ex0) * (ey1 - ey0), 1e-12)
    cache: dict[tuple[Any, ...], tuple[float, float]] = getattr(request.app.state, "ogc_estimates", None) or {}
    request.app.state.ogc_estimates = cache
    sql, params, where, where_params = query.items_sql(q, settings.exact_count_max, count_exact=True)
    key = (c.id, where, repr(where_params.values))
    hit = cache.get(key)
    kept = query.kept_count(q)  # an exact count kept with the data: no estimate needed
    known_large = (not kept and hit is not None and time.monotonic() - hit[0] < ESTIMATE_TTL_S
                   and hit[1] > settings.exact_count_max)
    if known_large:
        sql, params, where, where_params = query.items_sql(q, settings.exact_count_max, count_exact=False)
    plain = q.bbox is None and q.filter is None and not q.equals and not q.sortby
    # a small bbox answered from the point index has one best plan whatever the box: no re-planning either
    plain = plain or (q.spatial_leads and not q.sortby and query.point_split(q))
    row = await (reader(request, generic=True) if plain else db).fetchrow(sql, params)
    assert row is not None
    got, features, exact, tag = int(row[0]), row[1], row[2], row[3]
    returned = min(got, q.limit)
    has_next = got > q.limit
    matched: int | None
    if not has_next and (got > 0 or q.offset == 0):
        matched = q.offset + got
    elif exact is not None and (kept or int(exact) <= settings.exact_count_max):
        matched = int(exact)
    else:
        est: float | None = hit[1] if known_large and hit else None
        if est is None:
            rows = await db.fetch(query.explain_sql(c, where), where_params)
            plan = query.plan_rows(rows[0][0]) if rows else None
            est = float(plan) if plan is not None else None
            if est is not None:
                if len(cache) > 2000:
                    cache.clear()
                cache[key] = (time.monotonic(), est)
        floor = q.offset + returned + (1 if has_next else 0)
        matched = max(round(est), floor) if est is not None else None
    url = request.url
    links = [_link(str(url), "self", GEOJSON, "this page"),
             _link(f"{base_url(request)}/collections/{c.id}", "collection", JSON, c.title)]
    if has_next:
        links.append(_link(str(url.include_query_params(offset=q.offset + q.limit, limit=q.limit)), "next", GEOJSON,
                           "next page"))
    if q.offset > 0:
        links.append(_link(str(url.include_query_params(offset=max(0, q.offset - q.limit), limit=q.limit)), "prev",
                           GEOJSON, "previous page"))
    head = {"type": "FeatureCollection", "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "numberMatched": matched, "numberReturned": returned, "links": links}
    if matched is None:
        del head["numberMatched"]
    envelope = orjson.dumps(head)
    # the features arrive as UTF-8 bytes (bytea; a memoryview through psycopg2) and go out as they are
    body = b"".join((envelope[:-1], b',"features":', features, b"}"))
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": q.crs.header, "ETag": etag(tag)})


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (ETag)",
            openapi_extra={"parameters": openapi.ITEM_PARAMETERS}, responses=media(GEOJSON))
async def item(request: Request, collection_id: str, feature_id: str) -> Response:
    c = collection_or_404(collection_id)
    await read_access(request)
    _check_params(request, ITEM_PARAMS)
    qp = request.query_params
    out = crs_mod.resolve(qp.get("crs"))
    tf = parse_datetime(qp.get("datetime"))
    text, version_etag = await _feature(reader(request, generic=True), c, feature_id,
                                        parse_props(c, qp.get("properties")), out, tf)
    # The feature's ETag names its version (If-Match on writes); If-None-Match with it → 304 while that version
    # is still the one served (every edit makes a new version or bumps it).
    if version_etag and not_modified(request, version_etag):
        return not_modified_response(version_etag)
    text = with_links(text, feature_links(
        str(request.base_url).rstrip("/"), base_url(request), c, feature_id, str(request.url),
        tf.as_of if qp.get("datetime") else None))
    headers = {"Content-Crs": out.header}
    if version_etag:
        headers["ETag"] = version_etag
    return Response(text, media_type=GEOJSON, headers=headers)


async def _feature(db: Reader, c: Collection, fid: str, props: list[Property], out: crs_mod.OutputCrs,
                   tf: query.TimeFilter) -> tuple[str, str | None]:
    if c.id_type == "integer" and int_id(fid) is None:
        raise _missing(c, fid)
    sql, params = query.item_sql(c, fid, props, out, tf)
    row = await db.fetchrow(sql, params)
    if row is None:
        raise _missing(c, fid)
    etag = feature_etag(c, row)
    return str(row[0]), etag


def feature_etag(c: Collection, row: Any) -> str | None:
    """One feature's ETag: its version's (``"p12.v3"``, what a write's If-Match names), and when the feature shows
    joined rows (its category's name) their change tag too (``"p12.v3.j7"``): renaming the category changes what
    the feature reads, not its version. Writes accept either form (``version_precondition``)."""
    if not c.etag or row[2] is None:
        return None
    tag = c.etag(int(row[1]), int(row[2]))
    if row[3] is not None and tag.endswith('"'):
        tag = f'{tag[:-1]}.j{row[3]}"'
    return tag


_JOINED_TAG = re.compile(r'\.j[0-9.~]*"')


def version_precondition(if_match: str | None) -> str | None:
    """If-Match as the editors compare it: a feature ETag's joined-rows part dropped (a write is based on the
    version; a category renamed since does not make it stale)."""
    return _JOINED_TAG.sub('"', if_match) if if_match else if_match


# HEAD answers like GET (headers only), kept out of the OpenAPI document.
router.add_api_route("/collections/{collection_id}/items", items, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/collections/{collection_id}/items/{feature_id}", item, methods=["HEAD"],
                     include_in_schema=False)


def _missing(c: Collection, fid: str) -> NotFound:
    return NotFound(f"no feature {fid!r} in collection {c.id} on that date",
                    f"数据集 {c.id} 中不存在要素 {fid!r}", field="featureId")


# -- Part 4: create, replace, update, delete ---------------------------------------------------------------

READ_METHODS = "GET, HEAD, OPTIONS"


def _editor(collection_id: str, user: auth.User | None) -> tuple[Collection, Any, auth.User]:
    """(The collection, its editor, the user) once the collection is editable and ``user`` may edit it.

    A read-only collection answers 405 with ``Allow`` whoever asks (the method is never allowed there); an
    editable one 401 without a login and 403 without an editing role."""
    c = collection_or_404(collection_id)
    if c.editor is None:
        raise MethodNotAllowed(f"collection {c.id} is read-only", f"数据集 {c.id} 只读", allow=READ_METHODS,
                               field="collectionId")
    if user is None:
        raise Unauthorized()
    auth.require(user, *c.editor.roles)
    return c, c.editor, user


def _reason(body: Any, header: str | None, method: str, request: Request) -> str:
    props = body.get("properties") if isinstance(body, dict) else None
    if isinstance(props, dict) and isinstance(props.get("reason"), str) and props["reason"].strip():
        return str(props["reason"]).strip()
    if header and header.strip():
        text = unquote(header).strip()  # HTTP headers are ASCII: Chinese arrives percent-encoded (UTF-8)
        if "\x00" in text:
            raise InvalidInput("Diming-Reason contains a NUL character (%00)", "Diming-Reason 含有 NUL 字符",
                               field="Diming-Reason", rule="no_nul_characters", code="invalid_character")
        return text
    agent = request.headers.get("user-agent", "client")
    return f"OGC API Features {method} ({agent[:80]})"


def _feature_row(session: SessionDep, c: Collection, fid: str, on: dt.date) -> Any:
    sql, params = query.item_sql(c, fid, list(c.properties), crs_mod.resolve(None), query.TimeFilter(as_of=on))
    return SessionReader(session).fetchrow_sync(sql, params)


@contextmanager
def _served_etags(session: SessionDep, c: Collection, fid: str) -> Iterator[None]:
    """A 412 of a write names the feature's ETag as this API serves it (``"p12.v3.j7"``: with its joined rows'
    tag), not the record's (``"p12.v3"``), so a client can compare it with what it read here."""
    try:
        yield
    except PreconditionFailed as exc:
        record = exc.extra.get("etag")
        row = _feature_row(session, c, fid, clock.today()) if record else None
        served = feature_etag(c, row) if row is not None else None
        if served and version_precondition(served) == record:
            exc.extra["etag"] = served
            exc.headers["ETag"] = served
        raise


def _written(session: SessionDep, request: Request, c: Collection, fid: str, on: dt.date, status: int
             ) -> Response:
    row = _feature_row(session, c, fid, on)
    if row is None:
        raise _missing(c, fid)
    headers = {"Location": f"{base_url(request)}/collections/{c.id}/items/{quote(fid)}",
               "Content-Crs": crs_mod.resolve(None).header}
    written_etag = feature_etag(c, row)
    if written_etag:
        headers["ETag"] = written_etag
    text = with_links(str(row[0]), feature_links(str(request.base_url).rstrip("/"), base_url(request), c, fid,
                                                 as_of=on if on != clock.today() else None))
    return Response(text, status_code=status, media_type=GEOJSON, headers=headers)


ReasonHeader = Annotated[str | None, Header(alias="Diming-Reason",
                                            description="why, for the audit trail (percent-encoded UTF-8)")]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
FeatureBody = Annotated[dict[str, Any], Body(description="a GeoJSON Feature in CRS84 (lon/lat), or in the CRS "
                                                        "named by Content-Crs")]


def _in_crs84(request: Request, session: SessionDep, body: dict[str, Any]) -> dict[str, Any]:
    """The feature with its geometry in CRS84 (lon/lat), as the editors take it. A client may send it in any
    CRS the API serves (Part 2 ``Content-Crs``, in that CRS's axis order): QGIS, for one, edits a layer in its
    storage CRS and sends ``Content-Crs: …/EPSG/0/4490`` with latitude first."""
    raw = request.headers.get("content-crs")
    if not raw:
        return body
    crs = crs_mod.resolve(raw.strip().strip("<>"), "Content-Crs")
    geometry = body.get("geometry")
    if crs.uri == crs_mod.CRS84 or not isinstance(geometry, dict):
        return body
    expr = "ST_SetSRID(ST_GeomFromGeoJSON(:g), :srid)"
    if crs.north_first:
        expr = f"ST_FlipCoordinates({expr})"
    if crs.srid != crs_mod.STORAGE_SRID:
        expr = f"ST_Transform({expr}, {crs_mod.STORAGE_SRID})"
    try:
        with session.begin_nested():
            out = session.execute(sa_text(f"SELECT ST_AsGeoJSON({expr}, 9)"),
                                  {"g": orjson.dumps(geometry).decode(), "srid": crs.srid}).scalar_one()
    except DBAPIError:
        raise InvalidInput(f"geometry is not a valid GeoJSON geometry in {crs.uri}",
                           "geometry 不是该坐标系下有效的 GeoJSON 几何", field="geometry",
                           rule="RFC 7946 §3.1") from None
    return {**body, "geometry": orjson.loads(out)}


def _positive_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool) and 0 < v <= INT64_MAX


def _precondition(c: Collection, if_match: str | None, body: Any) -> str:
    """The version a PUT or PATCH was based on: ``If-Match``, else the ``row_id`` and ``version`` properties.

    QGIS's OAPIF provider (3.36+) sends no If-Match, but its PUT carries back every attribute it read. Like the
    version in an OSM API body, those two name the version the edit started from — the ETag is made of them —
    so they are an equivalent precondition and take the same lock → compare → write → audit path (412 when
    stale). If-Match, when sent, decides. Neither: 428 saying what to send."""
    if if_match and if_match.strip():
        return version_precondition(if_match) or if_match
    props = body.get("properties") if isinstance(body, dict) else None
    if c.etag is not None and isinstance(props, dict):
        row_id, version = props.get("row_id"), props.get("version")
        if _positive_int(row_id) and _positive_int(version):
            return c.etag(row_id, version)
    raise PreconditionRequired(
        "If-Match with the ETag of the version you edited is required (or, in the body, the properties row_id "
        "and version as read); read the feature again to get them",
        "修改须携带 If-Match 请求头（所编辑版本的 ETag），或在要素属性中带回读取时的 row_id 与 version；"
        "请重新读取该要素",
        field="If-Match", rule="RFC 6585 §3")


@router.post("/collections/{collection_id}/items", status_code=201, summary="Create a feature (Part 4)",
             responses=media(GEOJSON, status=201))
def create_item(collection_id: str, request: Request, body: FeatureBody, session: SessionDep,
                maybe_user: OptionalUser, reason: ReasonHeader = None) -> Response:
    c, editor, user = _editor(collection_id, maybe_user)
    body = _in_crs84(request, session, body)
    fid, on = editor.create(session, body, user.username, _reason(body, reason, "POST", request))
    return _written(session, request, c, fid, on, 201)


@router.put("/collections/{collection_id}/items/{feature_id}",
            summary="Replace a feature (If-Match, or row_id and version in the body)",
            responses=media(GEOJSON))
def replace_item(collection_id: str, feature_id: str, request: Request, body: FeatureBody, session: SessionDep,
                 maybe_user: OptionalUser, if_match: IfMatch = None, reason: ReasonHeader = None) -> Response:
    c, editor, user = _editor(collection_id, maybe_user)
    body = _in_crs84(request, session, body)
    with _served_etags(session, c, feature_id):
        fid, on = editor.replace(session, feature_id, body, _precondition(c, if_match, body), user.username,
                                 _reason(body, reason, "PUT", request))
    return _written(session, request, c, fid, on, 200)


@router.patch("/collections/{collection_id}/items/{feature_id}",
              summary="Update a feature (If-Match, or row_id and version in the body)",
              responses=media(GEOJSON))
def update_item(collection_id: str, feature_id: str, request: Request, body: FeatureBody, session: SessionDep,
                maybe_user: OptionalUser, if_match: IfMatch = None, reason: ReasonHeader = None) -> Response:
    c, editor, user = _editor(collection_id, maybe_user)
    body = _in_crs84(request, session, body)
    with _served_etags(session, c, feature_id):
        fid, on = editor.update(session, feature_id, body, _precondition(c, if_match, body), user.username,
                                _reason(body, reason, "PATCH", request))
    return _written(session, request, c, fid, on, 200)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204,
               summary="Retire a feature on a date (If-Match required)")
def delete_item(collection_id: str, feature_id: str, request: Request, session: SessionDep,
                maybe_user: OptionalUser, if_match: IfMatch = None, reason: ReasonHeader = None,
                effective_date: Annotated[dt.date | None, Query(description="default today")] = None) -> Response:
    c, editor, user = _editor(collection_id, maybe_user)
    if not (if_match and if_match.strip()):
        # A DELETE has no body, so nothing but If-Match can say which version is being retired.
        raise PreconditionRequired(
            "If-Match with the ETag of the version you retire is required; a client that cannot send it "
            "(QGIS) retires the feature in the map or through the JSON API (POST /api/v1/…/retire)",
            "撤销须携带 If-Match 请求头（所撤销版本的 ETag）；无法发送该请求头的客户端（如 QGIS）请在地图界面或经 "
            "JSON API（POST /api/v1/…/retire）撤销", field="If-Match", rule="RFC 6585 §3")
    with _served_etags(session, c, feature_id):
        editor.delete(session, feature_id, version_precondition(if_match), user.username,
                      _reason(None, reason, "DELETE", request), effective_date or clock.today())
    return Response(status_code=204)


async def _allow(request: Request, collection_id: str, writes: str, accepted: str | None = None) -> Response:
    """``Allow`` (RFC 9110 §9.3.7) as QGIS reads it to offer editing: the writes of an editable collection —
    to anyone without a login (they are allowed after one), to a logged-in user only with an editing role.
    ``accepted``: what CORS may use when it is more than ``Allow`` advertises."""
    c = collection_or_404(collection_id)
    methods = cors = READ_METHODS
    if c.editor is not None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        may_edit = True
        if scheme.lower() == "bearer" and token.strip():
            may_edit = (await authenticate(request, token.strip())).has_any(c.editor.roles)
        if may_edit:
            methods, cors = f"{methods}, {writes}", f"{methods}, {accepted or writes}"
    return Response(status_code=200, headers={"Allow": methods, "Access-Control-Allow-Methods": cors})


@router.options("/collections/{collection_id}/items", response_class=Response,
                summary="Allowed methods (POST when editable and the user may edit)")
async def items_options(request: Request, collection_id: str) -> Response:
    return await _allow(request, collection_id, "POST")


@router.options("/collections/{collection_id}/items/{feature_id}", response_class=Response,
                summary="Allowed methods on a feature (PUT, DELETE when editable and the user may edit; PATCH is "
                        "accepted too)")
async def item_options(request: Request, collection_id: str, feature_id: str) -> Response:
    # PATCH is accepted but not advertised (RFC 9110 §10.2.1: Allow lists the methods *advertised*): QGIS
    # patches whenever Allow lists PATCH, and its merge patches carry only the changed fields — no If-Match,
    # no version — so every one would be refused with 428. Without PATCH it PUTs the whole feature it read,
    # whose row_id and version are the precondition (see _precondition). The OpenAPI document lists PATCH.
    return await _allow(request, collection_id, "PUT, DELETE", accepted="PUT, PATCH, DELETE")


# OGC API – Tiles (gis_api.ogc.tile_routes), after every Features route as before.
router.include_router(tile_routes.router)
