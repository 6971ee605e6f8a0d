"""Naming procedure from the map: an officer applies to rename a place from its panel, sees the checks while
typing, and the proposal appears with its stage in the list and on the place."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Live, PageRun


def test_officer_proposes_a_rename(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/proposals"):
        pytest.skip("the proposals API is not wired into the app")
    page = run.page
    run.open()
    assert page.is_hidden("#tab-proposals")
    run.login("wang")
    assert page.is_visible("#tab-proposals")
    page.fill("#search", "dfgc")
    page.wait_for_selector('#search-results li[role="option"]:has-text("东方广场")')
    page.keyboard.press("Enter")
    page.wait_for_selector("#place-title:has-text('东方广场')")
    place_id = int(page.inner_text("#sec-register tr[data-field=id] td"))
    page.click("#btn-propose-rename")
    page.wait_for_selector("#proposal-form")
    page.fill("#pr-name", "曼哈顿广场")
    page.wait_for_selector("#proposal-form .cls-洋")
    page.fill("#pr-name", "东城广场")
    page.fill("#pr-reasons", "广场改造后更名，与周边街巷名称协调")
    page.fill("#pr-applicant", "店埠镇人民政府")
    run.shot("proposal_form")
    page.click("#proposal-form button[type=submit]")
    page.wait_for_selector("#pane-proposals h2:has-text('东城广场')")
    assert "已申报" in page.inner_text("#pane-proposals")
    run.shot("proposal_detail")
    with live.client() as c:
        found = c.get("/api/v1/proposals", params={"place_id": place_id}).json()
    assert found["numberMatched"] == 1
    p = found["items"][0]
    assert (p["kind"], p["stage"], p["old_name"], p["name"]) == ("renaming", "applied", "东方广场", "东城广场")
    page.click("#btn-proposals-back")
    page.wait_for_selector(f'#proposal-list li[data-id="{p["id"]}"]')
    assert run.errors == []
    assert run.outside() == []
