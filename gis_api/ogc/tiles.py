"""OGC API – Tiles documents: the WebMercatorQuad tile matrix set (OGC TMS 2.0) and collection tilesets."""

from __future__ import annotations

from typing import Any

from gis_api.ogc.collections import Collection

TMS_ID = "WebMercatorQuad"
TMS_TITLE = "Google Maps Compatible for the World"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CRS_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
ORIGIN = 20037508.3427892
CELL0 = 156543.03392804097  # metres per pixel at zoom 0 (256-pixel tiles)
MAX_ZOOM = 24
MVT = "application/vnd.mapbox-vector-tile"
_DIMENSION = {"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1, "Polygon": 2, "MultiPolygon": 2}


def web_mercator_quad() -> dict[str, Any]:
    return {
        "id": TMS_ID, "title": TMS_TITLE, "uri": TMS_URI, "crs": CRS_3857, "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [
            {"id": str(z), "scaleDenominator": CELL0 / 2 ** z / 0.00028, "cellSize": CELL0 / 2 ** z,
             "cornerOfOrigin": "topLeft", "pointOfOrigin": [-ORIGIN, ORIGIN], "tileWidth": 256, "tileHeight": 256,
             "matrixWidth": 2 ** z, "matrixHeight": 2 ** z}
            for z in range(MAX_ZOOM + 1)
        ],
    }


def _links(base: str, c: Collection) -> list[dict[str, Any]]:
    here = f"{base}/collections/{c.id}/tiles/{TMS_ID}"
    return [
        {"rel": "self", "type": "application/json", "href": here},
        {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": "application/json",
         "href": f"{base}/tileMatrixSets/{TMS_ID}"},
        {"rel": "item", "type": MVT, "templated": True, "href": here + "/{tileMatrix}/{tileRow}/{tileCol}"},
    ]


def tileset_summary(base: str, c: Collection) -> dict[str, Any]:
    return {"title": c.title, "dataType": "vector", "crs": CRS_3857, "tileMatrixSetURI": TMS_URI,
            "links": _links(base, c)}


def tileset(base: str, c: Collection, bbox: tuple[float, float, float, float] | None) -> dict[str, Any]:
    attrs = [p for p in c.properties if p.in_tiles and not p.joined]
    doc: dict[str, Any] = {
        **tileset_summary(base, c),
        "layers": [{
            "id": c.id, "title": c.title, "dataType": "vector",
            "geometryDimension": _DIMENSION.get(c.geometry_type),
            "minTileMatrix": str(c.min_zoom), "maxTileMatrix": str(c.max_zoom),
            "propertiesSchema": {"type": "object", "properties": {
                p.name: {"type": p.type if p.type in ("string", "integer", "number", "boolean") else "string"}
                for p in attrs}},
        }],
    }
    if bbox:
        doc["boundingBox"] = {"lowerLeft": [bbox[0], bbox[1]], "upperRight": [bbox[2], bbox[3]],
                              "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    return doc
