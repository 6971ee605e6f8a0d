"""GDAL against a live server: typed fields from the collection's schema, and ``-where`` clauses sent to the
server (the request URL in GDAL's debug log carries the filter) with the API's result — with Debian's gdal-bin
(GDAL 3.6) and with the GDAL inside the pyogrio wheel (3.12)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis_api.app import create_app
from gis_api.settings import Settings
from tests.live import serve
from tests.today import AS_OF

needs_gdal = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="gdal-bin is not installed")
CLIENT_SIDE = "Full filter will be evaluated on client side"

# (collection, OGR SQL -where, the same condition in SQL over the table)
FILTERS = [
    ("townships", "kind = '镇'",
     f"SELECT count(*) FROM divisions WHERE level = 'township' AND kind = '镇' AND {AS_OF}"),
    ("villages", "population > 2000 AND parent_code = '340122100'",
     f"SELECT count(*) FROM divisions WHERE level = 'village' AND population > 2000 AND parent_code = '340122100' "
     f"AND {AS_OF}"),
    ("place-points", "category_code = '221' AND status = 'standard'",
     f"SELECT count(*) FROM places WHERE ST_Dimension(geom) = 0 AND category_code = '221' AND status = 'standard' "
     f"AND {AS_OF}"),
]
# the same conditions in CQL2, for the API's own answer
CQL2 = {"townships": "kind = '镇'", "villages": "population > 2000 AND parent_code = '340122100'",
        "place-points": "category_code = '221' AND status = 'standard'"}


@pytest.fixture(scope="module")
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    """uvicorn on a free loopback port, serving the committed demo data of the test database."""
    with serve(create_app(settings), lifespan="off") as base:
        yield f"{base}/ogc"


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def api_count(server: str, collection: str) -> int:
    r = httpx.get(f"{server}/collections/{collection}/items", params={"filter": CQL2[collection], "limit": 1})
    assert r.status_code == 200, r.text
    return int(r.json()["numberMatched"])


def item_urls(log: str) -> list[str]:
    """The items requests GDAL made (percent-decoded), from its CPL_DEBUG log."""
    return [unquote(u) for u in re.findall(r"^HTTP: Fetch\((\S+/items\?\S*)\)$", log, re.M)]


@needs_gdal
def test_ogrinfo_types_the_fields_of_place_points(server: str, engine: Engine) -> None:
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{server}", "place-points"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "CPL_DEBUG": "ON"})
    assert out.returncode == 0, out.stderr
    assert "OAPIF: Using JSON schema" in out.stderr  # the describedby schema, not a guess from 10 features
    fields = dict(re.findall(r"^(\w+): (\w+) \(", out.stdout, re.M))
    assert {k: fields[k] for k in ("registered_on", "named_on", "valid_from", "valid_to")} == dict.fromkeys(
        ("registered_on", "named_on", "valid_from", "valid_to"), "Date")
    assert {k: fields[k] for k in ("established_year", "abolished_year", "sign_count", "scope_kind", "version")} == \
        dict.fromkeys(("established_year", "abolished_year", "sign_count", "scope_kind", "version"), "Integer")
    assert fields["elevation_m"] == fields["coord_precision_m"] == "Real"
    assert fields["name"] == "String"
    assert "Geometry: Point" in out.stdout
    want = count(engine, f"SELECT count(*) FROM places WHERE ST_Dimension(geom) = 0 AND {AS_OF}")
    assert f"Feature Count: {want}" in out.stdout


@needs_gdal
@pytest.mark.parametrize(("collection", "where", "sql"), FILTERS, ids=[f[0] for f in FILTERS])
def test_ogr2ogr_where_runs_on_the_server(server: str, engine: Engine, tmp_path: Path, collection: str,
                                          where: str, sql: str) -> None:
    want = count(engine, sql)
    assert want > 0  # a filter that matches nothing would prove little
    target = tmp_path / "out.geojson"
    out = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(target), f"OAPIF:{server}", collection, "-where", where],
        capture_output=True, text=True, timeout=120, env={**os.environ, "CPL_DEBUG": "ON"},
    )
    assert out.returncode == 0, out.stderr
    assert CLIENT_SIDE not in out.stderr
    filtered = [u for u in item_urls(out.stderr) if "filter=" in u]
    assert filtered, out.stderr
    for column in re.findall(r"(\w+) (?:=|>)", where):
        assert column in filtered[0]
    assert len(json.loads(target.read_text(encoding="utf-8"))["features"]) == want == api_count(server, collection)


PYOGRIO = """
import json, sys
import pyogrio
df = pyogrio.read_dataframe("OAPIF:" + sys.argv[1], layer=sys.argv[2], where=sys.argv[3])
info = pyogrio.read_info("OAPIF:" + sys.argv[1], layer="place-points")
print(json.dumps({"rows": len(df), "gdal": pyogrio.__gdal_version_string__,
                  "dtypes": dict(zip(info["fields"].tolist(), map(str, info["dtypes"])))}))
"""


@pytest.mark.parametrize(("collection", "where", "sql"), FILTERS, ids=[f[0] for f in FILTERS])
def test_pyogrio_gdal_sends_the_filter_to_the_server(server: str, engine: Engine, collection: str, where: str,
                                                     sql: str) -> None:
    pytest.importorskip("pyogrio")
    out = subprocess.run([sys.executable, "-c", PYOGRIO, server, collection, where], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "CPL_DEBUG": "ON"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert CLIENT_SIDE not in out.stderr
    assert any("filter=" in u for u in item_urls(out.stderr)), out.stderr
    assert result["rows"] == count(engine, sql) == api_count(server, collection)
    assert result["dtypes"]["registered_on"] == "datetime64[D]"  # a Date field
    assert result["dtypes"]["established_year"] == "int32" and result["dtypes"]["elevation_m"] == "float64"
