"""Topology in PostGIS: derived boundary lines (perimeter sums, stable ids, history), the validation report on a
deliberately broken layout (sizes checked by hand), and the all-or-nothing division importer."""

from __future__ import annotations

import datetime as dt
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.boundaries import lines, topology
from gis_api.boundaries.demo import load_demo_boundaries
from gis_api.boundaries.settings import BoundarySettings
from gis_api.divisions import service as divisions
from gis_api.divisions.importer import ImportRejected, import_divisions
from gis_api.divisions.models import Level
from gis_api.divisions.schemas import ChangeMode, DivisionCreate, DivisionUpdate

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries"
SETTINGS = BoundarySettings()
ON = dt.date(2024, 6, 1)
# GRS80 (CGCS2000) ellipsoid, for hand computations of rectangle areas in lon/lat.
A_AXIS, F = 6378137.0, 1 / 298.257222101
E2 = F * (2 - F)


def rect_m2(lon1: float, lon2: float, lat1: float, lat2: float) -> float:
    """Area of a small lon/lat rectangle: meridian and prime-vertical radii at the mid latitude."""
    phi = math.radians((lat1 + lat2) / 2)
    w = 1 - E2 * math.sin(phi) ** 2
    m: float = A_AXIS * (1 - E2) / w**1.5
    n = A_AXIS / math.sqrt(w)
    return math.radians(lon2 - lon1) * n * math.cos(phi) * math.radians(lat2 - lat1) * m


def _q(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar()


@pytest.fixture
def demo_lines(session: Session) -> dict[str, Any]:
    return load_demo_boundaries(session)


# -- derived lines ---------------------------------------------------------------------------------------------

def test_line_counts_and_outer_edges(session: Session, demo_lines: dict[str, Any]) -> None:
    assert demo_lines["county_lines"]["lines"] == 27  # 9 Feidong + 9 between neighbours + 9 outer edges
    assert demo_lines["township_lines"]["lines"] == 57
    outer_county = _q(session, "SELECT count(*) FROM boundary_lines WHERE level = 'county' AND right_code IS NULL")
    assert outer_county == 9
    assert _q(session, "SELECT count(*) FROM boundary_lines WHERE level = 'county' AND right_code IS NULL "
                       "AND left_code = '340122'") == 0  # Feidong is fully surrounded by loaded neighbours
    outer_township = _q(session, "SELECT count(*) FROM boundary_lines WHERE level = 'township' AND right_code IS NULL")
    assert outer_township == 16
    feidong = _q(session, "SELECT count(*) FROM boundary_lines WHERE '340122' IN (left_code, right_code)")
    assert feidong == 9


def test_lines_add_up_to_each_perimeter(session: Session, demo_lines: dict[str, Any]) -> None:
    rows = session.execute(text("""
        SELECT d.code, ST_Perimeter(d.geom::geography) AS perimeter,
               (SELECT sum(v.length_m) FROM boundary_lines l JOIN boundary_line_versions v ON v.line_id = l.line_id
                  AND v.valid_to IS NULL WHERE l.level = d.level AND d.code IN (l.left_code, l.right_code)) AS lines
        FROM divisions d WHERE d.valid_to IS NULL AND d.level IN ('county', 'township') AND ST_Dimension(d.geom) = 2
        ORDER BY d.code""")).all()
    assert len(rows) == 10 + 20
    for code, perimeter, total in rows:
        assert abs(total - perimeter) / perimeter < 0.001, (code, perimeter, total)
    feidong = next(r for r in rows if r[0] == "340122")
    assert 270_000 < feidong[1] < 272_000  # 270.9 km (data/boundaries/SOURCES.md)


def test_left_code_lies_on_the_left(session: Session, demo_lines: dict[str, Any]) -> None:
    """Probe 1 m left and right of the middle of the first segment of every shared line."""
    wrong = session.execute(text("""
        WITH seg AS (
            SELECT l.line_id, l.left_code, l.right_code, ST_GeometryN(v.geom, 1) AS g
            FROM boundary_lines l JOIN boundary_line_versions v ON v.line_id = l.line_id AND v.valid_to IS NULL
            WHERE l.right_code IS NOT NULL
        ), p AS (
            SELECT line_id, left_code, right_code, ST_PointN(g, 1) AS a, ST_PointN(g, 2) AS b FROM seg
        ), probe AS (
            SELECT line_id, left_code, right_code,
                   ST_SetSRID(ST_MakePoint((ST_X(a) + ST_X(b)) / 2 - (ST_Y(b) - ST_Y(a)) / ST_Distance(a, b) * 1e-5,
                                           (ST_Y(a) + ST_Y(b)) / 2 + (ST_X(b) - ST_X(a)) / ST_Distance(a, b) * 1e-5),
                              4490) AS left_point
            FROM p
        )
        SELECT probe.line_id FROM probe JOIN divisions d ON d.code = probe.left_code AND d.valid_to IS NULL
        WHERE NOT ST_Intersects(d.geom, probe.left_point)""")).scalars().all()
    assert wrong == []


def test_rederive_keeps_ids_correction_in_place_legal_change_versions(session: Session,
                                                                      demo_lines: dict[str, Any]) -> None:
    again = lines.derive(session, Level.township, ON, "test", "re-derive")
    assert (again.unchanged, again.created, again.new_versions, again.corrected) == (57, [], [], [])
    # Move one interior vertex shared by two townships (a correction of mapped geometry, record time only).
    line_id, left, right = session.execute(text("""
        SELECT l.line_id, l.left_code, l.right_code FROM boundary_lines l
        JOIN boundary_line_versions v ON v.line_id = l.line_id AND v.valid_to IS NULL
        WHERE l.level = 'township' AND l.right_code IS NOT NULL AND ST_NPoints(ST_GeometryN(v.geom, 1)) = 2
        ORDER BY v.length_m DESC LIMIT 1""")).one()
    # A straight shared line: nudge both townships by adding the same new vertex 100 m off its middle.
    x1, y1, x2, y2 = session.execute(text("""
        SELECT ST_X(ST_StartPoint(g)), ST_Y(ST_StartPoint(g)), ST_X(ST_EndPoint(g)), ST_Y(ST_EndPoint(g))
        FROM (SELECT ST_GeometryN(geom, 1) AS g FROM boundary_line_versions
              WHERE line_id = :id AND valid_to IS NULL) s"""), {"id": line_id}).one()
    n = math.hypot(x2 - x1, y2 - y1)
    # 0.002° to the right of the middle: into the right-hand township, which gives the triangle to the left one.
    bump = ((x1 + x2) / 2 + (y2 - y1) / n * 0.002, (y1 + y2) / 2 - (x2 - x1) / n * 0.002)
    for code, op in ((left, "union"), (right, "difference")):
        geojson = session.execute(text(f"""
            WITH tri AS (
                SELECT ST_MakePolygon(ST_MakeLine(ARRAY[ST_StartPoint(g), ST_SetSRID(ST_MakePoint(:x, :y), 4490),
                                                                    ST_EndPoint(g), ST_StartPoint(g)])) AS t
                FROM (SELECT ST_GeometryN(geom, 1) AS g FROM boundary_line_versions
                      WHERE line_id = :id AND valid_to IS NULL) s
            )
            SELECT ST_AsGeoJSON(ST_Multi(ST_{'Union' if op == 'union' else 'Difference'}(d.geom, tri.t)), 15)
            FROM divisions d, tri WHERE d.code = :code AND d.valid_to IS NULL"""),
            {"x": bump[0], "y": bump[1], "id": line_id, "code": code}).scalar_one()
        divisions.update(session, code, DivisionUpdate(mode=ChangeMode.correction, geometry=json.loads(geojson),
                                                       reason="digitising error"), "*", "test")
    corrected = lines.derive(session, Level.township, ON, "test", "after correction")
    assert line_id in corrected.corrected and corrected.new_versions == []
    versions = _q(session, "SELECT count(*) FROM boundary_line_versions WHERE line_id = :id", id=line_id)
    assert versions == 1  # record time only: no new valid-time version, but an audit row
    assert _q(session, "SELECT count(*) FROM audit_log WHERE table_name = 'boundary_line_versions' "
                       "AND entity_key = :id AND action = 'UPDATE'", id=line_id) == 1
    # The same kind of change as a legal change opens a new version on its effective date.
    geojson = _q(session, "SELECT ST_AsGeoJSON(geom, 15) FROM divisions WHERE code = :c AND valid_to IS NULL", c=left)
    divisions.update(session, left, DivisionUpdate(mode=ChangeMode.legal, effective_date=dt.date(2025, 1, 1),
                                                   population=1, reason="legal", geometry=json.loads(geojson)),
                     "*", "test")
    legal = lines.derive(session, Level.township, dt.date(2025, 1, 1), "test", "after legal change")
    assert legal.new_versions == [] and legal.unchanged == 57  # same geometry: nothing to version
    hist = lines.history(session, line_id)
    assert hist["line_id"] == line_id and len(hist["versions"]) == 1


# -- the validation report -------------------------------------------------------------------------------------

def _test_county(session: Session, code: str, box: tuple[float, float, float, float] | None) -> None:
    geometry = None
    if box:
        x1, x2, y1, y2 = box
        geometry = {"type": "Polygon", "coordinates": [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]}
    divisions.create(session, DivisionCreate(
        code=code, name="测试县", level=Level.county, kind="县", parent_code="340100", geometry=geometry,
        source="test", valid_from=dt.date(2024, 1, 1), reason="topology test"), "test")


def test_demo_partition_is_clean(session: Session) -> None:
    for level, parent in ((Level.township, "340122"), (Level.county, None)):
        rep = topology.report(session, level, ON, SETTINGS, parent)
        assert rep["valid"], rep["findings"]
        assert rep["divisions_checked"] == (20 if level is Level.township else 10)


def test_broken_layout_is_found_with_sizes_and_locations(session: Session) -> None:
    _test_county(session, "340198", (118.90, 119.00, 32.90, 33.00))
    imported = import_divisions(session, DATA / "broken_townships.geojson", level=Level.township,
                                code_field="code", name_field="name", valid_from=dt.date(2024, 1, 1))
    assert sorted(imported.created) == ["340198101", "340198102", "340198103", "340198104"]
    rep = topology.report(session, Level.township, ON, SETTINGS, "340198")
    assert rep["summary"] == {"invalid": 0, "overlap": 2, "gap": 1, "outside_parent": 1, "sliver": 1}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in rep["findings"]:
        by_kind.setdefault(f["kind"], []).append(f)

    def close(got: float, want: float) -> bool:
        return abs(got - want) / want < 0.001

    gap = by_kind["gap"][0]
    assert close(gap["area_m2"], rect_m2(118.95, 119.00, 32.95, 32.96))  # ≈ 5.2 km² between 乙镇 and 丙镇
    assert 118.95 < gap["location"][0] < 119.00 and 32.95 < gap["location"][1] < 32.96
    assert gap["codes"] == ["340198"]
    overlaps = sorted(by_kind["overlap"], key=lambda f: f["codes"])
    assert [o["codes"] for o in overlaps] == [["340198101", "340198104"], ["340198102", "340198104"]]
    assert close(overlaps[0]["area_m2"], rect_m2(118.94, 118.95, 32.92, 32.93))
    assert close(overlaps[1]["area_m2"], rect_m2(118.95, 118.96, 32.92, 32.93))
    outside = by_kind["outside_parent"][0]
    assert outside["codes"] == ["340198103", "340198"]
    assert close(outside["area_m2"], rect_m2(118.95, 119.00, 33.00, 33.02))
    assert outside["location"][1] > 33.0
    sliver = by_kind["sliver"][0]
    assert sliver["sliver_of"] == "gap"
    assert close(sliver["area_m2"], rect_m2(118.95, 119.00, 32.90, 32.9001))  # a 11 m wide strip
    assert 10.5 < sliver["mean_width_m"] < 11.2
    geojson = topology.as_geojson(rep)
    assert len(geojson["features"]) == 5 and geojson["features"][0]["geometry"]["type"] == "Polygon"


def test_invalid_polygon_is_reported_with_its_location(session: Session) -> None:
    _test_county(session, "340197", None)
    session.execute(text("""
        INSERT INTO divisions (code, name, level, kind, parent_code, geom, source, valid_from)
        VALUES ('340197101', '坏镇', 'township', '镇', '340197',
                ST_Multi(ST_GeomFromText('POLYGON((119 32.8, 119.05 32.85, 119.05 32.8, 119 32.85, 119 32.8))', 4490)),
                'test', '2024-01-01')"""))
    rep = topology.report(session, Level.township, ON, SETTINGS, "340197")
    invalid = [f for f in rep["findings"] if f["kind"] == "invalid"]
    assert len(invalid) == 1 and "Self-intersection" in invalid[0]["reason"]
    assert invalid[0]["location"] == pytest.approx([119.025, 32.825], abs=1e-9)


# -- the importer ------------------------------------------------------------------------------------------------

def _import(session: Session, path: Path, **kw: Any) -> Any:
    return import_divisions(session, path, level=Level.township, code_field="code", name_field="name",
                            parent_field="parent", valid_from=dt.date(2024, 1, 1), **kw)


def test_import_repairs_when_safe_and_rejects_all_when_not(session: Session) -> None:
    _test_county(session, "340198", None)
    before = _q(session, "SELECT count(*) FROM divisions")
    with pytest.raises(ImportRejected) as err:
        _import(session, DATA / "import_bowtie.geojson")
    errors = err.value.extra["errors"]
    assert [(e["feature"], e["code"], e["field"]) for e in errors] == [(3, "340198107", "geometry")]
    assert "Self-intersection" in errors[0]["message"]
    assert _q(session, "SELECT count(*) FROM divisions") == before  # all or nothing
    rep = _import(session, DATA / "import_townships.geojson")
    assert rep.created == ["340198105", "340198106"] and rep.written
    assert [r["code"] for r in rep.repaired] == ["340198105"]
    assert rep.repaired[0]["area_change"] < 1e-5
    kinds: dict[str, str] = dict(session.execute(text(
        "SELECT code, kind FROM divisions WHERE code IN ('340198105', '340198106')")).all())
    assert kinds == {"340198105": "镇", "340198106": "乡"}  # guessed from the names
    assert _q(session, "SELECT bool_and(ST_IsValid(geom)) FROM divisions WHERE parent_code = '340198'")
    with pytest.raises(ImportRejected) as again:
        _import(session, DATA / "import_townships.geojson")
    assert {e["field"] for e in again.value.extra["errors"]} == {"code"}  # both exist now


def _write(path: Path, driver: str, crs: str, transform: Any = None) -> None:
    data = json.loads((DATA / "import_townships.geojson").read_text(encoding="utf-8"))
    geoms = []
    for f in data["features"]:
        g = shapely.geometry.shape(f["geometry"])
        geoms.append(shapely.to_wkb(shapely.transform(g, transform) if transform else g))
    fields = [np.array([f["properties"][k] for f in data["features"]], dtype=object)
              for k in ("code", "name", "parent")]
    pyogrio.raw.write(str(path), np.array(geoms, dtype=object), fields, ["code", "name", "parent"], driver=driver,
                      geometry_type="Polygon", crs=crs)


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip", "projected"])
def test_import_geopackage_zipped_shapefile_and_projected_crs(session: Session, tmp_path: Path, fmt: str) -> None:
    _test_county(session, "340198", None)
    if fmt == "gpkg":
        path = tmp_path / "townships.gpkg"
        _write(path, "GPKG", "EPSG:4490")
    elif fmt == "shp.zip":
        shp = tmp_path / "townships.shp"
        _write(shp, "ESRI Shapefile", "EPSG:4490")
        path = tmp_path / "townships.zip"
        with zipfile.ZipFile(path, "w") as z:
            for p in tmp_path.glob("townships.*"):
                if p.suffix != ".zip":
                    z.write(p, p.name)
    else:
        from pyproj import Transformer

        tr = Transformer.from_crs(4490, 4548, always_xy=True)
        path = tmp_path / "townships_4548.gpkg"
        _write(path, "GPKG", "EPSG:4548", lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    rep = _import(session, path)
    assert rep.created == ["340198105", "340198106"]
    # 己乡 is the lon/lat square 118.95–119.00 × 32.80–32.85 whatever the file format or CRS.
    bounds = session.execute(text(
        "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM divisions WHERE code = '340198106'"
    )).one()
    assert bounds == pytest.approx((118.95, 32.80, 119.00, 32.85), abs=1e-6)


def test_import_gcj02_is_converted(session: Session, tmp_path: Path) -> None:
    from gis_api.geo.gcj02 import wgs84_to_gcj02_geometry

    _test_county(session, "340198", None)
    data = json.loads((DATA / "import_townships.geojson").read_text(encoding="utf-8"))
    for f in data["features"]:
        f["geometry"] = shapely.geometry.mapping(wgs84_to_gcj02_geometry(shapely.geometry.shape(f["geometry"])))
    path = tmp_path / "gcj.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    rep = _import(session, path, gcj02=True)
    assert rep.crs == "GCJ-02 → EPSG:4490" and len(rep.created) == 2
    xmin = _q(session, "SELECT ST_XMin(geom) FROM divisions WHERE code = '340198106'")
    assert xmin == pytest.approx(118.95, abs=1e-7)
