"""In the field (issue 16), server side: the work package for Feidong's county lines, and the sync of an offline
queue — applied once, replayed without new rows, conflicts reported instead of overwritten."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.boundaries.demo import load_demo_boundaries

Login = Callable[..., dict[str, str]]
GEOD = Geod(ellps="GRS80")
TILE_RE = re.compile(r"^/ogc/collections/([a-z-]+)/tiles/WebMercatorQuad/(\d+)/(\d+)/(\d+)$")
COUNTED = ("boundary_patrols", "boundary_issues", "field_changes", "field_attachment_links", "audit_log",
           "boundary_markers", "field_attachments")


@pytest.fixture
def demo(session: Session) -> dict[str, Any]:
    out = load_demo_boundaries(session)
    session.commit()  # releases a savepoint only
    return out


@pytest.fixture(autouse=True)
def _attachments_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIMING_ATTACHMENTS_DIR", str(tmp_path / "attachments"))


def _package(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/field/packages", json=body, headers=headers)
    assert r.status_code == 200, r.text
    doc = dict(r.json())
    assert doc["size_bytes"] == len(r.content), (doc["size_bytes"], len(r.content))
    assert r.headers["etag"] == f'"pkg-{doc["package_id"]}"'
    return doc


def _counts(session: Session) -> dict[str, int]:
    return {t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in COUNTED}


def _cid() -> str:
    return uuid.uuid4().hex


# -- work package -------------------------------------------------------------------------------------------------

def test_package_of_feidongs_county_lines(client: TestClient, demo: dict[str, Any], login: Login,
                                          session: Session) -> None:
    patrol = login("patrol")
    doc = _package(client, patrol, code="340122", level="county")
    print(f"\nwork package for Feidong's county lines: {doc['size_bytes']:,} bytes; counts {doc['counts']}; "
          f"tiles to zoom {doc['tiles']['complete_to_zoom']} per zoom {doc['tiles']['per_zoom']}, "
          f"truncated={doc['tiles']['truncated']}")
    assert doc["format"] == "diming-field-package/1" and doc["generated_at"] and doc["as_of"]
    lines = doc["lines"]["features"]
    assert len(lines) == 9 and all("340122" in (f["properties"]["left_code"], f["properties"]["right_code"])
                                   for f in lines)
    # Every marker of those lines, with the version a sync will be based on.
    want = session.execute(text("""
        SELECT m.marker_no, m.version FROM boundary_markers m JOIN boundary_lines l ON l.line_id = m.line_id
        WHERE l.level = 'county' AND '340122' IN (l.left_code, l.right_code) AND m.valid_to IS NULL""")).all()
    got = {f["id"]: f["properties"] for f in doc["markers"]["features"]}
    assert len(got) == len(want) > 20
    for marker_no, version in want:
        assert got[marker_no]["etag"] == f'"m{marker_no}.v{version}"'
    # The last joint inspection recorded on each line, and the coverage rule of the GPX upload.
    by_id = {f["id"]: f["properties"] for f in lines}
    dates: dict[str, str | None] = dict(session.execute(text(
        "SELECT line_id, last_inspection_on::text FROM boundary_lines WHERE line_id = ANY(:ids)"),
        {"ids": list(by_id)}).all())
    assert {k: v["last_inspection_on"] for k, v in by_id.items()} == dates
    assert doc["settings"]["buffer_m"] > 0 and doc["settings"]["tolerance_m"] > 0
    assert {d["properties"]["code"] for d in doc["divisions"]["features"]} >= {"340122", "340181"}
    # Tiles: whole zoom levels from 8, every URL one of this server's OGC tile endpoints, within the count limit.
    tiles = doc["tiles"]
    assert tiles["count"] == len(tiles["urls"]) <= 20_000 and tiles["complete_to_zoom"] >= 12
    zooms = sorted({int(TILE_RE.match(u).group(2)) for u in tiles["urls"]})  # type: ignore[union-attr]
    assert zooms == list(range(8, tiles["complete_to_zoom"] + 1))
    z8 = [u for u in tiles["urls"] if "/8/" in u and "townships" in u]
    assert 1 <= len(z8) <= 4  # the county fits in one or a few zoom-8 tiles
    r = client.get(z8[0])
    assert r.status_code in (200, 204)


def test_package_tile_limit_and_roles(client: TestClient, demo: dict[str, Any], login: Login) -> None:
    patrol = login("patrol")
    full = _package(client, patrol, code="340122", level="county", zooms=[8, 14])
    small = _package(client, patrol, code="340122", level="county", zooms=[8, 14], max_tiles=40)
    assert small["tiles"]["truncated"] and small["tiles"]["count"] <= 40
    assert small["tiles"]["complete_to_zoom"] < full["tiles"]["complete_to_zoom"]
    assert small["package_id"] != full["package_id"]
    # A box of the whole world at every zoom: all lines (within the line limit), tiles cut at the limit, quickly.
    world = _package(client, patrol, bbox=[-180, -85, 180, 85], zooms=[0, 22])
    assert world["tiles"]["truncated"] and world["tiles"]["count"] <= 20_000 and world["counts"]["lines"] >= 9
    none = _package(client, patrol, code="340122", level="county", zooms=[8, 14], max_tiles=0)
    assert none["tiles"]["count"] == 0 and none["tiles"]["truncated"]
    assert client.post("/api/v1/field/packages", json={"code": "340122"}).status_code == 401
    r = client.post("/api/v1/field/packages", json={"code": "340122"}, headers=login("viewer"))
    assert r.status_code == 403 and r.json()["message_zh"]
    r = client.post("/api/v1/field/packages", json={"line_ids": ["nope"]}, headers=patrol)
    assert r.status_code == 404 and r.json()["field"] == "line_ids"
    r = client.post("/api/v1/field/packages", json={}, headers=patrol)
    assert r.status_code == 422


# -- sync ---------------------------------------------------------------------------------------------------------

def _point_on_line(session: Session, line_id: str, fraction: float) -> tuple[float, float]:
    row = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint(ST_GeometryN(ST_LineMerge(geom), 1), :f) AS p
        FROM boundary_line_versions WHERE line_id = :id AND valid_to IS NULL) x"""),
        {"id": line_id, "f": fraction}).one()
    return float(row[0]), float(row[1])


def _batch(session: Session, doc: dict[str, Any], photo_sha: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A queue recorded offline: a damaged marker (with a photo), a displaced one (12 m east), a walked stretch,
    an issue."""
    markers = [f for f in doc["markers"]["features"] if f["properties"]["status"] == "intact"]
    damaged, displaced = markers[0], markers[1]
    line_id = damaged["properties"]["line_id"]
    lon, lat = displaced["geometry"]["coordinates"]
    east, north, _ = GEOD.fwd(lon, lat, 90, 12.0)
    # Dense enough that the chords between fixes stay within the 30 m buffer of a winding line.
    track: list[list[Any]] = [
        [*_point_on_line(session, line_id, i / 1000), f"2026-05-01T{8 + i // 60:02d}:{i % 60:02d}:00+08:00", 5.0]
        for i in range(0, 501)]
    track.insert(3, [track[3][0] + 0.01, track[3][1] + 0.01, None, 300.0])  # a poor fix: dropped
    changes = [
        {"change_id": _cid(), "kind": "marker_visit", "base_etag": damaged["properties"]["etag"],
         "recorded_at": "2026-05-01T09:00:00+08:00",
         "data": {"marker_no": damaged["id"], "status": "damaged", "note": "桩体断裂",
                  "attachments": [{"sha256": photo_sha, "caption": "断裂处"}]}},
        {"change_id": _cid(), "kind": "marker_visit", "base_etag": displaced["properties"]["etag"],
         "data": {"marker_no": displaced["id"], "measured": {"lon": east, "lat": north, "accuracy_m": 3}}},
        {"change_id": _cid(), "kind": "patrol", "data": {"line_id": line_id, "track": track}},
        {"change_id": _cid(), "kind": "issue",
         "data": {"line_id": line_id, "kind": "risk", "description": "界线附近新修便道", "risk": "low",
                  "lon": track[5][0], "lat": track[5][1]}},
    ]
    return changes, {"damaged": damaged, "displaced": displaced, "line_id": line_id}


def test_a_batch_applies_once_and_a_replay_changes_nothing(client: TestClient, demo: dict[str, Any], login: Login,
                                                           session: Session) -> None:
    patrol = login("patrol", username="patrol_team_1")
    doc = _package(client, patrol, code="340122", level="county", zooms=[8, 8])
    before = _counts(session)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(buf, "JPEG")
    up = client.post("/api/v1/field/attachments", files={"file": ("p.jpg", buf.getvalue(), "image/jpeg")},
                     headers=patrol)
    assert up.status_code == 201, up.text
    changes, ctx = _batch(session, doc, up.json()["sha256"])
    r = client.post("/api/v1/field/sync", json={"device": "phone-1", "changes": changes}, headers=patrol)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [x["status"] for x in out["results"]] == ["applied"] * 4, out
    assert out["applied"] == 4 and out["replayed"] == 0 and out["conflicts"] == 0
    visit, measured, patrol_result, issue = (x["result"] for x in out["results"])
    # The damaged marker: a new audited version, and an issue for it.
    marker_no = ctx["damaged"]["id"]
    row = session.execute(text("SELECT status, note, version FROM boundary_markers WHERE marker_no = :m"),
                          {"m": marker_no}).one()
    assert (row.status, row.note) == ("damaged", "桩体断裂")
    assert visit["etag"] == f'"m{marker_no}.v{row.version}"' and row.version == ctx["damaged"]["properties"][
        "version"] + 1 and visit["issue_id"]
    # The displaced marker: the distance measured (12 m), the register not moved, a displacement issue.
    assert measured["distance_m"] == pytest.approx(12.0, abs=0.5) and measured["displaced"]
    assert measured["version"] == ctx["displaced"]["properties"]["version"]
    issue_row = session.execute(text(
        "SELECT kind, distance_m FROM boundary_issues WHERE id = :i"), {"i": measured["displacement_issue_id"]}).one()
    assert issue_row.kind == "displacement" and issue_row.distance_m == pytest.approx(12.0, abs=0.5)
    # The walked half of the line (same rule as GPX: within the buffer), the bad fix dropped.
    assert patrol_result["points"] == 501 and patrol_result["points_dropped"] == 1
    half = session.execute(text("""
        SELECT ST_Length(ST_GeometryN(ST_LineMerge(geom), 1)::geography) / 2 / ST_Length(geom::geography)
        FROM boundary_line_versions WHERE line_id = :id AND valid_to IS NULL"""), {"id": ctx["line_id"]}).scalar_one()
    assert patrol_result["coverage"] == pytest.approx(half, abs=0.02)  # half of the walked part of the line
    assert session.execute(text("SELECT patrolled_by, coverage FROM boundary_patrols WHERE id = :i"),
                           {"i": patrol_result["id"]}).one()[0] == "patrol_team_1"
    assert issue["kind"] == "risk" and issue["line_id"] == ctx["line_id"]
    after = _counts(session)
    grew = {t: after[t] - before[t] for t in COUNTED}
    assert grew["boundary_patrols"] == 1 and grew["field_changes"] == 4
    assert grew["field_attachments"] == 1 and grew["field_attachment_links"] == 1 and visit["attachments"]
    assert grew["boundary_issues"] == 3  # damaged, displacement, risk

    # The same queue again (the phone lost the answer), the photo uploaded again: same results, nothing written.
    assert client.post("/api/v1/field/attachments", files={"file": ("p.jpg", buf.getvalue(), "image/jpeg")},
                       headers=patrol).status_code == 200
    again = client.post("/api/v1/field/sync", json={"device": "phone-1", "changes": changes}, headers=patrol).json()
    assert [x["status"] for x in again["results"]] == ["applied"] * 4 and again["replayed"] == 4
    assert again["applied"] == 0
    assert [x["result"] for x in again["results"]] == [x["result"] for x in out["results"]]
    assert _counts(session) == after
    print(f"\nsync: first upload added rows {grew}; the replay added none")

    # The same change id with other content is refused, not applied.
    other = {**changes[0], "data": {**changes[0]["data"], "note": "另一条"}}
    bad = client.post("/api/v1/field/sync", json={"changes": [other]}, headers=patrol).json()["results"][0]
    assert bad["status"] == "rejected" and bad["error"]["code"] == "idempotency_mismatch"
    assert _counts(session) == after


def test_a_conflicting_marker_edit_is_reported_not_overwritten(client: TestClient, demo: dict[str, Any],
                                                               login: Login, session: Session) -> None:
    team_a, team_b = login("patrol"), login("patrol")
    doc = _package(client, team_a, code="340122", level="county", zooms=[8, 8])
    marker = doc["markers"]["features"][3]
    marker_no, base = marker["id"], marker["properties"]["etag"]
    # Team B changes the marker on line while team A is offline.
    r = client.patch(f"/api/v1/boundary-markers/{marker_no}", json={"reason": "B 组巡查", "status": "missing"},
                     headers={**team_b, "If-Match": base})
    assert r.status_code == 200, r.text
    theirs = r.headers["etag"]
    before = _counts(session)
    out = client.post("/api/v1/field/sync", headers=team_a, json={"changes": [
        {"change_id": _cid(), "kind": "marker_visit", "base_etag": base,
         "data": {"marker_no": marker_no, "status": "intact", "note": "A 组：完好"}},
        {"change_id": _cid(), "kind": "issue", "data": {"line_id": marker["properties"]["line_id"], "kind": "other",
                                                        "description": "独立的一条"}},
    ]}).json()
    conflict, independent = out["results"]
    assert conflict["status"] == "conflict" and out["conflicts"] == 1
    c = conflict["conflict"]
    assert c["base_etag"] == base and c["etag"] == theirs and c["current"]["properties"]["status"] == "missing"
    assert c["mine"]["status"] == "intact" and c["message_zh"]
    assert independent["status"] == "applied"  # one conflict does not stop the rest of the queue
    row = session.execute(text("SELECT status, note FROM boundary_markers WHERE marker_no = :m"),
                          {"m": marker_no}).one()
    assert row.status == "missing" and row.note != "A 组：完好"
    after = _counts(session)
    assert after["field_changes"] == before["field_changes"] + 1  # the conflict is not stored
    # The user keeps theirs ... or resends on the current version: then it applies.
    out = client.post("/api/v1/field/sync", headers=team_a, json={"changes": [
        {"change_id": _cid(), "kind": "marker_visit", "base_etag": theirs,
         "data": {"marker_no": marker_no, "status": "intact", "note": "A 组：完好"}}]}).json()
    assert out["results"][0]["status"] == "applied"
    assert session.execute(text("SELECT status FROM boundary_markers WHERE marker_no = :m"),
                           {"m": marker_no}).scalar_one() == "intact"


def test_bad_changes_are_rejected_one_by_one(client: TestClient, demo: dict[str, Any], login: Login,
                                             session: Session) -> None:
    patrol = login("patrol")
    doc = _package(client, patrol, code="340122", level="county", zooms=[8, 8])
    marker = doc["markers"]["features"][0]
    poor = [[117.3, 31.9, None, 500], [117.31, 31.9, None, 500]]  # two fixes, both worse than 50 m
    before = _counts(session)
    out = client.post("/api/v1/field/sync", headers=patrol, json={"changes": [
        {"change_id": "short", "kind": "marker_visit", "data": {}},
        {"change_id": _cid(), "kind": "marker_visit", "data": {"marker_no": marker["id"], "status": "damaged"}},
        {"change_id": _cid(), "kind": "marker_visit", "base_etag": marker["properties"]["etag"],
         "data": {"marker_no": marker["id"], "status": "broken"}},
        {"change_id": _cid(), "kind": "patrol", "data": {"line_id": marker["properties"]["line_id"], "track": poor}},
        {"change_id": _cid(), "kind": "attach", "data": {"kind": "marker", "key": marker["id"], "sha256": "a" * 64}},
    ]}).json()
    assert [x["status"] for x in out["results"]] == ["rejected"] * 5
    errors = [x["error"] for x in out["results"]]
    assert errors[0]["field"] == "changes.0.change_id"
    assert errors[1]["code"] == "precondition_required"
    assert errors[2]["field"] == "data.status" and errors[2]["message_zh"]
    assert errors[3]["field"] == "data.track"
    assert errors[4]["code"] == "not_found"
    assert _counts(session) == before
    r = client.post("/api/v1/field/sync", headers=login("viewer"), json={"changes": []})
    assert r.status_code == 403
