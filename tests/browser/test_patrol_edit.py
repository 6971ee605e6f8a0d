"""Boundary patrol edits on the map: drag a marker to its measured position and save it (audited, version bumped);
set a marker's status while another team edits it (412 → the merge dialog, nothing overwritten); record an
inspection and file issues from the line view; the line and marker lists follow the map's view; a half-filled
form survives a language switch. Each test works on a line of its own (test_patrol.py uses line 0005)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from shapely.geometry import box, shape
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.db import CONNECTION_OPTIONS
from gis_api.settings import Settings
from tests.browser.conftest import PASSWORD, Live, PageRun

OTHER_TEAM = "qin"  # a second patrol account: the other team whose save collides with zhao's


def _metres(a: list[float], b: list[float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def other_team(browser_settings: Settings, live: Live) -> Iterator[str]:
    engine = create_engine(str(browser_settings.db.database_url), connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        if auth.find_user(session, OTHER_TEAM) is None:
            auth.create_user(session, OTHER_TEAM, PASSWORD, ["patrol"])
            session.commit()
    engine.dispose()
    yield OTHER_TEAM


def _line(live: Live, line_no: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not (live.has("/api/v1/boundaries") and live.has("/api/v1/boundary-markers")):
        pytest.skip("the boundaries API is not wired into the app")
    with live.client() as c:
        lines = c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
        found = [f for f in lines if f["properties"]["line_no"] == line_no and f["properties"]["markers"] >= 4]
        if not found:
            pytest.skip(f"the boundaries demo has no county line {line_no} with markers")
        line_id = found[0]["properties"]["line_id"]
        line = c.get(f"/api/v1/boundaries/{line_id}").json()
        markers = c.get("/api/v1/boundary-markers", params={"line_id": line_id}).json()["features"]
    return line, markers


def _marker(live: Live, no: str) -> dict[str, Any]:
    with live.client() as c:
        r = c.get(f"/api/v1/boundary-markers/{no}")
        r.raise_for_status()
        return dict(r.json())


def _open_line(run: PageRun, line_id: str) -> None:
    page = run.page
    run.open()
    run.login("zhao")
    page.click("#tab-patrol")
    page.click(f'#line-list li[data-line="{line_id}"] button')
    page.wait_for_selector("#line-title")
    page.wait_for_selector(".patrol-actions")


def _type_position(page: Any, registered: list[float]) -> None:
    """Type a measured position about 70 m east and north of the registered one."""
    page.fill("#mm-lonlat", f"{registered[0] + 0.0006:.7f}, {registered[1] + 0.0004:.7f}")


DRAG = (60, -40)  # the drag on the map, in CSS pixels: right and up (72 px)


def _view(page: Any) -> dict[str, float]:
    return dict(page.evaluate("""() => { const m = window.dimingMap, c = m.getCenter();
      return { zoom: m.getZoom(), lat: c.lat, lon: c.lng }; }"""))


def _dropped_at(registered: list[float], zoom: float, dx: float, dy: float) -> list[float]:
    """Where a drag of (dx, dy) px from ``registered`` lands at ``zoom``: Web Mercator, 256 px tiles."""
    world = 256 * 2**zoom
    lon, lat = registered
    x = (lon + 180) / 360 * world + dx
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * world + dy
    return [x / world * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / world))))]


def _drag_ring(page: Any, registered: list[float]) -> None:
    """Drag the ring on the map by DRAG, from its centre, in small steps as a hand would."""
    ring = page.locator(".leaflet-marker-icon.patrol-drag")
    b = ring.bounding_box()
    assert b
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    # The ring is drawn where its position is on the map, so a press where it is seen takes it.
    at = page.evaluate("""([lat, lon]) => { const m = window.dimingMap, p = m.latLngToContainerPoint([lat, lon]);
      const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""",
                       [registered[1], registered[0]])
    assert abs(x - at[0]) <= 1 and abs(y - at[1]) <= 1, ((x, y), at)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + DRAG[0] * i / 10, y + DRAG[1] * i / 10)
    page.mouse.up()


def _pan_to_ring(page: Any, registered: list[float]) -> None:
    """Reach the ring as a user dragging the map does: from a view more than a screen south of it (Leaflet resets
    its layer origin there), panned north in steps of less than a screen (a longer step would reset it again)."""
    page.evaluate("""([lat, lon]) => { const m = window.dimingMap, z = m.getZoom();
      m.setView(m.unproject(m.project([lat, lon], z).add([0, 1500]), z), z, { animate: false });
      for (let i = 0; i < 5; i++) m.panBy([0, -300], { animate: false }); }""", [registered[1], registered[0]])


@pytest.mark.parametrize(("how", "index"), [
    pytest.param("typed", 0, id="typed"),
    pytest.param("drag", 1, id="drag"),
    # The ring reached by panning: its layer y (Leaflet's z-index for a marker) is negative. In the points pane
    # that put it under the line's marker circles, which took the mouse (the map panned, the ring stayed).
    pytest.param("drag-panned", 2, id="drag-panned"),
])
def test_marker_move(run: PageRun, live: Live, retry: Callable[..., Any], how: str, index: int) -> None:
    line, markers = _line(live, "0011")
    line_id = line["properties"]["line_id"]
    target = markers[index]
    no = target["properties"]["marker_no"]
    before = _marker(live, no)
    registered = before["geometry"]["coordinates"]
    page = run.page
    _open_line(run, line_id)
    page.click(f'#marker-table tr[data-marker="{no}"] button.act-move')
    page.wait_for_selector(f'#marker-move-form[data-ready="{no}"]')
    assert page.input_value("#mm-lonlat") == f"{registered[0]:.7f}, {registered[1]:.7f}"
    # The form shows the ring at a zoom fit for placing it (about 1 m a pixel), centred, whatever the line view's
    # own zoom animation was doing when the form opened.
    view = _view(page)
    assert view["zoom"] >= 17, view
    assert _metres(registered, [view["lon"], view["lat"]]) < 1, view
    if how == "drag-panned":
        _pan_to_ring(page, registered)
        z = page.evaluate("() => Number(document.querySelector('.leaflet-marker-icon.patrol-drag').style.zIndex)")
        assert z < 0, z  # the case this param is for

    # Drag the ring on the map, or type the position: the measured position and its distance follow.
    if how == "typed":
        _type_position(page, registered)
        expected = [registered[0] + 0.0006, registered[1] + 0.0004]
    else:
        at = _view(page)
        _drag_ring(page, registered)
        assert _view(page) == at  # no zoom and no pan (autoPan) during the drag: the pixels mean what they meant
        expected = _dropped_at(registered, at["zoom"], *DRAG)
    page.wait_for_function("(v) => document.querySelector('#mm-lonlat').value !== v",
                           arg=f"{registered[0]:.7f}, {registered[1]:.7f}")
    lon, lat = (float(v) for v in page.input_value("#mm-lonlat").split(","))
    assert lon > registered[0] and lat > registered[1]  # moved right and up: east and north
    # Where it was dropped: the distance as the drag's pixels at the map's zoom make it (a drag of 72 px at zoom 17
    # is about 73 m here, at the line view's zoom 13 it would be 1,170 m), and the point itself, within 3 %.
    moved, meant = _metres(registered, [lon, lat]), _metres(registered, expected)
    assert abs(moved - meant) <= 0.03 * meant, (moved, meant)
    assert _metres([lon, lat], expected) <= 0.03 * meant, ([lon, lat], expected)
    shown = float(page.get_attribute("#mm-distance", "data-metres") or "nan")
    assert abs(shown - moved) < 0.05 + 0.002 * moved, (shown, moved)
    assert f"{shown:.2f} m" in page.inner_text("#mm-distance")
    page.fill("#mm-reason", "GNSS复测：坐标更正")
    run.shot(f"patrol-marker-{how}-{index}")
    # A relocation needs both sides and the agreement (domain.md §5): refused, the form says why, nothing saved.
    page.check('#marker-move-form input[name="mode"][value="relocation"]')
    page.click("#btn-marker-move")
    page.wait_for_selector("#marker-move-form .error:has-text('双方在场')")
    assert _marker(live, no)["properties"]["version"] == before["properties"]["version"]
    page.check('#marker-move-form input[name="mode"][value="correction"]')
    page.click("#btn-marker-move")
    page.wait_for_selector("#marker-move-form", state="detached")
    page.wait_for_selector(".leaflet-marker-icon.patrol-drag", state="detached")

    # Saved: the position, the survey, one version up, and an audit entry by zhao with the reason.
    v0 = before["properties"]["version"]
    after = retry(lambda: (m := _marker(live, no))["properties"]["version"] == v0 + 1 and m)
    assert after, "the move was not committed"
    assert after["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-7)
    assert after["properties"]["survey_method"] == "GNSS-RTK"
    assert after["properties"]["precision_m"] == pytest.approx(0.05)
    assert after["properties"]["surveyed_on"] == clock.today().isoformat()
    with live.client() as c:
        changes = c.get(f"/api/v1/boundary-markers/{no}/history").json()["changes"]
    last = changes[-1]
    assert (last["actor"], last["reason"], last["version"]) == ("zhao", "GNSS复测：坐标更正", v0 + 1)
    assert "geom" in (last["changed"] or [])
    # The table shows the server's new distance from the line.
    row = page.locator(f'#marker-table tr[data-marker="{no}"]')
    page.wait_for_function(
        "([no, d]) => document.querySelector(`#marker-table tr[data-marker='${no}']`).innerText.includes(d)",
        arg=[no, f"{float(after['properties']['distance_to_line_m']):,.3f}".rstrip("0").rstrip(".")])
    assert row.is_visible()
    run.shot(f"patrol-marker-moved-{how}-{index}")
    assert run.errors == []
    assert run.outside() == [], run.outside()


def test_marker_status_conflict(run: PageRun, live: Live, other_team: str, retry: Callable[..., Any]) -> None:
    line, markers = _line(live, "0008")
    line_id = line["properties"]["line_id"]
    intact = [m for m in markers if m["properties"]["status"] == "intact"]
    assert intact, "line 0008 has no intact marker"
    no = intact[0]["properties"]["marker_no"]
    v0 = _marker(live, no)["properties"]["version"]
    page = run.page
    _open_line(run, line_id)
    page.click(f'#marker-table tr[data-marker="{no}"] button.act-status')
    page.wait_for_selector(f'#marker-status-form[data-ready="{no}"]')
    assert page.input_value("#ms-status") == "intact"
    page.select_option("#ms-status", "damaged")
    page.fill("#ms-note", "桩体裂缝")
    page.fill("#ms-reason", "巡查发现损坏")

    # Meanwhile the other team records the marker missing.
    with live.client(other_team) as qin:
        r = qin.get(f"/api/v1/boundary-markers/{no}")
        r2 = qin.patch(f"/api/v1/boundary-markers/{no}", headers={"If-Match": r.headers["ETag"]},
                       json={"status": "missing", "note": "汛后未找到", "reason": "汛后巡查"})
        assert r2.status_code == 200, r2.text
    assert retry(lambda: _marker(live, no)["properties"]["version"] == v0 + 1)

    page.click("#btn-marker-status")
    dialog = page.wait_for_selector("#conflict-dialog[open]")
    rows = {r.get_attribute("data-field"): r for r in page.query_selector_all("#conflict-dialog tr.conflict-row")}
    assert set(rows) == {"status", "note"}
    for field in ("status", "note"):
        assert "both" in (rows[field].get_attribute("class") or "")
        assert rows[field].query_selector('input[value="mine"]').is_checked()
    assert "损坏" in rows["status"].inner_text() and "丢失" in rows["status"].inner_text()
    assert "桩体裂缝" in rows["note"].inner_text() and "汛后未找到" in rows["note"].inner_text()
    assert no in page.inner_text("#conflict-title")
    page.wait_for_function(f"() => document.querySelector('#conflict-who').textContent.includes('{other_team}')")
    run.shot("patrol-status-conflict")
    assert dialog.is_visible()
    # Nothing was overwritten: the other team's save stands until zhao merges.
    now = _marker(live, no)["properties"]
    assert (now["status"], now["note"], now["version"]) == ("missing", "汛后未找到", v0 + 1)

    # Merge: my status, their note.
    rows["note"].query_selector('input[value="theirs"]').check()
    page.click("#btn-merge-save")
    page.wait_for_selector("#conflict-dialog", state="hidden")
    merged = retry(lambda: (m := _marker(live, no)["properties"])["version"] == v0 + 2 and m)
    assert merged, "the merge was not committed"
    assert (merged["status"], merged["note"]) == ("damaged", "汛后未找到")
    with live.client() as c:
        changes = c.get(f"/api/v1/boundary-markers/{no}/history").json()["changes"]
    assert [(x["actor"], x["version"]) for x in changes[-2:]] == [(other_team, v0 + 1), ("zhao", v0 + 2)]
    page.wait_for_selector(f'#marker-table tr[data-marker="{no}"] td.status:has-text("损坏")')
    run.shot("patrol-status-merged")
    assert run.errors == []
    assert run.outside() == [], run.outside()


def test_inspection_from_line_view(run: PageRun, live: Live) -> None:
    line, markers = _line(live, "0015")
    line_id = line["properties"]["line_id"]
    intact = [m for m in markers if m["properties"]["status"] == "intact"]
    assert intact
    no = intact[0]["properties"]["marker_no"]
    today = clock.today().isoformat()
    page = run.page
    _open_line(run, line_id)
    page.click("#btn-open-inspection")
    assert page.is_visible("#insp-date") and page.input_value("#insp-date") == today
    page.select_option("#insp-kind", "flood")
    page.check(f'input[name="moved:{no}"]')
    page.fill("#insp-note", "汛后联合检查")
    run.shot("patrol-inspection-form")
    page.click("#btn-inspection")
    page.wait_for_selector(f"#inspection-list li:has-text('{today}'):has-text('汛后检查')")
    page.wait_for_selector(f'#marker-table tr[data-marker="{no}"] td.status:has-text("移位")')
    page.wait_for_selector(f'#issue-list li[data-kind="marker_moved"][data-marker="{no}"]')
    with live.client() as c:
        recorded = c.get("/api/v1/boundary-inspections", params={"line_id": line_id}).json()
        issues = c.get("/api/v1/boundary-issues", params={"line_id": line_id, "status": "open"}).json()
    assert (recorded[0]["inspected_on"], recorded[0]["kind"], recorded[0]["findings"]) == (today, "flood", len(markers))
    assert [i["marker_no"] for i in issues if i["kind"] == "marker_moved"] == [no]
    assert _marker(live, no)["properties"]["status"] == "moved"
    run.shot("patrol-inspection-recorded")
    assert run.errors == []


def test_issue_from_line_view(run: PageRun, live: Live) -> None:
    line, markers = _line(live, "0016")
    line_id = line["properties"]["line_id"]
    intact = [m for m in markers if m["properties"]["status"] == "intact"]
    assert intact
    no = intact[-1]["properties"]["marker_no"]
    page = run.page
    _open_line(run, line_id)
    with live.client() as c:
        before = len(c.get("/api/v1/boundary-inspections", params={"line_id": line_id}).json())

    # A damaged marker, from its row.
    page.click(f'#marker-table tr[data-marker="{no}"] button.act-issue')
    page.wait_for_selector("#issue-form")
    assert page.input_value("#is-marker") == no and page.input_value("#is-problem") == "damaged"
    assert page.input_value("#is-date") == clock.today().isoformat()
    page.fill("#is-description", "桩顶缺角")
    run.shot("patrol-issue-form")
    page.click("#btn-issue")
    page.wait_for_selector(f'#issue-list li[data-kind="marker_damaged"][data-marker="{no}"]')
    page.wait_for_selector(f'#marker-table tr[data-marker="{no}"] td.status:has-text("损坏")')
    assert page.query_selector("#issue-form") is None
    # Found again: the open issue is reported once more, not doubled.
    page.click(f'#marker-table tr[data-marker="{no}"] button.act-issue')
    page.fill("#is-description", "桩顶缺角，裂缝扩大")
    page.click("#btn-issue")
    page.wait_for_selector(f'#issue-list li[data-kind="marker_damaged"][data-marker="{no}"]:has-text("已报告 2 次")')
    assert page.locator(f'#issue-list li[data-kind="marker_damaged"][data-marker="{no}"]').count() == 1

    # A dispute for the whole line, from the toolbar: it needs a description.
    page.click("#btn-open-issue")
    page.select_option("#is-problem", "dispute")
    assert page.is_visible("#is-risk")
    page.select_option("#is-risk", "high")
    page.click("#btn-issue")
    assert "说明" in page.inner_text("#issue-form .error")
    page.fill("#is-description", "村民在界线上新建养殖棚，双方意见不一")
    page.click("#btn-issue")
    page.wait_for_selector('#issue-list li[data-kind="dispute"]:has-text("养殖棚")')
    with live.client() as c:
        issues = c.get("/api/v1/boundary-issues", params={"line_id": line_id, "status": "open"}).json()
        recorded = c.get("/api/v1/boundary-inspections", params={"line_id": line_id}).json()
    damaged = [i for i in issues if i["kind"] == "marker_damaged" and i["marker_no"] == no]
    disputes = [i for i in issues if i["kind"] == "dispute" and "养殖棚" in i["description"]]
    assert len(damaged) == 1 and damaged[0]["reports"] == 2
    assert len(disputes) == 1 and disputes[0]["risk"] == "high"
    assert len(recorded) == before + 3 and {r["kind"] for r in recorded[:3]} == {"other"}
    assert _marker(live, no)["properties"]["status"] == "damaged"
    page.locator("#open-issues").scroll_into_view_if_needed()
    run.shot("patrol-issue-filed")
    assert run.errors == []


def _split(features: list[dict[str, Any]], bounds: list[float], key: str) -> tuple[set[str], set[str]]:
    """(clearly in view, possibly in view): a margin of 2% of the view keeps projection rounding out of it."""
    w, s, e, n = bounds
    m = 0.02 * (e - w)
    inner, outer = box(w + m, s + m, e - m, n - m), box(w - m, s - m, e + m, n + m)
    sure = {f["properties"][key] for f in features if inner.intersects(shape(f["geometry"]))}
    maybe = {f["properties"][key] for f in features if outer.intersects(shape(f["geometry"]))}
    return sure, maybe


def _bounds(run: PageRun) -> list[float]:
    return [float(x) for x in run.page.evaluate("() => window.dimingMap.getBounds().toBBoxString()").split(",")]


def test_lists_filter_by_view(run: PageRun, live: Live) -> None:
    line, _ = _line(live, "0013")
    with live.client() as c:
        lines = c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
        markers = c.get("/api/v1/boundary-markers", params={"limit": 5000}).json()["features"]
    page = run.page
    run.open()
    run.login("zhao")
    page.click("#tab-patrol")
    page.wait_for_selector("#line-list")
    assert page.is_checked("#patrol-view-only")  # on by default

    def listed(kind: str) -> set[str]:
        return {x.get_attribute(f"data-{kind}") or "" for x in page.query_selector_all(f"#{kind}-list li")}

    def check(kind: str, features: list[dict[str, Any]], key: str) -> set[str]:
        sure, maybe = _split(features, _bounds(run), key)
        shown = listed(kind)
        assert sure <= shown <= maybe, (sure - shown, shown - maybe)
        return shown

    whole = check("line", lines, "line_id")
    assert whole  # the county's lines, in the first view of the county
    # Zoom to one stretch of line 0013: the list follows on moveend, without a click.
    lon, lat = line["geometry"]["coordinates"][0][len(line["geometry"]["coordinates"][0]) // 2]
    page.evaluate("([lat, lon]) => window.dimingMap.setView([lat, lon], 15, { animate: false })", [lat, lon])
    page.wait_for_function("(n) => document.querySelectorAll('#line-list li').length < n", arg=len(whole))
    near = check("line", lines, "line_id")
    assert line["properties"]["line_id"] in near and len(near) < len(whole)
    assert f"{len(near)} / 共 {len(lines)}" in page.inner_text("#patrol-count")
    run.shot("patrol-lines-in-view")

    # Markers: the same view; then the toggle off lists every one.
    page.check('input[name="list-mode"][value="markers"]')
    page.wait_for_selector("#marker-list")
    shown = check("marker", markers, "marker_no")
    assert shown and len(shown) < len(markers)
    run.shot("patrol-markers-in-view")
    page.evaluate("() => window.dimingMap.setZoom(10, { animate: false })")
    page.wait_for_function("(n) => document.querySelectorAll('#marker-list li').length > n", arg=len(shown))
    check("marker", markers, "marker_no")
    page.uncheck("#patrol-view-only")
    page.wait_for_function("(n) => document.querySelectorAll('#marker-list li').length === n", arg=len(markers))
    assert f"共 {len(markers)}" in page.inner_text("#patrol-count")
    assert run.errors == []


def test_language_switch_keeps_half_filled_forms(run: PageRun, live: Live) -> None:
    line, markers = _line(live, "0003")
    line_id = line["properties"]["line_id"]
    second = markers[1]["properties"]["marker_no"]
    page = run.page
    _open_line(run, line_id)
    page.click("#btn-open-inspection")
    page.select_option("#insp-kind", "works")
    page.check(f'input[name="damaged:{second}"]')
    page.fill(f'input[name="note:{second}"]', "施工碰撞")
    page.fill("#insp-disputes", "新修道路穿越界线")
    page.click("#btn-open-issue")
    page.select_option("#is-problem", "structure")
    page.fill("#is-description", "跨界桥梁待登记")
    page.click("#lang")
    page.wait_for_selector("#inspection-details summary:has-text('Record an inspection')")
    assert page.inner_text("#issue-form h3") == "File an issue"
    assert page.is_visible("#insp-disputes")  # the <details> stayed open
    assert page.input_value("#insp-kind") == "works"
    assert page.is_checked(f'input[name="damaged:{second}"]')
    assert page.input_value(f'input[name="note:{second}"]') == "施工碰撞"
    assert page.input_value("#insp-disputes") == "新修道路穿越界线"
    assert page.input_value("#is-problem") == "structure" and page.is_hidden("#is-risk")
    assert page.input_value("#is-description") == "跨界桥梁待登记"
    run.shot("patrol-language-switch")
    page.click("#lang")  # back to Chinese for the other tests (the choice is kept in localStorage)
    page.wait_for_selector("#inspection-details summary:has-text('登记联检')")
    assert page.input_value("#insp-disputes") == "新修道路穿越界线"
    assert run.errors == []
