"""Issue 14, boundaries: only records that can be true.

Past events (inspections, patrols, surveys, marker installs, signatures, filings, resolutions) are not dated
after today in the bureau's time zone (rule T1, domain.md); a planned next inspection has its own field. An open
issue of the same marker and problem is updated, not opened again; signatures already recorded count at filing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.boundaries.demo import load_demo_boundaries

Login = Callable[..., dict[str, str]]
LINE = "C340122-340181"  # line 0013: Feidong – Chaohu
GEOD = Geod(ellps="GRS80")


@pytest.fixture
def demo(session: Session) -> dict[str, Any]:
    out = load_demo_boundaries(session)
    session.commit()  # releases a savepoint only
    return out


def _today() -> dt.date:
    return clock.today()


def _tomorrow() -> str:
    return (_today() + dt.timedelta(days=1)).isoformat()


def _inspection(on: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "line_id": LINE, "inspected_on": on, "kind": "periodic",
        "team_left": {"unit": "肥东县民政局", "leader": "王"}, "team_right": {"unit": "巢湖市民政局", "leader": "陈"},
        "findings": [{"marker_no": "0013002Q", "present": True, "damaged": True},
                     {"marker_no": "0013004Q", "present": False}],
        "signatures": [{"side": "left", "name": "王", "signed_on": on}],
    }
    body.update(over)
    return body


def _line(client: TestClient) -> dict[str, Any]:
    r = client.get(f"/api/v1/boundaries/{LINE}")
    assert r.status_code == 200, r.text
    return dict(r.json()["properties"])


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["rule"] == "T1" and err["field"] == field, err
    assert err["message_zh"] and err["message"] and err["message"] != err["message_zh"]


def test_future_inspection_is_refused_and_moves_nothing(client: TestClient, demo: dict[str, Any],
                                                        login: Login) -> None:
    h = login("patrol")
    before = _line(client)
    report = client.get("/api/v1/boundaries/report", params={"format": "json"}).json()
    status = next(x["inspection"] for x in report["lines"] if x["line_id"] == LINE)
    r = client.post("/api/v1/boundary-inspections", json=_inspection(_tomorrow()), headers=h)
    _refused(r, "inspected_on")
    after = _line(client)
    assert after["last_inspection_on"] == before["last_inspection_on"]
    assert after["next_inspection_due"] == before["next_inspection_due"]
    assert client.get("/api/v1/boundary-markers/0013004Q").json()["properties"]["status"] != "missing"
    report = client.get("/api/v1/boundaries/report", params={"format": "json"}).json()
    assert next(x["inspection"] for x in report["lines"] if x["line_id"] == LINE) == status
    # A signature dated after today is refused too (it records a past event).
    later = _inspection(_today().isoformat(), signatures=[{"side": "left", "name": "王", "signed_on": _tomorrow()}])
    _refused(client.post("/api/v1/boundary-inspections", json=later, headers=h), "signatures.0.signed_on")


def test_a_planned_next_inspection_has_its_own_field(client: TestClient, demo: dict[str, Any],
                                                     login: Login) -> None:
    h = login("patrol")
    today = _today()
    planned = today.replace(year=today.year + 5).isoformat() if not (today.month == 2 and today.day == 29) \
        else (today + dt.timedelta(days=5 * 365)).isoformat()
    r = client.post("/api/v1/boundary-inspections", headers=h,
                    json=_inspection(today.isoformat(), next_inspection_planned_on=planned))
    assert r.status_code == 201, r.text
    line = _line(client)
    assert line["last_inspection_on"] == today.isoformat()
    assert line["next_inspection_planned_on"] == planned
    # The plan can be moved later through the line record; a past inspection date cannot be in the future.
    tag = client.get(f"/api/v1/boundaries/{LINE}").headers["ETag"]
    bad = client.patch(f"/api/v1/boundaries/{LINE}", json={"last_inspection_on": _tomorrow(), "reason": "x"},
                       headers={**h, "If-Match": tag})
    _refused(bad, "last_inspection_on")
    ok = client.patch(f"/api/v1/boundaries/{LINE}", json={"next_inspection_planned_on": _tomorrow(), "reason": "plan"},
                      headers={**h, "If-Match": tag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["properties"]["next_inspection_planned_on"] == _tomorrow()


def _gpx(points: list[tuple[float, float]], when: str, waypoints: tuple[tuple[str, float, float], ...] = ()) -> bytes:
    wpts = "".join(f'<wpt lat="{y!r}" lon="{x!r}"><name>{n}</name></wpt>' for n, x, y in waypoints)
    pts = "".join(f'<trkpt lat="{y!r}" lon="{x!r}"><time>{when}T0{i % 10}:00:00Z</time></trkpt>'
                  for i, (x, y) in enumerate(points))
    return (f'<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
            f"{wpts}<trk><trkseg>{pts}</trkseg></trk></gpx>").encode()


def _markers(client: TestClient) -> dict[str, list[float]]:
    fc = client.get("/api/v1/boundary-markers", params={"line_id": LINE}).json()
    return {f["properties"]["marker_no"]: f["geometry"]["coordinates"] for f in fc["features"]}


def test_future_patrols_surveys_and_resolutions_are_refused(client: TestClient, demo: dict[str, Any],
                                                            login: Login) -> None:
    h = login("patrol")
    markers = _markers(client)
    track = cast(list[tuple[float, float]], [tuple(markers["0013001Q"]), tuple(markers["0013002Q"])])
    files = {"file": ("p.gpx", _gpx(track, "2024-05-01"), "application/gpx+xml")}
    r = client.post("/api/v1/boundary-patrols", data={"line_id": LINE, "patrolled_on": _tomorrow()},
                    files=files, headers=h)
    _refused(r, "patrolled_on")
    # No date given: the track's own time stamps date it, and they cannot be in the future either.
    future = (_today() + dt.timedelta(days=3)).isoformat()
    r = client.post("/api/v1/boundary-patrols", data={"line_id": LINE},
                    files={"file": ("p.gpx", _gpx(track, future), "application/gpx+xml")}, headers=h)
    _refused(r, "patrolled_on")
    # Marker register: a survey and an erection are past events.
    x, y = markers["0013001Q"]
    body = {"marker_no": "0013901Q", "line_id": LINE, "lon": x + 0.001, "lat": y, "survey_method": "GNSS-RTK",
            "precision_m": 0.05, "valid_from": "2024-01-01", "reason": "survey", "surveyed_on": _tomorrow()}
    _refused(client.post("/api/v1/boundary-markers", json=body, headers=h), "surveyed_on")
    body.update(surveyed_on="2024-01-01", valid_from=_tomorrow())
    _refused(client.post("/api/v1/boundary-markers", json=body, headers=h), "valid_from")
    body.update(valid_from="2024-01-01", photos=[{"ref": "a.jpg", "taken_on": _tomorrow()}])
    _refused(client.post("/api/v1/boundary-markers", json=body, headers=h), "photos.0.taken_on")
    tag = client.get("/api/v1/boundary-markers/0013001Q").headers["ETag"]
    _refused(client.patch("/api/v1/boundary-markers/0013001Q", json={"surveyed_on": _tomorrow(), "reason": "x"},
                          headers={**h, "If-Match": tag}), "surveyed_on")
    # Resolving an issue and filing a record are past events too.
    insp = client.post("/api/v1/boundary-inspections", headers=h, json=_inspection("2026-04-10"))
    assert insp.status_code == 201, insp.text
    issue = insp.json()["issues"][0]
    resolve = {"resolved_on": _tomorrow(), "resolution": "修复"}
    _refused(client.post(f"/api/v1/boundary-issues/{issue['id']}/resolve", json=resolve,
                         headers={**h, "If-Match": f'"q{issue["id"]}.v{issue["version"]}"'}), "resolved_on")
    filing = {"filed_on": _tomorrow(), "filing_ref": "档案 1",
              "signatures": [{"side": "right", "name": "陈", "signed_on": "2026-04-11"}]}
    _refused(client.post(f"/api/v1/boundary-inspections/{insp.json()['id']}/file", json=filing,
                         headers={**h, "If-Match": insp.headers["ETag"]}), "filed_on")


def _open_issues(client: TestClient, marker_no: str) -> list[dict[str, Any]]:
    issues = client.get("/api/v1/boundary-issues", params={"line_id": LINE, "status": "open"}).json()
    return [i for i in issues if i["marker_no"] == marker_no]


def test_a_repeated_finding_updates_the_open_issue(client: TestClient, demo: dict[str, Any], login: Login) -> None:
    h = login("patrol")
    first = client.post("/api/v1/boundary-inspections", headers=h, json=_inspection("2026-04-10"))
    assert first.status_code == 201, first.text
    second = client.post("/api/v1/boundary-inspections", headers=h, json=_inspection("2026-09-01", kind="flood"))
    assert second.status_code == 201, second.text
    damaged = _open_issues(client, "0013002Q")
    missing = _open_issues(client, "0013004Q")
    assert [i["kind"] for i in damaged] == ["marker_damaged"] and [i["kind"] for i in missing] == ["marker_missing"]
    assert damaged[0]["opened_on"] == "2026-04-10" and damaged[0]["last_reported_on"] == "2026-09-01"
    assert damaged[0]["reports"] == 2
    report = client.get("/api/v1/boundaries/report", params={"format": "json"}).json()
    row = next(x for x in report["lines"] if x["line_id"] == LINE)
    assert row["issues_by_kind"]["marker_damaged"] == 1 and row["issues_by_kind"]["marker_missing"] == 1
    # Once resolved, the same problem found again is a new issue.
    issue = damaged[0]
    done = client.post(f"/api/v1/boundary-issues/{issue['id']}/resolve", headers={
        **h, "If-Match": f'"q{issue["id"]}.v{issue["version"]}"'}, json={"resolved_on": "2026-09-02",
                                                                           "resolution": "修复"})
    assert done.status_code == 200, done.text
    third = client.post("/api/v1/boundary-inspections", headers=h, json=_inspection("2026-10-01", kind="works"))
    assert third.status_code == 201, third.text
    again = _open_issues(client, "0013002Q")
    assert len(again) == 1 and again[0]["id"] != issue["id"] and again[0]["opened_on"] == "2026-10-01"


def test_a_repeated_displacement_alert_updates_the_open_issue(client: TestClient, demo: dict[str, Any],
                                                              login: Login) -> None:
    h = login("patrol")
    markers = _markers(client)
    q1, q2, q3 = sorted(m for m in markers if m.endswith("Q"))[:3]
    lon, lat = markers[q3]
    track = cast(list[tuple[float, float]], [tuple(markers[q1]), tuple(markers[q2])])
    ids = []
    for on, metres in (("2024-05-02", 9.0), ("2024-06-02", 11.0)):
        moved = GEOD.fwd(lon, lat, 90, metres)[:2]
        gpx = _gpx(track, on, ((q3, moved[0], moved[1]),))
        r = client.post("/api/v1/boundary-patrols", data={"line_id": LINE},
                        files={"file": ("p.gpx", gpx, "application/gpx+xml")}, headers=h)
        assert r.status_code == 201, r.text
        ids.append(r.json()["displacement_alerts"][0]["issue_id"])
    assert ids[0] == ids[1]
    issues = _open_issues(client, q3)
    assert len(issues) == 1 and issues[0]["kind"] == "displacement"
    assert issues[0]["distance_m"] == pytest.approx(11.0, abs=0.01) and issues[0]["last_reported_on"] == "2024-06-02"


def test_filing_counts_the_signatures_already_recorded(client: TestClient, demo: dict[str, Any],
                                                       login: Login) -> None:
    h = login("patrol")
    insp = client.post("/api/v1/boundary-inspections", headers=h, json=_inspection("2026-04-10"))
    assert insp.status_code == 201, insp.text
    url = f"/api/v1/boundary-inspections/{insp.json()['id']}/file"
    # Neither side's signature in the request, and only the left one recorded: still refused.
    missing = client.post(url, json={"filed_on": "2026-04-20", "filing_ref": "档案 1"},
                          headers={**h, "If-Match": insp.headers["ETag"]})
    assert missing.status_code == 422 and missing.json()["field"] == "signatures"
    filing = {"filed_on": "2026-04-20", "filing_ref": "档案 1",
              "signatures": [{"side": "right", "name": "陈", "signed_on": "2026-04-11"}]}
    r = client.post(url, json=filing, headers={**h, "If-Match": insp.headers["ETag"]})
    assert r.status_code == 200, r.text
    sides = {s["side"]: s["name"] for s in r.json()["signatures"]}
    assert sides == {"left": "王", "right": "陈"} and r.json()["filed_on"] == "2026-04-20"


def test_an_inspection_counts_only_from_its_date(client: TestClient, demo: dict[str, Any], login: Login) -> None:
    """As of a date before an inspection, the line and the report do not show it (it had not happened yet)."""
    h = login("patrol")
    assert client.post("/api/v1/boundary-inspections", headers=h, json=_inspection("2026-04-10")).status_code == 201
    assert _line(client)["last_inspection_on"] == "2026-04-10"
    before = client.get(f"/api/v1/boundaries/{LINE}", params={"as_of": "2025-06-01"}).json()["properties"]
    assert before["last_inspection_on"] is None or before["last_inspection_on"] < "2025-06-01"
    assert before["next_inspection_due"] != "2031-04-10"
    report = client.get("/api/v1/boundaries/report", params={"format": "json", "as_of": "2025-06-01"}).json()
    row = next(x for x in report["lines"] if x["line_id"] == LINE)
    assert row["last_inspection_on"] == before["last_inspection_on"]
    assert row["next_inspection_due"] == before["next_inspection_due"]
