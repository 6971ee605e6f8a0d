"""The map reads at county scale: township and neighbouring county names at the first view, village names at the
township view, no two labels overlapping; cluster bubbles step aside while an analysis result is shown; the
status line is in words; date fields follow the page's language."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, Live, PageRun

BOXES = """() => [...document.querySelectorAll('.map-labels .map-label')].map((n) => {
  const r = n.getBoundingClientRect();
  const kind = [...n.classList].find((c) => c.startsWith('lvl-')).slice(4);
  return {kind, name: n.textContent, code: n.dataset.code, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
})"""
MAP_BOX = "() => { const r = document.getElementById('map').getBoundingClientRect();" \
          " return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; }"


def _overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]:
                out.append((a["name"], b["name"]))
    return out


def _names(live: Live, **params: str) -> dict[str, str]:
    r = httpx.get(f"{live.url}/api/v1/divisions", params={"limit": "2000", **params}, timeout=30)
    r.raise_for_status()
    return {f["properties"]["code"]: f["properties"]["name"] for f in r.json()["features"]}


def _labels(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(BOXES))


def test_names_at_county_and_township_zoom_without_overlap(run: PageRun, live: Live) -> None:
    townships = _names(live, level="township", parent="340122")
    neighbours = {c: n for c, n in _names(live, level="county").items() if c != "340122"}
    assert len(townships) == 20 and len(neighbours) >= 5  # the demo's data, so the checks below mean something
    page = run.page
    run.open()
    page.wait_for_function("() => document.querySelectorAll('.map-labels .map-label.lvl-township').length > 0")
    zoom = page.evaluate("() => window.dimingMap.getZoom()")
    boxes = _labels(page)
    shown = {b["name"] for b in boxes}
    # The first view: most township names and several neighbouring counties' names, no village yet.
    assert len(shown & set(townships.values())) >= 12, (zoom, sorted(shown))
    assert len(shown & set(neighbours.values())) >= 3, (zoom, sorted(shown))
    assert not [b for b in boxes if b["kind"] == "village"]
    assert _overlapping(boxes) == []
    # Every label is inside the map and is text, not markup.
    m = page.evaluate(MAP_BOX)
    assert all(m["x0"] <= b["x0"] and b["x1"] <= m["x1"] and m["y0"] <= b["y0"] and b["y1"] <= m["y1"] for b in boxes)
    assert page.locator(".map-labels .map-label *").count() == 0
    run.shot("labels-county")

    # Zoomed out to the region: fewer, bigger names, still no overlap.
    page.evaluate("() => window.dimingMap.setZoom(window.dimingMap.getZoom() - 2, {animate: false})")
    page.wait_for_function(f"() => window.dimingMap.getZoom() === {zoom - 2}")
    page.wait_for_timeout(300)
    boxes = _labels(page)
    assert _overlapping(boxes) == []
    assert {b["kind"] for b in boxes} <= {"county"}
    run.shot("labels-region")

    # At a township's scale, village names appear, placed without overlap.
    page.evaluate("() => window.dimingMap.setView([31.8864, 117.4571], 13, {animate: false})")
    page.wait_for_function("() => document.querySelectorAll('.map-labels .map-label.lvl-village').length >= 5")
    boxes = _labels(page)
    villages = _names(live, level="village")
    assert {b["name"] for b in boxes if b["kind"] == "village"} <= set(villages.values())
    assert _overlapping(boxes) == []
    run.shot("labels-township")

    # Panning redraws them for the new view, still without overlap.
    page.evaluate("() => window.dimingMap.panBy([300, 200], {animate: false})")
    page.wait_for_timeout(400)
    assert _overlapping(_labels(page)) == []

    # Zoomed further, place names carry their own labels: no village name any more, and the township's name
    # keeps clear of the place labels.
    page.evaluate("() => window.dimingMap.setView([31.8864, 117.4571], 16, {animate: false})")
    page.wait_for_selector(".labels-on .place-label .lbl", state="visible")
    page.wait_for_timeout(800)
    boxes = _labels(page)
    places = page.evaluate("() => [...document.querySelectorAll('.place-label')].map((n) => {"
                           " const r = n.getBoundingClientRect();"
                           " return {name: n.textContent, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })")
    assert places and not [b for b in boxes if b["kind"] == "village"]
    assert [b for b in boxes if b["kind"] == "township"], boxes  # moved to a free spot, not dropped
    assert [p for p in _overlapping(boxes + places) if p[0] in {b["name"] for b in boxes}] == []
    run.shot("labels-street")

    # The layer list switches the names off and on.
    page.evaluate("() => window.dimingMap.setView([31.8864, 117.4571], 13, {animate: false})")
    page.uncheck("#layer-list label[data-layer=labels] input")
    assert page.locator(".map-labels .map-label").count() == 0
    page.check("#layer-list label[data-layer=labels] input")
    page.wait_for_function("() => document.querySelectorAll('.map-labels .map-label').length > 0")
    assert run.errors == []


def test_clusters_step_aside_for_an_analysis_and_status_in_words(run: PageRun) -> None:
    page = run.page
    run.open()
    # The status line says what it counts.
    page.wait_for_function("() => /^已显示：10 个县区、20 个乡镇、\\d+ 条地名$/"
                           ".test(document.querySelector('#status').textContent)")
    page.wait_for_selector(".marker-cluster", state="visible")
    emit = "async (active) => (await import('/static/js/state.js')).emit('analysis', {active})"
    page.evaluate(emit, True)
    assert page.locator(".marker-cluster").count() > 0  # still there, but not in the way
    assert page.locator(".marker-cluster:visible").count() == 0
    run.shot("labels-analysis")
    page.evaluate(emit, False)
    page.wait_for_selector(".marker-cluster", state="visible")
    page.click("#lang")
    assert page.inner_text("#status").startswith("Showing 10 counties, 20 townships, ")
    page.click("#lang")

    # The same through the planner's own screen: a coverage result hides them, clearing it brings them back.
    run.login("sun")
    page.evaluate("() => window.dimingMap.fitBounds([[31.62, 117.22], [32.18, 117.88]], {animate: false})")
    page.wait_for_selector(".marker-cluster", state="visible")
    page.click("#tab-planner")
    page.select_option("#cov-kind", "township_social_work_station")
    page.fill("#cov-meters", "3000")
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-share")
    page.wait_for_function("() => document.getElementById('map').dataset.analysis === 'on'")
    assert page.locator(".marker-cluster").count() > 0 and page.locator(".marker-cluster:visible").count() == 0
    run.shot("labels-analysis-planner")
    page.click("#btn-clear-analysis")
    page.wait_for_selector(".marker-cluster", state="visible")
    assert run.errors == []


FRAME = """() => {
  const m = window[Object.keys(window).find((k) => /^map_[0-9a-f]+$/.test(k))];
  const size = m.getSize();
  const [[s, w], [n, e]] = %s;
  const a = m.latLngToContainerPoint([n, w]);
  const b = m.latLngToContainerPoint([s, e]);
  return {inside: m.getBounds().contains([[s, w], [n, e]]),
          fill: Math.max((b.x - a.x) / size.x, (b.y - a.y) / size.y), zoom: m.getZoom()};
}"""


def _county_box(live: Live) -> list[list[float]]:
    r = httpx.get(f"{live.url}/api/v1/divisions/340122", timeout=30)
    r.raise_for_status()
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for x in c:
                walk(x)

    body = r.json()
    walk((body.get("geometry") or body["features"][0]["geometry"])["coordinates"])
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def test_reports_frame_the_county_and_print(browser: Any, live: Live, tmp_path: Any) -> None:
    """The coverage reports open framed on the county (it fills most of the map, whole), and all three reports
    are screenshotted as a reader sees them."""
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    box = _county_box(live)
    with live.client("sun") as c:
        cov = c.post("/api/v1/coverage", params={"format": "html"},
                     json={"facility_kind": "township_social_work_station", "radius_m": 3000})
        sug = c.post("/api/v1/coverage/suggest", params={"format": "html"},
                     json={"facility_kind": "township_social_work_station", "radius_m": 3000, "k": 2})
        bnd = c.get("/api/v1/boundaries/report")
    assert cov.status_code == sug.status_code == bnd.status_code == 200
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        outside: list[str] = []
        page.on("request", lambda req: outside.append(req.url) if req.url.startswith("http") else None)
        for name, resp in (("coverage", cov), ("suggest", sug)):
            path = tmp_path / f"{name}.html"
            path.write_text(resp.text, encoding="utf-8")
            page.goto(path.as_uri())
            page.wait_for_function("() => Object.keys(window).some((k) => /^map_[0-9a-f]+$/.test(k))")
            page.wait_for_timeout(300)
            frame = page.evaluate(FRAME % json.dumps(box))
            # Whole county in the frame, and filling it: ≥ 85 % of the width or height (it was about 40 %).
            assert frame["inside"] and frame["fill"] >= 0.85, frame
            page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
        page.goto(f"{live.url}/api/v1/boundaries/report")
        assert page.inner_text("h1") == "平安边界报告"
        page.screenshot(path=str(ARTIFACTS / "report-boundary.png"), full_page=True)
        assert errors == []
        assert [u for u in outside if not u.startswith(live.url)] == []
    finally:
        context.close()


ZH_MONTHS = ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"]
EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]


def _calendar(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("""() => {
      const c = [...document.querySelectorAll('.flatpickr-calendar.open')].pop();
      if (!c) return {};
      const month = c.querySelector('.flatpickr-monthDropdown-months');
      return {month: month.options[month.selectedIndex].textContent.trim(),
              weekdays: [...c.querySelectorAll('.flatpickr-weekday')].map((n) => n.textContent.trim()).join(' ')};
    }"""))


def test_date_fields_follow_the_page_language(run: PageRun) -> None:
    """Chromium runs with --lang=zh-CN, but the page must not depend on it: date fields are text fields with the
    ISO value and a calendar in the page's language, in Chinese and in English."""
    page = run.page
    run.open()
    as_of = page.locator("#as-of")
    today = as_of.input_value()
    assert as_of.get_attribute("type") == "text" and as_of.get_attribute("data-date") == "iso"
    assert len(today) == 10 and today[4] == today[7] == "-"
    assert as_of.get_attribute("placeholder") == "年-月-日"
    as_of.click()
    page.wait_for_selector(".flatpickr-calendar.open")
    cal = _calendar(page)
    assert cal["month"] == ZH_MONTHS[int(today[5:7]) - 1] and "周一" in cal["weekdays"], cal
    run.shot("labels-date-zh")
    # Picking a day sets the ISO date and the page redraws for it (the as_of event).
    with page.expect_request(lambda r: "/api/v1/divisions" in r.url and f"as_of={today[:8]}01" in r.url):
        page.click(".flatpickr-calendar.open .flatpickr-day:not(.prevMonthDay):not(.nextMonthDay) >> text='1'")
    assert as_of.input_value() == f"{today[:8]}01"
    # Typed as year-month-day works too.
    as_of.fill(today)
    as_of.press("Enter")
    page.keyboard.press("Escape")
    assert as_of.input_value() == today

    # A date field that a screen adds later is handled the same way.
    page.evaluate("() => { const i = document.createElement('input'); i.type = 'date'; i.id = 'late-date';"
                  " i.value = '2024-05-01'; document.getElementById('pane-layers').append(i); }")
    page.wait_for_selector("#late-date[data-date=iso]")
    assert page.input_value("#late-date") == "2024-05-01"

    page.click("#lang")
    assert as_of.get_attribute("placeholder") == "yyyy-mm-dd"
    assert as_of.input_value() == today and page.input_value("#late-date") == "2024-05-01"  # values kept
    as_of.click()
    page.wait_for_selector(".flatpickr-calendar.open")
    cal = _calendar(page)
    assert cal["month"] == EN_MONTHS[int(today[5:7]) - 1] and "Mon" in cal["weekdays"], cal
    run.shot("labels-date-en")
    page.keyboard.press("Escape")
    page.click("#lang")
    assert as_of.input_value() == today
    assert run.errors == []


def test_login_keeps_the_view_and_the_county_button_resets_it(run: PageRun) -> None:
    page = run.page
    run.open()
    first = page.evaluate("() => window.dimingMap.getZoom()")
    page.evaluate("() => window.dimingMap.setView([31.8864, 117.4571], 14, {animate: false})")
    run.login("zhao")
    assert page.evaluate("() => window.dimingMap.getZoom()") == 14  # the login keeps the view
    page.click("#map-home")
    page.wait_for_function(f"() => window.dimingMap.getZoom() === {first}")
    assert page.inner_text("#map-home") == "全县"
    assert run.errors == []
