"""The planner's daily work on the map (issue 13): analyses that keep their form and result across a language
switch and fit the view to their extent, 2SFCA and LSCP drawn on the map, the road network that network distance
follows, the facility-kind filter, and editing facilities, cemeteries and parcels with If-Match — a concurrent edit
opens the merge dialog and nothing is overwritten unseen."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Live, PageRun

ELDERLY = "elderly_care_center"  # 养老服务中心
POINT = [117.52, 31.90]  # open country in Feidong, east of the county seat


def _share(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text)) / 100


def _kinds(live: Live) -> dict[str, dict[str, Any]]:
    with live.client() as c:
        return {k["id"]: k for k in c.get("/api/v1/facilities/kinds").json()}


def _planner_tab(run: PageRun) -> None:
    run.page.click("#tab-planner")
    run.page.wait_for_selector("#coverage-form")


def _map_contains(run: PageRun, points: list[list[float]]) -> bool:
    """Whether the map's view holds every [lon, lat] of ``points``."""
    return bool(run.page.evaluate(
        "pts => { const b = window.dimingMap.getBounds(); return pts.every(([x, y]) => b.contains([y, x])); }", points))


def _zoom(run: PageRun) -> int:
    return int(run.page.evaluate("() => window.dimingMap.getZoom()"))


# How long a save may take the server. The live server runs in this test's process, beside the browser, so on a
# loaded machine (load 13-27 on 2 cores) a write was seen to take 1-15 s; the page's own part after the answer took
# ~1 s. Waiting for the answer first gives each its own budget, and a failure says which one was slow.
SAVE_TIMEOUT_MS = 60_000


def _save(run: PageRun, button: str, method: str, path: str) -> Any:
    """Click ``button`` and wait for the answer to the ``method`` request whose URL ends with ``path``."""
    with run.page.expect_response(lambda r: r.request.method == method and r.url.split("?")[0].endswith(path),
                                  timeout=SAVE_TIMEOUT_MS) as answer:
        run.page.click(button)
    return answer.value


def _drag(run: PageRun, selector: str, dx: float, dy: float) -> None:
    box = run.page.locator(selector).first.bounding_box()
    assert box, selector
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    run.page.mouse.move(x, y)
    run.page.mouse.down()
    run.page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    run.page.mouse.move(x + dx, y + dy, steps=5)
    run.page.mouse.up()


# -- analyses --------------------------------------------------------------------------------------------------------

def _answers(live: Live) -> tuple[dict[str, Any], list[list[float]], dict[str, Any]]:
    """The API's coverage, demand points and 2SFCA of elderly-care centres within 3 km (what the page must show)."""
    body = {"facility_kind": ELDERLY, "radius_m": 3000}
    with live.client() as c:
        api = c.post("/api/v1/coverage", json=body).json()
        geo = c.post("/api/v1/coverage", params={"format": "geojson"}, json=body).json()
        sfca = c.post("/api/v1/coverage/accessibility", json=body).json()
    demand = [f["geometry"]["coordinates"] for f in geo["features"] if f["properties"]["layer"] == "demand"]
    assert demand, "no demand points in the demo"
    return api, demand, sfca


def _run(run: PageRun, method: str = "coverage") -> None:
    page = run.page
    page.select_option("#cov-kind", ELDERLY)
    page.fill("#cov-meters", "3000")
    if method != "coverage":  # coverage is the form's default
        page.check(f'input[name="method"][value="{method}"]')
    page.click("#btn-coverage")
    page.wait_for_selector("#sfca-mean" if method == "2sfca" else "#coverage-share")


def test_results_fit_the_view_after_a_login_as_another_role(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    api, demand, sfca = _answers(live)
    page = run.page
    run.open()
    # An officer zooms into one housing estate and logs out; a planner logs in on the same page.
    run.login("wang")
    page.evaluate("() => window.dimingMap.setView([31.873, 117.458], 17)")
    page.click("#login-btn")
    page.wait_for_selector("body[data-user='']", state="attached")
    run.login("sun")
    assert _zoom(run) == 17 and not _map_contains(run, demand)
    _planner_tab(run)
    _run(run)
    assert _share(page.inner_text("#coverage-share")) == pytest.approx(api["share_covered"], abs=0.0006)
    # The result fits the view: every village of the result is on screen.
    page.wait_for_function("() => window.dimingMap.getZoom() < 17")
    assert _map_contains(run, demand)
    assert page.locator("path.demand").count() == len(demand)
    assert page.get_attribute("body", "data-analysis") == "coverage"
    # The places layer hears "analysis" and keeps its cluster bubbles off the result (where it does so).
    assert page.get_attribute("#map", "data-analysis") in (None, "on")
    run.shot("planner-fit-coverage")

    # 2SFCA from a zoomed-in view: one point per village coloured by its score, the view fitted again.
    page.evaluate("() => window.dimingMap.setView([31.873, 117.458], 17)")
    _run(run, "2sfca")
    assert page.locator("path.demand.sfca").count() == len(sfca["villages"])
    none = sum(1 for v in sfca["villages"] if v["facilities_in_reach"] == 0)
    assert 0 < none < len(sfca["villages"])
    assert page.locator("path.demand.sfca.score-0").count() == none
    mean = float(page.inner_text("#sfca-mean").replace(",", ""))
    assert mean == pytest.approx(sfca["population_weighted_mean_score"] * 1000, rel=1e-3)
    page.wait_for_function("() => window.dimingMap.getZoom() < 17")
    assert _map_contains(run, demand)
    run.shot("planner-2sfca")
    page.click("#btn-clear-analysis")
    assert page.locator("path.demand").count() == 0
    assert page.get_attribute("body", "data-analysis") == "off"
    assert page.get_attribute("#map", "data-analysis") in (None, "off")
    assert run.errors == []
    assert run.outside() == [], run.outside()


def test_language_switch_keeps_the_planner_form_and_result(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    kinds = _kinds(live)
    api, _demand, sfca = _answers(live)
    page = run.page
    run.open()
    run.login("sun")
    _planner_tab(run)
    _run(run)
    # English: the same kind, distance and result, in English.
    page.click("#lang")
    page.wait_for_selector("#coverage-result h3:has-text('Radius')")
    assert page.input_value("#cov-kind") == ELDERLY
    assert page.input_value("#cov-meters") == "3000"
    h3 = page.inner_text("#coverage-result h3")
    assert kinds[ELDERLY]["name_en"] in h3 and "3,000 m" in h3, h3
    assert _share(page.inner_text("#coverage-share")) == pytest.approx(api["share_covered"], abs=0.0006)
    assert page.locator("path.demand.uncovered").count() == len(api["uncovered"])
    assert "5-minute life circle 300 m" in page.inner_text("#coverage-form .presets")
    run.shot("planner-language-en")
    # 2SFCA run in English, then back to Chinese: still 2SFCA, the same kind and distance, the same points.
    _run(run, "2sfca")
    page.click("#lang")
    page.wait_for_selector("#coverage-result h3:has-text('直线')")
    assert page.is_checked('input[name="method"][value="2sfca"]')
    assert page.input_value("#cov-kind") == ELDERLY and page.input_value("#cov-meters") == "3000"
    assert kinds[ELDERLY]["name_zh"] in page.inner_text("#coverage-result h3")
    assert page.locator("path.demand.sfca").count() == len(sfca["villages"])
    assert run.errors == []


def test_road_network_and_lscp_on_the_map(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    with live.client() as c:
        networks = c.get("/api/v1/coverage/networks").json()
        if not networks:
            pytest.skip("no road network loaded (coverage demo missing)")
        name = networks[0]["name"]
        edges = c.get(f"/api/v1/coverage/networks/{name}/edges").json()
        radius = c.post("/api/v1/coverage", json={"facility_kind": ELDERLY, "radius_m": 3000}).json()
        nbody = {"facility_kind": ELDERLY, "network_m": 3000, "network": name}
        network = c.post("/api/v1/coverage", json=nbody).json()
        ngeo = c.post("/api/v1/coverage", params={"format": "geojson"}, json=nbody).json()
    off = [f["properties"]["facility_id"] for f in ngeo["features"]
           if f["properties"]["layer"] == "facility" and f["properties"]["on_network"] is False]
    n_facilities = sum(1 for f in ngeo["features"] if f["properties"]["layer"] == "facility")
    with live.client("sun") as c:
        target = round(min(0.95, radius["share_covered"] + 0.15), 2)
        lscp = c.post("/api/v1/coverage/suggest", json={"facility_kind": ELDERLY, "radius_m": 3000, "method": "lscp",
                                                        "target_share": target, "candidates": "villages"}).json()
    assert edges["numberReturned"] == edges["numberMatched"] > 0
    page = run.page
    run.open()
    run.login("sun")
    _planner_tab(run)
    page.select_option("#cov-kind", ELDERLY)
    page.fill("#cov-meters", "3000")
    # Choosing network distance draws the network it follows: every edge, as in the API.
    page.check('input[name="dist"][value="network"]')
    page.wait_for_function("n => document.querySelectorAll('path.road-edge').length === n", arg=edges["numberMatched"])
    assert page.is_checked("#cov-show-network")
    assert page.is_checked('#layer-list label[data-layer="road_network"] input')
    assert str(edges["numberMatched"]) in page.inner_text("#network-note").replace(",", "")
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-result h3:has-text('路网')")
    shown = _share(page.inner_text("#coverage-share"))
    assert shown == pytest.approx(network["share_covered"], abs=0.0006)
    assert shown <= radius["share_covered"] + 1e-9
    # The page says what the same metres cover as a straight radius (and why the network covers less).
    compare = page.inner_text("#coverage-compare")
    assert f"{100 * radius['share_covered']:.1f}%" in compare
    # … and why: the facilities farther from the network than the snap limit, drawn in red with their snap line.
    assert f"{n_facilities} 个设施中有 {len(off)} 个" in compare, compare
    assert page.locator("path.result-facility.off-network").count() == len(off)
    assert page.locator("path.snap.off").count() == len(off)
    assert page.locator("path.snap").count() == n_facilities
    assert page.locator("path.road-edge").count() == edges["numberMatched"]
    run.shot("planner-network-roads")

    # LSCP: the fewest new sites reaching the target share, drawn on the map, the view fitted to them.
    page.uncheck("#cov-show-network")
    assert page.locator("path.road-edge").count() == 0
    page.check('input[name="dist"][value="radius"]')
    page.uncheck("#cov-show-network")
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-result h3:has-text('直线')")
    page.evaluate("() => window.dimingMap.setView([31.873, 117.458], 17)")
    page.fill("#suggest-target", str(round(target * 100)))
    assert page.is_checked('input[name="smethod"][value="lscp"]')
    page.click("#btn-suggest")
    page.wait_for_selector("#lscp-summary", timeout=60_000)
    assert page.locator(".site-icon.lscp").count() == len(lscp["sites"]) > 0
    assert page.locator("ol.sites li").count() == len(lscp["sites"])
    assert f"{100 * lscp['share_after']:.1f}%" in page.inner_text("#suggest-result")
    page.wait_for_function("() => window.dimingMap.getZoom() < 17")
    assert _map_contains(run, [[s["lon"], s["lat"]] for s in lscp["sites"]])
    page.locator("#suggest-result").scroll_into_view_if_needed()
    run.shot("planner-lscp")
    assert run.errors == []
    assert run.outside() == [], run.outside()


def test_facility_kind_filter_survives_a_language_switch(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/facilities"):
        pytest.skip("the facilities API is not wired into the app")
    kinds = _kinds(live)
    page = run.page
    run.open()
    page.check('#layer-list label[data-layer="facilities"] input')
    page.wait_for_selector("#facility-kinds label.kind")
    page.wait_for_selector("path.facility")
    labels = page.inner_text("#facility-kinds")
    assert "[object" not in labels
    for k in kinds.values():
        assert k["name_zh"] in labels
    counts: dict[str, int] = page.evaluate(
        "ids => Object.fromEntries(ids.map((k) => [k, document.querySelectorAll(`path.facility.k-${k}`).length]))",
        list(kinds))
    shown = [k for k, n in counts.items() if n > 0]
    assert len(shown) >= 2, counts
    hide = shown[0]
    total = sum(counts.values())
    page.uncheck(f'#facility-kinds input[value="{hide}"]')
    page.wait_for_function("k => document.querySelectorAll(`path.facility.k-${k}`).length === 0", arg=hide)
    page.wait_for_function("n => document.querySelectorAll('path.facility').length === n", arg=total - counts[hide])
    run.shot("planner-facility-filter")
    page.click("#lang")
    page.wait_for_selector(f"#facility-kinds label.kind:has-text(\"{kinds[shown[1]]['name_en']}\")")
    assert not page.is_checked(f'#facility-kinds input[value="{hide}"]')
    assert page.is_checked(f'#facility-kinds input[value="{shown[1]}"]')
    assert "[object" not in page.inner_text("#facility-kinds")
    page.evaluate("() => window.dimingMap.panBy([5, 5])")  # a reload by view keeps the filter
    page.wait_for_timeout(800)
    assert page.locator(f"path.facility.k-{hide}").count() == 0
    assert page.locator(f"path.facility.k-{shown[1]}").count() == counts[shown[1]]
    assert run.errors == []


# -- editing -----------------------------------------------------------------------------------------------------------

def test_facility_create_move_edit_with_a_conflict(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/facilities"):
        pytest.skip("the facilities API is not wired into the app")
    page = run.page
    run.open()
    run.login("sun")
    _planner_tab(run)
    # Create: a facility at a typed location.
    page.click("#btn-new-facility")
    page.wait_for_selector("#facility-form")
    page.fill("#fac-name", "东湖社区养老服务站（测试）")
    page.select_option("#fac-kind", "elderly_care_station")
    page.fill("#fac-lonlat", f"{POINT[0]}, {POINT[1]}")
    page.dispatch_event("#fac-lonlat", "change")
    # A language switch with the form open: what was typed stays, the labels and choices change language.
    page.click("#lang")
    page.wait_for_selector("label[for='fac-name']:has-text('Name')")
    assert page.input_value("#fac-name") == "东湖社区养老服务站（测试）"
    assert page.input_value("#fac-kind") == "elderly_care_station"
    assert page.locator("#fac-status option:checked").inner_text() == "open"
    assert page.locator("#fac-kind option:checked").inner_text() == "elderly-care station"
    page.click("#lang")
    page.wait_for_selector("label[for='fac-name']:has-text('名称')")
    assert page.input_value("#fac-lonlat") == f"{POINT[0]}, {POINT[1]}"
    page.fill("#fac-reason", "新建站点")
    created_r = _save(run, "#fac-save", "POST", "/api/v1/facilities")
    assert created_r.status == 201, created_r.text()
    page.wait_for_selector("#facility-saved")
    fid = int(page.get_attribute("#facility-saved", "data-id") or 0)
    with live.client() as c:
        created = c.get(f"/api/v1/facilities/{fid}").json()
    assert created["properties"]["name"] == "东湖社区养老服务站（测试）"
    assert created["properties"]["kind"] == "elderly_care_station"
    assert created["geometry"]["coordinates"] == pytest.approx(POINT, abs=1e-6)

    # Edit from the map: the facility's popup has "edit" for a planner.
    page.click("#tab-layers")
    page.check('#layer-list label[data-layer="facilities"] input')
    page.evaluate("([x, y]) => window.dimingMap.setView([y, x], 16)", POINT)
    page.wait_for_selector(f"path.f-{fid}")
    page.locator(f"path.f-{fid}").dispatch_event("click")
    page.click(".leaflet-popup button.edit-facility")
    page.wait_for_selector(f"#facility-form[data-id='{fid}']")
    before = page.input_value("#fac-lonlat")
    # Meanwhile someone else renames it and records its staff (with the ETag they read).
    with live.client("sun") as c:
        r = c.get(f"/api/v1/facilities/{fid}")
        other = c.patch(f"/api/v1/facilities/{fid}", headers={"If-Match": r.headers["etag"]},
                        json={"name": "东湖养老服务站", "staff": 7, "reason": "他人更正"})
        assert other.status_code == 200, other.text
    # This planner moves it (drags the pin), changes the name and the capacity, and saves.
    _drag(run, ".planner-pin", 90, -40)
    after = page.input_value("#fac-lonlat")
    assert after != before
    moved = [float(x) for x in after.split(",")]
    page.fill("#fac-name", "东湖社区养老服务站")
    page.fill("#fac-capacity", "120")
    page.fill("#fac-reason", "迁址并核定床位")
    refused = _save(run, "#fac-save", "PATCH", f"/api/v1/facilities/{fid}")
    assert refused.status == 412, refused.text()
    page.wait_for_selector("#conflict-dialog[open]")
    rows = page.locator("#conflict-dialog tr.conflict-row")
    fields = set(rows.evaluate_all("rs => rs.map((r) => r.dataset.field)"))
    assert {"name", "staff", "capacity", "geometry"} <= fields
    assert page.locator("#conflict-dialog tr.conflict-row.both[data-field='name']").count() == 1
    # Nothing was overwritten: the server still has the other planner's version.
    with live.client() as c:
        now = c.get(f"/api/v1/facilities/{fid}").json()["properties"]
    assert now["name"] == "东湖养老服务站" and now["staff"] == 7 and now["capacity"] is None
    run.shot("planner-facility-conflict")
    page.check("#conflict-dialog input[name='take-name'][value='mine']")
    merged = _save(run, "#btn-merge-save", "PATCH", f"/api/v1/facilities/{fid}")
    assert merged.status == 200, merged.text()
    page.wait_for_selector("#facility-saved")
    with live.client() as c:
        final = c.get(f"/api/v1/facilities/{fid}").json()
    p = final["properties"]
    assert p["name"] == "东湖社区养老服务站" and p["staff"] == 7 and p["capacity"] == 120
    assert final["geometry"]["coordinates"] == pytest.approx(moved, abs=2e-6)
    assert final["geometry"]["coordinates"] != pytest.approx(POINT, abs=1e-5)
    assert run.errors == []


def test_a_field_being_typed_in_keeps_its_focus_when_the_planner_pane_re_renders(run: PageRun, live: Live) -> None:
    """A language switch re-renders the planner pane (after its requests) and moves the open editor into the new
    tools box; the field being typed in lost its focus, so text typed then was lost (seen as the create test's
    save answering "reason required" under load: Playwright's fill focuses, then types, in two steps)."""
    if not live.has("/api/v1/facilities"):
        pytest.skip("the facilities API is not wired into the app")
    page = run.page
    run.open()
    run.login("sun")
    _planner_tab(run)
    page.click("#btn-new-facility")
    page.wait_for_selector("#facility-form")
    page.fill("#fac-reason", "新建")
    page.focus("#fac-reason")
    page.evaluate("() => { document.querySelector('#coverage-form').dataset.old = '1'; }")
    page.dispatch_event("#lang", "click")  # a click event that does not take the focus itself
    page.wait_for_selector("#coverage-form:not([data-old])", state="attached")  # the pane was re-rendered
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "fac-reason"
    page.keyboard.type("站点")
    assert page.input_value("#fac-reason") == "新建站点"
    page.dispatch_event("#lang", "click")
    assert run.errors == []


def test_overlapping_loads_draw_each_facility_once(run: PageRun, live: Live) -> None:
    """Two facility loads at once (a kind filter toggled, the view moved) drew every facility twice (seen
    under load as a strict-mode error on ``path.f-<id>`` in the create/edit test)."""
    page = run.page
    run.open()
    page.click("#tab-layers")
    page.check('#layer-list label[data-layer="facilities"] input')
    page.wait_for_selector("path.facility")
    # A kind switched off and on again at once: two loads in flight together.
    page.evaluate("() => { const cb = document.querySelector('#facility-kinds input'); cb.click(); cb.click(); }")
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("path.facility")
    ids = page.evaluate("""() => [...document.querySelectorAll('path.facility')]
        .map((p) => [...p.classList].find((c) => /^f-[0-9]+$/.test(c)))""")
    assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)[:10]
    assert run.errors == []


def test_cemetery_parcel_create_and_edit_with_a_conflict(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/cemeteries"):
        pytest.skip("the cemeteries API is not wired into the app")
    page = run.page
    run.open()
    run.login("sun")
    _planner_tab(run)
    page.click("#btn-new-cemetery")
    page.wait_for_selector("#cemetery-new-form")
    page.fill("#cem-name", "青龙岗公益性公墓（测试）")
    page.fill("#cem-capacity_plots", "800")
    page.fill("#cem-lonlat", f"{POINT[0] + 0.03}, {POINT[1] - 0.02}")
    page.dispatch_event("#cem-lonlat", "change")
    page.fill("#cem-reason", "新建公墓")
    page.click("#cem-save")
    page.wait_for_selector("#cemetery-form")
    cid = int(page.get_attribute("#cemetery-form", "data-id") or 0)

    # A new parcel: a starting square to reshape on the map (a vertex dragged), then saved.
    page.click("#btn-add-parcel")
    page.wait_for_selector("#parcel-form .hint")
    page.wait_for_selector("path.parcel-sketch")
    vertices = ".marker-icon:not(.marker-icon-middle)"  # Geoman's vertex handles (in whatever pane it uses)
    assert page.locator(vertices).count() == 4
    _drag(run, vertices, -50, 40)  # the south-west corner pulled further out
    page.fill("#par-name", "东扩一期")
    page.select_option("#par-status", "planned_extension")
    page.fill("#par-plots_capacity", "300")
    page.fill("#par-reason", "规划扩建")
    page.click("#par-save")
    page.wait_for_selector("#parcel-saved")
    pid = int(page.get_attribute("#parcel-saved", "data-id") or 0)
    assert page.locator("#parcel-exclusion").count() == 1
    with live.client() as c:
        parcel = c.get(f"/api/v1/cemeteries/parcels/{pid}").json()
    pp = parcel["properties"]
    assert pp["cemetery_id"] == cid and pp["name"] == "东扩一期" and pp["plots_capacity"] == 300
    # The 120 m starting square is 14,400 m²; the dragged vertex made it another shape and size.
    assert pp["area_m2"] > 0 and abs(pp["area_m2"] - 14_400) > 300
    assert f"{pp['area_m2']:,.1f}".rstrip("0").rstrip(".") in page.inner_text("#parcel-saved")
    run.shot("planner-parcel-created")

    # Edit the parcel while someone else changes its remarks: the merge dialog, nothing overwritten.
    page.click("#parcel-saved button")
    page.wait_for_selector(f"#cemetery-form .parcel-edit[data-parcel='{pid}']")
    page.click(f"#cemetery-form .parcel-edit[data-parcel='{pid}']")
    page.wait_for_selector(f"#parcel-form[data-id='{pid}']")
    with live.client("sun") as c:
        r = c.get(f"/api/v1/cemeteries/parcels/{pid}")
        other = c.patch(f"/api/v1/cemeteries/parcels/{pid}", headers={"If-Match": r.headers["etag"]},
                        json={"remarks": "林地边界待核", "reason": "他人备注"})
        assert other.status_code == 200, other.text
    page.fill("#par-plots_capacity", "350")
    page.fill("#par-reason", "核定墓位")
    page.click("#par-save")
    page.wait_for_selector("#conflict-dialog[open]")
    with live.client() as c:
        now = c.get(f"/api/v1/cemeteries/parcels/{pid}").json()["properties"]
    assert now["plots_capacity"] == 300 and now["remarks"] == "林地边界待核"
    run.shot("planner-parcel-conflict")
    page.click("#btn-merge-save")
    page.wait_for_selector("#parcel-saved")
    with live.client() as c:
        final = c.get(f"/api/v1/cemeteries/parcels/{pid}").json()["properties"]
        cem = c.get(f"/api/v1/cemeteries/{cid}").json()["properties"]
    assert final["plots_capacity"] == 350 and final["remarks"] == "林地边界待核"
    assert final["area_m2"] == pp["area_m2"]  # the shape was not sent again
    assert [x["properties"]["id"] for x in cem["parcels"]] == [pid]

    # The cemetery's burial facts, then its location (a cemetery is a facility: the facility form moves it).
    page.click("#parcel-saved button")
    page.wait_for_selector(f"#cemetery-form[data-id='{cid}']")
    page.fill("#cemf-occupied_plots", "120")
    page.fill("#cemf-eco_burials", "80")
    page.fill("#cemf-reason", "年度核查")
    page.click("#cemf-save")
    page.wait_for_function("() => document.querySelector('#cemf-occupied_plots')?.defaultValue === '120'")
    with live.client() as c:
        cem = c.get(f"/api/v1/cemeteries/{cid}").json()
    assert cem["properties"]["occupied_plots"] == 120
    assert cem["properties"]["eco_share"] == pytest.approx(80 / 120, abs=1e-4)
    page.click("#cemf-move")
    page.wait_for_selector(f"#facility-form[data-id='{cid}']")
    _drag(run, ".planner-pin", -70, 30)
    moved = [float(x) for x in page.input_value("#fac-lonlat").split(",")]
    page.fill("#fac-reason", "入口位置更正")
    page.click("#fac-save")
    page.wait_for_selector("#facility-saved")
    with live.client() as c:
        cem2 = c.get(f"/api/v1/cemeteries/{cid}").json()
    assert cem2["geometry"]["coordinates"] == pytest.approx(moved, abs=2e-6)
    assert cem2["geometry"]["coordinates"] != pytest.approx(cem["geometry"]["coordinates"], abs=1e-5)
    assert cem2["properties"]["occupied_plots"] == 120
    assert run.errors == []
