"""Imports and exports: every format written and read back, GBK Shapefiles, the census register, all or nothing."""

from __future__ import annotations

import argparse
import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pytest
import shapely
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.io import service
from tests.today import AS_OF


def n_places(session: Session) -> int:
    return int(session.scalar(text(f"SELECT count(*) FROM places WHERE {AS_OF}")) or 0)


def upload(client: TestClient, headers: dict[str, str], name: str, data: bytes, **form: Any) -> Any:
    return client.post(
        "/api/v1/imports/places", headers=headers, files={"file": (name, data)}, data={"reason": "测试导入", **form}
    )


# -- exports -----------------------------------------------------------------------------------------------


def test_export_geojson_and_csv(client: TestClient, session: Session) -> None:
    r = client.get("/api/v1/exports/places?format=geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert len(doc["features"]) == n_places(session)
    assert "店埠镇".encode() in r.content
    r = client.get("/api/v1/exports/villages?format=csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 252 and {"id", "name", "lon", "lat"} <= set(rows[0])
    code = rows[0]["id"]
    lon, lat = session.execute(
        text(f"SELECT ST_X(geom), ST_Y(geom) FROM divisions WHERE code = :c AND {AS_OF}"), {"c": code}
    ).one()
    assert float(rows[0]["lon"]) == pytest.approx(lon, abs=1e-6) and float(rows[0]["lat"]) == pytest.approx(
        lat, abs=1e-6
    )


def test_export_geopackage_and_shapefile_read_back(client: TestClient, session: Session, tmp_path: Path) -> None:
    gpkg = tmp_path / "townships.gpkg"
    gpkg.write_bytes(client.get("/api/v1/exports/townships?format=gpkg").content)
    meta, _f, geoms, fields = pyogrio.raw.read(str(gpkg))
    names = list(fields[list(meta["fields"]).index("name")])
    assert len(geoms) == 20 and "店埠镇" in names
    assert "4490" in meta["crs"]

    z = tmp_path / "places.zip"
    z.write_bytes(client.get("/api/v1/exports/places?format=shp").content)
    with zipfile.ZipFile(z) as zf:
        members = zf.namelist()
        cpgs = [m for m in members if m.endswith(".cpg")]
        assert cpgs and all(zf.read(m).decode().strip().upper() in ("UTF-8", "UTF8") for m in cpgs)
        shps = [m for m in members if m.endswith(".shp")]
    assert {Path(s).stem for s in shps} >= {"places_point", "places_line"}  # one file per geometry kind
    total = 0
    found = set()
    for s in shps:
        meta, _f, geoms, fields = pyogrio.raw.read(f"/vsizip/{z}/{s}")
        total += len(geoms)
        found.update(fields[list(meta["fields"]).index("name")])
    assert total == n_places(session) and "南淝河" in found  # Chinese survives the DBF round trip


def test_export_xlsx_census_register(client: TestClient, session: Session) -> None:
    r = client.get("/api/v1/exports/places?format=xlsx")
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    header = list(rows[0])
    for h in (
        "代码",
        "标准名称",
        "罗马字母拼写",
        "使用时间",
        "类别",
        "地名含义",
        "历史沿革",
        "地理实体描述",
        "所在(跨)行政区",
        "登记时间",
        "登记人",
        "登记单位",
        "坐标系",
        "测量方法",
    ):
        assert h in header, h
    assert len(rows) - 1 == n_places(session)
    by_name = {row[header.index("标准名称")]: row for row in rows[1:]}
    row = by_name["南淝河"]
    assert row[header.index("罗马字母拼写")] == session.scalar(
        text("SELECT romanized FROM places WHERE name = '南淝河'")
    )
    assert row[header.index("类别")] == "河流" and row[header.index("经纬度范围")]  # a line: its extent


# -- imports -----------------------------------------------------------------------------------------------


def fc(*features: dict[str, Any]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False).encode()


def pt(lon: float, lat: float, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def test_import_geojson_through_the_service(
    client: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    before = n_places(session)
    data = fc(
        pt(117.47, 31.88, name="松林岗", category_code="122", meaning="岗上多松"),
        pt(117.48, 31.87, name="柳湾", category="242", short_name="柳", alias="柳家湾"),
    )
    r = upload(client, login("officer", username="importer"), "new.geojson", data)
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["engine"] == "service" and rep["inserted"] == 2 and rep["errors"] == []
    assert n_places(session) == before + 2
    meaning = session.scalar(text("SELECT meaning FROM places WHERE place_id = :p"), {"p": rep["place_ids"][0]})
    assert meaning == "岗上多松"
    variants = session.execute(
        text("SELECT kind, name FROM place_variants WHERE place_id = :p ORDER BY kind"), {"p": rep["place_ids"][1]}
    ).all()
    assert sorted(tuple(v) for v in variants) == sorted([("简称", "柳"), ("别名", "柳家湾")])
    actors = session.scalars(
        text("SELECT DISTINCT actor FROM audit_log WHERE table_name = 'places' AND entity_key = :k"),
        {"k": str(rep["place_ids"][0])},
    ).all()
    assert actors == ["importer"]


def test_import_is_all_or_nothing_with_row_errors(
    client: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    before = n_places(session)
    data = fc(
        pt(117.47, 31.88, name="好名字", category_code="122"),
        pt(117.48, 31.87, name="坏类别", category_code="999"),
        pt(31.87, 117.48, name="经纬颠倒", category_code="122"),
        pt(117.49, 31.86, category_code="122"),
    )
    r = upload(client, login("officer"), "bad.geojson", data)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "import_rejected" and body["inserted"] == 0
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "category_code"), (3, "geometry"), (4, "name")]
    assert n_places(session) == before  # the good row was not kept either


def test_import_gbk_shapefile_when_told(
    client: TestClient, login: Callable[..., dict[str, str]], session: Session, tmp_path: Path
) -> None:
    shp = tmp_path / "old.shp"
    geoms = np.array(
        [shapely.to_wkb(shapely.Point(117.46, 31.89)), shapely.to_wkb(shapely.Point(117.45, 31.90))], dtype=object
    )
    pyogrio.raw.write(
        str(shp),
        geoms,
        [np.array(["古井村", "石塘"], dtype=object), np.array(["242", "113"], dtype=object)],
        ["name", "category"],
        driver="ESRI Shapefile",
        geometry_type="Point",
        crs="EPSG:4490",
        encoding="GBK",
    )
    assert "古井村".encode("gbk") in (tmp_path / "old.dbf").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in tmp_path.glob("old.*"):
            if f.suffix != ".cpg":  # an old Shapefile says nothing about its encoding
                z.write(f, f.name)
    officer = login("officer")
    r = upload(client, officer, "old.zip", buf.getvalue(), encoding="GBK")
    assert r.status_code == 201, r.text
    names = session.scalars(
        text("SELECT name FROM places WHERE place_id = ANY(:ids) ORDER BY name"), {"ids": r.json()["place_ids"]}
    ).all()
    assert sorted(names) == sorted(["古井村", "石塘"])


def test_import_csv_bulk_and_xlsx_register_and_gpx(
    client: TestClient, login: Callable[..., dict[str, str]], session: Session
) -> None:
    officer = login("officer")
    rows = "name,category_code,lon,lat\n王家郢,242,117.41,31.91\n李家湾,242,117.42,31.92\n"
    r = upload(client, officer, "points.csv", rows.encode(), engine="bulk")
    assert r.status_code == 201, r.text
    assert r.json()["engine"] == "bulk" and r.json()["inserted"] == 2
    loc = session.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM places WHERE name = '李家湾'")).one()
    assert tuple(loc) == pytest.approx((117.42, 31.92))

    wb = Workbook()
    ws = wb.active
    ws.append(["标准名称", "类别", "经度", "纬度", "地名含义", "别名", "登记人"])
    ws.append(["青龙岗", "岗地", 117.44, 31.93, "形似青龙", "龙岗", "张三"])
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, officer, "register.xlsx", buf.getvalue())
    assert r.status_code == 201, r.text
    row = session.execute(
        text("SELECT category_code, meaning, registered_by, place_id FROM places WHERE name = '青龙岗'")
    ).one()
    assert (row.category_code, row.meaning, row.registered_by) == ("122", "形似青龙", "张三")
    assert session.scalar(text("SELECT name FROM place_variants WHERE place_id = :p"), {"p": row.place_id}) == "龙岗"

    gpx = (
        "<?xml version='1.0' encoding='UTF-8'?><gpx version='1.1' creator='t' xmlns='http://www.topografix.com/GPX/1/1'>"
        "<wpt lat='31.94' lon='117.43'><ele>41.5</ele><name>白马墩</name></wpt></gpx>"
    )
    r = upload(client, officer, "track.gpx", gpx.encode(), category_code="242")
    assert r.status_code == 201, r.text
    assert session.scalar(text("SELECT elevation_m FROM places WHERE name = '白马墩'")) == pytest.approx(41.5)


def test_import_needs_the_role(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    assert upload(client, login("viewer"), "a.geojson", fc()).status_code == 403


def test_cli_import_dry_run_and_export(settings: Any, tmp_path: Path, session: Session) -> None:
    from gis_api.io import cli

    f = tmp_path / "cli.geojson"
    f.write_bytes(
        fc(pt(117.47, 31.88, name="试点岗", category_code="122"), pt(117.47, 31.88, name="", category_code="122"))
    )
    args = argparse.Namespace(
        file=str(f),
        actor="cli:test",
        reason="dry run",
        format=None,
        encoding=None,
        layer=None,
        crs=None,
        category=None,
        lon_field=None,
        lat_field=None,
        wkt_field=None,
        source="cli",
        valid_from=None,
        engine="auto",
        dry_run=True,
    )
    assert cli.cmd_import_places(settings, args) == 2  # the empty name is reported; nothing written
    out = tmp_path / "towns.geojson"
    assert (
        cli.cmd_export(
            settings, argparse.Namespace(collection="townships", output=str(out), format=None, as_of=None, bbox=None)
        )
        == 0
    )
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == 20


def test_service_engine_choice() -> None:
    assert service.BULK_MIN_ROWS > 0
    with pytest.raises(Exception, match="unknown file format"):
        from gis_api.io.formats import guess_format

        guess_format("x.doc")
