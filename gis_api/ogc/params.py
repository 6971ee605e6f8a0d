"""OGC API query parameters: parsed and checked here (a clear 400 naming the parameter), turned into
``gis_api.ogc.query`` objects by ``items_query``."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from fastapi import Request

from gis_api import clock
from gis_api.ogc import crs as crs_mod
from gis_api.ogc import filters, query
from gis_api.ogc.access import ogc_settings
from gis_api.ogc.collections import Collection, Property
from gis_api.ogc.errors import BadRequest

ITEMS_PARAMS = frozenset({"limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "filter", "filter-lang",
                          "filter-crs", "sortby", "properties", "f"})
ITEM_PARAMS = frozenset({"crs", "datetime", "properties", "f"})


def _bad(param: str, message: str, message_zh: str) -> BadRequest:
    return BadRequest(f"{param}: {message}", f"参数 {param} 无效：{message_zh}", field=param)


INT64_MAX = 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")  # ASCII digits only: str.isdigit() and int() accept '²', '٣' …


def parse_int(raw: str | None, param: str, default: int, lo: int, hi: int = INT64_MAX) -> int:
    """An integer query parameter within [lo, hi] (PostgreSQL's bigint at most), else a 400 naming it."""
    if raw is None:
        return default
    raw = raw.strip()
    if not _INTEGER.fullmatch(raw):
        raise _bad(param, "must be an integer", "须为整数")
    value = int(raw)
    if value < lo:
        raise _bad(param, f"must be ≥ {lo}", f"须不小于 {lo}")
    if value > hi:
        raise _bad(param, f"must be ≤ {hi}", f"须不大于 {hi}")
    return value


def int_id(raw: str) -> int | None:
    """An integer feature id as PostgreSQL's bigint holds it, or None (no such feature)."""
    if not _INTEGER.fullmatch(raw):
        return None
    value = int(raw)
    return value if -INT64_MAX - 1 <= value <= INT64_MAX else None


def parse_date(raw: str, param: str = "datetime") -> dt.date:
    try:
        if len(raw) <= 10:
            return dt.date.fromisoformat(raw)
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        raise _bad(param, f"{raw!r} is not an RFC 3339 date or date-time", f"{raw!r} 不是有效的日期") from None


def parse_datetime(raw: str | None) -> query.TimeFilter:
    """``datetime`` on valid time: an instant is the as-of date; an interval (open ends ``..``) selects the
    features in force at some time inside it, each once, as the version in force at its end
    (``query.time_sql``). Default: today."""
    if raw is None or not raw.strip():
        return query.TimeFilter(as_of=clock.today())
    raw = raw.strip()
    if "/" not in raw:
        return query.TimeFilter(as_of=parse_date(raw))
    a, _, b = raw.partition("/")
    start = None if a in ("", "..") else parse_date(a)
    end = None if b in ("", "..") else parse_date(b)
    if start and end and start > end:
        raise _bad("datetime", "the interval ends before it starts", "时间区间的结束早于开始")
    return query.TimeFilter(start=start, end=end)


def parse_bbox(raw: str, bbox_crs: crs_mod.OutputCrs) -> tuple[tuple[float, float, float, float], str | None]:
    try:
        vals = tuple(float(v) for v in raw.split(","))
    except ValueError:
        raise _bad("bbox", "must be 4 or 6 comma-separated numbers", "须为4或6个逗号分隔的数") from None
    if len(vals) not in (4, 6) or not all(math.isfinite(v) for v in vals):
        raise _bad("bbox", "must be 4 or 6 comma-separated numbers", "须为4或6个逗号分隔的数")
    half = len(vals) // 2
    if any(vals[i] > vals[i + half] for i in range(half)):
        raise _bad("bbox", "each lower value must not exceed its upper value", "下界不能大于上界")
    box, wkt = crs_mod.bbox_to_storage(vals, bbox_crs)
    if not all(math.isfinite(v) for v in box):  # outside the projection's area of use
        raise _bad("bbox", f"lies outside the area of {bbox_crs.uri}", "超出该坐标系的适用范围")
    return box, wkt


def parse_props(c: Collection, raw: str | None) -> list[Property]:
    if raw is None:
        return list(c.properties)
    out = []
    for name in (n.strip() for n in raw.split(",")):
        if not name:
            continue
        p = c.prop(name)
        if p is None:
            raise _bad("properties", f"{name!r} is not a property of {c.id}", f"{name!r} 不是该数据集的属性")
        out.append(p)
    return out


def parse_sortby(c: Collection, raw: str | None) -> list[tuple[Property, bool]]:
    if not raw:
        return []
    out = []
    for item in (s.strip() for s in raw.split(",")):
        if not item:
            continue
        desc = item.startswith("-")
        name = item.lstrip("+-").strip()
        if ":" in name:  # name:A / name:D, as some clients write it
            name, _, d = name.partition(":")
            desc = d.upper().startswith("D")
        p = c.prop(name)
        if p is None or not p.queryable or p.joined:
            raise _bad("sortby", f"{name!r} is not a sortable property of {c.id}", f"{name!r} 不能用于排序")
        out.append((p, desc))
    return out


def _check_params(request: Request, allowed: frozenset[str], c: Collection | None = None) -> None:
    names = {p.name for p in c.queryables()} if c is not None else set()
    for key in request.query_params:
        if key not in allowed and key not in names:
            raise _bad(key, "unknown query parameter", "未知的查询参数")


def items_query(request: Request, c: Collection) -> query.ItemsQuery:
    qp = request.query_params
    _check_params(request, ITEMS_PARAMS, c)
    settings = ogc_settings(request)
    limit = min(parse_int(qp.get("limit"), "limit", settings.default_limit, 1),
                request.app.state.settings.server.max_limit)
    q = query.ItemsQuery(
        # the statement binds offset + limit + 1 as a bigint
        collection=c, limit=limit, offset=parse_int(qp.get("offset"), "offset", 0, 0, INT64_MAX - limit - 1),
        crs=crs_mod.resolve(qp.get("crs")), props=parse_props(c, qp.get("properties")),
        time=parse_datetime(qp.get("datetime")), sortby=parse_sortby(c, qp.get("sortby")),
    )
    if qp.get("bbox"):
        q.bbox, q.bbox_wkt = parse_bbox(qp["bbox"], crs_mod.resolve(qp.get("bbox-crs"), "bbox-crs"))
    elif qp.get("bbox-crs"):
        crs_mod.resolve(qp["bbox-crs"], "bbox-crs")
    if qp.get("filter"):
        q.filter_crs = crs_mod.resolve(qp.get("filter-crs"), "filter-crs")
        lang = qp.get("filter-lang")
        # GDAL's OAPIF driver names CQL2 text by its pre-standard name (openapi.py declares it)
        q.filter = filters.parse(qp["filter"], "cql2-text" if lang and lang.lower() == "cql-text" else lang)
    for p in c.queryables():
        if p.name in qp:
            q.equals.append((p, _typed(p, qp[p.name])))
    return q


def _typed(p: Property, raw: str) -> Any:
    try:
        if p.type == "integer":
            value = int_id(raw.strip())
            if value is None:
                raise ValueError
            return value
        if p.type == "number":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number
        if p.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if p.type == "date":
            return dt.date.fromisoformat(raw)
    except ValueError:
        raise _bad(p.name, f"{raw!r} is not a valid {p.type}", f"{raw!r} 不是有效的 {p.type} 值") from None
    return raw


def _link(href: str, rel: str, type_: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    link.update(extra)
    return link
