"""Planner journey: a facility kind and a radius → coverage overlay, uncovered villages, figures matching the
API → network distance (never covers more than the straight radius) → suggested sites → report and CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, Live, PageRun

KIND = "township_social_work_station"


def _share(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text)) / 100


def test_planner_coverage_sites_and_report(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    with live.client() as c:
        api = c.post("/api/v1/coverage", json={"facility_kind": KIND, "radius_m": 3000}).json()
        networks = c.get("/api/v1/coverage/networks").json()
    if not api["population_total"]:
        pytest.skip("no demand loaded (coverage demo missing)")
    page = run.page
    run.open()
    assert page.is_hidden("#tab-planner")
    run.login("sun")
    page.click("#tab-planner")
    page.select_option("#cov-kind", KIND)
    page.fill("#cov-meters", "3000")
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-share")
    assert _share(page.inner_text("#coverage-share")) == pytest.approx(api["share_covered"], abs=0.0006)
    assert f"({len(api['uncovered'])})" in page.inner_text("#uncovered summary")
    assert api["uncovered"][0]["name"] in page.inner_text("#uncovered")
    # On the map: one red circle per uncovered village, service areas under them.
    assert page.locator("path.demand.uncovered").count() == len(api["uncovered"])
    assert page.locator(".leaflet-coverage-pane path").count() > 0
    run.shot("planner_coverage")
    radius_share = _share(page.inner_text("#coverage-share"))

    if networks:
        # Along the roads nobody is nearer than in a straight line: the network never covers more.
        page.check('input[name="dist"][value="network"]')
        page.click("#btn-coverage")
        page.wait_for_selector("#coverage-result h3:has-text('路网')")
        assert _share(page.inner_text("#coverage-share")) <= radius_share + 1e-9
        run.shot("planner_network")
        page.check('input[name="dist"][value="radius"]')
        page.click("#btn-coverage")
        page.wait_for_selector("#coverage-result h3:has-text('直线')")

    # Two suggested sites (MCLP): the share rises and the sites are drawn.
    page.fill("#suggest-k", "2")
    page.click("#btn-suggest")
    page.wait_for_selector("ol.sites li", timeout=60_000)
    assert page.locator("ol.sites li").count() == 2
    after = re.findall(r"([0-9.]+)%", page.inner_text("#suggest-result"))
    assert float(after[1]) > float(after[0])
    assert page.locator(".site-icon").count() == 2
    page.locator("#suggest-result").scroll_into_view_if_needed()
    run.shot("planner_sites")

    # Exports: the folium report (HTML) and the CSV, both through the logged-in page.
    with page.expect_download() as info:
        page.click("#btn-report")
    report = Path(info.value.path()).read_text(encoding="utf-8")
    info.value.save_as(ARTIFACTS / "planner_report.html")
    assert "<html" in report.lower() and ("folium" in report.lower() or "leaflet" in report.lower())
    with page.expect_download() as info:
        page.click("#btn-csv")
    csv = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert csv.splitlines()[0].startswith("代码,名称")  # the page is in Chinese: so is the CSV (Accept-Language)
    assert len(csv.splitlines()) - 1 == sum(t["demand_points"] for t in api["by_township"])
    assert run.errors == []
    assert run.outside() == [], run.outside()
