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
import enum
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import orjson
import shapely
from geoalchemy2 import WKBElement
from geoalchemy2.shape import to_shape
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from tqdm import tqdm  # type: ignore[import-untyped]

from gis_api import clock, labels
from gis_api.errors import DimingError, InvalidInput, PreconditionFailed
from gis_api.geo.echo import single_part
from gis_api.io import formats
from gis_api.io.formats import Record
from gis_api.limits import LimitSettings, defaults
from gis_api.ogc import crs as crs_mod
from gis_api.ogc import query
from gis_api.ogc.collections import Collection
from gis_api.ogc.sql import Params
from gis_api.places import bulk
from gis_api.places import service as places_service
from gis_api.places.models import Place
from gis_api.places.schemas import REGISTER_FIELDS, PlaceCreate, PlaceUpdate, VariantIn

BULK_MIN_ROWS = 5000
EXPORT_BATCH = 5000

# The census register (domain.md §1.5): column heading → field; the headings are what the XLSX register uses.
# The last two columns carry the version each row was exported at (its ETag), for the re-import's version check.
REGISTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("代码", "place_id"), ("标准名称", "name"), ("罗马字母拼写", "romanized"), ("使用时间", "usage"),
    ("类别", "category_name"), ("类别代码", "category_code"), ("地名含义", "meaning"), ("历史沿革", "history"),
    ("地理实体描述", "description"), ("所在(跨)行政区", "division_name"), ("行政区代码", "division_code"),
    ("登记时间", "registered_on"), ("登记人", "registered_by"), ("登记单位", "registering_unit"),
    ("简称", "short_name"), ("别名", "alias"), ("图上名称", "map_name"), ("通名罗马字母拼写", "tongming_romanized"),
    ("民族文字", "minority_script"), ("语种", "language"), ("命名时间", "named_on"), ("设立年份", "established_year"),
    ("废止年份", "abolished_year"), ("标牌个数", "sign_count"), ("高程", "elevation_m"), ("经纬度范围", "extent"),
    ("坐标系", "coord_system"), ("测量方法", "coord_method"), ("资料来源", "sources"), ("备注", "remarks"),
    ("经度", "lon"), ("纬度", "lat"), ("状态", "status"), ("版本行号", "row_id"), ("记录版本", "version"),
)
HEADING = {h: f for h, f in REGISTER_COLUMNS}
STATUS_COLUMN = [f for _h, f in REGISTER_COLUMNS].index("status")
VARIANT_FIELDS = {"short_name": "简称", "alias": "别名", "map_name": "图上名称"}
# The key and version of an exported row (its ETag is places.service.etag(row_id, version)).
META = {"id", "place_id", "row_id", "version"}
# Derived or read-only columns the exports write: accepted, and ignored when they equal the database's value.
READ_ONLY = {"zhuanming", "tongming", "romanized_by", "tongming_romanized", "census_class", "scope_kind",
             "valid_to", "extent", "coord_system", "category_name", "division_name"}
# What an import may change on a matched place: the fields of PlaceUpdate.
EDITABLE = ("name", "category_code", "division_code", "status", "romanized", "source", *REGISTER_FIELDS)
CLEARABLE = {"romanized", *REGISTER_FIELDS}  # romanized: cleared means the automatic spelling again
CORE = {"name", "category_code", "division_code", "romanized"}
ALIASES = {"category": "category_code", "类别": "category_code", "名称": "name", "地名": "name", "desc": "description",
           "ele": "elevation_m", "cmt": "remarks"}
KEYS = ("id", "name+division_code", "none")
DBF_TEXT_BYTES = 254
GEOM_TOLERANCE = 2e-7  # degrees (~2 cm): exports round coordinates to 7 decimals


@dataclass
class Report:
    ok: bool = True
    engine: str = ""
    key: str = "id"
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    place_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # the first 1000
    n_conflicts: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step: read, normalise, match, bulk steps

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "engine": self.engine, "key": self.key, "rows_read": self.rows_read,
                "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "conflicts": self.n_conflicts, "dry_run": self.dry_run, "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()},
                "errors": self.errors, "conflict_rows": self.conflicts[:1000], "place_ids": self.place_ids[:1000],
                "updated_ids": self.updated_ids[:1000]}


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
    engine: str = "auto"  # auto | service | bulk (new rows)
    key: str = "id"  # id | name+division_code | none: how rows match existing places
    dry_run: bool = False
    progress: bool = False
    # The session's transaction is the import's own (the CLI; the REST route, which commits the login first): the
    # transaction of the first reads is ended before the rows are checked and their names derived (minutes for a
    # large file), so none stays open idle; the writes open a new one.
    own_session: bool = False
    limits: LimitSettings = field(default_factory=defaults)  # archive, feature and vertex bounds (DIMING_LIMIT_*)


@dataclass
class Row:
    rec: Record
    data: dict[str, Any]  # PlaceCreate / PlaceUpdate fields
    meta: dict[str, Any]  # id, row_id, version
    read_only: dict[str, Any]
    variant_columns: bool = False  # the file has 简称/别名/图上名称 columns (the register)
    blank: set[str] = field(default_factory=set)  # columns the file has, empty in this row


def _err(rep: Report, row: int, field_: str, message: str, message_zh: str) -> None:
    if len(rep.errors) < 1000:
        rep.errors.append({"row": row, "field": field_, "message": message, "message_zh": message_zh})
    rep.ok = False


_FIELDS: dict[Any, tuple[str, bool]] = {}


def _field(key: Any, short: dict[str, str] | None) -> tuple[str, bool]:
    """A file column → the field it holds, and whether its values may be labels of an enumeration (else
    ``labels.from_label`` leaves them as they are); worked out once per column name, not on every row."""
    if not short:
        hit = _FIELDS.get(key)
        if hit is not None:
            return hit
    k = str(key).strip()
    if short and k in short:
        k = short[k]
    k = HEADING.get(k, ALIASES.get(k, ALIASES.get(k.lower(), labels.field_from_label(k) or k)))
    hit = (k, labels.domain_of(k) is not None)
    if not short and len(_FIELDS) < 10_000:  # a Shapefile's short names depend on the call: not cached
        _FIELDS[key] = hit
    return hit


def _normalise(rec: Record, opts: ImportOptions, categories: dict[str, str],
               short: dict[str, str] | None = None) -> Row:
    """Record properties → PlaceCreate fields (English names, the register's Chinese headings, or the DBF
    field names a Shapefile export shortened), the row's key and version, and its read-only columns."""
    data: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    read_only: dict[str, Any] = {}
    blank: set[str] = set()
    variant_columns = False
    for key, value in rec.props.items():
        k, labelled = _field(key, short)
        if labelled:
            value = labels.from_label(k, value)  # a labelled export's 标准地名 → standard
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, str) and not value.strip():
            value = None
        variant_columns |= k in VARIANT_FIELDS
        if k in META:
            if value is not None:
                meta["id" if k == "place_id" else k] = value
            continue
        if k in READ_ONLY:
            read_only[k] = value
            if k != "category_name":
                continue
        if value is None or k in ("lon", "lat"):
            blank.add(k)
            continue
        if k == "category_name":  # 类别 on import: a category name or code
            k = "category_code" if "category_code" not in data else k
        if k == "division_name":  # 所在(跨)行政区: kept when it is a code (a name is left to the location)
            continue
        if k in ("category_name",):
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
    return Row(rec, data, meta, read_only, variant_columns, blank - set(data))


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


def _shapefile_names() -> dict[str, str]:
    """The DBF names a Shapefile export of ``places`` gives its fields → the property names."""
    from gis_api.ogc.collections import get

    c = get("places")
    return formats.shapefile_fields(["id", *(p.name for p in c.properties)]) if c is not None else {}


def import_places(session: Session, path: Path, opts: ImportOptions) -> Report:
    """Import the places in ``path``: rows matching an existing place (``opts.key``) become versioned, audited
    updates through ``places.service.update`` when they differ (with the version check: a row edited since the
    export is a conflict, not overwritten), are skipped when unchanged; other rows are inserted. Nothing is kept
    unless every row is good (the caller rolls back when ``report.ok`` is false or on ``dry_run``); conflicting
    rows are reported and left alone without failing the others."""
    t0 = time.perf_counter()
    if opts.key not in KEYS:
        raise InvalidInput(f"key must be one of {', '.join(KEYS)}", f"匹配键须为 {'、'.join(KEYS)} 之一", field="key")
    records = read_records(path, opts)
    rep = Report(rows_read=len(records), dry_run=opts.dry_run, key=opts.key)
    rep.phases["read"] = (mark := time.perf_counter()) - t0
    categories = _categories(session)
    short = _shapefile_names() if formats.guess_format(path.name, opts.fmt) == "shp" else None
    rows = [_normalise(rec, opts, categories, short) for rec in records]
    for r in rows:
        for field_, en, zh in r.rec.errors:
            _err(rep, r.rec.row, field_, en, zh)
    rep.phases["normalise"] = time.perf_counter() - mark
    mark = time.perf_counter()
    new_rows = _match(session, rows, opts, rep, dbf=short is not None)
    rep.phases["match"] = time.perf_counter() - mark
    new = [(r.rec, r.data) for r in new_rows]
    extra = any(set(d) - CORE for _r, d in new)
    engine = opts.engine
    if engine == "auto":
        engine = "bulk" if not extra and len(new) > BULK_MIN_ROWS else "service"
    rep.engine = engine
    if engine == "bulk":
        if extra:
            names = sorted({k for _r, d in new for k in set(d) - CORE})
            raise InvalidInput(f"the bulk engine takes only {', '.join(sorted(CORE))} and the location; the file "
                               f"also has {', '.join(names)} — use the service engine",
                               "批量导入只接受名称、类别、位置、行政区和拼写；请改用逐条导入", field="engine")
        if rep.ok and new:
            _bulk(session, new, opts, rep, set(categories.values()))
    else:
        _service(session, new, opts, rep)
    if not rep.ok:
        rep.inserted = rep.updated = 0
    if not rep.ok or opts.dry_run:
        rep.place_ids = []  # nothing is kept: no ids to report
        rep.updated_ids = []
    rep.seconds = time.perf_counter() - t0
    return rep


# -- matching existing places ------------------------------------------------------------------------------

def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    out = str(v).strip()
    return out or None


def _value(name: str, v: Any) -> Any:
    """A file value as the database holds the field (files carry dates and numbers as text or floats)."""
    if v is None:
        return None
    if name in ("registered_on", "named_on"):
        return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v).strip()[:10])
    if name in ("established_year", "abolished_year", "sign_count"):
        return int(float(v))
    if name in ("coord_precision_m", "elevation_m"):
        return float(v)
    return _text(v)


def _dbf_truncated(file_value: Any, db_value: Any) -> bool:
    """A DBF text field holds at most 254 bytes: GDAL cut the exported text, which is not an edit."""
    if not isinstance(file_value, str) or not isinstance(db_value, str):
        return False
    cut, full = file_value.strip().encode(), db_value.strip().encode()
    return len(full) > DBF_TEXT_BYTES and len(cut) >= DBF_TEXT_BYTES - 4 and full.startswith(cut)


def _same(name: str, file_value: Any, db_value: Any) -> bool:
    try:
        a = _value(name, file_value)
    except (TypeError, ValueError):
        return False  # not comparable: left to PlaceUpdate's validation to name the field
    b = db_value.value if isinstance(db_value, enum.Enum) else db_value
    if isinstance(b, Decimal):
        b = float(b)
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7)
    if isinstance(b, str) or isinstance(a, str):
        return bool(a == _text(b))
    return bool(a == b)


def _same_geometry(file_geom: Any, db_geom: Any) -> bool:
    if db_geom is None:
        return False
    a, b = shapely.normalize(single_part(file_geom)), shapely.normalize(single_part(db_geom))
    return bool(a.geom_type == b.geom_type and shapely.equals_exact(a, b, tolerance=GEOM_TOLERANCE))


def _matches(session: Session, rows: list[Row], opts: ImportOptions, rep: Report) -> dict[int, int]:
    """Row position → place_id of the place in force today that the row is about (``opts.key``)."""
    today = clock.today()
    found: dict[int, int] = {}
    if opts.key == "id":
        ids: dict[int, int] = {}
        for i, r in enumerate(rows):
            if "id" not in r.meta:
                continue
            try:
                ids[i] = int(float(r.meta["id"]))
            except (TypeError, ValueError):
                _err(rep, r.rec.row, "id", f"id {r.meta['id']!r} is not a place id; import a file from elsewhere "
                     "with key=none (every row new) or key=name+division_code",
                     f"代码 {r.meta['id']!r} 不是地名编号；外来文件请选择“全部新建”或“按名称和所在行政区匹配”方式导入")
        live = set(session.scalars(text(
            "SELECT place_id FROM places WHERE place_id = ANY(:ids) AND valid_from <= :d "
            "AND (valid_to IS NULL OR valid_to > :d)"), {"ids": sorted(set(ids.values())), "d": today}))
        for i, pid in ids.items():
            if pid in live:
                found[i] = pid
            else:
                _err(rep, rows[i].rec.row, "id", f"no place {pid} in force today; leave the id empty to register a "
                     "new place (or import with key=none)", f"今日不存在编号为 {pid} 的地名；新登记的地名请将代码留空"
                     "（或选择“全部新建”方式导入）")
    elif opts.key == "name+division_code":
        wanted = {(r.data.get("name"), r.data.get("division_code")) for r in rows}
        hits: dict[tuple[str, str], list[int]] = {}
        for name, code, pid in session.execute(text(
                "SELECT name, division_code, place_id FROM places WHERE name = ANY(:n) AND valid_from <= :d "
                "AND (valid_to IS NULL OR valid_to > :d)"),
                {"n": sorted({str(n) for n, _c in wanted if n}), "d": today}):
            hits.setdefault((name, code), []).append(int(pid))
        for i, r in enumerate(rows):
            pids = hits.get((r.data.get("name"), r.data.get("division_code")), [])  # type: ignore[arg-type]
            if len(pids) == 1:
                found[i] = pids[0]
            elif len(pids) > 1:
                _err(rep, r.rec.row, "name", f"{len(pids)} places named {r.data.get('name')} in "
                     f"{r.data.get('division_code')}: give their ids (key id)",
                     f"该行政区内有 {len(pids)} 个同名地名，请按代码匹配")
    seen: dict[int, int] = {}
    for i, pid in sorted(found.items()):
        if pid in seen:
            _err(rep, rows[i].rec.row, "id", f"place {pid} appears twice in the file (rows {rows[seen[pid]].rec.row} "
                 f"and {rows[i].rec.row})", f"地名 {pid} 在文件中出现两次")
        seen[pid] = i
    return found


def _match(session: Session, rows: list[Row], opts: ImportOptions, rep: Report, *, dbf: bool = False
           ) -> list[Row]:
    """Update or skip the rows that match an existing place; returns the rows to insert."""
    found = _matches(session, rows, opts, rep)
    errored = {e["row"] for e in rep.errors}
    new = [r for i, r in enumerate(rows) if i not in found and not (opts.key == "id" and "id" in r.meta)]
    if not found:
        return new
    current = {p.place_id: p for p in session.scalars(select(Place).where(
        Place.place_id.in_(set(found.values())), Place.valid_from <= clock.today(),
        (Place.valid_to.is_(None)) | (Place.valid_to > clock.today())))}
    variants: dict[int, set[tuple[str, str]]] = {}
    for pid, kind, name in session.execute(text(
            "SELECT place_id, kind, name FROM place_variants WHERE place_id = ANY(:p) AND kind = ANY(:k)"),
            {"p": sorted(current), "k": list(VARIANT_FIELDS.values())}):
        variants.setdefault(int(pid), set()).add((str(kind), str(name)))
    for i, pid in tqdm(sorted(found.items()), desc="compare places", unit=" rows", disable=not opts.progress):
        r = rows[i]
        if r.rec.row in errored:
            continue
        _apply(session, r, current[pid], variants.get(pid, set()), opts, rep, dbf=dbf)
    return new


def _apply(session: Session, r: Row, place: Place, variants: set[tuple[str, str]], opts: ImportOptions,
           rep: Report, *, dbf: bool = False) -> None:
    row = r.rec.row
    db_geom = to_shape(cast(WKBElement, place.geom)) if place.geom is not None else None
    changes: dict[str, Any] = {k: r.data[k] for k in EDITABLE if k in r.data and not _same(k, r.data[k],
                                                                                      getattr(place, k))}
    if dbf:  # a Shapefile's texts longer than 254 bytes come back cut: never write the cut text back
        changes = {k: v for k, v in changes.items() if not _dbf_truncated(v, getattr(place, k))}
    # An emptied cell clears an optional field (name, category, status, source and division are never cleared).
    changes.update({k: None for k in CLEARABLE & r.blank if getattr(place, k) is not None})
    if r.rec.geometry is not None and not _same_geometry(r.rec.geometry, db_geom):
        g = r.rec.geometry
        if db_geom is not None and not db_geom.geom_type.startswith("Multi"):
            g = single_part(g)  # keep a LineString a LineString after a Shapefile round trip
        changes["geometry"] = shapely.geometry.mapping(g)
    unknown = sorted(k for k in r.data if k not in EDITABLE and k not in PlaceCreate.model_fields)
    if unknown:
        _err(rep, row, unknown[0], f"unknown column(s) {', '.join(unknown)}", f"未知的列：{'、'.join(unknown)}")
        return
    file_etag = (places_service.etag(int(float(r.meta["row_id"])), int(float(r.meta["version"])))
                 if "row_id" in r.meta and "version" in r.meta else None)
    stale = file_etag != places_service.etag(place.id, place.version)
    if not stale:  # derived columns and variants of the version the file was exported at must be as exported
        ro = [k for k, v in r.read_only.items() if k not in ("category_name", "division_name", "extent")
              and hasattr(place, k) and not _same(k, v, getattr(place, k))]
        if "valid_from" in r.data and not _same("registered_on", r.data["valid_from"], place.valid_from):
            ro.append("valid_from")  # a legal change with a date goes through the API (mode=legal)
        wanted = {(v["kind"], v["name"]) for v in r.data.get("variants", [])}
        if r.variant_columns and wanted != variants:
            ro.append("variants (简称/别名/图上名称)")
        if ro:
            _err(rep, row, ro[0], f"{', '.join(ro)} cannot be changed by an import (derived or read-only; "
                 "variants have their own API)", f"{'、'.join(ro)} 为派生或只读字段，不能通过导入修改")
            return
    if not changes:
        rep.unchanged += 1
        return
    if file_etag is None:
        _err(rep, row, "version", f"place {place.place_id} differs from the file, which carries no row_id and "
             "version: export the places again, edit that file and import it",
             f"文件未包含版本（版本行号、记录版本），不能修改地名 {place.place_id}；请重新导出后编辑再导入")
        return
    try:
        body = PlaceUpdate.model_validate({**changes, "reason": opts.reason})
        with session.begin_nested():
            # The one write path: lock, version check (If-Match), write, audit.
            places_service.update(session, place.place_id, body, file_etag, opts.actor)
        rep.updated += 1
        rep.updated_ids.append(place.place_id)
    except PreconditionFailed as exc:
        rep.n_conflicts += 1
        if len(rep.conflicts) < 1000:
            rep.conflicts.append({"row": row, "id": place.place_id, "exported": file_etag,
                                  "current": (exc.headers or {}).get("ETag"), "fields": sorted(changes),
                                  "message": exc.message, "message_zh": exc.message_zh})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or "row"
        _err(rep, row, loc, f"{loc}: {first.get('msg')}", f"{loc} 无效：{first.get('msg')}")
    except DimingError as exc:
        _err(rep, row, exc.field or "row", exc.message, exc.message_zh)


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


def _bulk(session: Session, rows: list[tuple[Record, dict[str, Any]]], opts: ImportOptions, rep: Report,
          categories: set[str]) -> None:
    def place_rows() -> Iterator[bulk.PlaceRow]:
        for rec, d in rows:
            g = rec.geometry
            point = g is not None and g.geom_type == "Point"
            yield bulk.PlaceRow(
                name=str(d.get("name") or ""), category_code=str(d.get("category_code") or ""),
                lon=g.x if point else None, lat=g.y if point else None,
                wkt=None if point or g is None else shapely.to_wkt(g), division_code=d.get("division_code"),
                romanized=d.get("romanized"), row=rec.row)

    valid_from = opts.valid_from or clock.today()
    if opts.own_session and rep.updated == 0:
        # Nothing written yet (no matched row was updated): end the read-only transaction now rather than hold it
        # idle through the checks and the derivation. Under READ COMMITTED the reads gave no lasting guarantee;
        # the load re-checks what it relies on (categories) inside its own transaction.
        session.rollback()
    prep = bulk.prepare(place_rows(), categories)
    result = bulk.load(session, prep, actor=opts.actor, reason=opts.reason, source=opts.source,
                       valid_from=valid_from)
    rep.phases["derive"] = result.derive_seconds  # the names' fields, in worker processes (overlaps the load steps)
    rep.phases.update(result.phases)
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
           bbox: tuple[float, float, float, float] | None = None, progress: bool = False,
           lang: labels.Lang | None = None) -> bytes:
    """``lang``: a table for people (CSV, XLSX) in that language — labelled headings, enumerations and booleans
    as words (gis_api/labels.py); None: field names and stored values, for programs. The GIS formats (GeoJSON,
    GeoPackage, Shapefile, GPX) always carry field names and stored values: GIS clients and re-imports read them."""
    tf = query.TimeFilter(as_of=as_of or clock.today())
    if fmt == "geojson":
        parts = [b'{"type":"FeatureCollection","name":', orjson.dumps(c.id), b',"features":[']
        for i, f in enumerate(_features(session, c, tf, bbox, progress)):
            parts.append((b"," if i else b"") + f.encode())
        parts.append(b"]}")
        return b"".join(parts)
    if fmt == "xlsx" and c.table == "places":
        return _register_xlsx(session, c, tf, bbox, progress, lang)
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
    if lang and fmt in ("csv", "xlsx"):
        for r in records:
            r.props = {k: labels.cell(k, v, lang, c.id) for k, v in r.props.items()}
    if fmt == "csv":
        return formats.write_csv(records, names, (lambda n: labels.field_label(n, lang)) if lang else None)
    if fmt == "gpx":
        return _gpx(records, names, types)
    if fmt == "xlsx":
        rows = ([r.props.get(n) for n in names] + [shapely.to_wkt(r.geometry, rounding_precision=7)
                                                   if r.geometry is not None else None] for r in records)
        header = [*names, "wkt"]
        return formats.write_xlsx([labels.field_label(n, lang) for n in header] if lang else header, rows, c.id)
    raise InvalidInput(f"cannot export {fmt}; use {', '.join(formats.EXPORT_FORMATS)}", f"不支持导出为 {fmt}",
                       field="format")


GPX_LEFT_OUT = {"division_code", "left_code", "right_code"}


def _gpx(records: list[Record], names: list[str], types: Mapping[str, str]) -> bytes:
    """GPX's own name (the feature's name, else its id), desc and ele first; the rest as extensions."""
    for r in records:
        p = r.props
        gpx = {"name": p.get("name") or p.get("id"),
               "desc": p.get("category_name") or p.get("kind_name") or p.get("description"),
               "ele": p.get("elevation_m")}
        r.props = {**gpx, **{k: v for k, v in p.items() if k not in gpx}}
    # Division codes stay out: GPX extensions carry no types, and GDAL 3.6 (Debian, QGIS 3.22) reads a 12-digit
    # code as a 32-bit integer and overflows it.
    rest = [n for n in names if n not in formats.GPX_STANDARD and n not in GPX_LEFT_OUT]
    data, _counts = formats.write_gpx(records, [*formats.GPX_STANDARD, *rest], {**types, "ele": "number"})
    return data


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
       p.status, p.id, p.version
FROM places p
LEFT JOIN place_categories c ON c.code = p.category_code
LEFT JOIN LATERAL (SELECT d.name FROM divisions d WHERE d.code = p.division_code AND d.valid_from <= :as_of
                   AND (d.valid_to IS NULL OR d.valid_to > :as_of) LIMIT 1) d ON true
WHERE p.valid_from <= :as_of AND (p.valid_to IS NULL OR p.valid_to > :as_of)
  AND (CAST(:x1 AS float8) IS NULL OR ST_Intersects(p.geom, ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490)))
ORDER BY p.place_id
"""


def _register_xlsx(session: Session, c: Collection, tf: query.TimeFilter,
                   bbox: tuple[float, float, float, float] | None, progress: bool,
                   lang: labels.Lang | None = None) -> bytes:
    """The census register of place names (domain.md §1.5) with its Chinese headings, one place per row."""
    x1, y1, x2, y2 = bbox if bbox else (None, None, None, None)
    result = session.execute(text(REGISTER_SQL), {"as_of": tf.as_of, "x1": x1, "y1": y1, "x2": x2, "y2": y2})

    def rows() -> Iterator[list[Any]]:
        for r in tqdm(result, desc="export register", unit=" places", disable=not progress):
            row = [float(v) if hasattr(v, "as_tuple") else v for v in r]
            if lang:  # the register's headings are the census form's; its status reads as a word
                row[STATUS_COLUMN] = labels.cell("status", row[STATUS_COLUMN], lang)
            yield row

    return formats.write_xlsx([h for h, _f in REGISTER_COLUMNS], rows(), "地名登记表")

