"""Is a geometry a GIS client sent back the stored one as the client writes it (an echo), not a move?

QGIS's OAPIF provider PUTs back every feature it edits, attributes and geometry, with coordinates rounded to 6
decimals (QgsJsonExporter's default precision) and as the layer's geometry type (a Polygon as a one-part
MultiPolygon). Taken as a geometry edit, an attribute change would move the shape by up to ~5 cm: for a
division that breaks the exact partition of its parent. Services compare what was sent with the row they locked.
"""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape

# An echo is off by up to half of 1e-6 in x and in y, so by up to √2 × 0.5e-6 as GEOS measures it (the
# distance between positions).
ECHO_TOLERANCE = 0.75e-6


def _positions(coords: Any, limit: int, depth: int = 0) -> int:
    """How many positions nested GeoJSON coordinates hold, counting no further than ``limit`` + 1 (and no
    deeper than a MultiPolygon nests: hostile nesting is not an echo)."""
    if isinstance(coords, list) and coords and not isinstance(coords[0], list):
        return 1
    if depth > 3:
        return limit + 1
    n = 0
    for part in coords if isinstance(coords, list) else ():
        n += _positions(part, limit - n, depth + 1)
        if n > limit:
            break
    return n


def single_part(g: Any) -> Any:
    """A one-part Multi* as its part (clients and Shapefiles write a layer's lines and polygons as Multi*)."""
    if g is not None and g.geom_type.startswith("Multi") and len(g.geoms) == 1:
        return g.geoms[0]
    return g


def echoed_geometry(sent: dict[str, Any], stored: object) -> bool:
    """True when ``sent`` is the stored geometry as a GIS client writes it back (rounded to 6 decimals; a
    one-part Multi* from a layer of one geometry type): it must not count as a move, nor change the type."""
    if not isinstance(stored, WKBElement):
        return False
    mine = to_shape(stored)
    size = int(shapely.get_num_coordinates(mine))
    if _positions(sent.get("coordinates"), size) != size:  # not an echo; nothing larger is parsed here
        return False
    try:
        theirs = shapely.geometry.shape(sent)
    except Exception:  # malformed: the normal path reports it
        return False
    return bool(single_part(theirs).equals_exact(single_part(mine), ECHO_TOLERANCE))
