"""The phone patrol app (/field/, issue 16) on a phone-sized Chromium: a work package downloaded, the app
reloaded with no network (served by its service worker), a patrol walked with emulated geolocation along a
real county line of the demo, a marker found displaced with a photo, a marker another team changed meanwhile
— all recorded offline, synced after reconnecting; the same queue sent again changes nothing; the conflicting
edit is reported, not overwritten, and kept only when the user decides so."""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any, cast

import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.db import CONNECTION_OPTIONS
from gis_api.settings import Settings
from tests.browser.conftest import ARTIFACTS, PASSWORD, Live

PHONE = {"width": 390, "height": 844}
R = 6371008.8


def _metres(a: list[float], b: list[float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a[:2], *b[:2]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))


def _to_segment(p: list[float], a: list[float], b: list[float]) -> float:
    k = math.cos(math.radians(p[1]))
    px, py, ax, ay, bx, by = p[0] * k, p[1], a[0] * k, a[1], b[0] * k, b[1]
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy))) if dx or dy else 0.0
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy)) * math.pi / 180 * R


def _walk(coords: list[list[float]], metres: float, step: float = 25.0) -> list[list[float]]:
    """Points every ``step`` metres along the line from its start, for ``metres``."""
    out = [coords[0][:2]]
    left = metres
    for a, b in itertools.pairwise(coords):
        d = _metres(a, b)
        n = max(1, math.ceil(d / step))
        for k in range(1, n + 1):
            if left <= 0:
                return out
            f = k / n
            out.append([a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f])
            left -= d / n
    return out


def _offset(p: list[float], east_m: float) -> list[float]:
    return [p[0] + east_m / (R * math.cos(math.radians(p[1])) * math.pi / 180), p[1]]


def _jpeg() -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (640, 480), (120, 160, 90))
    for x in range(0, 640, 40):
        img.paste((200, 60, 40), (x, 200, x + 20, 280))  # something that is not one flat colour
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _rows(settings: Settings) -> dict[str, int]:
    """Counts of the tables a sync writes to: a replay must leave every one as it was."""
    engine = create_engine(cast(str, settings.db.database_url), connect_args={"options": CONNECTION_OPTIONS})
    with engine.connect() as conn:
        out = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())  # fixed table names
               for t in ("boundary_patrols", "boundary_markers", "boundary_issues", "field_attachment_links",
                         "field_changes", "audit_log")}
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def second_team(browser_settings: Settings) -> str:
    """Another patrol account (another team) that edits a marker while the phone is offline."""
    engine = create_engine(cast(str, browser_settings.db.database_url), connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        taken = session.execute(text("SELECT 1 FROM users WHERE username = 'team2'")).first()
        if not taken:
            auth.create_user(session, "team2", PASSWORD, ["patrol"])
            session.commit()
    engine.dispose()
    return "team2"


@pytest.fixture
def phone(browser: Any, live: Live) -> Iterator[Any]:
    """A phone-sized, touch context with geolocation granted; every request recorded (none may leave)."""
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="zh-CN",
        timezone_id=clock.zone().key, permissions=["geolocation"],
        geolocation={"latitude": 31.88, "longitude": 117.47, "accuracy": 5},
    )
    context.requests = []
    context.errors = []
    context.on("request", lambda req: context.requests.append(req))
    page = context.new_page()
    page.on("pageerror", lambda exc: context.errors.append(str(exc)))
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _pick_line(live: Live) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with live.client() as c:
        lines = c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
        # The last line by number: the patrol screens' tests use the first ones (and 0003's marker states), and
        # this test changes marker states for real in the shared browser database.
        usable = sorted((f for f in lines if f["properties"]["markers"] >= 3 and f["properties"]["line_no"] != "0003"),
                        key=lambda f: f["properties"]["line_no"], reverse=True)
        if not usable:
            pytest.skip("the boundaries demo has no county line with 3 markers")
        line = c.get(f"/api/v1/boundaries/{usable[0]['properties']['line_id']}").json()
        found = c.get("/api/v1/boundary-markers", params={"line_id": line["properties"]["line_id"]})
        markers = found.json()["features"]
    return line, markers


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _queue_count(page: Any) -> int:
    return int(page.get_attribute("body", "data-queue") or "0")


def test_field_app_offline_patrol_and_sync(phone: Any, live: Live, second_team: str,
                                           browser_settings: Settings) -> None:
    if not live.has("/api/v1/field/sync"):
        pytest.skip("the field API is not wired into the app")
    page = phone
    context = page.context
    line, markers = _pick_line(live)
    line_id = line["properties"]["line_id"]
    geom = line["geometry"]
    parts = geom["coordinates"] if geom["type"] == "MultiLineString" else [geom["coordinates"]]
    coords = max(parts, key=len)

    page.goto(f"{live.url}/field/")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_selector("body[data-sw=ready]")
    # Log in as the patrol team (zhao) and download a package of this one line, base tiles to zoom 14.
    page.click("#login-btn")
    page.fill("#login-username", "zhao")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("body[data-user=zhao]")
    page.click("#btn-package")
    page.wait_for_selector(f'#pkg-line-choices input[value="{line_id}"]')
    page.uncheck("#pkg-all")
    page.check(f'#pkg-line-choices input[value="{line_id}"]')
    page.select_option("#pkg-zoom", "14")
    page.click("#pkg-download")
    page.wait_for_selector("body[data-package]", timeout=120_000)
    page.wait_for_selector("#pkg-download:not([disabled])")
    _shot(page, "field-package")
    page.click("#pkg-close")
    size = page.locator("#pkg-size")
    data_bytes, tile_bytes = int(size.get_attribute("data-bytes")), int(size.get_attribute("data-tile-bytes"))
    with live.client("zhao") as c:
        ref = c.post("/api/v1/field/packages", json={"line_ids": [line_id], "zooms": [8, 14]}).json()
    assert data_bytes == ref["size_bytes"] and ref["package_id"] == page.get_attribute("body", "data-package")
    assert tile_bytes > 0
    assert page.locator("#marker-list li").count() == len(markers) == ref["counts"]["markers"]
    print(f"\nfield package of {line_id}: {data_bytes} bytes JSON, {ref['tiles']['count']} tile URLs, "
          f"{tile_bytes} tile bytes (zooms 8-14)")
    tile_url = ref["tiles"]["urls"][len(ref["tiles"]["urls"]) // 2]
    for _ in range(100):  # the worker claims the page once activated (a string predicate would need eval: CSP)
        if page.evaluate("() => navigator.serviceWorker.controller !== null"):
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => navigator.serviceWorker.controller.scriptURL").endswith("/field/sw.js")

    # -- offline: the app reloads from the service worker and its own storage --------------------------------
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-loaded=true]")
    assert page.get_attribute("body", "data-online") == "false"
    assert page.locator(f'#line-list li[data-line="{line_id}"]').count() == 1
    assert page.locator("#marker-list li").count() == len(markers)
    assert page.evaluate("typeof L.vectorGrid.protobuf") == "function"  # the vendor scripts came from the cache
    status = page.evaluate("(u) => fetch(u).then((r) => r.status, () => 'failed')", tile_url)
    assert status in (200, 204), status  # a tile of the package, from the cache
    assert page.evaluate("fetch('/api/v1/health').then(() => 'online', () => 'offline')") == "offline"
    _shot(page, "field-offline")

    # -- walk the first 40 % of the line with emulated geolocation -------------------------------------------
    length = sum(_metres(a, b) for a, b in itertools.pairwise(coords))
    walk = _walk(coords, 0.4 * length, step=40.0)
    page.click("#btn-start")
    page.wait_for_selector("body[data-track=recording]")
    half = len(walk) // 2
    for i, (lon, lat) in enumerate(walk):
        if i == half:
            # The phone drops the tab mid-walk: offline, the app comes back still recording, nothing lost.
            page.reload()
            page.wait_for_selector("body[data-loaded=true]")
            assert page.get_attribute("body", "data-track") == "recording"
            assert page.get_attribute("#track-stats", "data-points") == str(half)
            # A pause: positions meanwhile are not part of the track (a car ride between two sections).
            page.click("#btn-pause")
            page.wait_for_selector("body[data-track=paused]")
            context.set_geolocation({"latitude": lat + 0.01, "longitude": lon, "accuracy": 5})
            page.wait_for_selector(f"#position:has-text('{lat + 0.01:.6f}')")
            assert page.get_attribute("#track-stats", "data-points") == str(half)
            page.click("#btn-pause")  # resume
            page.wait_for_selector("body[data-track=recording]")
            # Back where the walk stopped: a new segment starts there.
            context.set_geolocation({"latitude": walk[i - 1][1], "longitude": walk[i - 1][0], "accuracy": 5})
            page.wait_for_selector(f'#track-stats[data-points="{half + 1}"]', state="attached")
        context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        page.wait_for_selector(f'#track-stats[data-points="{i + 1 + (i >= half)}"]', state="attached")
    walked = int(page.get_attribute("#track-stats", "data-metres"))
    expected_walk = sum(_metres(a, b) for a, b in itertools.pairwise(walk))
    assert abs(walked - expected_walk) < 0.05 * expected_walk + 30, (walked, expected_walk)
    share = float(page.get_attribute(f'#line-list li[data-line="{line_id}"]', "data-coverage"))
    assert 0.3 < share < 0.55, share  # the first 40 % of the line, plus the 30 m buffer at the end
    # Markers within visit_m (20 m) of the walked track: ticked by the phone, counted as visited by the server.
    passed = {m["properties"]["marker_no"] for m in markers
              if min(_to_segment(m["geometry"]["coordinates"], a, b) for a, b in itertools.pairwise(walk)) <= 20}
    ticked = set((page.get_attribute("#visited-count", "data-markers") or "").split()) - {""}
    assert ticked == passed, (ticked, passed)
    _shot(page, "field-track")
    page.click("#btn-stop")
    page.wait_for_selector("body[data-track=idle]")
    # One patrol record per walked segment near the line (before/after the pause); stopping stores them one by one.
    for _ in range(100):
        if _queue_count(page) >= 2:
            break
        page.wait_for_timeout(100)
    assert _queue_count(page) == 2

    # -- marker A found displaced 12 m east, with a photo -------------------------------------------------------
    a_no = markers[0]["properties"]["marker_no"]
    a_pos = markers[0]["geometry"]["coordinates"]
    moved = _offset(a_pos, 12.0)
    context.set_geolocation({"latitude": moved[1], "longitude": moved[0], "accuracy": 3})
    page.wait_for_selector(f"#position:has-text('{moved[0]:.6f}')")
    page.click(f'#marker-list li[data-marker="{a_no}"] button')
    page.click("#marker-measure")
    distance = float(page.get_attribute("#marker-measured", "data-distance"))
    assert abs(distance - 12.0) < 0.5, distance
    assert page.is_checked('input[name="marker-state"][value="moved"]')  # beyond the 5 m tolerance
    page.fill("#marker-note", "界桩被推移约12米（离线记录）")
    page.set_input_files("#marker-photo", files=[{"name": "marker.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}])
    page.wait_for_selector("#marker-previews img")
    _shot(page, "field-marker")
    page.click("#marker-save")
    page.wait_for_selector('body[data-queue="3"]', state="attached")

    # -- marker B: another team changes it on the server meanwhile; the phone records its own state ----------
    b_no = markers[1]["properties"]["marker_no"]
    with live.client(second_team) as c:
        r = c.get(f"/api/v1/boundary-markers/{b_no}")
        theirs = "missing" if r.json()["properties"]["status"] != "missing" else "intact"
        r = c.patch(f"/api/v1/boundary-markers/{b_no}", headers={"If-Match": r.headers["ETag"]},
                    json={"reason": "另一巡查组核查", "status": theirs, "note": "第二组记录"})
        assert r.status_code == 200, r.text
        b_after_theirs = r.json()["properties"]["version"]
    mine_b = "damaged" if theirs != "damaged" else "intact"
    page.click(f'#marker-list li[data-marker="{b_no}"] button')
    page.check(f'input[name="marker-state"][value="{mine_b}"]')
    page.fill("#marker-note", "离线记录：界桩损坏")
    page.click("#marker-save")
    page.wait_for_selector('body[data-queue="4"]', state="attached")
    page.click("#btn-queue")
    assert page.locator('#queue-list li[data-state="waiting"]').count() == 4
    _shot(page, "field-queue-offline")
    page.click("#queue-close")

    with live.client("zhao") as c:
        before = c.get(f"/api/v1/boundary-markers/{a_no}").json()["properties"]
    # -- the network returns: the queue is sent by itself ------------------------------------------------------
    # The first answer is lost on the way back (the server applied the queue, the phone never heard): the
    # queue stays waiting and the next attempt is answered from the server's idempotency records.
    lost: list[dict[str, Any]] = []

    def lose_first_answer(route: Any) -> None:
        if lost:
            route.continue_()
            return
        answer = route.fetch()
        lost.append({"sent": json.loads(route.request.post_data), "answer": answer.json()})
        route.abort("connectionreset")

    page.route("**/api/v1/field/sync", lose_first_answer)
    syncs: list[Any] = []
    context.on("request", lambda req: syncs.append(req) if req.url.endswith("/api/v1/field/sync") else None)
    context.set_offline(False)
    page.wait_for_selector("#toast.error:has-text('同步失败')", state="attached", timeout=60_000)
    assert len(lost) == 1 and _queue_count(page) == 4
    sent, response = lost[0]["sent"], lost[0]["answer"]
    page.click("#btn-sync")
    page.wait_for_selector('body[data-queue="1"][data-conflicts="1"]', state="attached", timeout=60_000)
    page.wait_for_selector("#conflict-dialog[open]")
    _shot(page, "field-conflict")
    assert len(syncs) == 2
    retry = syncs[1].response().json()
    assert json.loads(syncs[1].post_data)["changes"] == sent["changes"]  # the very same changes, sent again
    assert (retry["applied"], retry["replayed"], retry["conflicts"]) == (0, 3, 1), retry
    figures = {k: retry[k] for k in ("applied", "replayed", "conflicts", "rejected")}
    print(f"retry after a lost answer: {json.dumps(figures)}")
    kinds = [c["kind"] for c in sent["changes"]]
    assert kinds == ["patrol", "patrol", "marker_visit", "marker_visit"]
    assert (response["applied"], response["conflicts"], response["rejected"]) == (3, 1, 0), response
    print(f"first sync: {json.dumps({k: response[k] for k in ('applied', 'replayed', 'conflicts', 'rejected')})}")
    patrols = [r["result"] for r in response["results"][:2]]
    # The two segments meet where the walk paused: together they cover what the phone showed.
    server_share = sum(p["coverage"] for p in patrols)
    assert abs(server_share - share) < 0.01, (server_share, share)
    assert set(patrols[0]["markers_visited"]) | set(patrols[1]["markers_visited"]) == passed
    visit = response["results"][2]["result"]
    assert visit["displaced"] and abs(visit["distance_m"] - 12.0) < 1.0 and len(visit["attachments"]) == 1
    print(f"patrol coverage server {patrols[0]['coverage']:.4f} + {patrols[1]['coverage']:.4f} vs phone {share:.4f}; "
          f"markers visited {sorted(passed)}; marker {a_no} displaced {visit['distance_m']} m")

    with live.client("zhao") as c:
        a_now = c.get(f"/api/v1/boundary-markers/{a_no}").json()["properties"]
        b_now = c.get(f"/api/v1/boundary-markers/{b_no}").json()["properties"]
        photos = c.get("/api/v1/field/attachments", params={"kind": "marker", "key": a_no}).json()
    assert a_now["status"] == "moved" and a_now["version"] == before["version"] + 1
    assert [p["sha256"] for p in photos] == visit["attachments"]
    # Not overwritten: marker B is still what the other team saved.
    assert b_now["status"] == theirs and b_now["version"] == b_after_theirs

    # -- the same queue sent again (a lost answer, a retry): nothing changes ----------------------------------
    rows_before = _rows(browser_settings)
    with live.client("zhao") as c:
        again = c.post("/api/v1/field/sync", json=sent).json()
        assert (again["applied"], again["replayed"], again["conflicts"]) == (0, 3, 1), again
        assert c.get(f"/api/v1/boundary-markers/{a_no}").json()["properties"]["version"] == a_now["version"]
        assert c.get(f"/api/v1/boundary-markers/{b_no}").json()["properties"]["version"] == b_after_theirs
    assert _rows(browser_settings) == rows_before
    figures = {k: again[k] for k in ("applied", "replayed", "conflicts", "rejected")}
    print(f"second sync of the same queue: {json.dumps(figures)}")

    # -- the user decides: keep mine for marker B → a new change on the version seen now ---------------------
    dialog = page.locator("#conflict-dialog")
    assert "第二组记录" in dialog.inner_text()
    page.check('input[name="take-status"][value="mine"]')
    page.click("#btn-merge-save")
    page.wait_for_selector('body[data-queue="0"]', state="attached", timeout=30_000)
    with live.client("zhao") as c:
        b_final = c.get(f"/api/v1/boundary-markers/{b_no}").json()["properties"]
    assert b_final["status"] == mine_b and b_final["version"] == b_after_theirs + 1
    _shot(page, "field-synced")

    # The line's last inspection and open issues come with the package; the words switch to English.
    facts = page.inner_text(f'#line-list li[data-line="{line_id}"] .line-facts')
    assert "上次联检" in facts and "未解决问题" in facts
    page.click("#lang")
    assert page.inner_text("#btn-start") == "Start patrol"
    assert "last inspection" in page.inner_text(f'#line-list li[data-line="{line_id}"] .line-facts')
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in page.inner_text("#actions"))
    page.click("#lang")

    outside = [r.url for r in context.requests if not r.url.startswith((live.url, "data:", "blob:"))]
    assert not outside, outside
    assert not context.errors, context.errors
