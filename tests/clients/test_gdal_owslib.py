"""Real clients against a live server: GDAL's OAPIF driver (Debian gdal-bin) reads every collection completely
through the paging, and OWSLib reads items — the counts must match the database."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis_api.app import create_app
from gis_api.settings import Settings
from tests.live import serve
from tests.today import AS_OF

COUNTS = {
    "counties": f"SELECT count(*) FROM divisions WHERE level = 'county' AND {AS_OF}",
    "townships": f"SELECT count(*) FROM divisions WHERE level = 'township' AND {AS_OF}",
    "villages": f"SELECT count(*) FROM divisions WHERE level = 'village' AND {AS_OF}",
    "places": f"SELECT count(*) FROM places WHERE {AS_OF}",
}
needs_gdal = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="gdal-bin is not installed")


@pytest.fixture(scope="module")
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    """uvicorn on a free loopback port, serving the committed demo data of the test database."""
    with serve(create_app(settings), lifespan="off") as base:
        yield f"{base}/ogc"


def db_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {cid: int(conn.execute(text(sql)).scalar_one()) for cid, sql in COUNTS.items()}


@needs_gdal
def test_ogrinfo_lists_the_collections(server: str) -> None:
    out = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{server}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for cid in COUNTS:
        assert cid in out.stdout


@needs_gdal
@pytest.mark.parametrize("collection", list(COUNTS))
def test_ogr2ogr_reads_every_feature_through_paging(
    server: str, engine: Engine, tmp_path: Path, collection: str
) -> None:
    want = db_counts(engine)[collection]
    page = max(3, want // 4)  # several pages, the last one partial
    target = tmp_path / f"{collection}.geojson"
    out = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{server}", collection, "-oo", f"PAGE_SIZE={page}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert len(doc["features"]) == want
    key = "row_id" if collection == "places" else "code"
    ids = [f["properties"][key] for f in doc["features"]]
    assert len(set(map(str, ids))) == want  # no feature twice
    if collection == "townships":
        assert "店埠镇" in {f["properties"]["name"] for f in doc["features"]}


@needs_gdal
def test_ogrinfo_attribute_filter_is_sent_as_cql2(server: str, engine: Engine) -> None:
    with engine.connect() as conn:
        want = conn.execute(
            text(f"SELECT count(*) FROM divisions WHERE level = 'township' AND kind = '镇' AND {AS_OF}")
        ).scalar_one()
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", f"OAPIF:{server}", "townships", "-where", "kind = '镇'"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"Feature Count: {want}" in out.stdout


def test_owslib_reads_items(server: str, engine: Engine) -> None:
    from owslib.ogcapi.features import Features  # type: ignore[import-untyped]  # owslib ships no type hints

    api = Features(server)
    assert {"counties", "townships", "villages", "places"} <= {c["id"] for c in api.collections()["collections"]}
    want = db_counts(engine)["villages"]
    page = api.collection_items("villages", limit=100)
    assert page["numberMatched"] == want and page["numberReturned"] == 100 == len(page["features"])
    rest = api.collection_items("villages", limit=100, offset=200)
    assert rest["numberReturned"] == want - 200
    one = api.collection_item("townships", "340122100")
    assert one["properties"]["name"] == "店埠镇"
    q = api.collection_queryables("places")
    assert "name" in q["properties"]
