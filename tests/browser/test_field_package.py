"""The work package of Feidong's county lines downloaded by the phone app (all lines, base tiles to zoom 14 — 16,
the app's default, with DIMING_FIELD_TEST_ZOOM=16: 10,520 tiles take minutes): its size and date shown, every tile
in the cache, and a tile of the corridor at the highest zoom served with no network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from gis_api import clock
from tests.browser.conftest import ARTIFACTS, PASSWORD, Live


@pytest.fixture
def phone(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, locale="zh-CN", timezone_id=clock.zone().key)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


ZOOM = int(os.environ.get("DIMING_FIELD_TEST_ZOOM", "14"))


def test_feidong_county_lines_package(phone: Any, live: Live) -> None:
    if not live.has("/api/v1/field/packages"):
        pytest.skip("the field API is not wired into the app")
    page = phone
    page.goto(f"{live.url}/field/")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_selector("body[data-sw=ready]")
    page.click("#login-btn")
    page.fill("#login-username", "zhao")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("body[data-user=zhao]")
    page.click("#btn-package")
    page.wait_for_selector("#pkg-line-choices input")
    assert page.is_checked("#pkg-all")
    page.select_option("#pkg-zoom", str(ZOOM))
    page.click("#pkg-download")
    page.wait_for_selector("body[data-package]", state="attached", timeout=1_200_000)
    page.click("#pkg-close")
    size = page.locator("#pkg-size")
    got = {k: size.get_attribute(f"data-{k}") for k in ("bytes", "tile-bytes", "tiles", "failed", "seconds")}
    with live.client("zhao") as c:
        ref = c.post("/api/v1/field/packages", json={"code": "340122", "level": "county", "zooms": [8, ZOOM]}).json()
    assert ref["package_id"] == page.get_attribute("body", "data-package")
    assert int(got["bytes"]) == ref["size_bytes"]
    assert int(got["tiles"]) == ref["tiles"]["count"] == len(ref["tiles"]["urls"])
    assert int(got["failed"]) == 0
    assert ref["counts"]["lines"] == page.locator("#line-list li").count()
    assert page.locator("#marker-list li").count() == ref["counts"]["markers"]
    print(f"\nFeidong county lines package: JSON {ref['size_bytes']} bytes, {ref['counts']}, "
          f"tiles {got['tiles']} URLs = {got['tile-bytes']} bytes, downloaded in {got['seconds']} s, "
          f"generated {ref['generated_at']} as of {ref['as_of']}")
    page.screenshot(path=str(ARTIFACTS / "field-package-feidong.png"))

    # With no network, a tile of the corridor at the highest zoom comes from the cache.
    z16 = [u for u in ref["tiles"]["urls"] if f"/{ZOOM}/" in u]
    assert z16
    for _ in range(100):
        if page.evaluate("() => navigator.serviceWorker.controller !== null"):
            break
        page.wait_for_timeout(100)
    page.context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-loaded=true]")
    statuses = page.evaluate("(us) => Promise.all(us.map((u) => fetch(u).then((r) => r.status, () => 0)))",
                             z16[:: max(1, len(z16) // 20)])
    assert all(s in (200, 204) for s in statuses), statuses


def test_field_app_is_installable(live: Live) -> None:
    """The manifest, its icons and the worker are served as an installable web app needs them, and the page
    runs its scripts (an app page: not sandboxed) under the strict policy."""
    with live.client() as c:
        page = c.get("/field/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "sandbox" not in csp and "script-src 'self'" in csp
        assert "<script>" not in page.text  # no inline script: every script is a file
        sw = c.get("/field/sw.js")
        assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
        assert sw.headers["service-worker-allowed"] == "/"
        # Every file the worker keeps for offline use exists (a missing one would make its install fail).
        shell = sw.text.split("const SHELL = [", 1)[1].split("];", 1)[0]
        paths = [p.strip().strip('",') for p in shell.split("\n") if p.strip().startswith('"')]
        assert len(paths) > 15
        for path in paths:
            assert c.get(path).status_code == 200, path
        m = c.get("/field/manifest.webmanifest")
        assert m.headers["content-type"].startswith("application/manifest+json")
        manifest = m.json()
        assert manifest["start_url"] == "/field/" and manifest["display"] == "standalone"
        sizes = {i["sizes"] for i in manifest["icons"]}
        assert {"192x192", "512x512"} <= sizes
        for icon in manifest["icons"]:
            r = c.get(icon["src"])
            assert r.status_code == 200 and r.headers["content-type"] == icon["type"], icon
