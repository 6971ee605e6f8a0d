"""The map reads at county scale: township and neighbouring county names at the first view, village names at the
township view, no two labels overlapping; cluster bubbles step aside while an analysis result is shown; the
status line is in words; date fields follow the page's language."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.conftest import Live, PageRun

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

    # The layer list switches the names off and on.
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
    assert run.errors == []
