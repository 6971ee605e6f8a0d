"""CQL2 (OGC API – Features Part 3) to SQL: comparison, LIKE, IN, BETWEEN, IS NULL, casei, and/or/not and
the spatial functions, on the collection's queryables only.

CQL2 text is parsed by the ``cql2`` library into the standard CQL2-JSON tree; CQL2-JSON is accepted as is.
The tree is translated here: property names are looked up in the collection's whitelist (their SQL is fixed
text from the registry), every literal becomes a bound parameter cast to the property's type, and anything
else is a 400 that says what is not supported.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cql2

from gis_api.errors import text_problem
from gis_api.ogc import crs as crs_mod
from gis_api.ogc.collections import Collection, Property
from gis_api.ogc.errors import BadRequest
from gis_api.ogc.sql import Params

COMPARISON = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {"s_intersects": "ST_Intersects", "s_disjoint": "ST_Disjoint", "s_within": "ST_Within",
           "s_contains": "ST_Contains", "s_crosses": "ST_Crosses", "s_touches": "ST_Touches",
           "s_overlaps": "ST_Overlaps", "s_equals": "ST_Equals"}
GEOMETRY_NAMES = ("geometry", "geom")
SQL_TYPE = {"string": "text", "integer": "bigint", "number": "float8", "boolean": "boolean", "date": "date",
            "date-time": "timestamptz"}
GEOJSON_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                 "GeometryCollection"}


def _bad(message: str, message_zh: str) -> BadRequest:
    return BadRequest(message, message_zh, field="filter", code="invalid_filter", rule="OGC 19-079 Part 3")


MAX_FILTER_CHARS = 20_000
MAX_DEPTH = 64  # nesting of operators in a filter (NOT NOT …, brackets, function calls)
INT64 = (-(2**63), 2**63 - 1)

# The cql2 parser is Rust and recursive: a filter nested a few thousand levels deep overflows an 8 MB thread
# stack and kills the whole process (SIGSEGV), which no exception handler can catch. It therefore runs on one
# thread with a 256 MB stack (virtual memory, touched only as deep as a filter goes); with filters bounded to
# MAX_FILTER_CHARS, the deepest possible one uses well under a quarter of it (measured: 80,000 characters of
# "(((" parse on it).
_PARSER_STACK = 256 * 1024 * 1024
_parser: ThreadPoolExecutor | None = None
_parser_lock = threading.Lock()


def _parser_thread() -> ThreadPoolExecutor:
    global _parser
    with _parser_lock:
        if _parser is None:
            old = threading.stack_size(_PARSER_STACK)
            try:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cql2-parser")
                pool.submit(lambda: None).result()  # the thread starts now, with the large stack
            finally:
                threading.stack_size(old)
            _parser = pool
        return _parser


def _parse_text(text: str) -> Any:
    return cql2.parse_text(text).to_json()


def _depth(tree: Any) -> int:
    """How deeply ``tree`` nests (iteratively: the tree may be deeper than Python's recursion limit)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def parse(text: str, lang: str | None) -> Any:
    """The CQL2-JSON tree of a ``filter`` parameter in ``filter-lang`` (cql2-text by default)."""
    lang = (lang or "cql2-text").lower()
    if lang not in ("cql2-text", "cql2-json"):
        raise BadRequest(f"filter-lang {lang!r} is not supported; use cql2-text or cql2-json",
                         f"不支持的 filter-lang {lang!r}", field="filter-lang", code="invalid_parameter")
    if len(text) > MAX_FILTER_CHARS:
        raise _bad(f"filter is longer than {MAX_FILTER_CHARS} characters", f"filter 超过 {MAX_FILTER_CHARS} 个字符")
    try:
        if lang == "cql2-text":
            tree = _parser_thread().submit(_parse_text, text).result()
        else:
            cql2.parse_json(text)  # validates the structure (its parser stops at 128 levels: no deep recursion)
            tree = json.loads(text)
    except (ValueError, RecursionError, cql2.ParseError, cql2.ValidationError) as exc:
        raise _bad(f"filter is not valid {lang}: {exc}", f"filter 不是有效的 {lang}：{exc}") from None
    # Each level of the JSON tree is about half an operator level (an op object, then its args list).
    if _depth(tree) > 2 * MAX_DEPTH:
        raise _bad(f"filter nests deeper than {MAX_DEPTH} levels", f"filter 嵌套超过 {MAX_DEPTH} 层")
    return tree


class _Typed:
    """An SQL operand and its type (None for an untyped literal)."""

    def __init__(self, sql: str, type_: str | None, literal: Any = None, is_literal: bool = False) -> None:
        self.sql = sql
        self.type = type_
        self.literal = literal
        self.is_literal = is_literal


class Translator:
    def __init__(self, collection: Collection, params: Params, filter_crs: crs_mod.OutputCrs) -> None:
        self.c = collection
        self.params = params
        self.filter_crs = filter_crs
        self.spatial = False  # does the filter use a spatial function (the spatial index then leads)?

    # -- entry ----------------------------------------------------------------------------------------------

    def where(self, node: Any) -> str:
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        if not isinstance(node, dict) or "op" not in node:
            raise _bad("a filter must be a boolean expression", "filter 须为布尔表达式")
        op = str(node["op"]).lower()
        args = node.get("args") or []
        if not isinstance(args, list):
            raise _bad(f"the arguments of {op} must be a list", f"{op} 的参数须为列表")
        if op in ("and", "or"):
            if len(args) < 2:
                raise _bad(f"{op} needs two or more arguments", f"{op} 至少需要两个参数")
            return "(" + f" {op.upper()} ".join(self.where(a) for a in args) + ")"
        if op == "not":
            if len(args) != 1:
                raise _bad("not needs exactly one argument", "not 需要恰好一个参数")
            return f"(NOT {self.where(args[0])})"
        if op in COMPARISON:
            left, right = self._pair(args)
            return f"({left.sql} {COMPARISON[op]} {right.sql})"
        if op == "like":
            left, right = self._pair(args, force="string")
            return f"({left.sql} LIKE {right.sql})"
        if op == "between":
            if len(args) != 3:
                raise _bad("between needs a value and two bounds", "between 需要一个值和上下两个界限")
            value = self.operand(args[0])
            lo, hi = self._coerce_to(args[1], value.type), self._coerce_to(args[2], value.type)
            return f"({value.sql} BETWEEN {lo.sql} AND {hi.sql})"
        if op == "in":
            if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
                raise _bad("in needs a value and a non-empty list", "in 需要一个值和非空列表")
            value = self.operand(args[0])
            type_ = value.type or "string"
            items = [self._literal_value(x, type_) for x in args[1]]
            if type_ == "integer" and any(isinstance(x, float) for x in items):
                type_ = "number"  # 1.5 or a value beyond bigint: compare as numbers
            return f"({value.sql} = ANY({self.params.bind(items, SQL_TYPE[type_] + '[]')}))"
        if op == "isnull":
            if len(args) != 1:
                raise _bad("isNull needs exactly one argument", "isNull 需要恰好一个参数")
            return f"({self.operand(args[0]).sql} IS NULL)"
        if op in SPATIAL:
            if len(args) != 2:
                raise _bad(f"{op} needs two geometries", f"{op} 需要两个几何参数")
            a, b = (self._geometry(x) for x in args)
            self.spatial = True
            return f"{SPATIAL[op]}({a}, {b})"
        raise _bad(f"operator {op!r} is not supported (supported: and, or, not, comparisons, like, between, in, "
                   f"isNull, casei, {', '.join(SPATIAL)})", f"不支持运算符 {op!r}")

    # -- operands -------------------------------------------------------------------------------------------

    def _queryable(self, name: str) -> Property:
        prop = self.c.prop(name)
        if prop is None or not prop.queryable or prop.joined:
            names = ", ".join(p.name for p in self.c.queryables())
            raise _bad(f"{name!r} is not a queryable of {self.c.id}; queryables are {names}",
                       f"{name!r} 不是 {self.c.id} 的可查询属性")
        return prop

    def operand(self, node: Any) -> _Typed:
        if isinstance(node, dict) and "property" in node:
            name = str(node["property"])
            if name in GEOMETRY_NAMES:
                raise _bad("the geometry can only be used in spatial functions", "几何只能用于空间函数")
            prop = self._queryable(name)
            return _Typed(prop.sql, prop.type)
        if isinstance(node, dict) and str(node.get("op", "")).lower() in ("casei", "accenti", "lower", "upper"):
            fn = str(node["op"]).lower()
            inner = self.operand((node.get("args") or [None])[0])
            if inner.is_literal:
                inner = _Typed(self.params.bind(str(inner.literal), "text"), "string")
            if inner.type not in (None, "string"):
                raise _bad(f"{fn} applies to text", f"{fn} 只能用于文本")
            sql = inner.sql if fn == "accenti" else f"{'upper' if fn == 'upper' else 'lower'}({inner.sql})"
            return _Typed(sql, "string")
        if isinstance(node, dict) and "op" in node:
            raise _bad(f"function {node['op']!r} is not supported here", f"此处不支持函数 {node['op']!r}")
        return _Typed("", None, node, is_literal=True)

    def _pair(self, args: list[Any], force: str | None = None) -> tuple[_Typed, _Typed]:
        if len(args) != 2:
            raise _bad("a comparison needs two arguments", "比较运算需要两个参数")
        left, right = self.operand(args[0]), self.operand(args[1])
        if force and any(not x.is_literal and x.type != force for x in (left, right)):
            raise _bad("like applies to text properties", "like 只能用于文本属性")
        type_ = force or left.type or right.type
        if type_ is None:  # two literals
            type_ = _type_of(left.literal)
        return self._bind(left, type_), self._bind(right, type_)

    def _coerce_to(self, node: Any, type_: str | None) -> _Typed:
        t = self.operand(node)
        return self._bind(t, type_ or _type_of(t.literal))

    def _bind(self, t: _Typed, type_: str) -> _Typed:
        if not t.is_literal:
            return t
        value = self._literal_value(t.literal, type_)
        if type_ == "integer" and isinstance(value, float):
            return _Typed(self.params.bind(value, "float8"), "number")
        return _Typed(self.params.bind(value, SQL_TYPE[type_]), type_)

    def _literal_value(self, value: Any, type_: str) -> Any:
        if isinstance(value, dict) and ("property" in value or "op" in value):
            raise _bad("lists and bounds must be literals", "列表和界限须为字面值")
        if isinstance(value, dict) and ("date" in value or "timestamp" in value):
            raw = str(value.get("date") or value.get("timestamp"))
            if type_ not in ("date", "date-time"):
                raise _bad(f"a date literal cannot be compared with a {type_} property", "日期不能与该属性比较")
            value = raw
        try:
            if type_ == "string":
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise ValueError
                if isinstance(value, str):
                    problem = text_problem(value)
                    if problem:
                        raise _bad(f"a text literal contains {problem}", "文本字面值含有无法保存的字符")
                    return value
                if isinstance(value, int):
                    return str(value)
                return str(int(value)) if value.is_integer() else str(value)
            if type_ == "integer":
                if isinstance(value, bool):
                    raise ValueError
                if isinstance(value, int) and INT64[0] <= value <= INT64[1]:
                    return value
                f = float(value)
                if not math.isfinite(f):
                    raise ValueError
                # beyond bigint or fractional: the caller compares it as a number (float8)
                return int(f) if f.is_integer() and INT64[0] <= f <= INT64[1] else f
            if type_ == "number":
                if isinstance(value, bool):
                    raise ValueError
                f = float(value)
                if not math.isfinite(f):
                    raise ValueError
                return f
            if type_ == "boolean":
                if isinstance(value, bool):
                    return value
                if str(value).lower() in ("true", "false"):
                    return str(value).lower() == "true"
                raise ValueError
            if type_ == "date":
                return dt.date.fromisoformat(str(value)[:10])
            if type_ == "date-time":
                return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except (TypeError, ValueError, OverflowError):
            raise _bad(f"{str(value)[:80]!r} is not a valid {type_} value",
                       f"{str(value)[:80]!r} 不是有效的 {type_} 值") from None
        raise _bad(f"unsupported type {type_}", f"不支持的类型 {type_}")

    def _geometry(self, node: Any) -> str:
        if isinstance(node, dict) and node.get("property") is not None:
            if str(node["property"]) not in GEOMETRY_NAMES:
                raise _bad(f"{node['property']!r} is not a geometry; use 'geometry'", "空间函数须使用 geometry 属性")
            return self.c.geom_sql
        if isinstance(node, dict) and "bbox" in node:
            box = node["bbox"]
            if (not isinstance(box, list) or len(box) not in (4, 6)
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
                    or not all(math.isfinite(v) for v in box)):
                raise _bad("BBOX needs 4 or 6 numbers", "BBOX 需要4或6个数")
            half = len(box) // 2
            if any(box[i] > box[i + half] for i in range(half)):
                raise _bad("BBOX: each lower value must not exceed its upper value", "BBOX 的下界不能大于上界")
            (x1, y1, x2, y2), wkt = crs_mod.bbox_to_storage(tuple(float(v) for v in box), self.filter_crs)
            if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
                raise _bad("BBOX lies outside the area of filter-crs", "BBOX 超出 filter-crs 的适用范围")
            if wkt is not None:
                return f"ST_GeomFromText({self.params.bind(wkt, 'text')}, 4490)"
            vals = [self.params.bind(v, "float8") for v in (x1, y1, x2, y2)]
            return f"ST_MakeEnvelope({', '.join(vals)}, 4490)"
        if isinstance(node, dict) and node.get("type") in GEOJSON_TYPES:
            p = self.params.bind(json.dumps(node), "text")
            crs = self.filter_crs
            geom = f"ST_GeomFromGeoJSON({p})"
            if crs.north_first:
                geom = f"ST_FlipCoordinates({geom})"
            if crs.srid == crs_mod.STORAGE_SRID:
                return f"ST_SetSRID({geom}, 4490)"
            return f"ST_Transform(ST_SetSRID({geom}, {crs.srid}), 4490)"
        raise _bad("spatial functions take the geometry property and a geometry literal", "空间函数参数无效")


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict) and "date" in value:
        return "date"
    if isinstance(value, dict) and "timestamp" in value:
        return "date-time"
    return "string"
