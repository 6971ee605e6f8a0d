"""The map page itself: it draws Feidong from the API with no base map, fetches nothing from outside the
server, switches language, offers Tianditu only when a key is configured, and serves the API docs locally."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gis_api.ui_config import UiSettings
from tests.browser.conftest import PASSWORD, Live, PageRun


def test_map_draws_feidong_offline_and_stays_local(run: PageRun, live: Live) -> None:
    page = run.page
    # Every place lies in the county (G1) and the first view frames the county, so the view holds every place in
    # force: the 312 of the demo plus what earlier browser tests added to this database.
    with live.client() as c:
        places = c.get("/api/v1/places", params={"limit": 1}).json()["numberMatched"]
    assert places >= 312
    run.open()
    # Divisions: 10 counties and 20 townships as paths; every place loaded for the view.
    page.wait_for_function("(n) => document.querySelector('#status').textContent"
                           " === `已显示：10 个县区、20 个乡镇、${n} 条地名`", arg=places)
    assert page.locator("path.leaflet-interactive").count() >= 30
    assert page.locator(".marker-cluster").count() > 0  # place names clustered at county zoom
    # No base map: no tile layer at all, and the page says why Amap/Baidu tiles are not offered (GCJ-02).
    assert page.locator(".leaflet-tile").count() == 0
    assert page.get_attribute("body", "data-base") == "none"
    assert "GCJ-02" in page.inner_text("#layer-list")
    assert "天地图" in page.inner_text("#layer-list")
    assert page.locator('#layer-list input[name="base"]').count() == 1
    # Chinese by default; the layer list names the synthetic layers as such.
    assert page.inner_text("header h1").startswith("地名")
    assert "合成示意" in page.inner_text("#layer-list")
    run.shot("map_zh")

    # Zoomed in, the clusters open and each label carries the name and its pinyin.
    page.evaluate("() => window.dimingMap && window.dimingMap.setView([31.8864, 117.4571], 16)")
    page.wait_for_selector(".labels-on .place-label .lbl i", state="visible")
    label = page.locator(".place-label", has_text="店埠老街").first
    assert "Dianbu Laojie" in label.inner_text()
    run.shot("map_labels_pinyin")

    # Villages, a layer that grows large, come as OGC vector tiles for the view only (when /ogc is served).
    if live.has("/ogc/collections/{collection_id}/tiles/{tms_id}/{z}/{y}/{x}"):
        with page.expect_response(lambda r: "/ogc/collections/villages/tiles/WebMercatorQuad/" in r.url
                                  and r.status == 200) as tile:
            page.check("#layer-list label[data-layer=village] input")
        assert tile.value.headers["content-type"].startswith("application/vnd.mapbox-vector-tile")
        assert "datetime=" in tile.value.url  # the as_of date travels with every tile
        page.wait_for_selector(".leaflet-points-pane .leaflet-tile path", state="attached")
        run.shot("map_village_tiles")
        page.uncheck("#layer-list label[data-layer=village] input")

    page.click("#lang")
    assert page.inner_text("header h1").startswith("Place names")
    assert page.get_attribute("html", "lang") == "en"
    assert "SYNTHETIC" in page.inner_text("#layer-list")
    run.shot("map_en")
    page.click("#lang")  # back to Chinese for the next tests (the choice is kept in localStorage)

    page.goto(live.url + "/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)
    run.shot("docs")
    assert run.errors == []
    assert run.outside() == [], run.outside()


def test_tianditu_only_with_a_key_and_in_matrix_set_w(run: PageRun, live: Live, retry: Callable[..., Any]) -> None:
    live.app.state.ui_settings = UiSettings(tianditu_key="test-key-123")
    try:
        run.open()
        page = run.page
        bases = page.locator('#layer-list input[name="base"]')
        assert bases.count() == 3  # none, vector (vec+cva), imagery (img+cia)
        page.wait_for_function("() => document.querySelectorAll('.leaflet-tile').length > 0")
        tiles = [u for u in run.outside()]
        # Tiles come only from Tianditu, in the web-mercator matrix set with the key; vector + annotation.
        assert tiles and all(re.match(r"https://t[0-7]\.tianditu\.gov\.cn/(vec|cva)_w/wmts\?", u) for u in tiles), tiles
        assert all("TILEMATRIXSET=w" in u and "tk=test-key-123" in u for u in tiles)
        assert {re.search(r"LAYER=(\w+)", u).group(1) for u in tiles} == {"vec", "cva"}  # type: ignore[union-attr]
        page.check('#layer-list input[value="tdt_img"]')
        # The request events reach run.requests only while Playwright runs (a plain sleep delivers none): wait in
        # the page between looks (the full suite failed here once, the imagery requests sent after page.check).
        assert retry(lambda: page.wait_for_timeout(100) or (any("/img_w/" in u for u in run.requests)
                                                            and any("/cia_w/" in u for u in run.requests)),
                     timeout=30)
        # Back to no base map: no tile left on the map.
        page.check('#layer-list input[value="none"]')
        assert page.locator(".leaflet-tile").count() == 0
        assert not any(re.search(r"(amap|autonavi|baidu|bdimg|qq\.com|gtimg)", u) for u in run.requests)
    finally:
        live.app.state.ui_settings = UiSettings(tianditu_key=None)


def test_login_first_when_reads_need_a_login(run: PageRun, live: Live) -> None:
    """DIMING_PUBLIC_READ=false: the page asks for a login, then draws everything with the token."""
    settings = live.app.state.settings
    live.app.state.settings = replace(settings, auth=settings.auth.model_copy(update={"public_read": False}))
    try:
        page = run.page
        page.goto(live.url + "/")
        page.wait_for_selector("#login-dialog[open]")
        assert page.inner_text("#status") == "请先登录"
        page.fill("#login-username", "wang")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        page.wait_for_function("() => document.querySelector('#status').textContent"
                               ".startsWith('已显示：10 个县区、20 个乡镇、')")
        assert page.locator("path.leaflet-interactive").count() >= 30
        assert run.errors == []
        assert run.outside() == []
    finally:
        live.app.state.settings = settings
