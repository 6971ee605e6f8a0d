"""Reading and writing feature files: GeoJSON, GeoPackage, (zipped) Shapefile, CSV, XLSX and GPX.

Files are read with pyogrio (GDAL in its wheel) or the standard library into plain records — a dict of
properties plus a shapely geometry in CGCS2000 lon/lat — and written from the same records. Coordinates in
another CRS (the file says so, or ``crs`` is given) are transformed to EPSG:4490 with pyproj. Shapefiles are
written in UTF-8 with a ``.cpg`` so GIS software reads the Chinese right; old ones in GBK are read with
``encoding="GBK"``.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer

from gis_api import limits as limits_mod
from gis_api.errors import DimingError, InvalidInput
from gis_api.io import safe_cells
from gis_api.limits import LimitSettings

FORMATS = ("geojson", "gpkg", "shp", "csv", "xlsx", "gpx")
MEDIA = {
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpx": "application/gpx+xml",
}
EXTENSION = {"geojson": "geojson", "gpkg": "gpkg", "shp": "zip", "csv": "csv", "xlsx": "xlsx", "gpx": "gpx"}
EXPORT_FORMATS = ("geojson", "gpkg", "shp", "csv", "xlsx", "gpx")
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何")


@dataclass
class Record:
    row: int  # 1-based position in the file (CSV/XLSX: the line/row number)
    props: dict[str, Any]
    geometry: Any = None  # shapely geometry in EPSG:4490 lon/lat, or None
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (field, message, message_zh)


def guess_format(name: str, explicit: str | None = None) -> str:
    if explicit:
        fmt = explicit.lower().lstrip(".")
        fmt = {"json": "geojson", "zip": "shp", "shapefile": "shp"}.get(fmt, fmt)
    else:
        lower = name.lower()
        ext = lower.rsplit(".", 1)[-1] if "." in lower else ""
        fmt = {"json": "geojson", "geojson": "geojson", "gpkg": "gpkg", "zip": "shp", "shp": "shp", "csv": "csv",
               "xlsx": "xlsx", "gpx": "gpx"}.get(ext, "")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown file format {explicit or name!r}; use one of {', '.join(FORMATS)}",
                           f"不支持的文件格式 {explicit or name!r}", field="format")
    return fmt


def _to_storage(crs_text: str | None) -> Transformer | None:
    """A transformer to EPSG:4490 lon/lat, or None when the data is lon/lat already (4490, 4326, CRS84)."""
    if not crs_text:
        return None
    crs = CRS.from_user_input(crs_text)
    if crs.is_geographic and (crs.to_epsg() in (4490, 4326, 4610, None) or "84" in crs.name):
        return None
    return Transformer.from_crs(crs, CRS.from_epsg(4490), always_xy=True)


def _reproject(geom: Any, tr: Transformer | None) -> Any:
    if geom is None or tr is None:
        return geom
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


# -- reading -----------------------------------------------------------------------------------------------

def _too_many_features(n: int | None, lim: LimitSettings) -> DimingError:
    what = f"the file's feature count ({n:,})" if n is not None else "the file's feature count"
    return limits_mod.too_large(what, "文件中的要素数", lim.import_max_features, "import_max_features", field="file")


def _from_ogr(path: str, layer: str | None, encoding: str | None, crs: str | None, start_row: int = 1,
              lim: LimitSettings | None = None) -> Iterator[Record]:
    lim = lim or limits_mod.defaults()
    # Count before reading: GDAL knows the feature count of a GeoPackage/Shapefile from its header.
    count = int(pyogrio.read_info(path, layer=layer, encoding=encoding).get("features", -1))
    if count > lim.import_max_features:
        raise _too_many_features(count, lim)
    meta, _fids, geometry, field_data = pyogrio.raw.read(path, layer=layer, encoding=encoding,
                                                         datetime_as_string=True,
                                                         max_features=lim.import_max_features + 1)
    tr = _to_storage(crs or meta.get("crs"))
    names = list(meta["fields"])
    for i in range(len(geometry) if geometry is not None else (len(field_data[0]) if field_data else 0)):
        props = {}
        for name, values in zip(names, field_data, strict=True):
            v = values[i]
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and v != v:  # NaN
                v = None
            props[name] = v
        geom = shapely.from_wkb(geometry[i]) if geometry is not None and geometry[i] is not None else None
        yield Record(start_row + i, props, _reproject(geom, tr))


def read(path: Path, fmt: str, *, encoding: str | None = None, layer: str | None = None, crs: str | None = None,
         lon_field: str | None = None, lat_field: str | None = None, wkt_field: str | None = None,
         limits: LimitSettings | None = None) -> Iterator[Record]:
    """Records of a file; geometry problems become the record's errors, never an exception mid-file.

    Bounded by ``limits`` (default ``DIMING_LIMIT_*``): archives are checked before anything is extracted, the
    feature count before or while reading, the vertices of every geometry.
    """
    lim = limits or limits_mod.defaults()
    for n, rec in enumerate(_read(path, fmt, encoding, layer, crs, lon_field, lat_field, wkt_field, lim), 1):
        if n > lim.import_max_features:
            raise _too_many_features(None, lim)
        if rec.geometry is not None and shapely.get_num_coordinates(rec.geometry) > lim.geometry_max_vertices:
            env = "DIMING_LIMIT_GEOMETRY_MAX_VERTICES"
            rec.errors.append(("geometry", f"the geometry has more than {lim.geometry_max_vertices:,} vertices ({env})",
                               f"几何顶点数超过上限 {lim.geometry_max_vertices:,}（{env}）"))
            rec.geometry = None
        yield rec


def _read(path: Path, fmt: str, encoding: str | None, layer: str | None, crs: str | None, lon_field: str | None,
          lat_field: str | None, wkt_field: str | None, lim: LimitSettings) -> Iterator[Record]:
    if fmt == "geojson":
        doc = json.loads(path.read_bytes().decode(encoding or "utf-8-sig"))
        feats = doc.get("features", []) if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else (
            [doc] if isinstance(doc, dict) and doc.get("type") == "Feature" else None)
        if feats is None:
            raise InvalidInput("the file is not a GeoJSON FeatureCollection or Feature", "文件不是 GeoJSON 要素集合",
                               field="file")
        if len(feats) > lim.import_max_features:
            raise _too_many_features(len(feats), lim)
        tr = _to_storage(crs)
        for i, f in enumerate(feats, start=1):
            rec = Record(i, dict(f.get("properties") or {}))
            if f.get("id") is not None and "id" not in rec.props:  # the feature id: the key of a re-import
                rec.props["id"] = f["id"]
            if f.get("geometry"):
                try:  # vertices and ring closure before shapely (which would close an open ring silently)
                    limits_mod.check_geojson_geometry(f["geometry"], max_vertices=lim.geometry_max_vertices)
                    rec.geometry = _reproject(shapely.geometry.shape(f["geometry"]), tr)
                except DimingError as exc:
                    rec.errors.append(("geometry", exc.message, exc.message_zh))
                except Exception as exc:  # shapely raises several types for malformed GeoJSON
                    rec.errors.append(("geometry", f"geometry is not valid GeoJSON: {exc}",
                                       f"几何不是有效的 GeoJSON：{exc}"))
            yield rec
    elif fmt in ("gpkg", "gpx"):
        yield from _from_ogr(str(path), layer or ("waypoints" if fmt == "gpx" else None), encoding, crs, 1, lim)
    elif fmt == "shp":
        if path.suffix.lower() == ".zip":
            # Sizes, ratio, member count and paths are checked from the central directory first; the members are
            # then extracted counting real bytes (GDAL's /vsizip/ would trust the archive).
            with tempfile.TemporaryDirectory() as tmp:
                files = limits_mod.safe_extract(path, Path(tmp), lim)
                layers = sorted(f for f in files if f.suffix.lower() == ".shp")
                if not layers:
                    raise InvalidInput("the zip holds no .shp file", "压缩包中没有 .shp 文件", field="file")
                start = 1
                for shp in layers if layer is None else [f for f in layers if f.stem == layer]:
                    recs = list(_from_ogr(str(shp), None, encoding, crs, start, lim))
                    start += len(recs)
                    yield from recs
        else:
            yield from _from_ogr(str(path), None, encoding, crs, 1, lim)
    elif fmt == "csv":
        _csv_count(path, encoding or "utf-8-sig", lim)
        yield from _read_table(_csv_rows(path, encoding or "utf-8-sig"), crs, lon_field, lat_field, wkt_field, 2)
    elif fmt == "xlsx":
        limits_mod.check_zip(path, lim)  # an XLSX is a zip: the same bomb checks before openpyxl inflates it
        yield from _read_table(_xlsx_rows(path, lim), crs, lon_field, lat_field, wkt_field, 2)


def _csv_count(path: Path, encoding: str, lim: LimitSettings) -> None:
    """Refuse a CSV with too many rows before building any record (csv.reader counts quoted newlines right)."""
    with path.open(encoding=encoding, newline="") as fh:
        n = 0
        for row in csv.reader(fh):
            n += bool(row)  # DictReader skips blank lines too
            if n > lim.import_max_features + 1:  # + the header
                raise _too_many_features(None, lim)


def _csv_rows(path: Path, encoding: str) -> Iterator[dict[str, Any]]:
    with path.open(encoding=encoding, newline="") as fh:
        for row in csv.DictReader(fh):
            # Undo exactly the formula escaping our exports add (safe_cells), so a re-import sees stored text.
            yield {k: safe_cells.csv_unescape(v) if isinstance(v, str) else v for k, v in row.items()}


def _xlsx_rows(path: Path, lim: LimitSettings) -> Iterator[dict[str, Any]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    for i, values in enumerate(rows, 1):
        if i > lim.import_max_features:  # blank rows count too: a sheet of a million empty rows is no register
            raise _too_many_features(None, lim)
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        yield {h: v for h, v in zip(header, values, strict=False) if h}
    wb.close()


def _pick(props: dict[str, Any], explicit: str | None, names: tuple[str, ...]) -> str | None:
    if explicit:
        return explicit if explicit in props else None
    lower = {k.lower(): k for k in props}
    return next((lower[n] for n in names if n in lower), None)


TABLE_BATCH = 10_000  # rows whose points are built (and reprojected) in one vectorised call


def _read_table(rows: Iterable[dict[str, Any]], crs: str | None, lon_field: str | None, lat_field: str | None,
                wkt_field: str | None, first_row: int) -> Iterator[Record]:
    tr = _to_storage(crs)
    picks: dict[tuple[str, ...], tuple[str | None, str | None, str | None]] = {}  # the columns, once per header
    batch: list[Record] = []
    points: list[tuple[Record, float, float]] = []

    def flush() -> Iterator[Record]:
        if points:
            xy = np.array([(x, y) for _r, x, y in points], dtype="float64")
            if tr is not None:
                xy = np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
            for (rec, _x, _y), geom in zip(points, shapely.points(xy), strict=True):
                rec.geometry = geom
            points.clear()
        yield from batch
        batch.clear()

    for i, raw in enumerate(rows, start=first_row):
        props: dict[str, Any] = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in raw.items()}
        rec = Record(i, props)
        key = tuple(props)
        if key not in picks:
            picks[key] = (_pick(props, wkt_field, WKT_NAMES), _pick(props, lon_field, LON_NAMES),
                          _pick(props, lat_field, LAT_NAMES))
        wkt_key, lon_key, lat_key = picks[key]
        try:
            if wkt_key and props.get(wkt_key):
                rec.geometry = _reproject(shapely.from_wkt(str(props.pop(wkt_key))), tr)
            elif lon_key and lat_key and (props.get(lon_key) is not None or props.get(lat_key) is not None):
                lon, lat = float(props.pop(lon_key)), float(props.pop(lat_key))
                points.append((rec, lon, lat))
            for k in (wkt_key, lon_key, lat_key):
                props.pop(k or "", None)
        except (TypeError, ValueError, shapely.errors.GEOSException) as exc:
            rec.errors.append(("geometry", f"location cannot be read: {exc}", f"位置无法解析：{exc}"))
        batch.append(rec)
        if len(batch) >= TABLE_BATCH:
            yield from flush()
    yield from flush()


# -- writing -----------------------------------------------------------------------------------------------

def _short_names(names: list[str], width: int = 10) -> dict[str, str]:
    """DBF field names (≤ 10 bytes), unique and stable: name[:10], else name[:8] + a two-digit counter."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        short = n[:width]
        k = 1
        while short.lower() in used:
            short = f"{n[:width - 2]}{k:02d}"
            k += 1
        used.add(short.lower())
        out[n] = short
    return out


def _column(values: list[Any], t: str) -> tuple[np.ndarray, np.ndarray | None]:
    """One typed column and its null mask: integers as 32-bit Integer (64-bit only when a value needs it), dates
    as Date, numbers as Real — so GIS software types the fields instead of reading years and counts as Real and
    dates as String."""
    mask = np.array([v is None for v in values], dtype=bool)
    nulls = mask if mask.any() else None
    if t == "integer":
        ints = [0 if v is None else int(float(v)) for v in values]
        wide = any(not -2**31 <= i < 2**31 for i in ints)
        return np.array(ints, dtype="int64" if wide else "int32"), nulls
    if t == "number":
        return np.array([np.nan if v is None else float(v) for v in values], dtype="float64"), nulls
    if t == "date":
        return np.array([None if v is None else str(v)[:10] for v in values], dtype="datetime64[D]"), None
    return np.array([None if v is None else str(v) for v in values], dtype=object), None


def _columns(records: list[Record], names: list[str], types: Mapping[str, str]
             ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    arrays, masks = [], []
    for n in names:
        a, m = _column([r.props.get(n) for r in records], types.get(n, "string"))
        arrays.append(a)
        masks.append(m)
    return arrays, masks


def shapefile_fields(names: list[str]) -> dict[str, str]:
    """DBF field name (≤ 10 bytes) → the full property name, as ``write_ogr`` shortens them (for imports)."""
    return {short: n for n, short in _short_names(names).items()}


# GeoPackage 1.2: what GDAL 3.6 (Debian) and QGIS 3.22 read without "may only be partially supported"; the
# GDAL in the pyogrio wheel would write 1.4 by default.
GPKG_VERSION = "1.2"

_SHP_KIND = {"Point": "Point", "MultiPoint": "Point", "LineString": "Line", "MultiLineString": "Line",
             "Polygon": "Polygon", "MultiPolygon": "Polygon"}
_OGR_TYPE = {"Point": "Point", "Line": "MultiLineString", "Polygon": "MultiPolygon"}


def write_ogr(records: list[Record], names: list[str], types: Mapping[str, str], fmt: str, layer: str) -> bytes:
    """A GeoPackage, or a zip of Shapefiles (one per geometry kind, UTF-8 with .cpg), as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "gpkg":
            target = Path(tmp) / f"{layer}.gpkg"
            geoms = np.array([shapely.to_wkb(r.geometry) if r.geometry is not None else None for r in records],
                             dtype=object)
            arrays, masks = _columns(records, names, types)
            pyogrio.raw.write(str(target), geoms, arrays, names, field_mask=masks, layer=layer, driver="GPKG",
                              geometry_type="Unknown", crs="EPSG:4490", encoding="UTF-8",
                              dataset_options={"VERSION": GPKG_VERSION})
            return target.read_bytes()
        short = _short_names(names)
        groups: dict[str, list[Record]] = {}
        for r in records:
            kind = _SHP_KIND.get(r.geometry.geom_type, "Point") if r.geometry is not None else "Point"
            groups.setdefault(kind, []).append(r)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for kind, group in groups.items():
                name = layer if len(groups) == 1 else f"{layer}_{kind.lower()}"
                target = Path(tmp) / f"{name}.shp"
                multi = kind != "Point"
                geoms = np.array([
                    None if r.geometry is None else shapely.to_wkb(
                        shapely.MultiLineString([r.geometry]) if multi and r.geometry.geom_type == "LineString" else
                        shapely.MultiPolygon([r.geometry]) if multi and r.geometry.geom_type == "Polygon" else
                        r.geometry)
                    for r in group], dtype=object)
                arrays, masks = _columns(group, names, types)
                pyogrio.raw.write(str(target), geoms, arrays, [short[n] for n in names], field_mask=masks,
                                  driver="ESRI Shapefile",
                                  geometry_type=_OGR_TYPE[kind], crs="EPSG:4490", encoding="UTF-8")
                for f in sorted(Path(tmp).glob(f"{name}.*")):
                    z.write(f, f.name)
        return buf.getvalue()


def write_csv(records: list[Record], names: list[str], heading: Callable[[str], str] | None = None) -> bytes:
    """CSV in UTF-8 with a BOM (Excel opens it right): lon/lat for points, WKT for other geometry. Text that a
    spreadsheet would run as a formula is escaped (``safe_cells``). ``heading`` turns a column name into the
    heading people read (labelled exports, ``gis_api.labels``); the import reads either back."""
    points = all(r.geometry is None or r.geometry.geom_type == "Point" for r in records)

    def rows() -> Iterator[list[Any]]:
        for r in records:
            vals = [r.props.get(n) for n in names]
            if points:
                g = r.geometry
                # Decimal keeps the 7 decimals and is written as a bare number.
                vals += [Decimal(f"{g.x:.7f}"), Decimal(f"{g.y:.7f}")] if g is not None else [None, None]
            else:
                vals.append(shapely.to_wkt(r.geometry, rounding_precision=7) if r.geometry is not None else None)
            yield vals

    columns = [*names, *(["lon", "lat"] if points else ["wkt"])]
    return safe_cells.csv_text([heading(n) for n in columns] if heading else columns, rows()).encode("utf-8")


def write_xlsx(header: list[str], rows: Iterable[list[Any]], title: str) -> bytes:
    """One sheet; formula-like text is written as string cells, never formulas (``safe_cells``)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.append(safe_cells.xlsx_row(ws, header))
    for row in rows:
        ws.append(safe_cells.xlsx_row(ws, row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- GPX ---------------------------------------------------------------------------------------------------

_GPX_NS = "http://www.topografix.com/GPX/1/1"
GPX_STANDARD = ("name", "desc", "ele")


def _gpx_layer(path: Path, layer: str, geom_type: str, records: list[Record], names: list[str],
               types: Mapping[str, str]) -> None:
    geoms = np.array([shapely.to_wkb(r.geometry) for r in records], dtype=object)
    arrays, masks = _columns(records, names, types)
    # GDAL's GPX driver writes the XML (escaping names); other properties go into <extensions> as ogr:field.
    pyogrio.raw.write(str(path), geoms, arrays, names, field_mask=masks, layer=layer, driver="GPX",
                      geometry_type=geom_type, crs="EPSG:4326", encoding="UTF-8",
                      dataset_options={"GPX_USE_EXTENSIONS": "YES"})


def write_gpx(records: list[Record], names: list[str], types: Mapping[str, str]) -> tuple[bytes, dict[str, int]]:
    """GPX 1.1: points as waypoints, lines as tracks, polygons as tracks of their rings (``shape`` says
    ``polygon outline``); features without geometry are left out. Returns the document and the counts.

    ``records`` carry GPX's ``name``/``desc``/``ele`` first in ``names``; CGCS2000 lon/lat is written as the
    WGS 84 GPX requires (the two differ by centimetres)."""
    import xml.etree.ElementTree as ET

    points: list[Record] = []
    lines: list[Record] = []
    for r in records:
        g = r.geometry
        if g is None or g.is_empty:
            continue
        if g.geom_type == "Point":
            points.append(r)
        elif g.geom_type == "MultiPoint":
            points.extend(Record(r.row, r.props, p) for p in g.geoms)
        elif g.geom_type in ("LineString", "MultiLineString"):
            lines.append(Record(r.row, {**r.props, "shape": "line"}, shapely.MultiLineString(
                [g] if g.geom_type == "LineString" else list(g.geoms))))
        elif g.geom_type in ("Polygon", "MultiPolygon"):
            rings = [ring for poly in (g.geoms if g.geom_type == "MultiPolygon" else [g])
                     for ring in (poly.exterior, *poly.interiors)]
            lines.append(Record(r.row, {**r.props, "shape": "polygon outline"}, shapely.MultiLineString(rings)))
    counts = {"waypoints": len(points), "tracks": len(lines),
              "skipped": sum(1 for r in records if r.geometry is None or r.geometry.is_empty)}
    ET.register_namespace("", _GPX_NS)
    ET.register_namespace("ogr", "http://osgeo.org/gdal")
    ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
    with tempfile.TemporaryDirectory() as tmp:
        docs = []
        if points or not lines:
            _gpx_layer(Path(tmp) / "w.gpx", "waypoints", "Point", points, names, types)
            docs.append(ET.parse(Path(tmp) / "w.gpx").getroot())
        if lines:
            _gpx_layer(Path(tmp) / "t.gpx", "tracks", "MultiLineString", lines, [*names, "shape"], types)
            docs.append(ET.parse(Path(tmp) / "t.gpx").getroot())
    root = docs[0]
    if len(docs) == 2:  # one document: the tracks follow the waypoints (GPX's element order)
        root.extend(el for el in docs[1] if el.tag != f"{{{_GPX_NS}}}metadata")
        bounds = root.find(f"{{{_GPX_NS}}}metadata/{{{_GPX_NS}}}bounds")
        if bounds is not None:
            x1, y1, x2, y2 = shapely.GeometryCollection([r.geometry for r in points + lines]).bounds
            bounds.attrib.update(minlon=f"{x1:.7f}", minlat=f"{y1:.7f}", maxlon=f"{x2:.7f}", maxlat=f"{y2:.7f}")
    # The note a reader of the file sees: what became of polygons and of features without geometry.
    meta = root.find(f"{{{_GPX_NS}}}metadata")
    if meta is None:
        meta = ET.Element(f"{{{_GPX_NS}}}metadata")
        root.insert(0, meta)
    desc = ET.Element(f"{{{_GPX_NS}}}desc")
    desc.text = (f"{counts['waypoints']} waypoints, {counts['tracks']} tracks (polygons as the tracks of their rings, "
                 f"ogr:shape = polygon outline); {counts['skipped']} features without geometry left out")
    meta.insert(0, desc)  # GPX 1.1: desc comes before bounds
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), counts
