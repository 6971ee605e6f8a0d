"""Export → import round trips of places in every export format, and the files' field types.

A re-import matches rows by the exported id: unchanged rows are skipped, an edited row becomes one versioned,
audited update through ``places.service.update`` (with the exported version as If-Match), a row edited in the
database since the export is a conflict and is not overwritten, a row without an id is inserted, and a dry run
reports all of that and writes nothing.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyogrio
import pyogrio.raw
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.io import formats
from gis_api.places import service as places_service
from gis_api.places.schemas import PlaceUpdate
from tests.today import AS_OF

FORMATS = ("geojson", "gpkg", "shp", "csv", "xlsx")
NEW_NAME = "新开岗"
NEW_POINT = (117.4712345, 31.8812345)


def n_places(session: Session) -> int:
    return int(session.scalar(text(f"SELECT count(*) FROM places WHERE {AS_OF}")) or 0)


def a_point_place(session: Session) -> tuple[int, str | None]:
    """A place with a point geometry (every format carries its location) and its meaning."""
    row = session.execute(text(f"SELECT place_id, meaning FROM places WHERE {AS_OF} AND GeometryType(geom) = 'POINT' "
                               "ORDER BY place_id LIMIT 1")).one()
    return int(row[0]), row[1]


def export(client: TestClient, fmt: str, tmp_path: Path) -> Path:
    r = client.get(f"/api/v1/exports/places?format={fmt}")
    assert r.status_code == 200, r.text
    path = tmp_path / f"places.{formats.EXTENSION[fmt]}"
    path.write_bytes(r.content)
    return path


def import_(client: TestClient, headers: dict[str, str], path: Path, **form: Any) -> dict[str, Any]:
    r = client.post("/api/v1/imports/places", headers=headers, files={"file": (path.name, path.read_bytes())},
                    data={"reason": "往返导入", **form})
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    assert body["errors"] == [], body["errors"][:3]
    return body


def counts(rep: dict[str, Any]) -> tuple[int, int, int, int]:
    return rep["inserted"], rep["updated"], rep["unchanged"], rep["conflicts"]


# -- editing the exported files the way a user's tool would --------------------------------------------------

def _edit_geojson(path: Path, pid: int, meaning: str, new: bool) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    feat = next(f for f in doc["features"] if f["id"] == pid)
    feat["properties"]["meaning"] = meaning
    if new:
        doc["features"].append({"type": "Feature", "geometry": {"type": "Point", "coordinates": list(NEW_POINT)},
                                "properties": {"name": NEW_NAME, "category_code": "122"}})
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _edit_ogr(path: Path, pid: int, meaning: str, new: bool, names: dict[str, str] | None = None) -> None:
    """Rewrite an OGR file with one attribute changed (and a new point appended), keeping its field types."""
    meta, _fids, geoms, data = pyogrio.raw.read(str(path), datetime_as_string=False)
    fields = list(meta["fields"])
    col = {(names or {}).get(f, f): i for i, f in enumerate(fields)}
    ids = data[col["id"]]
    if pid in ids:
        data[col["meaning"]][list(ids).index(pid)] = meaning
    masks: list[npt.NDArray[np.bool_] | None] = [None] * len(fields)
    if new:
        geoms = np.append(geoms, np.array([shapely.to_wkb(shapely.Point(*NEW_POINT))], dtype=object))
        extra = {"name": NEW_NAME, "category_code": "122"}
        grown, masks = [], []
        for f, a in zip(fields, data, strict=True):
            value = extra.get((names or {}).get(f, f))
            filler = value if value is not None else (a[:1] if len(a) else np.zeros(1, a.dtype))[0]
            grown.append(np.append(a, np.array([filler], dtype=a.dtype)))
            masks.append(np.array([False] * len(a) + [value is None]))
        data = grown
    gpkg = path.suffix == ".gpkg"
    opts = {"VERSION": formats.GPKG_VERSION} if gpkg else {}
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg") if path.suffix == ".shp" else ():
        path.with_suffix(suffix).unlink(missing_ok=True)
    if path.suffix != ".shp":
        path.unlink()
    pyogrio.raw.write(str(path), geoms, data, fields, field_mask=masks, layer=meta.get("layer_name") or path.stem,
                      driver="GPKG" if gpkg else "ESRI Shapefile", geometry_type=meta["geometry_type"],
                      crs=meta["crs"], encoding="UTF-8", dataset_options=opts)


def _edit_gpkg(path: Path, pid: int, meaning: str, new: bool) -> None:
    if not new:  # an SQL edit through Debian's GDAL, as QGIS would save it
        sql = f"UPDATE places SET meaning = '{meaning}' WHERE id = {pid}"
        subprocess.run(["ogrinfo", "-q", str(path), "-sql", sql], check=True, capture_output=True)
        return
    _edit_ogr(path, pid, meaning, new)


def _edit_shp(path: Path, pid: int, meaning: str, new: bool) -> None:
    from gis_api.io.service import _shapefile_names

    tmp = path.with_suffix(".d")
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp)
    names = _shapefile_names()
    for shp in sorted(tmp.glob("*.shp")):
        _edit_ogr(shp, pid, meaning, new and shp.stem.endswith("point"), names)
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(tmp.iterdir()):
            z.write(f, f.name)


def _edit_csv(path: Path, pid: int, meaning: str, new: bool) -> None:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    for r in rows:
        if r["id"] == str(pid):
            r["meaning"] = meaning
    if new:
        point = "lon" in header
        rows.append({**dict.fromkeys(header, ""), "name": NEW_NAME, "category_code": "122",
                     **({"lon": str(NEW_POINT[0]), "lat": str(NEW_POINT[1])} if point else
                        {"wkt": shapely.Point(*NEW_POINT).wkt})})
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # as a spreadsheet saves it: minimal quoting
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)


def _edit_xlsx(path: Path, pid: int, meaning: str, new: bool) -> None:
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[header.index("代码")].value == pid:
            cell = row[header.index("地名含义")]
            cell.value = meaning
            cell.data_type = "s"  # text typed with a leading ' in Excel: not a formula
    if new:
        values = {"标准名称": NEW_NAME, "类别代码": "122", "经度": NEW_POINT[0], "纬度": NEW_POINT[1]}
        ws.append([values.get(str(h)) for h in header])
    wb.save(path)


EDIT: dict[str, Callable[[Path, int, str, bool], None]] = {
    "geojson": _edit_geojson, "gpkg": _edit_gpkg, "shp": _edit_shp, "csv": _edit_csv, "xlsx": _edit_xlsx}


# -- the round trips -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_leaves_the_database_unchanged(fmt: str, client: TestClient, session: Session,
                                                  login: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    officer = login("officer")
    total = n_places(session)
    path = export(client, fmt, tmp_path)
    rep = import_(client, officer, path)
    assert counts(rep) == (0, 0, total, 0), rep
    assert n_places(session) == total
    assert not session.scalar(text("SELECT count(*) FROM audit_log WHERE reason = '往返导入'"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_edited_row_is_one_audited_update_and_a_new_row_is_inserted(
        fmt: str, client: TestClient, session: Session, login: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    officer = login("officer", username=f"roundtrip_{fmt}")
    total = n_places(session)
    pid, meaning = a_point_place(session)
    path = export(client, fmt, tmp_path)
    EDIT[fmt](path, pid, "=导入后修改的含义", True)  # formula-like text: the CSV export escaping must not bite

    dry = import_(client, officer, path, dry_run="true")
    assert counts(dry) == (1, 1, total - 1, 0) and dry["dry_run"]
    assert n_places(session) == total
    assert session.scalar(text("SELECT meaning FROM places WHERE place_id = :p AND valid_to IS NULL"),
                          {"p": pid}) == meaning  # the dry run wrote nothing

    rep = import_(client, officer, path)
    assert counts(rep) == (1, 1, total - 1, 0) and rep["updated_ids"] == [pid]
    assert n_places(session) == total + 1
    row = session.execute(text("SELECT meaning, version FROM places WHERE place_id = :p AND valid_to IS NULL"),
                          {"p": pid}).one()
    assert row.meaning == "=导入后修改的含义" and row.version == 2
    audit = session.execute(text("SELECT actor, action, reason FROM audit_log WHERE table_name = 'places' "
                                 "AND entity_key = :k AND reason = '往返导入'"), {"k": str(pid)}).all()
    assert [tuple(a) for a in audit] == [(f"roundtrip_{fmt}", "UPDATE", "往返导入")]
    assert session.scalar(text(f"SELECT count(*) FROM places WHERE name = :n AND {AS_OF}"), {"n": NEW_NAME}) == 1

    (tmp_path / "again").mkdir()
    again = import_(client, officer, export(client, fmt, tmp_path / "again"))
    assert counts(again) == (0, 0, total + 1, 0)  # the edited file's successor round-trips clean too


@pytest.mark.parametrize("fmt", FORMATS)
def test_row_edited_since_the_export_is_a_conflict(fmt: str, client: TestClient, session: Session,
                                                   login: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    officer = login("officer")
    total = n_places(session)
    pid, _meaning = a_point_place(session)
    path = export(client, fmt, tmp_path)
    _feature, etag = places_service.feature(session, pid, clock.today())
    places_service.update(session, pid, PlaceUpdate(meaning="库里改过", reason="并发编辑"), etag, "other")
    EDIT[fmt](path, pid, "文件里改过", False)

    rep = import_(client, officer, path)
    assert counts(rep) == (0, 0, total - 1, 1)
    assert rep["conflict_rows"][0]["id"] == pid and rep["conflict_rows"][0]["fields"] == ["meaning"]
    assert session.scalar(text("SELECT meaning FROM places WHERE place_id = :p AND valid_to IS NULL"),
                          {"p": pid}) == "库里改过"  # not overwritten


def test_unchanged_file_after_a_database_edit_is_a_conflict_not_a_revert(
        client: TestClient, session: Session, login: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    pid, _meaning = a_point_place(session)
    path = export(client, "geojson", tmp_path)
    _feature, etag = places_service.feature(session, pid, clock.today())
    places_service.update(session, pid, PlaceUpdate(meaning="库里改过", reason="并发编辑"), etag, "other")
    rep = import_(client, login("officer"), path)
    assert rep["conflicts"] == 1 and rep["updated"] == 0


def test_derived_column_changed_in_the_file_is_refused(
        client: TestClient, session: Session, login: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    pid, _meaning = a_point_place(session)
    path = export(client, "geojson", tmp_path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    next(f for f in doc["features"] if f["id"] == pid)["properties"]["tongming_romanized"] = "Xyz"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    r = client.post("/api/v1/imports/places", headers=login("officer"),
                    files={"file": (path.name, path.read_bytes())}, data={"reason": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "tongming_romanized"


def test_unknown_id_and_key_by_name(client: TestClient, session: Session, login: Callable[..., dict[str, str]],
                                    tmp_path: Path) -> None:
    officer = login("officer")
    name, code, category = session.execute(text(
        f"SELECT name, division_code, category_code FROM places WHERE {AS_OF} AND name = '店埠镇'")).one()
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 99999999, "geometry": None, "properties": {"name": "无此地", "category_code": "122"}},
    ]}
    f = tmp_path / "x.geojson"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    r = client.post("/api/v1/imports/places", headers=officer, files={"file": (f.name, f.read_bytes())},
                    data={"reason": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id"

    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {"name": name, "division_code": code,
                                                             "category_code": category}}]}
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    total = n_places(session)
    rep = import_(client, officer, f, key="name+division_code")
    assert counts(rep) == (0, 0, 1, 0) and rep["key"] == "name+division_code"  # not a second 店埠镇
    assert n_places(session) == total
    doc["features"][0]["properties"]["meaning"] = "无版本的修改"
    f.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    r = client.post("/api/v1/imports/places", headers=officer, files={"file": (f.name, f.read_bytes())},
                    data={"reason": "x", "key": "name+division_code"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "version"  # no version: no blind update


def test_cli_dry_run_prints_the_counts(settings: Any, session: Session, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from gis_api.io import cli

    session.commit()  # the CLI opens its own connection: nothing of this test's transaction is visible there
    out = tmp_path / "p.gpkg"
    assert cli.cmd_export(settings, argparse.Namespace(collection="places", output=str(out), format=None,
                                                       as_of=None, bbox=None)) == 0
    args = argparse.Namespace(file=str(out), actor="cli:test", reason="dry", format=None, encoding=None, layer=None,
                              crs=None, category=None, lon_field=None, lat_field=None, wkt_field=None, source="cli",
                              valid_from=None, engine="auto", key="id", dry_run=True)
    assert cli.cmd_import_places(settings, args) == 0
    err = capsys.readouterr().err
    assert "dry run: inserted 0, updated 0, unchanged" in err and "conflicts 0" in err


# -- field types -----------------------------------------------------------------------------------------------

EXPECTED_TYPES = {"id": "Integer", "registered_on": "Date", "named_on": "Date", "established_year": "Integer",
                  "sign_count": "Integer", "version": "Integer", "elevation_m": "Real", "name": "String",
                  "valid_from": "Date"}


def _ogrinfo_types(path: str, layer: str) -> tuple[dict[str, str], str]:
    """Field types as Debian's GDAL (ogrinfo) reports them, and its warnings."""
    out = subprocess.run(["ogrinfo", "-so", path, layer], capture_output=True, text=True, check=True)
    types = {}
    for line in out.stdout.splitlines():
        name, sep, rest = line.partition(": ")
        if sep and rest.split(" ")[0] in ("Integer", "Integer64", "Real", "String", "Date", "DateTime"):
            types[name.strip()] = rest.split(" ")[0]
    return types, out.stderr


@pytest.mark.skipif(subprocess.run(["which", "ogrinfo"], capture_output=True).returncode != 0,
                    reason="gdal-bin (ogrinfo) is not installed")
def test_gpkg_and_shapefile_field_types(client: TestClient, tmp_path: Path) -> None:
    gpkg = export(client, "gpkg", tmp_path)
    types, warnings = _ogrinfo_types(str(gpkg), "places")
    assert "partially supported" not in warnings and "Warning" not in warnings
    assert {k: types[k] for k in EXPECTED_TYPES} == EXPECTED_TYPES
    info = pyogrio.read_info(str(gpkg))  # the wheel's newer GDAL agrees
    wheel = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert wheel["established_year"] == "int32" and wheel["registered_on"] == "datetime64[D]"
    with sqlite3.connect(gpkg) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2

    z = export(client, "shp", tmp_path)
    from gis_api.io.service import _shapefile_names

    short = {v: k for k, v in _shapefile_names().items()}
    types, _w = _ogrinfo_types(f"/vsizip/{z}/places_point.shp", "places_point")
    assert {k: types[short[k]] for k in EXPECTED_TYPES} == EXPECTED_TYPES


# -- GPX -------------------------------------------------------------------------------------------------------

def test_gpx_export_of_places_is_valid_gpx(client: TestClient, session: Session) -> None:
    import gpxpy

    r = client.get("/api/v1/exports/places?f=gpx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/gpx+xml")
    gpx = gpxpy.parse(r.content.decode("utf-8"))
    points = session.scalar(text(f"SELECT count(*) FROM places WHERE {AS_OF} AND GeometryType(geom) = 'POINT'"))
    others = session.scalar(text(f"SELECT count(*) FROM places WHERE {AS_OF} AND GeometryType(geom) <> 'POINT'"))
    assert len(gpx.waypoints) == points and len(gpx.tracks) == others
    names = {w.name for w in gpx.waypoints} | {t.name for t in gpx.tracks}
    assert "南淝河" in names
    assert f"{points} waypoints, {others} tracks" in (gpx.description or "")  # the note on polygons and skips
    lon, lat = session.execute(text(f"SELECT ST_X(geom), ST_Y(geom), place_id FROM places WHERE {AS_OF} "
                                    "AND GeometryType(geom) = 'POINT' ORDER BY place_id LIMIT 1")).one()[:2]
    assert (gpx.waypoints[0].longitude, gpx.waypoints[0].latitude) == pytest.approx((lon, lat), abs=1e-7)


@pytest.mark.skipif(subprocess.run(["which", "ogrinfo"], capture_output=True).returncode != 0,
                    reason="gdal-bin (ogrinfo) is not installed")
def test_debian_gdal_reads_the_gpx_without_warnings(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "places.gpx"
    path.write_bytes(client.get("/api/v1/exports/places?f=gpx").content)
    out = subprocess.run(["ogrinfo", "-al", "-q", str(path)], capture_output=True, text=True, check=True)
    assert "Warning" not in out.stderr, out.stderr[:300]  # e.g. a 12-digit code overflowing a 32-bit integer
    assert "南淝河" in out.stdout


def test_gpx_escapes_names(client: TestClient, session: Session) -> None:
    import gpxpy

    pid, _m = a_point_place(session)
    _f, etag = places_service.feature(session, pid, clock.today())
    places_service.update(session, pid, PlaceUpdate(name="A&B<岗>", reason="转义"), etag, "t")
    r = client.get("/api/v1/exports/places?f=gpx")
    assert b"A&amp;B&lt;" in r.content
    assert "A&B<岗>" in {w.name for w in gpxpy.parse(r.content.decode()).waypoints}


@pytest.mark.parametrize("collection", ["markers", "boundary-lines"])
def test_gpx_export_of_markers_and_lines(collection: str, client: TestClient, tmp_path: Path) -> None:
    r = client.get(f"/api/v1/exports/{collection}?format=gpx")
    if r.status_code == 404:
        pytest.skip(f"{collection} is not available in this database")
    assert r.status_code == 200, r.text
    path = tmp_path / "x.gpx"
    path.write_bytes(r.content)
    layer = "waypoints" if collection == "markers" else "tracks"
    _meta, _fids, geoms, _data = pyogrio.raw.read(str(path), layer=layer)  # GDAL reads it back
    n = len(client.get(f"/api/v1/exports/{collection}?format=geojson").json()["features"])
    assert len(geoms) == n


def test_cli_export_gpx(settings: Any, session: Session, tmp_path: Path) -> None:
    import argparse

    import gpxpy

    from gis_api.io import cli

    out = tmp_path / "markers.gpx"
    assert cli.cmd_export(settings, argparse.Namespace(collection="markers", output=str(out), format=None,
                                                       as_of=None, bbox=None)) == 0
    gpx = gpxpy.parse(out.read_text(encoding="utf-8"))
    markers = session.scalar(text("SELECT count(*) FROM boundary_markers"))
    assert markers and len(gpx.waypoints) == markers  # every marker, not just a well-formed empty file


# -- the CSV escaping is undone exactly -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["=1+1", "'=1+1", "''@x", "-3.5", "'plain", "@", "+86 551", "a=b"])
def test_csv_escaping_round_trips(value: str) -> None:
    from gis_api.io import safe_cells

    assert safe_cells.csv_unescape(safe_cells.csv_value(value)) == value


def test_stored_csv_text(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    rec = formats.Record(1, {"name": "=HYPERLINK(1)", "n": 3}, shapely.Point(117.4, 31.8))
    path.write_bytes(formats.write_csv([rec], ["name", "n"]))
    assert "'=HYPERLINK" in path.read_text(encoding="utf-8-sig")
    back = next(iter(formats.read(path, "csv")))
    assert back.props["name"] == "=HYPERLINK(1)"



def test_shapefile_cut_text_is_not_an_edit(client: TestClient, session: Session,
                                           login: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    pid, _m = a_point_place(session)
    long_history = "明清时为驿站，" * 20  # 280 bytes of UTF-8: a DBF field keeps 254
    _f, etag = places_service.feature(session, pid, clock.today())
    places_service.update(session, pid, PlaceUpdate(history=long_history, reason="长文本"), etag, "t")
    total = n_places(session)
    path = export(client, "shp", tmp_path)
    cut = next(r.props["history"] for r in formats.read(path, "shp") if r.props["id"] == pid)
    assert cut != long_history and long_history.startswith(cut)
    rep = import_(client, login("officer"), path)
    assert counts(rep) == (0, 0, total, 0)
    assert session.scalar(text("SELECT history FROM places WHERE place_id = :p AND valid_to IS NULL"),
                          {"p": pid}) == long_history
