"""Issue 14: permission comes before validation, on every write route of the OpenAPI document.

A viewer (no role that writes) sending an invalid request gets 403 — not a 422 listing the fields it may not
write anyway; an anonymous caller of a route that needs a login gets 401. Users who hold the role still get the
422 that tells them what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Login = Callable[..., dict[str, str]]
WRITES = ("post", "put", "patch", "delete")
# Writes a viewer may make: logging in and out, its own password, and analyses that change nothing.
OPEN_TO_VIEWER = {
    ("post", "/api/v1/auth/token"), ("post", "/api/v1/auth/logout"), ("put", "/api/v1/users/{username}/password"),
    ("post", "/api/v1/names/check"), ("post", "/api/v1/cemeteries/exclusion-check"), ("post", "/api/v1/coverage"),
    ("post", "/api/v1/coverage/accessibility"),
}


def _invalid(client: TestClient, method: str, path: str, op: dict[str, Any], headers: dict[str, str]) -> Any:
    """The route called with an invalid request: a JSON body of the wrong type, an empty form, or no query."""
    url = re.sub(r"\{[^}]+\}", "1", path)
    content = (op.get("requestBody") or {}).get("content") or {}
    if any("json" in c for c in content):
        return client.request(method, url, content=b'"not an object"',
                              headers={**headers, "Content-Type": "application/json", "If-Match": '"x1.v1"'})
    if content:  # multipart / form: nothing sent
        return client.request(method, url, data={}, headers={**headers, "If-Match": '"x1.v1"'})
    return client.request(method, url, headers={**headers, "If-Match": '"x1.v1"'})


def _write_routes(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    doc = client.get("/openapi.json")
    assert doc.status_code == 200
    out = [(m, p, op) for p, item in doc.json()["paths"].items() for m, op in item.items() if m in WRITES]
    assert len(out) > 50  # the whole API, not a sample
    return sorted(out, key=lambda r: r[1] == "/api/v1/auth/logout")  # logging out revokes the token: last


def test_a_viewer_gets_403_before_any_validation_error(client: TestClient, login: Login) -> None:
    viewer = login("viewer")
    wrong: list[str] = []
    for method, path, op in _write_routes(client):
        r = _invalid(client, method, path, op, viewer)
        if (method, path) in OPEN_TO_VIEWER:
            if r.status_code == 403:
                wrong.append(f"{method.upper()} {path}: 403 for a write a viewer may make")
            continue
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != 403 or not (body.get("message") and body.get("message_zh")):
            wrong.append(f"{method.upper()} {path}: {r.status_code} {body.get('code')} {body.get('field')}")
        elif body.get("rule") != "role_required":
            wrong.append(f"{method.upper()} {path}: 403 without rule role_required: {body}")
    assert not wrong, "\n".join(wrong)


def test_anonymous_writes_that_need_a_login_get_401_first(client: TestClient) -> None:
    wrong = []
    for method, path, op in _write_routes(client):
        if (method, path) in OPEN_TO_VIEWER or path.startswith("/ogc/"):
            continue  # open routes; OGC answers 405 to anyone for a read-only collection (tests/api/test_no5xx)
        r = _invalid(client, method, path, op, {})
        if r.status_code != 401:
            wrong.append(f"{method.upper()} {path}: {r.status_code}")
    assert not wrong, "\n".join(wrong)


def test_the_right_role_still_gets_the_validation_error(client: TestClient, login: Login) -> None:
    body = {"status": "not-a-status", "reason": "x"}
    officer = client.patch("/api/v1/boundary-markers/0013001Q", json=body, headers=login("officer"))
    assert officer.status_code == 403 and officer.json()["rule"] == "role_required"
    patrol = client.patch("/api/v1/boundary-markers/0013001Q", json=body, headers=login("patrol"))
    assert patrol.status_code == 422 and patrol.json()["field"] == "status"
    planner = client.post("/api/v1/boundaries/derive", headers=login("planner"))  # no level: invalid
    assert planner.status_code == 403
    officer_derive = client.post("/api/v1/boundaries/derive", headers=login("officer"))
    assert officer_derive.status_code == 422 and officer_derive.json()["field"] == "level"


def test_a_body_that_is_not_json_is_refused_for_the_role_first(client: TestClient, login: Login) -> None:
    bad = b'{"reason": "x", "status": '
    headers = {"Content-Type": "application/json", "If-Match": '"m1.v1"'}
    viewer = client.patch("/api/v1/boundary-markers/0013001Q", content=bad, headers={**headers, **login("viewer")})
    assert viewer.status_code == 403 and viewer.json()["rule"] == "role_required"
    anonymous = client.patch("/api/v1/boundary-markers/0013001Q", content=bad, headers=headers)
    assert anonymous.status_code == 401
    patrol = client.patch("/api/v1/boundary-markers/0013001Q", content=bad, headers={**headers, **login("patrol")})
    assert patrol.status_code == 422 and patrol.json()["code"] == "malformed_json"
