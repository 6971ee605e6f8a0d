"""QGIS 3.22 (Debian python3-qgis, headless) reads every collection as an OAPIF layer and draws the place points.

One QGIS process (tests/clients/qgis_probe.py, system python) loads all layers and renders once; these tests
assert on its JSON report. QGIS 3.22 types a layer from its first 10 items (``items?limit=10``, parsed by OGR) and
reads no schema, so a field typed here proves that the server's GeoJSON carries the type (ISO dates, JSON
integers) — fields that are null in all of those 10 items stay String in 3.22 whatever the server publishes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
from PIL import Image
from sqlalchemy import text

from gis_api import clock
from tests.clients.live import ClientsServer

SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = Path(__file__).with_name("qgis_probe.py")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PAGE_SIZE = 50  # several pages for the larger collections: QGIS's paging is part of what is tested
RENDER = "place-points"
SIZE = 800


def _has_qgis() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    done = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


pytestmark = pytest.mark.skipif(not _has_qgis(), reason="Debian python3-qgis is not installed (make test installs it)")

# Geometry types QGIS must report (the collection's declared type); "places" mixes all three and is typed by QGIS
# from its first features, which is why place-points/-lines/-areas exist.
GEOMETRY = {
    "counties": "MultiPolygon", "townships": "MultiPolygon", "villages": "Point", "place-points": "Point",
    "place-lines": "MultiLineString", "place-areas": "MultiPolygon", "boundary-lines": "MultiLineString",
    "markers": "Point", "facilities": "Point", "cemeteries": "Point", "parcels": "MultiPolygon",
}
# What a schema type may become in QGIS (OGR reads whole-valued numbers as integers).
QGIS_TYPES = {"date": {"Date"}, "date-time": {"DateTime"}, "integer": {"Int", "LongLong"},
              "number": {"Double", "Int", "LongLong"}, "string": {"String"}, "boolean": {"Bool"}}


@pytest.fixture(scope="module")
def qgis(clients_server: ClientsServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("qgis")
    ARTIFACTS.mkdir(exist_ok=True)
    request = {"ogc": clients_server.ogc, "collections": clients_server.collection_ids(), "page_size": PAGE_SIZE,
               "render": RENDER, "png": str(ARTIFACTS / "qgis-place-points.png"), "size": SIZE}
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(work), "HOME": str(work)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([SYSTEM_PYTHON, str(PROBE), str(work / "request.json"), str(work / "result.json")],
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads((work / "result.json").read_text(encoding="utf-8"))
    (ARTIFACTS / "qgis-probe.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    assert result["qgis_version"].startswith("3."), result["qgis_version"]
    return result


def test_every_collection_is_a_valid_layer_with_every_feature_once(
    qgis: dict[str, Any], clients_server: ClientsServer
) -> None:
    listed = clients_server.collection_ids()
    assert set(qgis["layers"]) == set(listed)
    wrong = {}
    for cid in listed:
        layer = qgis["layers"][cid]
        if not layer["valid"]:
            wrong[cid] = layer.get("error")
            continue
        want = clients_server.db_count(cid)
        got = (layer["read"], layer["distinct"], layer["feature_count"], clients_server.number_matched(cid))
        if got != (want,) * 4:
            wrong[cid] = {"read, distinct, featureCount, numberMatched": got, "database": want}
        if layer["crs"] != "EPSG:4326":
            wrong[cid] = {"crs": layer["crs"]}
    assert not wrong


def test_layers_have_the_declared_geometry_type(qgis: dict[str, Any]) -> None:
    got = {cid: layer["wkb_type"] for cid, layer in qgis["layers"].items() if cid in GEOMETRY}
    assert got == {cid: t for cid, t in GEOMETRY.items() if cid in got}
    # Every layer with a declared single type also has a geometry on each feature (nothing drawn "empty").
    assert all(layer["with_geometry"] == layer["read"] for cid, layer in qgis["layers"].items() if cid in GEOMETRY)


def test_fields_with_values_are_typed_as_the_schema_says(
    qgis: dict[str, Any], clients_server: ClientsServer
) -> None:
    """Every property that has a value in the first 10 items arrives with the type of the collection's schema."""
    wrong: dict[str, dict[str, Any]] = {}
    for cid, layer in qgis["layers"].items():
        types = clients_server.schema_types(cid)
        if not types:
            continue
        first = clients_server.get(f"/collections/{cid}/items", limit=10)["features"]
        seen = {k for f in first for k, v in f["properties"].items() if v is not None}
        qgis_fields = {f["name"]: f["type"] for f in layer["fields"]}
        for name, t in types.items():
            if name in seen and name in qgis_fields and qgis_fields[name] not in QGIS_TYPES.get(t, {"String"}):
                wrong.setdefault(cid, {})[name] = (t, qgis_fields[name])
        missing = sorted(seen - set(qgis_fields))
        if missing:
            wrong.setdefault(cid, {})["missing"] = missing
    assert not wrong


def test_place_points_is_a_typed_point_layer(qgis: dict[str, Any]) -> None:
    layer = qgis["layers"].get("place-points")
    assert layer is not None, "no place-points collection"
    assert layer["valid"] and layer["wkb_type"] == "Point"
    fields = {f["name"]: f["type"] for f in layer["fields"]}
    assert fields["name"] == fields["romanized"] == fields["category_code"] == "String"
    assert fields["valid_from"] == fields["registered_on"] == fields["named_on"] == "Date"
    assert {fields[n] for n in ("established_year", "sign_count", "scope_kind", "version")} <= {"Int", "LongLong"}
    assert fields["elevation_m"] == "Double"


def test_the_render_shows_every_place_point_where_the_database_has_it(
    qgis: dict[str, Any], clients_server: ClientsServer
) -> None:
    render = qgis["render"]
    assert render is not None and not render["errors"], render
    image = Image.open(render["png"]).convert("RGB")
    width, height = image.size
    assert (width, height) == (render["width"], render["height"]) == (SIZE, SIZE)
    xmin, ymin, xmax, ymax = render["extent"]
    with clients_server.engine.connect() as conn:
        points = conn.execute(text(
            "SELECT ST_X(geom), ST_Y(geom) FROM places WHERE GeometryType(geom) = 'POINT' "
            "AND valid_from <= :day AND (valid_to IS NULL OR valid_to > :day)"), {"day": clock.today()}).all()
    assert len(points) == clients_server.db_count("place-points") > 100
    pixels = image.load()
    assert pixels is not None

    def red(x: int, y: int) -> bool:
        r, g, b = cast(tuple[int, int, int], pixels[x, y])  # an RGB image
        return r > 200 and g < 90 and b < 90

    expected = [(round((x - xmin) / (xmax - xmin) * width), round((ymax - y) / (ymax - ymin) * height))
                for x, y in points]
    # A 2 mm disc at 96 dpi is ~7.5 px across: its centre pixel is red wherever a point is.
    missed = [(px, py) for px, py in expected if not any(
        0 <= px + dx < width and 0 <= py + dy < height and red(px + dx, py + dy)
        for dx in (-1, 0, 1) for dy in (-1, 0, 1))]
    assert not missed, f"{len(missed)} of {len(expected)} place points not drawn, e.g. {missed[:5]}"
    # And nothing is painted far from every point: the red is where the places are, not everywhere.
    painted = [(x, y) for x in range(0, width, 2) for y in range(0, height, 2) if red(x, y)]
    stray = [p for p in painted if min((p[0] - e[0]) ** 2 + (p[1] - e[1]) ** 2 for e in expected) > 8 ** 2]
    assert painted and not stray, f"{len(stray)} painted pixels far from any place, e.g. {stray[:5]}"
    assert len(painted) < 0.2 * (width // 2) * (height // 2)
