"""OGC API – Tiles at ``/ogc``: the tile matrix set, the tilesets of a collection and Mapbox vector tiles made by
PostgreSQL (``gis_api.ogc.query.tile_sql``). Included by ``gis_api.ogc.routes``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gis_api.errors import NotFound
from gis_api.ogc import query, tiles
from gis_api.ogc.access import JSON, MVT, _json, base_url, collection_or_404, metadata, read_access, reader
from gis_api.ogc.params import _link, parse_datetime
from gis_api.openapi_doc import media

router = APIRouter()

@router.get("/tileMatrixSets", summary="Tile matrix sets")
async def tile_matrix_sets(request: Request) -> Response:
    base = base_url(request)
    return _json({"tileMatrixSets": [{
        "id": tiles.TMS_ID, "title": tiles.TMS_TITLE, "uri": tiles.TMS_URI,
        "links": [_link(f"{base}/tileMatrixSets/{tiles.TMS_ID}", "self", JSON, tiles.TMS_TITLE)],
    }]})


@router.get("/tileMatrixSets/{tms_id}", summary="A tile matrix set definition")
async def tile_matrix_set(tms_id: str) -> Response:
    if tms_id != tiles.TMS_ID:
        raise NotFound(f"no tile matrix set {tms_id!r}", f"不存在瓦片矩阵集 {tms_id!r}", field="tileMatrixSetId")
    return _json(tiles.web_mercator_quad())


@router.get("/collections/{collection_id}/tiles", summary="Vector tilesets of a collection")
async def tilesets(request: Request, collection_id: str) -> Response:
    await read_access(request)
    c = collection_or_404(collection_id)
    base = base_url(request)
    return _json({"links": [_link(f"{base}/collections/{c.id}/tiles", "self", JSON)],
                  "tilesets": [tiles.tileset_summary(base, c)]})


@router.get("/collections/{collection_id}/tiles/{tms_id}", summary="Vector tileset metadata")
async def tileset(request: Request, collection_id: str, tms_id: str) -> Response:
    await read_access(request)  # the metadata shows the data's extent
    c = collection_or_404(collection_id)
    if tms_id != tiles.TMS_ID:
        raise NotFound(f"no tile matrix set {tms_id!r}", f"不存在瓦片矩阵集 {tms_id!r}", field="tileMatrixSetId")
    meta = await metadata(request, c)
    return _json(tiles.tileset(base_url(request), c, meta["bbox"]))


@router.get("/collections/{collection_id}/tiles/{tms_id}/{z}/{y}/{x}", summary="A Mapbox vector tile",
            response_class=Response, responses={**media(MVT), 204: {"description": "No feature in the tile"}})
async def tile(request: Request, collection_id: str, tms_id: str, z: int, y: int, x: int,
               datetime: str | None = None) -> Response:
    c = collection_or_404(collection_id)
    await read_access(request)
    if tms_id != tiles.TMS_ID:
        raise NotFound(f"no tile matrix set {tms_id!r}", f"不存在瓦片矩阵集 {tms_id!r}", field="tileMatrixSetId")
    if not (0 <= z <= 24 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise NotFound(f"no tile {z}/{y}/{x} in {tms_id}", f"瓦片 {z}/{y}/{x} 超出范围", field="tileMatrix")
    meta = await metadata(request, c)
    per_cell = query.tile_per_cell(c, z, x, y, meta["bbox"], meta["count"])
    sql, params = query.tile_sql(c, z, x, y, parse_datetime(datetime), per_cell)
    row = await reader(request).fetchrow(sql, params)
    data = bytes(row[0]) if row is not None and row[0] is not None else b""
    if not data:
        return Response(status_code=204)
    return Response(data, media_type=MVT)
