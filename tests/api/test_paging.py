"""Paging never skips or repeats a feature (issue 11), and single OGC features carry their links.

The property test draws random requests — bbox (none, tiny … larger than the data), limit 1–50, sort keys
(none, or one or two sortable properties, ascending or descending), ``datetime`` (today, a date, intervals with
open ends) — for EVERY OGC collection and the paged /api/v1 lists, follows the ``next`` links to the end and
asserts that the concatenated pages are exactly the filtered set, in order, once each. The expected set comes
from SQL written independently of ``gis_api.ogc.query`` (``DISTINCT ON`` for the one-version-per-id rule),
over demo data with extra versions added inside the test's transaction, so intervals really do hold several
versions of one id.

Each OGC collection is checked twice: on the test's session (which sees the extra versions) and on the server's
read path (asyncpg pool, prepared statements) over the committed demo data. The issue's own examples are plain
tests on both paths.

Runtime is bounded: a fixed number of examples per collection and list (``DIMING_PAGING_EXAMPLES``, default 20;
half as many on the server's read path), drawn with a fixed seed (``DIMING_PAGING_SEED``: CI runs the same cases;
change it to explore others), and at most ``MAX_PAGES`` pages per request (the drawn limit is raised when the
result would need more). Bbox centres are often put on a feature, so that several polygons contain the centre
(the distance ties that broke KNN paging), small pages are drawn often, and the tables are ANALYZEd so the
planner picks the plans it picks in production.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.audit import service as audit
from gis_api.ogc.collections import Collection, Property, all_collections
from gis_api.ogc.reader import SessionReader
from tests.today import AS_OF

EXAMPLES = int(os.environ.get("DIMING_PAGING_EXAMPLES", "20"))
MAX_PAGES = 25
STATS: Counter[str] = Counter()  # requests and pages, printed at the end of the module (pytest -s)
NEW_VERSION_ON = dt.date(2025, 3, 1)  # the extra versions of the test start here

# datetime values: today, instants, closed and open intervals around the demo's vintages and the new versions
DATETIMES = (None, "2022-06-01", "2025-06-01", "2021-01-01/2023-12-31", "2024-01-01/2025-12-31",
             "../2022-01-01", "2024-06-01/..", "../..", "2025-03-01/2025-03-01")

SEED = int(os.environ.get("DIMING_PAGING_SEED", "20261206"))
HYPOTHESIS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if STATS:
        print("\npaging test:", ", ".join(f"{k} {v}" for k, v in sorted(STATS.items())))


@pytest.fixture
def ogc(app_factory: Callable[..., TestClient], session: Session) -> TestClient:
    client = app_factory()
    client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
    return client


def _columns(session: Session, table: str) -> list[str]:
    return list(session.scalars(text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = :t "
        "AND is_generated = 'NEVER' AND column_name <> 'id' AND coalesce(column_default, '') NOT LIKE 'nextval(%' "
        "ORDER BY ordinal_position"), {"t": table}))


def add_versions(session: Session, table: str, id_col: str, share: float = 0.3) -> int:
    """Give ``share`` of the rows in force a second version from NEW_VERSION_ON, moved ~1 km and renamed,
    so that an interval holds two versions of one id (written in the test's transaction, rolled back)."""
    cols = _columns(session, table)
    if not {"valid_from", "valid_to", "geom", id_col} <= set(cols):
        return 0
    audit.set_context(session, "test", "paging test: extra versions")
    ids = list(session.scalars(text(
        f"SELECT {id_col} FROM {table} WHERE valid_to IS NULL AND valid_from < :on "
        f"AND abs(hashtext({id_col}::text)) % 100 < :pct"), {"on": NEW_VERSION_ON, "pct": int(share * 100)}))
    if not ids:
        return 0
    session.execute(text(f"UPDATE {table} SET valid_to = :on WHERE {id_col} = ANY(:ids) AND valid_to IS NULL"),
                    {"on": NEW_VERSION_ON, "ids": ids})
    values = {c: c for c in cols}
    values.update(valid_from=":on", valid_to="NULL", geom="ST_Translate(geom, 0.01, 0.007)")
    if "name" in values:
        values["name"] = "name || '新'"
    if "version" in values:
        values["version"] = "1"
    session.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(values[c] for c in cols)} "
                         f"FROM {table} WHERE {id_col} = ANY(:ids) AND valid_to = :on"),
                    {"on": NEW_VERSION_ON, "ids": ids})
    return len(ids)


# -- the expected result, in SQL independent of gis_api.ogc.query ------------------------------------------


@dataclass(frozen=True)
class Req:
    bbox: tuple[float, float, float, float] | None
    limit: int
    sortby: tuple[tuple[str, bool], ...]  # (property, descending)
    datetime: str | None

    def query(self, limit: int) -> str:
        parts = [f"limit={limit}"]
        if self.bbox:
            parts.append("bbox=" + ",".join(f"{v:.6f}" for v in self.bbox))
        if self.sortby:
            parts.append("sortby=" + ",".join(("-" if d else "") + n for n, d in self.sortby))
        if self.datetime:
            parts.append(f"datetime={self.datetime}")
        return "&".join(parts)


def _time_conditions(c: Collection, raw: str | None, params: dict[str, Any]) -> list[str]:
    if not c.valid_from:
        return []
    vf, vt = f"t.{c.valid_from}", f"t.{c.valid_to}"
    if raw is None or "/" not in raw:
        params["d"] = dt.date.fromisoformat(raw) if raw else clock.today()
        return [f"{vf} <= :d", f"({vt} IS NULL OR {vt} > :d)"]
    a, _, b = raw.partition("/")
    out = []
    if b not in ("", ".."):
        params["e"] = dt.date.fromisoformat(b)
        out.append(f"{vf} <= :e")
    if a not in ("", ".."):
        params["s"] = dt.date.fromisoformat(a)
        out.append(f"({vt} IS NULL OR {vt} > :s)")
    return out


def expected(session: Session, c: Collection, req: Req) -> list[tuple[str, str | None]]:
    """(id, valid_from) of every feature the request selects, in the response's order: per id the latest
    version selected by ``datetime`` (the one in force at the interval's end), then bbox, then sort keys."""
    params: dict[str, Any] = {}
    conds = ([c.where] if c.where else []) + _time_conditions(c, req.datetime, params)
    vf = f"t.{c.valid_from}" if c.valid_from else "NULL::date"
    versions = (f"SELECT DISTINCT ON ({c.id_sql}) t.* FROM {c.table} t WHERE {' AND '.join(conds) or 'TRUE'} "
                f"ORDER BY {c.id_sql}, {vf} DESC")
    outer = "TRUE"
    if req.bbox:
        params.update(zip(("x1", "y1", "x2", "y2"), req.bbox, strict=True))
        outer = f"ST_Intersects({c.geom_sql}, ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490))"
    keys = [f"{cast(Property, c.prop(n)).sql} {'DESC' if d else 'ASC'}" for n, d in req.sortby] + [f"{c.id_sql} ASC"]
    rows = session.execute(text(f"SELECT {c.id_sql}::text, {vf}::text FROM ({versions}) t WHERE {outer} "
                                f"ORDER BY {', '.join(keys)}"), params).all()
    return [(str(r[0]), r[1]) for r in rows]


def page_through(client: TestClient, url: str, list_key: str = "features", max_pages: int = MAX_PAGES
                 ) -> tuple[list[Any], list[int]]:
    """Every item of every page, following ``next`` links; and numberMatched as each page told it."""
    items: list[Any] = []
    matched: list[int] = []
    pages = 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text)
        page = r.json()
        pages += 1
        assert pages <= max_pages + 1, f"{url}: more pages than the result needs"
        assert page["numberReturned"] == len(page[list_key]), url
        if "numberMatched" in page:
            matched.append(page["numberMatched"])
        items += page[list_key]
        nxt = [ln["href"] for ln in page.get("links", []) if ln["rel"] == "next"] or (
            [page["next"]] if page.get("next") else [])
        url = nxt[0] if nxt else ""
    STATS["pages"] += pages
    STATS["requests paged"] += 1
    return items, matched


def _bounded(n: int, limit: int) -> int:
    return max(limit, math.ceil(n / MAX_PAGES))


# -- OGC collections ---------------------------------------------------------------------------------------

VERSIONED = {"places": "place_id", "facilities": "facility_id", "boundary_line_versions": "line_id",
             "cemetery_parcels": "parcel_id"}  # divisions already hold a renamed township (340122401)


def _extent(session: Session, c: Collection) -> tuple[float, float, float, float]:
    row = session.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                               f"(SELECT ST_Extent({c.geom_sql})::geometry e FROM {c.table} t "
                               f"WHERE {c.where or 'TRUE'}) x")).one()
    if row[0] is None:
        return (117.2, 31.6, 117.7, 32.2)
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


@st.composite
def _requests(draw: st.DrawFn, c: Collection, extent: tuple[float, float, float, float],
              anchors: list[tuple[float, float]]) -> Req:
    x0, y0, x1, y1 = extent
    w, h = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
    bbox = None
    if draw(st.integers(0, 4)):  # mostly with a bbox: the case that broke
        if bool(anchors) and draw(st.booleans()):  # centred on a feature: ties in distance (polygons around it)
            cx, cy = draw(st.sampled_from(anchors))
        else:
            cx, cy = x0 + w * draw(st.floats(-0.1, 1.1)), y0 + h * draw(st.floats(-0.1, 1.1))
        fx = 10 ** draw(st.floats(-2.5, 0.3))
        fy = fx * draw(st.floats(0.5, 2.0))
        bbox = (cx - w * fx / 2, cy - h * fy / 2, cx + w * fx / 2, cy + h * fy / 2)
    sortable = [p.name for p in c.queryables()]
    sortby = tuple(draw(st.lists(st.tuples(st.sampled_from(sortable), st.booleans()), max_size=2,
                                 unique_by=lambda s: s[0]))) if bool(sortable) and draw(st.booleans()) else ()
    limit = draw(st.integers(1, 50) | st.integers(1, 4))  # small pages often: a page boundary inside ties
    return Req(bbox=bbox, limit=limit, sortby=sortby,
                    datetime=draw(st.sampled_from(DATETIMES)))


def _collection_ids() -> list[str]:
    return [c.id for c in all_collections()]


def _collection(session: Session, cid: str) -> Collection:
    c = next(x for x in all_collections() if x.id == cid)
    if session.scalar(text("SELECT to_regclass(:t)"), {"t": c.table}) is None:
        pytest.skip(f"table {c.table} does not exist")
    return c


def _check_collection(client: TestClient, session: Session, c: Collection, examples: int, label: str) -> None:
    extent = _extent(session, c)
    anchors = [(float(x), float(y)) for x, y in session.execute(text(
        f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface({c.geom_sql}) p FROM {c.table} t "
        f"WHERE {c.where or 'TRUE'} ORDER BY {c.id_sql} LIMIT 300) x"))]

    @seed(SEED)
    @settings(HYPOTHESIS, max_examples=examples)
    @given(req=_requests(c, extent, anchors))
    def check(req: Req) -> None:
        want = expected(session, c, req)
        limit = _bounded(len(want), req.limit)
        url = f"/ogc/collections/{c.id}/items?{req.query(limit)}"
        feats, matched = page_through(client, url)
        got_ids = [str(f["id"]) for f in feats]
        dupes = [i for i, n in Counter(got_ids).items() if n > 1]
        missing = {i for i, _ in want} - set(got_ids)
        assert not dupes and not missing, f"{url}: repeated {dupes}, skipped {sorted(missing)}"
        assert got_ids == [i for i, _ in want], f"{url}: not in the expected order"
        if c.valid_from and c.prop("valid_from"):  # the version chosen per id
            assert [f["properties"]["valid_from"] for f in feats] == [v for _, v in want], url
        assert all(m == len(want) for m in matched), (url, matched, len(want))
        STATS[f"ogc {label} {'with bbox' if req.bbox else 'no bbox'}"] += 1
        STATS["features"] += len(feats)

    check()
    STATS[f"ogc collections ({label})"] += 1


@pytest.mark.parametrize("cid", _collection_ids())
def test_ogc_pages_are_exactly_the_filtered_set(cid: str, ogc: TestClient, session: Session) -> None:
    """On the test's session: the extra versions written in its transaction are seen."""
    c = _collection(session, cid)
    for table, id_col in VERSIONED.items():
        if table == c.table:
            add_versions(session, table, id_col)
    session.execute(text(f"ANALYZE {c.table}"))  # real statistics: the plans (and the old bug) of production
    _check_collection(ogc, session, c, EXAMPLES, "session")


@pytest.fixture(scope="module")
def analyzed(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


@pytest.mark.parametrize("cid", _collection_ids())
def test_ogc_pages_on_the_server_read_path(cid: str, client: TestClient, session: Session, analyzed: None
                                           ) -> None:
    """The server's reader (asyncpg pool, prepared statements, custom plans) over the committed demo data."""
    c = _collection(session, cid)
    with client:  # one event loop, so one pool for all the requests
        _check_collection(client, session, c, max(5, EXAMPLES // 2), "pool")


# -- /api/v1 lists -----------------------------------------------------------------------------------------

BBOXES = (None, (117.44, 31.86, 117.47, 31.89), (117.39224, 31.61701, 117.54224, 31.76701), (117.2, 31.7, 117.6, 32.1))
V1_LISTS: dict[str, dict[str, tuple[Any, ...]]] = {
    "/api/v1/places": {"bbox": BBOXES, "within": (None, "340122100", "340122"), "status": (None, "standard"),
                       "category": (None, "2", "25")},
    "/api/v1/divisions": {"bbox": BBOXES, "level": (None, "township", "village"), "parent": (None, "340122")},
    "/api/v1/divisions/340122/children": {},
    "/api/v1/divisions/340122100/children": {},
    "/api/v1/boundaries": {"level": (None, "county", "township"), "outer": (None, "true", "false")},
    "/api/v1/boundary-markers": {"status": (None, "intact")},
    "/api/v1/facilities": {"bbox": BBOXES, "within": (None, "340122100")},
    "/api/v1/proposals": {"stage": (None, "applied")},
}


def _v1_query(params: dict[str, Any]) -> str:
    out = []
    for k, v in params.items():
        if v is None:
            continue
        out.append(f"{k}=" + (",".join(str(x) for x in v) if isinstance(v, tuple) else str(v)))
    return "&".join(out)


def _key(item: dict[str, Any]) -> str:
    return str(item.get("id"))


@pytest.fixture
def proposals(client: TestClient, login: Callable[..., dict[str, str]]) -> int:
    """A few naming proposals, so their list has pages."""
    officer = login("officer")
    for i, name in enumerate(("青枫路", "银杏路", "翠竹路", "梧桐路", "海棠路", "紫薇路", "丁香路")):
        body = {"kind": "naming", "name": name, "category_code": "251",
                "geometry": {"type": "LineString",
                             "coordinates": [[117.4571 + i * 0.003, 31.8774], [117.4611 + i * 0.003, 31.8774]]},
                "reasons": "新建道路需要命名", "applicant": "店埠镇人民政府", "applied_on": "2025-01-02",
                "comment_start": "2025-01-03"}
        r = client.post("/api/v1/proposals", json=body, headers=officer)
        assert r.status_code == 201, r.text
    return 7


@pytest.mark.parametrize("path", list(V1_LISTS))
def test_v1_lists_page_without_skips_or_repeats(path: str, client: TestClient, session: Session,
                                                request: pytest.FixtureRequest) -> None:
    if path == "/api/v1/proposals":
        request.getfixturevalue("proposals")
    add_versions(session, "places", "place_id")
    add_versions(session, "facilities", "facility_id")
    session.execute(text("ANALYZE"))
    choices = V1_LISTS[path]
    list_key = "items" if path == "/api/v1/proposals" else "features"

    @seed(SEED)
    @HYPOTHESIS
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        params = {k: data.draw(st.sampled_from(v), label=k) for k, v in choices.items()}
        params["as_of"] = data.draw(st.sampled_from((None, "2022-06-01", "2025-06-01")), label="as_of")
        q = _v1_query(params)
        sep = "&" if q else ""
        full = client.get(f"{path}?{q}{sep}limit=10000")
        assert full.status_code == 200, full.text
        want = [_key(x) for x in full.json()[list_key]]
        assert len(want) == len(set(want)), f"{path}?{q}: one page repeats ids"
        assert full.json()["numberMatched"] == len(want)
        limit = _bounded(len(want), data.draw(st.integers(1, 50), label="limit"))
        items, matched = page_through(client, f"{path}?{q}{sep}limit={limit}", list_key)
        got = [_key(x) for x in items]
        assert got == want, f"{path}?{q}&limit={limit}: pages differ from one big page"
        assert all(m == len(want) for m in matched)
        STATS["v1 combinations"] += 1

    check()
    STATS["v1 lists"] += 1


def test_v1_lists_match_sql(client: TestClient, session: Session) -> None:
    """The one big page used above as the reference is itself the filtered set (SQL counts)."""
    for path, sql in (
        ("/api/v1/places", f"SELECT count(*) FROM places WHERE {AS_OF}"),
        ("/api/v1/divisions?level=village", f"SELECT count(*) FROM divisions WHERE level = 'village' AND {AS_OF}"),
        ("/api/v1/boundaries", f"SELECT count(*) FROM boundary_line_versions WHERE {AS_OF}"),
        ("/api/v1/boundary-markers", f"SELECT count(*) FROM boundary_markers WHERE {AS_OF}"),
        ("/api/v1/facilities", f"SELECT count(*) FROM facilities WHERE {AS_OF}"),
    ):
        body = client.get(f"{path}{'&' if '?' in path else '?'}limit=10000").json()
        n = session.scalar(text(sql))
        assert body["numberMatched"] == len(body["features"]) == n, path
        assert len({str(f["id"]) for f in body["features"]}) == n, path


# -- the cases of the issue, as plain examples ---------------------------------------------------------------


@pytest.mark.parametrize("reader", ["session", "pool"])
@pytest.mark.parametrize(("cid", "bbox", "limit"), [
    ("boundary-lines", "117.39224,31.61701,117.54224,31.76701", 4),
    ("places", "117.44,31.86,117.47,31.89", 1),
])
def test_issue_examples(cid: str, bbox: str, limit: int, reader: str, app_factory: Callable[..., TestClient],
                        session: Session, analyzed: None) -> None:
    c = next(x for x in all_collections() if x.id == cid)
    box = tuple(float(v) for v in bbox.split(","))
    want = expected(session, c, Req((box[0], box[1], box[2], box[3]), limit, (), None))
    with app_factory() as client:
        if reader == "session":
            client.app.state.ogc_reader = SessionReader(session)  # type: ignore[attr-defined]
        feats, _ = page_through(client, f"/ogc/collections/{cid}/items?bbox={bbox}&limit={limit}", max_pages=100)
    assert [str(f["id"]) for f in feats] == [i for i, _ in want]
    if cid == "places":
        names = [f["properties"]["name"] for f in feats]
        assert names.count("肥东县") == 1 and "店埠镇" in names


# -- datetime intervals: one feature per id -----------------------------------------------------------------


def test_interval_gives_one_feature_per_id_the_version_at_its_end(ogc: TestClient) -> None:
    url = "/ogc/collections/townships/items?datetime=2021-01-01/2023-12-31&limit=100"
    feats, matched = page_through(ogc, url)
    ids = [f["id"] for f in feats]
    assert ids.count("340122401") == 1 and len(ids) == len(set(ids)) == matched[0]
    f = next(f for f in feats if f["id"] == "340122401")
    assert f["properties"]["name"] == "肥东经济开发区管理委员会"  # the 2023 version, in force at the end
    old = page_through(ogc, "/ogc/collections/townships/items?datetime=2021-01-01/2022-12-31&limit=100")[0]
    assert next(f for f in old if f["id"] == "340122401")["properties"]["name"] == "肥东新城开发区"
    one = ogc.get("/ogc/collections/townships/items/340122401?datetime=2021-01-01/2023-12-31").json()
    assert one["properties"]["name"] == "肥东经济开发区管理委员会"  # the item agrees with the list
    history = next(ln for ln in one["links"] if ln["rel"] == "version-history")
    versions = ogc.get(history["href"])
    assert versions.status_code == 200 and "肥东新城开发区" in versions.text  # the other version, in history


# -- links of a single feature (/req/core/f-links) -----------------------------------------------------------


def test_single_features_carry_self_collection_and_alternate_links(ogc: TestClient) -> None:
    seen = 0
    for c in all_collections():
        page = ogc.get(f"/ogc/collections/{c.id}/items?limit=1")
        if page.status_code != 200 or not page.json()["features"]:
            continue
        fid = page.json()["features"][0]["id"]
        r = ogc.get(f"/ogc/collections/{c.id}/items/{fid}")
        assert r.status_code == 200, r.text
        links = {ln["rel"]: ln for ln in r.json()["links"]}
        assert links["self"]["href"].endswith(f"/ogc/collections/{c.id}/items/{fid}")
        assert links["self"]["type"] == "application/geo+json"
        assert links["collection"]["href"].endswith(f"/ogc/collections/{c.id}")
        assert links["collection"]["type"] == "application/json"
        for rel in ("self", "collection", "alternate", "version-history"):
            if rel in links:  # every link resolves
                href = links[rel]["href"]
                assert ogc.get(href).status_code == 200, (rel, href)
        assert "alternate" in links, c.id
        seen += 1
    assert seen >= 8


def test_a_written_feature_answers_with_its_links(ogc: TestClient, login: Callable[..., dict[str, str]]) -> None:
    officer = login("officer")
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.4712, 31.8823]},
            "properties": {"name": "青松岗", "category_code": "122", "reason": "链接测试"}}
    r = ogc.post("/ogc/collections/places/items", json=body, headers=officer)
    assert r.status_code == 201, r.text
    links = {ln["rel"]: ln["href"] for ln in r.json()["links"]}
    assert links["self"] == r.headers["location"]
    assert links["alternate"].endswith(f"/api/v1/places/{r.json()['id']}")
    assert ogc.get(links["alternate"]).json()["properties"]["name"] == "青松岗"
