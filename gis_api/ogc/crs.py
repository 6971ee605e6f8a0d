"""Coordinate reference systems of the OGC API (Part 2): storage EPSG:4490, output and bbox CRSs.

Axis order follows each CRS's EPSG definition as pyproj reports it: EPSG:4490 is latitude, longitude and
EPSG:4548 (CGCS2000 3° Gauss-Krüger CM 117°E) is northing, easting; CRS84 and EPSG:3857 are x/east first.
PostGIS always stores and transforms in x/east-first order, so a CRS whose first axis points north gets its
coordinates flipped on output and its bbox values swapped on input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

from pyproj import CRS, Transformer

from gis_api.ogc.errors import BadRequest

STORAGE_SRID = 4490
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"


@dataclass(frozen=True)
class OutputCrs:
    uri: str
    srid: int  # PostGIS SRID of the transformed geometry (CRS84 is served from 4490 unchanged)
    north_first: bool  # axis order of the definition: first axis northing/latitude
    geographic: bool
    decimals: int  # digits after the point in GeoJSON: 7 in degrees (~1 cm), 3 in metres (1 mm)

    @property
    def header(self) -> str:
        return f"<{self.uri}>"

    def geometry_sql(self, column: str) -> str:
        """SQL for ``column`` (stored in EPSG:4490) in this CRS and axis order (fixed text, no input)."""
        expr = column if self.srid == STORAGE_SRID else f"ST_Transform({column}, {self.srid})"
        return f"ST_FlipCoordinates({expr})" if self.north_first else expr


def _axis_north_first(crs: CRS) -> bool:
    return crs.axis_info[0].direction in ("north", "south")


@cache
def _definitions() -> dict[str, OutputCrs]:
    out: dict[str, OutputCrs] = {CRS84: OutputCrs(CRS84, STORAGE_SRID, False, True, 7)}
    for code in (4490, 3857, 4548):
        crs = CRS.from_epsg(code)
        uri = EPSG_URI.format(code)
        out[uri] = OutputCrs(uri, code, _axis_north_first(crs), crs.is_geographic, 7 if crs.is_geographic else 3)
    return out


def supported() -> list[str]:
    """CRS URIs in the order the collections list them (the first is the default)."""
    return list(_definitions())


# Short forms clients also send ("EPSG:4548", "urn:ogc:def:crs:EPSG::4548", "OGC:CRS84", "CRS84").
def _normalise(value: str) -> str:
    v = value.strip().strip("<>").strip()
    upper = v.upper()
    if upper in ("CRS84", "OGC:CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84", "URN:OGC:DEF:CRS:OGC::CRS84",
                 "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84", "HTTPS://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84"):
        return CRS84
    for prefix in ("EPSG:", "URN:OGC:DEF:CRS:EPSG::", "URN:OGC:DEF:CRS:EPSG:0:", "HTTP://WWW.OPENGIS.NET/DEF/CRS/EPSG/0/",
                   "HTTPS://WWW.OPENGIS.NET/DEF/CRS/EPSG/0/"):
        if upper.startswith(prefix) and upper[len(prefix):].isdigit():
            return EPSG_URI.format(int(upper[len(prefix):]))
    return v


def resolve(value: str | None, param: str = "crs") -> OutputCrs:
    if not value:
        return _definitions()[CRS84]
    found = _definitions().get(_normalise(value))
    if found is None:
        raise BadRequest(
            f"{param} {value!r} is not supported; use one of {', '.join(supported())}",
            f"不支持的坐标参考系 {value!r}；可用：{', '.join(supported())}",
            field=param, rule="§7", code="unsupported_crs",
        )
    return found


@lru_cache(maxsize=16)
def _to_storage(srid: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(srid), CRS.from_epsg(STORAGE_SRID), always_xy=True)


def bbox_to_storage(values: tuple[float, ...], bbox_crs: OutputCrs
                    ) -> tuple[tuple[float, float, float, float], str | None]:
    """A bbox given in ``bbox_crs`` axis order → (lon/lat envelope, densified polygon WKT or None).

    Geographic bboxes are envelopes already; a projected bbox becomes the polygon its edges (densified)
    map to, so the filter keeps exactly the features inside the projected rectangle.
    """
    if len(values) == 6:  # 3D bbox: drop the heights
        values = (values[0], values[1], values[3], values[4])
    a1, b1, a2, b2 = values
    if bbox_crs.north_first:
        a1, b1, a2, b2 = b1, a1, b2, a2
    if bbox_crs.srid == STORAGE_SRID:
        return (a1, b1, a2, b2), None
    tr = _to_storage(bbox_crs.srid)
    n = 16
    ring: list[tuple[float, float]] = []
    for i in range(n):
        ring.append((a1 + (a2 - a1) * i / n, b1))
    for i in range(n):
        ring.append((a2, b1 + (b2 - b1) * i / n))
    for i in range(n):
        ring.append((a2 - (a2 - a1) * i / n, b2))
    for i in range(n):
        ring.append((a1, b2 - (b2 - b1) * i / n))
    xs, ys = tr.transform([p[0] for p in ring], [p[1] for p in ring])
    pts = list(zip(xs, ys, strict=True))
    pts.append(pts[0])
    wkt = "POLYGON((" + ",".join(f"{x:.9f} {y:.9f}" for x, y in pts) + "))"
    return (min(xs), min(ys), max(xs), max(ys)), wkt


def storage_to(crs: OutputCrs, lon: float, lat: float) -> tuple[float, float]:
    """A storage coordinate in ``crs`` axis order (for extents and tests)."""
    if crs.srid == STORAGE_SRID:
        x, y = lon, lat
    else:
        x, y = Transformer.from_crs(CRS.from_epsg(STORAGE_SRID), CRS.from_epsg(crs.srid),
                                    always_xy=True).transform(lon, lat)
    return (y, x) if crs.north_first else (x, y)
