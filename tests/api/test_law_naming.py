"""Issue 14, "The law, enforced" — the naming side: names change only through the procedure (R2), the checks of
a proposal run again at every step against the gazetteer as it stands then, only records that can be true
(T1: no past event dated after today; G1 / §1.5: a county's gazetteer holds its own names, each in a division),
and the campaign runs without a body."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.errors import Conflict
from gis_api.ogc.reader import SessionReader
from gis_api.places import service
from gis_api.places.schemas import PlaceUpdate
from tests.api.test_naming import (
    APPLIED,
    URL,
    _advance,
    _apply,
    _approve,
    _approved_street,
    _doc,
    _etag,
    _reports,
    _review,
)

Login = Callable[..., dict[str, str]]
DIANBU = [117.4571, 31.8774]  # inside the synthetic 店埠镇 (340122100)
BEIJING = [116.4, 39.9]


def _street_line(dx: float = 0.0) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[DIANBU[0] + dx, DIANBU[1]], [DIANBU[0] + dx + 0.003, DIANBU[1]]]}


def _place(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "青龙路", "category_code": "251", "geometry": _street_line(), "reason": "test",
                            "source": "test", "valid_from": "2024-01-01"}
    body.update(over)
    return body


def _error(r: Any, status: int, field: str, rule: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = dict(r.json())
    assert body["field"] == field and body["rule"] == rule, body
    assert body["message"] and body["message_zh"] and body["message"] != body["message_zh"]
    return body


def _tomorrow() -> str:
    return (clock.today() + dt.timedelta(days=1)).isoformat()


# -- the campaign runs with no body (all defaults), as the README shows -------------------------------------

def test_campaign_run_needs_no_body(client: TestClient, login: Login) -> None:
    r = client.post("/api/v1/names/campaign/run", headers=login("officer"))
    assert r.status_code == 200, r.text
    assert r.json()["checked"] >= 300 and "重" in r.json()["flags"]


# -- T1: no record of a past event dated after today ---------------------------------------------------------

def test_place_registration_dates_cannot_lie_in_the_future(client: TestClient, login: Login) -> None:
    h = login("officer")
    for field, value in (("registered_on", _tomorrow()), ("named_on", _tomorrow()),
                         ("established_year", clock.today().year + 1)):
        r = client.post("/api/v1/places", json=_place(**{field: value}), headers=h)
        _error(r, 422, field, "T1")
    # Today is fine, and a planned valid-time start is the field for the future.
    r = client.post("/api/v1/places", json=_place(registered_on=clock.today().isoformat(), valid_from=_tomorrow()),
                    headers=h)
    assert r.status_code == 201, r.text
    ok = client.post("/api/v1/places", json=_place(name="青岚路"), headers=h)
    assert ok.status_code == 201
    r = client.patch(f"/api/v1/places/{ok.json()['id']}", json={"named_on": _tomorrow(), "reason": "typo"},
                     headers={**h, "If-Match": ok.headers["ETag"]})
    _error(r, 422, "named_on", "T1")
    r = client.put(f"/api/v1/places/{ok.json()['id']}/protection", headers={**h, "If-None-Match": "*"},
                   json={"category": "百年古街巷", "listed_on": _tomorrow(), "reason": "listed"})
    _error(r, 422, "listed_on", "T1")


def test_proposal_step_dates_cannot_lie_in_the_future(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p, _ = _apply(client, officer)
    _error(_doc(client, officer, p["id"], "其他", doc_date=_tomorrow()), 422, "doc_date", "T1")
    _reports(client, officer, p["id"])
    _review(client, officer, p["id"])
    _error(_approve(client, reviewer, p["id"], date=_tomorrow()), 422, "date", "T1")
    assert _approve(client, reviewer, p["id"]).status_code == 200
    _error(_advance(client, officer, p["id"], to="filed", date=_tomorrow(), doc_no="备〔2025〕1号"), 422, "date", "T1")
    assert _advance(client, officer, p["id"], to="filed", date="2025-03-05", doc_no="备〔2025〕1号").status_code == 200
    _error(_advance(client, officer, p["id"], to="announced", date=_tomorrow(), doc_no="告〔2025〕1号"), 422, "date",
           "T1")
    r = client.post(URL, json={"kind": "naming", "name": "青杉路", "category_code": "251", "geometry": _street_line(),
                               "reasons": "x", "applied_on": _tomorrow()}, headers=officer)
    _error(r, 422, "applied_on", "T1")


# -- G1 / §1.5: a county's gazetteer holds its own names -----------------------------------------------------

def _neighbour_point(session: Session) -> list[float]:
    """A point inside a neighbouring county (real outline), outside Feidong."""
    row = session.execute(text("""
        WITH f AS (SELECT geom FROM divisions WHERE code = '340122' AND valid_to IS NULL)
        SELECT ST_X(p), ST_Y(p), code FROM (
            SELECT code, ST_PointOnSurface(geom) AS p FROM divisions
            WHERE level = 'county' AND code <> '340122' AND valid_to IS NULL) n, f
        WHERE NOT ST_Intersects(p, f.geom) ORDER BY code LIMIT 1""")).one()
    return [float(row[0]), float(row[1])]


def test_place_outside_the_county_is_refused(client: TestClient, login: Login, session: Session) -> None:
    h = login("officer")
    point = {"type": "Point", "coordinates": BEIJING}
    body = _error(client.post("/api/v1/places", json=_place(name="天安门", category_code="271", geometry=point),
                              headers=h), 422, "geometry", "G1")
    assert "340122" in body["message"]
    neighbour = {"type": "Point", "coordinates": _neighbour_point(session)}
    _error(client.post("/api/v1/places", json=_place(name="邻县岗", category_code="122", geometry=neighbour),
                       headers=h), 422, "geometry", "G1")
    # No location at all: a standard name needs its division (所在行政区, a mandatory register field).
    _error(client.post("/api/v1/places", json=_place(name="无处岗", category_code="122", geometry=None), headers=h),
           422, "division_code", "§1.5")
    # A stated division of another county, without geometry.
    _error(client.post("/api/v1/places", json=_place(name="无处岗", category_code="122", geometry=None,
                                                     division_code="340121"), headers=h), 422, "division_code", "G1")
    # Inside: fine; and a historic name may lack a located division.
    assert client.post("/api/v1/places", json=_place(), headers=h).status_code == 201
    r = client.post("/api/v1/places", json=_place(name="古驿道", category_code="251", geometry=None,
                                                  status="historic"), headers=h)
    assert r.status_code == 201, r.text
    # Moving a place out of the county is refused the same way.
    feat = client.post("/api/v1/places", json=_place(name="青岚路"), headers=h)
    r = client.patch(f"/api/v1/places/{feat.json()['id']}", headers={**h, "If-Match": feat.headers["ETag"]},
                     json={"geometry": point, "reason": "moved"})
    _error(r, 422, "geometry", "G1")
    n = session.execute(text("SELECT count(*) FROM places WHERE division_code IS NULL AND status = 'standard'"))
    assert n.scalar_one() == 0
    # A naming proposal for an entity outside the county is refused by the same rule.
    r = client.post(URL, json={"kind": "naming", "name": "京郊路", "category_code": "251", "reasons": "x",
                               "geometry": {"type": "LineString", "coordinates": [BEIJING, [116.41, 39.9]]}},
                    headers=h)
    _error(r, 422, "geometry", "G1")
    _error(client.post(URL, json={"kind": "naming", "name": "京郊路", "category_code": "251", "reasons": "x",
                                  "location_description": "邻县", "division_code": "340121"}, headers=h),
           422, "division_code", "G1")


def test_import_and_ogc_apply_the_county_rule(app_factory: Callable[..., TestClient], login: Login,
                                              session: Session) -> None:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    h = login("officer")
    data = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.47, 31.88]},
         "properties": {"name": "好名字岗", "category_code": "122"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": BEIJING},
         "properties": {"name": "北京岗", "category_code": "122"}}]}, ensure_ascii=False).encode()
    r = client.post("/api/v1/imports/places", headers=h, files={"file": ("x.geojson", data)},
                    data={"reason": "测试导入"})
    assert r.status_code == 422, r.text
    assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(2, "geometry")]
    csv_rows = "name,category_code,lon,lat\n王家郢,242,117.41,31.91\n京郊村,242,116.4,39.9\n"
    r = client.post("/api/v1/imports/places", headers=h, files={"file": ("p.csv", csv_rows.encode())},
                    data={"reason": "测试导入", "engine": "bulk"})
    assert r.status_code == 422, r.text
    assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(3, "geometry")]
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": BEIJING},
               "properties": {"name": "北京岗", "category_code": "122", "reason": "ogc"}}
    _error(client.post("/ogc/collections/places/items", json=feature, headers=h), 422, "geometry", "G1")


# -- R2: names change only through the procedure --------------------------------------------------------------

def test_procedure_name_changes_only_through_a_renaming(client: TestClient, login: Login, session: Session) -> None:
    officer, reviewer = login("officer", username="wang"), login("reviewer", username="li")
    login("viewer", username="zhao")
    p = _approved_street(client, officer, reviewer, name="青峰路")
    url = f"/api/v1/places/{p['place_id']}"

    def patch(**body: Any) -> Any:
        return client.patch(url, json={"reason": "更正", **body}, headers={**officer, "If-Match": client.get(
            url).headers["ETag"]})

    # A spelling fix is not written by the officer's PATCH: it waits for a reviewer (202, tests/api/
    # test_name_corrections.py); a change of the name itself is refused with the rule and the procedure.
    body = _error(patch(name="人民路"), 409, "name", "R2")  # not a typo: a new name
    assert "/api/v1/proposals" in body["message"] and "更名" in body["message_zh"]
    _error(patch(name="青枫路", mode="legal", effective_date="2025-06-01"), 409, "name", "R2")
    _error(patch(name="青峰街"), 409, "name", "R2")  # another generic: another name
    assert patch(remarks="路牌已安装").status_code == 200  # other fields are corrected as before
    # The editor's own statement that a reviewer confirmed is no longer a path: the field is not read.
    r = patch(name="青枫路", confirmed_by="li", reason="批复文件为“青枫路”，录入错字")
    assert r.status_code == 202, r.text
    assert client.get(url).json()["properties"]["name"] == "青峰路"
    # No write path but the places service's may apply it: a direct service call without a confirmation is refused.
    with pytest.raises(Conflict) as refused:
        service.update(session, p["place_id"], PlaceUpdate(name="青枫路", reason="x"), client.get(url).headers["ETag"],
                       "wang")
    assert refused.value.rule == "R2" and "/api/v1/name-corrections" in refused.value.message
    c = r.json()
    r = client.post(f"/api/v1/name-corrections/{c['id']}/confirm", headers={**reviewer, "If-Match": c["etag"]})
    assert r.status_code == 200, r.text
    props = client.get(url).json()["properties"]
    assert props["name"] == "青枫路" and props["romanized"] == "Qingfeng Lu"
    changes = client.get(f"{url}/history").json()["changes"]
    fixed = [c for c in changes if c["table"] == "places" and "R2" in (c["reason"] or "")]
    assert fixed and fixed[-1]["actor"] == "li" and "wang" in fixed[-1]["reason"] and "青峰路" in fixed[-1]["reason"]

    # The renaming procedure still renames it.
    q, _ = _apply(client, officer, kind="renaming", place_id=p["place_id"], name="青松路", geometry=None,
                  category_code=None, applied_on="2025-04-01", comment_start="2025-04-01")
    _reports(client, officer, q["id"])
    _review(client, officer, q["id"], date="2025-05-02")
    r = _approve(client, reviewer, q["id"], date="2025-05-06", doc_no="肥政秘〔2025〕30号")
    assert r.status_code == 200, r.text
    assert client.get(url).json()["properties"]["name"] == "青松路"


# -- checks run again at every step, against the gazetteer as it stands then ----------------------------------

def _register(client: TestClient, h: dict[str, str], name: str) -> tuple[int, str]:
    r = client.post("/api/v1/places", json=_place(name=name, valid_from=None),
                    headers=h)
    assert r.status_code == 201, r.text
    return int(r.json()["id"]), r.headers["ETag"]


def test_backdated_proposal_sees_a_name_registered_today(client: TestClient, login: Login) -> None:
    officer = login("officer")
    _register(client, officer, "祥和路")  # registered today, in force from today
    p, _ = _apply(client, officer, name="祥和路", applied_on=APPLIED)
    dup = [f for f in p["flags"] if f["class"] == "重"]
    assert dup and dup[0]["rule"] == "N7" and "祥和路" in dup[0]["evidence"]


def test_checks_run_again_at_every_step_and_show_what_changed(client: TestClient, login: Login) -> None:
    officer, reviewer = login("officer"), login("reviewer")
    p, _ = _apply(client, officer, name="桂馨路")
    assert p["flags"] == []
    pid = p["id"]
    place_id, tag = _register(client, officer, "桂馨路")  # registered while the proposal is under way
    _reports(client, officer, pid)
    p = _review(client, officer, pid)
    assert [f["class"] for f in p["flags"]] == ["重"]
    check = p["steps"][-1]["details"]["check"]
    assert [f["class"] for f in check["appeared"]] == ["重"] and check["disappeared"] == []
    assert check["checked_on"] == clock.today().isoformat()
    assert [(c["to"], [f["class"] for f in c["appeared"]]) for c in p["checks"]] == [("applied", []),
                                                                                     ("reviewed", ["重"])]
    # The clashing registration is withdrawn the same day: at approval the flag is gone, and no justification
    # is needed any more.
    r = client.post(f"/api/v1/places/{place_id}/retire", headers={**officer, "If-Match": tag},
                    json={"effective_date": clock.today().isoformat(), "reason": "误登记"})
    assert r.status_code == 200, r.text
    r = _approve(client, reviewer, pid)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["flags"] == []
    check = p["steps"][-1]["details"]["check"]
    assert check["appeared"] == [] and [f["class"] for f in check["disappeared"]] == ["重"]
    r = _advance(client, officer, pid, to="filed", date="2025-03-05", doc_no="备〔2025〕9号")
    assert r.status_code == 200, r.text
    assert r.json()["steps"][-1]["details"]["check"]["flags"] == []
    assert client.get(f"{URL}/{pid}").headers["ETag"] == _etag(client, pid)


def test_what_counts_as_a_typo() -> None:
    """R2: a slip of a character or of the input method is a typo; another generic or another name is not."""
    from gis_api.places.service import is_typo

    assert is_typo("青峰路", "青枫路") and is_typo("青枫路", "清风路") and is_typo("店埠河大桥", "店埠河大挢")
    assert not is_typo("青枫路", "人民路") and not is_typo("青枫路", "青枫街")
