"""R2 from the map: an officer cannot change a standard name that came out of the naming procedure by an edit; a
typo of it waits for a reviewer, who confirms it (or, when the place changed meanwhile, compares in the conflict
dialog) from the 申报审批 tab. The proposal screen shows what the checks found at each step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.browser.conftest import Live, PageRun

URL = "/api/v1/proposals"
DIANBU = [117.4571, 31.8774]  # inside the synthetic 店埠镇 (340122100)


def _ok(r: httpx.Response, status: int = 200) -> httpx.Response:
    assert r.status_code == status, r.text
    return r


def _approved(live: Live, name: str) -> int:
    """A street named through the whole procedure (applied, reviewed, approved); returns its place id."""
    with live.client("wang") as wang, live.client("qian") as qian:
        p = _ok(wang.post(URL, json={
            "kind": "naming", "name": name, "category_code": "251",
            "geometry": {"type": "LineString", "coordinates": [[DIANBU[0], DIANBU[1] - 0.002],
                                                               [DIANBU[0] + 0.003, DIANBU[1] - 0.002]]},
            "location_description": "店埠镇南部东西向道路", "reasons": "新建道路需要命名", "applied_on": "2025-01-02",
            "comment_start": "2025-01-03"}), 201).json()
        for kind in ("综合评估", "专家论证", "征求意见"):
            _ok(wang.post(f"{URL}/{p['id']}/documents", data={"kind": kind, "title": f"{kind}报告",
                                                             "opinion_handling": "无异议"}), 201)

        def advance(c: httpx.Client, **body: Any) -> dict[str, Any]:
            tag = _ok(c.get(f"{URL}/{p['id']}")).headers["ETag"]
            return dict(_ok(c.post(f"{URL}/{p['id']}/advance", json={"reason": "办理", **body},
                                   headers={"If-Match": tag})).json())

        advance(wang, to="reviewed", date="2025-02-10")
        done = advance(qian, to="approved", date="2025-03-03", doc_no="肥政秘〔2025〕41号", authority="肥东县人民政府")
        return int(done["place_id"])


def _find(run: PageRun, name: str) -> None:
    page = run.page
    page.fill("#search", name)
    page.wait_for_selector(f'#search-results li[role="option"]:has-text("{name}")')
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#place-title:has-text('{name}')")


def test_procedure_name_typo_waits_for_a_reviewer_who_confirms_it_on_the_map(
        run: PageRun, live: Live, retry: Callable[..., Any]) -> None:
    place_id = _approved(live, "银杉路")
    other_id = _approved(live, "金桂路")
    page = run.page
    run.open()
    run.login("wang")
    _find(run, "银杉路")
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    assert page.locator("#f-confirmed-by").count() == 0  # the editor's own statement is no longer a path
    page.fill("#f-name", "人民路")
    page.fill("#f-reason", "想改个名字")
    page.click("#btn-save")
    page.wait_for_selector("#form-error:has-text('更名申报')")  # a new name: refused, the procedure pointed to
    page.fill("#f-name", "银衫路")
    page.fill("#f-reason", "批复为“银衫路”，录入错字")
    page.click("#btn-save")
    page.wait_for_selector("#toast:has-text('等待另一位审核人确认')")
    page.wait_for_selector("#place-correction-pending:has-text('银衫路')")
    assert "银杉路" in page.inner_text("#place-title")  # not written yet
    run.shot("law_naming_waiting")
    with live.client("wang") as wang:
        assert wang.get(f"/api/v1/places/{place_id}").json()["properties"]["name"] == "银杉路"
        # A second request, for the other street, whose place then changes before the reviewer gets to it.
        url = f"/api/v1/places/{other_id}"
        tag = _ok(wang.get(url)).headers["ETag"]
        _ok(wang.patch(url, json={"name": "金贵路", "reason": "录入错字"}, headers={"If-Match": tag}), 202)
        _ok(wang.patch(url, json={"remarks": "路牌已更换", "reason": "巡查"}, headers={"If-Match": tag}))

    page.evaluate("sessionStorage.clear()")
    run.open()
    run.login("qian")
    page.click("#tab-proposals")
    item = page.locator("#correction-list li.correction", has_text="银杉路 → 银衫路")
    item.wait_for()
    assert "wang" in item.inner_text() and "录入错字" in item.inner_text()
    run.shot("law_naming_corrections")
    item.locator(".btn-correction-confirm").click()
    page.wait_for_selector("#toast:has-text('已确认')")
    with live.client() as anon:
        p = retry(lambda: (x := anon.get(f"/api/v1/places/{place_id}").json()["properties"])["name"] == "银衫路"
                  and x)
        assert p, "the confirmed correction was not committed"
        changes = anon.get(f"/api/v1/places/{place_id}/history").json()["changes"]
    fixed = [c for c in changes if c["table"] == "places" and "R2" in (c["reason"] or "")]
    assert fixed and fixed[-1]["actor"] == "qian" and "wang" in fixed[-1]["reason"]
    assert page.locator("#correction-list li.correction", has_text="银衫路").count() == 0

    # The place changed after the request: the confirmation gets 412 and the conflict dialog compares.
    stale = page.locator("#correction-list li.correction", has_text="金桂路 → 金贵路")
    stale.locator(".btn-correction-confirm").click()
    page.wait_for_selector("#conflict-dialog[open] #conflict-title:has-text('已被修改')")
    with live.client() as anon:
        assert anon.get(f"/api/v1/places/{other_id}").json()["properties"]["name"] == "金桂路"  # nothing written
    page.click("#btn-merge-save")  # keep the requested spelling, against the version now seen
    with live.client() as anon:
        p = retry(lambda: (x := anon.get(f"/api/v1/places/{other_id}").json()["properties"])["name"] == "金贵路"
                  and x)
        assert p and p["remarks"] == "路牌已更换"
    assert run.errors == []
    assert run.outside() == []


def test_proposal_screen_shows_what_the_checks_found_at_each_step(run: PageRun, live: Live) -> None:
    with live.client("wang") as wang:
        p = _ok(wang.post(URL, json={
            "kind": "naming", "name": "桂馨路", "category_code": "251",
            "geometry": {"type": "LineString", "coordinates": [[DIANBU[0], DIANBU[1] + 0.002],
                                                               [DIANBU[0] + 0.003, DIANBU[1] + 0.002]]},
            "location_description": "店埠镇北部道路", "reasons": "新建道路需要命名", "applied_on": "2025-01-02",
            "comment_start": "2025-01-03"}), 201).json()
        assert p["flags"] == []
        # The same name registered while the proposal is under way: the next step's checks find it (N7, 重).
        _ok(wang.post("/api/v1/places", json={
            "name": "桂馨路", "category_code": "251", "reason": "登记", "source": "test",
            "geometry": {"type": "LineString", "coordinates": [[DIANBU[0] + 0.01, DIANBU[1]],
                                                               [DIANBU[0] + 0.013, DIANBU[1]]]}}), 201)
        for kind in ("综合评估", "专家论证", "征求意见"):
            _ok(wang.post(f"{URL}/{p['id']}/documents", data={"kind": kind, "title": f"{kind}报告",
                                                             "opinion_handling": "无异议"}), 201)
        tag = _ok(wang.get(f"{URL}/{p['id']}")).headers["ETag"]
        done = _ok(wang.post(f"{URL}/{p['id']}/advance", json={"to": "reviewed", "date": "2025-02-10",
                                                               "reason": "审查"}, headers={"If-Match": tag})).json()
    steps = {c["to"]: c for c in done["checks"]}
    assert [f["class"] for f in steps["reviewed"]["appeared"]] == ["重"]
    page = run.page
    run.open()
    run.login("qian")
    page.click("#tab-proposals")
    page.click(f'#proposal-list li[data-id="{p["id"]}"] button')
    reviewed = page.locator("#proposal-steps li", has_text="已论证").last
    reviewed.locator(".step-checks").wait_for()
    assert reviewed.locator(".check-appeared").count() == 1
    assert "重" in reviewed.locator(".check-appeared").inner_text()
    assert "N7" in reviewed.locator(".check-appeared").inner_text()
    applied = page.locator("#proposal-steps li").first
    assert "复核结果无变化" in applied.locator(".step-checks").inner_text()
    run.shot("law_naming_step_checks")
    assert run.errors == []
    assert run.outside() == []
