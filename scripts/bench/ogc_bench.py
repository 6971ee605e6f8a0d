"""OGC API – Features / Tiles speed benchmark against tipg, on 500,000 deterministic points.

What it does, in a scratch database ``diming_bench_ogc`` of the same cluster (kept with --keep, reused with
--reuse):

1. creates and migrates it and loads the Feidong demo divisions (they locate the points);
2. writes 500,000 deterministic points (lon 116.9–117.8, lat 31.5–32.2, names from a fixed syllable table,
   category 242 自然村) to a CSV file, ordered along a Hilbert curve so that neighbours are stored together
   (as a real import grouped by township would be); loads it into ``places`` through the bulk importer
   (``gis_api.places.bulk``) and prints rows/s next to ``ogr2ogr -f PostgreSQL`` loading the same file into
   a scratch table;
3. starts Diming (``uvicorn``, one worker process, loopback) and tipg (from PyPI, in its own venv under
   ``.cache/tipg-venv``, created on first use) on the same database, both serving the same ``places`` rows;
4. checks one response of each kind from both servers in Python (valid GeoJSON, the right number of
   features, the same features for the bbox query), then runs ``wrk`` (2 threads, 16 connections, 20 s) on
   (a) ``items?bbox=117.2,31.8,117.3,31.9&limit=100``, (b) one item, (c) ``items?limit=1000`` against both,
   with a Lua hook that checks every response (status 200 and the number of features) and counts misses;
5. times MVT tiles z10–z14 over the data area (p50/p95 per zoom) on Diming (and tipg for reference);
6. prints the figures, the ratios Diming / tipg and the targets: (a) ≥ 3×, (b) ≥ 1.5×, (c) ≥ 4×, MVT p95 ≤ 50 ms.

It prints figures only (no timed assertions).

    .venv/bin/python scripts/bench/ogc_bench.py [--rows 500000] [--keep] [--reuse] [--duration 20]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gis_api.cli import run_migrations  # noqa: E402
from gis_api.db import CONNECTION_OPTIONS, database_url, drop_database, recreate_database  # noqa: E402
from gis_api.divisions.demo import load_demo  # noqa: E402
from gis_api.places import bulk  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

CACHE = ROOT / ".cache" / "bench"
TIPG_VENV = ROOT / ".cache" / "tipg-venv"
TIPG_VERSION = "1.6.1"
SOURCE = "bench-ogc-synthetic"
CATEGORY = "242"  # 农村居民点 (natural village)
LON0, LON1, LAT0, LAT1 = 116.9, 117.8, 31.5, 32.2
BBOX_A = (117.2, 31.8, 117.3, 31.9)
TARGETS = {"a": 3.0, "b": 1.5, "c": 4.0}
MVT_P95_MS = 50.0
SEED = 20261130

# Syllables that make plausible Chinese village names (专名 of two characters + a generic).
FIRST = "王张李刘陈杨黄赵周吴徐孙朱马胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔"
SECOND = "家大小东西南北新老上下前后中河山岗桥湾塘庄店集圩坝井沟林园岭畈冲洼墩"
GENERIC = "村庄郢圩岗集湾塘"


# -- data ---------------------------------------------------------------------------------------------------

def _hilbert(n: int, x: int, y: int) -> int:
    """Index of cell (x, y) along a Hilbert curve filling an n×n grid (n a power of two)."""
    d = 0
    s = n // 2
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s //= 2
    return d


def generate_points(n: int, seed: int = SEED) -> list[tuple[str, float, float]]:
    """``n`` deterministic (name, lon, lat), ordered along a Hilbert curve over the data area."""
    rnd = random.Random(seed)
    pts = []
    for _ in range(n):
        lon = round(LON0 + (LON1 - LON0) * rnd.random(), 6)
        lat = round(LAT0 + (LAT1 - LAT0) * rnd.random(), 6)
        name = rnd.choice(FIRST) + rnd.choice(SECOND) + rnd.choice(GENERIC)
        pts.append((name, lon, lat))
    grid = 1024
    pts.sort(key=lambda p: _hilbert(grid, min(grid - 1, int((p[1] - LON0) / (LON1 - LON0) * grid)),
                                    min(grid - 1, int((p[2] - LAT0) / (LAT1 - LAT0) * grid))))
    return pts


def write_csv(path: Path, n: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "category_code", "lon", "lat"])
        for name, lon, lat in generate_points(n):
            w.writerow([name, CATEGORY, f"{lon:.6f}", f"{lat:.6f}"])
    tmp.rename(path)
    return path


# -- database -----------------------------------------------------------------------------------------------

def load(engine: Engine, csv_path: Path, today: dt.date) -> dict[str, Any]:
    with Session(engine) as s:
        load_demo(s)
        s.commit()
    print(f"\n== import {csv_path.name} through bulk.import_places ==", flush=True)
    with Session(engine) as s:
        rows = bulk.read_csv(csv_path)
        rep = bulk.import_places(s, rows, actor="bench", reason="OGC benchmark", source=SOURCE,
                                 valid_from=today, check_divisions=False)
        t = time.perf_counter()
        s.commit()
        commit_s = time.perf_counter() - t
    if not rep.ok:
        print(json.dumps(rep.as_dict()["errors"][:20], ensure_ascii=False, indent=1))
        raise SystemExit(1)
    total = rep.seconds + commit_s
    print(f"  bulk importer: {rep.inserted:,} rows ({rep.distinct_names:,} distinct names) in {total:.1f} s "
          f"= {rep.inserted / total:,.0f} rows/s (derive {rep.derive_seconds:.1f} s, load {rep.load_seconds:.1f} s, "
          f"commit {commit_s:.1f} s; audit {rep.audit}; divisions derived {rep.divisions_derived:,})")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        t = time.perf_counter()
        c.execute(text("VACUUM ANALYZE places"))
        print(f"  VACUUM ANALYZE places {time.perf_counter() - t:.1f} s")
    return {"rows": rep.inserted, "seconds": total, "rows_per_s": rep.inserted / total}


def ogr2ogr_load(url: str, csv_path: Path, rows: int) -> dict[str, Any] | None:
    """``ogr2ogr -f PostgreSQL`` of the same CSV into a scratch table (dropped afterwards), for scale."""
    target = make_url(url)
    host = target.query.get("host") or target.host or ""
    pg = f"PG:dbname={target.database} user={target.username} host={host}"
    cmd = ["ogr2ogr", "-f", "PostgreSQL", pg, str(csv_path), "-nln", "bench_ogr2ogr", "-overwrite",
           "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-oo", "KEEP_GEOM_COLUMNS=NO",
           "-a_srs", "EPSG:4490", "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST",
           "--config", "PG_USE_COPY", "YES"]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        print(f"  ogr2ogr failed: {done.stderr.strip()[:300]}")
        return None
    eng = create_engine(url)
    with eng.begin() as c:
        n = c.execute(text("SELECT count(*) FROM bench_ogr2ogr")).scalar_one()
        c.execute(text("DROP TABLE bench_ogr2ogr"))
    eng.dispose()
    print(f"  ogr2ogr -f PostgreSQL: {n:,} rows in {seconds:.1f} s = {n / seconds:,.0f} rows/s "
          "(raw rows: no validation, romanisation, search keys, division lookup or audit)")
    return {"rows": n, "seconds": seconds, "rows_per_s": n / seconds}


# -- servers -------------------------------------------------------------------------------------------------

DIMING_RUNNER = """
import sys, uvicorn
from gis_api.app import create_app
from gis_api.settings import load_settings
uvicorn.run(create_app(load_settings()), host="127.0.0.1", port=int(sys.argv[1]), workers=1, loop="uvloop",
            http="httptools", log_level="warning", access_log=False)
"""


def ensure_tipg() -> Path:
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        print(f"installing tipg=={TIPG_VERSION} into {TIPG_VENV} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", f"tipg=={TIPG_VERSION}", "uvicorn[standard]"],
                       check=True)
    return uvicorn


def wait_http(port: int, path: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status, _h, _b = fetch(port, path)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server on port {port} did not answer {path}")


def start_servers(db: str, url: str, port_d: int, port_t: int, with_tipg: bool) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "DIMING_DB_NAME": db}
    procs = [subprocess.Popen([sys.executable, "-c", DIMING_RUNNER, str(port_d)], cwd=ROOT, env=env)]
    if with_tipg:
        target = make_url(url)
        sock = target.query.get("host") or ""
        tenv = {**os.environ, "DATABASE_URL": f"postgresql://{target.username}@{quote(str(sock), safe='')}/{db}",
                "TIPG_DB_SCHEMAS": '["public"]', "TIPG_DB_TABLES": '["public.places"]', "TIPG_DB_FUNCTIONS": "[]"}
        procs.append(subprocess.Popen(
            [str(ensure_tipg()), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port_t), "--workers", "1",
             "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
            cwd=tempfile.gettempdir(), env=tenv))
    wait_http(port_d, "/ogc/collections/places")
    if with_tipg:
        wait_http(port_t, "/collections/public.places")
    return procs


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


_conns: dict[int, http.client.HTTPConnection] = {}


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = _conns.get(port)
    for attempt in (1, 2):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            _conns[port] = conn
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = None
            _conns.pop(port, None)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# -- checks and load -----------------------------------------------------------------------------------------

def check(port: int, path: str, kind: str, expected: int) -> dict[str, Any]:
    """One response checked in full: status, GeoJSON shape, number of features, points inside the bbox."""
    status, headers, body = fetch(port, path)
    assert status == 200, f"{path}: HTTP {status}: {body[:200]!r}"
    doc = json.loads(body)
    if kind == "feature":
        assert doc["type"] == "Feature" and doc["geometry"]["type"] == "Point", path
        return {"bytes": len(body), "numberMatched": None}
    assert doc["type"] == "FeatureCollection", path
    assert len(doc["features"]) == expected == doc.get("numberReturned", expected), \
        f"{path}: {len(doc['features'])} features, expected {expected}"
    for f in doc["features"]:
        assert f["type"] == "Feature" and len(f["geometry"]["coordinates"]) == 2
        if kind == "bbox":
            x, y = f["geometry"]["coordinates"]
            assert BBOX_A[0] <= x <= BBOX_A[2] and BBOX_A[1] <= y <= BBOX_A[3], f"{path}: {x},{y} outside the bbox"
    assert headers.get("content-type", "").startswith(("application/geo+json", "application/json"))
    return {"bytes": len(body), "numberMatched": doc.get("numberMatched")}


WRK_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) expected = tonumber(args[1]); checked = 0; bad = 0 end
function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then bad = bad + 1; return end
  local n = 0
  for _ in string.gmatch(body, '"Feature"') do n = n + 1 end
  if n ~= expected then bad = bad + 1 end
end
function done(summary, latency, requests)
  local c, b = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("checked"); b = b + t:get("bad") end
  io.write(string.format("CHECKED %d BAD %d\n", c, b))
end
"""


def wrk(port: int, path: str, expected: int, seconds: int, threads: int, connections: int, lua: Path
        ) -> dict[str, Any]:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
                          "-s", str(lua),
                          f"http://127.0.0.1:{port}{path}", "--", str(expected)],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    checked = re.search(r"CHECKED (\d+) BAD (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def ms(m: re.Match[str] | None) -> float:
        if m is None:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(m.group(2), 1.0)

    return {"rps": rps, "p50_ms": ms(p50), "p99_ms": ms(p99),
            "checked": int(checked.group(1)) if checked else 0, "bad": int(checked.group(2)) if checked else -1,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


# -- tiles ---------------------------------------------------------------------------------------------------

def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tiles_for(z: int, sample: int, rnd: random.Random) -> list[tuple[int, int, int]]:
    x0, y1 = tile_xy(LON0, LAT0, z)
    x1, y0 = tile_xy(LON1, LAT1, z)
    every = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return every if len(every) <= sample else rnd.sample(every, sample)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def time_tiles(port: int, path: str, tiles: list[tuple[int, int, int]]) -> list[float]:
    out = []
    for z, x, y in tiles:
        t = time.perf_counter()
        status, headers, body = fetch(port, path.format(z=z, x=x, y=y))
        out.append((time.perf_counter() - t) * 1000)
        assert status in (200, 204), f"tile {z}/{x}/{y}: HTTP {status}"
        if status == 200:
            assert headers.get("content-type", "").startswith("application/vnd.mapbox-vector-tile") and body
    return out


# -- main ------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--db", default="diming_bench_ogc", help="scratch database (re-created unless --reuse)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    ap.add_argument("--reuse", action="store_true", help="reuse a kept scratch database (skip the load)")
    ap.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--no-tipg", action="store_true", help="measure Diming alone")
    ap.add_argument("--no-ogr2ogr", action="store_true")
    ap.add_argument("--no-wrk", action="store_true", help="only the checks and the tiles")
    ap.add_argument("--tiles", type=int, default=40, help="tiles timed per zoom level (z10 has fewer)")
    ap.add_argument("--port", type=int, default=8811, help="Diming's port; tipg gets the next one")
    args = ap.parse_args(argv)

    settings = load_settings()
    url = database_url(settings.db, args.db)
    today = dt.date.today()
    csv_path = write_csv(CACHE / f"ogc_points_{args.rows}.csv", args.rows)
    print(f"points file: {csv_path} ({args.rows:,} rows)")
    load_report: dict[str, Any] | None = None
    ogr_report: dict[str, Any] | None = None
    if not args.reuse:
        print(f"creating {args.db} …", flush=True)
        recreate_database(url)
        run_migrations(url)
        engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
        load_report = load(engine, csv_path, today - dt.timedelta(days=1))
        engine.dispose()
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM places")).scalar_one()
        exact_a = c.execute(text("SELECT count(*) FROM places WHERE ST_Intersects(geom, ST_MakeEnvelope("
                                 ":a, :b, :c, :d, 4490))"), dict(zip("abcd", BBOX_A, strict=True))).scalar_one()
        row_id, place_id = c.execute(text("SELECT id, place_id FROM places ORDER BY place_id OFFSET :o LIMIT 1"),
                                     {"o": n // 2}).one()
        jit = c.execute(text("SHOW jit")).scalar_one()
    engine.dispose()
    print(f"places: {n:,} rows; {exact_a:,} in bbox (a); jit={jit}")
    if not args.no_ogr2ogr:
        print("\n== ogr2ogr on the same file ==", flush=True)
        ogr_report = ogr2ogr_load(url, csv_path, args.rows)

    port_d, port_t = args.port, args.port + 1
    tipg = not args.no_tipg
    procs = start_servers(args.db, url, port_d, port_t, tipg)
    cases = {
        "a": ("items?bbox=117.2,31.8,117.3,31.9&limit=100", "bbox", 100),
        "b": ("one item", "feature", 1),
        "c": ("items?limit=1000", "page", 1000),
    }
    paths = {
        "diming": {"a": "/ogc/collections/places/items?bbox=117.2,31.8,117.3,31.9&limit=100",
                   "b": f"/ogc/collections/places/items/{place_id}", "c": "/ogc/collections/places/items?limit=1000"},
        "tipg": {"a": "/collections/public.places/items?bbox=117.2,31.8,117.3,31.9&limit=100",
                 "b": f"/collections/public.places/items/{row_id}", "c": "/collections/public.places/items?limit=1000"},
    }
    ports = {"diming": port_d, "tipg": port_t}
    servers = ["diming", "tipg"] if tipg else ["diming"]
    results: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in servers}
    try:
        print("\n== responses checked in Python (status, GeoJSON, feature count, bbox) ==")
        for s in servers:
            for k, (_label, kind, expected) in cases.items():
                info = check(ports[s], paths[s][k], kind, expected)
                results[s][k] = {"check": info}
                extra = f", numberMatched {info['numberMatched']:,}" if info["numberMatched"] is not None else ""
                print(f"  {s:6} ({k}) ok: {info['bytes']:,} bytes{extra}")
        print(f"  exact count in bbox (a): {exact_a:,}")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_LUA)
            lua = Path(fh.name)
        print(f"\n== wrk -t{args.threads} -c{args.connections} -d{args.duration}s, one worker process each, loopback; "
              "every response checked (status 200, number of features) ==", flush=True)
        for k, (label, _kind, expected) in cases.items() if not args.no_wrk else ():
            for s in servers:
                wrk(ports[s], paths[s][k], expected, 2, args.threads, args.connections, lua)  # warm-up
                r = wrk(ports[s], paths[s][k], expected, args.duration, args.threads, args.connections, lua)
                results[s][k].update(r)
                print(f"  ({k}) {label:42} {s:6} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                      f"p99 {r['p99_ms']:7.2f} ms  checked {r['checked']:,} bad {r['bad']} non-2xx {r['non2xx']}"
                      f"{'  socket errors: ' + r['socket_errors'] if r['socket_errors'] else ''}", flush=True)
        lua.unlink()

        print("\n== MVT tiles, sequential, one connection (ms) ==")
        rnd, warm = random.Random(SEED), random.Random(SEED + 1)
        tile_stats: dict[int, dict[str, float]] = {}
        for z in range(10, 15):
            tiles = tiles_for(z, args.tiles, rnd)
            # warm-up on other tiles of the zoom: every pooled connection has prepared the statement
            time_tiles(port_d, "/ogc/collections/places/tiles/WebMercatorQuad/{z}/{y}/{x}", tiles_for(z, 24, warm))
            d = time_tiles(port_d, "/ogc/collections/places/tiles/WebMercatorQuad/{z}/{y}/{x}", tiles)
            line = (f"  z{z}: {len(tiles):3d} tiles  diming p50 {pct(d, 50):7.1f}  p95 {pct(d, 95):7.1f}  "
                    f"max {max(d):7.1f}")
            tile_stats[z] = {"p50": pct(d, 50), "p95": pct(d, 95)}
            if tipg:
                t = time_tiles(port_t, "/collections/public.places/tiles/WebMercatorQuad/{z}/{x}/{y}", tiles)
                line += f"   | tipg p50 {pct(t, 50):7.1f}  p95 {pct(t, 95):7.1f}"
            print(line, flush=True)
    finally:
        stop(procs)

    print("\n== summary ==")
    if load_report:
        line = f"  load: bulk importer {load_report['rows_per_s']:,.0f} rows/s"
        if ogr_report:
            line += (f"; ogr2ogr -f PostgreSQL {ogr_report['rows_per_s']:,.0f} rows/s "
                     f"(ratio {load_report['rows_per_s'] / ogr_report['rows_per_s']:.2f})")
        print(line)
    for k, (label, _kind, _e) in cases.items() if not args.no_wrk else ():
        d = results["diming"][k]["rps"]
        if tipg:
            t = results["tipg"][k]["rps"]
            ratio = d / t if t else float("inf")
            verdict = "met" if ratio >= TARGETS[k] else "NOT met"
            print(f"  ({k}) {label:42} diming {d:9.1f}  tipg {t:9.1f}  ratio {ratio:6.2f}×  "
                  f"(target ≥ {TARGETS[k]}×: {verdict})")
        else:
            print(f"  ({k}) {label:42} diming {d:9.1f} req/s")
    worst = max(v["p95"] for v in tile_stats.values())
    print(f"  MVT p95 z10–z14: worst {worst:.1f} ms (target ≤ {MVT_P95_MS} ms: "
          f"{'met' if worst <= MVT_P95_MS else 'NOT met'})")
    bad = sum(r.get("bad", 0) + r.get("non2xx", 0) for s in servers for r in results[s].values())
    print(f"  responses failing the check: {bad}")
    load1, load5, _ = os.getloadavg()
    print(f"  machine: {os.cpu_count()} cores, load average {load1:.1f} / {load5:.1f} "
          "(other work on the machine lowers every figure)")
    if not args.keep and not args.reuse:
        drop_database(url)
        print(f"dropped {args.db}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
