"""Boundary patrol journey: pick a line → markers with status, inspections and due date → record a joint
inspection → upload a GPX track along part of the line → share covered and the displaced marker."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from gis_api import clock
from tests.browser.conftest import Live, PageRun


def _metres(a: list[float], b: list[float]) -> float:
    """Haversine on the CGCS2000/WGS84 mean radius: good to well under 1% over a few kilometres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def _length(coords: list[list[float]]) -> float:
    return sum(_metres(coords[i], coords[i + 1]) for i in range(len(coords) - 1))


def _gpx(track: list[list[float]], waypoints: list[tuple[str, float, float]]) -> bytes:
    pts = "".join(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"></trkpt>' for lon, lat in track)
    wpts = "".join(f'<wpt lat="{lat:.7f}" lon="{lon:.7f}"><name>{name}</name></wpt>' for name, lon, lat in waypoints)
    return (f'<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="diming-test" '
            f'xmlns="http://www.topografix.com/GPX/1/1">{wpts}<trk><name>patrol</name><trkseg>{pts}</trkseg></trk>'
            f"</gpx>").encode()


def _pick_line(live: Live) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with live.client() as c:
        lines = c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
        usable = sorted(
            (f for f in lines if 3 <= f["properties"]["markers"] <= 8 and len(f["geometry"]["coordinates"]) == 1),
            key=lambda f: f["properties"]["line_no"])
        if not usable:
            pytest.skip("the boundaries demo has no county line with 3–8 markers")
        line = c.get(f"/api/v1/boundaries/{usable[0]['properties']['line_id']}").json()
        found = c.get("/api/v1/boundary-markers", params={"line_id": line["properties"]["line_id"]})
        markers = found.json()["features"]
    return line, markers


def test_patrol_inspection_and_gpx(run: PageRun, live: Live) -> None:
    if not (live.has("/api/v1/boundaries") and live.has("/api/v1/boundary-patrols")):
        pytest.skip("the boundaries API is not wired into the app")
    line, markers = _pick_line(live)
    line_id = line["properties"]["line_id"]
    page = run.page
    run.open()
    assert page.is_hidden("#tab-patrol")
    run.login("zhao")
    page.click("#tab-patrol")
    page.click(f'#line-list li[data-line="{line_id}"] button')
    page.wait_for_selector("#line-title")
    assert line["properties"]["name"] in page.inner_text("#line-title")
    rows = page.locator("#marker-table tbody tr")
    assert rows.count() == len(markers)
    status_zh = {"intact": "完好", "damaged": "损坏", "moved": "移位", "missing": "丢失"}
    for m in markers:
        row = page.locator(f'#marker-table tr[data-marker="{m["properties"]["marker_no"]}"]')
        assert status_zh[m["properties"]["status"]] in row.inner_text()
    due = line["properties"]["next_inspection_due"]
    assert due in page.inner_text("#line-due")
    run.shot("patrol_line")

    # Record a joint inspection: the second marker found damaged, one dispute.
    second = markers[1]["properties"]["marker_no"]
    page.click("#inspection-details summary")
    page.check(f'input[name="damaged:{second}"]')
    page.fill("#insp-disputes", "界桩附近新修机耕路，需双方确认")
    run.shot("patrol_inspection_form")
    page.click("#btn-inspection")
    page.wait_for_selector("#inspection-list li")
    today = clock.today()
    assert today.isoformat() in page.inner_text("#inspection-list")
    # The line is inspected today, so the next joint inspection is due in five years.
    assert str(today.year + 5) in page.inner_text("#line-due")
    with live.client() as c:
        recorded = c.get("/api/v1/boundary-inspections", params={"line_id": line_id}).json()
        detail = c.get(f"/api/v1/boundary-inspections/{recorded[0]['id']}").json()
    assert recorded[0]["inspected_on"] == today.isoformat() and recorded[0]["findings"] == len(markers)
    assert [f["marker_no"] for f in detail["findings"] if f["damaged"]] == [second]
    assert detail["disputes"][0]["description"].startswith("界桩附近")

    # A GPX track along the first part of the line, with one marker re-surveyed 30 m north of its register.
    coords = line["geometry"]["coordinates"][0]
    cut = max(2, len(coords) * 2 // 5)
    track = coords[:cut]
    expected = _length(track) / _length(coords)
    first = markers[0]
    lon, lat = first["geometry"]["coordinates"]
    gpx = _gpx(track, [(first["properties"]["marker_no"], lon, lat + 30 / 111_195)])
    page.set_input_files("#gpx-file", files=[{"name": "patrol.gpx", "mimeType": "application/gpx+xml", "buffer": gpx}])
    page.click("#btn-gpx")
    page.wait_for_selector("#gpx-share")
    shown = float(re.sub(r"[^0-9.]", "", page.inner_text("#gpx-share"))) / 100
    assert abs(shown - expected) < 0.03, (shown, expected)
    displaced = page.inner_text("#displaced")
    assert first["properties"]["marker_no"] in displaced
    assert re.search(r"(29|30|31)(\.\d+)? m", displaced), displaced
    page.locator("#gpx-result").scroll_into_view_if_needed()
    run.shot("patrol_gpx")
    assert run.errors == []
    assert run.outside() == [], run.outside()
