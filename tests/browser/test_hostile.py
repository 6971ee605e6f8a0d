"""No script from data runs in anyone's browser (issue 10 §2).

Hostile names and notes — ``<img onerror>``, ``<script>``, ``"><svg onload>``, ``javascript:`` URLs and a
JavaScript template-literal breakout — are stored through the API in every layer the map shows (township,
village, place and its variant, facility kind, facility, cemetery and parcel, boundary line, marker, joint
inspection with a dispute, naming proposal). A user with every role then opens the map, hovers and opens every
tooltip and popup, searches, opens the place, the line, the proposal, runs coverage and site suggestion, and
opens the folium coverage report, the 平安边界 report, the public notice and /docs.

Every payload calls ``pwn(tag)``, a function the page is given before it loads; the test fails if it was ever
called, if the browser reports a Content-Security-Policy violation (that means markup from data reached an
HTML parser, and only the policy stopped it), or if a dialog opened. The strings must also be visible as the
literal text that was typed.

The journey writes for real, so it runs against a database and server of its own (``<test db>_hostile``):
the other browser journeys never see these names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from gis_api.ui_config import UiSettings
from tests.browser.conftest import CHROMIUM, PASSWORD, Live, PageRun
from tests.live import load_demo_cli, scratch_database, serve

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test installs it)")

BOSS = "boss"  # every screen: admin may do everything


TAGS: list[str] = []  # which stored field a payload came from: pwn(n) reports TAGS[n]


def _n(tag: str) -> int:
    if tag not in TAGS:
        TAGS.append(tag)
    return TAGS.index(tag)


def hostile(tag: str) -> str:
    """A name that runs ``pwn(n)`` wherever it is parsed as HTML or pasted into script (names hold ≤ 100)."""
    n = _n(tag)
    return f'店<img src=x onerror=pwn({n})>"><svg onload=pwn({n})><script>pwn({n})</script>`${{pwn({n})}}`'


def needle(tag: str) -> str:
    """A piece of ``hostile(tag)`` that is found only if the name is shown as the text that was typed."""
    return f"onerror=pwn({_n(tag)})>"


def js_url(tag: str) -> str:
    return f"javascript:pwn({_n(tag)})"


# Given to every document before its own scripts: the payloads' target, CSP violations, script errors.
PROBE = """
window.__pwned = [];
window.pwn = (tag) => { window.__pwned.push(String(tag)); };
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def live(settings: Settings) -> Iterator[Live]:
    """A server on a database of this module's own, loaded with the demo like the other journeys'."""
    own = scratch_database(settings, "hostile")
    load_demo_cli(own)
    engine = create_engine(own, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as session:
        auth.create_user(session, BOSS, PASSWORD, ["admin"])
        session.commit()
    engine.dispose()
    app = create_app(replace(settings, db=settings.db.model_copy(update={"database_url": own})))
    app.state.ui_settings = UiSettings(tianditu_key=None)
    with serve(app) as base:
        yield Live(base, app)


@dataclass
class Seeded:
    township: str = ""
    place: int = 0
    place_point: list[float] = field(default_factory=list)
    village_point: list[float] = field(default_factory=list)
    line: str = ""
    proposal: int = 0
    named: int = 0
    kind: str = "hostile_kind"
    written: list[str] = field(default_factory=list)  # which layers took a hostile value


def _ok(r: httpx.Response, what: str) -> Any:
    assert r.status_code < 300, f"{what}: {r.status_code} {r.text[:500]}"
    return r.json() if r.content else None


def seed(c: httpx.Client) -> Seeded:
    """Store hostile strings in every layer the map shows, through the same API the officers use."""
    s = Seeded()
    reason = {"reason": "hostile-input test"}

    def patch(path: str, body: dict[str, Any]) -> Any:
        etag = c.get(path).headers["ETag"]
        return _ok(c.patch(path, json={**reason, **body}, headers={"If-Match": etag}), path)

    towns = _ok(c.get("/api/v1/divisions", params={"level": "township", "parent": "340122"}), "townships")
    s.township = towns["features"][0]["properties"]["code"]
    patch(f"/api/v1/divisions/{s.township}", {"name": hostile("township")})
    s.written.append("township")
    villages = _ok(c.get("/api/v1/divisions", params={"level": "village", "parent": s.township, "limit": 1}),
                   "villages")
    village = villages["features"][0]
    patch(f"/api/v1/divisions/{village['properties']['code']}", {"name": hostile("village")})
    s.village_point = village["geometry"]["coordinates"]
    s.written.append("village")

    # A point place near the county seat (its label is where the map is zoomed in later).
    near = _ok(c.get("/api/v1/places", params={"bbox": "117.44,31.87,117.48,31.90", "limit": 500}), "places")
    found = next(f for f in near["features"] if f["geometry"] and f["geometry"]["type"] == "Point")
    s.place = found["properties"]["id"]
    s.place_point = found["geometry"]["coordinates"]
    patch(f"/api/v1/places/{s.place}", {"name": hostile("place"), "meaning": hostile("meaning"),
                                        "remarks": js_url("remarks")})
    _ok(c.post(f"/api/v1/places/{s.place}/variants",
               json={"kind": "别名", "name": hostile("variant"), "note": hostile("vnote"), **reason}), "variant")
    s.written += ["place", "variant"]

    _ok(c.post("/api/v1/facilities/kinds", json={
        "id": s.kind, "name_zh": hostile("kind_zh"), "name_en": hostile("kind_en"), "category": "social",
        "default_radius_m": 2000, "note": hostile("kind_note"), **reason}), "facility kind")
    lon, lat = s.place_point
    _ok(c.post("/api/v1/facilities", json={
        "name": hostile("facility"), "kind": s.kind, "geometry": {"type": "Point", "coordinates": [lon + 0.002, lat]},
        "address": hostile("address")[:60], "capacity": 10, "remarks": js_url("fac"), **reason}), "facility")
    s.written += ["facility kind", "facility"]

    d = 0.004
    h = d / 2
    ring = [[lon - d, lat - d], [lon - h, lat - d], [lon - h, lat - h], [lon - d, lat - h], [lon - d, lat - d]]
    parcel = {"type": "Polygon", "coordinates": [ring]}
    r = c.post("/api/v1/cemeteries", json={
        "name": hostile("cemetery"), "geometry": {"type": "Point", "coordinates": [lon - d * 0.75, lat - d * 0.75]},
        "parcels": [{"name": hostile("parcel"), "geometry": parcel, "plots_capacity": 5}], "remarks": js_url("cem"),
        **reason})
    _ok(r, "cemetery")
    s.written.append("cemetery")

    lines = _ok(c.get("/api/v1/boundaries", params={"level": "county", "code": "340122"}), "lines")["features"]
    line = next(f for f in lines if f["properties"]["markers"] > 0)
    s.line = line["properties"]["line_id"]
    patch(f"/api/v1/boundaries/{s.line}", {"name": hostile("line"), "note": hostile("line_note"),
                                           "responsible_left": hostile("left")[:60], "agreement_ref": js_url("agr")})
    s.written.append("boundary line")
    markers = _ok(c.get("/api/v1/boundary-markers", params={"line_id": s.line}), "markers")["features"]
    marker_no = markers[0]["properties"]["marker_no"]
    patch(f"/api/v1/boundary-markers/{marker_no}", {"note": hostile("marker_note"), "material": hostile("mat")[:60],
                                                     "photos": [{"ref": js_url("photo"), "caption": hostile("cap")}]})
    s.written.append("boundary marker")
    _ok(c.post("/api/v1/boundary-inspections", json={
        "line_id": s.line, "inspected_on": clock.today().isoformat(), "kind": "other",
        "team_left": {"unit": hostile("team")[:60]}, "team_right": {"unit": "对方"},
        "findings": [{"marker_no": marker_no, "damaged": True, "note": hostile("finding")}],
        "disputes": [{"description": hostile("dispute")}], "note": hostile("insp_note"), "filing_ref": js_url("ref")}),
        "inspection")
    s.written.append("inspection")

    prop = _ok(c.post("/api/v1/proposals", json={
        "kind": "renaming", "place_id": s.place, "name": hostile("proposal"), "reasons": hostile("reasons"),
        "location_description": hostile("location"), "applicant": hostile("applicant")[:60]}), "proposal")
    s.proposal = prop["id"]
    s.written.append("naming proposal")

    # A street named through the whole procedure (in the past), so that its public notice exists.
    street = [[lon, lat + 0.003], [lon + 0.004, lat + 0.003]]
    named = _ok(c.post("/api/v1/proposals", json={
        "kind": "naming", "name": hostile("named"), "category_code": "251",
        "geometry": {"type": "LineString", "coordinates": street}, "location_description": hostile("where"),
        "reasons": "新建道路需要命名", "applicant": "店埠镇人民政府", "applied_on": "2025-01-02",
        "comment_start": "2025-01-03"}), "naming proposal")
    s.named = named["id"]
    for kind in ("综合评估", "专家论证", "征求意见"):
        extra = {"opinion_handling": hostile("opinions")} if kind == "征求意见" else {}
        _ok(c.post(f"/api/v1/proposals/{s.named}/documents", data={
            "kind": kind, "title": hostile(f"doc {kind}"), "doc_no": js_url("docno"), "doc_date": "2025-02-05",
            **extra}), f"document {kind}")
    for step in ({"to": "reviewed", "date": "2025-02-10"},
                 {"to": "approved", "date": "2025-03-03", "doc_no": "肥政秘〔2025〕12号", "authority": "肥东县人民政府",
                  "flags_justification": hostile("justify")}):
        etag = c.get(f"/api/v1/proposals/{s.named}").headers["ETag"]
        _ok(c.post(f"/api/v1/proposals/{s.named}/advance", json={**reason, **step}, headers={"If-Match": etag}),
            f"advance to {step['to']}")
    s.written.append("approved name and its documents")
    return s


@dataclass
class Watch:
    """What the payloads or the policy reported, per document."""

    pwned: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def collect(self, page: Any, where: str) -> None:
        got = page.evaluate("() => [window.__pwned || [], window.__csp || []]")
        self.pwned += [f"{where}: {TAGS[int(t)] if t.isdigit() and int(t) < len(TAGS) else t}" for t in got[0]]
        self.csp += [f"{where}: {v}" for v in got[1]]


OPEN_ALL = """
() => {
  // Every tooltip and popup on the map, opened the way hovering and clicking open them.
  let n = 0;
  window.dimingMap.eachLayer((l) => {
    if (l.getTooltip && l.getTooltip()) { try { l.openTooltip(); n++; } catch (e) { /* not on the map */ } }
    if (l.getPopup && l.getPopup()) { try { l.openPopup(); n++; } catch (e) { /* idem */ } }
  });
  return n;
}
"""


def _fulfil(headers: dict[str, str], body: bytes) -> Callable[[Any], None]:
    """A route handler answering with this document (Playwright passes the request too to 2-argument ones)."""
    return lambda route: route.fulfill(status=200, headers=headers, body=body)


def _text_everywhere(page: Any) -> str:
    return str(page.evaluate("() => document.body.innerText"))


def test_hostile_names_stay_text_everywhere(run: PageRun, live: Live, tmp_path: Path) -> None:
    with live.client(BOSS) as c:
        s = seed(c)
    page = run.page
    page.context.add_init_script(PROBE)
    w = Watch()

    def on_dialog(d: Any) -> None:
        w.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: w.console.append(m.text) if "Content Security Policy" in m.text else None)

    run.open()
    run.login(BOSS)
    page.check("#layer-list label[data-layer=facilities] input")

    # Hover the renamed township with the mouse, as in the report that opened this issue: a point of the
    # screen where its polygon is the topmost element.
    point = page.evaluate("""(name) => {
      const map = window.dimingMap;
      let found = null;
      map.eachLayer((l) => { if (!found && l.feature && l.feature.properties.name === name && l._path) found = l; });
      if (!found) return null;
      const b = found.getBounds();
      const box = map.getContainer().getBoundingClientRect();
      for (let i = 1; i < 20; i++) for (let j = 1; j < 20; j++) {
        const ll = L.latLng(b.getSouth() + (b.getNorth() - b.getSouth()) * i / 20,
                            b.getWest() + (b.getEast() - b.getWest()) * j / 20);
        const p = map.latLngToContainerPoint(ll);
        const x = box.left + p.x, y = box.top + p.y;
        if (document.elementFromPoint(x, y) === found._path) return [x, y];
      }
      return null;
    }""", hostile("township"))
    assert point, "the renamed township is on the map"
    page.mouse.move(point[0] - 2, point[1] - 2)
    page.mouse.move(point[0], point[1])
    tip = page.wait_for_selector(f".leaflet-tooltip:has-text('{needle('township')}')")
    assert hostile("township") in tip.inner_text()
    page.mouse.click(point[0], point[1])
    page.wait_for_selector(f".leaflet-popup-content:has-text('{needle('township')}')")
    run.shot("hostile_township")

    # Every tooltip and popup of every layer, at county zoom and zoomed in on the place (labels on).
    assert page.evaluate(OPEN_ALL) > 30
    page.evaluate("([lon, lat]) => window.dimingMap.setView([lat, lon], 16)", s.place_point)
    page.wait_for_selector(f".labels-on .place-label .lbl b:has-text('{needle('place')}')", state="attached")
    page.wait_for_timeout(600)  # the view's facilities and cemeteries load
    page.evaluate(OPEN_ALL)
    run.shot("hostile_zoomed")

    w.collect(page, "map")

    # Search, then the place panel with its history, variants and flags.
    page.fill("#search", "店<img")
    option = page.wait_for_selector(f"#search-results li[role=option]:has-text('{needle('place')}')")
    option.click()
    page.wait_for_selector(f"#place-title:has-text('{needle('place')}')")
    page.click("#sec-history summary")
    page.wait_for_selector("#sec-history ol li")
    view = page.inner_text("#place-view")
    assert hostile("variant") in view and hostile("vnote") in view and js_url("remarks") in view
    run.shot("hostile_place")

    # The boundary line in the patrol panel: name, sides, markers, inspections, open issues.
    page.click("#tab-patrol")
    page.uncheck("#patrol-view-only")  # the list follows the view, zoomed to the place above: list every line
    page.click(f'#line-list li[data-line="{s.line}"] button')
    page.wait_for_selector(f"#line-title:has-text('{needle('line')}')")
    patrol = page.inner_text("#pane-patrol")
    assert hostile("dispute") in patrol
    page.evaluate(OPEN_ALL)
    run.shot("hostile_patrol")

    # The approved name's proposal (documents, steps, flags justification), then the renaming, from the list.
    page.click("#tab-proposals")
    page.wait_for_selector(f'#proposal-list li[data-id="{s.named}"]')
    page.click(f'#proposal-list li[data-id="{s.named}"] button')
    page.wait_for_selector(f"#pane-proposals h2:has-text('{needle('named')}')")
    assert hostile("doc 专家论证") in page.inner_text("#pane-proposals")
    page.click("#btn-proposals-back")

    page.wait_for_selector(f'#proposal-list li[data-id="{s.proposal}"]')
    page.click(f'#proposal-list li[data-id="{s.proposal}"] button')
    page.wait_for_selector(f"#pane-proposals h2:has-text('{needle('proposal')}')")
    assert hostile("reasons") in page.inner_text("#pane-proposals") or hostile("location") in _text_everywhere(page)
    run.shot("hostile_proposal")

    # Planner: coverage of the hostile kind (its name in the form and result, the facility's tooltip), and a
    # suggested site among the villages (one renamed).
    page.click("#tab-planner")
    page.wait_for_selector("#coverage-form")
    page.select_option("#cov-kind", s.kind)
    assert hostile("kind_zh") in page.inner_text("#cov-kind")
    page.fill("#cov-meters", "3000")
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-share")
    page.fill("#suggest-k", "1")
    page.click("#btn-suggest")
    page.wait_for_selector("ol.sites li", timeout=60_000)
    page.evaluate(OPEN_ALL)
    run.shot("hostile_planner")
    with page.expect_download() as info:
        page.click("#btn-report")
    report_path = tmp_path / "coverage-report.html"
    info.value.save_as(report_path)
    w.collect(page, "map after every screen")

    # The folium report as the server serves it inline (with its own CSP header), and the downloaded file as
    # when opened from disk (no header: only the policy in its <meta> holds).
    with live.client(BOSS) as c:
        served = c.post("/api/v1/coverage", params={"format": "html"},
                        json={"facility_kind": s.kind, "radius_m": 3000})
    assert served.status_code == 200 and "sandbox allow-scripts" in served.headers["content-security-policy"]
    html_type = {"content-type": "text/html; charset=utf-8"}
    as_served = {**html_type, "content-security-policy": served.headers["content-security-policy"]}
    for where, name, headers, body in (("report (served)", "served", as_served, served.content),
                                       ("report (file)", "file", html_type, report_path.read_bytes())):
        target = f"{live.url}/__hostile_report_{name}.html"
        page.route(target, _fulfil(headers, body))
        page.goto(target)
        page.wait_for_function("() => Object.keys(window).some((k) => k.startsWith('map_'))")
        opened = page.evaluate("""() => {
          let n = 0;
          for (const k of Object.keys(window).filter((x) => x.startsWith('map_'))) {
            window[k].eachLayer((l) => {
              if (!(l.getTooltip && l.getTooltip())) return;
              l.openTooltip(l.getLatLng ? l.getLatLng() : l.getBounds().getCenter());
              n++;
            });
          }
          return n;
        }""")
        assert opened > 3
        tips = " ".join(page.locator(".leaflet-tooltip").all_inner_texts())
        assert hostile("facility") in tips, tips[:500]
        assert hostile("township") in tips
        w.collect(page, where)
        run.shot("hostile_report")

    # The 平安边界 report and the public notice: documents rendered from data.
    page.goto(f"{live.url}/api/v1/boundaries/report")
    assert hostile("line") in _text_everywhere(page)
    w.collect(page, "boundary report")
    notice = page.goto(f"{live.url}/api/v1/proposals/{s.named}/notice.html")
    assert notice is not None and notice.ok and "sandbox" in notice.headers["content-security-policy"]
    assert hostile("named") in _text_everywhere(page)
    w.collect(page, "notice")

    # The API docs: no stored string reaches the OpenAPI documents.
    with live.client() as c:
        for doc in ("/openapi.json", "/ogc/api"):
            r = c.get(doc)
            assert r.status_code == 200 and "pwn(" not in r.text, doc
    page.goto(f"{live.url}/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)
    w.collect(page, "docs")

    assert len(s.written) >= 10, s.written
    assert w.pwned == [], w.pwned
    assert w.csp == [] and w.console == [], (w.csp, w.console)
    assert w.dialogs == []
    assert run.errors == [], run.errors
    assert run.outside() == [], run.outside()
