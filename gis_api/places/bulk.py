"""Bulk import of place names: validate every row, derive its columns once, load with COPY — all or nothing.

The rows go through the same rules as one place written by the API (``derive.derived_fields`` for 专名/通名,
romanisation and the search and N7 keys; the township — else county — the location lies in for
``division_code``), but in bulk: derived fields are computed once per distinct name (in worker processes
when there are many), the rows are streamed into a temporary table with ``COPY`` and moved into ``places``
with one ``INSERT … SELECT`` that builds the geometry and finds the division in SQL.

Two halves: ``prepare`` checks the rows in Python only (no transaction open — the CLI holds none while it works)
and meanwhile has worker processes derive the names; ``load`` writes in the caller's transaction: it copies,
locates and checks the rows while the workers finish (the database's core and theirs overlap), then the names.
The division a point lies in is found set-wise against the divisions cut into small pieces (``ST_Subdivide``).
A large import into a table that is small next to it (``REBUILD_MIN_ROWS``, ``REBUILD_RATIO``) drops the
secondary indexes and the exclusion constraint of ``places`` and re-creates them after the insert, in the same
transaction, under an ACCESS EXCLUSIVE lock until commit (readers wait; none sees the table without them); the
re-added constraint is checked over every row (measured: scripts/bench/import_bench.py).

All or nothing: every row is checked before anything is written; if any row is bad the report lists each
error with its row number and reason, and ``places`` is untouched. The caller owns the transaction.

Audit (record time): up to ``AUDIT_ROWS_MAX`` rows the row trigger writes one audit row per place, as for
any other write. Above it (or with ``audit_mode="summary"``) the import writes one summary audit row instead —
who, why, source, valid_from, the count, the place_id ranges and the transaction time that every imported
row carries in ``created_at`` — and switches the row trigger off *inside the import transaction only*
(``ALTER TABLE … DISABLE TRIGGER`` is transactional; its lock keeps other writers of ``places`` waiting until
commit, so no other change can slip through unaudited; if the role may not alter the table the import falls
back to per-row audit). Measured (scripts/bench/search_bench.py): the per-row trail adds about half again to
the load time and ~1.6 kB of JSON per place that repeats the row itself (32.5 MB per 20,000 rows, ~1 GB for
the 620k villages); the summary keeps the trail honest — what, who, why, which rows — at a fixed cost.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, cast

import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis_api.audit import service as audit
from gis_api.places.derive import derived_fields

AuditMode = Literal["auto", "rows", "summary"]
AUDIT_ROWS_MAX = 50_000  # "auto": per-row audit up to this many rows, one summary row above
PARALLEL_MIN_NAMES = 20_000  # below this many distinct names, worker start-up costs more than it saves
STREAM_CHUNK = 10_000  # names per task sent to the workers while the file is still being read
COPY_BATCH = 50_000
COPY_READ = 1 << 20  # bytes per read of the COPY buffer (psycopg2's default 8 kB means many small calls)
ANALYZE_MIN_ROWS = 10_000
BULK_WORK_MEM = "256MB"  # for imports of ANALYZE_MIN_ROWS or more: GIN pending-list merges use work_mem
# Large imports drop the secondary indexes and re-create them in the same transaction (see _drop_indexes).
REBUILD_MIN_ROWS = 100_000
REBUILD_RATIO = 1.0  # … and only when the import has at least as many rows as the table
REBUILD_LOCK_TIMEOUT = "10s"  # waiting longer for readers to finish: keep the indexes, insert row by row
REBUILD_MAINTENANCE_MEM = "512MB"  # btree sorts and GiST sorted builds: the more the fewer passes
# GIN builds collect their keys in maintenance_work_mem and flush when it is full; a small buffer builds faster
# (its tree of keys stays in the CPU caches). search_keys, 620k villages, default collation: 20.5 s at 512MB,
# 9.0–10.4 s at 16–32MB (COLLATE "C": 14.7 s at 2GB, 7.6–7.9 s at 16–32MB); 4M names: 92 s at 512MB, 75 s at
# 16MB, 69 s at 64MB. 32MB is near the best at both sizes.
REBUILD_GIN_MEM = "32MB"
# Called after each load step with its name (the benchmark reads the backend's CPU time there); None in use.
PHASE_HOOK: Callable[[str, Session], None] | None = None
GEOMETRY_TYPES = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
DERIVED = ("zhuanming", "tongming", "romanized", "tongming_romanized", "search_keys", "pinyin", "initials",
           "grams", "dup_specific", "dup_pinyin", "dup_dialect")
ARRAYS = frozenset({"search_keys", "grams"})
_SEP = "\x1f"  # joins array elements in the COPY stream; names with control characters are refused
_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class PlaceRow:
    """One place to import. Location: ``lon``/``lat`` (numbers or numeric text) or ``wkt``."""

    name: str
    category_code: str
    lon: float | str | None = None
    lat: float | str | None = None
    wkt: str | None = None
    division_code: str | None = None
    romanized: str | None = None
    row: int | None = None  # row number in the source (CSV: line number); default the 1-based position


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str
    message_zh: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message, "message_zh": self.message_zh}


@dataclass
class ImportReport:
    rows_read: int = 0
    inserted: int = 0
    errors: list[RowError] = field(default_factory=list)
    divisions_derived: int = 0
    distinct_names: int = 0
    audit: str = "none"  # rows | summary | none (nothing written)
    place_id_ranges: list[tuple[int, int]] = field(default_factory=list)
    seconds: float = 0.0
    derive_seconds: float = 0.0
    load_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per load step (copy, locate, insert …)
    phases_cpu: dict[str, float] = field(default_factory=dict)  # this process's CPU seconds in each step
    indexes_rebuilt: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rows_per_s(self) -> float:
        return self.inserted / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "rows_read": self.rows_read, "inserted": self.inserted,
            "divisions_derived": self.divisions_derived, "distinct_names": self.distinct_names,
            "audit": self.audit, "place_id_ranges": [list(r) for r in self.place_id_ranges],
            "seconds": round(self.seconds, 3), "rows_per_s": round(self.rows_per_s, 1),
            "derive_seconds": round(self.derive_seconds, 3), "load_seconds": round(self.load_seconds, 3),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "phases_cpu": {k: round(v, 3) for k, v in self.phases_cpu.items()}, "indexes_rebuilt": self.indexes_rebuilt,
            "errors": [e.as_dict() for e in self.errors],
        }


# -- reading -----------------------------------------------------------------------------------------------

def read_csv(
    path: str | Path,
    name_field: str = "name",
    category_field: str | None = "category_code",
    lon_field: str | None = "lon",
    lat_field: str | None = "lat",
    *,
    wkt_field: str | None = None,
    division_field: str | None = None,
    romanized_field: str | None = None,
    default_category: str | None = None,
    encoding: str = "utf-8-sig",
    delimiter: str = ",",
) -> Iterator[PlaceRow]:
    """Rows of a CSV file as ``PlaceRow``; ``row`` is the line number, so errors point into the file.

    Values are passed on as text: the importer checks them and reports every bad row, instead of the reader
    stopping at the first one.
    """
    with Path(path).open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)  # rows as lists, fields by position (faster than dicts)
        header = next(reader, [])
        fields = (name_field, category_field, lon_field, lat_field, wkt_field, division_field, romanized_field)
        missing = [f for f in fields if f and f not in header]
        if missing:
            raise ValueError(f"{path}: no column(s) {', '.join(missing)}; columns are {header or None}")
        # The column of each field (the first of a repeated name, as DictReader gave the last: a header that
        # repeats a field is ambiguous either way); -1, a field not read, is the "" appended to every row.
        i_name, i_cat, i_lon, i_lat, i_wkt, i_div, i_rom = (header.index(f) if f else -1 for f in fields)
        width = len(header)
        for rec in reader:
            if not rec:  # a blank line: DictReader skipped these too
                continue
            if len(rec) < width:  # a short row lacks its last fields
                rec.extend([""] * (width - len(rec)))
            rec.append("")
            yield PlaceRow(
                name=rec[i_name].strip(),
                category_code=rec[i_cat].strip() or default_category or "",
                lon=rec[i_lon].strip() or None, lat=rec[i_lat].strip() or None, wkt=rec[i_wkt].strip() or None,
                division_code=rec[i_div].strip() or None, romanized=rec[i_rom].strip() or None,
                row=reader.line_num,
            )


# -- checking ----------------------------------------------------------------------------------------------

class _Checked(NamedTuple):  # a tuple: built once per row of a file, cheaper than a frozen dataclass
    row: int
    name: str
    category_code: str
    lon: float | None
    lat: float | None
    wkb: str | None
    division_code: str | None
    romanized: str | None


def _number(value: float | str | None) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def _check_row(r: PlaceRow, row_no: int, categories: set[str]) -> tuple[_Checked | None, list[RowError]]:
    errs: list[RowError] = []

    def err(field_: str, en: str, zh: str) -> None:
        errs.append(RowError(row_no, field_, en, zh))

    name = (r.name or "").strip()
    if not name:
        err("name", "name is empty", "名称为空")
    elif _CONTROL.search(name):
        err("name", "name contains control characters", "名称含有控制字符")
    cat = (r.category_code or "").strip()
    if cat not in categories:
        err("category_code", f"unknown category_code {cat!r}", f"未知的地名类别代码 {cat!r}")
    division = (r.division_code or "").strip() or None
    if division is not None and not _CODE.match(division):
        err("division_code", f"division_code {division!r} is not a 6, 9 or 12 digit code",
            f"行政区划代码 {division!r} 不是 6、9 或 12 位数字")
    lon = lat = None
    wkb = None
    if r.wkt and r.wkt.strip():
        try:
            geom = shapely.from_wkt(r.wkt.strip())
        except Exception as exc:  # shapely raises GEOSException subclasses with the parser's reason
            err("wkt", f"geometry text cannot be read: {exc}", f"几何文本无法解析：{exc}")
        else:
            if geom is None or geom.is_empty:
                err("wkt", "geometry is empty", "几何为空")
            elif geom.geom_type not in GEOMETRY_TYPES:
                err("wkt", f"geometry type {geom.geom_type} is not one of {', '.join(GEOMETRY_TYPES)}",
                    f"几何类型 {geom.geom_type} 不受支持")
            elif not geom.is_valid:
                reason = shapely.is_valid_reason(geom)
                err("wkt", f"geometry is not valid: {reason}", f"几何无效：{reason}")
            else:
                x1, y1, x2, y2 = geom.bounds
                if not (-180 <= x1 <= x2 <= 180 and -90 <= y1 <= y2 <= 90):
                    err("wkt", "coordinates are outside lon [-180, 180] / lat [-90, 90] (lon lat order)",
                        "坐标超出经度 [-180, 180]、纬度 [-90, 90] 范围（经度在前）")
                else:
                    wkb = shapely.to_wkb(shapely.force_2d(geom), hex=True)
    else:
        try:
            lon, lat = _number(r.lon), _number(r.lat)
        except (TypeError, ValueError):
            err("lon" if not _is_number(r.lon) else "lat",
                f"coordinates must be numbers, got lon={r.lon!r} lat={r.lat!r}",
                f"坐标须为数字，收到 经度={r.lon!r} 纬度={r.lat!r}")
        else:
            if (lon is None) != (lat is None):
                err("lon" if lon is None else "lat", "give both lon and lat", "经度和纬度须同时填写")
            elif lon is not None and lat is not None:
                if not (math.isfinite(lon) and -180 <= lon <= 180):
                    err("lon", f"longitude {lon} is outside [-180, 180]", f"经度 {lon} 超出 [-180, 180]")
                if not (math.isfinite(lat) and -90 <= lat <= 90):
                    err("lat", f"latitude {lat} is outside [-90, 90]", f"纬度 {lat} 超出 [-90, 90]")
            elif division is None:
                err("lon", "a place needs a location (lon/lat or wkt) or a division_code",
                    "地名须有位置（经纬度或几何）或所在行政区代码")
    if errs:
        return None, errs
    romanized = (r.romanized or "").strip() or None
    return _Checked(row_no, name, cat, lon, lat, wkb, division, romanized), []


def _is_number(value: float | str | None) -> bool:
    try:
        _number(value)
    except (TypeError, ValueError):
        return False
    return True


# -- deriving ----------------------------------------------------------------------------------------------

_Key = tuple[str, str, str | None]  # name, category_code, romanized override


def _derive_chunk(keys: Sequence[_Key], copy_lines: bool = False) -> list[tuple[_Key, tuple[Any, ...] | str]]:
    import gc

    out: list[tuple[_Key, tuple[Any, ...] | str]] = []
    # The cyclic GC paused while the results pile up: they and the romanisation caches are many containers that
    # every full collection walks again, and none is garbage (100k results held in one list: ~1/3 of the CPU;
    # for derive_all's chunks of ~23k the difference was within the noise, scripts/bench/derive_speed.py).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for key in keys:
            try:
                d = derived_fields(*key)
                fields = tuple(d[f] for f in DERIVED)
                # copy_lines: the fields as one line of the COPY stream, built here in the worker (in parallel,
                # and one string to send back instead of a tuple of eleven values and two lists).
                out.append((key, ("\t".join(map(_copy_text, fields)),) if copy_lines else fields))
            except Exception as exc:  # an odd name must become a row error, not abort the import
                out.append((key, f"{type(exc).__name__}: {exc}"))
    finally:
        if was_enabled:
            gc.enable()
    return out


class Derivation:
    """The derived fields of distinct names, computed while the caller goes on: in worker processes once there are
    ``PARALLEL_MIN_NAMES``, in chunks as the names arrive (``extend``: the file is still being read and checked),
    then while the importer copies, locates and checks its rows; ``result()`` waits for them. Few names are
    derived here, by ``finish()``.

    A value is the tuple of the ``DERIVED`` fields, or the reason the name cannot be derived (a ``str``). With
    ``spool`` (the importer) the fields are one tab-separated line of a COPY stream instead, which the workers
    write to files, read back by ``copy_chunks()``. ``close()`` stops the workers and removes their files
    (``result()`` and ``copy_chunks()`` do when they have them all).

    Starting the workers while the file is read, rather than after it, saved 1.5–3 s of the 620k villages'
    read → derived path (2 interleaved rounds each, load ~1.4; 61.2 s against 63.3 s in all, within the noise)."""

    def __init__(self, workers: int | None = None, spool: bool = False) -> None:
        self.keys: list[_Key] = []  # distinct, in the order given
        self.started = time.perf_counter()
        self.seconds = 0.0  # from the start until every result was in
        self.waited = 0.0  # time copy_chunks() spent waiting for the workers
        self._workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self._task = partial(_derive_chunk, copy_lines=spool)
        self._spool: str | None = "" if spool else None  # the workers' directory, made when they start
        self._submitted = 0  # keys[:_submitted] are with the workers
        self._result: dict[_Key, tuple[Any, ...] | str] | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[Any]] = []

    def extend(self, keys: Iterable[_Key]) -> None:
        """More keys, none given before."""
        self.keys.extend(keys)
        parallel = self._workers > 1 and len(self.keys) >= PARALLEL_MIN_NAMES
        if parallel and len(self.keys) - self._submitted >= STREAM_CHUNK:
            self._submit(STREAM_CHUNK)

    def finish(self) -> Derivation:
        """Every key is given: the rest to the workers, or all derived here if they are few."""
        if self._result is not None:
            return self
        if self._pool is None and (self._workers <= 1 or len(self.keys) < PARALLEL_MIN_NAMES):
            self._result = dict(self._task(self.keys))
            self.seconds = time.perf_counter() - self.started
        elif self._submitted < len(self.keys):  # all at once: chunks sized so that both workers end together
            self._submit(STREAM_CHUNK if self._pool else max(1000, len(self.keys) // (self._workers * 8)))
        return self

    def _submit(self, size: int) -> None:
        if self._pool is None:
            # fork when this process has one thread (the CLI, a script): cheap, and the main module need not be
            # importable; with other threads alive (a web server) a forked child could inherit a held lock: spawn.
            method = "fork" if threading.active_count() == 1 and "fork" in get_all_start_methods() else "spawn"
            if method == "fork":  # load the dictionaries once here; the forked workers share them (copy on write)
                _derive_chunk(self.keys[:1])
            if self._spool is not None:
                self._spool = tempfile.mkdtemp(prefix="diming-import-")
            self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=get_context(method))
        first, pending = self._submitted, self.keys[self._submitted:]
        self._submitted = len(self.keys)
        for i in range(0, len(pending), size):
            if self._spool:
                path = os.path.join(self._spool, f"{first + i}.copy")
                self._futures.append(self._pool.submit(_derive_to_file, pending[i:i + size], first + i, path))
            else:
                self._futures.append(self._pool.submit(self._task, pending[i:i + size]))

    def result(self) -> dict[_Key, tuple[Any, ...] | str]:
        """Every key's value (not with ``spool``: see ``copy_chunks``)."""
        self.finish()
        if self._result is None:
            import gc

            was_enabled = gc.isenabled()
            gc.disable()  # the results arriving are many containers and no garbage: 7.6 -> 1.9 s CPU, 371k names
            try:
                result: dict[_Key, tuple[Any, ...] | str] = {}
                for f in self._futures:
                    result.update(f.result())
            finally:
                if was_enabled:
                    gc.enable()
                self.close()
            self._result = result
            self.seconds = time.perf_counter() - self.started
        return self._result

    def copy_chunks(self) -> Iterator[tuple[IO[str], dict[_Key, str]]]:
        """The names as the text of a COPY — ``number<TAB>fields…`` lines, numbered in the order the keys were
        given — chunk by chunk as the workers finish them, each with its names that cannot be derived (and why).
        With ``spool`` the workers write that text to files and this process holds none of it: 8M names' results
        held in memory, as they arrive while the importer is busy with the rows, took ~6 GB. Once only."""
        self.finish()
        if self._result is not None:  # derived here: few names
            buf, bad = io.StringIO(), {}
            for i, (k, v) in enumerate(self._result.items()):
                if isinstance(v, str):
                    bad[k] = v
                else:
                    buf.write(f"{i}\t{v[0]}\n")
            buf.seek(0)
            yield buf, bad
            return
        try:
            for f in self._futures:
                t = time.perf_counter()
                path, failed = f.result()
                self.waited += time.perf_counter() - t
                with open(path, encoding="utf-8", newline="") as fh:
                    yield fh, dict(failed)
                os.unlink(path)
        finally:
            self.close()
        self.seconds = time.perf_counter() - self.started

    def close(self) -> None:
        """Stop the workers and remove their files."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._spool:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None


def _derive_to_file(keys: Sequence[_Key], first: int, path: str) -> tuple[str, list[tuple[_Key, str]]]:
    """A worker's task with ``spool``: the chunk's COPY lines (numbered from ``first``) to ``path``; returns the
    path and the names that cannot be derived, with the reason."""
    failed: list[tuple[_Key, str]] = []
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for i, (key, v) in enumerate(_derive_chunk(keys, copy_lines=True), start=first):
            if isinstance(v, str):
                failed.append((key, v))
            else:
                fh.write(f"{i}\t{v[0]}\n")
    return path, failed


def derive_all(keys: Sequence[_Key], workers: int | None = None) -> dict[_Key, tuple[Any, ...] | str]:
    """Derived fields per distinct (name, category, override), waiting for them (see ``Derivation``)."""
    derivation = Derivation(workers)
    derivation.extend(dict.fromkeys(keys))
    return derivation.result()


# -- loading -----------------------------------------------------------------------------------------------

_COPY_COLUMNS = ("row_no", "name", "category_code", "romanized_by", "lon", "lat", "wkb", "division_code", "name_id")
_NAME_COLUMNS = ("name_id", *DERIVED)
# The rows, and the derived columns once per distinct name (a file of 500k rows may have 3k distinct names).
_CREATE_STAGE = """
CREATE TEMP TABLE _place_import (
    row_no integer NOT NULL, name text NOT NULL, category_code text NOT NULL, romanized_by text NOT NULL,
    lon float8, lat float8, wkb text, division_code text, name_id integer NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE _place_import_names (
    name_id integer PRIMARY KEY,
    zhuanming text, tongming text, romanized text, tongming_romanized text, search_keys text, pinyin text,
    initials text, grams text, dup_specific text, dup_pinyin text, dup_dialect text
) ON COMMIT DROP"""
_TEMP_TABLES = ("pg_temp._place_import_located, pg_temp._place_import, pg_temp._place_import_names, "
                "pg_temp._place_import_divisions")

# The divisions that can hold a place (township, else county) on the date, cut into small pieces with an index:
# a point is tested against a piece of a few hundred vertices instead of de-TOASTing the whole polygon for
# every row (28 s → ~1 s for 620k points, same hits). The pieces cover their division exactly (edges included),
# so ST_Intersects with some piece ⇔ ST_Intersects with the division.
_DIVISION_PARTS = """
CREATE TEMP TABLE _place_import_divisions ON COMMIT DROP AS
SELECT d.code, d.level = 'township' AS township, ST_Subdivide(d.geom, 128) AS geom
FROM divisions d
WHERE d.level IN ('township', 'county') AND d.geom IS NOT NULL
  AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on)"""

# Geometry built in SQL, once per row (OFFSET 0 keeps the subquery from being flattened into the lateral); the
# division the location lies in (a township first, then the lowest code) by point-in-polygon against the pieces,
# one index probe per row. A point is its own point on surface (no GEOS call for the 500k points of a big file).
_LOCATE = """
CREATE TEMP TABLE _place_import_located ON COMMIT DROP AS
SELECT t.*, loc.code AS derived_division
FROM (SELECT t.*, CASE WHEN t.wkb IS NOT NULL THEN ST_SetSRID(ST_GeomFromWKB(decode(t.wkb, 'hex')), 4490)
                       WHEN t.lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4490) END AS geom
      FROM _place_import t OFFSET 0) t
LEFT JOIN LATERAL (
    SELECT p.code FROM _place_import_divisions p
    WHERE ST_Intersects(p.geom, CASE WHEN t.wkb IS NULL THEN t.geom ELSE ST_PointOnSurface(t.geom) END)
    ORDER BY NOT p.township, p.code LIMIT 1
) loc ON t.geom IS NOT NULL"""

# A stated division must be in force and agree with the location (as the API's resolve_division).
_CHECK_DIVISIONS = """
SELECT t.row_no, t.division_code, t.derived_division, s.name AS stated_name,
       (SELECT d.name FROM divisions d WHERE d.code = t.derived_division
          AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on) LIMIT 1) AS derived_name
FROM _place_import_located t
LEFT JOIN LATERAL (SELECT d.name FROM divisions d WHERE d.code = t.division_code
                     AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on) LIMIT 1) s ON true
WHERE t.division_code IS NOT NULL
  AND (s.name IS NULL
       OR (t.derived_division IS NOT NULL AND left(t.derived_division, length(t.division_code)) <> t.division_code
           AND left(t.division_code, length(t.derived_division)) <> t.derived_division))
ORDER BY t.row_no
LIMIT :max_errors"""

# This county's gazetteer holds its own names (G1), each in a division (§1.5), as places.service.locate says.
_CHECK_COUNTY = """
SELECT t.row_no, t.geom IS NOT NULL AS located, t.division_code FROM _place_import_located t
WHERE CASE WHEN t.geom IS NOT NULL THEN t.derived_division IS NULL OR t.derived_division NOT LIKE :county || '%'
           ELSE t.division_code IS NULL OR t.division_code NOT LIKE :county || '%' END
ORDER BY t.row_no
LIMIT :max_errors"""

_INSERT = """
WITH ins AS (
    INSERT INTO places (place_id, name, zhuanming, tongming, romanized, romanized_by, tongming_romanized,
                        category_code, scope_kind, geom, division_code, search_keys, pinyin, initials, grams,
                        dup_specific, dup_pinyin, dup_dialect, valid_from, source)
    SELECT s.* FROM (
        SELECT nextval('place_id_seq') AS place_id, s.* FROM (
            SELECT t.name, n.zhuanming, n.tongming, n.romanized, t.romanized_by, n.tongming_romanized,
                   t.category_code, c.scope_kind, t.geom,
                   CASE WHEN t.division_code IS NULL THEN t.derived_division
                        WHEN t.derived_division IS NULL OR NOT :check_divisions THEN t.division_code
                        WHEN length(t.division_code) >= length(t.derived_division) THEN t.division_code
                        ELSE t.derived_division END AS division_code,
                   string_to_array(n.search_keys, E'\\x1f'), n.pinyin, n.initials,
                   string_to_array(n.grams, E'\\x1f'), n.dup_specific, n.dup_pinyin, n.dup_dialect,
                   CAST(:valid_from AS date), CAST(:source AS text)
            FROM _place_import_located t JOIN place_categories c ON c.code = t.category_code
            JOIN _place_import_names n ON n.name_id = t.name_id
            ORDER BY t.row_no
            OFFSET 0
        ) s
    ) s
    -- written in division order, numbered in row order: a county's or township's rows share pages, so a
    -- search within it reads few of them (a county of 5,292 rows at 13M names: 1,389 buffers, not 5,301)
    ORDER BY s.division_code COLLATE "C", s.place_id
    RETURNING place_id, division_code
),
runs AS (SELECT place_id, place_id - row_number() OVER (ORDER BY place_id) AS grp FROM ins)
SELECT (SELECT count(*) FROM ins),
       (SELECT count(*) FROM _place_import_located WHERE division_code IS NULL AND derived_division IS NOT NULL),
       (SELECT coalesce(json_agg(json_build_array(lo, hi) ORDER BY lo), '[]'::json)::text
          FROM (SELECT min(place_id) AS lo, max(place_id) AS hi FROM runs GROUP BY grp) r),
       now()"""


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, list):
        value = _SEP.join(value)
    s = str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(session: Session, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
    buf = io.StringIO()
    count = 0
    for line in lines:
        buf.write(line)
        count += 1
        if count >= COPY_BATCH:
            buf.seek(0)
            _copy_file(session, table, columns, buf)
            buf, count = io.StringIO(), 0
    if count:
        buf.seek(0)
        _copy_file(session, table, columns, buf)


def _copy_file(session: Session, table: str, columns: Sequence[str], fh: IO[str]) -> None:
    """COPY the text of ``fh`` (tab-separated lines) into ``table``."""
    cursor = cast(Any, session.connection().connection).cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", fh, size=COPY_READ)
    finally:
        cursor.close()


def _disable_row_audit(session: Session) -> bool:
    """Switch the per-row audit trigger off for this transaction; False if we may not (not the owner)."""
    try:
        with session.begin_nested():
            session.execute(text("ALTER TABLE places DISABLE TRIGGER places_audit"))
        return True
    except DBAPIError:
        return False


# -- index rebuild for large imports -------------------------------------------------------------------------

# Every index of places except the primary key (new ids append to its right edge, cheaply) and any index a
# foreign key of another table depends on; with the constraint an index backs (the one-version-per-date
# exclusion), so that it is re-added — and re-checked over every row — by ALTER TABLE … ADD CONSTRAINT.
_INDEX_DEFS = """
SELECT quote_ident(ci.relname) AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef,
       quote_ident(c.conname) AS conname, pg_get_constraintdef(c.oid) AS condef,
       obj_description(i.indexrelid, 'pg_class') AS comment, am.amname AS method
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_am am ON am.oid = ci.relam
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x')
WHERE i.indrelid = 'places'::regclass AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
ORDER BY ci.relname"""


# The foreign keys of places (category_code → place_categories): checked per row by a trigger query on insert;
# re-added after a rebuild, when one anti-join checks every row at once.
_FOREIGN_KEYS = """
SELECT '' AS index_name, '' AS indexdef, quote_ident(c.conname) AS conname, pg_get_constraintdef(c.oid) AS condef,
       NULL AS comment, '' AS method
FROM pg_constraint c WHERE c.conrelid = 'places'::regclass AND c.contype = 'f' ORDER BY c.conname"""


@dataclass(frozen=True)
class _IndexDef:
    index_name: str
    indexdef: str
    conname: str | None
    condef: str | None
    comment: str | None
    method: str  # the index access method (btree, gin, gist); '' for a foreign key


def _rebuild_pays(session: Session, n: int) -> bool:
    """Dropping and re-creating the indexes pays when the import is large and at least as large as the table:
    a build costs about a third of maintaining the same rows one by one (measured: ~24 s vs ~70 s, 620k rows)."""
    if n < REBUILD_MIN_ROWS:
        return False
    table = session.execute(text(
        "SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint ELSE (SELECT count(*) FROM places) END "
        "FROM pg_class c WHERE c.oid = 'places'::regclass")).scalar_one()
    return n >= REBUILD_RATIO * int(table)


def _drop_indexes(session: Session) -> list[_IndexDef] | None:
    """Lock ``places`` (ACCESS EXCLUSIVE, until commit) and drop its secondary indexes and the exclusion
    constraint, in this transaction; their definitions to re-create them. None — nothing changed — if the lock
    is not granted within ``REBUILD_LOCK_TIMEOUT`` (long readers or writers) or the role may not drop them."""
    try:
        with session.begin_nested():  # lock_timeout and every drop are undone with the savepoint on failure
            old = session.execute(text("SELECT current_setting('lock_timeout'), set_config('lock_timeout', :v, true)"),
                                  {"v": REBUILD_LOCK_TIMEOUT}).one()[0]
            session.execute(text("LOCK TABLE places IN ACCESS EXCLUSIVE MODE"))
            defs = [_IndexDef(**r._mapping) for r in session.execute(text(_INDEX_DEFS))]
            defs += [_IndexDef(**r._mapping) for r in session.execute(text(_FOREIGN_KEYS))]
            for d in defs:
                if d.conname:
                    session.execute(text(f"ALTER TABLE places DROP CONSTRAINT {d.conname}"))
                else:
                    session.execute(text(f"DROP INDEX {d.index_name}"))
            session.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": old})
        return defs
    except DBAPIError:
        return None


def _create_indexes(session: Session, defs: Sequence[_IndexDef]) -> None:
    """Re-create what ``_drop_indexes`` dropped; ADD CONSTRAINT re-checks the exclusion and the foreign keys over
    every row.

    ``maintenance_work_mem`` is set for each build (``REBUILD_MAINTENANCE_MEM``, ``REBUILD_GIN_MEM``). The
    one-version-per-date exclusion is a GiST over one core ``box`` (migration 0017): built by insertion like the
    btree_gist + daterange index it replaced, but ~3× cheaper (620k rows: 2.3 s build, 5.7–8.9 s with the
    exclusion check, against 7.0 s / 12.5–15.8 s with ``buffering=on``), and buffering does not help it."""
    old = session.execute(text("SELECT current_setting('maintenance_work_mem')")).scalar_one()
    for d in defs:
        mem = REBUILD_GIN_MEM if d.method == "gin" else REBUILD_MAINTENANCE_MEM
        session.execute(text("SELECT set_config('maintenance_work_mem', :v, true)"), {"v": mem})
        if d.conname:
            session.execute(text(f"ALTER TABLE places ADD CONSTRAINT {d.conname} {d.condef}"))
        else:
            session.execute(text(d.indexdef))
        if d.comment is not None:
            session.execute(text(f"COMMENT ON INDEX {d.index_name} IS :c"), {"c": d.comment})
    session.execute(text("SELECT set_config('maintenance_work_mem', :v, true)"), {"v": old})


# -- the two halves: prepare (no database) and load (one transaction) ----------------------------------------

@dataclass
class Prepared:
    """Rows checked (in Python only: no database work, no transaction open) and their names being derived."""

    report: ImportReport
    checked: list[_Checked]
    derivation: Derivation | None  # None: the rows have errors, nothing to derive
    started: float
    name_ids: dict[_Key, int] = field(default_factory=dict)  # each distinct name's number, in derivation order

    def close(self) -> None:
        if self.derivation is not None:
            self.derivation.close()


def prepare(rows: Iterable[PlaceRow], categories: Iterable[str], *, workers: int | None = None,
            max_errors: int = 1000) -> Prepared:
    """Check every row, deriving the fields of every distinct name meanwhile (``load`` collects them: with many
    names the workers run on while ``load`` copies and locates the rows). ``report.errors`` lists bad rows."""
    t0 = time.perf_counter()
    report = ImportReport()
    cats = set(categories)
    checked: list[_Checked] = []
    derivation: Derivation | None = Derivation(workers, spool=True)
    seen: dict[_Key, int] = {}  # each distinct name and its number (the order the workers are given them)
    new: list[_Key] = []
    try:
        for i, r in enumerate(rows, start=1):
            report.rows_read += 1
            ok, errs = _check_row(r, r.row if r.row is not None else i, cats)
            if ok is not None:
                checked.append(ok)
                key = (ok.name, ok.category_code, ok.romanized)
                if key not in seen:
                    seen[key] = len(seen)
                    new.append(key)
                    if len(new) >= 1000 and derivation is not None:  # to the workers (none for a bad file)
                        derivation.extend(new)
                        new = []
            elif len(report.errors) < max_errors:
                report.errors.extend(errs[: max_errors - len(report.errors)])
            if report.errors and derivation is not None:
                derivation.close()
                derivation = None
    except BaseException:  # a file that cannot be read: no workers left behind
        if derivation is not None:
            derivation.close()
        raise

    report.distinct_names = len(seen)
    report.phases["read_check"] = time.perf_counter() - t0
    if derivation is not None:
        derivation.extend(new)
        derivation.finish()
    report.seconds = time.perf_counter() - t0
    return Prepared(report, checked, derivation, t0, seen)


def _derive_errors(report: ImportReport, checked: Sequence[_Checked], failed: dict[_Key, str],
                   max_errors: int) -> None:
    if not failed:  # the usual case: no need to look at every row (9M rows: ~1 s)
        return
    for c in checked:
        d = failed.get((c.name, c.category_code, c.romanized))
        if d is not None:
            report.errors.append(RowError(c.row, "name", f"cannot derive the name's fields: {d}",
                                          f"无法处理该名称：{d}"))
            if len(report.errors) >= max_errors:
                break


def import_places(
    session: Session,
    rows: Iterable[PlaceRow],
    *,
    actor: str,
    reason: str,
    source: str,
    valid_from: dt.date,
    audit_mode: AuditMode = "auto",
    divisions_on: dt.date | None = None,
    check_divisions: bool = True,
    workers: int | None = None,
    max_errors: int = 1000,
    categories: Iterable[str] | None = None,
    rebuild_indexes: bool | None = None,
) -> ImportReport:
    """Import ``rows`` into ``places`` in the caller's transaction; nothing is written if any row is bad.

    ``divisions_on``: the date whose divisions locate the places (default ``valid_from``, as the API does).
    ``check_divisions``: a stated ``division_code`` must be in force and agree with the location.
    ``categories``: the known category codes (read from the database if not given; re-checked on load).
    ``rebuild_indexes``: None — when it pays (``REBUILD_MIN_ROWS``, ``REBUILD_RATIO``); True/False — always/never.
    """
    if categories is None:
        categories = [str(c) for c in session.scalars(text("SELECT code FROM place_categories"))]
    prep = prepare(rows, categories, workers=workers, max_errors=max_errors)
    return load(session, prep, actor=actor, reason=reason, source=source, valid_from=valid_from,
                audit_mode=audit_mode, divisions_on=divisions_on, check_divisions=check_divisions,
                max_errors=max_errors, rebuild_indexes=rebuild_indexes)


def load(
    session: Session,
    prep: Prepared,
    *,
    actor: str,
    reason: str,
    source: str,
    valid_from: dt.date,
    audit_mode: AuditMode = "auto",
    divisions_on: dt.date | None = None,
    check_divisions: bool = True,
    max_errors: int = 1000,
    rebuild_indexes: bool | None = None,
) -> ImportReport:
    """Write prepared rows in the caller's transaction (the first statement opens it); nothing if any is bad.

    The rows are copied, located and checked while the names are still being derived (``prepare`` started
    that): the transaction is open only with work to do, and the database's core and the workers' overlap."""
    try:
        report, checked, derivation, t0 = prep.report, prep.checked, prep.derivation, prep.started
        on = divisions_on or valid_from
        if report.errors or not checked or derivation is None:
            report.seconds = time.perf_counter() - t0
            return report

        t2 = time.perf_counter()
        audit.set_context(session, actor, reason)
        big = len(checked) >= ANALYZE_MIN_ROWS
        if big:  # sorts (row order, place_id runs), hash joins, GIN pending-list merges: in memory, for this load only
            work_mem = session.execute(text("SELECT current_setting('work_mem'), set_config('work_mem', :v, true)"),
                                       {"v": BULK_WORK_MEM}).one()[0]
        session.execute(text(f"DROP TABLE IF EXISTS {_TEMP_TABLES}"))
        session.execute(text(_CREATE_STAGE))

        name_ids = prep.name_ids
        failed: dict[_Key, str] = {}  # names that cannot be derived, and why

        def lines() -> Iterator[str]:
            # One f-string per row (this loop runs 620k times for the villages): a name holds no control character
            # (refused by _check_row), so only a backslash needs escaping; division codes are digits, WKB is hex.
            by, null = _copy_text(actor), "\\N"
            cats: dict[str, str] = {}
            for c in checked:
                name = c.name.replace("\\", "\\\\") if "\\" in c.name else c.name
                cat = cats.get(c.category_code) or cats.setdefault(c.category_code, _copy_text(c.category_code))
                lon = null if c.lon is None else c.lon
                lat = null if c.lat is None else c.lat
                yield (f"{c.row}\t{name}\t{cat}\t{by if c.romanized else 'auto'}\t{lon}\t{lat}\t{c.wkb or null}\t"
                       f"{c.division_code or null}\t{name_ids[(c.name, c.category_code, c.romanized)]}\n")

        mark, cpu_mark = t2, time.process_time()

        def lap(name: str) -> None:
            nonlocal mark, cpu_mark
            now, cpu = time.perf_counter(), time.process_time()
            report.phases[name] = report.phases.get(name, 0.0) + now - mark
            report.phases_cpu[name] = report.phases_cpu.get(name, 0.0) + cpu - cpu_mark
            mark, cpu_mark = now, cpu
            if PHASE_HOOK is not None:
                PHASE_HOOK(name, session)

        _copy(session, "_place_import", _COPY_COLUMNS, lines())
        session.execute(text("ANALYZE _place_import"))
        lap("copy")
        # Categories were checked against a list read before the transaction (the CLI reads and derives first).
        for row in session.execute(text(
                "SELECT t.row_no, t.category_code FROM _place_import t WHERE NOT EXISTS "
                "(SELECT 1 FROM place_categories c WHERE c.code = t.category_code) ORDER BY t.row_no LIMIT :m"),
                {"m": max_errors}):
            report.errors.append(RowError(row.row_no, "category_code", f"unknown category_code {row.category_code!r}",
                                          f"未知的地名类别代码 {row.category_code!r}"))
        session.execute(text(_DIVISION_PARTS), {"on": on})
        session.execute(text("CREATE INDEX ON _place_import_divisions USING gist (geom)"))
        session.execute(text("ANALYZE _place_import_divisions"))
        session.execute(text(_LOCATE))
        lap("locate")
        if check_divisions:
            for row in session.execute(text(_CHECK_DIVISIONS), {"on": on, "max_errors": max_errors}):
                if row.stated_name is None:
                    report.errors.append(RowError(
                        row.row_no, "division_code", f"division_code {row.division_code} is not a division in force "
                        f"on {on.isoformat()}", f"所在行政区代码 {row.division_code} 在 {on.isoformat()} 时不存在"))
                else:
                    report.errors.append(RowError(
                        row.row_no, "division_code",
                        f"division_code {row.division_code} ({row.stated_name}) does not match the location, "
                        f"which lies in {row.derived_division} ({row.derived_name})",
                        f"所填行政区 {row.division_code}（{row.stated_name}）与位置不符：该地名位于 "
                        f"{row.derived_division}（{row.derived_name}）"))
            from gis_api.places.service import gazetteer_settings  # here: worker processes need not load it

            county = gazetteer_settings().county
            for row in session.execute(text(_CHECK_COUNTY), {"county": county, "max_errors": max_errors}):
                where = "the location" if row.located else f"division_code {row.division_code}"
                report.errors.append(RowError(
                    row.row_no, "geometry" if row.located else "division_code",
                    f"{where} lies outside county {county} (G1: this gazetteer holds the county's own names; §1.5: a "
                    "standard name needs its division)",
                    f"{'该位置' if row.located else f'行政区 {row.division_code} '}不在本县（{county}）行政区域内"
                    "（G1：本地名库只登记本县地名；§1.5：标准地名须有所在行政区）"))
        lap("check")
        if not report.errors:  # the names' fields, copied as the workers deliver them
            for chunk, bad in derivation.copy_chunks():
                _copy_file(session, "_place_import_names", _NAME_COLUMNS, chunk)
                failed.update(bad)
            report.derive_seconds = derivation.seconds
            report.phases["derive_wait"] = derivation.waited  # the wait for the workers is its own step
            mark += derivation.waited
            _derive_errors(report, checked, failed, max_errors)
            if not report.errors:
                session.execute(text("ANALYZE _place_import_names"))
            lap("copy_names")
        if report.errors:
            report.errors.sort(key=lambda e: e.row)
            del report.errors[max_errors:]
            session.execute(text(f"DROP TABLE {_TEMP_TABLES}"))
            if big:
                session.execute(text("SELECT set_config('work_mem', :v, true)"), {"v": work_mem})
            report.seconds = time.perf_counter() - t0
            return report

        mode = audit_mode if audit_mode != "auto" else ("rows" if len(checked) <= AUDIT_ROWS_MAX else "summary")
        rebuild = _rebuild_pays(session, len(checked)) if rebuild_indexes is None else rebuild_indexes
        index_defs = _drop_indexes(session) if rebuild else None
        lap("drop_indexes")
        if mode == "summary" and not _disable_row_audit(session):
            mode = "rows"
        params = {"valid_from": valid_from, "source": source, "check_divisions": check_divisions}
        stats = session.execute(text(_INSERT), params).one()
        lap("insert")
        if index_defs is not None:
            try:
                with session.begin_nested():
                    _create_indexes(session, index_defs)
            except DBAPIError as exc:  # e.g. the exclusion constraint: then nothing is kept (the caller rolls back)
                report.errors.append(RowError(0, "place_id", f"re-creating the indexes failed: {exc.orig}",
                                              f"重建索引失败：{exc.orig}"))
                report.seconds = time.perf_counter() - t0
                return report
            lap("indexes")
        report.inserted = int(stats[0])
        report.divisions_derived = int(stats[1])
        report.place_id_ranges = [(int(lo), int(hi)) for lo, hi in json.loads(stats[2])]
        if mode == "summary":
            session.execute(text("ALTER TABLE places ENABLE TRIGGER places_audit"))
            summary = {
                "import": {
                    "source": source, "valid_from": valid_from.isoformat(), "rows": report.inserted,
                    "divisions_derived": report.divisions_derived, "place_id_ranges": report.place_id_ranges,
                    "created_at": stats[3].isoformat(), "indexes_rebuilt": index_defs is not None,
                }
            }
            session.execute(
                text("INSERT INTO audit_log (actor, reason, action, table_name, entity_key, new) "
                     "VALUES (:actor, :reason, 'IMPORT', 'places', 'import', CAST(:new AS jsonb))"),
                {"actor": actor, "reason": reason, "new": json.dumps(summary, ensure_ascii=False)},
            )
        report.audit = mode
        report.indexes_rebuilt = index_defs is not None
        session.execute(text(f"DROP TABLE {_TEMP_TABLES}"))
        lap("audit")
        if report.inserted >= ANALYZE_MIN_ROWS:
            session.execute(text("ANALYZE places"))
            lap("analyze")
        if big:
            session.execute(text("SELECT set_config('work_mem', :v, true)"), {"v": work_mem})
        report.load_seconds = time.perf_counter() - t2
        report.seconds = time.perf_counter() - t0
        return report
    finally:
        prep.close()  # the workers, if an error or a refusal ended the load before their results were taken
