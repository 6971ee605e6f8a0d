"""The OpenAPI 3.0 definition of /ogc (the landing page's ``service-desc``) and the queryables schemas.

GDAL's OAPIF driver reads the ``limit`` parameter's ``maximum`` and ``default`` from it to size its pages.
"""

from __future__ import annotations

from typing import Any

from gis_api.ogc import crs as crs_mod
from gis_api.ogc.collections import Collection
from gis_api.ogc.schema import JSON_SCHEMA, geometry_schema, value_schema

_STRING = {"type": "string"}
_CRS = {"type": "string", "format": "uri", "enum": crs_mod.supported(), "default": crs_mod.CRS84}


def _param(name: str, description: str, schema: dict[str, Any], style: str | None = None,
           explode: bool | None = None, where: str = "query", required: bool = False) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": where, "description": description, "required": required,
                         "schema": schema}
    if style:
        p["style"] = style
    if explode is not None:
        p["explode"] = explode
    return p


def _limit(max_limit: int, default: int) -> dict[str, Any]:
    return _param("limit", "Items per page.", {"type": "integer", "minimum": 1, "maximum": max_limit,
                                               "default": default}, "form", False)


ITEM_PARAMETERS: list[dict[str, Any]] = [
    _param("crs", "Output CRS (OGC API – Features Part 2).", _CRS, "form", False),
    _param("datetime", "Valid-time date (as of) or interval; default today. An interval gives each feature once, "
           "as the version in force at its end (the others: the feature's version-history link).", _STRING, "form",
           False),
    _param("properties", "Comma-separated properties to return.", {"type": "array", "items": _STRING},
           "form", False),
]

ITEMS_PARAMETERS: list[dict[str, Any]] = [
    _param("offset", "Features to skip.", {"type": "integer", "minimum": 0, "default": 0}, "form", False),
    _param("bbox", "minx,miny,maxx,maxy in bbox-crs axis order.",
           {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}, "form", False),
    _param("bbox-crs", "CRS of bbox.", _CRS, "form", False),
    _param("filter", "CQL2 filter on the queryables.", _STRING, "form", False),
    # "cql-text" (the pre-standard name, taken as cql2-text) is the value GDAL's OAPIF driver looks for in this
    # enum before it sends -where clauses to the server as filter=…&filter-lang=cql-text.
    _param("filter-lang", "cql2-text (default) or cql2-json; cql-text is read as cql2-text.",
           {"type": "string", "enum": ["cql2-text", "cql2-json", "cql-text"], "default": "cql2-text"}, "form",
           False),
    _param("filter-crs", "CRS of geometry literals in the filter.", _CRS, "form", False),
    _param("sortby", "Comma-separated queryables, '-' for descending.", {"type": "array", "items": _STRING},
           "form", False),
    *ITEM_PARAMETERS,
]


def _ref_json(description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}}}


# The project's error body (gis_api.errors) in OpenAPI 3.0 terms.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["code", "message", "message_zh", "field", "rule"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "message_zh": {"type": "string"},
                   "field": {"type": "string", "nullable": True}, "rule": {"type": "string", "nullable": True}},
}
_ERRORS = {
    "400": "Invalid parameter", "401": "Login required, or the token is invalid or expired",
    "403": "The user lacks an editing role", "404": "Not found",
    "405": "The collection is read-only (see the Allow header)", "406": "No representation in that format",
    "409": "Conflicts with the current state", "412": "If-Match does not match the current version",
    "413": "The body exceeds a configured limit", "422": "Invalid feature: the field and the rule are named",
    "428": "If-Match is required", "429": "Too many requests (see Retry-After)",
    "503": "The database is away or busy (see Retry-After)",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        r: dict[str, Any] = {"description": _ERRORS[str(status)],
                             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if status in (429, 503):
            r["headers"] = _RETRY_AFTER
        if status == 405:
            r["headers"] = {"Allow": {"description": "the methods allowed", "schema": {"type": "string"}}}
        out[str(status)] = r
    return out


def queryable_parameters(c: Collection) -> list[dict[str, Any]]:
    """``name=value`` (equality) per queryable (Part 1 /req/core/fc-parameters, Part 3 queryables as query
    parameters): GDAL's OAPIF driver takes a field for server-side filtering only when its collection's items
    path declares it so."""
    out = []
    for p in c.queryables():
        schema = value_schema(p)
        if p.enum:
            schema["enum"] = list(p.enum)
        out.append(_param(p.name, f"Features whose {p.name} equals this value ({p.title or p.name}).", schema,
                          "form", False))
    return out


def _collection_items(c: Collection, limit: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """The items path of one collection, with its queryables as parameters (reads only: writes are on the
    generic path)."""
    return {"get": {"operationId": f"getFeatures.{c.id}", "summary": f"Features of {c.id} (GeoJSON)",
                    "parameters": [limit, *ITEMS_PARAMETERS, *queryable_parameters(c)],
                    "responses": {"200": _ref_json("Features", "application/geo+json"), **errors}}}


def document(base: str, collections: list[Collection], max_limit: int, default_limit: int,
             public_read: bool = True) -> dict[str, Any]:
    """``public_read``: reads need no login (DIMING_PUBLIC_READ), otherwise every operation needs a token."""
    cid = _param("collectionId", "Collection id.", {"type": "string", "enum": [c.id for c in collections]},
                 where="path", required=True)
    fid = _param("featureId", "Feature id.", _STRING, where="path", required=True)
    geo = "application/geo+json"
    # every operation: a bad parameter, a login missing (public_read off), an unknown id, throttling, no database
    errors = _errors(400, 401, 404, 406, 422, 429, 503)
    edit_errors = _errors(403, 405, 409, 412, 413, 428)
    if_match = _param("If-Match", "ETag of the version edited.", _STRING, where="header", required=True)
    # PUT/PATCH also take the version from the body (what QGIS sends), so If-Match is optional there
    if_body = _param("If-Match", "ETag of the version edited; without it, the feature's properties "
                              "row_id and version as read are the precondition (428 when neither is sent).",
                              _STRING, where="header")
    body = {"required": True, "content": {geo: {"schema": {"type": "object"}}}}
    read_security: list[dict[str, list[str]]] = [{}, {"bearer": []}] if public_read else [{"bearer": []}]
    tile_params = [cid, _param("tileMatrixSetId", "Tile matrix set.", {"type": "string", "enum": ["WebMercatorQuad"]},
                               where="path", required=True),
                   *(_param(n, n, {"type": "integer", "minimum": 0}, where="path", required=True)
                     for n in ("tileMatrix", "tileRow", "tileCol"))]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Diming 地名 OGC API", "version": "1.0.0",
                 "description": "OGC API – Features Parts 1–4 and OGC API – Tiles (WebMercatorQuad, MVT)."},
        "servers": [{"url": base}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Error": ERROR_SCHEMA}},
        "security": read_security,
        "paths": {
            "/": {"get": {"operationId": "landingPage", "responses": {"200": _ref_json("Landing page"), **errors}}},
            "/conformance": {"get": {"operationId": "conformance",
                                     "responses": {"200": _ref_json("Conformance"), **errors}}},
            "/api": {"get": {"operationId": "api", "responses": {
                "200": _ref_json("This document", "application/vnd.oai.openapi+json;version=3.0"), **errors}}},
            "/collections": {"get": {"operationId": "collections",
                                     "responses": {"200": _ref_json("Collections"), **errors}}},
            "/collections/{collectionId}": {"get": {
                "operationId": "collection", "parameters": [cid],
                "responses": {"200": _ref_json("Collection"), **errors}}},
            "/collections/{collectionId}/queryables": {"get": {
                "operationId": "queryables", "parameters": [cid],
                "responses": {"200": _ref_json("Queryables", "application/schema+json"), **errors}}},
            "/collections/{collectionId}/items": {
                "get": {"operationId": "getFeatures",
                        "parameters": [cid, _limit(max_limit, default_limit), *ITEMS_PARAMETERS],
                        "responses": {"200": _ref_json("Features", geo), **errors}},
                "post": {"operationId": "createFeature", "parameters": [cid], "requestBody": body,
                         "security": [{"bearer": []}],
                         "responses": {"201": _ref_json("Created (the feature as stored)", geo), **errors,
                                       **edit_errors}},
            },
            "/collections/{collectionId}/items/{featureId}": {
                "get": {"operationId": "getFeature", "parameters": [cid, fid, *ITEM_PARAMETERS],
                        "responses": {"200": _ref_json("Feature", geo), **errors}},
                "put": {"operationId": "replaceFeature", "parameters": [cid, fid, if_body], "requestBody": body,
                        "security": [{"bearer": []}], "responses": {"200": _ref_json("Feature", geo), **errors,
                                                                     **edit_errors}},
                "patch": {"operationId": "updateFeature", "parameters": [cid, fid, if_body], "requestBody": body,
                          "security": [{"bearer": []}], "responses": {"200": _ref_json("Feature", geo), **errors,
                                                                       **edit_errors}},
                "delete": {"operationId": "deleteFeature", "parameters": [cid, fid, if_match],
                           "security": [{"bearer": []}],
                           "responses": {"204": {"description": "Retired"}, **errors, **edit_errors}},
            },
            **{f"/collections/{c.id}/items": _collection_items(c, _limit(max_limit, default_limit), errors)
               for c in collections},
            "/collections/{collectionId}/schema": {"get": {
                "operationId": "schema", "parameters": [cid, _param(
                    "profile", "part5 (default) or geojson (a GeoJSON Feature schema, as GDAL reads it).",
                    {"type": "string", "enum": ["part5", "geojson"], "default": "part5"}, "form", False)],
                "responses": {"200": _ref_json("Schema (JSON Schema 2020-12)", "application/schema+json"),
                              **errors}}},
            "/tileMatrixSets": {"get": {"operationId": "tileMatrixSets",
                                        "responses": {"200": _ref_json("TMS"), **errors}}},
            "/tileMatrixSets/{tileMatrixSetId}": {"get": {
                "operationId": "tileMatrixSet",
                "parameters": [_param("tileMatrixSetId", "id", _STRING, where="path", required=True)],
                "responses": {"200": _ref_json("TMS"), **errors}}},
            "/collections/{collectionId}/tiles": {"get": {
                "operationId": "collectionTilesets", "parameters": [cid],
                "responses": {"200": _ref_json("Tilesets"), **errors}}},
            "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": {"get": {
                "operationId": "collectionTile", "parameters": tile_params,
                "responses": {"200": {"description": "Vector tile", "content": {
                    "application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}}},
                    "204": {"description": "Empty tile"}, **errors}}},
        },
    }


def queryables(c: Collection, url: str) -> dict[str, Any]:
    props: dict[str, Any] = {"geometry": geometry_schema(c)}
    for p in c.queryables():
        schema: dict[str, Any] = {"title": p.title or p.name, **value_schema(p)}
        if p.enum:
            schema["enum"] = list(p.enum)
        props[p.name] = schema
    return {"$schema": JSON_SCHEMA, "$id": url, "type": "object",
            "title": c.title, "properties": props, "additionalProperties": False}
