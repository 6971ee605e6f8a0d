"""Place-name officer journeys: search while typing → place panel → edit with live name checks → someone else
saves meanwhile → 412 → merge field by field → saved; drawing a new place and moving it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser.conftest import Live, PageRun

PLACE = 287  # 店埠老街, a synthetic demo street settlement in 店埠镇


def test_officer_search_edit_conflict_merge(run: PageRun, live: Live, retry: Callable[..., Any]) -> None:
    page = run.page
    run.open()
    # Before login: read only, no edit buttons, no drawing tools.
    run.login("wang")
    assert "地名工作人员" in page.inner_text("#user-info")

    # Search by initials, then pinyin, then Chinese: results appear while typing (no Enter needed).
    page.fill("#search", "dblj")
    page.wait_for_selector('#search-results li[role="option"] >> text=店埠老街')
    page.fill("#search", "dianbu")
    page.wait_for_selector('#search-results li[role="option"] >> text=店埠镇')
    page.locator("#search").fill("")
    page.locator("#search").press_sequentially("店埠老", delay=40)
    option = page.wait_for_selector('#search-results li[role="option"]:has-text("店埠老街")')
    assert "Dianbu Laojie" in option.inner_text()
    run.shot("officer_search")
    # Keyboard: arrow down to the result and Enter opens it.
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#search", "aria-activedescendant") == "search-opt-0"
    page.keyboard.press("Enter")
    page.wait_for_selector("#place-title:has-text('店埠老街')")
    register = page.inner_text("#sec-register")
    for expected in ("罗马字母拼写", "Dianbu Laojie", "专名", "店埠", "通名", "老街", "所在（跨）行政区",
                     "店埠镇 340122100", "坐标系", "CGCS2000", "测量方法", "图解", "经纬度范围"):
        assert expected in register, expected
    assert page.is_visible("#sec-variants") and page.is_visible("#sec-protection") and page.is_visible("#sec-flags")
    page.click("#sec-history summary")
    page.wait_for_selector("#sec-history ol.changes li")
    assert "system:load-demo" in page.inner_text("#sec-history")
    run.shot("officer_place_panel")

    # Edit: the naming checks run while the name is typed.
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    page.fill("#f-name", "曼哈顿老街")
    page.wait_for_selector(".name-checks .cls-洋")
    assert "N5" in page.inner_text(".name-checks")
    page.wait_for_function("() => document.querySelector('.roman-preview').textContent.startsWith('Manhadun')")
    run.shot("officer_name_check")
    page.fill("#f-name", "店埠老街")
    page.wait_for_function("() => !document.querySelector('.name-checks .cls-洋')")
    page.fill("#f-meaning", "因店埠河边的老街得名")
    page.fill("#f-remarks", "王：核实了街巷范围")
    page.fill("#f-reason", "补充地名含义")

    # Meanwhile another officer saves remarks and the sign count.
    with live.client("li") as li:
        r = li.get(f"/api/v1/places/{PLACE}")
        r2 = li.patch(f"/api/v1/places/{PLACE}", headers={"If-Match": r.headers["ETag"]},
                      json={"remarks": "李：已更换路牌", "sign_count": 3, "reason": "路牌普查"})
        assert r2.status_code == 200, r2.text

    page.click("#btn-save")
    dialog = page.wait_for_selector("#conflict-dialog[open]")
    rows = {r.get_attribute("data-field"): r for r in page.query_selector_all("#conflict-dialog tr.conflict-row")}
    assert set(rows) == {"meaning", "remarks", "sign_count"}
    assert "both" in (rows["remarks"].get_attribute("class") or "")
    assert "王：核实了街巷范围" in rows["remarks"].inner_text() and "李：已更换路牌" in rows["remarks"].inner_text()
    assert rows["sign_count"].query_selector('input[value="theirs"]').is_checked()
    assert rows["meaning"].query_selector('input[value="mine"]').is_checked()
    page.wait_for_function("() => document.querySelector('#conflict-who').textContent.includes('li')")
    run.shot("officer_conflict_dialog")
    assert dialog.is_visible()

    # Merge: keep my remarks and my meaning, their sign count.
    rows["remarks"].query_selector('input[value="mine"]').check()
    page.click("#btn-merge-save")
    page.wait_for_selector("#conflict-dialog", state="hidden")
    page.wait_for_selector("#place-title:has-text('店埠老街')")
    page.wait_for_selector("#sec-register:has-text('因店埠河边的老街得名')")
    run.shot("officer_merged")

    # (retry: the server commits just after it answers a write, so an immediate read may be a moment early)
    with live.client() as anon:
        p = retry(lambda: (x := anon.get(f"/api/v1/places/{PLACE}").json()["properties"])["version"] == 3 and x)
    assert p, "the merged version was not committed"
    assert p["meaning"] == "因店埠河边的老街得名"
    assert p["remarks"] == "王：核实了街巷范围"
    assert p["sign_count"] == 3
    assert p["version"] == 3
    assert run.errors == []
    assert run.outside() == [], run.outside()


def test_officer_draws_a_new_place_then_moves_it(run: PageRun, live: Live, retry: Callable[..., Any]) -> None:
    page = run.page
    run.open()
    assert page.is_hidden(".draw-tools")  # nobody logged in: no drawing
    run.login("wang")
    page.evaluate("() => window.dimingMap.setView([31.8864, 117.4571], 15)")
    page.click("#tab-place")
    page.click("#draw-point")
    box = page.locator("#map").bounding_box()
    assert box
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    page.wait_for_selector("#place-form")
    lonlat = page.input_value("#f-lonlat")
    lon, lat = (float(x) for x in lonlat.split(","))
    assert 117.3 < lon < 117.6 and 31.8 < lat < 31.95
    page.select_option("#f-category_code", "251")
    page.fill("#f-name", "维也纳大道")
    page.wait_for_selector(".name-checks .cls-洋")
    run.shot("officer_new_place_checks")
    page.fill("#f-name", "青松路")
    page.wait_for_selector(".name-checks .ok, .name-checks .flag")
    page.fill("#f-reason", "新建道路命名登记")
    page.click("#btn-save")
    page.wait_for_selector("#place-title:has-text('青松路')")
    assert "Qingsong Lu" in page.inner_text("#place-title")
    new_id = int(page.inner_text("#sec-register tr[data-field=id] td"))

    # Move it: the point's coordinates can be typed (keyboard users) or dragged.
    page.click("#btn-move")
    page.fill("#reshape-lonlat", f"{lon + 0.001:.6f}, {lat:.6f}")
    page.fill("#reshape-reason", "实测坐标更正")
    page.click("#reshape-save")
    page.wait_for_selector("#reshape-bar", state="hidden")
    run.shot("officer_moved_place")
    with live.client() as anon:
        f = retry(lambda: (x := anon.get(f"/api/v1/places/{new_id}").json())["properties"]["version"] == 2 and x)
    assert f, "the moved version was not committed"
    assert abs(f["geometry"]["coordinates"][0] - (lon + 0.001)) < 1e-6
    assert f["properties"]["version"] == 2
    assert f["properties"]["division_code"].startswith("340122")
    assert run.errors == []
    assert run.outside() == []
