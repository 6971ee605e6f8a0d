"""Layers GIS clients can draw and type: one place collection per geometry family, Part 5 schemas, and the
OpenAPI declarations GDAL reads to send filters to the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.ogc.reader import SessionReader
from tests.today import AS_OF

FAMILIES = {"place-points": (0, {"Point"}, "geometry-point"),
            "place-lines": (1, {"MultiLineString"}, "geometry-multilinestring"),
            "place-areas": (2, {"MultiPolygon"}, "geometry-multipolygon")}
PART5 = "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas"
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


def all_items(ogc: TestClient, collection: str, **params: Any) -> list[dict[str, Any]]:
    r = ogc.get(f"/ogc/collections/{collection}/items", params={"limit": 10000, **params})
    assert r.status_code == 200, r.text
    features: list[dict[str, Any]] = r.json()["features"]
    assert r.json()["numberMatched"] == len(features)
    return features


@pytest.mark.parametrize("cid", list(FAMILIES))
def test_each_family_is_an_ordinary_layer_of_one_geometry_type(ogc: TestClient, session: Session, cid: str) -> None:
    dim, types, fmt = FAMILIES[cid]
    want = {int(r[0]) for r in session.execute(
        text(f"SELECT place_id FROM places WHERE ST_Dimension(geom) = :d AND {AS_OF}"), {"d": dim})}
    assert want  # the demo has points, lines and areas
    features = all_items(ogc, cid)
    assert {f["id"] for f in features} == want
    assert {f["geometry"]["type"] for f in features} == types  # lines/areas always Multi-: a stable layer type
    meta = ogc.get(f"/ogc/collections/{cid}").json()
    assert meta["itemType"] == "feature" and meta["geometryType"] == next(iter(types))
    assert ogc.get(f"/ogc/collections/{cid}/schema").json()["properties"]["geometry"]["format"] == fmt
    # the same properties as the mixed collection
    one = features[0]
    assert set(one["properties"]) == set(ogc.get(f"/ogc/collections/places/items/{one['id']}").json()["properties"])


def test_families_partition_the_places_with_a_geometry(ogc: TestClient, session: Session) -> None:
    ids = [f["id"] for cid in FAMILIES for f in all_items(ogc, cid)]
    with_geometry = session.execute(text(f"SELECT count(*) FROM places WHERE geom IS NOT NULL AND {AS_OF}")).scalar()
    assert len(ids) == len(set(ids)) == with_geometry
    line = session.execute(
        text(f"SELECT place_id FROM places WHERE ST_Dimension(geom) = 1 AND {AS_OF} LIMIT 1")).scalar()
    assert ogc.get(f"/ogc/collections/place-points/items/{line}").status_code == 404
    assert ogc.get(f"/ogc/collections/place-lines/items/{line}").json()["geometry"]["type"] == "MultiLineString"


def test_part5_schema_types_every_property(ogc: TestClient) -> None:
    r = ogc.get("/ogc/collections/place-points/schema")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/schema+json")
    doc = r.json()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].endswith("/ogc/collections/place-points/schema") and doc["type"] == "object"
    props = doc["properties"]
    assert props["geometry"] == {"title": "geometry", "format": "geometry-point", "x-ogc-role": "primary-geometry"}
    assert props["id"]["x-ogc-role"] == "id"
    assert props["registered_on"]["type"] == "string" and props["registered_on"]["format"] == "date"
    for name in ("established_year", "abolished_year", "sign_count", "scope_kind", "version"):
        assert props[name]["type"] == "integer", name
    assert props["elevation_m"]["type"] == "number"
    assert props["name"]["type"] == "string" and props["name"]["maxLength"] == 100  # the database's bound
    assert "maxLength" not in props["category_name"]  # a joined column: its bound is not this table's
    assert props["status"]["enum"] == ["standard", "pending", "non_standard", "historic"]
    assert props["valid_from"]["x-ogc-role"] == "primary-interval-start"
    assert props["valid_to"]["x-ogc-role"] == "primary-interval-end"
    seq = [p["x-ogc-propertySeq"] for k, p in props.items() if k not in ("id", "geometry")]
    assert seq == list(range(1, len(seq) + 1))
    assert ogc.get("/ogc/collections/townships/schema").json()["properties"]["geometry"]["format"] == \
        "geometry-multipolygon"
    assert ogc.get("/ogc/collections/places/schema").json()["properties"]["geometry"]["format"] == "geometry-any"


def test_geojson_profile_is_what_gdal_reads_and_links_point_at_both(ogc: TestClient) -> None:
    meta = ogc.get("/ogc/collections/place-points").json()
    links = {(link["rel"], link["type"]): link["href"] for link in meta["links"]}
    part5 = links[(REL_SCHEMA, "application/schema+json")]
    described = links[("describedby", "application/schema+json")]
    assert links[("describedBy", "application/schema+json")] == described  # GDAL ≤ 3.7 matches this spelling
    assert part5.endswith("/schema") and described.endswith("/schema?profile=geojson")
    doc = ogc.get(described).json()
    assert doc["properties"]["type"]["enum"] == ["Feature"]
    inner = doc["properties"]["properties"]["properties"]
    assert inner == {k: v for k, v in ogc.get(part5).json()["properties"].items() if k not in ("id", "geometry")}
    assert PART5 in ogc.get("/ogc/conformance").json()["conformsTo"]


def test_schema_bad_input_is_a_clear_4xx(ogc: TestClient) -> None:
    bad = ogc.get("/ogc/collections/place-points/schema", params={"profile": "xsd"})
    assert bad.status_code == 400 and bad.json()["field"] == "profile" and bad.json()["message_zh"]
    assert ogc.get("/ogc/collections/place-points/schema", params={"colour": "red"}).status_code == 400
    assert ogc.get("/ogc/collections/nowhere/schema").status_code == 404


def test_openapi_declares_each_queryable_on_each_items_path(ogc: TestClient) -> None:
    doc = ogc.get("/ogc/api").json()
    params = {p["name"]: p for p in doc["paths"]["/collections/place-points/items"]["get"]["parameters"]}
    assert params["category_code"]["in"] == "query" and params["category_code"]["schema"]["type"] == "string"
    assert params["registered_on"]["schema"] == {"type": "string", "format": "date"}
    assert params["sign_count"]["schema"]["type"] == "integer"
    assert "category_name" not in params  # joined: output only, not a filter
    assert "cql-text" in params["filter-lang"]["schema"]["enum"]  # what GDAL looks for before sending CQL
    assert params["limit"]["schema"]["maximum"] >= params["limit"]["schema"]["default"]
    town = {p["name"] for p in doc["paths"]["/collections/townships/items"]["get"]["parameters"]}
    assert {"kind", "population", "parent_code"} <= town
    assert "/collections/{collectionId}/items" in doc["paths"]  # writes and the generic path stay


def test_simple_parameters_and_cql_text_filter_on_the_server(ogc: TestClient, session: Session) -> None:
    want = session.execute(text(
        f"SELECT count(*) FROM places WHERE ST_Dimension(geom) = 0 AND category_code = '221' AND {AS_OF}")).scalar()
    assert want
    assert len(all_items(ogc, "place-points", category_code="221")) == want
    as_gdal = all_items(ogc, "place-points", filter="category_code = '221'", **{"filter-lang": "cql-text"})
    assert len(as_gdal) == want
    # GDAL writes a date as '2021-01-01T' in CQL text
    dated = all_items(ogc, "place-points", filter="(category_code = '221') AND (valid_from >= '2021-01-01T')",
                      **{"filter-lang": "cql-text"})
    assert len(dated) == want
    bad = ogc.get("/ogc/collections/place-points/items", params={"sign_count": "many"})
    assert bad.status_code == 400 and bad.json()["field"] == "sign_count"
