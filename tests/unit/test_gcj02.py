"""GCJ-02 <-> WGS84/CGCS2000 conversion (domain.md §7): published vectors, round trips, offsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon

from gis_api.geo.gcj02 import (
    gcj02_to_wgs84,
    gcj02_to_wgs84_arrays,
    gcj02_to_wgs84_geometry,
    out_of_china,
    wgs84_to_gcj02,
    wgs84_to_gcj02_arrays,
    wgs84_to_gcj02_geometry,
)

GEOD = Geod(ellps="GRS80")  # CGCS2000 ellipsoid

# Test vectors of googollee/eviltransform (go/transform_test.go, python/test.py), a widely used
# implementation of the same formula.  Their order is (wgsLat, wgsLng, gcjLat, gcjLng); ours is lon, lat.
EVILTRANSFORM_VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]

# Feidong County 340122 and a margin; China-wide grid inside the offset rectangle.
FEIDONG_BBOX = (117.15, 31.55, 117.95, 32.30)
CHINA_BBOX = (73.0, 3.0, 135.0, 53.5)

OUTSIDE_CHINA = [
    (24.9384, 60.1699),  # Helsinki
    (0.0, 0.0),
    (-122.4194, 37.7749),  # San Francisco
    (139.6917, 35.6895),  # Tokyo (east of the rectangle)
    (117.458, 56.0),  # north of the rectangle
    (31.873, 117.458),  # Feidong with lon/lat swapped: must not be shifted
]


def _grid(bbox: tuple[float, float, float, float], n: int) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(bbox[0], bbox[2], n), np.linspace(bbox[1], bbox[3], n))
    return lon.ravel(), lat.ravel()


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), EVILTRANSFORM_VECTORS)
def test_forward_matches_published_vectors(wgs_lat: float, wgs_lon: float, gcj_lat: float, gcj_lon: float) -> None:
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert lon == pytest.approx(gcj_lon, abs=1e-10)
    assert lat == pytest.approx(gcj_lat, abs=1e-10)


@pytest.mark.parametrize(("wgs_lat", "wgs_lon", "gcj_lat", "gcj_lon"), EVILTRANSFORM_VECTORS)
def test_inverse_matches_published_vectors(wgs_lat: float, wgs_lon: float, gcj_lat: float, gcj_lon: float) -> None:
    lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    # eviltransform's exact inverse promises < 0.5 m; the iterative inverse is far tighter.
    assert lon == pytest.approx(wgs_lon, abs=1e-9)
    assert lat == pytest.approx(wgs_lat, abs=1e-9)


def test_inverse_is_iterative_not_one_step() -> None:
    """The one-step inverse g - delta(g) is 1-2 m off; ours must satisfy the forward formula to 1e-9."""
    for _, _, gcj_lat, gcj_lon in EVILTRANSFORM_VECTORS:
        lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
        f_lon, f_lat = wgs84_to_gcj02(lon, lat)
        assert abs(f_lon - gcj_lon) < 1e-9
        assert abs(f_lat - gcj_lat) < 1e-9
        # one-step approximation, for contrast: noticeably worse
        d_lon, d_lat = wgs84_to_gcj02(gcj_lon, gcj_lat)
        one_lon, one_lat = 2 * gcj_lon - d_lon, 2 * gcj_lat - d_lat
        assert max(abs(one_lon - lon), abs(one_lat - lat)) > 1e-6


@pytest.mark.parametrize(("bbox", "n"), [(FEIDONG_BBOX, 81), (CHINA_BBOX, 121)])
def test_round_trip_accuracy(bbox: tuple[float, float, float, float], n: int) -> None:
    lon, lat = _grid(bbox, n)
    g_lon, g_lat = wgs84_to_gcj02_arrays(lon, lat)
    assert np.all(np.hypot(g_lon - lon, g_lat - lat) > 1e-4)  # really shifted
    w_lon, w_lat = gcj02_to_wgs84_arrays(g_lon, g_lat)
    assert np.max(np.abs(w_lon - lon)) < 1e-7
    assert np.max(np.abs(w_lat - lat)) < 1e-7
    # and the other way round: GCJ-02 -> WGS84 -> GCJ-02
    w2_lon, w2_lat = gcj02_to_wgs84_arrays(lon, lat)
    g2_lon, g2_lat = wgs84_to_gcj02_arrays(w2_lon, w2_lat)
    assert np.max(np.abs(g2_lon - lon)) < 1e-7
    assert np.max(np.abs(g2_lat - lat)) < 1e-7


def test_scalar_and_array_agree() -> None:
    lon, lat = _grid(FEIDONG_BBOX, 7)
    a_lon, a_lat = wgs84_to_gcj02_arrays(lon, lat)
    i_lon, i_lat = gcj02_to_wgs84_arrays(lon, lat)
    for k in range(lon.size):
        assert wgs84_to_gcj02(float(lon[k]), float(lat[k])) == (a_lon[k], a_lat[k])
        s_lon, s_lat = gcj02_to_wgs84(float(lon[k]), float(lat[k]))
        assert abs(s_lon - i_lon[k]) < 1e-12
        assert abs(s_lat - i_lat[k]) < 1e-12


def test_offset_magnitude_in_feidong() -> None:
    lon, lat = _grid(FEIDONG_BBOX, 41)
    g_lon, g_lat = wgs84_to_gcj02_arrays(lon, lat)
    _, _, dist = GEOD.inv(lon, lat, g_lon, g_lat)
    assert dist.min() > 100.0
    assert dist.max() < 700.0
    # GCJ-02 moves Feidong east and slightly south (lon order check: swapping would fail this)
    assert np.all(g_lon > lon)
    assert np.all(g_lat < lat)


def test_county_seat_offset() -> None:
    lon, lat = wgs84_to_gcj02(117.458, 31.873)  # 店埠镇
    dist = GEOD.inv(117.458, 31.873, lon, lat)[2]
    assert 500.0 < dist < 600.0


@pytest.mark.parametrize(("lon", "lat"), OUTSIDE_CHINA)
def test_identity_outside_china(lon: float, lat: float) -> None:
    assert out_of_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    a_lon, a_lat = wgs84_to_gcj02_arrays([lon], [lat])
    assert (a_lon[0], a_lat[0]) == (lon, lat)


def test_out_of_china_inside() -> None:
    assert not out_of_china(117.458, 31.873)
    assert not out_of_china(116.39, 39.91)
    assert out_of_china(31.873, 117.458)


def test_nan_passes_through() -> None:
    lon, _ = gcj02_to_wgs84_arrays([117.458, math.nan], [31.873, 31.873])
    assert math.isnan(lon[1])
    assert not math.isnan(lon[0])
    w_lon, _ = wgs84_to_gcj02_arrays([math.nan], [31.0])
    assert math.isnan(w_lon[0])


def test_non_convergence_raises() -> None:
    with pytest.raises(ArithmeticError):
        gcj02_to_wgs84(117.458, 31.873, tol=1e-300, max_iter=3)
    with pytest.raises(ArithmeticError):
        gcj02_to_wgs84(117.458, 31.873, max_iter=1)


def test_geometry_conversion_matches_points() -> None:
    ring = [(117.3, 31.7), (117.6, 31.7), (117.6, 32.0), (117.3, 32.0), (117.3, 31.7)]
    poly = Polygon(ring, holes=[[(117.4, 31.8), (117.5, 31.8), (117.5, 31.9), (117.4, 31.8)]])
    out = gcj02_to_wgs84_geometry(poly)
    assert out.geom_type == "Polygon"
    assert shapely.get_num_coordinates(out) == shapely.get_num_coordinates(poly)
    for (x, y), (ox, oy) in zip(ring, out.exterior.coords, strict=True):
        ex, ey = gcj02_to_wgs84(x, y)
        assert abs(ox - ex) < 1e-12
        assert abs(oy - ey) < 1e-12
    back = wgs84_to_gcj02_geometry(out)
    assert np.max(np.abs(shapely.get_coordinates(back) - shapely.get_coordinates(poly))) < 1e-7
    assert not out.equals_exact(poly, 1e-4)  # really moved


def test_geometry_keeps_z_and_handles_collections() -> None:
    p = gcj02_to_wgs84_geometry(Point(117.458, 31.873, 25.0))
    assert p.has_z
    assert p.z == 25.0
    x, y = gcj02_to_wgs84(117.458, 31.873)
    assert (p.x, p.y) == pytest.approx((x, y), abs=1e-12)
    arr = gcj02_to_wgs84_geometry(shapely.GeometryCollection([Point(0, 0), LineString([(117, 31), (118, 32)])]))
    coords = shapely.get_coordinates(arr)
    assert tuple(coords[0]) == (0.0, 0.0)  # outside China: unchanged
    assert tuple(coords[1]) == pytest.approx(gcj02_to_wgs84(117.0, 31.0), abs=1e-12)
