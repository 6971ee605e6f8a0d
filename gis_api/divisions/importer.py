"""``diming import divisions FILE``: import a set of divisions from GeoJSON, GeoPackage or a zipped Shapefile.

Files are read with pyogrio (GDAL bundled in its wheel). Coordinates are brought to CGCS2000 (EPSG:4490) in
PostGIS (``ST_Transform``) from the file's CRS or ``--crs EPSG:n``; ``--gcj02`` converts Amap/Tencent
coordinates with ``gis_api.geo.gcj02`` (never stored as such, domain.md §7). EPSG:4326 is taken as 4490
(equal at map scale). Invalid geometry is repaired when the repair is safe (``ST_MakeValid``, the area changes
by less than a set share) and rejected with GEOS's reason otherwise. All or nothing: one bad feature and no
feature is written; the report lists every problem with its feature number and field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.boundaries.settings import BoundarySettings
from gis_api.divisions import service
from gis_api.divisions.models import CODE_LENGTH, KINDS, PARENT_LEVEL, DivisionCode, Level
from gis_api.divisions.schemas import ChangeMode, DivisionCreate, DivisionUpdate
from gis_api.errors import DimingError, InvalidInput
from gis_api.geo.gcj02 import gcj02_to_wgs84_geometry
from gis_api.geo.geometry_input import LAT_RANGE, LON_RANGE

SAME_AS_4490 = {4326, 4490}
EPSG_RE = re.compile(r"^(?:EPSG:)?(\d{4,6})$", re.IGNORECASE)

CHECK_SQL = """
WITH src AS (
    SELECT i, ST_SetSRID(ST_GeomFromWKB(decode(w, 'hex')), :srid) AS g
    FROM unnest(CAST(:idx AS int[]), CAST(:wkb AS text[])) AS u(i, w)
), t AS (
    SELECT i, CASE WHEN :srid IN (4326, 4490) THEN ST_SetSRID(g, 4490) ELSE ST_Transform(g, 4490) END AS g FROM src
), v AS (
    SELECT i, g, ST_IsValid(g) AS ok, ST_IsValidReason(g) AS reason,
           CASE WHEN ST_Dimension(g) = 2 AND NOT ST_IsValid(g)
                THEN ST_Multi(ST_CollectionExtract(ST_MakeValid(g, 'method=structure'), 3)) END AS fixed
    FROM t
)
SELECT i, GeometryType(g) AS gtype, ok, reason, ST_XMin(g) AS x1, ST_YMin(g) AS y1, ST_XMax(g) AS x2,
       ST_YMax(g) AS y2, ST_IsEmpty(g) AS empty,
       abs(ST_Area(g)) AS area_before, CASE WHEN fixed IS NOT NULL THEN ST_Area(fixed) END AS area_after,
       CASE WHEN fixed IS NOT NULL AND NOT ST_IsEmpty(fixed) THEN ST_IsValid(fixed) END AS fixed_ok,
       ST_AsGeoJSON(CASE WHEN ok THEN (CASE WHEN GeometryType(g) = 'POLYGON' THEN ST_Multi(g) ELSE g END)
                         ELSE fixed END, 15) AS geojson
FROM v ORDER BY i
"""

NAME_KINDS = [("街道", "街道"), ("民族乡", "民族乡"), ("镇", "镇"), ("乡", "乡"), ("开发区", "开发区"),
              ("管理委员会", "开发区"), ("居民委员会", "居委会"), ("村民委员会", "村委会"), ("社区", "居委会"),
              ("村", "村委会"), ("园", "开发区"), ("自治县", "自治县"), ("县", "县"), ("区", "区"), ("市", "县级市")]


@dataclass
class ImportReport:
    file: str
    level: str
    features: int = 0
    created: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    repaired: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False
    crs: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "level": self.level, "crs": self.crs, "features": self.features,
                "written": self.written, "created": self.created, "corrected": self.corrected,
                "repaired": self.repaired, "errors": self.errors}


class ImportRejected(InvalidInput):
    """Nothing was written; ``extra['errors']`` lists every problem."""


def _srid(crs: str | None) -> int | None:
    if not crs:
        return None
    m = EPSG_RE.match(crs.strip())
    if m:
        return int(m.group(1))
    try:
        from pyproj import CRS

        epsg = CRS.from_user_input(crs).to_epsg()
    except Exception:
        return None
    return int(epsg) if epsg else None


def _guess_kind(level: Level, name: str) -> str | None:
    for suffix, kind in NAME_KINDS:
        matches = name.endswith(suffix) or (suffix in ("开发区", "管理委员会") and suffix in name)
        if matches and kind in KINDS[level]:
            return kind
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    out = str(value).strip()
    return out or None


def read_file(path: Path, layer: str | None) -> tuple[dict[str, Any], list[bytes | None], dict[str, list[Any]]]:
    import pyogrio.raw

    source = str(path)
    if path.suffix.lower() == ".zip" and not source.startswith("/vsizip/"):
        source = "/vsizip/" + str(path.resolve())
    try:
        meta, _fids, geometry, field_data = pyogrio.raw.read(source, layer=layer)
    except Exception as exc:  # GDAL reports unreadable files in several ways
        raise InvalidInput(f"cannot read {path.name}: {exc}", f"无法读取文件 {path.name}：{exc}",
                           field="file") from None
    names = [str(n) for n in meta["fields"]]
    fields = {n: list(field_data[i]) for i, n in enumerate(names)}
    return meta, list(geometry) if geometry is not None else [], fields


def import_divisions(
    session: Session, path: Path, *, level: Level, code_field: str, name_field: str,
    parent_field: str | None = None, kind_field: str | None = None, kind: str | None = None,
    crs: str | None = None, gcj02: bool = False, valid_from: dt.date | None = None, source: str | None = None,
    layer: str | None = None, existing: str = "reject", actor: str = "cli:import", reason: str | None = None,
    settings: BoundarySettings | None = None, dry_run: bool = False,
) -> ImportReport:
    settings = settings or BoundarySettings()
    if crs and gcj02:
        raise InvalidInput("give --crs or --gcj02, not both", "--crs 与 --gcj02 只能选一个", field="crs", rule="§7")
    meta, geometries, fields = read_file(path, layer)
    report = ImportReport(file=path.name, level=level.value, features=len(geometries))
    for f, flag in ((code_field, "code_field"), (name_field, "name_field"), (parent_field, "parent_field"),
                    (kind_field, "kind_field")):
        if f and f not in fields:
            raise InvalidInput(f"the file has no field {f!r}; it has {', '.join(fields)}",
                               f"文件中没有字段 {f!r}；现有字段：{'、'.join(fields)}", field=flag)
    if not geometries:
        raise InvalidInput(f"{path.name} has no features", f"文件 {path.name} 中没有要素", field="file")
    if gcj02:
        srid = 4490
        report.crs = "GCJ-02 → EPSG:4490"
    else:
        srid_opt = _srid(crs) if crs else _srid(meta.get("crs"))
        if srid_opt is None:
            raise InvalidInput(
                "the file does not say its coordinate system; give --crs EPSG:n (or --gcj02)",
                "文件未注明坐标系，请用 --crs 指定（如 --crs EPSG:4490，或 --gcj02）", field="crs", rule="§7")
        srid = srid_opt
        report.crs = f"EPSG:{srid}" + (" → EPSG:4490" if srid not in SAME_AS_4490 else "")
    errors = report.errors

    def err(i: int, code: str | None, field_: str, message: str, message_zh: str) -> None:
        errors.append({"feature": i + 1, "code": code, "field": field_, "message": message, "message_zh": message_zh})

    wkbs: list[str] = []
    idx: list[int] = []
    for i, g in enumerate(geometries):
        if g is None:
            err(i, _text(fields[code_field][i]), "geometry", "feature has no geometry", "要素没有几何")
            continue
        if gcj02:
            try:
                g = shapely.to_wkb(gcj02_to_wgs84_geometry(shapely.from_wkb(g)))
            except Exception as exc:
                err(i, _text(fields[code_field][i]), "geometry", f"cannot convert from GCJ-02: {exc}",
                    f"无法从 GCJ-02 转换：{exc}")
                continue
        wkbs.append(bytes(g).hex())
        idx.append(i)
    checked = {r["i"]: r for r in session.execute(
        text(CHECK_SQL), {"srid": srid, "idx": idx, "wkb": wkbs}).mappings().all()} if idx else {}

    allowed: tuple[str, ...] = ("POINT", "POLYGON", "MULTIPOLYGON") if level is Level.village else (
        "POLYGON", "MULTIPOLYGON")
    seen: set[str] = set()
    bodies: list[tuple[int, str, DivisionCreate, bool]] = []
    on = valid_from or clock.today()
    parent_level = PARENT_LEVEL.get(level)
    # Every code of the file already registered, in one query rather than one per feature.
    file_codes = {c for c in (_text(v) for v in fields[code_field]) if c is not None}
    registered_codes = {d.code: d for d in session.scalars(
        select(DivisionCode).where(DivisionCode.code.in_(file_codes)))} if file_codes else {}
    for i in range(len(geometries)):
        code = _text(fields[code_field][i])
        name = _text(fields[name_field][i])
        if code is None:
            err(i, None, code_field, "no code", "缺少代码")
            continue
        if not (code.isdigit() and len(code) == CODE_LENGTH[level]):
            err(i, code, code_field, f"code {code!r} of a {level.value} must be {CODE_LENGTH[level]} digits",
                f"代码 {code!r} 须为{CODE_LENGTH[level]}位数字")
            continue
        if code in seen:
            err(i, code, code_field, f"code {code} appears twice in the file", f"代码 {code} 在文件中重复")
            continue
        seen.add(code)
        if not name:
            err(i, code, name_field, "no name", "缺少名称")
            continue
        r = checked.get(i)
        if r is None:
            continue  # geometry error already recorded
        if r["empty"] or r["gtype"] not in allowed:
            err(i, code, "geometry", f"geometry is {r['gtype']}; a {level.value} needs {' or '.join(allowed)}",
                f"几何类型为 {r['gtype']}，应为 {'或'.join(allowed)}")
            continue
        if not (LON_RANGE[0] <= r["x1"] and r["x2"] <= LON_RANGE[1] and LAT_RANGE[0] <= r["y1"]
                and r["y2"] <= LAT_RANGE[1]):
            err(i, code, "geometry", f"coordinates ({r['x1']:.4f}, {r['y1']:.4f}) are not in China in lon/lat; "
                "is the CRS right?", "坐标不在中国境内（经纬度），请检查坐标系")
            continue
        if not r["ok"]:
            before, after = float(r["area_before"] or 0), float(r["area_after"] or 0)
            change = abs(after - before) / before if before > 0 else float("inf")
            if r["fixed_ok"] and after > 0 and change <= settings.repair_max_area_change:
                report.repaired.append({"feature": i + 1, "code": code, "reason": r["reason"],
                                        "area_change": round(change, 6)})
            else:
                why = "the repair would change the area by " + (
                    f"{change:.1%}" if change != float("inf") else "an undefined share (zero-area input)")
                err(i, code, "geometry", f"invalid geometry: {r['reason']}; not repaired: {why}",
                    f"几何无效：{r['reason']}；无法安全修复（面积变化过大）")
                continue
        parent = _text(fields[parent_field][i]) if parent_field else None
        if parent is None and parent_level is not None:
            parent = {Level.township: code[:6], Level.village: code[:9],
                      Level.county: code[:4] + "00", Level.prefecture: code[:2] + "0000"}[level]
        kind_value = (_text(fields[kind_field][i]) if kind_field else None) or kind or _guess_kind(level, name)
        if kind_value is None:
            err(i, code, kind_field or "kind", f"cannot tell the kind of {name}; give --kind or --kind-field",
                f"无法判断 {name} 的类型，请指定 --kind 或 --kind-field")
            continue
        registered = registered_codes.get(code)
        is_existing = registered is not None
        if registered is not None and (registered.retired_on is not None or existing != "correct"):
            retired = registered.retired_on is not None
            err(i, code, code_field,
                f"code {code} {'was retired; codes are never reused' if retired else 'exists'}"
                + ("" if retired else " (use --existing correct to correct its geometry)"),
                f"代码 {code} {'已停用，不得重复使用' if retired else '已存在（可用 --existing correct 更正其几何）'}")
            continue
        bodies.append((i, code, DivisionCreate(
            code=code, name=name, level=level, kind=kind_value, parent_code=parent,
            geometry=json.loads(r["geojson"]), source=source or f"import {path.name}", valid_from=on,
            reason=reason or f"import {path.name}",
        ), is_existing))
    if not errors and not dry_run:
        outer = session.begin_nested()
        for i, code, body, is_existing in bodies:
            inner = session.begin_nested()
            try:
                if is_existing:
                    service.update(session, code, DivisionUpdate(
                        mode=ChangeMode.correction, geometry=body.geometry, reason=body.reason), "*", actor)
                    report.corrected.append(code)
                else:
                    service.create(session, body, actor)
                    report.created.append(code)
                inner.commit()
            except DimingError as exc:
                inner.rollback()
                err(i, code, exc.field or "feature", exc.message, exc.message_zh)
        if errors:
            outer.rollback()
            report.created, report.corrected = [], []
        else:
            outer.commit()
            report.written = True
    if errors:
        raise ImportRejected(
            f"{len(errors)} problem(s) in {path.name}; nothing was imported",
            f"{path.name} 中有 {len(errors)} 处问题，未导入任何要素", field="file",
            extra={"errors": errors, "repaired": report.repaired, "features": report.features},
        )
    return report
