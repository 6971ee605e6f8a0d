"""``diming romanize``, ``diming check-name`` and ``diming campaign``: the gazetteer on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
from gis_api.errors import DimingError
from gis_api.settings import Settings


def _parse_line(line: str) -> dict[str, Any]:
    text = line.strip()
    if not text.startswith("{"):
        return {"name": text}
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def cmd_romanize(_settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.places.romanize import romanize_lines

    for out in romanize_lines(sys.stdin, tones=args.tones):
        print(out)
    return 0


def cmd_check_name(settings: Settings, _args: argparse.Namespace) -> int:
    """One JSON object per input line, in order; 重 is checked against the gazetteer in the database."""
    from gis_api.places import checks

    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    session = factory()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                obj = _parse_line(line)
                result = checks.check(session, str(obj.get("name") or ""), category=obj.get("category"),
                                      division_code=obj.get("division_code"), attrs=obj.get("attrs"))
            except (ValueError, DimingError) as exc:
                message = exc.message if isinstance(exc, DimingError) else str(exc)
                result = {"name": line.strip(), "flags": [], "error": message}
            print(json.dumps(result, ensure_ascii=False), flush=True)
    finally:
        session.rollback()
        session.close()
    return 0


def cmd_campaign(settings: Settings, args: argparse.Namespace) -> int:
    from gis_api.places import checks

    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    with transaction(factory) as session:
        if args.action == "run":
            print(json.dumps(checks.run_campaign(session, args.actor, within=args.within), ensure_ascii=False))
            return 0
        rows = checks.rectification_rows(session, args.status)
    out = Path(args.output)
    if out.suffix == ".xlsx":
        out.write_bytes(checks.to_xlsx(rows))
    else:
        out.write_text(checks.to_csv(rows), encoding="utf-8")
    print(f"{len(rows)} flags written to {out}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("romanize", help="romanise names read one per line on stdin (GB/T 16159, RZ1–RZ9)")
    p.add_argument("--tones", action="store_true", help="add tone marks (RZ7)")
    p.set_defaults(handler=cmd_romanize)

    p = sub.add_parser(
        "check-name",
        help='大/洋/怪/重 checks: JSON objects {"name","category","division_code"} or bare names on stdin, '
             "one JSON result per line on stdout",
    )
    p.set_defaults(handler=cmd_check_name)

    p = sub.add_parser("campaign", help="the non-standard name campaign: run the checks, export the list")
    csub = p.add_subparsers(dest="action", required=True)
    run = csub.add_parser("run", help="check every name in force and keep new flags")
    run.add_argument("--within", help="division code: only names inside it (default the whole county)")
    run.add_argument("--actor", default="cli:campaign", help="who is recorded in the audit log")
    exp = csub.add_parser("export", help="write the rectification list (.csv or .xlsx)")
    exp.add_argument("output", help="file to write: .csv or .xlsx")
    exp.add_argument("--status", choices=["open", "renamed", "exempted", "retired"],
                     help="only flags in this state (default all)")
    p.set_defaults(handler=cmd_campaign)

    p = sub.add_parser("places", help="the gazetteer's stored data: re-derive keys and spellings under the current "
                                      "rules")
    psub = p.add_subparsers(dest="action", required=True)
    r = psub.add_parser(
        "rederive",
        help="after an upgrade that changed the romanisation rules or reading tables: re-write the search and "
             "duplicate keys of every place in force (no new version, one audit entry) and list the published "
             "spellings that would change",
    )
    r.add_argument("--actor", required=True, help="who is recorded in the audit log")
    r.add_argument("--reason", required=True, help="why, recorded in the audit log (and on each applied spelling)")
    r.add_argument("--dry-run", action="store_true", help="change nothing: count and list what would change")
    r.add_argument("--apply-romanized", action="store_true",
                   help="also write the listed spellings, each as a versioned, audited correction (officers' own "
                        "spellings are kept)")
    r.add_argument("--output", default="-",
                   help="where to list the places whose published spelling changes, old → new (default stdout; "
                        "the summary then goes to stderr)")
    r.add_argument("--format", choices=["csv", "json"], help="list format (default: json for a .json file, else csv)")
    r.add_argument("--batch-size", type=int, default=1000, help="rows per transaction (default 1000)")
    r.add_argument("--lock-timeout", default="2s",
                   help="how long a batch waits for locks before it is retried, then left for the next run "
                        "(default 2s)")
    p.set_defaults(handler=cmd_places)


def cmd_places(settings: Settings, args: argparse.Namespace) -> int:
    """``diming places rederive``: the stored keys and spellings under the current rules (places.rederive)."""
    from gis_api.places import rederive

    rederive.check_args(args.actor, args.reason)  # before connecting: a usage error costs nothing
    fmt = args.format or ("json" if str(args.output).endswith(".json") else "csv")
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    session = factory()
    try:
        report = rederive.rederive(session, actor=args.actor, reason=args.reason, dry_run=args.dry_run,
                                   apply_romanized=args.apply_romanized, batch_rows=args.batch_size,
                                   lock_timeout=args.lock_timeout)
    finally:
        session.rollback()
        session.close()
    listing = (rederive.spellings_json if fmt == "json" else rederive.spellings_csv)(report.spellings)
    summary = json.dumps(report.summary(), ensure_ascii=False)
    if args.output == "-":
        sys.stdout.write(listing)
        print(summary, file=sys.stderr)  # stdout carries the list only
    else:
        Path(args.output).write_text(listing, encoding="utf-8")
        print(summary)
    return 0 if report.complete else 1
