"""The naming and renaming procedure (domain.md §1.3): 申报 → 论证/征求意见 → 批准 → 备案 (D1) → 公告 (D2, D3),
roles, stage order, supporting documents, approving authorities, name flags, deadlines, notices, ETags."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from docx import Document
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.naming.schemas import NamingSettings

Login = Callable[..., dict[str, str]]
URL = "/api/v1/proposals"
DIANBU = [117.4571, 31.8774]  # inside the synthetic 店埠镇 (340122100)
COUNTY_GOV = "肥东县人民政府"
HOUSING = "肥东县住房和城乡建设局"
# A procedure in the past: 30 days of public comment from 2025-01-03, so the review can pass from 2025-02-02.
APPLIED, COMMENT, REVIEWED, APPROVED = "2025-01-02", "2025-01-03", "2025-02-10", "2025-03-03"


def _street(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "naming", "name": "青枫路", "category_code": "251",
        "geometry": {"type": "LineString", "coordinates": [DIANBU, [DIANBU[0] + 0.004, DIANBU[1]]]},
        "location_description": "东起龙泉路，西至店埠河，长约380米",
        "entity_scale": "长380米，宽24米", "entity_nature": "城市支路", "meaning": "沿线多植枫树",
        "reasons": "新建道路需要命名", "applicant": "店埠镇人民政府", "applied_on": APPLIED, "comment_start": COMMENT,
    }
    body.update(over)
    return body


def _apply(client: TestClient, h: dict[str, str], **over: Any) -> tuple[dict[str, Any], str]:
    r = client.post(URL, json=_street(**over), headers=h)
    assert r.status_code == 201, r.text
    return r.json(), r.headers["ETag"]


def _doc(client: TestClient, h: dict[str, str], pid: int, kind: str, **extra: Any) -> Any:
    data = {"kind": kind, "title": f"{kind}报告", "doc_no": f"{kind}〔2025〕1号", "doc_date": "2025-02-05", **extra}
    return client.post(f"{URL}/{pid}/documents", data=data, headers=h)


def _reports(client: TestClient, h: dict[str, str], pid: int, *extra_kinds: str) -> None:
    for kind in ("综合评估", "专家论证", *extra_kinds):
        assert _doc(client, h, pid, kind).status_code == 201
    r = _doc(client, h, pid, "征求意见", opinion_handling="收到意见3条，采纳1条，未采纳2条并已说明理由")
    assert r.status_code == 201, r.text


def _etag(client: TestClient, pid: int) -> str:
    return cast(str, client.get(f"{URL}/{pid}").headers["ETag"])


def _advance(client: TestClient, h: dict[str, str], pid: int, **body: Any) -> Any:
    body.setdefault("reason", f"办理：{body['to']}")
    return client.post(f"{URL}/{pid}/advance", json=body, headers={**h, "If-Match": _etag(client, pid)})


def _review(client: TestClient, h: dict[str, str], pid: int, date: str = REVIEWED) -> dict[str, Any]:
    r = _advance(client, h, pid, to="reviewed", date=date)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _approve(client: TestClient, h: dict[str, str], pid: int, **over: Any) -> Any:
    body = {"to": "approved", "date": APPROVED, "doc_no": "肥政秘〔2025〕12号", "authority": COUNTY_GOV, **over}
    return _advance(client, h, pid, **body)


def _approved_street(client: TestClient, officer: dict[str, str], reviewer: dict[str, str], **over: Any
                     ) -> dict[str, Any]:
    p, _ = _apply(client, officer, **over)
    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    r = _approve(client, reviewer, p["id"])
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_new_street_whole_procedure(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer", username="wang"), login("reviewer", username="li")
    p, tag = _apply(client, officer)
    assert p["stage"] == "applied" and p["kind"] == "naming" and tag == f'"n{p["id"]}.v{p["version"]}"'
    assert p["division_code"] == "340122100" and p["division_name"] == "店埠镇"  # derived from the geometry
    assert p["flags"] == [] and p["flags_scope"].startswith("本乡镇")
    assert p["comment"] == {"start": COMMENT, "days": 30, "end": "2025-02-01", "review_from": "2025-02-02"}
    assert p["next_stages"] == ["reviewed", "rejected", "withdrawn"] and p["place_id"] is None
    pid = p["id"]

    # A report uploaded as a file: stored with its hash, downloadable, never rendered inline.
    pdf = b"%PDF-1.4 expert report"
    r = client.post(f"{URL}/{pid}/documents", headers=officer,
                    data={"kind": "专家论证", "title": "青枫路命名专家论证意见", "doc_no": "肥地名论〔2025〕2号"},
                    files={"file": ("专家论证.pdf", pdf, "application/pdf")})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["size_bytes"] == len(pdf) and doc["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert client.get(doc["file_url"]).status_code == 401  # working papers need a login, even with public reads
    got = client.get(doc["file_url"], headers=login("viewer"))
    assert got.content == pdf and got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment")
    _reports(client, officer, pid)

    p = _review(client, officer, pid)
    assert p["stage"] == "reviewed" and p["reviewed_on"] == REVIEWED and p["reviewed_by"] == "wang"

    r = _approve(client, reviewer, pid)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["stage"] == "approved" and p["approval_authority"] == COUNTY_GOV and p["approved_by"] == "li"
    assert p["deadlines"]["filing_due"] == "2025-03-18" and p["deadlines"]["notice_due"] == "2025-03-18"
    place_id = p["place_id"]
    assert place_id is not None

    # Approval made the name standard, valid from the approval date.
    place = client.get(f"/api/v1/places/{place_id}", params={"as_of": APPROVED}).json()["properties"]
    assert place["name"] == "青枫路" and place["status"] == "standard" and place["valid_from"] == APPROVED
    assert place["romanized"] == "Qingfeng Lu" and place["named_on"] == APPROVED
    assert place["division_code"] == "340122100" and place["meaning"] == "沿线多植枫树"
    assert "肥政秘〔2025〕12号" in place["sources"]
    assert client.get(f"/api/v1/places/{place_id}", params={"as_of": "2025-03-02"}).status_code == 404

    r = _advance(client, officer, pid, to="filed", date="2025-03-10", doc_no="合民地备〔2025〕7号",
                 filed_with="合肥市民政局")
    assert r.status_code == 200, r.text
    assert r.json()["filed_on"] == "2025-03-10" and r.json()["warnings"] == []
    r = _advance(client, officer, pid, to="announced", date="2025-03-12", doc_no="肥民公告〔2025〕3号")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["stage"] == "announced" and p["notice_no"] == "肥民公告〔2025〕3号" and p["next_stages"] == []
    assert [(s["to"], s["actor"], s["date"]) for s in p["steps"]] == [
        ("applied", "wang", APPLIED), ("reviewed", "wang", REVIEWED), ("approved", "li", APPROVED),
        ("filed", "wang", "2025-03-10"), ("announced", "wang", "2025-03-12")]
    assert p["steps"][2]["doc_no"] == "肥政秘〔2025〕12号"
    assert not any(p["deadlines"][k] for k in ("filing_overdue", "notice_overdue", "filing_late", "notice_late"))

    # Audited: who and why for the proposal, its documents and its steps.
    changes = client.get(f"{URL}/{pid}/history").json()["changes"]
    assert {c["table"] for c in changes} == {"proposals", "proposal_documents", "proposal_steps"}
    assert any(c["actor"] == "li" and c["reason"] == "办理：approved" and c["table"] == "proposals"
               for c in changes)
    # Once the procedure is over it takes no further step.
    r = _advance(client, officer, pid, to="filed", date="2025-03-20", doc_no="x")
    assert r.status_code == 409 and r.json()["code"] == "closed"


def test_renaming_a_demo_road_keeps_the_former_name(client: TestClient, login: Login, session: Session) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    pid = session.execute(text(
        "SELECT place_id FROM places WHERE name = '龙泉路' AND division_code = '340122100' AND valid_to IS NULL"
    )).scalar_one()
    r = client.post(URL, headers=officer, json={
        "kind": "renaming", "place_id": pid, "name": "龙川路", "reasons": "与龙泉山同名易混淆",
        "applied_on": APPLIED, "comment_start": COMMENT, "location_description": "店埠镇中部东西向道路"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["old_name"] == "龙泉路" and p["category_code"] == "251" and p["division_code"] == "340122100"
    assert p["warnings"] == [] and p["flags"] == []
    # One open renaming per place.
    again = client.post(URL, headers=officer, json={"kind": "renaming", "place_id": pid, "name": "龙溪路",
                                                     "reasons": "x"})
    assert again.status_code == 409 and again.json()["code"] == "open_proposal"

    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    r = _approve(client, reviewer, p["id"], doc_no="肥政秘〔2025〕20号")
    assert r.status_code == 200, r.text
    assert r.json()["place_id"] == pid

    place = client.get(f"/api/v1/places/{pid}").json()["properties"]
    assert place["name"] == "龙川路" and place["romanized"] == "Longchuan Lu" and place["valid_from"] == APPROVED
    assert [(v["kind"], v["name"], v["valid_to"]) for v in place["variants"]] == [("曾用名", "龙泉路", APPROVED)]
    assert client.get(f"/api/v1/places/{pid}", params={"as_of": "2025-03-02"}).json()["properties"]["name"] == "龙泉路"

    page = client.get(f"{URL}/{p['id']}/notice.html")
    assert page.status_code == 200
    assert "龙泉路更名为龙川路" in page.text and "<th scope=\"row\">原名称</th><td>龙泉路</td>" in page.text


def test_roles(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    r = client.post(URL, json=_street(), headers=login("viewer"))
    assert r.status_code == 403 and r.json()["code"] == "role_required"
    assert client.post(URL, json=_street(), headers=reviewer).status_code == 403
    assert client.post(URL, json=_street()).status_code == 401
    p, _ = _apply(client, officer)
    _reports(client, officer, p["id"])
    assert _doc(client, login("viewer"), p["id"], "其他").status_code == 403
    assert _advance(client, reviewer, p["id"], to="reviewed", date=REVIEWED).status_code == 403
    _review(client, officer, p["id"])
    r = _approve(client, officer, p["id"])  # an officer cannot approve
    assert r.status_code == 403 and "reviewer" in r.json()["message"]
    r = client.post(f"{URL}/{p['id']}/reject", json={"reason": "no"},
                    headers={**officer, "If-Match": _etag(client, p["id"])})
    assert r.status_code == 403
    assert _approve(client, login("admin"), p["id"]).status_code == 200  # admin may do everything


def test_stage_order_and_comment_period(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    today = clock.today()
    start = today - dt.timedelta(days=5)
    p, _ = _apply(client, officer, applied_on=start.isoformat(), comment_start=start.isoformat())
    pid = p["id"]
    _reports(client, officer, pid)

    r = _approve(client, reviewer, pid, date=today.isoformat())  # cannot approve before review
    assert r.status_code == 409 and r.json()["code"] == "stage_order" and r.json()["rule"] == "§1.3"
    r = _advance(client, officer, pid, to="filed", doc_no="x")
    assert r.status_code == 409 and r.json()["code"] == "stage_order"

    r = _advance(client, officer, pid, to="reviewed")  # the 30-day public comment is still running
    body = r.json()
    assert r.status_code == 422 and body["code"] == "comment_period_open" and body["rule"] == "§1.3"
    assert body["review_from"] == (start + dt.timedelta(days=30)).isoformat()
    r = _advance(client, officer, pid, to="reviewed", date=(today + dt.timedelta(days=40)).isoformat())
    assert r.status_code == 422 and r.json()["field"] == "date"  # no steps in the future

    # A shorter period (the setting, domain.md U) applies to proposals made after it changed.
    client.app.state.naming_settings = NamingSettings(comment_days=5)  # type: ignore[attr-defined]
    q, _ = _apply(client, officer, applied_on=start.isoformat(), comment_start=start.isoformat())
    assert q["comment"]["days"] == 5
    _reports(client, officer, q["id"])
    assert _review(client, officer, q["id"], date=today.isoformat())["stage"] == "reviewed"

    # Without a comment start the review cannot pass.
    s, _ = _apply(client, officer, comment_start=None)
    _reports(client, officer, s["id"])
    r = _advance(client, officer, s["id"], to="reviewed", date=REVIEWED)
    assert r.status_code == 422 and r.json()["field"] == "comment_start"
    r = _advance(client, officer, s["id"], to="reviewed", date=REVIEWED, comment_start=COMMENT)
    assert r.status_code == 200 and r.json()["comment"]["start"] == COMMENT


def test_supporting_documents_are_required(client: TestClient, login: Login) -> None:
    officer = login("officer")
    p, _ = _apply(client, officer)
    assert _doc(client, officer, p["id"], "综合评估").status_code == 201
    r = _advance(client, officer, p["id"], to="reviewed", date=REVIEWED)
    body = r.json()
    assert r.status_code == 422 and body["code"] == "missing_documents" and body["rule"] == "§1.3"
    assert body["missing"] == ["专家论证", "征求意见"] and "专家论证" in body["message_zh"]
    r = _doc(client, officer, p["id"], "征求意见")  # without how the opinions were handled
    assert r.status_code == 422 and r.json()["field"] == "opinion_handling"
    r = _doc(client, officer, p["id"], "会议纪要")
    assert r.status_code == 422 and r.json()["field"] == "kind"


def test_division_name_needs_risk_assessment(client: TestClient, login: Login, session: Session) -> None:
    """A township (乡镇) rename: province approves, 风险评估 required; 撮镇镇 is protected (§1.4)."""
    officer, reviewer = login("officer"), login("reviewer")
    pid = session.execute(text("SELECT place_id FROM places WHERE name = '撮镇镇' AND valid_to IS NULL")).scalar_one()
    r = client.post(URL, headers=officer, json={
        "kind": "renaming", "place_id": pid, "name": "撮城镇", "reasons": "test", "applied_on": APPLIED,
        "comment_start": COMMENT, "location_description": "肥东县中西部"})
    assert r.status_code == 201, r.text
    p = r.json()
    # Warned at application time: the name is on the protection list without measures.
    assert [(w["code"], w["rule"]) for w in p["warnings"]] == [("protected_name", "§1.4")]
    _reports(client, officer, p["id"])
    r = _advance(client, officer, p["id"], to="reviewed", date=REVIEWED)
    assert r.status_code == 422 and r.json()["missing"] == ["风险评估"]
    assert _doc(client, officer, p["id"], "风险评估").status_code == 201
    _review(client, officer, p["id"])
    r = _approve(client, reviewer, p["id"])  # the county does not approve township names
    assert r.status_code == 422 and r.json()["expected"] == "安徽省人民政府"
    r = _approve(client, reviewer, p["id"], authority="安徽省人民政府")
    assert r.status_code == 409 and r.json()["code"] == "protected_name" and r.json()["rule"] == "§1.4"
    # Nothing was half-written: still reviewed, the place keeps its name.
    assert client.get(f"{URL}/{p['id']}").json()["stage"] == "reviewed"
    assert client.get(f"/api/v1/places/{pid}").json()["properties"]["name"] == "撮镇镇"


def test_authority_must_match_the_category(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p, _ = _apply(client, officer)
    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    r = _approve(client, reviewer, p["id"], authority=HOUSING)
    body = r.json()
    assert r.status_code == 422 and body["code"] == "authority_mismatch" and body["field"] == "authority"
    assert body["rule"] == "§1.3" and body["expected"] == COUNTY_GOV and COUNTY_GOV in body["message_zh"]
    for missing in ("authority", "doc_no", "date"):
        r = _approve(client, reviewer, p["id"], **{missing: None})
        assert r.status_code == 422 and r.json()["field"] == missing
    r = _approve(client, reviewer, p["id"], authority="肥东县政府")  # a recorded alias
    assert r.status_code == 200 and r.json()["approval_authority"] == "肥东县政府"
    table = client.get(f"{URL}/authorities").json()
    assert {"category_prefix": "212", "authority": "安徽省人民政府"}.items() <= next(
        a for a in table if a["category_prefix"] == "212").items()


def test_authority_table_writes_carry_preconditions(client: TestClient, login: Login) -> None:
    """PUT /authorities/{prefix}: If-None-Match: * adds a prefix, If-Match (its ETag) changes one; neither is 428."""
    admin = login("admin")
    url = f"{URL}/authorities/2519"
    row = {"authority": "肥东县民政局", "reason": "test"}
    assert client.get(url).status_code == 404
    assert client.put(url, headers=admin, json=row).status_code == 428
    assert client.put(url, headers={**admin, "If-Match": '"au2519.v1"'}, json=row).status_code == 404
    r = client.put(url, headers={**admin, "If-None-Match": "*"}, json=row)
    assert r.status_code == 201 and r.headers["ETag"] == r.json()["etag"] == '"au2519.v1"', r.text
    assert client.get(url).headers["ETag"] == '"au2519.v1"'
    dup = client.put(url, headers={**admin, "If-None-Match": "*"}, json={**row, "authority": "别的机关"})
    assert dup.status_code == 412 and dup.json()["current"]["authority"] == "肥东县民政局"
    r = client.put(url, headers={**admin, "If-Match": '"au2519.v1"'}, json={**row, "note": "街路巷细类"})
    assert r.status_code == 200 and r.headers["ETag"] == '"au2519.v2"' and r.json()["note"] == "街路巷细类"
    stale = client.put(url, headers={**admin, "If-Match": '"au2519.v1"'}, json={**row, "note": "lost?"})
    assert stale.status_code == 412 and stale.json()["current"]["note"] == "街路巷细类"
    assert stale.headers["ETag"] == '"au2519.v2"'
    assert client.put(url, headers={**login("officer"), "If-Match": '"au2519.v2"'}, json=row).status_code == 403


def test_flags_need_justification_and_estate_needs_civil_affairs_opinion(
    client: TestClient, login: Login, session: Session
) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    estate = {"type": "Point", "coordinates": DIANBU}
    p, _ = _apply(client, officer, name="曼哈顿花园", category_code="281", geometry=estate,
                  location_description="店埠镇龙泉路北侧", entity_scale="占地3.2公顷，住宅12栋")
    assert [(f["class"], f["rule"]) for f in p["flags"]] == [("洋", "N5")]  # shown, not blocking
    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    r = _approve(client, reviewer, p["id"], authority=HOUSING)
    assert r.status_code == 422 and r.json()["missing"] == ["民政部门意见"]
    assert _doc(client, officer, p["id"], "民政部门意见").status_code == 201
    r = _approve(client, reviewer, p["id"], authority=HOUSING)
    body = r.json()
    assert r.status_code == 422 and body["code"] == "flags_need_justification"
    assert body["rule"] == "N5" and body["field"] == "flags_justification"
    why = "开发商外资品牌名称，经专家论证同意保留"
    r = _approve(client, reviewer, p["id"], authority=HOUSING, flags_justification=why)
    assert r.status_code == 200, r.text
    place_id = r.json()["place_id"]
    assert r.json()["flags_justification"] == why
    flags = session.execute(text("SELECT class, status, outcome_note FROM name_flags WHERE place_id = :p"),
                            {"p": place_id}).all()
    assert [tuple(f) for f in flags] == [("洋", "exempted", why)]


def test_deadlines_and_overdue_listing(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    late = _approved_street(client, officer, reviewer)  # approved 2025-03-03, nothing done since
    prompt = _approved_street(client, officer, reviewer, name="桂语路")
    for to, date, no in (("filed", "2025-03-05", "备〔2025〕1号"), ("announced", "2025-03-06", "告〔2025〕1号")):
        assert _advance(client, officer, prompt["id"], to=to, date=date, doc_no=no).status_code == 200
    slow = _approved_street(client, officer, reviewer, name="枫林路")
    r = _advance(client, officer, slow["id"], to="filed", date="2025-03-25", doc_no="备〔2025〕2号")
    assert r.status_code == 200
    assert r.json()["warnings"][0]["code"] == "filing_late" and r.json()["warnings"][0]["rule"] == "D1"
    pending, _ = _apply(client, officer, name="桂香路")

    def overdue(as_of: str) -> list[int]:
        r = client.get(URL, params={"overdue": "true", "as_of": as_of})
        assert r.status_code == 200
        return sorted(p["id"] for p in r.json()["items"])

    assert overdue("2025-03-18") == []  # the due date itself is still in time
    assert overdue("2025-03-19") == sorted([late["id"], slow["id"]])
    assert overdue("2025-03-26") == sorted([late["id"], slow["id"]])  # slow: filed, but not announced
    one = client.get(f"{URL}/{slow['id']}", params={"as_of": "2025-03-26"}).json()["deadlines"]
    assert one == {"as_of": "2025-03-26", "filing_due": "2025-03-18", "notice_due": "2025-03-18",
                   "filing_overdue": False, "notice_overdue": True, "filing_late": True, "notice_late": False}
    before = client.get(f"{URL}/{slow['id']}", params={"as_of": "2025-03-20"}).json()["deadlines"]
    assert before["filing_overdue"] is True and before["filing_late"] is False  # as it stood on that day
    assert client.get(f"{URL}/{pending['id']}").json()["deadlines"]["filing_due"] is None

    listed = client.get(URL, params={"stage": "approved"}).json()
    assert [p["id"] for p in listed["items"]] == [late["id"]] and listed["numberMatched"] == 1
    assert {p["id"] for p in client.get(URL, params={"kind": "naming", "limit": 2}).json()["items"]} == {
        pending["id"], slow["id"]}
    assert client.get(URL, params={"stage": "bogus"}).status_code == 422


def _notice_values() -> list[str]:
    return ["青枫路", "Qingfeng Lu", "安徽省合肥市肥东县店埠镇", "东起龙泉路，西至店埠河，长约380米", COUNTY_GOV,
            "2025年3月3日"]


def test_notice_html_has_the_six_fields(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p, _ = _apply(client, officer)
    r = client.get(f"{URL}/{p['id']}/notice.html")
    assert r.status_code == 409 and r.json()["code"] == "not_approved"  # only once approved
    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    assert _approve(client, reviewer, p["id"]).status_code == 200
    r = client.get(f"{URL}/{p['id']}/notice.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for label, value in zip(("标准名称", "罗马字母拼写", "所属政区", "位置描述", "批准机关", "批准时间"),
                            _notice_values(), strict=True):
        assert f"<th scope=\"row\">{label}</th><td>{value}</td>" in page
    assert "肥东县民政局关于青枫路命名的公告" in page and "草稿" in page
    assert "<link" not in page and "src=" not in page and "http" not in page  # self-contained, offline
    _advance(client, officer, p["id"], to="filed", date="2025-03-10", doc_no="备〔2025〕7号")
    _advance(client, officer, p["id"], to="announced", date="2025-03-12", doc_no="肥民公告〔2025〕3号")
    page = client.get(f"{URL}/{p['id']}/notice.html").text
    assert "肥民公告〔2025〕3号" in page and "2025年3月12日" in page and "草稿" not in page


def test_notice_html_escapes_values(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p = _approved_street(client, officer, reviewer, location_description="<script>alert(1)</script>东侧")
    page = client.get(f"{URL}/{p['id']}/notice.html").text
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_notice_docx_opens_and_has_the_six_fields(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p, _ = _apply(client, officer)
    assert client.get(f"{URL}/{p['id']}/notice.docx").status_code == 409
    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    assert _approve(client, reviewer, p["id"]).status_code == 200
    r = client.get(f"{URL}/{p['id']}/notice.docx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    doc = Document(io.BytesIO(r.content))
    rows = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert rows == dict(zip(("标准名称", "罗马字母拼写", "所属政区", "位置描述", "批准机关", "批准时间"),
                            _notice_values(), strict=True))
    assert doc.paragraphs[0].text == "肥东县民政局关于青枫路命名的公告"


def test_notice_pdf_embeds_a_cjk_font_and_the_six_fields(client: TestClient, login: Login, tmp_path: Path) -> None:
    font = NamingSettings().pdf_font
    if not Path(font).is_file():
        pytest.skip(f"no CJK font at {font} (fonts-wqy-microhei)")
    officer, reviewer = login("officer"), login("reviewer")
    p = _approved_street(client, officer, reviewer)
    r = client.get(f"{URL}/{p['id']}/notice.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and b"WenQuanYi" in r.content  # the subset font is embedded
    if shutil.which("pdftotext"):  # poppler-utils, when present, reads the text back
        (tmp_path / "n.pdf").write_bytes(r.content)
        text_ = subprocess.run(["pdftotext", str(tmp_path / "n.pdf"), "-"], capture_output=True, text=True,
                               check=True).stdout
        labels = ("标准名称", "罗马字母拼写", "所属政区", "位置描述", "批准机关", "批准时间")
        for value in ("肥东县民政局关于青枫路命名的公告", *labels, *_notice_values()):
            assert value in text_
    client.app.state.naming_settings = NamingSettings(pdf_font=str(tmp_path / "none.ttf"))  # type: ignore[attr-defined]
    r = client.get(f"{URL}/{p['id']}/notice.pdf")
    assert r.status_code == 503 and "fonts-wqy-microhei" in r.json()["message"]


def test_etags_on_transitions(client: TestClient, login: Login) -> None:
    officer = login("officer")
    p, tag = _apply(client, officer)
    _reports(client, officer, p["id"])
    url = f"{URL}/{p['id']}/advance"
    body = {"to": "reviewed", "date": REVIEWED, "reason": "r"}
    r = client.post(url, json=body, headers=officer)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = client.post(url, json=body, headers={**officer, "If-Match": tag})
    assert r.status_code == 200 and r.headers["ETag"] != tag
    r = client.post(f"{URL}/{p['id']}/withdraw", json={"reason": "r"}, headers={**officer, "If-Match": tag})
    assert r.status_code == 412 and r.json()["current"]["stage"] == "reviewed"
    assert r.headers["ETag"] == _etag(client, p["id"])
    assert client.post(f"{URL}/{p['id']}/withdraw", json={"reason": "r"}, headers=officer).status_code == 428


def test_reject_and_withdraw(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p, tag = _apply(client, officer)
    r = client.post(f"{URL}/{p['id']}/reject", json={"reason": "与规划道路名称重复"},
                    headers={**reviewer, "If-Match": tag})
    assert r.status_code == 200 and r.json()["stage"] == "rejected"
    assert r.json()["closed_reason"] == "与规划道路名称重复"
    assert r.json()["next_stages"] == []
    r = _advance(client, officer, p["id"], to="reviewed", date=REVIEWED)
    assert r.status_code == 409 and r.json()["code"] == "closed"
    assert _doc(client, officer, p["id"], "其他").status_code == 409

    q = _approved_street(client, officer, reviewer, name="桂语路")
    r = client.post(f"{URL}/{q['id']}/withdraw", json={"reason": "late"},
                    headers={**officer, "If-Match": _etag(client, q["id"])})
    assert r.status_code == 409 and r.json()["rule"] == "§1.3"  # after approval the name is law

    s, _ = _apply(client, officer, name="桂香路")
    r = _advance(client, officer, s["id"], to="withdrawn")
    assert r.status_code == 200 and r.json()["stage"] == "withdrawn"


def test_bad_applications_are_clear_4xx(client: TestClient, login: Login) -> None:
    officer = login("officer")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"category_code": None}, "category_code"),
        ({"category_code": "999"}, "category_code"),
        ({"name": " "}, "name"),
        ({"geometry": None, "location_description": None}, "location_description"),
        ({"division_code": "340122101"}, "division_code"),  # the geometry lies in 店埠镇
        ({"applied_on": (clock.today() + dt.timedelta(days=3)).isoformat()}, "applied_on"),
        ({"kind": "renaming"}, "place_id"),
        ({"kind": "rename"}, "kind"),
    ]
    for over, field in cases:
        r = client.post(URL, json=_street(**over), headers=officer)
        assert r.status_code == 422, (over, r.text)
        assert r.json()["field"] == field, (over, r.json())
    assert client.get(f"{URL}/987654").status_code == 404
    # Without geometry: the stated division and the description suffice.
    p, _ = _apply(client, officer, geometry=None, division_code="340122100")
    assert p["geometry"] is None and p["division_name"] == "店埠镇"


def test_attachment_size_limit(client: TestClient, login: Login) -> None:
    officer = login("officer")
    client.app.state.naming_settings = NamingSettings(max_attachment_bytes=16)  # type: ignore[attr-defined]
    p, _ = _apply(client, officer)
    files = {"file": ("big.txt", b"x" * 17, "text/plain")}
    r = client.post(f"{URL}/{p['id']}/documents", headers=officer, data={"kind": "其他", "title": "t"}, files=files)
    assert r.status_code == 413 and r.json()["code"] == "too_large" and r.json()["field"] == "file"
    files = {"file": ("small.txt", b"x" * 16, "text/plain")}
    r = client.post(f"{URL}/{p['id']}/documents", headers=officer, data={"kind": "其他", "title": "t"}, files=files)
    assert r.status_code == 201 and r.json()["size_bytes"] == 16
