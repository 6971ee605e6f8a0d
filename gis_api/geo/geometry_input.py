"""Parsing and checking geometry that arrives from clients (one geometry per request)."""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import WKBElement
from shapely.geometry import shape
from shapely.validation import explain_validity

from gis_api.errors import InvalidInput
from gis_api.limits import check_geojson_geometry

# CGCS2000 / China's extent, generously: catches swapped lon/lat and projected coordinates.
LON_RANGE = (73.0, 136.0)
LAT_RANGE = (3.0, 54.0)


def parse_geojson(
    geometry: dict[str, Any], *, field: str = "geometry", allowed: tuple[str, ...] = ("MultiPolygon", "Point"),
    max_vertices: int | None = None,
) -> WKBElement:
    """Return EWKB (SRID 4490, full precision) for a valid GeoJSON geometry, or raise a 422 naming the problem.

    Polygons are promoted to MultiPolygon when that is what the column stores. The vertices are counted and the
    rings checked for closure before shapely builds anything (shapely would close an open ring silently);
    ``max_vertices`` defaults to ``DIMING_LIMIT_GEOMETRY_MAX_VERTICES``.
    """
    check_geojson_geometry(geometry, field=field, max_vertices=max_vertices)
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise InvalidInput(
            f"{field} is not valid GeoJSON: {exc}", f"{field} 不是有效的 GeoJSON：{exc}", field=field
        ) from None
    if geom.is_empty:
        raise InvalidInput(f"{field} is empty", f"{field} 为空几何", field=field)
    if geom.geom_type == "Polygon" and "MultiPolygon" in allowed:
        geom = shapely.MultiPolygon([geom])
    if geom.geom_type not in allowed:
        raise InvalidInput(
            f"{field} must be one of {', '.join(allowed)}, not {geom.geom_type}",
            f"{field} 的几何类型须为 {', '.join(allowed)}，而不是 {geom.geom_type}",
            field=field,
        )
    minx, miny, maxx, maxy = geom.bounds
    if not (LON_RANGE[0] <= minx and maxx <= LON_RANGE[1] and LAT_RANGE[0] <= miny and maxy <= LAT_RANGE[1]):
        raise InvalidInput(
            f"{field} lies outside China in lon/lat (bounds {geom.bounds}); coordinates must be "
            "longitude, latitude in CGCS2000 (EPSG:4490)",
            f"{field} 坐标超出中国范围（{geom.bounds}）；坐标须为 CGCS2000 经度、纬度",
            field=field,
            rule="§7",
        )
    if not geom.is_valid:
        reason = explain_validity(geom)
        raise InvalidInput(
            f"{field} is not a valid geometry: {reason}", f"{field} 几何无效：{reason}", field=field
        )
    return WKBElement(shapely.to_wkb(shapely.set_srid(geom, 4490), include_srid=True), srid=4490, extended=True)
