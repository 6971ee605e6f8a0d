"""An OGC bbox over places counted and paged from indexes (migration 0016, ``query.split_matches_sql``): the
same features, order and numberMatched as the plain ``ST_Intersects`` statement — points on the box's edges
and corners, points a hair outside, lines and areas crossing it without a vertex inside, places without a
geometry, versions not in force — for a date, an interval and paging; and the stored point column changes no
record version and shows in no API output.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.ogc import crs as crs_mod
from gis_api.ogc import query
from gis_api.ogc.collections import get as get_collection
from gis_api.ogc.reader import SessionReader

BASE = 9_100_000  # place ids of the rows these tests add (the test's transaction is rolled back)
X0, Y0, X1, Y1 = 100.0, 30.0, 100.01, 30.01  # far from the demo county: only this test's rows are near
BOX = f"{X0},{Y0},{X1},{Y1}"
WIDE = "90,20,130,40"  # holds the demo too: the bbox no longer leads, only the count comes from the indexes

# (label, geometry WKT or None, days from today the version starts, ends)
ROWS: list[tuple[str, str | None, int, int | None]] = [
    ("inside", "POINT(100.005 30.005)", -10, None),
    ("corner sw", f"POINT({X0} {Y0})", -10, None),
    ("corner ne", f"POINT({X1} {Y1})", -10, None),
    ("corner nw", f"POINT({X0} {Y1})", -10, None),
    ("corner se", f"POINT({X1} {Y0})", -10, None),
    ("edge s", f"POINT(100.005 {Y0})", -10, None),
    ("edge w", f"POINT({X0} 30.005)", -10, None),
    ("a hair west", f"POINT({math.nextafter(X0, 0)!r} 30.005)", -10, None),
    ("a hair north", f"POINT(100.005 {math.nextafter(Y1, 99)!r})", -10, None),
    ("1e-7 east", f"POINT({X1 + 1e-7!r} 30.005)", -10, None),
    ("line across", "LINESTRING(99.99 30.005, 100.02 30.005)", -10, None),
    ("line outside", "LINESTRING(99.99 30.02, 100.02 30.02)", -10, None),
    ("area around", "POLYGON((99.9 29.9, 100.1 29.9, 100.1 30.1, 99.9 30.1, 99.9 29.9))", -10, None),
    ("area touching", f"POLYGON(({X1} 30.0, 100.02 30.0, 100.02 30.01, {X1} 30.01, {X1} 30.0))", -10, None),
    ("no geometry", None, -10, None),
    ("future", "POINT(100.004 30.004)", 5, None),
    ("retired", "POINT(100.003 30.003)", -10, -2),
]


def _columns(session: Session) -> str:
    skip = {"id", "place_id", "valid_from", "valid_to", "version", "created_at", "updated_at", "geom"}
    cols = session.scalars(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'places' "
        "AND table_schema = current_schema() AND is_generated = 'NEVER' ORDER BY ordinal_position"))
    return ", ".join(c for c in cols if c not in skip)


def add(session: Session, pid: int, wkt: str | None, start: int, end: int | None) -> int:
    """A copy of the first place under place id ``pid`` with geometry ``wkt``, in force from today + start."""
    cols = _columns(session)
    return int(session.execute(text(
        f"INSERT INTO places (place_id, valid_from, valid_to, geom, {cols}) SELECT :pid, current_date + :s, "
        f"current_date + CAST(:e AS integer), ST_GeomFromText(CAST(:g AS text), 4490), {cols} FROM places "
        "WHERE id = (SELECT min(id) FROM places) RETURNING id"), {"pid": pid, "s": start, "e": end, "g": wkt}
    ).scalar_one())


@pytest.fixture
def rows(session: Session) -> dict[str, int]:
    ids = {}
    for i, (label, wkt, start, end) in enumerate(ROWS):
        add(session, BASE + i, wkt, start, end)
        ids[label] = BASE + i
    # a place that moved out of the box two days ago: its old version is inside
    add(session, BASE + 99, "POINT(100.006 30.006)", -10, -2)
    add(session, BASE + 99, "POINT(100.5 30.5)", -2, None)
    return ids


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


def _run(session: Session, q: query.ItemsQuery, exact_max: int, count_exact: bool) -> tuple[Any, ...]:
    sql, params, _w, _wp = query.items_sql(q, exact_max, count_exact=count_exact)
    row = session.connection().exec_driver_sql(sql, params.as_dict()).one()
    return int(row[0]), bytes(row[1]), row[2]


TIMES = {
    "today": query.TimeFilter(as_of=clock.today()),
    "five days ago": query.TimeFilter(as_of=clock.today() - dt.timedelta(days=5)),
    "interval": query.TimeFilter(start=clock.today() - dt.timedelta(days=5), end=clock.today()),
    "open interval": query.TimeFilter(),
}


@pytest.mark.parametrize("time_key", list(TIMES))
@pytest.mark.parametrize("bbox", [(X0, Y0, X1, Y1), (90.0, 20.0, 130.0, 40.0), (X1, Y0, X1 + 1e-3, Y0 + 1e-9)])
def test_the_index_statement_answers_as_the_plain_one(session: Session, rows: dict[str, int], time_key: str,
                                                      bbox: tuple[float, float, float, float]) -> None:
    c = get_collection("places")
    assert c is not None and c.point_column == "geom_pt"
    plain = dataclasses.replace(c, point_column=None)
    for spatial_leads in (True, False):
        for limit, offset in ((3, 0), (3, 3), (100, 0), (2, 1000)):
            for exact_max, count_exact in ((10_000, True), (2, True), (10_000, False)):
                split, ref = (query.ItemsQuery(collection=coll, limit=limit, offset=offset, crs=crs_mod.resolve(None),
                                               props=list(coll.properties), time=TIMES[time_key], bbox=bbox,
                                               spatial_leads=spatial_leads) for coll in (c, plain))
                assert query.point_split(split) and not query.point_split(ref)
                got = _run(session, split, exact_max, count_exact)
                want = _run(session, ref, exact_max, count_exact)
                assert got == want, (time_key, bbox, spatial_leads, limit, offset, exact_max, count_exact)


def test_a_bbox_without_an_area_is_left_to_st_intersects() -> None:
    c = get_collection("places")
    assert c is not None
    for bbox in ((X1, Y1, X1, Y1), (X0, Y1, X1, Y1), (X1, Y0, X1, Y1)):
        q = query.ItemsQuery(collection=c, limit=10, offset=0, crs=crs_mod.resolve(None), props=[],
                             time=TIMES["today"], bbox=bbox)
        assert not query.point_split(q)


def test_items_over_http_hold_exactly_the_intersecting_features(ogc: TestClient, session: Session,
                                                                rows: dict[str, int]) -> None:
    inside = ["inside", "corner sw", "corner ne", "corner nw", "corner se", "edge s", "edge w", "line across",
              "area around", "area touching"]
    want = sorted(rows[k] for k in inside)
    ids: list[int] = []
    offset = 0
    while True:
        page = ogc.get(f"/ogc/collections/places/items?bbox={BOX}&limit=4&offset={offset}&properties=name").json()
        assert page["numberMatched"] == len(want)
        ids += [f["id"] for f in page["features"]]
        if not any(link["rel"] == "next" for link in page["links"]):
            break
        offset += 4
    assert ids == want
    # as of five days ago: the place that has moved away since was inside, the future one not yet there
    day = (clock.today() - dt.timedelta(days=5)).isoformat()
    page = ogc.get(f"/ogc/collections/places/items?bbox={BOX}&datetime={day}&limit=100").json()
    assert [f["id"] for f in page["features"]] == sorted([*want, rows["retired"], BASE + 99])
    assert page["numberMatched"] == len(want) + 2


def test_the_points_are_counted_by_an_index_only_scan(session: Session, rows: dict[str, int]) -> None:
    c = get_collection("places")
    assert c is not None
    q = query.ItemsQuery(collection=c, limit=100, offset=0, crs=crs_mod.resolve(None), props=list(c.properties),
                         time=TIMES["today"], bbox=(X0, Y0, X1, Y1))
    q.spatial_leads = True
    sql, params, _w, _wp = query.items_sql(q, 10_000)
    plan = json.dumps(session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params.as_dict())
                      .scalar_one())
    assert '"Index Only Scan"' in plan and '"ix_places_geom_pt"' in plan
    assert '"ix_places_geom_other"' in plan


def test_the_point_column_follows_the_geometry_and_bumps_no_version(session: Session, rows: dict[str, int],
                                                                  client: TestClient) -> None:
    rid, version = session.execute(text("SELECT id, version FROM places WHERE place_id = :p"),
                                   {"p": rows["inside"]}).one()
    session.execute(text("UPDATE places SET name = name WHERE id = :i"), {"i": rid})  # nothing changes
    assert session.execute(text("SELECT version FROM places WHERE id = :i"), {"i": rid}).scalar_one() == version
    session.execute(text("UPDATE places SET geom = ST_SetSRID(ST_MakePoint(100.5, 30.25), 4490) WHERE id = :i"),
                    {"i": rid})
    pt, v2 = session.execute(text("SELECT geom_pt::text, version FROM places WHERE id = :i"), {"i": rid}).one()
    assert pt == "(100.5,30.25)" and v2 == version + 1
    line = session.execute(text("SELECT geom_pt FROM places WHERE place_id = :p"),
                           {"p": rows["line across"]}).scalar_one()
    assert line is None
    demo = session.execute(text("SELECT place_id FROM places WHERE GeometryType(geom) = 'POINT' AND "
                                "place_id < :b AND valid_to IS NULL LIMIT 1"), {"b": BASE}).scalar_one()
    body = client.get(f"/api/v1/places/{demo}").text
    assert "geom_pt" not in body
