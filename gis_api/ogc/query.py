"""The SQL of the OGC reads: a page of features, one feature, a vector tile — each one statement that
PostGIS answers with the finished GeoJSON (``json_agg``) or MVT (``ST_AsMVT``) bytes.

``numberMatched`` costs nothing on the last page (offset + returned); otherwise it is an exact count when
that is cheap — the count is capped at ``exact_max`` + 1 rows — and the planner's estimate (``EXPLAIN``,
with PostGIS's own selectivity for a bbox) when the cap overflows. The capped count runs inside the page's
statement and only when the page alone cannot tell (an uncorrelated sub-select runs lazily, when its CASE
branch is taken); the estimate is a second, planning-only statement whose answer the caller caches for a
minute, so repeated requests over a large result are one round trip that skips the count.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from gis_api.ogc import crs as crs_mod
from gis_api.ogc.collections import Collection, Property
from gis_api.ogc.filters import SQL_TYPE, Translator
from gis_api.ogc.sql import Params


@dataclass(frozen=True)
class TimeFilter:
    """Valid time: one date (as of), or an interval whose open ends are None."""

    as_of: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass
class ItemsQuery:
    collection: Collection
    limit: int
    offset: int
    crs: crs_mod.OutputCrs
    props: list[Property]
    time: TimeFilter
    bbox: tuple[float, float, float, float] | None = None
    bbox_wkt: str | None = None
    filter: Any = None
    filter_crs: crs_mod.OutputCrs = field(default_factory=lambda: crs_mod.resolve(None))
    equals: list[tuple[Property, Any]] = field(default_factory=list)
    sortby: list[tuple[Property, bool]] = field(default_factory=list)  # (property, descending)
    spatial_leads: bool = False  # a small bbox: let the spatial index lead (then a top-N sort by id)


def feature_sql(c: Collection, props: list[Property], out: crs_mod.OutputCrs) -> tuple[str, str]:
    """(SQL of a GeoJSON Feature as text, the LATERAL join that names its properties).

    Built as text — ``row_to_json`` of a named sub-row for the properties, ``ST_AsGeoJSON`` spliced in —
    which PostgreSQL does about twice as fast as nested ``json_build_object`` and without re-parsing the
    geometry JSON; the output is compact and keeps non-ASCII text as it is.
    """
    geom = out.geometry_sql(c.output_geom_sql)
    if props:
        cols = ", ".join(f'{p.sql} AS "{p.name}"' for p in props)
        lateral, props_text = f" CROSS JOIN LATERAL (SELECT {cols}) r", "row_to_json(r)::text"
    else:
        lateral, props_text = "", "'{}'"
    text = (f"('{{\"type\":\"Feature\",\"id\":' || to_json({c.id_sql})::text || ',\"geometry\":' || "
            f"coalesce(ST_AsGeoJSON({geom}, {out.decimals}, 0), 'null') || ',\"properties\":' || {props_text} "
            f"|| '}}')")
    return text, lateral


def time_sql(c: Collection, tf: TimeFilter, params: Params) -> list[str]:
    """Valid-time conditions over alias ``t``. An instant selects the version in force on that date; an
    interval selects, per feature id, ONE version: the one in force at the interval's end (or, when the
    feature ended inside the interval, its last version in it) — so a response never holds an id twice and
    paging stays one row per id. The other versions are in the feature's history (``version-history`` link).
    """
    if not c.valid_from:
        return []
    vf, vt = f"t.{c.valid_from}", f"t.{c.valid_to}" if c.valid_to else None
    out: list[str] = []
    if tf.as_of is not None:
        p = params.bind(tf.as_of, "date")
        out.append(f"{vf} <= {p}")
        if vt:
            out.append(f"({vt} IS NULL OR {vt} > {p})")
        return out
    end = params.bind(tf.end, "date") if tf.end is not None else None
    if end is not None:
        out.append(f"{vf} <= {end}")
    if tf.start is not None and vt:
        out.append(f"({vt} IS NULL OR {vt} > {params.bind(tf.start, 'date')})")
    # no later version of the same feature (in the same slice) starts inside the interval
    later = [f"{_other(c.id_sql)} = {c.id_sql}", f"t2.{c.valid_from} > {vf}"]
    if end is not None:
        later.append(f"t2.{c.valid_from} <= {end}")
    if c.where:
        later.append(_other(c.where))
    out.append(f"NOT EXISTS (SELECT 1 FROM {c.table} t2 WHERE {' AND '.join(later)})")
    return out


def _other(sql: str) -> str:
    """The same fixed SQL over alias ``t2`` instead of ``t``."""
    return _ALIAS_T.sub("t2.", sql)


_ALIAS_T = re.compile(r"\bt\.(?=[a-z_])")


def _envelope(q: ItemsQuery, params: Params) -> str | None:
    if q.bbox is None:
        return None
    if q.bbox_wkt is not None:
        return f"ST_GeomFromText({params.bind(q.bbox_wkt, 'text')}, 4490)"
    vals = [params.bind(float(v), "float8") for v in q.bbox]
    return f"ST_MakeEnvelope({', '.join(vals)}, 4490)"


def conditions(q: ItemsQuery, params: Params) -> tuple[list[str], str | None, bool]:
    """(WHERE conditions, bbox envelope SQL, whether a spatial filter is present)."""
    c = q.collection
    conds = [c.where] if c.where else []
    conds += time_sql(c, q.time, params)
    env = _envelope(q, params)
    spatial = env is not None
    if env is not None:
        conds.append(f"ST_Intersects({c.geom_sql}, {env})")
    for prop, value in q.equals:
        conds.append(f"{prop.sql} = {params.bind(value, SQL_TYPE[prop.type])}")
    if q.filter is not None:
        tr = Translator(c, params, q.filter_crs)
        conds.append(tr.where(q.filter))
        spatial = spatial or tr.spatial
    return conds, env, spatial


def point_split(q: ItemsQuery) -> bool:
    """Whether a bbox's matches come from the collection's point index (``Collection.point_column``): a plain
    lon/lat bbox with an area, no filter, property condition or fixed slice (their columns are not in the index).
    A bbox without an area is left to ``ST_Intersects``, which finds no point in an envelope that is a point."""
    c = q.collection
    return (c.point_column is not None and q.bbox is not None and q.bbox_wkt is None and q.filter is None
            and not q.equals and not c.where and c.id_type == "integer"
            and q.bbox[0] < q.bbox[2] and q.bbox[1] < q.bbox[3])


def split_matches_sql(c: Collection, time: list[str], box: tuple[str, ...]) -> str:
    """The bbox's matches in force on the requested time as (row id ``rid``, feature id ``k``), from indexes
    alone: the points from the GiST index of the point column (an index-only scan: no heap page per match),
    the other geometries from the partial GiST index on the geometry WHERE the point column IS NULL.
    ``time``: the valid-time conditions (``time_sql``); ``box``: the bound x0, y0, x1, y1.

    The same rows as ``ST_Intersects(geom, envelope)``: a point intersects an envelope with an area exactly
    when x0 <= x <= x1 and y0 <= y <= y1 (the boundary included), which ``point <@ box`` tests on the same
    float8 values; a NULL point column (line, area, no geometry, empty point) falls to the exact test."""
    assert c.point_column is not None
    x0, y0, x1, y1 = box
    pc = f"t.{c.point_column}"
    points = [*time, f"{pc} <@ box(point({x0}, {y0}), point({x1}, {y1}))"]
    others = [*time, f"{pc} IS NULL", f"ST_Intersects({c.geom_sql}, ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4490))"]
    cols = f"{c.row_id_sql} AS rid, {c.id_sql} AS k"
    return (f"SELECT {cols} FROM {c.table} t WHERE {' AND '.join(points)} UNION ALL "
            f"SELECT {cols} FROM {c.table} t WHERE {' AND '.join(others)}")


def _order(q: ItemsQuery, spatial_filter: bool = False) -> str:
    """One total order, the same on every page: the ``sortby`` keys, then the feature id — unique among the
    rows of one request (one version per id: ``time_sql``), so offset paging never skips or repeats a feature.

    Not nearest-to-the-bbox-centre (KNN) first: distance ties (every polygon containing the centre is at 0)
    and a plan that differs between pages made pages overlap (issue 11), and an order that moves with the bbox
    differs from other servers (tipg, pygeoapi order by id). A small bbox still lets the GiST index lead: the
    id key is wrapped (``id + 0``) so the planner does not walk the id index filtering by bbox; it takes the
    bbox's matches from the GiST index and keeps the page with a top-N sort (the capped count reads them anyway).
    Measured on 500,000 points, a bbox of ~8,000: 15–24 ms so, against 93–277 ms for the id walk when ids follow
    location (as an import grouped by township numbers them), 2 ms when they do not.
    """
    c = q.collection
    keys = [f"{p.sql} {'DESC' if desc else 'ASC'}" for p, desc in q.sortby]
    id_key = c.id_sql
    if (q.spatial_leads or spatial_filter) and not q.sortby and c.id_type == "integer":
        id_key = f"({c.id_sql} + 0)"  # a spatial filter leads; a top-N sort orders its hits
    keys.append(f"{id_key} ASC")
    return ", ".join(keys)


def items_sql(q: ItemsQuery, exact_max: int, count_exact: bool = True) -> tuple[str, Params, str, Params]:
    """(statement, its parameters, the WHERE clause and its parameters — for the estimate) of one page.

    Columns: rows read (page + 1), the features as UTF-8 bytes (``convert_to``: passed to the client without
    decoding), the capped count (or NULL), the collection's change tag (``change_tag_sql``: the ETag, read in
    the same snapshot as the page).

    ``count_exact``: count (capped at ``exact_max`` + 1) when the page alone cannot tell numberMatched;
    False when the caller already knows from the planner's estimate that the result is large. A whole collection
    on one date (``kept_count``) takes its exact count, whatever its size, from the counts kept with the data.

    A small bbox (``spatial_leads``, no sortby): the page is chosen on row addresses and ids only (a narrow
    top-N) and its rows are then fetched by address (a TID scan). With a count, the matches are read ONCE —
    addresses and ids, at most ``exact_max`` + 1 of them, into a materialised CTE that gives both the count and
    the page; counting and paging separately read every match's heap row twice (with points in random physical
    order: one heap page per match). When the cap overflows, the page comes from the narrow top-N instead (a
    CASE branch: the other one never runs).

    A plain bbox over a collection with a point column (``point_split``): the matches — for the count and the
    page's ids alike — come from indexes alone (``split_matches_sql``: no heap page per match, which in random
    physical order was one page per match), and the page's rows are then fetched by row id.
    """
    c = q.collection
    params = Params()
    split = point_split(q)
    src = ""
    if split:  # the conditions of ``conditions`` for a plain bbox, its placeholders shared with the index form
        assert q.bbox is not None
        time = time_sql(c, q.time, params)
        box = tuple(params.bind(float(v), "float8") for v in q.bbox)
        conds, spatial = [*time, f"ST_Intersects({c.geom_sql}, ST_MakeEnvelope({', '.join(box)}, 4490))"], True
        src = split_matches_sql(c, time, box)
    else:
        conds, _env, spatial = conditions(q, params)
    where = " AND ".join(conds) or "TRUE"
    where_params = Params()
    where_params.values = list(params.values)
    cols = ", ".join(f"t.{col}" for col in c.columns(q.props, tuple(p.sql for p, _ in q.sortby)))
    order = _order(q, spatial_filter=spatial and q.bbox is None)
    limit = params.bind(q.limit, "bigint")
    page_limit = params.bind(q.limit + 1, "bigint")
    offset = params.bind(q.offset, "bigint")
    feature, lateral = feature_sql(c, q.props, q.crs)
    page = f"SELECT {cols} FROM {c.table} t WHERE {where} ORDER BY {order} LIMIT {page_limit} OFFSET {offset}"
    count = "NULL::bigint"
    ctes = ""
    if split and q.spatial_leads and not q.sortby:
        # the matches from indexes alone (``split_matches_sql``); the page's rows then by row id
        ids = f"ARRAY(SELECT rid FROM ({src}) x ORDER BY k LIMIT {page_limit} OFFSET {offset})"
        if count_exact:
            cap = params.bind(exact_max + 1, "bigint")
            ctes = (f"WITH m AS MATERIALIZED (SELECT rid, k FROM ({src}) x LIMIT {cap}), "
                    "n AS (SELECT count(*) AS c FROM m) ")
            ids = (f"CASE WHEN (SELECT c FROM n) < {cap} THEN ARRAY(SELECT rid FROM m ORDER BY k "
                   f"LIMIT {page_limit} OFFSET {offset}) ELSE {ids} END")
            count = f"CASE WHEN count(*) > {limit} OR (count(*) = 0 AND {offset} > 0) THEN (SELECT c FROM n) END"
        page = f"SELECT {cols} FROM {c.table} t WHERE {c.row_id_sql} = ANY ({ids}) ORDER BY {c.id_sql}"
    elif q.spatial_leads and not q.sortby and c.id_type == "integer":
        # the page's row addresses from a narrow top-N (no wide rows through the sort), then those rows (plain
        # tables only: a ctid names a row of one table, not of a partitioned one)
        narrow = (f"SELECT t.ctid FROM {c.table} t WHERE {where} ORDER BY {order} LIMIT {page_limit} "
                  f"OFFSET {offset}")
        tids = f"ARRAY({narrow})"
        if count_exact:
            cap = params.bind(exact_max + 1, "bigint")
            ctes = (f"WITH m AS MATERIALIZED (SELECT t.ctid AS tid, {c.id_sql} AS k FROM {c.table} t WHERE {where} "
                    f"LIMIT {cap}), n AS (SELECT count(*) AS c FROM m) ")
            tids = (f"CASE WHEN (SELECT c FROM n) < {cap} THEN ARRAY(SELECT tid FROM m ORDER BY k "
                    f"LIMIT {page_limit} OFFSET {offset}) ELSE {tids} END")
            count = f"CASE WHEN count(*) > {limit} OR (count(*) = 0 AND {offset} > 0) THEN (SELECT c FROM n) END"
        page = f"SELECT {cols} FROM {c.table} t WHERE t.ctid = ANY ({tids}) ORDER BY {c.id_sql}"
    elif kept_count(q):
        assert q.time.as_of is not None
        count = (f"CASE WHEN count(*) > {limit} OR (count(*) = 0 AND {offset} > 0) THEN "
                 f"ogc_row_count('{c.table}', {params.bind(q.time.as_of, 'date')}) END")
    elif count_exact:
        cap = params.bind(exact_max + 1, "bigint")
        counted = f"SELECT 1 FROM ({src}) x" if split else f"SELECT 1 FROM {c.table} t WHERE {where}"
        count = (f"CASE WHEN count(*) > {limit} OR (count(*) = 0 AND {offset} > 0) THEN (SELECT count(*) FROM "
                 f"({counted} LIMIT {cap}) n) END")
    sql = f"""{ctes}
SELECT count(*) AS got,
       convert_to('[' || coalesce(string_agg({feature}, ',' ORDER BY t.rn) FILTER (WHERE t.rn <= {limit}), '')
                  || ']', 'UTF8') AS features,
       {count} AS exact, {change_tag_sql(c)} AS tag
FROM (SELECT s.*, row_number() OVER () AS rn FROM ({page}) s) t {c.join}{lateral}"""
    return sql, params, where, where_params


# Valid-time tables whose rows in force on a date are counted as they are written (migration 0015).
COUNTED_TABLES = frozenset({"boundary_line_versions", "boundary_markers", "cemetery_parcels", "facilities", "places"})


def kept_count(q: ItemsQuery) -> bool:
    """Whether numberMatched is the kept count (``ogc_row_count``: exact, without reading the table): a whole
    collection on one date — no bbox, filter or property condition, the table unsliced."""
    c = q.collection
    return (c.table in COUNTED_TABLES and not c.where and c.valid_from == "valid_from" and c.valid_to == "valid_to"
            and q.time.as_of is not None and q.bbox is None and q.filter is None and not q.equals)


def change_tag_sql(c: Collection) -> str:
    """The change counters of the collection's tables (migration 0014: every committed write bumps its table's),
    as text — the ETag of what the collection serves; in the same statement as the data, so the same snapshot.
    The table names are fixed text from the registry."""
    return "ogc_change_tag(ARRAY[" + ", ".join(f"'{t}'" for t in c.tables) + "])"


def explain_sql(c: Collection, where: str) -> str:
    return f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {c.table} t WHERE {where}"


def plan_rows(value: Any) -> int | None:
    try:
        plan = json.loads(value) if isinstance(value, str) else value
        return int(plan[0]["Plan"]["Plan Rows"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def item_sql(c: Collection, fid: str, props: list[Property], out: crs_mod.OutputCrs, tf: TimeFilter
             ) -> tuple[str, Params]:
    params = Params()
    key: Any = fid
    if c.id_type == "integer":
        key = int(fid)
    conds = [f"{c.id_sql} = {params.bind(key, 'bigint' if c.id_type == 'integer' else 'text')}"]
    if c.where:
        conds.append(c.where)
    conds += time_sql(c, tf, params)
    order = f"ORDER BY t.{c.valid_from} DESC " if c.valid_from else ""
    feature, lateral = feature_sql(c, props, out)
    sql = (f"SELECT {feature}, {c.row_id_sql}, {c.version_sql or 'NULL'}, {joined_tag_sql(c)} "
           f"FROM {c.table} t {c.join}{lateral} WHERE {' AND '.join(conds)} {order}LIMIT 1")
    return sql, params


def joined_tag_sql(c: Collection) -> str:
    """The change tag of the tables a feature's output join reads (a category's name), or NULL: part of one
    feature's ETag, which its row's version alone does not change when a joined row is renamed."""
    joined = c.tables[1:]
    if not joined:
        return "NULL::text"
    # the committed counters only (not a writing transaction's own-writes mark, which ``ogc_change_tag`` adds:
    # a write's response then carries the ETag a read after its commit gives)
    return ("(SELECT string_agg(n::text, '.' ORDER BY tbl) FROM ogc_change_counters WHERE tbl IN ("
            + ", ".join(f"'{t}'" for t in joined) + "))")


def extent_sql(c: Collection, tf: TimeFilter) -> tuple[str, Params]:
    """Spatial extent (lon/lat), count and valid-time range of what is in force (collection metadata)."""
    params = Params()
    conds = ([c.where] if c.where else []) + time_sql(c, tf, params)
    vt = f"max(t.{c.valid_from})" if c.valid_from else "NULL"
    vf = f"min(t.{c.valid_from})" if c.valid_from else "NULL"
    sql = (f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), n, vf, vt, {change_tag_sql(c)} FROM ("
           f"SELECT ST_Extent(t.{c.geom_column})::geometry AS e, count(*) AS n, {vf} AS vf, {vt} AS vt "
           f"FROM {c.table} t WHERE {' AND '.join(conds) or 'TRUE'}) x")
    return sql, params


# -- vector tiles ------------------------------------------------------------------------------------------

EXTENT = 4096
BUFFER = 64


GRID = 16  # thinned tiles: the tile is cut into GRID × GRID cells …


def tile_bounds(z: int, x: int, y: int, margin: float = 0.0) -> tuple[float, float, float, float]:
    """Lon/lat bounds of a WebMercatorQuad tile (``margin`` in tile widths)."""
    n = 1 << z

    def lon(col: float) -> float:
        return col / n * 360 - 180

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (lon(x - margin), max(-85.06, lat(y + 1 + margin)), lon(x + 1 + margin), min(85.06, lat(y - margin)))


def tile_per_cell(c: Collection, z: int, x: int, y: int, extent: tuple[float, float, float, float] | None,
                  count: int) -> int:
    """0 to draw every feature; else how many per grid cell to keep, because the tile would hold more than
    ``tile_max_features`` (uniform density over the collection's extent assumed). Only point-like layers with
    an integer id (the dedupe key) are thinned."""
    tile_id = c.tile_id_sql or (c.id_sql if c.id_type == "integer" else None)
    if extent is None or count <= c.tile_max_features or c.geometry_type not in ("Point", "Geometry") or not tile_id:
        return 0
    lon0, lat0, lon1, lat1 = tile_bounds(z, x, y)
    ex0, ey0, ex1, ey1 = extent
    ix = max(0.0, min(lon1, ex1) - max(lon0, ex0))
    iy = max(0.0, min(lat1, ey1) - max(lat0, ey0))
    expected = count * ix * iy / max((ex1 - ex0) * (ey1 - ey0), 1e-12)
    if expected <= c.tile_max_features:
        return 0
    return max(1, c.tile_max_features // (GRID * GRID))


def tile_sql(c: Collection, z: int, x: int, y: int, tf: TimeFilter, per_cell: int) -> tuple[str, Params]:
    """One MVT layer named after the collection. A dense point tile is thinned by a spatially stratified
    sample: at most ``per_cell`` features from each of GRID × GRID cells, each cell one GiST probe that
    stops early — so the cost does not grow with the number of points under the tile."""
    params = Params()
    zp, xp, yp = (params.bind(v, "integer") for v in (z, x, y))
    env3857 = f"ST_TileEnvelope({zp}, {xp}, {yp})"
    tile_id = c.tile_id_sql or (c.id_sql if c.id_type == "integer" else None)
    attrs = [p for p in c.properties if p.in_tiles and not p.joined]
    base = ([c.where] if c.where else []) + time_sql(c, tf, params)
    inner_cols = "t.geom AS geom" + (f", {tile_id} AS fid" if tile_id else "") + "".join(
        f', {p.sql} AS "{p.name}"' for p in attrs)
    out_cols = "".join(f', s."{p.name}"' for p in attrs) + (", s.fid" if tile_id else "")
    mvt_geom = f"ST_AsMVTGeom(ST_Transform(s.geom, 3857), {env3857}, {EXTENT}, {BUFFER}, true) AS geom"
    if per_cell and tile_id:
        x0, y0, x1, y1 = tile_bounds(z, x, y, BUFFER / EXTENT)
        bx0, by0 = params.bind(x0, "float8"), params.bind(y0, "float8")
        dx, dy = params.bind((x1 - x0) / GRID, "float8"), params.bind((y1 - y0) / GRID, "float8")
        cell = (f"ST_MakeEnvelope({bx0} + i * {dx}, {by0} + j * {dy}, {bx0} + (i + 1) * {dx}, "
                f"{by0} + (j + 1) * {dy}, 4490)")
        conds = [f"t.{c.geom_column} && {cell}", *base]
        source = (f"SELECT DISTINCT ON (s.fid) {mvt_geom}{out_cols} FROM generate_series(0, {GRID - 1}) i "
                  f"CROSS JOIN generate_series(0, {GRID - 1}) j "
                  f"CROSS JOIN LATERAL (SELECT {inner_cols} FROM {c.table} t WHERE {' AND '.join(conds)} "
                  f"LIMIT {params.bind(per_cell, 'bigint')}) s ORDER BY s.fid")
    else:
        env4490 = f"ST_Transform(ST_TileEnvelope({zp}, {xp}, {yp}, margin => {BUFFER / EXTENT}), 4490)"
        conds = [f"t.{c.geom_column} && {env4490}", *base]
        source = (f"SELECT {mvt_geom}{out_cols} FROM (SELECT {inner_cols} FROM {c.table} t "
                  f"WHERE {' AND '.join(conds)}) s")
    id_col = ", 'fid'" if tile_id else ""
    sql = f"SELECT ST_AsMVT(m, '{c.id}', {EXTENT}, 'geom'{id_col}) FROM ({source}) m WHERE m.geom IS NOT NULL"
    return sql, params
