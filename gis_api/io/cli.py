"""``diming import places FILE`` and ``diming export COLLECTION FILE`` (progress bars on stderr)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm  # type: ignore[import-untyped]

from gis_api import progress
from gis_api.db import database_url, make_engine, make_sessionmaker
from gis_api.divisions.routes import _bbox
from gis_api.errors import InvalidInput
from gis_api.io import formats, service
from gis_api.limits import TooLarge
from gis_api.ogc.collections import all_collections, get
from gis_api.settings import Settings

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction


def _print(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=1, default=str))


# The CLI reads a file from the operator's own disk, not a request body: DIMING_LIMIT_IMPORT_MAX_FEATURES (a bound
# on one HTTP request) does not apply; this one (``--max-features``) keeps a wrong file from filling the memory
# (~1.5 kB per row held while the rows are checked and derived).
CLI_MAX_FEATURES = 20_000_000


def cmd_import_places(settings: Settings, args: argparse.Namespace) -> int:
    max_features = getattr(args, "max_features", None) or CLI_MAX_FEATURES
    opts = service.ImportOptions(
        actor=args.actor, reason=args.reason or f"import {Path(args.file).name}", fmt=args.format,
        encoding=args.encoding, layer=args.layer, crs=args.crs, category_code=args.category,
        lon_field=args.lon_field, lat_field=args.lat_field, wkt_field=args.wkt_field, source=args.source,
        valid_from=args.valid_from, engine=args.engine, key=getattr(args, "key", "id"), dry_run=args.dry_run,
        progress=progress.enabled(), own_session=True,
        limits=settings.limits.model_copy(update={"import_max_features": max_features}),
    )
    # No tqdm monitor thread: with this process single-threaded the derivation's workers are forked (cheap)
    # rather than spawned (each re-imports the code and re-loads the dictionaries).
    tqdm.monitor_interval = 0
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    session = factory()
    try:
        try:
            report = service.import_places(session, Path(args.file), opts)
        except TooLarge as exc:
            if exc.rule != "DIMING_LIMIT_IMPORT_MAX_FEATURES":
                raise
            raise TooLarge(f"the file has more than {max_features:,} rows (--max-features)",
                           f"文件行数超过上限 {max_features:,}（--max-features）", field="file",
                           rule="--max-features", extra={"limit": max_features}) from None
        if report.ok and not args.dry_run:
            session.commit()
        else:
            session.rollback()  # all or nothing
    finally:
        session.close()
    _print(report.as_dict())
    print(f"{'dry run: ' if args.dry_run else ''}inserted {report.inserted}, updated {report.updated}, "
          f"unchanged {report.unchanged}, conflicts {report.n_conflicts}, errors {len(report.errors)}",
          file=sys.stderr)
    # 2: rejected, nothing written; 3: written except the conflicting rows (edited since the export)
    return 2 if not report.ok else 3 if report.n_conflicts else 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    c = get(args.collection)
    if c is None:
        raise InvalidInput(f"no collection {args.collection!r}; collections: "
                           f"{', '.join(x.id for x in all_collections())}", f"不存在数据集 {args.collection!r}",
                           field="collection")
    out = Path(args.output)
    fmt = args.format or formats.guess_format(out.name)
    bbox = _bbox(args.bbox) if args.bbox else None
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    session = factory()
    try:
        data = service.export(session, c, fmt, as_of=args.as_of, bbox=bbox,
                              progress=progress.enabled())
    finally:
        session.rollback()
        session.close()
    out.write_bytes(data)
    print(f"{c.id} written to {out} ({fmt}, {len(data):,} bytes)")
    return 0


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _import_group(sub: SubParsers) -> SubParsers:
    """The ``import`` command's sub-commands, shared with other areas (``import divisions``)."""
    existing = sub.choices.get("import") if hasattr(sub, "choices") else None
    if existing is not None:
        inner = next((a for a in existing._actions if isinstance(a, argparse._SubParsersAction)), None)
        if inner is not None:
            return inner
    p = sub.add_parser("import", help="import data files")
    return p.add_subparsers(dest="what", required=True)


def register(sub: SubParsers) -> None:
    p = _import_group(sub).add_parser(
        "places", help="import place names (GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX register, GPX); "
                       "all or nothing, with a per-row report")
    p.add_argument("file", help="the file to import")
    p.add_argument("--format", choices=formats.FORMATS, help="default: from the file name")
    p.add_argument("--encoding", help="e.g. GBK for an old Shapefile or CSV")
    p.add_argument("--category", help="category code (or name) for rows without one, e.g. 242")
    p.add_argument("--crs", help="EPSG:n when the file does not say")
    p.add_argument("--layer", help="layer of a GeoPackage / GPX (default waypoints) / zipped Shapefile")
    p.add_argument("--lon-field", help="CSV/XLSX column with the longitude")
    p.add_argument("--lat-field", help="CSV/XLSX column with the latitude")
    p.add_argument("--wkt-field", help="CSV/XLSX column with WKT geometry")
    p.add_argument("--valid-from", type=_date, help="valid-time start of new rows (default today)")
    p.add_argument("--source", default="import", help="source label stored with every row (default import)")
    p.add_argument("--engine", choices=["auto", "service", "bulk"], default="auto",
                   help="service: row by row through the service; bulk: set-based for large files; auto picks")
    p.add_argument("--key", choices=list(service.KEYS), default="id",
                   help="how rows match existing places: id (default; the exported id, rows without one are new), "
                        "name+division_code, none (every row is new)")
    p.add_argument("--dry-run", action="store_true",
                   help="check every row and print inserted/updated/unchanged/conflicts; write nothing")
    p.add_argument("--max-features", type=int, default=CLI_MAX_FEATURES,
                   help=f"most rows in the file (default {CLI_MAX_FEATURES:,}; the HTTP limit "
                        "DIMING_LIMIT_IMPORT_MAX_FEATURES does not apply to the CLI)")
    p.add_argument("--actor", default="cli:import", help="who is recorded in the audit log")
    p.add_argument("--reason", help="why (recorded in the audit log; default: the file name)")
    p.set_defaults(handler=cmd_import_places)

    e = sub.add_parser("export", help="export a collection to GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX "
                                      "or GPX",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="collections:\n" + "\n".join(f"  {c.id:24} {c.title}" for c in all_collections()))
    e.add_argument("collection", help="collection id, e.g. places, townships")
    e.add_argument("output", help="file to write; the format follows the extension (.geojson .gpkg .zip .csv .xlsx "
                                  ".gpx)")
    e.add_argument("--format", choices=list(formats.EXPORT_FORMATS), help="default: from the output extension")
    e.add_argument("--as-of", type=_date, help="valid-time date (default today)")
    e.add_argument("--bbox", help="minlon,minlat,maxlon,maxlat")
    e.set_defaults(handler=cmd_export)
