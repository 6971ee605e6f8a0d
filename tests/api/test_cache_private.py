"""An answer given to a token is never left for a shared cache to hand to someone else: responses to requests with
``Authorization`` carry ``Cache-Control: private`` (unless the route set its own), anonymous ones are unchanged.
With DIMING_PUBLIC_READ=false a cached copy of an officer's 200 would otherwise reach anonymous callers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

PATHS = ("/api/v1/places/{pid}", "/ogc/collections/places/items/{pid}", "/ogc/collections/places")


@pytest.mark.parametrize("public_read", [True, False])
def test_answers_to_a_token_are_private(app_factory: Callable[..., TestClient], session: Session,
                                        login: Callable[..., dict[str, str]], public_read: bool) -> None:
    client = app_factory(public_read=public_read)
    pid = session.execute(text("SELECT place_id FROM places WHERE valid_to IS NULL LIMIT 1")).scalar_one()
    officer = login("officer")
    # OGC reads check a token on their own connections, which do not see this test's uncommitted login: with
    # public_read off only the JSON API is asked here (the header is added for every path alike).
    for path in (p.format(pid=pid) for p in (PATHS if public_read else PATHS[:1])):
        mine = client.get(path, headers=officer)
        assert mine.status_code == 200 and mine.headers.get("etag"), (path, mine.status_code)
        assert mine.headers["cache-control"] == "private", path
        etag = mine.headers["etag"]
        again = client.get(path, headers={**officer, "If-None-Match": etag})  # the browser's cache still works
        assert again.status_code in (200, 304) and again.headers["cache-control"] == "private", path
        anonymous = client.get(path)
        assert anonymous.status_code == (200 if public_read else 401), path
        assert "cache-control" not in anonymous.headers, path  # public content stays cacheable by anyone


def test_a_routes_own_cache_control_is_kept(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    r = client.get("/field/", headers=login("patrol"))  # the phone app's page: no-cache, always revalidated
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
