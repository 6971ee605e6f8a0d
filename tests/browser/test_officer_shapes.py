"""Officers draw line and area places on the map (a road, a square), reshape them vertex by vertex, and a
concurrent save by someone else opens the merge dialog instead of being overwritten."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser.conftest import Live, PageRun

CENTRE = (31.8864, 117.4571)  # 店埠镇, inside Feidong county


def _map_xy(page: Any, lat: float, lon: float) -> tuple[float, float]:
    """Screen position of a lat/lon on the map (so the test clicks where it means, whatever the layout)."""
    box = page.locator("#map").bounding_box()
    p = page.evaluate("([lat, lon]) => { const p = window.dimingMap.latLngToContainerPoint([lat, lon]);"
                      " return [p.x, p.y]; }", [lat, lon])
    return box["x"] + p[0], box["y"] + p[1]


def _click(page: Any, lat: float, lon: float) -> None:
    x, y = _map_xy(page, lat, lon)
    page.mouse.click(x, y)
    page.wait_for_timeout(150)


def _drawn_on_map(page: Any, place_id: int, kind: str) -> bool:
    """Is there a Leaflet vector layer of this place, of this kind, on the map?"""
    return bool(page.evaluate(
        """([id, kind]) => { let found = false;
             window.dimingMap.eachLayer((l) => {
               const f = l.feature;
               if (!f || !f.properties || f.properties.id !== id || !l.getLatLngs) return;
               const isPolygon = l instanceof L.Polygon;
               if ((kind === 'polygon') === isPolygon) found = true;
             });
             return found; }""", [place_id, kind]))


def _draw_and_save(page: Any, kind: str, points: list[tuple[float, float]], category: str, name: str,
                   reason: str) -> int:
    page.click("#tab-place")
    page.click(f"#draw-{kind}")
    assert page.inner_text("#draw-status")  # a hint tells how to finish this shape
    for lat, lon in points:
        _click(page, lat, lon)
    # Finish: a line by clicking its last vertex again, an area by clicking its first vertex.
    _click(page, *(points[-1] if kind == "line" else points[0]))
    page.wait_for_selector("#place-form")
    assert page.locator("#f-lonlat").count() == 0  # coordinates are typed for points only
    page.select_option("#f-category_code", category)
    page.fill("#f-name", name)
    page.wait_for_selector(".name-checks .ok, .name-checks .flag")
    page.fill("#f-reason", reason)
    page.click("#btn-save")
    page.wait_for_selector(f"#place-title:has-text('{name}')")
    return int(page.inner_text("#sec-register tr[data-field=id] td"))


def _drag_first_vertex(page: Any, dx: float, dy: float) -> None:
    handles = page.locator("#map .marker-icon:not(.marker-icon-middle)")
    handles.first.wait_for()
    box = handles.first.bounding_box()
    assert box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    page.mouse.move(x + dx, y + dy, steps=5)
    page.mouse.up()
    page.wait_for_timeout(200)


def test_officer_draws_a_road_and_a_square(run: PageRun, live: Live, retry: Callable[..., Any]) -> None:
    page = run.page
    run.open()
    run.login("wang")
    page.evaluate(f"() => window.dimingMap.setView([{CENTRE[0]}, {CENTRE[1]}], 16)")
    page.wait_for_timeout(500)
    lat, lon = CENTRE
    road = [(lat - 0.002, lon + 0.003), (lat - 0.0025, lon + 0.005), (lat - 0.002, lon + 0.007)]
    road_id = _draw_and_save(page, "line", road, "251", "樟韵路", "新建道路命名登记")
    run.shot("officer-line-saved")
    square = [(lat + 0.002, lon + 0.003), (lat + 0.002, lon + 0.005), (lat + 0.0035, lon + 0.005),
              (lat + 0.0035, lon + 0.003)]
    square_id = _draw_and_save(page, "polygon", square, "283", "桂香广场", "新建广场命名登记")
    run.shot("officer-polygon-saved")

    with live.client() as anon:
        line = retry(lambda: (r := anon.get(f"/api/v1/places/{road_id}")).status_code == 200 and r.json())
        area = retry(lambda: (r := anon.get(f"/api/v1/places/{square_id}")).status_code == 200 and r.json())
    assert line["geometry"]["type"] == "LineString"
    assert len(line["geometry"]["coordinates"]) == 3
    for (plat, plon), (x, y) in zip(road, line["geometry"]["coordinates"], strict=True):
        assert abs(x - plon) < 2e-5 and abs(y - plat) < 2e-5  # where it was clicked (within a pixel)
    assert area["geometry"]["type"] in ("Polygon", "MultiPolygon")
    ring = area["geometry"]["coordinates"][0] if area["geometry"]["type"] == "Polygon" \
        else area["geometry"]["coordinates"][0][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert line["properties"]["division_code"].startswith("340122")
    assert area["properties"]["category_code"] == "283"
    # Both are drawn as shapes on the map: the square is on screen now; the road when opened again.
    assert _drawn_on_map(page, square_id, "polygon")
    page.evaluate(f"() => window.dimingMap.setView([{lat}, {lon}], 16)")
    page.fill("#search", "樟韵路")
    page.click('#search-results li[role="option"]:has-text("樟韵路")')
    page.wait_for_selector("#place-title:has-text('樟韵路')")
    assert retry(lambda: _drawn_on_map(page, road_id, "line"))
    assert run.errors == []
    assert run.outside() == []


def test_vertex_edit_with_a_concurrent_save(run: PageRun, live: Live, retry: Callable[..., Any]) -> None:
    page = run.page
    lat, lon = CENTRE[0] - 0.004, CENTRE[1] - 0.004
    coords = [[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.0015], [lon, lat + 0.0015], [lon, lat]]
    with live.client("li") as li:
        r = li.post("/api/v1/places", json={"name": "银杏苑", "category_code": "281", "reason": "住宅区命名登记",
                                            "geometry": {"type": "Polygon", "coordinates": [coords]}})
        assert r.status_code == 201, r.text
        pid = r.json()["properties"]["id"]
    run.open()
    run.login("wang")
    page.fill("#search", "银杏苑")
    page.click('#search-results li[role="option"]:has-text("银杏苑")')
    page.wait_for_selector("#place-title:has-text('银杏苑')")
    page.evaluate(f"() => window.dimingMap.setView([{lat + 0.00075}, {lon + 0.001}], 17)")
    page.wait_for_timeout(400)
    page.click("#btn-move")
    page.wait_for_selector("#reshape-bar:not([hidden])")
    assert page.is_hidden("#reshape-lonlat")  # an area is reshaped by its vertices, not typed coordinates
    _drag_first_vertex(page, 40, 30)
    page.fill("#reshape-reason", "按实测调整范围")
    run.shot("officer-vertex-edit")

    # Meanwhile li saves the same place: a new vertex position of their own and a remark.
    theirs = [[lon, lat], [lon + 0.0025, lat], [lon + 0.0025, lat + 0.0015], [lon, lat + 0.0015], [lon, lat]]
    with live.client("li") as li:
        r = li.get(f"/api/v1/places/{pid}")
        r2 = li.patch(f"/api/v1/places/{pid}", headers={"If-Match": r.headers["ETag"]},
                      json={"geometry": {"type": "Polygon", "coordinates": [theirs]}, "remarks": "李：东侧扩至围墙",
                            "mode": "correction", "reason": "实测更正"})
        assert r2.status_code == 200, r2.text
        their_geometry = r2.json()["geometry"]

    page.click("#reshape-save")
    page.wait_for_selector("#conflict-dialog[open]")
    rows = {r.get_attribute("data-field"): r for r in page.query_selector_all("#conflict-dialog tr.conflict-row")}
    assert set(rows) == {"geometry", "remarks"}
    assert "both" in (rows["geometry"].get_attribute("class") or "")  # both moved the shape
    assert rows["remarks"].query_selector('input[value="theirs"]').is_checked()
    page.wait_for_function("() => document.querySelector('#conflict-who').textContent.includes('li')")
    run.shot("officer-vertex-conflict")
    # Nothing was written behind the officer's back: the server still has li's version.
    with live.client() as anon:
        now = anon.get(f"/api/v1/places/{pid}").json()
    assert now["properties"]["version"] == 2
    assert now["geometry"] == their_geometry and now["properties"]["remarks"] == "李：东侧扩至围墙"

    # Keep li's shape and remark: nothing to merge, nothing overwritten.
    rows["geometry"].query_selector('input[value="theirs"]').check()
    page.click("#btn-merge-save")
    page.wait_for_selector("#conflict-dialog", state="hidden")
    with live.client() as anon:
        after = anon.get(f"/api/v1/places/{pid}").json()
    assert after["properties"]["version"] == 2
    assert after["geometry"] == their_geometry

    # Again, now keeping the officer's shape and li's remark: both survive in version 4.
    # (the panel shows li's version 2 again before the officer starts over from it)
    page.wait_for_function("() => /(^|\\D)2(\\D|$)/.test((document.querySelector("
                           "'#sec-register tr[data-field=version] td') || {}).textContent || '')")
    page.click("#btn-move")
    page.wait_for_selector("#reshape-bar:not([hidden])")
    _drag_first_vertex(page, -30, 20)
    page.fill("#reshape-reason", "按实测调整范围")
    with live.client("li") as li:
        r = li.get(f"/api/v1/places/{pid}")
        r2 = li.patch(f"/api/v1/places/{pid}", headers={"If-Match": r.headers["ETag"]},
                      json={"sign_count": 2, "reason": "路牌普查"})
        assert r2.status_code == 200, r2.text
    page.click("#reshape-save")
    page.wait_for_selector("#conflict-dialog[open]")
    rows = {r.get_attribute("data-field"): r for r in page.query_selector_all("#conflict-dialog tr.conflict-row")}
    assert set(rows) == {"geometry", "sign_count"}
    assert rows["geometry"].query_selector('input[value="mine"]').is_checked()
    page.click("#btn-merge-save")
    page.wait_for_selector("#conflict-dialog", state="hidden")
    with live.client() as anon:
        final = retry(lambda: (x := anon.get(f"/api/v1/places/{pid}").json())["properties"]["version"] == 4 and x)
    assert final, "the merged version was not committed"
    assert final["properties"]["sign_count"] == 2 and final["properties"]["remarks"] == "李：东侧扩至围墙"
    moved = final["geometry"]["coordinates"][0] if final["geometry"]["type"] == "Polygon" \
        else final["geometry"]["coordinates"][0][0]
    assert moved != their_geometry["coordinates"][0] and len(moved) == 5
    run.shot("officer-vertex-merged")
    assert run.errors == []
    assert run.outside() == []
