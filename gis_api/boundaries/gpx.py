"""GPX patrol files: tracks (and routes) as lon/lat line parts, named waypoints as surveyed marker positions.

Pure parsing (gpxpy); the geometry work happens in PostGIS (``patrols``). GPX is WGS84, equal to CGCS2000 at
map scale; a track recorded by a GCJ-02 app can be converted on the way in (domain.md §7).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import gpxpy
import gpxpy.gpx

from gis_api.errors import InvalidInput
from gis_api.geo.gcj02 import gcj02_to_wgs84

MARKER_NAME = re.compile(r"\b(\d{7}[QABCDE])\b")


@dataclass(frozen=True)
class Waypoint:
    name: str
    lon: float
    lat: float
    time: dt.datetime | None = None
    marker_no: str | None = None  # when the name carries a marker ID


@dataclass
class ParsedGpx:
    parts: list[list[tuple[float, float]]] = field(default_factory=list)
    waypoints: list[Waypoint] = field(default_factory=list)
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    points: int = 0

    def ewkt(self) -> str:
        """The track as EWKT MULTILINESTRING in EPSG:4490."""
        parts = ", ".join("(" + ", ".join(f"{x!r} {y!r}" for x, y in p) + ")" for p in self.parts)
        return f"SRID=4490;MULTILINESTRING({parts})"


def _bad(message: str, message_zh: str) -> InvalidInput:
    return InvalidInput(message, message_zh, field="file")


def parse(data: bytes | str, *, gcj02: bool = False) -> ParsedGpx:
    """Parse GPX text; raise a 422 naming the problem (never a 500) when it is not usable."""
    raw = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        doc = gpxpy.parse(raw)
    except (gpxpy.gpx.GPXException, ValueError) as exc:
        raise _bad(f"not a readable GPX file: {exc}", f"无法读取 GPX 文件：{exc}") from None
    out = ParsedGpx()
    times: list[dt.datetime] = []

    def conv(lon: float, lat: float) -> tuple[float, float]:
        return gcj02_to_wgs84(lon, lat) if gcj02 else (lon, lat)

    def add_part(points: list[gpxpy.gpx.GPXTrackPoint] | list[gpxpy.gpx.GPXRoutePoint]) -> None:
        coords: list[tuple[float, float]] = []
        for p in points:
            if not (-180 <= p.longitude <= 180 and -90 <= p.latitude <= 90):
                raise _bad(f"point ({p.longitude}, {p.latitude}) is not a longitude/latitude",
                           f"点 ({p.longitude}, {p.latitude}) 不是经纬度")
            c = conv(p.longitude, p.latitude)
            if not coords or coords[-1] != c:
                coords.append(c)
            if p.time is not None:
                times.append(p.time)
        out.points += len(points)
        if len(coords) >= 2:
            out.parts.append(coords)

    for track in doc.tracks:
        for segment in track.segments:
            add_part(segment.points)
    for route in doc.routes:
        add_part(route.points)
    for w in doc.waypoints:
        lon, lat = conv(w.longitude, w.latitude)
        name = (w.name or "").strip()
        m = MARKER_NAME.search(name.upper())
        out.waypoints.append(Waypoint(name=name, lon=lon, lat=lat, time=w.time, marker_no=m.group(1) if m else None))
        if w.time is not None:
            times.append(w.time)
    if not out.parts and not out.waypoints:
        raise _bad("the GPX file has no track of two or more points and no waypoint",
                   "GPX 文件中没有至少两个点的轨迹，也没有航点")
    if times:
        out.start, out.end = min(times), max(times)
    return out
