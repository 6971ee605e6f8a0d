"""DIMING_PUBLIC_READ=false with a Tianditu key: /api/v1/ui-config needs a login too, so the page starts
without a base map and adds it once someone has logged in."""

from __future__ import annotations

from dataclasses import replace

from gis_api.ui_config import UiSettings
from tests.browser.conftest import PASSWORD, Live, PageRun


def test_base_map_appears_after_login_when_reads_are_private(run: PageRun, live: Live) -> None:
    settings = live.app.state.settings
    live.app.state.settings = replace(settings, auth=settings.auth.model_copy(update={"public_read": False}))
    live.app.state.ui_settings = UiSettings(tianditu_key="test-key-123")
    try:
        page = run.page
        page.goto(live.url + "/")
        page.wait_for_selector("#login-dialog[open]")
        assert page.get_attribute("body", "data-base") == "none"
        page.fill("#login-username", "wang")
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        assert page.get_attribute("body", "data-base") == "tdt_vec"
        assert page.locator('#layer-list input[name="base"]').count() == 3
        assert run.errors == []
    finally:
        live.app.state.settings = settings
        live.app.state.ui_settings = UiSettings(tianditu_key=None)
