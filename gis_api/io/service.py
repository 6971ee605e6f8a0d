"""Imports of place names and exports of any OGC collection — all or nothing, with a per-row report.

Imports go through the same rules as the API. Two engines:

* ``service`` — each row becomes a ``PlaceCreate`` and goes through ``places.service.create`` (name checks and
  their review flags, division derivation and check, variants, one audit row per place), each in a savepoint so
  every bad row is reported; if any row failed, everything is rolled back.
* ``bulk`` — the bulk importer (``places.bulk``: COPY, derived fields once per distinct name) for large files
  whose rows carry only the core fields (name, category, location, division, romanisation).

``auto`` picks ``bulk`` when no row carries a register field or variant and there are more than
``BULK_MIN_ROWS`` rows, else ``service``. The caller owns the transaction; on a failed import it must roll back
(the API and CLI do).

Exports read the features with the OGC SQL (the same properties and valid-time semantics as /ogc) and write
GeoJSON (streamed as PostGIS built it), GeoPackage, zipped Shapefile (UTF-8 + .cpg), CSV, or XLSX — for places
the census register (domain.md §1.5) with Chinese headings.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import shapely
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm  # type: ignore[import-untyped]

from gis_api import clock
from gis_api.errors import DimingError, InvalidInput
from gis_api.io import formats
from gis_api.io.formats import Record
from gis_api.limits import LimitSettings, defaults
from gis_api.ogc import crs as crs_mod
from gis_api.ogc import query
from gis_api.ogc.collections import Collection
from gis_api.ogc.sql import Params
from gis_api.places import bulk
from gis_api.places import service as places_service
from gis_api.places.schemas import PlaceCreate, VariantIn

BULK_MIN_ROWS = 5000
EXPORT_BATCH = 5000

# The census register (domain.md §1.5): column heading → field; the headings are what the XLSX register uses.
REGISTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("代码", "place_id"), ("标准名称", "name"), ("罗马字母拼写", "romanized"), ("使用时间", "usage"),
    ("类别", "category_name"), ("类别代码", "category_code"), ("地名含义", "meaning"), ("历史沿革", "history"),
    ("地理实体描述", "description"), ("所在(跨)行政区", "division_name"), ("行政区代码", "division_code"),
    ("登记时间", "registered_on"), ("登记人", "registered_by"), ("登记单位", "registering_unit"),
    ("简称", "short_name"), ("别名", "alias"), ("图上名称", "map_name"), ("通名罗马字母拼写", "tongming_romanized"),
    ("民族文字", "minority_script"), ("语种", "language"), ("命名时间", "named_on"), ("设立年份", "established_year"),
    ("废止年份", "abolished_year"), ("标牌个数", "sign_count"), ("高程", "elevation_m"), ("经纬度范围", "extent"),
    ("坐标系", "coord_system"), ("测量方法", "coord_method"), ("资料来源", "sources"), ("备注", "remarks"),
    ("经度", "lon"), ("纬度", "lat"), ("状态", "status"),
)
HEADING = {h: f for h, f in REGISTER_COLUMNS}
VARIANT_FIELDS = {"short_name": "简称", "alias": "别名", "map_name": "图上名称"}
IGNORED_ON_IMPORT = {"place_id", "id", "row_id", "extent", "coord_system",
                     "zhuanming", "tongming", "romanized_by", "census_class", "scope_kind", "valid_to", "version"}
CORE = {"name", "category_code", "division_code", "romanized"}
ALIASES = {"category": "category_code", "类别": "category_code", "名称": "name", "地名": "name", "desc": "description",
           "ele": "elevation_m", "cmt": "remarks"}


@dataclass
class Report:
    ok: bool = True
    engine: str = ""
    rows_read: int = 0
    inserted: int = 0
    place_ids: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "engine": self.engine, "rows_read": self.rows_read, "inserted": self.inserted,
                "dry_run": self.dry_run, "seconds": round(self.seconds, 3), "errors": self.errors,
                "place_ids": self.place_ids[:1000]}


@dataclass
class ImportOptions:
    actor: str
    reason: str
    fmt: str | None = None
    encoding: str | None = None
    layer: str | None = None
    crs: str | None = None
    category_code: str | None = None  # for rows that have none (GPX waypoints, a file of one kind)
    lon_field: str | None = None
    lat_field: str | None = None
    wkt_field: str | None = None
    source: str = "import"
    valid_from: dt.date | None = None
    engine: str = "auto"  # auto | service | bulk
    dry_run: bool = False
    progress: bool = False
    limits: LimitSettings = field(default_factory=defaults)  # archive, feature and vertex bounds (DIMING_LIMIT_*)


def _err(rep: Report, row: int, field_: str, message: str, message_zh: str) -> None:
    if len(rep.errors) < 1000:
        rep.errors.append({"row": row, "field": field_, "message": message, "message_zh": message_zh})
    rep.ok = False


def _normalise(rec: Record, opts: ImportOptions, categories: dict[str, str]) -> dict[str, Any]:
    """Record properties → PlaceCreate fields (English names or the register's Chinese headings)."""
    data: dict[str, Any] = {}
    for key, value in rec.props.items():
        k = str(key).strip()
        k = HEADING.get(k, ALIASES.get(k, ALIASES.get(k.lower(), k)))
        if value is None or k in IGNORED_ON_IMPORT or k in ("lon", "lat"):
            continue
        if isinstance(value, dt.datetime):
            value = value.date()
        if k == "category_name":  # 类别 on import: a category name or code
            k = "category_code" if "category_code" not in data else k
        if k == "division_name":  # 所在(跨)行政区: kept when it is a code (a name is left to the location)
            if not str(value).strip().isdigit() or "division_code" in data:
                continue
            k = "division_code"
        if k in ("category_name", "division_name"):
            continue
        data[k] = value
    cat = data.get("category_code") or opts.category_code
    if cat is not None:
        cat = str(cat).strip()
        cat = categories.get(cat, cat)  # a category name (农村居民点) → its code
        data["category_code"] = cat
    for k in ("division_code", "category_code", "name", "romanized"):
        if k in data and not isinstance(data[k], str):
            data[k] = str(int(data[k])) if isinstance(data[k], float) and data[k].is_integer() else str(data[k])
    variants = []
    for k, kind in VARIANT_FIELDS.items():
        for name in str(data.pop(k, "") or "").replace("；", ";").replace("、", ";").split(";"):
            if name.strip():
                variants.append({"kind": kind, "name": name.strip()})
    if variants:
        data["variants"] = variants
    return data


def _categories(session: Session) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in session.execute(text("SELECT name_zh, code FROM place_categories"))}


def read_records(path: Path, opts: ImportOptions) -> list[Record]:
    fmt = formats.guess_format(path.name, opts.fmt)
    try:
        recs = formats.read(path, fmt, encoding=opts.encoding, layer=opts.layer, crs=opts.crs,
                            lon_field=opts.lon_field, lat_field=opts.lat_field, wkt_field=opts.wkt_field,
                            limits=opts.limits)
        return list(tqdm(recs, desc=f"read {path.name}", unit=" rows", disable=not opts.progress))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not in {opts.encoding or 'UTF-8'}: {exc}; give the right encoding "
                           "(e.g. GBK)", f"文件编码不是 {opts.encoding or 'UTF-8'}，请指定正确的编码（如 GBK）",
                           field="encoding") from None
    except DimingError:
        raise
    except Exception as exc:  # GDAL and parsers raise many types; the message is what the user needs
        raise InvalidInput(f"the file cannot be read as {fmt}: {exc}", f"无法按 {fmt} 格式读取文件：{exc}",
                           field="file") from None


def import_places(session: Session, path: Path, opts: ImportOptions) -> Report:
    """Import the places in ``path``; nothing is kept unless every row is good (the caller rolls back when
    ``report.ok`` is false or on ``dry_run``)."""
    t0 = time.perf_counter()
    records = read_records(path, opts)
    rep = Report(rows_read=len(records), dry_run=opts.dry_run)
    categories = _categories(session)
    rows = [(rec, _normalise(rec, opts, categories)) for rec in records]
    for rec, _data in rows:
        for field_, en, zh in rec.errors:
            _err(rep, rec.row, field_, en, zh)
    extra = any(set(d) - CORE for _r, d in rows)
    engine = opts.engine
    if engine == "auto":
        engine = "bulk" if not extra and len(rows) > BULK_MIN_ROWS else "service"
    rep.engine = engine
    if engine == "bulk":
        if extra:
            names = sorted({k for _r, d in rows for k in set(d) - CORE})
            raise InvalidInput(f"the bulk engine takes only {', '.join(sorted(CORE))} and the location; the file "
                               f"also has {', '.join(names)} — use the service engine",
                               "批量导入只接受名称、类别、位置、行政区和拼写；请改用逐条导入", field="engine")
        if rep.ok:
            _bulk(session, rows, opts, rep)
    else:
        _service(session, rows, opts, rep)
    if not rep.ok or opts.dry_run:
        rep.place_ids = []  # nothing is kept: no ids to report
    rep.seconds = time.perf_counter() - t0
    return rep


def _service(session: Session, rows: list[tuple[Record, dict[str, Any]]], opts: ImportOptions, rep: Report) -> None:
    for rec, data in tqdm(rows, desc="import places", unit=" rows", disable=not opts.progress):
        if rec.errors:
            continue
        body_data = {**data, "reason": opts.reason, "source": data.get("source") or opts.source}
        if opts.valid_from and "valid_from" not in data:
            body_data["valid_from"] = opts.valid_from
        if rec.geometry is not None:
            body_data["geometry"] = shapely.geometry.mapping(rec.geometry)
        unknown = sorted(k for k in body_data if k not in PlaceCreate.model_fields)
        if unknown:
            _err(rep, rec.row, unknown[0], f"unknown column(s) {', '.join(unknown)}", f"未知的列：{'、'.join(unknown)}")
            continue
        try:
            body = PlaceCreate.model_validate(body_data)
            for v in body.variants:
                VariantIn.model_validate(v.model_dump())
            with session.begin_nested():
                row, _flags = places_service.create(session, body, opts.actor)
            rep.place_ids.append(row.place_id)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ())) or "row"
            _err(rep, rec.row, loc, f"{loc}: {first.get('msg')}", f"{loc} 无效：{first.get('msg')}")
        except DimingError as exc:
            _err(rep, rec.row, exc.field or "row", exc.message, exc.message_zh)
    rep.inserted = len(rep.place_ids) if rep.ok else 0


def _bulk(session: Session, rows: list[tuple[Record, dict[str, Any]]], opts: ImportOptions, rep: Report) -> None:
    def place_rows() -> Iterator[bulk.PlaceRow]:
        for rec, d in rows:
            g = rec.geometry
            point = g is not None and g.geom_type == "Point"
            yield bulk.PlaceRow(
                name=str(d.get("name") or ""), category_code=str(d.get("category_code") or ""),
                lon=g.x if point else None, lat=g.y if point else None,
                wkt=None if point or g is None else shapely.to_wkt(g), division_code=d.get("division_code"),
                romanized=d.get("romanized"), row=rec.row)

    result = bulk.import_places(session, place_rows(), actor=opts.actor, reason=opts.reason, source=opts.source,
                                valid_from=opts.valid_from or clock.today())
    for e in result.errors:
        _err(rep, e.row, e.field, e.message, e.message_zh)
    rep.inserted = result.inserted if rep.ok else 0
    for lo, hi in result.place_id_ranges:
        rep.place_ids.extend(range(lo, min(hi, lo + 1000) + 1))


# -- exports -----------------------------------------------------------------------------------------------

def _features(session: Session, c: Collection, tf: query.TimeFilter, bbox: tuple[float, float, float, float] | None,
              progress: bool) -> Iterator[str]:
    """GeoJSON Feature texts in id order, in keyset batches (no deep OFFSET)."""
    total = None
    if progress:
        total = session.execute(text(f"SELECT count(*) FROM {c.table} t WHERE {c.where or 'TRUE'}")).scalar()
    bar = tqdm(total=total, desc=f"export {c.id}", unit=" features", disable=not progress)
    last: Any = None
    while True:
        params = Params()
        q = query.ItemsQuery(collection=c, limit=EXPORT_BATCH, offset=0, crs=crs_mod.resolve(None),
                             props=list(c.properties), time=tf, bbox=bbox)
        conds, _env, _sp = query.conditions(q, params)
        if last is not None:
            conds.append(f"{c.id_sql} > {params.bind(last, 'bigint' if c.id_type == 'integer' else 'text')}")
        feature, lateral = query.feature_sql(c, q.props, q.crs)
        sql = (f"SELECT {feature}, {c.id_sql} FROM (SELECT * FROM {c.table} t WHERE {' AND '.join(conds) or 'TRUE'} "
               f"ORDER BY {c.id_sql} LIMIT {EXPORT_BATCH}) t {c.join}{lateral} ORDER BY {c.id_sql}")
        batch = session.connection().exec_driver_sql(sql, params.as_dict()).all()
        for row in batch:
            yield str(row[0])
        bar.update(len(batch))
        if len(batch) < EXPORT_BATCH:
            break
        last = batch[-1][1]
    bar.close()


def export(session: Session, c: Collection, fmt: str, *, as_of: dt.date | None = None,
           bbox: tuple[float, float, float, float] | None = None, progress: bool = False) -> bytes:
    tf = query.TimeFilter(as_of=as_of or clock.today())
    if fmt == "geojson":
        parts = [b'{"type":"FeatureCollection","name":', orjson.dumps(c.id), b',"features":[']
        for i, f in enumerate(_features(session, c, tf, bbox, progress)):
            parts.append((b"," if i else b"") + f.encode())
        parts.append(b"]}")
        return b"".join(parts)
    if fmt == "xlsx" and c.table == "places":
        return _register_xlsx(session, c, tf, bbox, progress)
    records = []
    for i, f in enumerate(_features(session, c, tf, bbox, progress), start=1):
        doc = orjson.loads(f)
        geom = shapely.geometry.shape(doc["geometry"]) if doc.get("geometry") else None
        records.append(Record(i, {"id": doc["id"], **doc["properties"]}, geom))
    names = ["id", *(p.name for p in c.properties)]
    types = {p.name: p.type for p in c.properties}
    types["id"] = c.id_type
    if fmt in ("gpkg", "shp"):
        return formats.write_ogr(records, names, types, fmt, c.id)
    if fmt == "csv":
        return formats.write_csv(records, names)
    if fmt == "xlsx":
        rows = ([r.props.get(n) for n in names] + [shapely.to_wkt(r.geometry, rounding_precision=7)
                                                   if r.geometry is not None else None] for r in records)
        return formats.write_xlsx([*names, "wkt"], rows, c.id)
    raise InvalidInput(f"cannot export {fmt}; use geojson, gpkg, shp, csv or xlsx", f"不支持导出为 {fmt}",
                       field="format")


REGISTER_SQL = """
SELECT p.place_id, p.name, p.romanized, p.usage, c.name_zh, p.category_code, p.meaning, p.history, p.description,
       d.name, p.division_code, p.registered_on, p.registered_by, p.registering_unit,
       (SELECT string_agg(v.name, '、' ORDER BY v.id) FROM place_variants v WHERE v.place_id = p.place_id
          AND v.kind = '简称'),
       (SELECT string_agg(v.name, '、' ORDER BY v.id) FROM place_variants v WHERE v.place_id = p.place_id
          AND v.kind = '别名'),
       (SELECT string_agg(v.name, '、' ORDER BY v.id) FROM place_variants v WHERE v.place_id = p.place_id
          AND v.kind = '图上名称'),
       p.tongming_romanized, p.minority_script, p.language, p.named_on, p.established_year, p.abolished_year,
       p.sign_count, p.elevation_m,
       CASE WHEN p.geom IS NOT NULL AND GeometryType(p.geom) <> 'POINT' THEN
            format('%s,%s,%s,%s', round(ST_XMin(p.geom)::numeric, 6), round(ST_YMin(p.geom)::numeric, 6),
                   round(ST_XMax(p.geom)::numeric, 6), round(ST_YMax(p.geom)::numeric, 6)) END,
       p.coord_system, p.coord_method, p.sources, p.remarks,
       CASE WHEN GeometryType(p.geom) = 'POINT' THEN round(ST_X(p.geom)::numeric, 7) END,
       CASE WHEN GeometryType(p.geom) = 'POINT' THEN round(ST_Y(p.geom)::numeric, 7) END,
       p.status
FROM places p
LEFT JOIN place_categories c ON c.code = p.category_code
LEFT JOIN LATERAL (SELECT d.name FROM divisions d WHERE d.code = p.division_code AND d.valid_from <= :as_of
                   AND (d.valid_to IS NULL OR d.valid_to > :as_of) LIMIT 1) d ON true
WHERE p.valid_from <= :as_of AND (p.valid_to IS NULL OR p.valid_to > :as_of)
  AND (CAST(:x1 AS float8) IS NULL OR ST_Intersects(p.geom, ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490)))
ORDER BY p.place_id
"""


def _register_xlsx(session: Session, c: Collection, tf: query.TimeFilter,
                   bbox: tuple[float, float, float, float] | None, progress: bool) -> bytes:
    """The census register of place names (domain.md §1.5) with its Chinese headings, one place per row."""
    x1, y1, x2, y2 = bbox if bbox else (None, None, None, None)
    result = session.execute(text(REGISTER_SQL), {"as_of": tf.as_of, "x1": x1, "y1": y1, "x2": x2, "y2": y2})

    def rows() -> Iterator[list[Any]]:
        for r in tqdm(result, desc="export register", unit=" places", disable=not progress):
            yield [float(v) if hasattr(v, "as_tuple") else v for v in r]

    return formats.write_xlsx([h for h, _f in REGISTER_COLUMNS], rows(), "地名登记表")

