"""R2 from the map: an officer cannot change a standard name that came out of the naming procedure by an edit;
a typo of it is corrected with the name of the reviewer who confirmed it."""

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


def test_procedure_name_typo_needs_a_reviewer_from_the_map(run: PageRun, live: Live,
                                                           retry: Callable[..., Any]) -> None:
    place_id = _approved(live, "银杉路")
    page = run.page
    run.open()
    run.login("wang")
    page.fill("#search", "银杉路")
    page.wait_for_selector('#search-results li[role="option"]:has-text("银杉路")')
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#place-title:has-text('银杉路')")
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    page.fill("#f-name", "银衫路")
    page.fill("#f-reason", "批复为“银衫路”，录入错字")
    page.click("#btn-save")
    page.wait_for_selector("#form-error:has-text('更名申报')")  # refused: the procedure is pointed to
    run.shot("law_naming_refused")
    page.fill("#f-confirmed-by", "qian")
    page.click("#btn-save")
    page.wait_for_selector("#place-title:has-text('银衫路')")
    with live.client() as anon:
        p = retry(lambda: (x := anon.get(f"/api/v1/places/{place_id}").json()["properties"])["name"] == "银衫路"
                  and x)
        assert p, "the correction was not committed"
        changes = anon.get(f"/api/v1/places/{place_id}/history").json()["changes"]
    assert any("qian" in (c["reason"] or "") and c["actor"] == "wang" for c in changes)
    assert run.errors == []
    assert run.outside() == []
