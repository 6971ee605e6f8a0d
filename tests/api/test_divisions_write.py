"""Writing divisions: validation, roles, ETag/If-Match, legal change vs correction, audit, never-reused codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[117.40, 31.80], [117.42, 31.80], [117.42, 31.82], [117.40, 31.82], [117.40, 31.80]]],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[117.40, 31.80], [117.42, 31.82], [117.42, 31.80], [117.40, 31.82], [117.40, 31.80]]],
}


def _village(**over: Any) -> dict[str, Any]:
    body = {
        "code": "340122100398", "name": "测试村民委员会", "level": "village", "kind": "村委会",
        "parent_code": "340122100", "geometry": {"type": "Point", "coordinates": [117.46, 31.87]},
        "population": 1200, "source": "test", "valid_from": "2024-01-01", "reason": "test fixture",
    }
    body.update(over)
    return body


def test_write_needs_login_and_role(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    assert client.post("/api/v1/divisions", json=_village()).status_code == 401
    r = client.post("/api/v1/divisions", json=_village(), headers=login("viewer"))
    assert r.status_code == 403 and r.json()["code"] == "role_required"
    assert client.post("/api/v1/divisions", json=_village(), headers=login("planner")).status_code == 403
    r = client.post("/api/v1/divisions", json=_village(), headers=login("officer"))
    assert r.status_code == 201, r.text
    assert r.headers["ETag"]
    assert r.json()["properties"]["name"] == "测试村民委员会"


def test_create_validation_names_the_field(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    h = login("admin")
    cases = [
        (_village(code="34012210039"), "code", 422),  # 11 digits
        (_village(code="340122200398"), "code", 422),  # does not start with its parent's 9 digits
        (_village(parent_code="340122999"), "parent_code", 422),  # no such parent
        (_village(parent_code="340122"), "parent_code", 422),  # parent is a county, not a township
        (_village(kind="镇"), "kind", 422),
        (_village(name="  "), "name", 422),
        (_village(geometry={"type": "Point", "coordinates": [31.87, 117.46]}), "geometry", 422),  # lat/lon
        (_village(geometry=BOWTIE), "geometry", 422),  # a point-or-area level gets an invalid polygon
        (_village(geometry={"type": "LineString", "coordinates": [[117.4, 31.8], [117.5, 31.9]]}), "geometry", 422),
        (_village(population=-5), "population", 422),
        (_village(code="340122100001"), "code", 409),  # exists
    ]
    for body, field, status in cases:
        r = client.post("/api/v1/divisions", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert r.json()["field"] == field, r.json()
        assert r.json()["message_zh"]


def test_invalid_polygon_writes_nothing(client: TestClient, login: Callable[..., dict[str, str]],
                                        session: Session) -> None:
    before = session.execute(text("SELECT count(*) FROM divisions")).scalar_one()
    audit_before = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    r = client.post("/api/v1/divisions", json=_village(geometry=BOWTIE), headers=login("admin"))
    assert r.status_code == 422
    assert "Self-intersection" in r.json()["message"]
    assert session.execute(text("SELECT count(*) FROM divisions")).scalar_one() == before
    assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == audit_before


def test_if_match_required_and_stale_detected(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    h = login("officer")
    r = client.get("/api/v1/divisions/340122100001")
    tag = r.headers["ETag"]
    patch = {"population": 4321, "reason": "census correction"}
    r = client.patch("/api/v1/divisions/340122100001", json=patch, headers=h)
    assert r.status_code == 428 and r.json()["field"] == "If-Match"
    r = client.patch("/api/v1/divisions/340122100001", json=patch, headers={**h, "If-Match": tag})
    assert r.status_code == 200, r.text
    new_tag = r.headers["ETag"]
    assert new_tag != tag and r.json()["properties"]["population"] == 4321
    # A second editor still holding the old ETag is refused and shown the current state.
    r = client.patch("/api/v1/divisions/340122100001", json={"population": 1, "reason": "x"},
                     headers={**h, "If-Match": tag})
    assert r.status_code == 412
    body = r.json()
    assert body["etag"] == new_tag and body["current"]["properties"]["population"] == 4321
    assert client.get("/api/v1/divisions/340122100001").json()["properties"]["population"] == 4321


def test_correction_keeps_valid_time_and_is_audited(client: TestClient,
                                                    login: Callable[..., dict[str, str]]) -> None:
    h = login("officer", username="wang")
    tag = client.get("/api/v1/divisions/340122100").headers["ETag"]
    r = client.patch("/api/v1/divisions/340122100", headers={**h, "If-Match": tag},
                     json={"population": 50000, "reason": "typo in the register"})
    assert r.status_code == 200
    hist = client.get("/api/v1/divisions/340122100/history").json()
    assert len(hist["versions"]) == 1  # record time only, no new valid-time version
    last = hist["changes"][-1]
    assert last["actor"] == "wang" and last["reason"] == "typo in the register"
    assert last["action"] == "UPDATE" and last["changed"] == ["population"]
    assert last["new"]["population"] == 50000 and last["old"]["population"] != 50000
    assert "geom" not in last["new"]  # bulky geometry kept in the log, left out of the listing


def test_legal_change_opens_a_new_version(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    h = login("officer")
    tag = client.get("/api/v1/divisions/340122100").headers["ETag"]
    r = client.patch(
        "/api/v1/divisions/340122100", headers={**h, "If-Match": tag},
        json={"mode": "legal", "effective_date": "2025-03-01", "name": "店埠新镇", "document_no": "皖政〔2025〕1号",
              "reason": "rename approved by the province"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["valid_from"] == "2025-03-01"
    before = client.get("/api/v1/divisions/340122100", params={"as_of": "2025-02-28"}).json()
    after = client.get("/api/v1/divisions/340122100", params={"as_of": "2025-03-01"}).json()
    assert before["properties"]["name"] == "店埠镇" and before["properties"]["valid_to"] == "2025-03-01"
    assert after["properties"]["name"] == "店埠新镇" and after["properties"]["document_no"] == "皖政〔2025〕1号"
    params = {"level": "township", "parent": "340122", "as_of": "2024-12-31"}
    names = {f["properties"]["name"] for f in client.get("/api/v1/divisions", params=params).json()["features"]}
    assert "店埠镇" in names and "店埠新镇" not in names
    # Children keep their parent code across the rename.
    assert client.get("/api/v1/divisions/340122100/children").json()["numberMatched"] > 0


def test_legal_change_needs_effective_date_inside_version(client: TestClient,
                                                          login: Callable[..., dict[str, str]]) -> None:
    h = login("officer")
    tag = client.get("/api/v1/divisions/340122100").headers["ETag"]
    for extra in ({}, {"effective_date": "2020-01-01"}):
        r = client.patch("/api/v1/divisions/340122100", headers={**h, "If-Match": tag},
                         json={"mode": "legal", "name": "新名", "reason": "r", **extra})
        assert r.status_code == 422 and r.json()["field"] == "effective_date"


def test_retired_code_is_never_reused(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    h = login("admin")
    r = client.post("/api/v1/divisions", json=_village(), headers=h)
    assert r.status_code == 201
    tag = r.headers["ETag"]
    r = client.post("/api/v1/divisions/340122100398/retire", headers={**h, "If-Match": tag},
                    json={"effective_date": "2025-01-01", "reason": "merged", "document_no": "肥政〔2025〕2号"})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/divisions/340122100398").status_code == 404
    assert client.get("/api/v1/divisions/340122100398", params={"as_of": "2024-06-01"}).status_code == 200
    r = client.post("/api/v1/divisions", json=_village(valid_from="2026-01-01", name="另一个村民委员会"), headers=h)
    assert r.status_code == 409
    assert r.json()["rule"] == "§4" and r.json()["code"] == "code_retired"


def test_retire_refuses_division_with_children(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    h = login("admin")
    tag = client.get("/api/v1/divisions/340122100").headers["ETag"]
    r = client.post("/api/v1/divisions/340122100/retire", headers={**h, "If-Match": tag},
                    json={"effective_date": "2025-01-01", "reason": "merge"})
    assert r.status_code == 409 and "subordinate" in r.json()["message"]


def test_overlapping_versions_are_impossible(session: Session) -> None:
    """The exclusion constraint backs the service: one version of a code at any date."""
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.execute(text(
                "INSERT INTO divisions (code, name, level, kind, valid_from, source) "
                "VALUES ('340122', 'dup', 'county', '县', '2024-01-01', 'test')"
            ))
        raise AssertionError("overlapping version accepted")
    except IntegrityError as exc:
        assert "divisions_one_version_per_date" in str(exc)


def test_users_admin_only(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    body = {"username": "li", "password": "long enough pw", "roles": ["patrol"]}
    assert client.post("/api/v1/users", json=body, headers=login("officer")).status_code == 403
    r = client.post("/api/v1/users", json=body, headers=login("admin"))
    assert r.status_code == 201 and r.json()["roles"] == ["patrol"]
    r = client.post("/api/v1/users", json={**body, "username": "liu", "roles": ["emperor"]}, headers=login("admin"))
    assert r.status_code == 422 and r.json()["field"] == "roles"
