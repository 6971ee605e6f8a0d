"""Boundary lines, markers, joint inspections, GPX patrols and the 平安边界 report through the API."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.boundaries.demo import load_demo_boundaries

GEOD = Geod(ellps="GRS80")
Login = Callable[..., dict[str, str]]


@pytest.fixture
def demo(session: Session) -> dict[str, Any]:
    out = load_demo_boundaries(session)
    session.commit()  # releases a savepoint only
    return out


def _line(client: TestClient, line_id: str, **params: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/boundaries/{line_id}", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _gpx(points: list[tuple[float, float]], waypoints: tuple[tuple[str, float, float], ...] = ()) -> bytes:
    wpts = "".join(f'<wpt lat="{y!r}" lon="{x!r}"><name>{n}</name></wpt>' for n, x, y in waypoints)
    pts = "".join(f'<trkpt lat="{y!r}" lon="{x!r}"><time>2024-05-01T0{i % 10}:00:00Z</time></trkpt>'
                  for i, (x, y) in enumerate(points))
    return (f'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
            f"{wpts}<trk><trkseg>{pts}</trkseg></trk></gpx>").encode()


# -- lines --------------------------------------------------------------------------------------------------------

def test_county_lines_of_feidong_as_geojson(client: TestClient, demo: dict[str, Any], session: Session) -> None:
    r = client.get("/api/v1/boundaries", params={"level": "county", "code": "340122", "as_of": "2024-06-01"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["numberMatched"] == 9 and len(fc["features"]) == 9
    neighbours = {f["properties"]["left_code"] if f["properties"]["right_code"] == "340122"
                  else f["properties"]["right_code"] for f in fc["features"]}
    assert neighbours == {"340102", "340111", "340121", "340123", "340124", "340181", "341103", "341124", "341125"}
    total = sum(f["properties"]["length_m"] for f in fc["features"])
    perimeter = session.execute(text(
        "SELECT ST_Perimeter(geom::geography) FROM divisions WHERE code = '340122' AND valid_to IS NULL")).scalar_one()
    assert abs(total - perimeter) / perimeter < 0.001
    chaohu = next(f for f in fc["features"]
                  if "340181" in (f["properties"]["left_code"], f["properties"]["right_code"]))
    assert chaohu["geometry"]["type"] == "MultiLineString"
    assert chaohu["properties"]["left_name"] == "肥东县" and chaohu["properties"]["right_name"] == "巢湖市"
    assert 67_000 < chaohu["properties"]["length_m"] < 68_200  # 67.586 km shared (SOURCES.md)
    assert chaohu["properties"]["markers"] > 10


def test_township_lines_of_feidong_with_outer_edges(client: TestClient, demo: dict[str, Any]) -> None:
    fc = client.get("/api/v1/boundaries", params={"level": "township", "parent": "340122"}).json()
    assert fc["numberMatched"] == 57
    outer = [f for f in fc["features"] if f["properties"]["outer"]]
    assert len(outer) == 16 and all(f["properties"]["right_code"] is None for f in outer)
    before = client.get("/api/v1/boundaries", params={"level": "township", "parent": "340122",
                                                       "as_of": "2020-12-31"}).json()
    assert before["numberMatched"] == 0  # the demo lines start with the 2021 data vintage


def test_line_record_needs_if_match_and_role(client: TestClient, demo: dict[str, Any], login: Login) -> None:
    line_id = "C340122-340181"
    feature = client.get(f"/api/v1/boundaries/{line_id}")
    tag = feature.headers["ETag"]
    body = {"agreement_ref": "皖民界〔2002〕12号", "responsible_right": "巢湖市民政局", "reason": "archive entry"}
    assert client.patch(f"/api/v1/boundaries/{line_id}", json=body, headers=login("viewer")).status_code == 403
    h = login("patrol")
    assert client.patch(f"/api/v1/boundaries/{line_id}", json=body, headers=h).status_code == 428
    r = client.patch(f"/api/v1/boundaries/{line_id}", json=body, headers={**h, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["agreement_ref"] == "皖民界〔2002〕12号"
    assert r.headers["ETag"] != tag
    stale = client.patch(f"/api/v1/boundaries/{line_id}", json=body, headers={**h, "If-Match": tag})
    assert stale.status_code == 412 and stale.json()["etag"] == r.headers["ETag"]
    bad = client.patch(f"/api/v1/boundaries/{line_id}", json={"colour": "red", "reason": "x"},
                       headers={**h, "If-Match": r.headers["ETag"]})
    assert bad.status_code == 422 and bad.json()["field"] == "colour"
    hist = client.get(f"/api/v1/boundaries/{line_id}/history").json()
    assert [c["changed"] for c in hist["record_changes"] if c["action"] == "UPDATE"][-1] == [
        "agreement_ref", "responsible_right"]


# -- markers ------------------------------------------------------------------------------------------------------

def _marker(line_id: str, marker_no: str, lon: float, lat: float, **over: Any) -> dict[str, Any]:
    body = {"marker_no": marker_no, "line_id": line_id, "lon": lon, "lat": lat, "survey_method": "GNSS-RTK",
            "precision_m": 0.05, "material": "花岗岩", "valid_from": "2024-01-01", "reason": "survey 2024",
            "photos": [{"ref": "2024/0013901Q-n.jpg", "caption": "north face"}]}
    body.update(over)
    return body


def _point_on_line(session: Session, line_id: str, fraction: float) -> tuple[float, float]:
    x, y = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(ST_GeometryN(geom, 1), :f) AS p "
        "FROM boundary_line_versions WHERE line_id = :id AND valid_to IS NULL) s"),
        {"id": line_id, "f": fraction}).one()
    return float(x), float(y)


def test_marker_ids_types_and_line_number(client: TestClient, demo: dict[str, Any], login: Login,
                                          session: Session) -> None:
    line_id = "C340122-340181"
    line_no = client.get(f"/api/v1/boundaries/{line_id}").json()["properties"]["line_no"]
    x, y = _point_on_line(session, line_id, 0.5)
    h = login("patrol")
    assert client.post("/api/v1/boundary-markers", json=_marker(line_id, f"{line_no}901Q", x, y),
                       headers=login("viewer")).status_code == 403
    ok = client.post("/api/v1/boundary-markers", json=_marker(line_id, f"{line_no}901A", x, y), headers=h)
    assert ok.status_code == 201, ok.text
    props = ok.json()["properties"]
    assert props["type_letter"] == "A" and props["on_line"] is True and props["distance_to_line_m"] < 0.01
    cases = [
        (_marker(line_id, f"{line_no}90Q", x, y), 422, "marker_no"),  # 7 characters
        (_marker(line_id, f"{line_no}902X", x, y), 422, "marker_no"),  # unknown type letter
        (_marker(line_id, f"{line_no}000Q", x, y), 422, "marker_no"),  # sequence starts at 001
        (_marker(line_id, "9999902Q", x, y), 422, "marker_no"),  # not this line's number
        (_marker(line_id, f"{line_no}901Q", x, y), 422, "marker_no"),  # Q cannot join an A/B pair
        (_marker(line_id, f"{line_no}901C", x, y), 422, "marker_no"),  # nor can a triple letter
        (_marker(line_id, f"{line_no}901A", x, y), 409, "marker_no"),  # registered already
        (_marker(line_id, f"{line_no}903Q", y, x), 422, "lon"),  # lat/lon swapped
        (_marker("C340122-999999", f"{line_no}903Q", x, y), 422, "line_id"),
    ]
    for body, status, field in cases:
        r = client.post("/api/v1/boundary-markers", json=body, headers=h)
        assert r.status_code == status, (body["marker_no"], r.text)
        assert r.json()["field"] == field and r.json()["message_zh"]
    assert client.post("/api/v1/boundary-markers", json=_marker(line_id, f"{line_no}901B", x, y),
                       headers=h).status_code == 201
    check = client.get("/api/v1/boundary-markers/check", params={"line_id": line_id}).json()
    assert f"{line_no}901" not in {g["number"] for g in check["incomplete_groups"]}


def test_marker_updates_are_audited_and_relocation_needs_agreement(client: TestClient, demo: dict[str, Any],
                                                                   login: Login) -> None:
    h = login("patrol")
    r = client.get("/api/v1/boundary-markers/0013001Q")
    tag = r.headers["ETag"]
    lon, lat = r.json()["geometry"]["coordinates"]
    move = {"mode": "relocation", "lon": lon + 0.0001, "lat": lat, "reason": "moved for road works"}
    assert client.patch("/api/v1/boundary-markers/0013001Q", json=move, headers=h).status_code == 428
    one_sided = client.patch("/api/v1/boundary-markers/0013001Q", json=move, headers={**h, "If-Match": tag})
    assert one_sided.status_code == 422 and one_sided.json()["rule"] == "§5"
    agreed = {**move, "agreement_ref": "界桩迁移协议 2024-3", "both_sides_present": True}
    r2 = client.patch("/api/v1/boundary-markers/0013001Q", json=agreed, headers={**h, "If-Match": tag})
    assert r2.status_code == 200, r2.text
    assert r2.json()["geometry"]["coordinates"][0] == pytest.approx(lon + 0.0001)
    status = client.patch("/api/v1/boundary-markers/0013001Q", json={"status": "damaged", "reason": "flood"},
                          headers={**h, "If-Match": r2.headers["ETag"]})
    assert status.status_code == 200 and status.json()["properties"]["status"] == "damaged"
    hist = client.get("/api/v1/boundary-markers/0013001Q/history").json()["changes"]
    assert [c["action"] for c in hist] == ["INSERT", "UPDATE", "UPDATE"]
    assert hist[1]["reason"] == "moved for road works" and "geom" in hist[1]["changed"]


def test_on_line_check_finds_the_displaced_demo_markers(client: TestClient, demo: dict[str, Any]) -> None:
    check = client.get("/api/v1/boundary-markers/check").json()
    # The demo is loaded once per session (conftest); a second load creates nothing.
    assert demo["markers_created"] == 0
    assert check["tolerance_m"] == 5.0 and check["checked"] == 73
    got = {o["marker_no"]: o["distance_m"] for o in check["outliers"]}
    assert set(got) == {"0003008Q", "0013008Q"}
    assert got["0003008Q"] == pytest.approx(8.0, abs=0.1) and got["0013008Q"] == pytest.approx(12.0, abs=0.1)
    loose = client.get("/api/v1/boundary-markers/check", params={"tolerance_m": 10}).json()
    assert [o["marker_no"] for o in loose["outliers"]] == ["0013008Q"]
    assert check["incomplete_groups"] == []
    fc = client.get("/api/v1/boundary-markers", params={"line_id": "C340122-340181"}).json()
    assert all(f["properties"]["source"] == "synthetic" for f in fc["features"])
    letters = {f["properties"]["marker_no"][-1] for f in fc["features"]}
    assert letters == {"Q", "A", "B"}


# -- inspections, issues, the report ---------------------------------------------------------------------------------

def _inspection(line_id: str, **over: Any) -> dict[str, Any]:
    body = {
        "line_id": line_id, "inspected_on": "2026-04-10", "kind": "periodic",
        "team_left": {"unit": "肥东县民政局", "leader": "王", "members": ["李", "赵"]},
        "team_right": {"unit": "巢湖市民政局", "leader": "陈"},
        "findings": [
            {"marker_no": "0013001Q", "present": True},
            {"marker_no": "0013002Q", "present": True, "damaged": True, "photo": "2026/0013002Q.jpg"},
            {"marker_no": "0013004Q", "present": False},
            {"marker_no": "0013005Q", "present": True, "legible": False, "cleared": False},
        ],
        "landmarks": [{"name": "水塔", "state": "intact"}],
        "feature_changes": [{"description": "新修乡道穿越界线", "risk": "low"}],
        "structures": [{"description": "养殖棚跨界"}],
        "disputes": [{"description": "鱼塘承包范围争议", "risk": "high"}],
        "signatures": [{"side": "left", "name": "王", "signed_on": "2026-04-10"},
                       {"side": "right", "name": "陈", "signed_on": "2026-04-11"}],
    }
    body.update(over)
    return body


def test_joint_inspection_raises_issues_and_restarts_the_cycle(client: TestClient, demo: dict[str, Any],
                                                               login: Login) -> None:
    h = login("patrol")
    line_id = "C340122-340181"
    bad = client.post("/api/v1/boundary-inspections", headers=h, json=_inspection(
        line_id, findings=[{"marker_no": "0003001Q", "present": True}]))
    assert bad.status_code == 422 and bad.json()["field"] == "findings.0.marker_no"
    unsigned = client.post("/api/v1/boundary-inspections", headers=h,
                           json=_inspection(line_id, signatures=[], filed_on="2026-05-01"))
    assert unsigned.status_code == 422 and unsigned.json()["field"] == "signatures"
    r = client.post("/api/v1/boundary-inspections", json=_inspection(line_id), headers=h)
    assert r.status_code == 201, r.text
    insp = r.json()
    kinds = sorted(i["kind"] for i in insp["issues"])
    assert kinds == ["dispute", "feature_change", "marker_damaged", "marker_illegible", "marker_missing",
                     "marker_overgrown", "structure"]
    assert client.get("/api/v1/boundary-markers/0013004Q").json()["properties"]["status"] == "missing"
    assert client.get("/api/v1/boundary-markers/0013002Q").json()["properties"]["status"] == "damaged"
    line = _line(client, line_id, as_of="2026-06-01")
    assert line["properties"]["last_inspection_on"] == "2026-04-10"
    assert line["properties"]["next_inspection_due"] == "2031-04-10"
    rep = client.get("/api/v1/boundaries/report", params={"format": "json", "as_of": "2026-06-01"}).json()
    row = next(x for x in rep["lines"] if x["line_id"] == line_id)
    assert row["open_issues"] == 7 and row["open_high_risk"] == 2 and row["safe"] is False
    assert row["markers"]["missing"] == 1
    # Resolve the dispute: If-Match on the issue.
    dispute = next(i for i in insp["issues"] if i["kind"] == "dispute")
    body = {"resolved_on": "2026-05-20", "resolution": "双方确认以协议书为准"}
    assert client.post(f"/api/v1/boundary-issues/{dispute['id']}/resolve", json=body, headers=h).status_code == 428
    done = client.post(f"/api/v1/boundary-issues/{dispute['id']}/resolve", json=body,
                       headers={**h, "If-Match": f'"q{dispute["id"]}.v{dispute["version"]}"'})
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    open_issues = client.get("/api/v1/boundary-issues", params={"line_id": line_id, "status": "open"}).json()
    assert len(open_issues) == 6


def test_safe_boundary_report_lists_overdue_inspections(client: TestClient, demo: dict[str, Any]) -> None:
    # Demo last inspections (synthetic): with a 5-year cycle four lines are overdue on 2026-06-01.
    rep = client.get("/api/v1/boundaries/report", params={"format": "json", "as_of": "2026-06-01"}).json()
    assert rep["totals"]["lines"] == 9
    last = {x["line_id"]: x["last_inspection_on"] for x in rep["lines"]}
    expected = sorted(k for k, v in last.items() if v and v < "2021-06-01")
    assert sorted(rep["overdue"]) == expected and len(expected) == 4
    assert rep["totals"]["overdue"] == 4 and rep["totals"]["marker_outliers"] == 2
    assert sum(rep["totals"]["markers"].values()) == 73
    in_2022 = client.get("/api/v1/boundaries/report", params={"format": "json", "as_of": "2022-01-01"}).json()
    assert in_2022["overdue"] == [x for x in sorted(last) if last[x] and last[x] < "2017-01-01"]
    csv_text = client.get("/api/v1/boundaries/report", params={"format": "csv", "as_of": "2026-06-01"}).text
    rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert rows[0][0] == "界线编号" and rows[1][0] == "line_no" and len(rows) == 2 + 9 + 1
    assert sum(1 for r in rows[2:-1] if r[8] == "已逾期") == 4
    html = client.get("/api/v1/boundaries/report", params={"as_of": "2026-06-01"})
    assert html.headers["content-type"].startswith("text/html")
    page = html.text
    assert "平安边界报告" in page and page.count("<tr class=\"overdue\">") == 4
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page


# -- GPX patrols ----------------------------------------------------------------------------------------------------

def _straight_township_line(session: Session) -> tuple[str, list[float]]:
    line_id, x1, y1, x2, y2 = session.execute(text("""
        SELECT l.line_id, ST_X(ST_StartPoint(g)), ST_Y(ST_StartPoint(g)), ST_X(ST_EndPoint(g)), ST_Y(ST_EndPoint(g))
        FROM boundary_lines l JOIN LATERAL (SELECT ST_GeometryN(geom, 1) AS g, length_m
            FROM boundary_line_versions v WHERE v.line_id = l.line_id AND v.valid_to IS NULL) v ON true
        WHERE l.level = 'township' AND l.right_code IS NOT NULL AND ST_NPoints(g) = 2
        ORDER BY v.length_m DESC LIMIT 1""")).one()
    return str(line_id), [x1, y1, x2, y2]


def test_gpx_coverage_of_a_known_stretch(client: TestClient, demo: dict[str, Any], login: Login,
                                         session: Session) -> None:
    """A track along the middle half of a straight line covers half of it plus the buffer at each end."""
    line_id, (x1, y1, x2, y2) = _straight_township_line(session)
    _az, _baz, length = GEOD.inv(x1, y1, x2, y2)
    quarter = [(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t) for t in (0.25, 0.4, 0.6, 0.75)]
    h = login("patrol")
    files = {"file": ("patrol.gpx", _gpx(quarter), "application/gpx+xml")}
    r = client.post("/api/v1/boundary-patrols", data={"line_id": line_id, "buffer_m": "20"}, files=files, headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["line_length_m"] == pytest.approx(length, rel=1e-4)
    expected = length / 2 + 2 * 20  # the round buffer caps reach 20 m further along the line at both ends
    assert out["covered_m"] == pytest.approx(expected, abs=0.5)
    assert out["coverage"] == pytest.approx(expected / length, abs=1e-3)
    assert out["patrolled_on"] == "2024-05-01"  # from the track's first time stamp
    # The same track 60 m to the side covers nothing within 20 m.
    k = 60 / 111_320 / abs(math.cos(math.radians(y1)))
    dx, dy = x2 - x1, y2 - y1
    n = (dx * dx + dy * dy) ** 0.5
    side = [(x - dy / n * k, y + dx / n * k) for x, y in quarter]
    r2 = client.post("/api/v1/boundary-patrols", data={"line_id": line_id, "buffer_m": "20"},
                     files={"file": ("side.gpx", _gpx(side), "application/gpx+xml")}, headers=h)
    assert r2.status_code == 201 and r2.json()["covered_m"] == 0.0
    assert client.post("/api/v1/boundary-patrols", data={"line_id": line_id},
                       files={"file": ("x.gpx", b"<gpx", "application/gpx+xml")}, headers=h).status_code == 422
    assert client.post("/api/v1/boundary-patrols", data={"line_id": line_id},
                       files={"file": ("p.gpx", _gpx(quarter), "application/gpx+xml")},
                       headers=login("viewer")).status_code == 403


def test_gpx_visits_markers_and_raises_a_displacement_alert(client: TestClient, demo: dict[str, Any], login: Login,
                                                           session: Session) -> None:
    line_id = "C340122-340181"
    markers = {f["properties"]["marker_no"]: f["geometry"]["coordinates"]
               for f in client.get("/api/v1/boundary-markers", params={"line_id": line_id}).json()["features"]}
    q1, q2, q3, q4 = sorted(m for m in markers if m.endswith("Q"))[:4]
    track = [tuple(markers[q1]), tuple(markers[q2])]
    lon3, lat3 = markers[q3]
    lon4, lat4 = markers[q4]
    moved = GEOD.fwd(lon3, lat3, 90, 9.0)[:2]  # re-surveyed 9 m east: beyond the 5 m tolerance
    near = GEOD.fwd(lon4, lat4, 0, 2.0)[:2]  # 2 m north: within it
    gpx = _gpx(track, ((q3, moved[0], moved[1]), (f"桩 {q4}", near[0], near[1]), ("9999001Q", 117, 31)))
    r = client.post("/api/v1/boundary-patrols", data={"line_id": line_id, "patrolled_on": "2024-05-02"},
                    files={"file": ("p.gpx", gpx, "application/gpx+xml")}, headers=login("patrol"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert {q1, q2, q3, q4} <= set(out["markers_visited"])
    assert [a["marker_no"] for a in out["displacement_alerts"]] == [q3]
    assert out["displacement_alerts"][0]["distance_m"] == pytest.approx(9.0, abs=0.01)
    assert [c["marker_no"] for c in out["confirmed_positions"]] == [q4]
    assert out["unknown_markers"] == ["9999001Q"]
    issues = client.get("/api/v1/boundary-issues", params={"line_id": line_id, "status": "open"}).json()
    assert [(i["kind"], i["marker_no"], i["risk"]) for i in issues] == [("displacement", q3, "high")]
    stored = client.get(f"/api/v1/boundary-patrols/{out['id']}").json()
    assert stored["track"]["type"] == "MultiLineString"
