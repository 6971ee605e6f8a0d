"""GPX parsing: track parts, routes, named waypoints as marker observations, errors as 422s."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gis_api.boundaries import gpx
from gis_api.errors import InvalidInput
from gis_api.geo.gcj02 import wgs84_to_gcj02

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "patrol_sample.gpx"


def test_tracks_routes_and_waypoints() -> None:
    parsed = gpx.parse(SAMPLE.read_bytes())
    # Two usable track segments (a one-point segment is dropped), the repeated point removed, plus the route.
    assert parsed.parts == [
        [(117.4, 31.85), (117.401, 31.851), (117.402, 31.852)],
        [(117.42, 31.87), (117.421, 31.871)],
        [(117.5, 31.9), (117.501, 31.901)],
    ]
    assert parsed.points == 9
    assert [w.name for w in parsed.waypoints] == ["界桩 0003001Q 复测", "水塔"]
    assert [w.marker_no for w in parsed.waypoints] == ["0003001Q", None]
    assert parsed.start == dt.datetime(2024, 5, 1, 1, 0, tzinfo=dt.UTC)
    assert parsed.end == dt.datetime(2024, 5, 1, 3, 30, tzinfo=dt.UTC)
    assert parsed.ewkt().startswith("SRID=4490;MULTILINESTRING((117.4 31.85, 117.401 31.851, 117.402 31.852), (")


def test_gcj02_tracks_are_converted_back() -> None:
    x, y = wgs84_to_gcj02(117.4, 31.85)
    x2, y2 = wgs84_to_gcj02(117.41, 31.86)
    text_ = (f'<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
             f'<trkpt lat="{y}" lon="{x}"/><trkpt lat="{y2}" lon="{x2}"/></trkseg></trk></gpx>')
    raw = gpx.parse(text_)
    assert abs(raw.parts[0][0][0] - 117.4) > 1e-4  # GCJ-02 is offset by hundreds of metres
    conv = gpx.parse(text_, gcj02=True)
    assert conv.parts[0][0] == pytest.approx((117.4, 31.85), abs=1e-8)
    assert conv.parts[0][1] == pytest.approx((117.41, 31.86), abs=1e-8)


@pytest.mark.parametrize(
    "content",
    [
        b"not xml at all",
        b'<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"></gpx>',
        b'<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        b'<trkpt lat="31.85" lon="117.4"/></trkseg></trk></gpx>',
    ],
)
def test_unusable_files_are_422_on_the_file_field(content: bytes) -> None:
    with pytest.raises(InvalidInput) as err:
        gpx.parse(content)
    assert err.value.field == "file"
    assert err.value.message_zh
