"""OGC API – Features Part 5 "Schemas": each collection's feature schema as JSON Schema 2020-12.

Two shapes of the same description, both ``application/schema+json`` at ``/collections/{id}/schema``:

- the Part 5 schema (default): the feature's properties as the top-level ``properties``, with their type,
  ``format`` (``date``, ``geometry-point`` …), ``maxLength`` where the database bounds the column, and the
  ``x-ogc-role`` of the id, the primary geometry and the valid-time interval. QGIS 3.44+ reads it through
  the ``http://www.opengis.net/def/rel/ogc/1.0/schema`` link once ``/conformance`` lists the Part 5 class.
- ``?profile=geojson``: a GeoJSON Feature whose ``properties`` member holds the same property schemas. GDAL's
  OAPIF driver (3.6 … 3.12) follows the collection's ``describedby`` link and builds its field list from
  ``properties.properties`` of the schema, so that is what the ``describedby`` link points at.

The geometry carries no ``type`` in the Part 5 shape: clients (QGIS) make every property with a ``type`` an
attribute column, and the geometry and the id travel outside ``properties`` in GeoJSON.
"""

from __future__ import annotations

import re
from typing import Any

from gis_api.limits import COLUMN_LIMITS
from gis_api.ogc.collections import Collection, GeometryType, Property

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
CONFORMANCE = "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas"
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"
PROFILES = ("part5", "geojson")

GEOMETRY_FORMAT: dict[GeometryType, str] = {
    "Point": "geometry-point", "MultiPoint": "geometry-multipoint", "LineString": "geometry-linestring",
    "MultiLineString": "geometry-multilinestring", "Polygon": "geometry-polygon",
    "MultiPolygon": "geometry-multipolygon", "Geometry": "geometry-any",
}
_PLAIN_COLUMN = re.compile(r"^t\.([a-z_][a-z0-9_]*)$")


def max_length(c: Collection, p: Property) -> int | None:
    """The database's bound on a text column (``gis_api.limits.COLUMN_LIMITS``), when ``p`` is that column."""
    m = _PLAIN_COLUMN.match(p.sql)
    if p.type != "string" or m is None:
        return None
    return COLUMN_LIMITS.get(c.table, {}).get(m.group(1))


def value_schema(p: Property) -> dict[str, Any]:
    """The JSON Schema ``type`` (and ``format`` of a date) of a property's values."""
    return {"type": "string", "format": p.type} if p.type in ("date", "date-time") else {"type": p.type}


def property_schema(c: Collection, p: Property, seq: int | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"title": p.title or p.name, **value_schema(p)}
    n = max_length(c, p)
    if n is not None:
        s["maxLength"] = n
    if p.enum:
        s["enum"] = list(p.enum)
    if c.valid_from and p.sql == f"t.{c.valid_from}":
        s["x-ogc-role"] = "primary-interval-start"
    elif c.valid_to and p.sql == f"t.{c.valid_to}":
        s["x-ogc-role"] = "primary-interval-end"
    if seq is not None:
        s["x-ogc-propertySeq"] = seq
    return s


def geometry_schema(c: Collection) -> dict[str, Any]:
    return {"title": "geometry", "format": GEOMETRY_FORMAT[c.geometry_type], "x-ogc-role": "primary-geometry"}


def schema(c: Collection, url: str, profile: str = "part5") -> dict[str, Any]:
    props = {p.name: property_schema(c, p, i) for i, p in enumerate(c.properties, start=1)}
    head = {"$schema": JSON_SCHEMA, "$id": url, "title": c.title, "description": c.description}
    if profile == "geojson":
        return {**head, "type": "object", "required": ["type", "geometry", "properties"], "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": c.id_type, "x-ogc-role": "id"},
            "geometry": geometry_schema(c),
            "properties": {"type": "object", "properties": props},
        }}
    return {**head, "type": "object", "properties": {
        "id": {"title": "feature id", "x-ogc-role": "id", "readOnly": True},
        "geometry": geometry_schema(c), **props,
    }}
