#!/usr/bin/env python3
"""Coverage benchmarks with baselines in the same run (design.md: figures and ratios, never assertions).

1. Radius coverage, 620,000 demand points × 2,000 facilities (5 km, geodesic): the engine (``engine.pairs`` in a
   session set up as the service sets it up: ``temp_buffers`` raised) against the previous exact method (its SQL
   is kept here, run in a session with the default ``temp_buffers``), same random points in both sessions,
   interleaved rounds (old, new, old, new …) with the load average and the backend CPU per round, medians,
   spreads and the ratio; every round checks that both give the same pairs and the same distances (md5 over
   every (demand, supply, distance)). ``--baselines`` adds (a) a naive geography join with no index prefilter,
   timed on a 1 % sample and scaled up, and (b) a vectorised NumPy haversine brute force over every pair.
2. MCLP, 1,000 candidates × 20,000 demand points (3 km, k = 20): coverage matrix in SQL, then PuLP/CBC on the
   merged model (identical covering sets merged) against the unmerged model and the greedy heuristic.

Synthetic random points (fixed seeds) over an Anhui-sized box; everything happens in temporary tables inside
one transaction that is rolled back. Uses DIMING_DATABASE_URL or the embedded cluster.

    .venv/bin/python scripts/bench/coverage_bench.py [--repeat 3] [--quick] [--baselines] [--skip-mclp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gis_api.coverage import engine, optimize  # noqa: E402
from gis_api.db import database_url, make_engine, make_sessionmaker  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

BOX = (115.3, 29.4, 119.6, 34.6)  # lon/lat, about Anhui
SMALL_BOX = (117.2, 31.6, 117.9, 32.3)  # about Feidong


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def random_points(session: Session, table: str, n: int, box: tuple[float, float, float, float], seed: float,
                  weights: bool) -> None:
    session.execute(text("SELECT setseed(:s)"), {"s": seed})
    session.execute(text(f"DROP TABLE IF EXISTS pg_temp.{table}"))
    cols = ("i::int AS id, 'P' || i AS code, NULL::text AS name, NULL::text AS township, "
            "(100 + floor(random() * 4900))::float8 AS weight, ") if weights else \
           "i::int AS id, 'C' || i AS code, NULL::text AS name, 1000 AS capacity, 'open'::text AS status, "
    session.execute(text(f"""
        CREATE TEMP TABLE {table} ON COMMIT DROP AS
        SELECT {cols} ST_SetSRID(ST_MakePoint(:x0 + random() * (:x1 - :x0), :y0 + random() * (:y1 - :y0)), 4490)
               AS geom
        FROM generate_series(1, :n) AS i"""), {"n": n, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]})
    session.execute(text(f"CREATE INDEX ON pg_temp.{table} USING gist (geom)"))
    session.execute(text(f"ANALYZE pg_temp.{table}"))


def covered_count(session: Session) -> int:
    return int(session.execute(text("SELECT count(DISTINCT demand_id) FROM pg_temp.cov_pairs")).scalar_one())


def naive_sql(session: Session, r: float, sample_every: int) -> int:
    """No bounding-box prefilter: every (sampled) demand point against every facility on the ellipsoid."""
    return int(session.execute(text("""
        SELECT count(*) FROM pg_temp.cov_demand d
        WHERE d.id % :k = 0 AND EXISTS (
            SELECT 1 FROM pg_temp.cov_supply s WHERE ST_DWithin(d.geom::geography, s.geom::geography, :r))"""),
        {"r": r, "k": sample_every}).scalar_one())


def numpy_brute(dem: np.ndarray, sup: np.ndarray, r: float, chunk: int = 4000) -> int:
    """Haversine on a sphere of 6,371,008.8 m for every pair, in chunks (the obvious in-memory baseline)."""
    rad = np.radians
    lat2, lon2 = rad(sup[:, 1])[None, :], rad(sup[:, 0])[None, :]
    cos2 = np.cos(lat2)
    covered = 0
    for i in range(0, len(dem), chunk):
        lat1, lon1 = rad(dem[i:i + chunk, 1])[:, None], rad(dem[i:i + chunk, 0])[:, None]
        a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * cos2 * np.sin((lon2 - lon1) / 2) ** 2
        d = 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))
        covered += int((d <= r).any(axis=1).sum())
    return covered


def xy(session: Session, table: str) -> np.ndarray:
    rows = session.execute(text(f"SELECT ST_X(geom), ST_Y(geom) FROM pg_temp.{table} ORDER BY id")).all()
    return np.array(rows, dtype=float)


# The exact method as it was before the coverage speed-up (issue 12 §4): every point cast to geography twice per
# pair, under the default temp_buffers. Kept here as the baseline the engine is checked against every round.
OLD_PAIRS_SQL = """
    CREATE TEMP TABLE cov_pairs ON COMMIT DROP AS
    SELECT d.id AS demand_id, s.id AS supply_id,
           ST_Distance(d.geom::geography, s.geom::geography) AS dist_m
    FROM pg_temp.cov_supply s
    JOIN pg_temp.cov_demand d
      ON d.geom && ST_Expand(
             s.geom,
             :r / (111319.0 * cos(radians(least(abs(ST_Y(s.geom)) + :r / 110574.0, 89.0)))) * 1.01 + 1e-9,
             :r / 110574.0 * 1.01 + 1e-9)
     AND ST_DWithin(d.geom::geography, s.geom::geography, :r)"""


def old_pairs(session: Session, r: float) -> None:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.cov_pairs"))
    session.execute(text(OLD_PAIRS_SQL), {"r": r})
    session.execute(text("ANALYZE pg_temp.cov_pairs"))


def backend_cpu(session: Session) -> Callable[[], float | None]:
    """CPU seconds the session's backend has used (from /proc when the server runs on this machine)."""
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / tick
    return read


def fingerprint(session: Session) -> tuple[int, int, str]:
    """(pairs, covered points, md5 of every (demand, supply, distance) in order): equal means identical."""
    row = session.execute(text("""
        SELECT count(*), count(DISTINCT demand_id),
               md5(string_agg(demand_id || ',' || supply_id || ',' || dist_m::text, ';'
                              ORDER BY demand_id, supply_id))
        FROM pg_temp.cov_pairs""")).one()
    return int(row[0]), int(row[1]), str(row[2])


def data_fingerprint(session: Session) -> str:
    return str(session.execute(text(
        "SELECT md5((SELECT string_agg(id || ST_AsEWKB(geom)::text, ',' ORDER BY id) FROM pg_temp.cov_demand)"
        " || (SELECT string_agg(id || ST_AsEWKB(geom)::text, ',' ORDER BY id) FROM pg_temp.cov_supply))"
    )).scalar_one())


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"


def bench_radius(factory: Callable[[], Session], n_demand: int, n_supply: int, r: float, rounds: int,
                 baselines: bool) -> bool:
    """Old exact method (own session, default temp_buffers) against the engine (own session, set up as the
    service sets it up), on the same random points, interleaved; identical pairs and distances every round."""
    print(f"\n== radius coverage: {n_demand:,} demand × {n_supply:,} facilities, r = {r:,.0f} m (geodesic) ==")
    old_s, new_s = factory(), factory()
    took = engine.use_temp_buffers(new_s)  # before the session's first temporary table, as in the service
    print(f"engine session: temp_buffers {engine.TEMP_BUFFERS} {'set' if took else 'NOT set'}; baseline session: "
          f"{old_s.execute(text('SHOW temp_buffers')).scalar_one()}")
    t0 = time.perf_counter()
    for s in (old_s, new_s):
        random_points(s, "cov_demand", n_demand, BOX, 0.42, weights=True)
        random_points(s, "cov_supply", n_supply, BOX, 0.17, weights=False)
    same_data = data_fingerprint(old_s) == data_fingerprint(new_s)
    print(f"setup (random points, indexes, both sessions): {time.perf_counter() - t0:.2f} s; same points in both: "
          f"{'yes' if same_data else 'NO'}")
    dist = engine.Distance("radius", r)
    cpu_old, cpu_new = backend_cpu(old_s), backend_cpu(new_s)
    t_old: list[float] = []
    t_new: list[float] = []
    c_old: list[float] = []
    c_new: list[float] = []
    identical = same_data
    for i in range(1, rounds + 1):
        load = os.getloadavg()[0]
        c = cpu_old()
        t = time.perf_counter()
        old_pairs(old_s, r)
        t_old.append(time.perf_counter() - t)
        c2 = cpu_old()
        if c is not None and c2 is not None:
            c_old.append(c2 - c)
        c = cpu_new()
        t = time.perf_counter()
        engine.pairs(new_s, dist)
        t_new.append(time.perf_counter() - t)
        c2 = cpu_new()
        if c is not None and c2 is not None:
            c_new.append(c2 - c)
        fa, fb = fingerprint(old_s), fingerprint(new_s)
        identical = identical and fa == fb
        cpu = f"; backend CPU old {c_old[-1]:.2f} s, new {c_new[-1]:.2f} s" if c_old and c_new else ""
        print(f"round {i}: old {t_old[-1]:.2f} s, new {t_new[-1]:.2f} s (ratio {t_old[-1] / t_new[-1]:.2f}×; "
              f"load {load:.1f} → {os.getloadavg()[0]:.1f}{cpu}); pairs {fb[0]:,}, covered {fb[1]:,} "
              f"({fb[1] / n_demand:.2%}); identical pairs and distances: {'yes' if fa == fb else 'NO'}", flush=True)
    print(f"old exact method: {spread(t_old)};  engine: {spread(t_new)};  ratio of medians "
          f"{statistics.median(t_old) / statistics.median(t_new):.2f}× (target: engine ≤ 2 s)")
    if c_old and c_new:
        print(f"backend CPU: old median {statistics.median(c_old):.2f} s, "
              f"engine median {statistics.median(c_new):.2f} s")
    print(f"identical covered sets in every round: {'yes' if identical else 'NO'}")
    if baselines:
        session = new_s
        t_idx = statistics.median(t_new)
        cov_idx = fingerprint(session)[1]
        sample = 100
        t_naive, cov_naive = timed(lambda: naive_sql(session, r, sample), 1)
        t_naive_full = t_naive * sample
        print(f"naive SQL, 1/{sample} sample: {t_naive:.2f} s → ≈ {t_naive_full:,.0f} s for all points "
              f"(sample covered {cov_naive:,})")
        dem, sup = xy(session, "cov_demand"), xy(session, "cov_supply")
        t_np, cov_np = timed(lambda: numpy_brute(dem, sup, r), 1)
        print(f"NumPy haversine brute force (all {n_demand * n_supply / 1e9:.2f} G pairs): {t_np:.2f} s; "
              f"{cov_np:,} covered (sphere vs ellipsoid: {cov_np - cov_idx:+,} at the edge)")
        print(f"ratios: naive SQL / engine ≈ {t_naive_full / t_idx:,.0f}×;  NumPy brute force / engine = "
              f"{t_np / t_idx:.1f}×")
    for s in (old_s, new_s):
        s.rollback()
        s.close()
    return identical


def bench_mclp(session: Session, n_demand: int, n_cand: int, r: float, k: int, repeat: int,
               time_limit: float) -> None:
    print(f"\n== MCLP: {n_cand:,} candidates × {n_demand:,} demand points, r = {r:,.0f} m, k = {k} ==")
    random_points(session, "cov_demand", n_demand, SMALL_BOX, 0.23, weights=True)
    random_points(session, "cov_cand", n_cand, SMALL_BOX, 0.31, weights=False)
    dist = engine.Distance("radius", r)
    t_mat, n_pairs = timed(lambda: engine.pairs(session, dist, supply="cov_cand", out="cov_cand_pairs"), repeat)
    print(f"coverage matrix in SQL: median {t_mat:.2f} s; {n_pairs:,} (demand, candidate) pairs")
    rows = [(list(c), float(w)) for c, w in session.execute(text("""
        SELECT array_agg(cp.supply_id ORDER BY cp.supply_id), d.weight
        FROM pg_temp.cov_cand_pairs cp JOIN pg_temp.cov_demand d ON d.id = cp.demand_id
        GROUP BY cp.demand_id, d.weight"""))]
    t_agg, groups = timed(lambda: optimize.aggregate(rows), repeat)
    print(f"merging identical covering sets: {len(rows):,} coverable points → {len(groups):,} groups "
          f"({t_agg:.2f} s)")
    t_merged, best = timed(lambda: optimize.mclp(groups, k, time_limit), repeat)
    print(f"PuLP/CBC, merged model: median {t_merged:.2f} s; covered {best.covered:,.0f}; "
          f"optimal={best.optimal} ({best.status})")
    unmerged = [(tuple(c), w) for c, w in rows]  # one group per demand point: the textbook model
    t_raw, raw = timed(lambda: optimize.mclp(unmerged, k, time_limit), 1)
    print(f"PuLP/CBC, unmerged model (baseline): {t_raw:.2f} s; covered {raw.covered:,.0f}; "
          f"optimal={raw.optimal} ({raw.status})")
    t_greedy, greedy = timed(lambda: optimize.greedy_mclp(groups, k), repeat)
    gap = (best.covered - greedy.covered) / best.covered if best.covered else 0.0
    print(f"greedy heuristic: median {t_greedy:.2f} s; covered {greedy.covered:,.0f} ({gap:.2%} below optimal)")
    print(f"ratios: unmerged / merged solve = {t_raw / t_merged:.1f}×;  merged solve / greedy = "
          f"{t_merged / max(t_greedy, 1e-9):.1f}×")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (medians); interleaved rounds of the "
                    "radius comparison")
    ap.add_argument("--baselines", action="store_true", help="also time the naive SQL join (1 %% sample) and a "
                    "NumPy brute force against the engine")
    ap.add_argument("--skip-mclp", action="store_true", help="only the radius comparison")
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes, for a smoke run")
    ap.add_argument("--time-limit", type=float, default=600.0, help="solver time limit (s)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    settings = load_settings()
    factory = make_sessionmaker(make_engine(database_url(settings.db), 2))
    with factory() as s:
        version = s.execute(text("SELECT postgis_lib_version()")).scalar_one()
    print(f"PostGIS {version}; {optimize.SOLVER}; repeat {args.repeat}")
    identical = bench_radius(factory, 620_000 // scale, 2_000 // scale, 5_000.0, max(args.repeat, 1),
                             args.baselines)
    if not args.skip_mclp:
        session = factory()
        try:
            bench_mclp(session, 20_000 // scale, 1_000 // scale, 3_000.0, 20, args.repeat, args.time_limit)
        finally:
            session.rollback()
            session.close()
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
