"""GCJ-02 <-> WGS84 / CGCS2000 coordinate conversion, implemented once for the whole project.

Why: Amap/Tencent publish coordinates in GCJ-02, a deliberately offset system (100-700 m); official
data is CGCS2000 (EPSG:4490, equal to WGS84 at map scale).  Per domain.md §7 we never store GCJ-02:
convert at the edge (on import) and record the coordinate's source.  The forward obfuscation is a
closed formula; the inverse has none, so :func:`gcj02_to_wgs84` iterates to a tolerance instead of
using the common one-step approximation (which is only good to 1-2 m).

Argument order is **lon, lat** everywhere (x, y), unlike most published implementations.
Only :mod:`numpy` and :mod:`shapely` (already runtime dependencies) are needed.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = [
    "FloatArray",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_arrays",
    "gcj02_to_wgs84_geometry",
    "out_of_china",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_arrays",
    "wgs84_to_gcj02_geometry",
]

FloatArray = npt.NDArray[np.float64]
G = TypeVar("G", bound=BaseGeometry)

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula (not the ellipsoid of the data itself).
_A = 6378245.0
_EE = 0.00669342162296594323
# Rectangle inside which the offset is applied (the widely used eviltransform bounds).
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271


def _inside_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    """Boolean mask of points inside the offset rectangle; NaN counts as outside (left unchanged)."""
    return (lon >= _LON_MIN) & (lon <= _LON_MAX) & (lat >= _LAT_MIN) & (lat <= _LAT_MAX)


def out_of_china(lon: float, lat: float) -> bool:
    """True where GCJ-02 applies no offset, so both directions are the identity.

    A coarse rectangle, not the national border: this is what every GCJ-02 implementation uses.
    """
    return not (_LON_MIN <= lon <= _LON_MAX and _LAT_MIN <= lat <= _LAT_MAX)


def _delta(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 position (lon, lat), without the China test."""
    x = lon - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    common = 20.0 * np.sin(6.0 * x_pi) + 20.0 * np.sin(2.0 * x_pi)
    d_lat = (
        common
        + 20.0 * np.sin(y_pi)
        + 40.0 * np.sin(y_pi / 3.0)
        + 160.0 * np.sin(y_pi / 12.0)
        + 320.0 * np.sin(y_pi / 30.0)
    ) * (2.0 / 3.0)
    d_lon = (
        common
        + 20.0 * np.sin(x_pi)
        + 40.0 * np.sin(x_pi / 3.0)
        + 150.0 * np.sin(x_pi / 12.0)
        + 300.0 * np.sin(x_pi / 30.0)
    ) * (2.0 / 3.0)
    abs_x = np.sqrt(np.abs(x))
    d_lat = d_lat + (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * abs_x)
    d_lon = d_lon + (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * abs_x)
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def _as_float_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return lon_a, lat_a


def wgs84_to_gcj02_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised WGS84/CGCS2000 -> GCJ-02; points outside China are returned unchanged."""
    lon_a, lat_a = _as_float_arrays(lon, lat)
    d_lon, d_lat = _delta(lon_a, lat_a)
    inside = _inside_china(lon_a, lat_a)
    return np.where(inside, lon_a + d_lon, lon_a), np.where(inside, lat_a + d_lat, lat_a)


def gcj02_to_wgs84_arrays(
    lon: npt.ArrayLike, lat: npt.ArrayLike, tol: float = 1e-9, max_iter: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Vectorised GCJ-02 -> WGS84/CGCS2000 by fixed-point iteration.

    Solves ``w + delta(w) = g`` with ``w <- g - delta(w)``; the offset changes slowly (|d delta| is
    about 1e-2 of the step), so each iteration gains ~2 digits and 1e-9 deg takes ~4-5 steps.
    Each point stops once its forward residual is below ``tol`` degrees (so a point's result is the
    same alone or in a batch); raises ``ArithmeticError`` if ``max_iter`` steps do not get there.
    Outside China (tested on the GCJ-02 input) and NaN: identity.
    """
    g_lon, g_lat = _as_float_arrays(lon, lat)
    inside = _inside_china(g_lon, g_lat)
    w_lon = g_lon.copy()
    w_lat = g_lat.copy()
    if not inside.any():
        return w_lon, w_lat
    gi_lon, gi_lat = g_lon[inside], g_lat[inside]
    wi_lon, wi_lat = gi_lon.copy(), gi_lat.copy()
    for _ in range(max_iter + 1):
        d_lon, d_lat = _delta(wi_lon, wi_lat)
        res_lon = wi_lon + d_lon - gi_lon
        res_lat = wi_lat + d_lat - gi_lat
        # Each point stops on its own residual, so its result does not depend on the batch it came in.
        active = (np.abs(res_lon) >= tol) | (np.abs(res_lat) >= tol)
        if not active.any():
            break
        wi_lon = np.where(active, wi_lon - res_lon, wi_lon)
        wi_lat = np.where(active, wi_lat - res_lat, wi_lat)
    else:
        raise ArithmeticError(f"GCJ-02 inverse did not reach {tol} deg in {max_iter} iterations")
    w_lon[inside] = wi_lon
    w_lat[inside] = wi_lat
    return w_lon, w_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS84/CGCS2000 (lon, lat) -> GCJ-02 (lon, lat); identity outside China."""
    if out_of_china(lon, lat):
        return lon, lat
    g_lon, g_lat = wgs84_to_gcj02_arrays(lon, lat)
    return float(g_lon), float(g_lat)


def gcj02_to_wgs84(lon: float, lat: float, tol: float = 1e-9, max_iter: int = 30) -> tuple[float, float]:
    """GCJ-02 (lon, lat) -> WGS84/CGCS2000 (lon, lat), iterated until the forward residual < ``tol`` deg."""
    w_lon, w_lat = gcj02_to_wgs84_arrays(lon, lat, tol=tol, max_iter=max_iter)
    return float(w_lon), float(w_lat)


def _transform_geometry(geom: G, *, to_wgs84: bool, tol: float, max_iter: int) -> G:
    def func(coords: FloatArray) -> FloatArray:
        out = coords.copy()  # keeps a Z column, if any, untouched
        if to_wgs84:
            out[:, 0], out[:, 1] = gcj02_to_wgs84_arrays(coords[:, 0], coords[:, 1], tol, max_iter)
        else:
            out[:, 0], out[:, 1] = wgs84_to_gcj02_arrays(coords[:, 0], coords[:, 1])
        return out

    result: G = shapely.transform(geom, func, include_z=None)
    return result


def gcj02_to_wgs84_geometry(geom: G, tol: float = 1e-9, max_iter: int = 30) -> G:
    """Convert every vertex of a shapely geometry from GCJ-02 to WGS84/CGCS2000 (one vectorised call).

    Only vertices move; edges are not re-densified.  The offset bends with a ~32 km period, so an
    edge's midpoint is off by < 2 cm for 300 m edges (county-outline spacing) but up to ~2 m for 3 km
    edges: densify long straight edges first if that matters.  Validity is not re-checked.
    """
    return _transform_geometry(geom, to_wgs84=True, tol=tol, max_iter=max_iter)


def wgs84_to_gcj02_geometry(geom: G) -> G:
    """Convert every vertex of a shapely geometry from WGS84/CGCS2000 to GCJ-02 (e.g. for an Amap overlay)."""
    return _transform_geometry(geom, to_wgs84=False, tol=0.0, max_iter=0)
