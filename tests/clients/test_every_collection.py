"""Every collection listed at /ogc/collections, read completely by GDAL 3.6 (Debian gdal-bin), the current GDAL of
the pyogrio wheel and OWSLib: the features read (each once) = ``numberMatched`` = the database's count, the layer
has the collection's geometry type, and the field types follow the collection's schema (Part 5).

What each client reported is written to ``artifacts/gdal-layers.json`` (the closing note of issue 11 quotes it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.clients.live import ClientsServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PAGE_SIZE = 50  # several pages for the larger collections
# OGR geometry names (GDAL 3.6 prints "Multi Polygon", pyogrio "MultiPolygon") of the declared types.
GEOMETRY = {
    "counties": "MultiPolygon", "townships": "MultiPolygon", "villages": "Point", "place-points": "Point",
    "place-lines": "MultiLineString", "place-areas": "MultiPolygon", "boundary-lines": "MultiLineString",
    "markers": "Point", "facilities": "Point", "cemeteries": "Point", "parcels": "MultiPolygon",
    "places": "Unknown",  # points, lines and areas mixed: "Unknown (any)" is the truthful answer
}
OGR_TYPES = {"date": {"Date"}, "date-time": {"DateTime"}, "integer": {"Integer", "Integer64"}, "number": {"Real"},
             "string": {"String"}, "boolean": {"Integer"}}
needs_gdal = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed")


def _ogrinfo_summaries(ogc: str) -> dict[str, dict[str, Any]]:
    """``ogrinfo -so -al`` of GDAL 3.6, one process for all layers: geometry, feature count, field types."""
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{ogc}"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    layers: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = {}
    for line in out.stdout.splitlines():
        if line.startswith("Layer name: "):
            current = layers.setdefault(line.removeprefix("Layer name: "), {"fields": {}})
        elif line.startswith("Geometry: "):
            current["geometry"] = line.removeprefix("Geometry: ").replace(" ", "").replace("(any)", "")
        elif line.startswith("Feature Count: "):
            current["count"] = int(line.removeprefix("Feature Count: "))
        elif m := re.match(r"^([A-Za-z_][A-Za-z0-9_]*): (\w+) \(", line):
            current["fields"][m.group(1)] = m.group(2)
    return layers


def _ogr2ogr_keys(ogc: str, cid: str) -> list[str]:
    """Every feature GDAL 3.6 reads through the paging, by its server id (the ``id`` field when ids are strings,
    the FID when they are integers)."""
    out = subprocess.run(["ogr2ogr", "-f", "GeoJSONSeq", "/vsistdout/", "-preserve_fid", "-oo",
                          f"PAGE_SIZE={PAGE_SIZE}", f"OAPIF:{ogc}", cid], capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    keys = []
    for line in out.stdout.splitlines():
        f = json.loads(line)
        keys.append(str(f["properties"]["id"] if "id" in f["properties"] else f["id"]))
    return keys


@pytest.fixture(scope="module")
def report(clients_server: ClientsServer) -> dict[str, dict[str, Any]]:
    """What each client says about each collection, next to numberMatched and the database's count."""
    ogc = clients_server.ogc
    ids = clients_server.collection_ids()
    assert set(ids) >= {"places", "townships"}, ids  # else every check below would pass over nothing
    gdal36 = _ogrinfo_summaries(ogc) if shutil.which("ogrinfo") else {}
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("pyogrio_probe.py")), ogc, str(PAGE_SIZE),
                           *ids], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    current = json.loads(done.stdout)
    out: dict[str, dict[str, Any]] = {}
    for cid in ids:
        row: dict[str, Any] = {"numberMatched": clients_server.number_matched(cid),
                               "database": clients_server.db_count(cid),
                               "schema": clients_server.schema_types(cid)}
        if cid in gdal36:
            keys = _ogr2ogr_keys(ogc, cid)
            row["gdal36"] = {**gdal36[cid], "read": len(keys), "distinct": len(set(keys))}
        row["pyogrio"] = current[cid]
        out[cid] = row
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "gdal-layers.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return out


def _counts(row: dict[str, Any], client: str) -> tuple[int, ...]:
    c = row[client]
    return (c["count"], c["read"], c["distinct"], row["numberMatched"])


def _mistyped(schema: dict[str, str], fields: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    return {n: (t, fields.get(n)) for n, t in schema.items()
            if n != "id" and fields.get(n) not in OGR_TYPES.get(t, {"String"})}


# GDAL 3.6 (Debian gdal-bin) and the pyogrio wheel's current GDAL are held to the same rules.
CLIENTS = [pytest.param("gdal36", marks=needs_gdal), "pyogrio"]


@pytest.mark.parametrize("client", CLIENTS)
def test_gdal_reads_every_feature_once_with_the_declared_geometry(client: str,
                                                                  report: dict[str, dict[str, Any]]) -> None:
    wrong = {cid: {"count, read, distinct, numberMatched": _counts(row, client), "database": row["database"]}
             for cid, row in report.items() if _counts(row, client) != (row["database"],) * 4}
    assert not wrong
    geometry = {cid: row[client]["geometry"] for cid, row in report.items()}
    assert geometry == {cid: GEOMETRY.get(cid, "?") for cid in report}


@pytest.mark.parametrize("client", CLIENTS)
def test_gdal_types_every_field_from_the_schema(client: str, report: dict[str, dict[str, Any]]) -> None:
    assert all(row["schema"] for row in report.values()), "a collection without /schema"
    wrong = {cid: bad for cid, row in report.items() if (bad := _mistyped(row["schema"], row[client]["fields"]))}
    assert not wrong


def test_owslib_pages_through_every_collection(clients_server: ClientsServer) -> None:
    from owslib.ogcapi.features import Features  # type: ignore[import-untyped]  # owslib ships no type hints

    api = Features(clients_server.ogc)
    wrong = {}
    ids = clients_server.collection_ids()
    assert set(ids) >= {"places", "townships"}, ids  # else the loop would check nothing
    for cid in ids:
        item_ids: list[str] = []
        offset, matched = 0, None
        while True:
            page = api.collection_items(cid, limit=PAGE_SIZE, offset=offset)
            matched = page["numberMatched"]
            item_ids += [str(f["id"]) for f in page["features"]]
            offset += PAGE_SIZE
            if page["numberReturned"] < PAGE_SIZE:
                break
        want = clients_server.db_count(cid)
        if (len(item_ids), len(set(item_ids)), matched) != (want,) * 3:
            wrong[cid] = {"read, distinct, numberMatched": (len(item_ids), len(set(item_ids)), matched),
                          "database": want}
    assert not wrong
