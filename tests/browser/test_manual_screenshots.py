"""The user manuals' screenshot tour (docs/manuals/*.md): one journey per role through the screens the manuals
show, in the Chinese interface at a fixed 1280×800 viewport.

Every step first asserts that the element the manual talks about is really there (a button, a form, a result),
then takes the screenshot; a journey that breaks fails the test, so a manual cannot silently describe a screen
that no longer exists. With ``DIMING_MANUAL_SCREENSHOTS=1`` (``make manuals``) the pictures go to
``docs/manuals/img/<role>-<step>.png`` (palette PNGs, small enough to commit); otherwise into a temporary
directory, so the normal suite walks the same tour without touching the repository.

The tour runs against a database of its own (``<test db>_manual``, the demo loaded by the CLI as people load it)
so its pictures do not depend on what other browser tests wrote, and its writes disturb nobody.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.app import create_app
from gis_api.db import CONNECTION_OPTIONS
from gis_api.settings import Settings
from gis_api.ui_config import UiSettings, api_paths
from gis_api.ui_config import router as ui_config_router
from tests.browser.conftest import CHROMIUM, PASSWORD
from tests.live import load_demo_cli, scratch_database, serve

IMG = Path(__file__).resolve().parents[2] / "docs" / "manuals" / "img"
VIEWPORT = {"width": 1280, "height": 800}
# Who plays each role in the pictures (the names appear in the header of the screenshots).
TOUR_USERS = {"wang": ["officer"], "li": ["officer"], "zhao": ["patrol"], "sun": ["planner"], "guan": ["admin"]}
PLACE = "维也纳花园"  # a demo building name that breaks N5 (洋): the campaign flags it, the officer renames it
TOWN = "340122100"  # 店埠镇, where that place lies
KIND = "township_social_work_station"  # 乡镇（街道）社工站
ELDERLY = "elderly_care_center"  # 养老服务中心: has capacities, so 2SFCA has something to divide

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test installs it)")


def _out_dir(tmp: Path) -> Path:
    if os.environ.get("DIMING_MANUAL_SCREENSHOTS") == "1":
        IMG.mkdir(parents=True, exist_ok=True)
        return IMG
    return tmp


@dataclass
class GuideLive:
    url: str
    paths: set[str]

    def client(self, username: str | None = None) -> httpx.Client:
        headers = {}
        if username:
            r = httpx.post(f"{self.url}/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def guide_live(settings: Settings) -> Iterator[GuideLive]:
    """A server on a database of the tour's own: migrated, the demo loaded by the CLI, the tour's users added."""
    own = scratch_database(settings, "manual")
    load_demo_cli(own)
    engine = create_engine(own, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        for name, roles in TOUR_USERS.items():
            if auth.find_user(session, name) is None:
                auth.create_user(session, name, PASSWORD, roles)
        session.commit()
    engine.dispose()
    app = create_app(replace(settings, db=settings.db.model_copy(update={"database_url": own})))
    if "/api/v1/ui-config" not in api_paths(app):
        app.include_router(ui_config_router)
        app.openapi_schema = None
    app.state.ui_settings = UiSettings(tianditu_key=None)  # the intranet case: no base map, as most bureaus run it
    with serve(app) as url:
        yield GuideLive(url, set(api_paths(app)))


@dataclass
class Tour:
    """One role's walk: a page at 1280×800 whose script errors and off-machine requests are recorded."""

    page: Any
    base: str
    out: Path
    taken: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-loaded=true]", timeout=60_000)

    def login(self, username: str) -> None:
        page = self.page
        page.click("#login-btn")
        page.wait_for_selector("#login-dialog[open]")
        page.fill("#login-username", username)
        page.fill("#login-password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector(f"body[data-user={username}]", timeout=15_000)

    def shot(self, name: str, must_see: str, *, crop: str | None = None) -> Path:
        """Assert ``must_see`` is visible, then save the page (or only the ``crop`` element) as ``name``.png."""
        page = self.page
        page.wait_for_selector(must_see, state="visible")
        assert page.locator(must_see).first.is_visible(), f"{name}: {must_see} is not on screen"
        page.mouse.move(60, 20)  # over the page title: no map tooltip left open by where the pointer last was
        page.wait_for_timeout(400)  # let map tiles, fades and the live checks settle
        raw = page.locator(crop).first.screenshot() if crop else page.screenshot()
        path = self.out / f"{name}.png"
        _save_small(raw, path)
        self.taken.append(name)
        return path


def _save_small(raw: bytes, path: Path) -> None:
    """A 256-colour palette PNG: screenshots of flat UI compress to a fraction of the RGB size."""
    from PIL import Image

    img = Image.open(io.BytesIO(raw)).convert("RGB")
    assert img.width <= VIEWPORT["width"] and img.height <= VIEWPORT["height"], img.size
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)


@pytest.fixture
def tour(browser: Any, guide_live: GuideLive, tmp_path: Path) -> Iterator[Tour]:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True,
                                  timezone_id=clock.zone().key)
    page = context.new_page()
    t = Tour(page=page, base=guide_live.url, out=_out_dir(tmp_path))
    page.on("pageerror", lambda exc: t.errors.append(str(exc)))

    def refuse(route: Any) -> None:  # nothing may leave the machine: recorded (fails the tour), never sent
        t.outside.append(route.request.url)
        route.abort()

    context.route(lambda u: not u.startswith(guide_live.url), refuse)
    page.set_default_timeout(20_000)
    yield t
    context.close()


def _done(t: Tour, expected: list[str]) -> None:
    assert t.taken == expected, (t.taken, expected)
    assert t.errors == [], t.errors
    assert t.outside == [], t.outside


# -- 地名工作人员 --------------------
OFFICER = ["officer-login", "officer-search", "officer-place", "officer-flags", "officer-edit", "officer-draw",
           "officer-conflict", "officer-proposal-new", "officer-proposal", "officer-proposal-list",
           "officer-adjustment"]


def test_officer_tour(tour: Tour, guide_live: GuideLive) -> None:
    page = tour.page
    # The 大洋怪重 campaign is run from the API or `diming campaign run`; its flags then show on each place.
    with guide_live.client("wang") as c:
        r = c.post("/api/v1/names/campaign/run", json={"within": TOWN})
        assert r.status_code == 200, r.text

    tour.open()
    assert page.inner_text("#login-btn") == "登录"
    page.click("#login-btn")
    page.fill("#login-username", "wang")
    tour.shot("officer-login", "#login-dialog[open] #login-submit")
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("body[data-user=wang]")
    assert "地名工作人员" in page.inner_text("#user-info")

    page.locator("#search").press_sequentially("维也纳", delay=40)
    tour.shot("officer-search", f'#search-results li[role="option"]:has-text("{PLACE}")')
    page.click(f'#search-results li[role="option"]:has-text("{PLACE}")')
    page.wait_for_selector(f"#place-title:has-text('{PLACE}')")
    assert page.is_visible("#btn-edit") and page.is_visible("#btn-move")
    tour.shot("officer-place", "#sec-register")
    place_id = int(page.inner_text("#sec-register tr[data-field=id] td"))
    flags = page.inner_text("#sec-flags")
    assert "洋" in flags and "N5" in flags, flags
    tour.shot("officer-flags", "#sec-flags li.flag", crop="#sec-flags")

    # 编辑属性: the checks run on the name as it stands.
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    tour.shot("officer-edit", "#place-form .name-checks .cls-洋", crop="#panel")
    page.click("#btn-cancel-edit")

    # 新建地名 → 线: the hint says how to draw.
    page.click("#draw-line")
    page.wait_for_function("() => document.querySelector('#draw-status').textContent.length > 0")
    tour.shot("officer-draw", "#draw-status", crop="#panel")
    page.click("#draw-cancel")

    # Someone else saves while the form is open → 412 → the merge dialog.
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    page.fill("#f-remarks", "王：核实了小区范围")
    page.fill("#f-reason", "补充备注")
    with guide_live.client("li") as li:
        cur = li.get(f"/api/v1/places/{place_id}")
        r = li.patch(f"/api/v1/places/{place_id}", headers={"If-Match": cur.headers["ETag"]},
                     json={"remarks": "李：物业已更换门牌", "reason": "门牌普查"})
        assert r.status_code == 200, r.text
    page.click("#btn-save")
    page.wait_for_selector("#conflict-dialog[open]")
    page.wait_for_function("() => document.querySelector('#conflict-who').textContent.includes('li')")
    tour.shot("officer-conflict", "#conflict-dialog tr.conflict-row.both", crop="#conflict-dialog")
    page.check('#conflict-dialog tr[data-field="remarks"] input[value="mine"]')
    page.click("#btn-merge-save")
    page.wait_for_selector("#conflict-dialog", state="hidden")
    page.wait_for_selector("#sec-register:has-text('王：核实了小区范围')")

    # 申请更名: the checks run while the new name is typed; 提交 → 已申报.
    page.click("#btn-propose-rename")
    page.wait_for_selector("#proposal-form")
    page.fill("#pr-name", "紫荆花园")
    page.fill("#pr-reasons", "原名含外国地名（崇洋），按不规范地名清理要求更名")
    page.fill("#pr-applicant", "店埠镇人民政府")
    tour.shot("officer-proposal-new", "#proposal-form .name-checks .ok", crop="#panel")
    page.click("#proposal-form button[type=submit]")
    page.wait_for_selector("#pane-proposals h2:has-text('紫荆花园')")
    assert "已申报" in page.inner_text("#pane-proposals")
    page.click("#doc-form summary")
    tour.shot("officer-proposal", "#advance-form #adv-to", crop="#panel")
    page.click("#btn-proposals-back")
    tour.shot("officer-proposal-list", "#proposal-list li[data-id]", crop="#panel")

    # 区划调整 → 新建调整: the form (cancelled; drawing and the impact are the adjustments tests' journey).
    page.click("#tab-adjustments")
    page.click("#adj-new")
    page.fill("#adj-title", "店埠镇、撮镇镇部分区域划转")
    tour.shot("officer-adjustment", "#adj-form #adj-create", crop="#panel")
    page.click("#adj-cancel")
    _done(tour, OFFICER)


# -- 界线巡查人员 --------------------
PATROL = ["patrol-lines", "patrol-markers", "patrol-line", "patrol-inspection", "patrol-issue", "patrol-status",
          "patrol-move", "patrol-gpx", "patrol-report"]


def _gpx(track: list[list[float]], waypoint: tuple[str, float, float]) -> bytes:
    pts = "".join(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"></trkpt>' for lon, lat in track)
    name, lon, lat = waypoint
    return (f'<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="diming-manual" '
            f'xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="{lat:.7f}" lon="{lon:.7f}"><name>{name}</name></wpt>'
            f"<trk><name>patrol</name><trkseg>{pts}</trkseg></trk></gpx>").encode()


def test_patrol_tour(tour: Tour, guide_live: GuideLive) -> None:
    with guide_live.client() as c:
        lines = c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}).json()["features"]
        usable = sorted((f for f in lines if 3 <= f["properties"]["markers"] <= 8
                         and len(f["geometry"]["coordinates"]) == 1), key=lambda f: f["properties"]["line_no"])
        assert usable, "the demo has no county line with 3–8 markers"
        line_id = usable[0]["properties"]["line_id"]
        line = c.get(f"/api/v1/boundaries/{line_id}").json()
        markers = c.get("/api/v1/boundary-markers", params={"line_id": line_id}).json()["features"]
    page = tour.page
    tour.open()
    tour.login("zhao")
    page.click("#tab-patrol")
    tour.shot("patrol-lines", f'#line-list li[data-line="{line_id}"]')
    assert page.is_checked("#patrol-view-only")
    page.check('input[name="list-mode"][value="markers"]')
    tour.shot("patrol-markers", "#marker-list li[data-marker]", crop="#panel")
    page.check('input[name="list-mode"][value="lines"]')
    page.uncheck("#patrol-view-only")
    page.click(f'#line-list li[data-line="{line_id}"] button')
    page.wait_for_selector("#line-title")
    assert page.locator("#marker-table tbody tr").count() == len(markers)
    tour.shot("patrol-line", ".patrol-actions #btn-open-inspection")

    # 登记联检: one marker found damaged, one dispute; saved, the line's next due date moves five years on.
    second = markers[1]["properties"]["marker_no"]
    page.click("#btn-open-inspection")
    page.check(f'input[name="damaged:{second}"]')
    page.fill("#insp-disputes", "界桩附近新修机耕路，需双方确认")
    tour.shot("patrol-inspection", "#inspection-details[open] #btn-inspection", crop="#panel")
    page.click("#btn-inspection")
    page.wait_for_selector(f"#inspection-list li:has-text('{clock.today().isoformat()}')")

    # 上报问题 on the first marker.
    first = markers[0]["properties"]["marker_no"]
    page.click(f'#marker-table tr[data-marker="{first}"] button.act-issue')
    page.wait_for_selector("#issue-form")
    page.select_option("#is-problem", "illegible")
    page.fill("#is-description", "界桩南面字迹风化，需重新描红")
    tour.shot("patrol-issue", "#issue-form #btn-issue", crop="#panel")
    page.click("#btn-issue")
    page.wait_for_selector(f'#issue-list li[data-marker="{first}"]')

    # 设置界桩状态 (shown, then cancelled: the picture is the form).
    page.click("#btn-open-status")
    page.wait_for_selector("#marker-status-form[data-ready]")
    tour.shot("patrol-status", "#marker-status-form #btn-marker-status", crop="#panel")
    page.click("#marker-status-form button[type=button]")

    # 移动: the orange ring on the map and the typed position.
    page.click(f'#marker-table tr[data-marker="{first}"] button.act-move')
    page.wait_for_selector(f'#marker-move-form[data-ready="{first}"]')
    lon, lat = markers[0]["geometry"]["coordinates"]
    page.evaluate("([lat, lon]) => window.dimingMap.setView([lat, lon], 17, { animate: false })", [lat, lon])
    tour.shot("patrol-move", ".leaflet-marker-icon.patrol-drag")
    page.click("#marker-move-form button[type=button]")
    page.wait_for_selector("#marker-move-form", state="detached")
    xs, ys = [p[0] for p in line["geometry"]["coordinates"][0]], [p[1] for p in line["geometry"]["coordinates"][0]]
    page.evaluate("(b) => window.dimingMap.fitBounds(b, { animate: false, padding: [20, 20] })",
                  [[min(ys), min(xs)], [max(ys), max(xs)]])  # the whole line again, for the track on it

    # 上传 GPX 轨迹: the first two fifths of the line, one marker re-surveyed 30 m north.
    coords = line["geometry"]["coordinates"][0]
    track = coords[: max(2, len(coords) * 2 // 5)]
    page.set_input_files("#gpx-file", files=[{"name": "patrol.gpx", "mimeType": "application/gpx+xml",
                                              "buffer": _gpx(track, (first, lon, lat + 30 / 111_195))}])
    page.click("#btn-gpx")
    page.wait_for_selector("#gpx-share")
    assert first in page.inner_text("#displaced")
    tour.shot("patrol-gpx", "#gpx-result #displaced")

    # 平安边界 report: the HTML the API (and `diming boundaries report`) writes.
    tour.page.goto(f"{tour.base}/api/v1/boundaries/report?format=html&lang=zh")
    assert "平安边界" in page.content()
    tour.shot("patrol-report", "table")
    _done(tour, PATROL)


# -- 规划人员 --------------------
PLANNER = ["planner-form", "planner-coverage", "planner-network", "planner-suggest", "planner-report",
           "planner-2sfca", "planner-facility", "planner-cemetery", "planner-parcel"]


def test_planner_tour(tour: Tour, browser: Any, guide_live: GuideLive) -> None:
    page = tour.page
    tour.open()
    tour.login("sun")
    page.click("#tab-planner")
    page.wait_for_selector("#coverage-form")
    page.select_option("#cov-kind", KIND)
    page.fill("#cov-meters", "3000")
    tour.shot("planner-form", "#coverage-form #btn-coverage", crop="#panel")
    page.click("#btn-coverage")
    tour.shot("planner-coverage", "#coverage-result #coverage-share")

    # 路网距离: the demo's road network; the page compares with the same metres as a straight radius.
    assert page.is_enabled('input[name="dist"][value="network"]'), "the demo has no road network"
    page.check('input[name="dist"][value="network"]')
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-result h3:has-text('路网')")
    tour.shot("planner-network", "#coverage-compare")
    page.check('input[name="dist"][value="radius"]')
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-result h3:has-text('直线')")

    # 建议选址 (MCLP, 2 new sites).
    page.fill("#suggest-k", "2")
    page.click("#btn-suggest")
    page.wait_for_selector("ol.sites li", timeout=90_000)
    tour.shot("planner-suggest", ".site-icon")

    # 导出报告（网页地图）: the folium report opens offline (its map library is inside the file).
    with page.expect_download() as info:
        page.click("#btn-report")
    html = Path(info.value.path()).read_text(encoding="utf-8")
    ctx = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    ctx.route("**/*", lambda route: route.abort())  # a report must not need the network
    try:
        report = ctx.new_page()
        report.set_content(html, wait_until="load")
        keep = tour.page
        tour.page = report
        tour.shot("planner-report", ".leaflet-container")
        tour.page = keep
    finally:
        ctx.close()

    # 可达性（2SFCA）.
    page.select_option("#cov-kind", ELDERLY)
    page.check('input[name="method"][value="2sfca"]')
    page.click("#btn-coverage")
    tour.shot("planner-2sfca", "#coverage-result #sfca-mean")
    page.click("#btn-clear-analysis")

    # 新建设施 (the form; cancelled).
    page.click("#btn-new-facility")
    tour.shot("planner-facility", "#facility-form #fac-save", crop="#panel")
    page.click("#fac-cancel")

    # 公墓… → a cemetery's burial facts and parcels; 编辑地块 shows the polygon's vertices on the map.
    with guide_live.client() as c:
        cemeteries = c.get("/api/v1/cemeteries").json()["features"]
    with_parcels = [f for f in cemeteries if f["properties"].get("parcels")]
    assert with_parcels, "the demo has no cemetery with parcels"
    cemetery = str(with_parcels[0]["properties"]["id"])
    page.wait_for_selector(f'#cemetery-pick option[value="{cemetery}"]', state="attached")
    page.select_option("#cemetery-pick", cemetery)
    tour.shot("planner-cemetery", "#cemetery-form #btn-add-parcel")
    page.locator("#cemetery-form .parcel-edit").first.click()
    tour.shot("planner-parcel", "#parcel-form #par-save")
    _done(tour, PLANNER)


# -- 管理员 --------------------
ADMIN = ["admin-tabs", "admin-layers", "admin-api-docs"]


def test_admin_tour(tour: Tour) -> None:
    page = tour.page
    tour.open()
    tour.login("guan")
    assert "管理员" in page.inner_text("#user-info")
    for tab in ("#tab-place", "#tab-proposals", "#tab-patrol", "#tab-planner", "#tab-adjustments"):
        assert page.is_visible(tab), tab
    tour.shot("admin-tabs", "#tab-adjustments")
    tour.shot("admin-layers", "#layer-list input[name=base]", crop="#panel")
    page.goto(f"{tour.base}/docs")
    tour.shot("admin-api-docs", ".swagger-ui .info")
    _done(tour, ADMIN)
