"""Reports worth printing: the folium coverage report and the 平安边界 report carry a title, the report date, the
data's as-of date, the source labels (real / synthetic) and a legend, in Chinese only (no stored identifiers such
as ``overdue`` or ``True``), with every asset inline; the coverage report frames the county, and a suggestion's
report gives the share before and after its sites."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.boundaries.demo import load_demo_boundaries
from gis_api.facilities.demo import load_demo_facilities

KIND = "township_social_work_station"
EXTERNAL = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", re.I)


@pytest.fixture(scope="module", autouse=True)
def demo_facilities(engine: Engine) -> Iterator[None]:
    with Session(engine) as s:
        load_demo_facilities(s)
        s.commit()
    yield


@pytest.fixture
def demo_boundaries(session: Session) -> dict[str, Any]:
    out = load_demo_boundaries(session)
    session.commit()  # releases a savepoint only
    return out


def _visible_text(page: str) -> str:
    """The words a reader sees: the page without its scripts, styles and tags."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _county_bbox(session: Session) -> tuple[float, float, float, float]:
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM divisions "
        "WHERE code = '340122' AND valid_to IS NULL) t")).one()
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


def _fit_bounds(page: str) -> list[list[float]]:
    m = re.search(r"\bmap_[0-9a-f]+\.fitBounds\(\s*(\[\[[^\]]+\],\s*\[[^\]]+\]\])", page)
    assert m, "the report sets no frame"
    return list(json.loads(m.group(1)))


def test_coverage_report_frames_the_county_and_says_what_it_shows(client: TestClient, session: Session) -> None:
    body = {"facility_kind": KIND, "radius_m": 3000}
    api = client.post("/api/v1/coverage", json=body).json()
    r = client.post("/api/v1/coverage", params={"format": "html"}, json=body)
    assert r.status_code == 200
    page = r.text
    # The frame is the county: fitBounds spans the county's outline (its townships partition it) and
    # not much more; before, the map opened at a whole zoom level where the county filled ~15 % of it.
    (s, w), (n, e) = _fit_bounds(page)
    x0, y0, x1, y1 = _county_bbox(session)
    tol = 0.01  # degrees (~1 km): township polygons are simplified for the report
    assert s <= y0 + tol and w <= x0 + tol and n >= y1 - tol and e >= x1 - tol
    assert (n - s) <= (y1 - y0) * 1.1 and (e - w) <= (x1 - x0) * 1.1
    assert '"zoomSnap": 0.1' in page  # fractional zoom, so fitBounds can fill the frame
    words = _visible_text(page)
    # Title, report date, data date, sources, legend.
    assert "乡镇(街道)社工站 覆盖分析" in words and "coverage report" not in words
    assert f"报告日期 {clock.today().isoformat()}" in " ".join(words.split())
    assert f"数据时点 {api['query']['as_of']}" in " ".join(words.split())
    assert "数据来源" in words and "合成数据（示意，非真实）" in words
    assert "图例" in words and "未覆盖的村（居）" in words and "乡镇人口覆盖率 0%–50%" in words
    assert f"{api['share_covered']:.1%}" in words
    # Chinese only: no English labels left in what a reader sees (names of places are Chinese anyway).
    leftovers = set(re.findall(r"\b(?:covered|uncovered|villages|facilities|served|capacity|share|source|"
                                r"population|suggested|sites|True|False|open)\b", words))
    assert leftovers == set(), leftovers
    assert not EXTERNAL.search(page)
    assert not re.search(r"jsdelivr|cdnjs|unpkg|googleapis|bootstrapcdn", page)


def test_suggestion_report_gives_the_share_before_and_after(client: TestClient, login: Callable[..., Any]) -> None:
    planner = login("planner")
    body = {"facility_kind": KIND, "radius_m": 3000, "k": 2}
    api = client.post("/api/v1/coverage/suggest", json=body, headers=planner).json()
    assert api["share_after"] > api["share_before"]  # the check below means something
    page = client.post("/api/v1/coverage/suggest", params={"format": "html"}, json=body, headers=planner).text
    before = re.search(r"<b id=share-before>([^<]+)</b>", page)
    after = re.search(r"<b id=share-after>([^<]+)</b>", page)
    assert before and after
    assert before.group(1) == f"{api['share_before']:.1%}" and after.group(1) == f"{api['share_after']:.1%}"
    words = _visible_text(page)
    assert "建设 2 处建议新址后" in words and "★1 建议新址及其排序" in " ".join(words.split())
    for s in api["sites"]:
        assert f"+{s['added_population']:,}" in words


def test_boundary_report_in_words_with_dates_sources_and_legend(client: TestClient,
                                                                demo_boundaries: dict[str, Any]) -> None:
    rep = client.get("/api/v1/boundaries/report", params={"format": "json", "as_of": "2026-06-01"}).json()
    page = client.get("/api/v1/boundaries/report", params={"as_of": "2026-06-01"}).text
    words = " ".join(_visible_text(page).split())
    assert words.startswith("平安边界报告")
    assert f"报告日期 {clock.today().isoformat()}" in words and "数据时点 2026-06-01" in words
    assert "涉及肥东县（340122）的县级界线" in words and "level=" not in words and "code=" not in words
    assert "图例" in words and "联检已逾期" in words and "平安边界：联检未逾期" in words
    assert "数据来源" in words
    # Each line's source: the demo's markers are synthetic, the county outlines real.
    assert page.count("界桩：合成（示意）") == rep["totals"]["lines"]
    assert page.count("线位：真实") == sum(1 for x in rep["lines"] if x["line_source"] == "real") > 0
    assert page.count(">已逾期（") == rep["totals"]["overdue"] == 4
    leftovers = set(re.findall(r"\b(?:open|overdue|due|ok|True|False|never|lines|intact|damaged)\b", words))
    assert leftovers == set(), leftovers
    assert not EXTERNAL.search(page) and "<script" not in page

    # The CSV says the same in words; the keys row stays for programs.
    got = client.get("/api/v1/boundaries/report", params={"format": "csv", "as_of": "2026-06-01"})
    rows = list(csv.reader(io.StringIO(got.text.lstrip("\ufeff"))))
    assert rows[0][8] == "联检状态" and rows[1][8] == "inspection"
    assert {r[8] for r in rows[2:-1]} <= {"已逾期", "即将到期", "正常"} and {r[19] for r in rows[2:-1]} <= {"是", "否"}
    assert rows[-1][0] == "合计" and rows[-1][8] == "已逾期 4，即将到期 0，正常 5"
    assert not any(c in ("True", "False", "overdue", "ok") for r in rows[2:] for c in r)

    # English on request, in English throughout.
    en = " ".join(_visible_text(client.get("/api/v1/boundaries/report",
                                           params={"as_of": "2026-06-01", "lang": "en"}).text).split())
    assert en.startswith("Safe-boundary report") and "Data as of 2026-06-01" in en and "Legend" in en
    names = {x[k] for x in rep["lines"] for k in ("name", "left_name", "right_name") if x[k]}
    for name in sorted(names | set(rep["scope_names"].values()), key=len, reverse=True):
        en = en.replace(name, "")  # stored names stay as they are
    assert not re.search(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", en), en
    en_csv = client.get("/api/v1/boundaries/report", params={"format": "csv", "as_of": "2026-06-01", "lang": "en"})
    assert "overdue 4, due soon 0, ok 5" in en_csv.text
    assert client.get("/api/v1/boundaries/report", params={"lang": "fr"}).status_code == 422
