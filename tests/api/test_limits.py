"""Bounded input (issue 10 §5): every limit, given a hostile input, answers 413/422/429/503 naming the field and the
setting — never 500, never a silent acceptance."""

from __future__ import annotations

import io
import json
import math
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis_api.app import create_app
from gis_api.io import formats
from gis_api.limits import COLUMN_LIMITS, LimitSettings, constraint_name
from gis_api.models import Base
from gis_api.settings import Settings
from tests.live import on_session

Login = Callable[..., dict[str, str]]
DIANBU = (117.4571, 31.8774)  # inside the synthetic 店埠镇


@pytest.fixture
def limited(settings: Settings, session: Session) -> Callable[..., TestClient]:
    """A client whose app has the given ``DIMING_LIMIT_*`` values, on the test's rolled-back session."""
    def make(*, override_session: bool = True, **limits: Any) -> TestClient:
        app = create_app(replace(settings, limits=LimitSettings(**limits)))
        if override_session:
            on_session(app, session)
        return TestClient(app, raise_server_exceptions=False)

    return make


def names_the(r: Any, status: int, *, field: str, rule: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert body["field"] == field, body
    assert body["message"] and body["message_zh"] and body["message"] != body["message_zh"]
    if rule is not None:
        assert body["rule"] == rule, body
    return body


def upload(client: TestClient, headers: dict[str, str], name: str, data: bytes, **form: Any) -> Any:
    return client.post("/api/v1/imports/places", headers=headers, files={"file": (name, data)},
                       data={"reason": "limits test", **form})


def circle(n: int, *, close: bool = True, r: float = 0.01) -> dict[str, Any]:
    pts = [[DIANBU[0] + r * math.cos(2 * math.pi * i / n), DIANBU[1] + r * math.sin(2 * math.pi * i / n)]
           for i in range(n)]
    return {"type": "Polygon", "coordinates": [[*pts, pts[0]] if close else pts]}


# -- request body ------------------------------------------------------------------------------------------

def test_large_json_body_is_refused_by_content_length(client: TestClient) -> None:
    body = json.dumps({"name": "x" * (3 * 1024 * 1024)})
    r = client.post("/api/v1/names/check", content=body, headers={"Content-Type": "application/json"})
    got = names_the(r, 413, field="body", rule="DIMING_LIMIT_JSON_BODY_BYTES")
    assert got["code"] == "too_large" and got["limit"] == 2 * 1024 * 1024


def test_chunked_body_without_length_is_counted(limited: Callable[..., TestClient]) -> None:
    client = limited(json_body_bytes=64 * 1024)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(100):  # 100 × 4 KiB: past the 64 KiB limit part-way through
            yield b"x" * 4096
        yield b'"}'

    r = client.post("/api/v1/names/check", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    names_the(r, 413, field="body", rule="DIMING_LIMIT_JSON_BODY_BYTES")
    # A small chunked body still goes through.
    ok = client.post("/api/v1/names/check", content=iter([b'{"name": "', "店埠镇".encode(), b'"}']),
                     headers={"Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text


def test_uploads_get_the_larger_limit_only_with_a_token(limited: Callable[..., TestClient], login: Login) -> None:
    client = limited(json_body_bytes=16 * 1024, upload_body_bytes=256 * 1024)
    # ~40 KiB: eight rows whose remarks are over the 4,000-character bound
    csv_body = ("name,category,lon,lat,remarks\n" + f"测试地名,122,117.4571,31.8774,{'x' * 5000}\n" * 8).encode()
    anon = upload(client, {}, "p.csv", csv_body, dry_run="true")
    names_the(anon, 413, field="body", rule="DIMING_LIMIT_JSON_BODY_BYTES")
    officer = login("officer")
    r = upload(client, officer, "p.csv", csv_body, dry_run="true")
    assert r.status_code == 422 and r.json()["code"] == "import_rejected", r.text  # read, and refused per row
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == {(i, "remarks") for i in range(2, 10)}
    big = upload(client, officer, "p.csv", csv_body * 8)  # ~320 KiB
    names_the(big, 413, field="body", rule="DIMING_LIMIT_UPLOAD_BODY_BYTES")


# -- archives and imports ----------------------------------------------------------------------------------

def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_is_refused_before_extracting(client: TestClient, login: Login) -> None:
    h = login("officer")
    bomb = _zip({"a.shp": b"\0" * (20 * 1024 * 1024)})  # 20 MiB of zeros in ~20 KiB
    assert len(bomb) < 100_000
    names_the(upload(client, h, "bomb.zip", bomb), 413, field="file", rule="DIMING_LIMIT_ARCHIVE_MAX_RATIO")


def test_zip_size_members_and_paths(limited: Callable[..., TestClient], login: Login) -> None:
    client = limited(archive_uncompressed_bytes=256 * 1024, archive_max_members=20)
    h = login("officer")
    noise = bytes(range(256)) * 1024  # 256 KiB that does not compress much
    big = _zip({"a.shp": noise, "a.dbf": noise})
    names_the(upload(client, h, "big.zip", big), 413, field="file", rule="DIMING_LIMIT_ARCHIVE_UNCOMPRESSED_BYTES")
    many = _zip({f"f{i}.txt": b"x" for i in range(21)})
    names_the(upload(client, h, "many.zip", many), 413, field="file", rule="DIMING_LIMIT_ARCHIVE_MAX_MEMBERS")
    evil = _zip({"../../evil.shp": b"x", "a.shp": b"x"})
    got = names_the(upload(client, h, "evil.zip", evil), 422, field="file", rule="path traversal")
    assert "../../evil.shp" in got["message"]


def test_xlsx_is_checked_as_a_zip(client: TestClient, login: Login) -> None:
    h = login("officer")
    wb = Workbook()
    wb.active.append(["名称", "类别", "经度", "纬度"])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as z:  # a hidden 20 MiB member of zeros
        z.writestr("xl/media/padding.bin", b"\0" * (20 * 1024 * 1024))
    names_the(upload(client, h, "register.xlsx", buf.getvalue()), 413, field="file",
              rule="DIMING_LIMIT_ARCHIVE_MAX_RATIO")


def test_features_per_import(limited: Callable[..., TestClient], login: Login) -> None:
    client = limited(import_max_features=10)
    h = login("officer")
    rows = "".join(f"测试{i}号,122,117.45{i:02d},31.87\n" for i in range(11))
    got = names_the(upload(client, h, "p.csv", ("name,category,lon,lat\n" + rows).encode()), 413, field="file",
                    rule="DIMING_LIMIT_IMPORT_MAX_FEATURES")
    assert got["limit"] == 10
    # A zipped Shapefile is counted from its header, before its features are read.
    recs = [formats.Record(i, {"name": f"测试{i}号"}, __import__("shapely").Point(117.45 + i / 1000, 31.87))
            for i in range(11)]
    shp = formats.write_ogr(recs, ["name"], {"name": "string"}, "shp", "pts")
    got = names_the(upload(client, h, "pts.zip", shp), 413, field="file", rule="DIMING_LIMIT_IMPORT_MAX_FEATURES")
    assert "(11)" in got["message"]
    # An XLSX counts its rows as it reads them, blank ones included.
    wb = Workbook()
    wb.active.append(["名称", "类别", "经度", "纬度"])
    for i in range(5):
        wb.active.append([f"测试{i}号", "122", 117.45 + i / 1000, 31.87])
    for _ in range(6):
        wb.active.append([None, None, None, " "])
    buf = io.BytesIO()
    wb.save(buf)
    names_the(upload(client, h, "p.xlsx", buf.getvalue()), 413, field="file", rule="DIMING_LIMIT_IMPORT_MAX_FEATURES")


def test_an_unclosed_ring_in_an_imported_geojson_is_a_row_error(client: TestClient, login: Login) -> None:
    h = login("officer")
    ring = circle(8, close=False)
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "开口地块", "category": "122"}, "geometry": ring}]}
    r = upload(client, h, "open.geojson", json.dumps(doc).encode())
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"] == "geometry" and "not closed" in err["message"] and "未闭合" in err["message_zh"]


# -- geometry ----------------------------------------------------------------------------------------------

def test_vertices_per_geometry_anonymous_and_planner(client: TestClient, login: Login) -> None:
    hostile = circle(10_001)
    got = names_the(client.post("/api/v1/cemeteries/exclusion-check", json={"geometry": hostile}), 422,
                    field="geometry", rule="DIMING_LIMIT_ANONYMOUS_MAX_VERTICES")
    assert got["code"] == "too_many_vertices" and got["limit"] == 10_000
    r = client.post("/api/v1/cemeteries/exclusion-check", json={"geometry": hostile}, headers=login("planner"))
    assert r.status_code == 200, r.text
    assert r.json()["parcel_area_m2"] > 0


def test_vertex_limit_on_writes(limited: Callable[..., TestClient], login: Login) -> None:
    from gis_api.errors import InvalidInput
    from gis_api.geo.geometry_input import parse_geojson

    with pytest.raises(InvalidInput) as exc:
        parse_geojson(circle(600), max_vertices=500, allowed=("MultiPolygon",))
    assert exc.value.field == "geometry" and exc.value.rule == "DIMING_LIMIT_GEOMETRY_MAX_VERTICES"
    assert parse_geojson(circle(400), max_vertices=500, allowed=("MultiPolygon",)) is not None


def test_unclosed_ring_is_an_error_naming_the_ring(client: TestClient, login: Login) -> None:
    h = login("officer")
    body = {"name": "开口测试地", "category_code": "122", "geometry": circle(8, close=False), "reason": "test"}
    got = names_the(client.post("/api/v1/places", json=body, headers=h), 422, field="geometry.coordinates[0]",
                    rule="closed ring")
    assert "coordinates[0]" in got["message"] and "未闭合" in got["message_zh"]
    multi = {"type": "MultiPolygon", "coordinates": [circle(8)["coordinates"], circle(8, close=False,
                                                                                     r=0.02)["coordinates"]]}
    names_the(client.post("/api/v1/cemeteries/exclusion-check", json={"geometry": multi}), 422,
              field="geometry.coordinates[1][0]", rule="closed ring")


# -- text length -------------------------------------------------------------------------------------------

def test_text_fields_are_bounded_in_the_schema(client: TestClient, login: Login, session: Session) -> None:
    h = login("officer")
    before = session.scalar(text("SELECT count(*) FROM places"))
    body = {"name": "长备注测试地", "category_code": "122", "geometry": {"type": "Point", "coordinates": list(DIANBU)},
            "reason": "test", "remarks": "备" * 4001}
    got = names_the(client.post("/api/v1/places", json=body, headers=h), 422, field="remarks")
    assert "4000" in got["message"]
    got = names_the(client.post("/api/v1/places", json={**body, "remarks": None, "name": "名" * 101}, headers=h),
                    422, field="name")
    # The 5,000,000-character remarks never reaches the schema: the body limit stops it first.
    huge = client.post("/api/v1/places", json={**body, "remarks": "x" * 5_000_000}, headers=h)
    names_the(huge, 413, field="body", rule="DIMING_LIMIT_JSON_BODY_BYTES")
    assert session.scalar(text("SELECT count(*) FROM places")) == before


def test_every_text_column_is_bounded_in_the_database(session: Session) -> None:
    rows = session.execute(text("""
        SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND c.contype = 'c' AND c.conname LIKE 'ck\\_%\\_len'""")).all()
    found: dict[str, str] = dict(rows)
    for table, cols in COLUMN_LIMITS.items():
        for column, n in cols.items():
            definition = found.get(constraint_name(table, column))
            assert definition is not None, f"{table}.{column} has no length constraint"
            assert definition.endswith(f"<= {n}))") or definition.endswith(f"<= {n})"), definition
    text_columns = session.execute(text("""
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')
          AND table_name = ANY(:tables)"""), {"tables": sorted(Base.metadata.tables)}).all()
    unbounded = sorted(f"{t}.{c}" for t, c in text_columns if c not in COLUMN_LIMITS.get(t, {}))
    assert unbounded == [], f"text columns without a length bound (add them to limits.COLUMN_LIMITS " \
                            f"and a migration): {unbounded}"
    # Existing data satisfies every bound: all the constraints are validated (none NOT VALID).
    not_valid = session.scalar(text(
        "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'ck\\_%\\_len' AND NOT convalidated"))
    assert not_valid == 0


def test_database_refuses_a_long_value_that_bypasses_the_schema(session: Session, client: TestClient) -> None:
    pid = session.scalar(text("SELECT place_id FROM places LIMIT 1"))
    with pytest.raises(IntegrityError) as exc, session.begin_nested():
        session.execute(text("UPDATE places SET remarks = repeat('x', 4001) WHERE place_id = :p"), {"p": pid})
    assert cast(Any, exc.value.orig).diag.constraint_name == "ck_places_remarks_len"  # psycopg2 has no stubs
    from gis_api.limits import length_error

    err = length_error("ck_places_remarks_len")
    assert err is not None and err.status == 422 and err.field == "remarks" and err.extra["limit"] == 4000


# -- statement timeout and analysis access -----------------------------------------------------------------

def test_timeout_becomes_503_naming_the_class(limited: Callable[..., TestClient]) -> None:
    client = limited(anonymous_analysis_timeout_s=0.001, retry_after_s=7)
    r = client.post("/api/v1/coverage", json={"facility_kind": "elderly_care_station", "radius_m": 3000})
    got = names_the(r, 503, field=None, rule="DIMING_LIMIT_ANONYMOUS_ANALYSIS_TIMEOUT_S")  # type: ignore[arg-type]
    assert got["code"] == "query_timeout" and r.headers["Retry-After"] == "7"


def test_read_timeout_through_the_real_session(limited: Callable[..., TestClient]) -> None:
    client = limited(override_session=False, read_timeout_s=0.001)
    r = client.get("/api/v1/divisions", params={"level": "township", "limit": 100})
    got = names_the(r, 503, field=None, rule="DIMING_LIMIT_READ_TIMEOUT_S")  # type: ignore[arg-type]
    assert got["limit"] == 0.001 and "Retry-After" in r.headers
    ok = limited(override_session=False).get("/api/v1/divisions", params={"level": "township", "limit": 100})
    assert ok.status_code == 200


def test_analysis_class_sets_the_statement_timeout(limited: Callable[..., TestClient], session: Session,
                                                    login: Login) -> None:
    client = limited(anonymous_analysis_timeout_s=7, analysis_timeout_s=45)
    body = {"facility_kind": "elderly_care_station", "radius_m": 3000}
    assert client.post("/api/v1/coverage", json=body).status_code == 200
    assert session.scalar(text("SHOW statement_timeout")) == "7s"
    assert client.post("/api/v1/coverage", json=body, headers=login("planner")).status_code == 200
    assert session.scalar(text("SHOW statement_timeout")) == "45s"


def test_anonymous_analyses_share_a_few_slots(limited: Callable[..., TestClient], login: Login) -> None:
    client = limited(anonymous_analysis_concurrency=1, retry_after_s=3)
    slots = threading.BoundedSemaphore(1)
    client.app.state.anonymous_analysis_slots = slots  # type: ignore[attr-defined]
    body = {"facility_kind": "elderly_care_station", "radius_m": 3000}
    assert slots.acquire(blocking=False)  # another anonymous analysis is running
    try:
        r = client.post("/api/v1/coverage", json=body)
        got = names_the(r, 429, field=None, rule="DIMING_LIMIT_ANONYMOUS_ANALYSIS_CONCURRENCY")  # type: ignore[arg-type]
        assert got["code"] == "too_busy" and r.headers["Retry-After"] == "3"
        assert client.post("/api/v1/coverage", json=body, headers=login("planner")).status_code == 200
    finally:
        slots.release()
    assert client.post("/api/v1/coverage", json=body).status_code == 200  # the slot is free again
    assert slots.acquire(blocking=False)  # …and released after the request
    slots.release()


def test_site_suggestion_needs_a_planner(client: TestClient) -> None:
    r = client.post("/api/v1/coverage/suggest", json={"facility_kind": "elderly_care_station", "radius_m": 3000,
                                                      "k": 1})
    assert r.status_code == 401


def test_limits_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIMING_LIMIT_JSON_BODY_BYTES", "4096")
    monkeypatch.setenv("DIMING_LIMIT_GEOMETRY_MAX_VERTICES", "1000")
    lim = LimitSettings()
    assert lim.json_body_bytes == 4096 and lim.geometry_max_vertices == 1000


def test_ogc_writes_have_the_same_text_bounds(client: TestClient, login: Login) -> None:
    officer = login("officer")
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(DIANBU)},
               "properties": {"name": "青松岗", "category_code": "122", "remarks": "备" * 4001}}
    r = client.post("/ogc/collections/places/items", json=feature, headers=officer)
    assert r.status_code == 422, r.text
    assert r.json()["field"] in ("remarks", "properties.remarks"), r.json()


def test_ogc_reads_have_the_read_timeout(limited: Callable[..., TestClient]) -> None:
    """OGC reads run on their own asyncpg pool (not get_session): the pool carries the read statement timeout."""
    client = limited(read_timeout_s=0.001)
    with client:
        r = client.get("/ogc/collections/places/items", params={"limit": 1000})
        got = names_the(r, 503, field=None, rule="DIMING_LIMIT_READ_TIMEOUT_S")  # type: ignore[arg-type]
        assert got["code"] == "query_timeout" and "Retry-After" in r.headers
    with limited() as ok:
        assert ok.get("/ogc/collections/places/items", params={"limit": 1000}).status_code == 200
