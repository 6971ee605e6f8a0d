"""No lost updates through any door (issue 10 §1): real parallel transactions against a live server.

The rest of the suite rolls every test back inside one connection, which cannot show a race. Here a uvicorn
server runs on a copy of the test database (``<test db>_conc``, made from it as a template and dropped at the
end), and threads release their requests together at a barrier, each on its own HTTP connection and so on its
own database transaction. For every versioned entity and write route, N requests carrying the same ETag must
give exactly one 2xx and N-1 x 412; 20 clients appending a marker each through OGC PATCH with If-Match and
retry-on-412 must end with all 20 markers and 20 audit rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.app import create_app
from gis_api.db import CONNECTION_OPTIONS
from gis_api.errors import NotFound, PreconditionFailed, PreconditionRequired
from gis_api.places import service as places_service
from gis_api.places.models import Place
from gis_api.settings import Settings
from tests.api.test_adjustments import propose
from tests.api.test_boundaries import _inspection
from tests.api.test_facilities import _cemetery, _facility
from tests.api.test_naming import APPROVED, COUNTY_GOV, REVIEWED, _apply, _reports
from tests.live import serve

N = 10
PASSWORD = "correct horse battery"
USERS = {"officer": ["officer"], "reviewer": ["reviewer"], "planner": ["planner"], "patrol": ["patrol"]}
DIANBU = [117.4571, 31.8774]  # inside the demo 店埠镇
RESULTS: dict[str, Counter[int]] = {}


@dataclass
class Live:
    url: str
    tokens: dict[str, str]
    engine: Engine

    def headers(self, user: str, etag: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[user]}"}
        return {**h, "If-Match": etag} if etag else h

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(user), timeout=60)


def _admin(url: Any) -> Engine:
    return create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module")
def live(engine: Engine, settings: Settings) -> Iterator[Live]:
    assert settings.db.database_url
    url = make_url(settings.db.database_url)
    own = url.set(database=f"{url.database}_conc")
    engine.dispose()  # a template database must have no other connections
    admin = _admin(url)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": url.database})
        c.execute(text(f'CREATE DATABASE "{own.database}" TEMPLATE "{url.database}"'))
    own_url = own.render_as_string(hide_password=False)
    own_engine = create_engine(own_url, connect_args={"options": CONNECTION_OPTIONS})
    with Session(own_engine) as s:
        for name, roles in USERS.items():
            auth.create_user(s, f"conc_{name}", PASSWORD, roles)
        s.commit()
    app = create_app(replace(settings, db=settings.db.model_copy(update={"database_url": own_url})))
    try:
        with serve(app) as base:
            tokens = {}
            for name in USERS:
                r = httpx.post(f"{base}/api/v1/auth/token", data={"username": f"conc_{name}", "password": PASSWORD})
                r.raise_for_status()
                tokens[name] = str(r.json()["access_token"])
            yield Live(base, tokens, own_engine)
    finally:
        own_engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)'))
        admin.dispose()
        if RESULTS:
            print(f"\nparallel same-ETag requests (N={N}): " + "; ".join(
                f"{k}: {sum(n for s, n in v.items() if 200 <= s < 300)}x2xx {v.get(412, 0)}x412"
                + "".join(f" {n}x{s}" for s, n in v.items() if s != 412 and not 200 <= s < 300)
                for k, v in RESULTS.items()))


def race(live: Live, user: str, n: int, send: Callable[[httpx.Client, int], httpx.Response]
         ) -> list[httpx.Response]:
    """``send(client, i)`` from n threads released together; the responses."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        with live.client(user) as c:
            c.get("/api/v1/health")  # connect first: the barrier then releases requests, not handshakes
            barrier.wait()
            r = send(c, i)
            r.read()
            return r

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def _ok(r: httpx.Response, status: int = 200) -> httpx.Response:
    assert r.status_code == status, r.text
    return r


def _place(live: Live, **over: Any) -> tuple[int, str]:
    body = {"name": "并发路", "category_code": "251", "reason": "test", "source": "test", "valid_from": "2021-01-01",
            "geometry": {"type": "LineString", "coordinates": [DIANBU, [DIANBU[0] + 0.004, DIANBU[1]]]}, **over}
    with live.client("officer") as c:
        r = _ok(c.post("/api/v1/places", json=body), 201)
    return int(r.json()["id"]), r.headers["ETag"]


def _village(live: Live, nth: int) -> tuple[str, str]:
    """The code and ETag of a demo village (a different one per test, so tests do not depend on each other)."""
    with live.client("officer") as c:
        feats = _ok(c.get("/api/v1/divisions", params={"level": "village", "limit": 50})).json()["features"]
        code = str(feats[nth]["properties"]["code"])
        return code, _ok(c.get(f"/api/v1/divisions/{code}")).headers["ETag"]


def _etag(live: Live, user: str, path: str) -> str:
    with live.client(user) as c:
        return _ok(c.get(path)).headers["ETag"]


def check(live: Live, name: str, user: str, send: Callable[[httpx.Client, int], httpx.Response]) -> None:
    responses = race(live, user, N, send)
    codes = [r.status_code for r in responses]
    RESULTS[name] = Counter(codes)
    ok = [s for s in codes if 200 <= s < 300]
    odd = [r.text[:300] for r in responses if r.status_code != 412 and not 200 <= r.status_code < 300]
    assert len(ok) == 1 and codes.count(412) == N - 1, f"{name}: {sorted(codes)} {odd[:1]}"


# -- the mechanism, in one transaction ------------------------------------------------------------------------------

def test_lock_rereads_a_row_the_session_already_holds(session: Session) -> None:
    """The root cause of the OGC lost updates: an object read before the lock was handed back unchanged."""
    row = session.scalars(select(Place).where(Place.valid_to.is_(None)).order_by(Place.place_id).limit(1)).one()
    stale = places_service.etag(row.id, row.version)
    session.execute(text("UPDATE places SET remarks = coalesce(remarks, '') || '!' WHERE id = :id"), {"id": row.id})
    assert places_service.etag(row.id, row.version) == stale  # the identity map still holds the old object

    def missing() -> NotFound:
        return NotFound("gone", "无", field="id")

    with pytest.raises(PreconditionFailed) as failed:
        places_service.GUARD.lock(session, row.place_id, stale, missing=missing)
    assert failed.value.headers == {"ETag": places_service.etag(row.id, row.version)} != {"ETag": stale}
    with pytest.raises(PreconditionRequired):
        places_service.GUARD.lock(session, row.place_id, None, missing=missing)
    current = places_service.etag(row.id, row.version)
    assert places_service.GUARD.lock(session, row.place_id, f'"x", W/{current}', missing=missing) is row
    assert places_service.GUARD.lock(session, row.place_id, "*", missing=missing) is row
    with pytest.raises(NotFound):
        places_service.GUARD.lock(session, -1, "*", missing=missing)


# -- places -------------------------------------------------------------------------------------------------------

def test_places_rest_patch_and_retire(live: Live) -> None:
    pid, tag = _place(live)
    url = f"/api/v1/places/{pid}"
    check(live, "REST PATCH /places/{id}", "officer",
          lambda c, i: c.patch(url, json={"remarks": f"r{i}", "reason": "race"}, headers={"If-Match": tag}))
    tag = _etag(live, "officer", url)
    today = clock.today().isoformat()
    check(live, "REST POST /places/{id}/retire", "officer",
          lambda c, i: c.post(f"{url}/retire", json={"effective_date": today, "reason": f"race {i}"},
                              headers={"If-Match": tag}))


def test_a_replaced_version_is_refused_without_waiting_for_the_lock(live: Live) -> None:
    """A PATCH naming a version already replaced gets its 412 at once, while another writer holds the place's
    locks: whatever that writer commits, the offered version cannot come back (before: it queued for the locks
    and got the same 412 after them; here it would never return and the request times out)."""
    pid, tag = _place(live)
    url = f"/api/v1/places/{pid}"
    with live.client("officer") as c:
        current = _ok(c.patch(url, json={"remarks": "first", "reason": "t"}, headers={"If-Match": tag}))
    with live.engine.connect() as holder:  # a writer in the middle of its write: both locks held until rollback
        holder.execute(text("SELECT pg_advisory_xact_lock(hashtext('places'), hashtext(:k))"), {"k": str(pid)})
        holder.execute(text("SELECT 1 FROM places WHERE place_id = :p FOR UPDATE"), {"p": pid})
        with live.client("officer") as c:
            stale = c.patch(url, json={"remarks": "stale", "reason": "t"}, headers={"If-Match": tag}, timeout=20)
        holder.rollback()
    assert stale.status_code == 412, stale.text
    assert stale.headers["ETag"] == current.headers["ETag"] == stale.json()["etag"]
    with live.client("officer") as c:
        assert _ok(c.get(url)).json()["properties"]["remarks"] == "first"


def test_places_ogc_put_patch_delete(live: Live) -> None:
    pid, _ = _place(live)
    url = f"/ogc/collections/places/items/{pid}"
    tag = _etag(live, "officer", url)
    check(live, "OGC PATCH places", "officer", lambda c, i: c.patch(
        url, json={"type": "Feature", "properties": {"remarks": f"p{i}"}}, headers={"If-Match": tag}))
    read = httpx.get(live.url + url)
    tag, feature = read.headers["ETag"], read.json()
    check(live, "OGC PUT places", "officer", lambda c, i: c.put(url, headers={"If-Match": tag}, json={
        **feature, "properties": {**feature["properties"], "remarks": f"q{i}"}}))
    tag = _etag(live, "officer", url)
    check(live, "OGC DELETE places", "officer", lambda c, i: c.delete(url, headers={"If-Match": tag}))


def test_legal_changes_effective_today_race_too(live: Live) -> None:
    """A legal change closes the row the others wait for and opens another: still one winner, the rest 412."""
    pid, tag = _place(live)
    today = clock.today().isoformat()
    check(live, "REST PATCH /places/{id} mode=legal", "officer", lambda c, i: c.patch(
        f"/api/v1/places/{pid}", headers={"If-Match": tag},
        json={"mode": "legal", "effective_date": today, "status": "standard", "remarks": f"l{i}", "reason": "race"}))
    with live.client("officer") as c:
        versions = _ok(c.get(f"/api/v1/places/{pid}/history")).json()["versions"]
    assert [v["valid_to"] for v in versions] == [today, None]


def test_place_registered_today_is_withdrawn_by_ogc_delete_and_rest_retire(live: Live) -> None:
    """Issue 11: DELETE of a place registered today answered 404 (retire looked at the day before)."""
    today = clock.today().isoformat()
    pid, _ = _place(live, valid_from=None)
    url = f"/ogc/collections/places/items/{pid}"
    tag = _etag(live, "officer", url)
    with live.client("officer") as c:
        assert c.delete(url, headers={"If-Match": tag}).status_code == 204
        assert c.get(url).status_code == 404
        assert c.delete(url, headers={"If-Match": tag}).status_code == 404  # nothing left to retire
        hist = _ok(c.get(f"/api/v1/places/{pid}/history")).json()
        assert hist["versions"] == []
        assert [ch["action"] for ch in hist["changes"] if ch["table"] == "places"] == ["INSERT", "DELETE"]
        pid2, tag2 = _place(live, valid_from=None)
        r = _ok(c.post(f"/api/v1/places/{pid2}/retire", json={"effective_date": today, "reason": "entered twice"},
                       headers={"If-Match": tag2}))
        assert r.json()["withdrawn"] is True
        assert c.get(f"/api/v1/places/{pid2}").status_code == 404
        # A retirement dated on the first day of a version that began in the past is still refused.
        pid3, tag3 = _place(live, valid_from="2021-01-01")
        r = c.post(f"/api/v1/places/{pid3}/retire", json={"effective_date": "2021-01-01", "reason": "x"},
                   headers={"If-Match": tag3})
        assert r.status_code == 422 and r.json()["field"] == "effective_date"


def test_division_registered_today_is_withdrawn_by_ogc_delete(live: Live) -> None:
    today = clock.today().isoformat()
    with live.client("officer") as c:
        r = _ok(c.post("/api/v1/divisions", json={
            "code": "340122100397", "name": "当日撤回村民委员会", "level": "village", "kind": "村委会",
            "parent_code": "340122100", "geometry": {"type": "Point", "coordinates": [117.46, 31.87]},
            "source": "test", "valid_from": today, "reason": "entered by mistake"}), 201)
        url = "/ogc/collections/villages/items/340122100397"
        assert c.delete(url, headers={"If-Match": r.headers["ETag"]}).status_code == 204
        assert c.get(url).status_code == 404
        hist = _ok(c.get("/api/v1/divisions/340122100397/history")).json()
        assert hist["versions"] == [] and [ch["action"] for ch in hist["changes"]] == ["INSERT", "DELETE"]
        again = c.post("/api/v1/divisions", json={
            "code": "340122100397", "name": "再用", "level": "village", "kind": "村委会", "parent_code": "340122100",
            "source": "test", "valid_from": today, "reason": "reuse"})
        assert again.status_code == 409 and again.json()["code"] == "code_retired"  # codes are never reused


# -- divisions ----------------------------------------------------------------------------------------------------

def test_divisions_rest_patch_and_retire(live: Live) -> None:
    code, tag = _village(live, 0)
    url = f"/api/v1/divisions/{code}"
    check(live, "REST PATCH /divisions/{code}", "officer",
          lambda c, i: c.patch(url, json={"population": 1000 + i, "reason": "race"}, headers={"If-Match": tag}))
    tag = _etag(live, "officer", url)
    today = clock.today().isoformat()
    check(live, "REST POST /divisions/{code}/retire", "officer",
          lambda c, i: c.post(f"{url}/retire", json={"effective_date": today, "reason": f"race {i}"},
                              headers={"If-Match": tag}))


def test_divisions_ogc_put_patch_delete(live: Live) -> None:
    code, _ = _village(live, 1)
    url = f"/ogc/collections/villages/items/{code}"
    tag = _etag(live, "officer", url)
    check(live, "OGC PATCH villages", "officer", lambda c, i: c.patch(
        url, json={"type": "Feature", "properties": {"population": 2000 + i}}, headers={"If-Match": tag}))
    read = httpx.get(live.url + url)
    tag, feature = read.headers["ETag"], read.json()
    check(live, "OGC PUT villages", "officer", lambda c, i: c.put(url, headers={"If-Match": tag}, json={
        **feature, "properties": {**feature["properties"], "population": 3000 + i}}))
    tag = _etag(live, "officer", url)
    check(live, "OGC DELETE villages", "officer", lambda c, i: c.delete(url, headers={"If-Match": tag}))


# -- facilities, cemeteries, parcels ------------------------------------------------------------------------------

def test_facilities_patch_and_retire(live: Live) -> None:
    with live.client("planner") as c:
        r = _ok(c.post("/api/v1/facilities", json=_facility(name="并发社工站", valid_from="2024-03-01")), 201)
    url, tag = f"/api/v1/facilities/{r.json()['id']}", r.headers["ETag"]
    check(live, "REST PATCH /facilities/{id}", "planner",
          lambda c, i: c.patch(url, json={"capacity": 50 + i, "reason": "race"}, headers={"If-Match": tag}))
    tag = _etag(live, "planner", url)
    today = clock.today().isoformat()
    check(live, "REST POST /facilities/{id}/retire", "planner",
          lambda c, i: c.post(f"{url}/retire", json={"effective_date": today, "reason": f"race {i}"},
                              headers={"If-Match": tag}))


def test_cemeteries_and_parcels_patch(live: Live) -> None:
    with live.client("planner") as c:
        r = _ok(c.post("/api/v1/cemeteries", json=_cemetery(name="并发公墓")), 201)
    cid = r.json()["id"]
    url = f"/api/v1/cemeteries/{cid}"
    tag = _etag(live, "planner", url)
    check(live, "REST PATCH /cemeteries/{id}", "planner",
          lambda c, i: c.patch(url, json={"remarks": f"c{i}", "reason": "race"}, headers={"If-Match": tag}))
    parcel = r.json()["properties"]["parcels"][0]["properties"]["id"]
    purl = f"/api/v1/cemeteries/parcels/{parcel}"
    tag = _etag(live, "planner", purl)
    check(live, "REST PATCH /cemeteries/parcels/{id}", "planner",
          lambda c, i: c.patch(purl, json={"remarks": f"p{i}", "reason": "race"}, headers={"If-Match": tag}))


# -- boundary lines and markers -----------------------------------------------------------------------------------

def test_boundary_line_and_marker_patch(live: Live) -> None:
    url = "/api/v1/boundaries/C340122-340181"
    tag = _etag(live, "patrol", url)
    check(live, "REST PATCH /boundaries/{line}", "patrol",
          lambda c, i: c.patch(url, json={"agreement_ref": f"皖民界〔2002〕{i}号", "reason": "race"},
                               headers={"If-Match": tag}))
    with live.client("patrol") as c:
        marker = _ok(c.get("/api/v1/boundary-markers", params={"limit": 1})).json()["features"][0]["id"]
    murl = f"/api/v1/boundary-markers/{marker}"
    tag = _etag(live, "patrol", murl)
    check(live, "REST PATCH /boundary-markers/{no}", "patrol",
          lambda c, i: c.patch(murl, json={"note": f"n{i}", "reason": "race"}, headers={"If-Match": tag}))


def test_inspection_filing_and_issue_resolution(live: Live) -> None:
    with live.client("patrol") as c:
        body = _inspection("C340122-340181", findings=[], feature_changes=[], structures=[])
        r = _ok(c.post("/api/v1/boundary-inspections", json=body), 201)
    insp = r.json()
    tag = r.headers["ETag"]
    check(live, "REST POST /boundary-inspections/{id}/file", "patrol", lambda c, i: c.post(
        f"/api/v1/boundary-inspections/{insp['id']}/file", headers={"If-Match": tag},
        json={"filed_on": "2026-04-20", "filing_ref": f"档案 {i}"}))
    issue = next(x for x in insp["issues"] if x["kind"] == "dispute")
    itag = f'"q{issue["id"]}.v{issue["version"]}"'
    check(live, "REST POST /boundary-issues/{id}/resolve", "patrol", lambda c, i: c.post(
        f"/api/v1/boundary-issues/{issue['id']}/resolve", headers={"If-Match": itag},
        json={"resolved_on": "2026-05-20", "resolution": f"协议 {i}"}))


# -- naming proposals and division adjustments --------------------------------------------------------------------

def test_proposal_steps(live: Live) -> None:
    with live.client("officer") as c:
        p, tag = _apply(c, live.headers("officer"), name="并发路")  # type: ignore[arg-type]
    url = f"/api/v1/proposals/{p['id']}"
    check(live, "REST POST /proposals/{id}/withdraw", "officer",
          lambda c, i: c.post(f"{url}/withdraw", json={"reason": f"race {i}"}, headers={"If-Match": tag}))
    with live.client("officer") as c:
        q, tag = _apply(c, live.headers("officer"), name="并发街")  # type: ignore[arg-type]
    check(live, "REST POST /proposals/{id}/reject", "reviewer",
          lambda c, i: c.post(f"/api/v1/proposals/{q['id']}/reject", json={"reason": f"race {i}"},
                              headers={"If-Match": tag}))
    with live.client("officer") as c:
        s, _ = _apply(c, live.headers("officer"), name="并发巷")  # type: ignore[arg-type]
        _reports(c, live.headers("officer"), s["id"])  # type: ignore[arg-type]
    url = f"/api/v1/proposals/{s['id']}"
    tag = _etag(live, "officer", url)
    check(live, "REST POST /proposals/{id}/advance (reviewed)", "officer", lambda c, i: c.post(
        f"{url}/advance", headers={"If-Match": tag}, json={"to": "reviewed", "date": REVIEWED, "reason": f"r{i}"}))
    tag = _etag(live, "officer", url)
    check(live, "REST POST /proposals/{id}/advance (approved)", "reviewer", lambda c, i: c.post(
        f"{url}/advance", headers={"If-Match": tag}, json={
            "to": "approved", "date": APPROVED, "doc_no": f"肥政秘〔2025〕{i}号", "authority": COUNTY_GOV,
            "flags_justification": "并发测试", "reason": f"r{i}"}))


def test_adjustment_steps(live: Live) -> None:
    with live.client("officer") as c:
        r = propose(c, live.headers("officer"), "rename", {"code": "340122101", "name": "并发镇"})  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    url, tag = f"/api/v1/adjustments/{r.json()['id']}", r.headers["ETag"]
    check(live, "REST PATCH /adjustments/{id}", "officer",
          lambda c, i: c.patch(url, json={"title": f"并发 {i}", "reason": "race"}, headers={"If-Match": tag}))
    tag = _etag(live, "officer", url)
    check(live, "REST POST /adjustments/{id}/submit", "officer",
          lambda c, i: c.post(f"{url}/submit", json={"reason": f"race {i}"}, headers={"If-Match": tag}))
    tag = _etag(live, "officer", url)
    check(live, "REST POST /adjustments/{id}/approve", "reviewer", lambda c, i: c.post(
        f"{url}/approve", headers={"If-Match": tag},
        json={"approved_on": "2024-11-20", "effective_date": "2025-01-01", "document_no": f"皖政秘〔2024〕{i}号"}))
    tag = _etag(live, "officer", url)
    check(live, "REST POST /adjustments/{id}/apply", "officer",
          lambda c, i: c.post(f"{url}/apply", json={}, headers={"If-Match": tag}))
    with live.client("officer") as c:
        r = propose(c, live.headers("officer"), "rename", {"code": "340122102", "name": "并发乡"})  # type: ignore[arg-type]
    url, tag = f"/api/v1/adjustments/{r.json()['id']}", r.headers["ETag"]
    check(live, "REST POST /adjustments/{id}/withdraw", "officer",
          lambda c, i: c.post(f"{url}/withdraw", json={"reason": f"race {i}"}, headers={"If-Match": tag}))


# -- 20 appending clients -----------------------------------------------------------------------------------------

def test_twenty_clients_appending_through_ogc_patch_lose_nothing(live: Live) -> None:
    pid, _ = _place(live, remarks="")
    url = f"/ogc/collections/places/items/{pid}"
    started = dt.datetime.now(dt.UTC)
    clients = 20
    barrier = threading.Barrier(clients)

    def append(i: int) -> int:
        tries = 0
        with live.client("officer") as c:
            barrier.wait()
            while True:
                tries += 1
                got = _ok(c.get(url))
                remarks = got.json()["properties"].get("remarks") or ""
                r = c.patch(url, headers={"If-Match": got.headers["ETag"]},
                            json={"type": "Feature", "properties": {"remarks": f"{remarks}[m{i}]"}})
                if r.status_code == 200:
                    return tries
                assert r.status_code == 412, r.text
                assert tries < 200

    with ThreadPoolExecutor(clients) as pool:
        tries = list(pool.map(append, range(clients)))
    remarks = httpx.get(live.url + url).json()["properties"]["remarks"]
    present = [i for i in range(clients) if f"[m{i}]" in remarks]
    with live.engine.connect() as conn:
        audited = conn.execute(text(
            "SELECT count(*) FROM audit_log WHERE table_name = 'places' AND entity_key = :k AND action = 'UPDATE' "
            "AND at >= :t"), {"k": str(pid), "t": started}).scalar_one()
    print(f"\nappend: {len(present)}/{clients} markers, {audited} audit rows, {sum(tries)} PATCH attempts")
    assert len(present) == clients and remarks.count("[m") == clients
    assert audited == clients


# -- flags, constraint layers, approving authorities, place protection and variants --------------------------------

def _login_as(live: Live, name: str, roles: list[str]) -> str:
    """A user the module's fixture does not create (the admin); its token is added to ``live.tokens``."""
    with Session(live.engine) as s:
        auth.create_user(s, f"conc_{name}", PASSWORD, roles)
        s.commit()
    r = httpx.post(f"{live.url}/api/v1/auth/token", data={"username": f"conc_{name}", "password": PASSWORD})
    r.raise_for_status()
    live.tokens[name] = str(r.json()["access_token"])
    return name


def test_flag_decision(live: Live) -> None:
    pid, _ = _place(live, name="并发标记路")
    with live.engine.begin() as conn:
        flag_id = conn.execute(text(
            "INSERT INTO name_flags (place_id, name, class, rule, reason, reason_zh, evidence) "
            "VALUES (:p, '并发标记路', '怪', 'N4', 'race test', '并发测试', 'test') RETURNING id"), {"p": pid}
        ).scalar_one()
    url = f"/api/v1/names/flags/{flag_id}"
    tag = _etag(live, "officer", url)
    check(live, "REST PATCH /names/flags/{id}", "officer", lambda c, i: c.patch(
        url, json={"status": "exempted", "note": f"豁免 {i}"}, headers={"If-Match": tag}))
    with live.client("officer") as c:
        after = _ok(c.get(url))
    assert after.json()["status"] == "exempted" and after.headers["ETag"] != tag


def test_constraint_layer_patch(live: Live) -> None:
    with live.client("planner") as c:
        r = _ok(c.post("/api/v1/constraint-layers", json={
            "id": "conc_rail", "name_zh": "并发铁路", "name_en": "race rail", "buffer_m": 10, "reason": "test"}), 201)
    url, tag = "/api/v1/constraint-layers/conc_rail", r.headers["ETag"]
    check(live, "REST PATCH /constraint-layers/{id}", "planner",
          lambda c, i: c.patch(url, json={"buffer_m": 20 + i, "reason": "race"}, headers={"If-Match": tag}))


def test_constraint_feature_import_and_patch(live: Live) -> None:
    """A feature import takes the layer's lock like a PATCH: imports and PATCHes from one read, sent together,
    are one success and the rest 412 — never an import interleaved with a change of the layer."""
    with live.client("planner") as c:
        r = _ok(c.post("/api/v1/constraint-layers", json={
            "id": "conc_water", "name_zh": "并发水源", "name_en": "race water", "buffer_m": 0, "reason": "test"}), 201)
    url, tag = "/api/v1/constraint-layers/conc_water", r.headers["ETag"]

    def send(c: httpx.Client, i: int) -> httpx.Response:
        if i % 2:
            return c.patch(url, json={"buffer_m": i, "reason": "race"}, headers={"If-Match": tag})
        point = {"type": "Point", "coordinates": [DIANBU[0] + i * 1e-4, DIANBU[1]]}
        return c.post(f"{url}/features", headers={"If-Match": tag}, json={
            "features": {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": point,
                                                                     "properties": {"name": f"井 {i}"}}]},
            "source": "race", "replace": True, "reason": "race"})

    check(live, "REST POST /constraint-layers/{id}/features + PATCH", "planner", send)


def test_authority_put_create_and_change(live: Live) -> None:
    admin = _login_as(live, "admin", ["admin"])
    url = "/api/v1/proposals/authorities/2518"
    check(live, "REST PUT /proposals/authorities/{prefix} (If-None-Match: *)", admin, lambda c, i: c.put(
        url, json={"authority": f"机关 {i}", "reason": "race"}, headers={"If-None-Match": "*"}))
    tag = _etag(live, admin, url)
    check(live, "REST PUT /proposals/authorities/{prefix} (If-Match)", admin, lambda c, i: c.put(
        url, json={"authority": f"机关 {i}", "note": f"n{i}", "reason": "race"}, headers={"If-Match": tag}))


def test_place_protection_put_create_and_change(live: Live) -> None:
    pid, _ = _place(live, name="并发古街")
    url = f"/api/v1/places/{pid}/protection"
    listing = {"category": "百年古街巷", "listed_on": "2024-01-01", "reason": "race"}
    check(live, "REST PUT /places/{id}/protection (If-None-Match: *)", "officer",
          lambda c, i: c.put(url, json={**listing, "note": f"n{i}"}, headers={"If-None-Match": "*"}))
    tag = _etag(live, "officer", url)
    check(live, "REST PUT /places/{id}/protection (If-Match)", "officer", lambda c, i: c.put(
        url, json={**listing, "measures": f"标志 {i}", "measures_recorded_on": "2024-06-01"},
        headers={"If-Match": tag}))


def test_place_variant_add_and_delete(live: Live) -> None:
    """Adding overwrites nothing (no If-Match): the same variant sent 10 times is stored once, 9 x 409.
    Removing needs the variant's ETag: one 204, and the other nine find it removed: 412."""
    pid, _ = _place(live, name="并发别名路")
    url = f"/api/v1/places/{pid}/variants"
    responses = race(live, "officer", N, lambda c, i: c.post(
        url, json={"kind": "别名", "name": "并发老街", "reason": f"race {i}"}))
    codes = Counter(r.status_code for r in responses)
    RESULTS["REST POST /places/{id}/variants (same variant)"] = codes
    assert codes == Counter({201: 1, 409: N - 1}), [r.text[:200] for r in responses]
    created = next(r for r in responses if r.status_code == 201)
    vid, tag = created.json()["id"], created.headers["ETag"]
    check(live, "REST DELETE /places/{id}/variants/{vid}", "officer", lambda c, i: c.delete(
        f"{url}/{vid}", params={"reason": f"race {i}"}, headers={"If-Match": tag}))
    with live.engine.connect() as conn:
        actions = conn.execute(text(
            "SELECT action FROM audit_log WHERE table_name = 'place_variants' AND row_id = :v ORDER BY id"),
            {"v": vid}).scalars().all()
    assert actions == ["INSERT", "DELETE"]


AUDITED = "SELECT count(*) FROM audit_log WHERE table_name = 'places' AND entity_key = :k AND action = 'UPDATE'"


def test_qgis_puts_carrying_the_same_body_version(live: Live) -> None:
    """QGIS's PUT has no If-Match; the row_id and version it read, sent back in the body, are the precondition:
    N such PUTs of the same read version give one 2xx and N-1 x 412, and exactly one change is audited."""
    pid, _ = _place(live)
    url = f"/ogc/collections/place-lines/items/{pid}"
    feature = _ok(httpx.get(live.url + url)).json()
    props = feature["properties"]
    assert isinstance(props["row_id"], int) and isinstance(props["version"], int)
    with live.engine.connect() as c:
        before = c.execute(text(AUDITED), {"k": str(pid)}).scalar_one()
    check(live, "OGC PUT places (body version, no If-Match)", "officer", lambda c, i: c.put(
        url, headers={"Content-Type": "application/geo+json"},
        json={"type": "Feature", "id": str(pid), "geometry": feature["geometry"],
              "properties": {**props, "remarks": f"qgis {i}"}}))
    with live.engine.connect() as c:
        remarks = c.execute(text("SELECT remarks FROM places WHERE place_id = :p AND valid_to IS NULL"),
                            {"p": pid}).scalar_one()
        after = c.execute(text(AUDITED), {"k": str(pid)}).scalar_one()
    assert remarks.startswith("qgis ") and after - before == 1
