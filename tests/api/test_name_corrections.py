"""R2 second sign-off (issue 14): an officer's typo correction of a standard name that came out of the naming
procedure waits as a correction request until another, logged-in reviewer confirms it; it is then written through
the places service against the version it was based on, and audited with both people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_naming import _approved_street

Login = Callable[..., dict[str, str]]
CORR = "/api/v1/name-corrections"


def _people(login: Login) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    return login("officer", username="wang"), login("reviewer", username="li"), login("reviewer", username="zhou")


def _street(client: TestClient, officer: dict[str, str], reviewer: dict[str, str], name: str) -> tuple[str, str]:
    p = _approved_street(client, officer, reviewer, name=name)
    url = f"/api/v1/places/{p['place_id']}"
    return url, client.get(url).headers["ETag"]


def _request(client: TestClient, officer: dict[str, str], url: str, tag: str, name: str,
             reason: str = "批复文件为正字，录入错字", **more: Any) -> Any:
    return client.patch(url, json={"name": name, "reason": reason, **more}, headers={**officer, "If-Match": tag})


def _names(session: Session, place_id: int) -> list[str]:
    return list(session.scalars(text("SELECT name FROM places WHERE place_id = :p ORDER BY valid_from"),
                                {"p": place_id}))


def test_officer_requests_reviewer_confirms_audited_with_both(client: TestClient, login: Login,
                                                              session: Session) -> None:
    officer, li, _zhou = _people(login)
    url, tag = _street(client, officer, li, "青峰路")
    r = _request(client, officer, url, tag, "青枫路")
    assert r.status_code == 202, r.text
    c = r.json()
    assert (c["status"], c["old_name"], c["new_name"], c["requested_by"], c["base_etag"]) == (
        "pending", "青峰路", "青枫路", "wang", tag)
    assert r.headers["Location"] == f"{CORR}/{c['id']}" and r.headers["ETag"] == c["etag"]
    # Nothing is written yet: the place keeps its name and version.
    assert client.get(url).json()["properties"]["name"] == "青峰路" and client.get(url).headers["ETag"] == tag
    pending = client.get(CORR, params={"status": "pending"}, headers=li).json()["items"]
    assert [(x["id"], x["old_name"], x["new_name"], x["reason"]) for x in pending] == [
        (c["id"], "青峰路", "青枫路", "批复文件为正字，录入错字")]
    # A second request for the same place waits behind the first.
    second = _request(client, officer, url, tag, "清峰路")
    assert second.status_code == 409 and second.json()["code"] == "correction_pending", second.text

    r = client.post(f"{CORR}/{c['id']}/confirm", json={"note": "核对批复原件无误"},
                    headers={**li, "If-Match": c["etag"]})
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["decided_by"], done["decision_note"]) == ("confirmed", "li", "核对批复原件无误")
    feature = client.get(url)
    assert feature.json()["properties"]["name"] == "青枫路"
    assert feature.json()["properties"]["romanized"] == "Qingfeng Lu"
    assert feature.headers["ETag"] == done["place_etag"] != tag
    changes = client.get(f"{url}/history").json()["changes"]
    fixed = [x for x in changes if x["table"] == "places" and x["action"] == "UPDATE" and "name" in x["changed"]]
    assert len(fixed) == 1
    assert fixed[0]["actor"] == "li" and "wang" in fixed[0]["reason"] and "li" in fixed[0]["reason"]
    assert fixed[0]["old"]["name"] == "青峰路" and fixed[0]["new"]["name"] == "青枫路"
    req = [x for x in changes if x["table"] == "place_name_corrections"]
    assert [(x["action"], x["actor"]) for x in req] == [("INSERT", "wang"), ("UPDATE", "li")], [
        (x["action"], x["actor"], x["changed"], x["reason"]) for x in req]
    # Confirmed once: a second confirmation is refused and writes nothing.
    again = client.post(f"{CORR}/{c['id']}/confirm", headers={**login("reviewer"), "If-Match": done["etag"]})
    assert again.status_code == 409, again.text
    assert _names(session, int(c["place_id"])) == ["青枫路"]


def test_the_requester_cannot_confirm_and_others_may_not_either(client: TestClient, login: Login,
                                                                session: Session) -> None:
    both = login("officer", "reviewer", username="sun")  # one person holding both roles
    li = login("reviewer", username="li")
    url, tag = _street(client, both, li, "银杏路")
    c = _request(client, both, url, tag, "银杏璐").json()
    assert c["status"] == "pending", c
    r = client.post(f"{CORR}/{c['id']}/confirm", headers={**both, "If-Match": c["etag"]})
    assert r.status_code == 403 and r.json()["rule"] == "R2", r.text
    r = client.post(f"{CORR}/{c['id']}/confirm", headers={**login("officer"), "If-Match": c["etag"]})
    assert r.status_code == 403, r.text  # an officer is not a reviewer
    r = client.post(f"{CORR}/{c['id']}/confirm", headers=li)
    assert r.status_code == 428, r.text  # the reviewer names the request version they read
    assert _names(session, int(c["place_id"])) == ["银杏路"]
    assert client.get(f"{CORR}/{c['id']}").json()["status"] == "pending"


def test_a_change_of_the_place_meanwhile_refuses_the_confirmation(client: TestClient, login: Login,
                                                                  session: Session) -> None:
    officer, li, _zhou = _people(login)
    url, tag = _street(client, officer, li, "松柏路")
    c = _request(client, officer, url, tag, "松柏璐").json()
    other = client.patch(url, json={"remarks": "路牌已更换", "reason": "巡查"}, headers={**officer, "If-Match": tag})
    assert other.status_code == 200, other.text
    now = other.headers["ETag"]
    r = client.post(f"{CORR}/{c['id']}/confirm", headers={**li, "If-Match": c["etag"]})
    assert r.status_code == 412, r.text
    body = r.json()
    assert body["etag"] == now and body["current"]["properties"]["remarks"] == "路牌已更换"
    assert body["message_zh"] and body["field"] == "If-Match"
    # Nothing was written: the name, the place version and the request are as they were.
    assert _names(session, int(c["place_id"])) == ["松柏路"] and client.get(url).headers["ETag"] == now
    assert client.get(f"{CORR}/{c['id']}").json()["status"] == "pending"
    # Having seen the current version, the reviewer confirms against it; the other edit is kept.
    r = client.post(f"{CORR}/{c['id']}/confirm", json={"place_etag": now}, headers={**li, "If-Match": c["etag"]})
    assert r.status_code == 200, r.text
    p = client.get(url).json()["properties"]
    assert (p["name"], p["remarks"]) == ("松柏璐", "路牌已更换")


def test_reviewer_rejects_with_a_reason(client: TestClient, login: Login, session: Session) -> None:
    officer, li, zhou = _people(login)
    url, tag = _street(client, officer, li, "桃源路")
    c = _request(client, officer, url, tag, "桃园路").json()
    r = client.post(f"{CORR}/{c['id']}/reject", json={"reason": ""}, headers={**zhou, "If-Match": c["etag"]})
    assert r.status_code == 422, r.text
    r = client.post(f"{CORR}/{c['id']}/reject", json={"reason": "批复原件即为“桃源路”"},
                    headers={**zhou, "If-Match": c["etag"]})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decided_by"], r.json()["decision_note"]) == (
        "rejected", "zhou", "批复原件即为“桃源路”")
    assert _names(session, int(c["place_id"])) == ["桃源路"] and client.get(url).headers["ETag"] == tag
    late = client.post(f"{CORR}/{c['id']}/confirm", headers={**li, "If-Match": r.json()["etag"]})
    assert late.status_code == 409, late.text
    assert _names(session, int(c["place_id"])) == ["桃源路"]
    # A rejected request no longer blocks a new one.
    assert _request(client, officer, url, tag, "桃沅路").status_code == 202


def test_a_request_that_would_be_refused_is_refused_at_once(client: TestClient, login: Login) -> None:
    officer, li, _zhou = _people(login)
    url, tag = _street(client, officer, li, "梧桐路")
    # Not a typo: the renaming procedure, as before (no request is recorded).
    r = _request(client, officer, url, tag, "人民路")
    assert r.status_code == 409 and r.json()["rule"] == "R2" and "/api/v1/proposals" in r.json()["message"]
    # A typo with another field that would be refused (T1): refused now, not at confirmation.
    r = _request(client, officer, url, tag, "梧侗路", named_on="2999-01-01")
    assert r.status_code == 422 and r.json()["rule"] == "T1", r.text
    assert client.get(CORR, params={"place_id": url.rsplit("/", 1)[1]}, headers=li).json()["items"] == []
    # A stale If-Match gets the usual 412 before anything is recorded.
    r = _request(client, officer, url, '"p1.v1"', "梧侗路")
    assert r.status_code == 412, r.text
