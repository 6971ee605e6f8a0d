"""One language at a time (issue 13): every screen in Chinese shows no English, and a language switch keeps what
the user was doing.

The screen walk logs in as each role with the interface in Chinese, opens every tab, panel and dialog, and collects
what a person sees: ``innerText`` of the page plus every visible ``title``, ``aria-label``, ``placeholder`` and
``alt``. The texts of romanised names (``.py``, the register's 罗马字母拼写 rows) are taken out first — pinyin is
part of a Chinese name — then every Latin-letter token must be one of:

* a code or a rule ID: letters with digits (``N5``, ``D1``, ``RZ6``, ``CGCS2000``, ``GCJ-02``, ``BD-09``, ``GB/T``);
* a name in ``ALLOWED`` below, each with the reason it has no Chinese form;
* a login name (the demo's users are pinyin surnames; the audit trail's ``system:load-demo`` is an account name);
* a capitalised pinyin word (a romanised name outside the marked elements, e.g. a flag's evidence).

Anything else — ``open``, ``True``, ``flags_justification``, ``location``, ``county`` — fails the test and is printed
with the text around it.

Screens walked, each as the role that sees it: layers, search, place panel and form, proposals (officer, reviewer);
the patrol line list, a line, its inspection, issue, status and move forms (patrol team); the planner's form,
network-distance result and facility/cemetery editors (planner); the 区划调整 tab (officer); the map's own controls,
the division labels at county and township zoom and the header's date field; the phone app /field/. Not walked: the
/help pages — they are documentation, which quotes the system's identifiers on purpose (role names such as
`officer`, API paths, commands, English terms beside the Chinese), so the interface's one-language check does not
apply to them.

The English walk (below) checks the other direction: no Chinese interface word on the English page.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any, cast

import pytest

from tests.browser.conftest import USERS, Live, PageRun

# Latin tokens with no Chinese form, and why.
ALLOWED = {
    "English": "the language switch names the other language in that language",
    "Diming": "the product's name in the header (地名 Diming)",
    "WMTS": "OGC standard named in the base-map note (天地图 WMTS matrix set)",
    "w": "Tianditu's WMTS matrix-set id, quoted in the base-map note",
    "vec": "Tianditu layer id (矢量 vec + cva), as its documentation names it",
    "cva": "Tianditu layer id",
    "img": "Tianditu layer id (影像 img + cia)",
    "cia": "Tianditu layer id",
    "DIMING_TIANDITU_KEY": "environment variable an administrator sets (base-map note)",
    "GPX": "file format name (no Chinese name)",
    "CSV": "file format name",
    "XLSX": "file format name",
    "GeoJSON": "file format name",
    "JSON": "file format name",
    "Word": "the Word document format, as Chinese users call it (Word 文档)",
    "m": "unit (metre)",
    "km": "unit (kilometre)",
    "Leaflet": "map library attribution (its licence asks for it)",
    "dianbu": "the search box's example of a full-pinyin query (店埠 / dianbu / dbz)",
    "dbz": "the search box's example of an initials query",
    "MCLP": "location model (maximal covering); Chinese planning texts name it by this acronym, explained beside it",
    "LSCP": "location model (location set covering), likewise",
}
SYSTEM_ACCOUNTS = {"system:load-demo"}
LOGINS = set(USERS) | {"admin"}

_PINYIN = re.compile(
    r"(?:(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|van|ai|ei|ao|ou|an|en|er|in|un|ia|ie|iu|ua|uo|ui|ue|ve|"
    r"a|o|e|i|u|v))+")
# 0003001Q is one token; so is Xin'an (GB/T 16159: the apostrophe separates syllables in a romanised name).
_TOKEN = re.compile(r"[A-Za-z0-9\u00C0-\u024F][A-Za-z0-9\u00C0-\u024F_:/\-'’]*")


def _plain(word: str) -> str:
    """Tone marks off (Dōngfāng → Dongfang), ü as v."""
    decomposed = unicodedata.normalize("NFD", word.replace("ü", "v").replace("Ü", "V"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def offending(text: str) -> list[str]:
    """Latin tokens of ``text`` that are English words or identifiers, each with 30 characters of context."""
    bad = []
    for m in _TOKEN.finditer(text):
        token = m.group(0).rstrip(":/-'’")
        if not re.search(r"[A-Za-z\u00C0-\u024F]", token):
            continue  # a number or a date
        if token in ALLOWED or token in LOGINS or token in SYSTEM_ACCOUNTS:
            continue
        if re.search(r"\d", token) and "_" not in token:  # N5, D1, RZ6, CGCS2000, GCJ-02, v3…
            continue
        if token in ("GB/T",):
            continue
        plain = _plain(token).replace("'", "").replace("’", "")
        if plain[:1].isupper() and "_" not in plain and _PINYIN.fullmatch(plain.lower()):
            continue  # a romanised name (Dianbu, Laojie)
        bad.append(f"{token!r} in …{text[max(0, m.start() - 30):m.end() + 30]!r}…")
    return bad


# Visible text of the page (or of `root`), romanised names taken out, plus the attributes people see or hear.
_COLLECT = """
(sel) => {
  const root = sel ? document.querySelector(sel) : document.body;
  if (!root) return "";
  const visible = (n) => !!(n.offsetWidth || n.offsetHeight || n.getClientRects().length);
  let text = root.innerText;
  const roman = [...root.querySelectorAll('.py, tr[data-field="romanized"] td, tr[data-field="tongming_romanized"] td')]
    .map((n) => n.innerText.trim()).filter(Boolean).sort((a, b) => b.length - a.length);
  for (const r of roman) text = text.split(r).join(" ");
  const attrs = [];
  for (const n of root.querySelectorAll("[title], [aria-label], [placeholder], [alt]")) {
    if (!visible(n)) continue;
    for (const a of ["title", "aria-label", "placeholder", "alt"]) if (n.getAttribute(a)) attrs.push(n.getAttribute(a));
  }
  return text + "\\n" + attrs.join("\\n") + "\\n" + document.title;
}
"""


class Walk:
    """Collects the text of each screen visited; ``check`` fails with every offending token and where it was."""

    def __init__(self, run: PageRun) -> None:
        self.run = run
        self.seen: dict[str, str] = {}

    def grab(self, screen: str, sel: str | None = "body") -> None:
        self.run.page.wait_for_timeout(150)  # let the last render settle
        self.seen[screen] = self.run.page.evaluate(_COLLECT, None if sel == "body" else sel)

    def problems(self) -> dict[str, list[str]]:
        return {k: v for k, v in ((s, offending(t)) for s, t in self.seen.items()) if v}

    def check(self) -> None:
        found = self.problems()
        assert not found, "English or identifiers on Chinese screens:\n" + "\n".join(
            f"[{screen}] {item}" for screen, items in found.items() for item in items)


def _chinese(run: PageRun) -> None:
    run.page.add_init_script("localStorage.setItem('diming.lang', 'zh')")
    run.open()
    assert run.page.get_attribute("html", "lang") == "zh-CN"


def _open_place(run: PageRun, query: str, name: str) -> None:
    page = run.page
    page.fill("#search", query)
    page.wait_for_selector(f'#search-results li[role="option"]:has-text("{name}")')
    page.click(f'#search-results li[role="option"]:has-text("{name}") >> nth=0')
    page.wait_for_selector(f"#place-title:has-text('{name}')")
    page.wait_for_timeout(300)


def _history(run: PageRun) -> None:
    page = run.page
    page.click("#sec-history summary")
    page.wait_for_selector("#sec-history ol.changes li")


def test_offending_tells_english_from_codes_and_pinyin() -> None:
    """The checker itself: it must catch what the issue lists and pass what it allows."""
    leaks = ["字段 reason 无效：Field required", "在本县 county 340122内", "要求 storeys >= 8", "状态 open",
             "True", "overdue 4 / due 0 / ok 5", "拼写人 auto", "flags_justification", "位置描述 / location",
             "level=county code=340122 parent=", "places UPDATE", "don't"]
    for text in leaks:
        assert offending(text), text
    fine = ["N5 崇洋：含外国地名“维也纳”", "店埠老街 Dianbu Laojie", "第 3 版", "CGCS2000", "GCJ-02 / BD-09",
            "D1 备案 ≤ 2026-01-01", "wang（地名工作人员）", "system:load-demo", "Dōngfāng Guǎngchǎng", "300 m",
            "English", "GB/T 16159", "界桩 0003001Q 完好", "新安社区 Xin'an Shequ"]
    for text in fine:
        assert not offending(text), (text, offending(text))


@pytest.fixture
def flagged_proposal(live: Live) -> Iterator[dict[str, Any]]:
    """A renaming proposal to a name with an open 洋 flag, so the detail screen shows flags and the steps."""
    if not live.has("/api/v1/proposals"):
        pytest.skip("the proposals API is not wired into the app")
    with live.client("wang") as c:
        found = c.get("/api/v1/places/search", params={"q": "龙泉花园", "limit": 1}).json()["features"]
        place_id = found[0]["properties"]["id"]
        earlier = c.get("/api/v1/proposals", params={"place_id": place_id}).json()["items"]
        if earlier:  # the live server's database lives for the session: one open proposal per place
            yield earlier[0]
            return
        r = c.post("/api/v1/proposals", json={
            "kind": "renaming", "place_id": place_id, "name": "曼哈顿花园", "reasons": "测试：界面语言",
            "applicant": "撮镇镇人民政府", "location_description": "撮镇镇东侧"})
        assert r.status_code == 201, r.text
        yield r.json()


def test_chinese_only_layers_search_place_panel(run: PageRun, live: Live) -> None:
    """Anonymous and officer: the layer list, search results, and the place panel of flagged places with their
    history — no English, no identifiers; 代码 is the place's number, 拼写人 and 数据来源 are words."""
    page = run.page
    _chinese(run)
    walk = Walk(run)
    walk.grab("layers", "#pane-layers")
    walk.grab("header", "header")
    page.click("#tab-place")
    walk.grab("place (empty)", "#pane-place")
    page.click("#login-btn")
    page.wait_for_selector("#login-dialog[open]")
    walk.grab("login dialog", "#login-dialog")
    page.click("#login-cancel")
    run.login("wang")
    walk.grab("header (officer)", "header")
    page.fill("#search", "dianbu")
    page.wait_for_selector('#search-results li[role="option"]')
    walk.grab("search results", "#search-results")
    for query, name in (("dblj", "店埠老街"), ("东方广场", "东方广场"), ("维也纳", "维也纳花园"), ("沿河路", "沿河路")):
        _open_place(run, query, name)
        _history(run)
        walk.grab(f"place {name}", "#pane-place")
    # 代码 is the place's own number (the one the search and the URLs use), not a version's row id.
    shown = page.inner_text("#sec-register tr[data-field=id] td")
    with live.client() as c:
        feature = c.get("/api/v1/places/search", params={"q": "沿河路", "limit": 1}).json()["features"][0]
        detail = c.get(f"/api/v1/places/{feature['properties']['id']}").json()
    assert shown.strip() in {str(detail["properties"]["id"])}, (shown, detail["properties"]["id"])
    assert "拼写人" in page.inner_text("#sec-register")
    assert run.errors == []
    walk.check()


def test_chinese_only_proposals(run: PageRun, live: Live, flagged_proposal: dict[str, Any]) -> None:
    """Officer and reviewer: the proposal list, a proposal with an open flag and its forms, the new-proposal form
    with live checks — the category is named, no bilingual or identifier labels, no doubled rule code."""
    page = run.page
    _chinese(run)
    run.login("wang")
    walk = Walk(run)
    page.click("#tab-proposals")
    page.wait_for_selector(f'#proposal-list li[data-id="{flagged_proposal["id"]}"]')
    walk.grab("proposal list", "#pane-proposals")
    page.click(f'#proposal-list li[data-id="{flagged_proposal["id"]}"] button')
    page.wait_for_selector("#pane-proposals h2:has-text('曼哈顿花园')")
    page.click("#doc-form summary")
    walk.grab("proposal detail (officer)", "#pane-proposals")
    text = page.inner_text("#pane-proposals")
    assert "N5 N5" not in text and "N5" in text
    assert "花园" in text or "居住区" in text or "建筑物" in text  # the category by its name, not just 281
    page.click("#btn-proposals-back")
    page.click("#btn-new-proposal")
    page.wait_for_selector("#proposal-form")
    page.fill("#pr-name", "维也纳小区")
    page.wait_for_selector("#proposal-form .cls-洋")
    walk.grab("new proposal (checks)", "#pane-proposals")
    # A rejected submission shows the server's error in Chinese, naming the field by its label.
    page.fill("#pr-reasons", " ")
    page.evaluate("() => document.querySelector('#pr-reasons').removeAttribute('required')")
    page.click("#proposal-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#proposal-form .error').textContent.length > 0")
    walk.grab("new proposal (error)", "#pane-proposals")
    page.click("#login-btn")  # log out
    page.wait_for_selector('body[data-user=""]', state="attached")
    run.login("qian")
    page.click("#tab-proposals")
    page.wait_for_selector(f'#proposal-list li[data-id="{flagged_proposal["id"]}"]')
    page.click(f'#proposal-list li[data-id="{flagged_proposal["id"]}"] button')
    page.wait_for_selector("#advance-form")
    if page.locator("#adv-to option[value=approved]").count():
        page.select_option("#adv-to", "approved")
    walk.grab("proposal detail (reviewer)", "#pane-proposals")
    assert run.errors == []
    walk.check()


def test_chinese_only_errors_and_exports_follow_the_interface(live: Live) -> None:
    """What the page asks in Chinese comes back in Chinese: a validation error and a CSV export."""
    with live.client("wang") as c:
        r = c.post("/api/v1/proposals", json={"kind": "naming", "name": "测试"},
                   headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert r.status_code == 422
        assert not offending(r.json()["message_zh"]), r.json()


def test_chinese_only_place_edit(run: PageRun, live: Live) -> None:
    page = run.page
    _chinese(run)
    run.login("wang")
    _open_place(run, "dblj", "店埠老街")
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    page.fill("#f-name", "曼哈顿老街")
    page.wait_for_selector(".name-checks .cls-洋")
    walk = Walk(run)
    walk.grab("place edit", "#pane-place")
    walk.check()


# -- the screens of the other areas: one visitor per screen, used by the Chinese and the English walk ------------

def _patrol(run: PageRun, walk: Walk) -> None:
    """Patrol team (zhao): the line list, a line with its markers, the inspection form, the issue, status and move
    panels (patrol.js, patrol-issue.js, patrol-marker.js)."""
    page = run.page
    page.click("#tab-patrol")
    page.wait_for_selector("#pane-patrol button.link")
    walk.grab("patrol", "#pane-patrol")
    page.locator("#pane-patrol button.link").first.click()
    page.wait_for_selector("#line-title")
    page.wait_for_selector("#marker-table tbody tr")
    walk.grab("patrol line", "#pane-patrol")
    page.click("#inspection-details summary")
    walk.grab("patrol inspection form", "#pane-patrol")
    page.click("#btn-open-issue")
    page.wait_for_selector("#issue-form")
    walk.grab("patrol issue form", "#patrol-edit")
    page.click("#btn-open-status")
    page.wait_for_selector("#marker-status-form")
    walk.grab("patrol status form", "#patrol-edit")
    page.locator("#marker-table button.act-move").first.click()
    page.wait_for_selector("#marker-move-form")
    walk.grab("patrol move form", "#patrol-edit")
    walk.grab("patrol map", "#map")  # the line and its markers' tooltips


def _planner(run: PageRun, walk: Walk) -> None:
    """Planner (sun): the analysis form, network distance with its road network note, a coverage result, and the
    new-facility and new-cemetery editors (planner.js, planner-network.js, planner-edit.js)."""
    page = run.page
    page.click("#tab-planner")
    page.wait_for_selector("#coverage-form")
    walk.grab("planner", "#pane-planner")
    if page.locator('input[name="dist"][value="network"]:not([disabled])').count():
        page.check('input[name="dist"][value="network"]')
        page.wait_for_function("() => document.getElementById('network-note').textContent.length > 0")
    page.click("#btn-coverage")
    page.wait_for_selector("#coverage-result h3")
    walk.grab("planner coverage result", "#pane-planner")
    page.click("#btn-new-facility")
    page.wait_for_selector("#facility-form")
    walk.grab("planner new facility", "#pane-planner")
    page.click("#btn-new-cemetery")
    page.wait_for_selector("#cemetery-new-form")
    walk.grab("planner new cemetery", "#pane-planner")
    walk.grab("planner map", "#map")


def _adjustments(run: PageRun, walk: Walk) -> None:
    """Officer (wang): the 区划调整 tab's list, an adjustment if there is one, and the new-adjustment form."""
    page = run.page
    page.click("#tab-adjustments")
    page.wait_for_selector("#adj-refresh")
    page.wait_for_timeout(500)
    walk.grab("adjustments", "#pane-adjustments")
    opener = page.locator("#adj-list button.adj-open")
    if opener.count():
        opener.first.click()
        page.wait_for_selector("#adj-status")
        walk.grab("adjustment", "#pane-adjustments")
        page.click("#adj-back")  # the detail view keeps its tab; its own button goes back to the list
        page.wait_for_selector("#adj-new")
    page.click("#adj-new")
    page.wait_for_selector("#adj-form")
    walk.grab("adjustment form", "#pane-adjustments")
    page.click("#adj-cancel")


def _map(run: PageRun, walk: Walk) -> None:
    """The map itself: Leaflet's zoom buttons, the home button, the attribution, the scale, the division labels
    (labels.js) at county and at township zoom, and the status line; the header's date field (date-input.js)."""
    page = run.page
    walk.grab("map", "#map")
    page.evaluate("() => window.dimingMap.setView([31.88, 117.47], 13)")
    page.wait_for_timeout(1500)
    walk.grab("map (zoom 13)", "#map")
    walk.grab("header", "header")


def _field(run: PageRun, walk: Walk) -> None:
    """The phone app /field/ (helper f2's): the start screen, logged in, and the work-package dialog."""
    page = run.page
    run.open("/field/")
    walk.grab("field")
    run.login("zhao")
    walk.grab("field (patrol)")
    page.click("#btn-package")
    page.wait_for_selector("#pkg-line-choices input")
    walk.grab("field package", "#package-dialog")


def test_chinese_only_patrol(run: PageRun, live: Live) -> None:
    _chinese(run)
    run.login("zhao")
    walk = Walk(run)
    _patrol(run, walk)
    assert run.errors == []
    walk.check()


def test_chinese_only_planner(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    _chinese(run)
    run.login("sun")
    walk = Walk(run)
    _planner(run, walk)
    assert run.errors == []
    walk.check()


def test_chinese_only_adjustments(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/adjustments"):
        pytest.skip("the adjustments API is not wired into the app")
    _chinese(run)
    run.login("wang")
    walk = Walk(run)
    _adjustments(run, walk)
    assert run.errors == []
    walk.check()


def test_chinese_only_map_controls(run: PageRun, live: Live) -> None:
    _chinese(run)
    walk = Walk(run)
    _map(run, walk)
    assert run.page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
    walk.check()


def test_chinese_only_field_app(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/field/sync"):
        pytest.skip("the field API is not wired into the app")
    run.page.add_init_script("localStorage.setItem('diming.lang', 'zh')")
    walk = Walk(run)
    _field(run, walk)
    walk.check()


# -- the English interface: no Chinese interface words ------------------------------------------------------------
#
# In English the page still shows Chinese *data*: place and division names, a line's agreement reference, a
# facility's remarks — what people stored. The walk tells data from interface words by where the text came from:
# a run of Chinese characters on the page is data when it occurs in a string of a JSON answer of /api/ that the
# page received (recorded while it ran); everything else on the page (the HTML, the i18n modules, text put together
# in the browser) is interface. A string the API also gives in English (a key ``k`` with a sibling ``k_en``, a
# ``*_zh`` key, ``{"zh", "en"}``) is a label, not data: the English page must show the English one, so those do not
# count as data. The only Chinese word allowed is ``ENGLISH_ALLOWED``.

ENGLISH_ALLOWED = {"中文": "the language switch names the other language in that language"}
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def _data_strings(value: Any, out: set[str]) -> None:
    """Strings with Chinese in a JSON value, leaving out labels that have an English twin."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k.endswith("_zh") or (k == "zh" and "en" in value) or f"{k}_en" in value:
                continue
            _data_strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _data_strings(v, out)
    elif isinstance(value, str) and _CJK_RUN.search(value):
        out.add(value)


def chinese_interface_words(text: str, data: set[str]) -> list[str]:
    """Runs of Chinese characters in ``text`` that are neither data (in one of ``data``) nor allowed."""
    bad = []
    for m in _CJK_RUN.finditer(text):
        run_ = m.group(0)
        if run_ in ENGLISH_ALLOWED or any(run_ in d for d in data):
            continue
        bad.append(f"{run_!r} in …{text[max(0, m.start() - 30):m.end() + 30]!r}…")
    return bad


class EnglishWalk(Walk):
    """The same screens in English; ``check`` fails on Chinese words that did not come from the server's data."""

    def __init__(self, run: PageRun) -> None:
        super().__init__(run)
        self.responses: list[Any] = []
        run.page.on("response", lambda r: self.responses.append(r)
                    if "/api/" in r.url and "json" in (r.headers.get("content-type") or "") else None)

    def data(self) -> set[str]:
        out: set[str] = set()
        for r in self.responses:
            try:
                _data_strings(r.json(), out)
            except Exception:  # a body the browser no longer keeps, or not JSON after all
                continue
        return out

    def problems(self) -> dict[str, list[str]]:
        data = self.data()
        found = {s: chinese_interface_words(t, data) for s, t in self.seen.items()}
        return {k: v for k, v in found.items() if v}

    def check(self) -> None:
        found = self.problems()
        assert not found, "Chinese interface words on English screens:\n" + "\n".join(
            f"[{screen}] {item}" for screen, items in found.items() for item in items)


def _english(run: PageRun) -> EnglishWalk:
    walk = EnglishWalk(run)  # listening before the first answer arrives
    run.page.add_init_script("localStorage.setItem('diming.lang', 'en')")
    run.open()
    assert run.page.get_attribute("html", "lang") == "en"
    return walk


def test_chinese_interface_words_tells_data_from_labels() -> None:
    data: set[str] = set()
    _data_strings({"name": "店埠老街", "category": {"name": "居住区", "name_en": "residential area"},
                   "message_zh": "缺少字段", "status": {"zh": "待处理", "en": "open"},
                   "remarks": ["合成示例设施"]}, data)
    assert data == {"店埠老街", "合成示例设施"}
    assert not chinese_interface_words("Standard name 店埠老街 · remarks 合成示例设施 · 中文", data)
    assert chinese_interface_words("Category 居住区", data)
    assert chinese_interface_words("店埠老街 状态", data)


def test_english_only_layers_place_panel_proposals_adjustments(run: PageRun, live: Live,
                                                              flagged_proposal: dict[str, Any]) -> None:
    """Officer in English: the layer list, search, the place panel with history, the place form, the proposals
    (list, a flagged one, the new form with checks) and the adjustments tab."""
    page = run.page
    walk = _english(run)
    walk.grab("layers", "#pane-layers")
    walk.grab("header", "header")
    run.login("wang")
    page.fill("#search", "dianbu")
    page.wait_for_selector('#search-results li[role="option"]')
    walk.grab("search results", "#search-results")
    for query, name in (("dblj", "店埠老街"), ("维也纳", "维也纳花园"), ("沿河路", "沿河路")):
        _open_place(run, query, name)
        _history(run)
        walk.grab(f"place {name}", "#pane-place")
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    walk.grab("place edit", "#pane-place")
    page.click("#tab-proposals")
    page.wait_for_selector(f'#proposal-list li[data-id="{flagged_proposal["id"]}"]')
    walk.grab("proposal list", "#pane-proposals")
    page.click(f'#proposal-list li[data-id="{flagged_proposal["id"]}"] button')
    page.wait_for_selector("#doc-form")
    page.click("#doc-form summary")
    walk.grab("proposal detail", "#pane-proposals")
    page.click("#btn-proposals-back")
    page.click("#btn-new-proposal")
    page.wait_for_selector("#proposal-form")
    page.fill("#pr-name", "维也纳小区")
    page.wait_for_selector("#proposal-form .cls-洋")
    walk.grab("new proposal (checks)", "#pane-proposals")
    if live.has("/api/v1/adjustments"):
        _adjustments(run, walk)
    assert run.errors == []
    walk.check()


def test_english_only_patrol(run: PageRun, live: Live) -> None:
    walk = _english(run)
    run.login("zhao")
    _patrol(run, walk)
    assert run.errors == []
    walk.check()


def test_english_only_planner(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/coverage"):
        pytest.skip("the coverage API is not wired into the app")
    walk = _english(run)
    run.login("sun")
    _planner(run, walk)
    assert run.errors == []
    walk.check()


def test_english_only_map_controls(run: PageRun, live: Live) -> None:
    walk = _english(run)
    _map(run, walk)
    assert run.page.get_attribute(".leaflet-control-zoom-in", "title") == "Zoom in"
    # The switch back: the titles follow the language without a reload.
    run.page.click("#lang")
    run.page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    assert run.page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
    walk.check()


def test_english_only_field_app(run: PageRun, live: Live) -> None:
    if not live.has("/api/v1/field/sync"):
        pytest.skip("the field API is not wired into the app")
    walk = EnglishWalk(run)
    run.page.add_init_script("localStorage.setItem('diming.lang', 'en')")
    _field(run, walk)
    walk.check()


# -- a language switch keeps what the user was doing ------------------------------------------------------------

def _switch(run: PageRun, to: str) -> None:
    page = run.page
    page.click("#lang")
    page.wait_for_function("(l) => document.documentElement.lang === l", arg="en" if to == "en" else "zh-CN")
    page.wait_for_timeout(400)


def _values(run: PageRun, ids: list[str]) -> dict[str, Any]:
    return cast(dict[str, Any], run.page.evaluate(
        "(ids) => Object.fromEntries(ids.map((id) => { const n = document.getElementById(id);"
        " return [id, n ? (n.type === 'checkbox' ? n.checked : n.value) : null]; }))", ids))


def test_language_switch_keeps_layers_search_and_place_panel(run: PageRun, live: Live) -> None:
    page = run.page
    _chinese(run)
    run.login("wang")
    # Layers: a layer switched off stays off.
    layer = page.locator("#layer-list label[data-layer] input[type=checkbox]:checked").first.evaluate(
        "(n) => n.closest('label').dataset.layer")
    page.uncheck(f'#layer-list label[data-layer="{layer}"] input')
    _switch(run, "en")
    assert not page.is_checked(f'#layer-list label[data-layer="{layer}"] input')
    assert "Layers" in page.inner_text("#tab-layers")
    # Search: the query and the results stay.
    _switch(run, "zh")
    page.fill("#search", "dianbu")
    page.wait_for_selector('#search-results li[role="option"]:has-text("店埠镇")')
    _switch(run, "en")
    assert page.input_value("#search") == "dianbu"
    page.focus("#search")  # the language button took the focus and closed the list; back in the box it shows again
    assert page.is_visible('#search-results li[role="option"]:has-text("店埠镇")')
    assert "results" in page.inner_text("#search-count")
    # Place panel: the same place, the history still open, now in English.
    page.keyboard.press("Escape")
    _switch(run, "zh")
    _open_place(run, "dblj", "店埠老街")
    _history(run)
    page.evaluate("() => { document.getElementById('sec-variants').open = false; }")
    _switch(run, "en")
    page.wait_for_selector("#sec-history ol.changes li")
    assert "店埠老街" in page.inner_text("#place-title")
    assert page.evaluate("() => document.getElementById('sec-history').open")
    assert not page.evaluate("() => document.getElementById('sec-variants').open")
    assert "Standard name" in page.inner_text("#sec-register")
    assert run.errors == []


def test_language_switch_keeps_proposal_forms(run: PageRun, live: Live, flagged_proposal: dict[str, Any]) -> None:
    page = run.page
    _chinese(run)
    run.login("wang")
    # A half-filled new proposal: every field survives, the name checks run again in the new language.
    page.click("#tab-proposals")
    page.click("#btn-new-proposal")
    page.wait_for_selector("#proposal-form")
    typed = {"pr-name": "维也纳小区", "pr-loc": "店埠镇北侧", "pr-meaning": "因小区得名", "pr-reasons": "新建小区命名",
             "pr-applicant": "店埠镇人民政府"}
    for k, v in typed.items():
        page.fill(f"#{k}", v)
    page.select_option("#pr-cat", index=2)
    cat = page.input_value("#pr-cat")
    page.wait_for_selector("#proposal-form .cls-洋")
    _switch(run, "en")
    assert _values(run, [*typed, "pr-cat"]) == {**typed, "pr-cat": cat}
    assert "Reasons" in page.inner_text("#proposal-form")
    page.wait_for_selector("#proposal-form .cls-洋")
    _switch(run, "zh")
    assert _values(run, [*typed, "pr-cat"]) == {**typed, "pr-cat": cat}
    # A half-filled document form and step form on a proposal.
    page.click("#proposal-form button[type=button]")  # cancel → list
    page.click(f'#proposal-list li[data-id="{flagged_proposal["id"]}"] button')
    page.wait_for_selector("#doc-form")
    page.click("#doc-form summary")
    page.fill("#doc-title", "更名申请书")
    page.fill("#doc-no", "东民〔2026〕1号")
    filled = {"doc-title": "更名申请书", "doc-no": "东民〔2026〕1号"}
    if page.locator("#advance-form").count():
        page.fill("#adv-reason", "材料齐全")
        filled["adv-reason"] = "材料齐全"
    _switch(run, "en")
    assert page.evaluate("() => document.querySelector('#doc-form details').open")
    assert _values(run, list(filled)) == filled
    assert "Documents" in page.inner_text("#pane-proposals")
    assert run.errors == []


def test_language_switch_keeps_place_edit(run: PageRun, live: Live) -> None:
    page = run.page
    _chinese(run)
    run.login("wang")
    _open_place(run, "dblj", "店埠老街")
    page.click("#btn-edit")
    page.wait_for_selector("#place-form")
    page.fill("#f-remarks", "语言切换测试")
    page.fill("#f-reason", "核对")
    _switch(run, "en")
    assert _values(run, ["f-remarks", "f-reason"]) == {"f-remarks": "语言切换测试", "f-reason": "核对"}


def test_language_switch_keeps_patrol_form(run: PageRun, live: Live) -> None:
    page = run.page
    _chinese(run)
    run.login("zhao")
    page.click("#tab-patrol")
    page.wait_for_timeout(1500)
    page.locator("#pane-patrol button.link").first.click()
    page.wait_for_selector("#inspection-details")
    page.click("#inspection-details summary")
    typed = {"insp-left": "肥东县民政局巡查组", "insp-note": "语言切换测试"}
    for k, v in typed.items():
        page.fill(f"#{k}", v)
    _switch(run, "en")
    assert page.evaluate("() => document.getElementById('inspection-details').open")
    assert _values(run, list(typed)) == typed


def test_language_switch_keeps_planner_form(run: PageRun, live: Live) -> None:
    page = run.page
    _chinese(run)
    run.login("sun")
    page.click("#tab-planner")
    page.wait_for_timeout(1500)
    fields = page.locator("#pane-planner input[type=number][id]")
    assert fields.count(), "no number field on the planner tab"
    ident = fields.first.get_attribute("id")
    page.fill(f"#{ident}", "777")
    _switch(run, "en")
    assert _values(run, [str(ident)]) == {ident: "777"}
