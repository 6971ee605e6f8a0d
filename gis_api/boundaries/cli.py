"""``diming boundaries …`` and ``diming import divisions``: boundaries on the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gis_api import clock
from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
from gis_api.divisions.models import Level
from gis_api.errors import DimingError
from gis_api.settings import Settings

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

ACTOR = "cli:boundaries"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def cmd_boundaries(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.boundaries import lines, markers, report, topology
    from gis_api.boundaries.demo import load_demo_boundaries
    from gis_api.boundaries.settings import load_boundary_settings

    bsettings = load_boundary_settings()
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    on = getattr(args, "date", None) or clock.today()
    with transaction(factory) as session:
        if args.action == "derive":
            rep = lines.derive(session, Level(args.level), on, args.actor, args.reason or f"derive {args.level} lines")
            out = rep.as_dict()
            print(f"{args.level} lines on {on}: {rep.lines} lines; created {len(rep.created)}, new versions "
                  f"{len(rep.new_versions)}, corrected {len(rep.corrected)}, closed {len(rep.closed)}, "
                  f"unchanged {rep.unchanged}")
            if args.verbose:
                _print(out)
            return 0
        if args.action == "validate":
            topo = topology.report(session, Level(args.level), on, bsettings, args.parent, with_geometry=False)
            _print(topo)
            return 0 if topo["valid"] else 1
        if args.action == "check-markers":
            result = markers.check(session, bsettings, on, line_id=args.line, tolerance_m=args.tolerance)
            _print(result)
            return 0 if not result["outliers"] else 1
        if args.action == "report":
            rep_data = report.build(session, bsettings, on, level=Level(args.level) if args.level else None,
                                    code=args.code or None, parent=args.parent)
            content = report.to_csv(rep_data) if args.format == "csv" else (
                report.to_html(rep_data) if args.format == "html" else json.dumps(rep_data, ensure_ascii=False))
            if args.output:
                Path(args.output).write_text(content, encoding="utf-8")
                print(f"{len(rep_data['lines'])} lines written to {args.output} "
                      f"(overdue: {len(rep_data['overdue'])})")
            else:
                sys.stdout.write(content)
            return 0
        if args.action == "load-demo":
            _print(load_demo_boundaries(session))
            return 0
    return 2


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.boundaries.settings import load_boundary_settings
    from gis_api.divisions.importer import ImportRejected, import_divisions

    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    try:
        with transaction(factory) as session:
            rep = import_divisions(
                session, Path(args.file), level=Level(args.level), code_field=args.code_field,
                name_field=args.name_field, parent_field=args.parent_field, kind_field=args.kind_field,
                kind=args.kind, crs=args.crs, gcj02=args.gcj02, valid_from=args.valid_from, source=args.source,
                layer=args.layer, existing=args.existing, actor=args.actor, reason=args.reason,
                settings=load_boundary_settings(), dry_run=args.dry_run,
            )
    except ImportRejected as exc:
        _print(exc.body())
        return 2
    except DimingError:
        raise
    _print(rep.as_dict())
    return 0


def _add_import(sub: SubParsers) -> None:
    """``import divisions``; joins an ``import`` command another area registered, if any."""
    existing = sub.choices.get("import") if hasattr(sub, "choices") else None
    if existing is not None:
        inner = next((a for a in existing._actions if isinstance(a, argparse._SubParsersAction)), None)
        if inner is None:
            return
        isub: SubParsers = inner
    else:
        p = sub.add_parser("import", help="import data files")
        isub = p.add_subparsers(dest="what", required=True)
    d = isub.add_parser(
        "divisions",
        help="import divisions from GeoJSON, GeoPackage or a zipped Shapefile (all or nothing)",
        description="Reads with pyogrio/GDAL; invalid geometry is repaired when safe or rejected with the reason.",
    )
    d.add_argument("file", help="GeoJSON, GeoPackage or zipped Shapefile")
    d.add_argument("--level", required=True, choices=[lv.value for lv in Level], help="level of every feature")
    d.add_argument("--code-field", required=True, help="attribute holding the division code")
    d.add_argument("--name-field", required=True, help="attribute holding the name")
    d.add_argument("--parent-field", help="attribute holding the parent code (default: from the code)")
    d.add_argument("--kind-field", help="attribute holding the kind (镇, 乡, 街道…)")
    d.add_argument("--kind", help="one kind for every feature (else guessed from the name)")
    crs = d.add_mutually_exclusive_group()
    crs.add_argument("--crs", help="EPSG:n when the file does not say (or says wrong)")
    crs.add_argument("--gcj02", action="store_true", help="coordinates are GCJ-02 (Amap/Tencent): convert")
    d.add_argument("--valid-from", type=_date, help="valid-time start (default today)")
    d.add_argument("--source", help="source label stored with every row")
    d.add_argument("--layer", help="layer name in a GeoPackage")
    d.add_argument("--existing", choices=["reject", "correct"], default="reject",
                   help="a code already registered: reject (default) or correct its geometry (record time)")
    d.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    d.add_argument("--actor", default="cli:import", help="who is recorded in the audit log")
    d.add_argument("--reason", help="why (recorded in the audit log)")
    d.set_defaults(handler=cmd_import)


def register(sub: SubParsers) -> None:
    p = sub.add_parser("boundaries", help="boundary lines, topology, markers, 平安边界 report")
    bsub = p.add_subparsers(dest="action", required=True)
    levels = [lv.value for lv in Level]

    d = bsub.add_parser("derive", help="derive the boundary lines of a level from its division polygons")
    d.add_argument("--level", required=True, choices=levels, help="division level whose lines are derived")
    d.add_argument("--date", type=_date, help="derive from the divisions in force on this date (default today)")
    d.add_argument("--reason", help="why (recorded in the audit log)")
    d.add_argument("--actor", default=ACTOR, help="who is recorded in the audit log")
    d.add_argument("--verbose", action="store_true", help="print every line created or changed")

    v = bsub.add_parser("validate", help="topology report: gaps, overlaps, children outside parent, slivers")
    v.add_argument("--level", required=True, choices=levels, help="division level to check")
    v.add_argument("--parent", help="only the children of this division code")
    v.add_argument("--date", type=_date, help="divisions in force on this date (default today)")

    c = bsub.add_parser("check-markers", help="markers farther than the tolerance from their line")
    c.add_argument("--line", help="only this boundary line id")
    c.add_argument("--tolerance", type=float, help="metres (default DIMING_MARKER_TOLERANCE_M)")
    c.add_argument("--date", type=_date, help="lines in force on this date (default today)")

    r = bsub.add_parser("report", help="平安边界 report (html, csv or json)")
    r.add_argument("--format", choices=["html", "csv", "json"], default="html", help="default html")
    r.add_argument("--output", "-o", help="file to write (default stdout)")
    r.add_argument("--level", default="county", choices=levels, help="level of the lines reported (default county)")
    r.add_argument("--code", default="340122", help="division whose lines are reported (default 340122)")
    r.add_argument("--parent", help="only lines between children of this division code")
    r.add_argument("--date", type=_date, help="as of this date (default today)")

    bsub.add_parser("load-demo", help="derive demo lines and place the synthetic markers (idempotent)")
    p.set_defaults(handler=cmd_boundaries)
    _add_import(sub)
