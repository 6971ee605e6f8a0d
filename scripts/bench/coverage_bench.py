#!/usr/bin/env python3
"""Coverage benchmarks with baselines in the same run (design.md: figures and ratios, never assertions).

1. Radius coverage, 620,000 demand points × 2,000 facilities (5 km, geodesic): the engine's index-assisted
   PostGIS join (``engine.pairs``) against (a) a naive geography join with no index prefilter, timed on a 1 %
   sample and scaled up, and (b) a vectorised NumPy haversine brute force over every pair.
2. MCLP, 1,000 candidates × 20,000 demand points (3 km, k = 20): coverage matrix in SQL, then PuLP/CBC on the
   merged model (identical covering sets merged) against the unmerged model and the greedy heuristic.

Synthetic random points (fixed seeds) over an Anhui-sized box; everything happens in temporary tables inside
one transaction that is rolled back. Uses DIMING_DATABASE_URL or the embedded cluster.

    .venv/bin/python scripts/bench/coverage_bench.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
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


def bench_radius(session: Session, n_demand: int, n_supply: int, r: float, repeat: int) -> None:
    print(f"\n== radius coverage: {n_demand:,} demand × {n_supply:,} facilities, r = {r:,.0f} m (geodesic) ==")
    t0 = time.perf_counter()
    random_points(session, "cov_demand", n_demand, BOX, 0.42, weights=True)
    random_points(session, "cov_supply", n_supply, BOX, 0.17, weights=False)
    print(f"setup (random points, indexes): {time.perf_counter() - t0:.2f} s")
    dist = engine.Distance("radius", r)

    def indexed() -> int:
        engine.pairs(session, dist)
        return covered_count(session)

    t_idx, cov_idx = timed(indexed, repeat)
    pairs = engine.count(session, "cov_pairs")
    print(f"engine (index-assisted join): median {t_idx:.2f} s over {repeat} runs; {pairs:,} pairs; "
          f"{cov_idx:,} points covered ({cov_idx / n_demand:.2%})")

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
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (medians)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the sizes, for a smoke run")
    ap.add_argument("--time-limit", type=float, default=600.0, help="solver time limit (s)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    settings = load_settings()
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    session = factory()
    try:
        version = session.execute(text("SELECT postgis_lib_version()")).scalar_one()
        print(f"PostGIS {version}; {optimize.SOLVER}; repeat {args.repeat}")
        bench_radius(session, 620_000 // scale, 2_000 // scale, 5_000.0, args.repeat)
        session.rollback()
        bench_mclp(session, 20_000 // scale, 1_000 // scale, 3_000.0, 20, args.repeat, args.time_limit)
    finally:
        session.rollback()
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
