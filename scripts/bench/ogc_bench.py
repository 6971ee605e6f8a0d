"""OGC API – Features / Tiles: Diming against tipg on the same work, 500,000 deterministic points.

Like for like — what the script checks in Python before it measures (it stops on any difference):

* the same rows: both servers read the same ``places`` table of a scratch database (``ogc_bench_random``;
  ``ogc_bench_hilbert`` for ``--order hilbert``), every row in force today, so Diming's valid-time filter keeps
  them all;
* the same feature ids in the same order: tipg is configured with ``place_id`` as its key
  (``TIPG_TABLE_CONFIG__public_places__pk``), both order a page by it;
* the same properties: both are asked for the same ``properties=`` list — the places properties that are plain
  columns (33: Diming's joined ``category_name``/``census_class`` and its ``row_id`` have no tipg column, tipg's
  search arrays and internal keys are not exposed: ``TIPG_TABLE_CONFIG__public_places__properties``); the
  values are compared property by property, the geometries coordinate by coordinate (1e-7°);
* the same count: tipg counts every request exactly. Diming runs twice: "exact" (``DIMING_OGC_EXACT_COUNT_MAX``
  above the table size: numberMatched must equal tipg's on every page) and "default" (exact up to 10,000
  matches, the planner's estimate above; its numberMatched is compared and the difference printed) — two rows.
  A whole collection on one date, (c), is counted exactly by both from the counts kept with the data
  (migration 0015, ``ogc_row_count``), whatever its size;
* MVT: the same feature limit (``TIPG_MAX_FEATURES_PER_TILE`` = Diming's 2,048), buffer 64 and extent 4096 on
  both; every sampled tile is decoded and compared: the same feature ids (tipg carries ``place_id`` as an
  attribute), attributes and geometry commands where the tile holds no more than the limit; above it both
  must keep at most the limit (tipg the lowest ids, Diming a spatially stratified sample — not the same set).

Then it measures, interleaved (Diming exact, Diming default, tipg, raw SQL; round after round, ≥ 3 rounds),
with the load average recorded before every run: ``wrk`` (2 threads, 16 connections; a Lua hook checks every
response's status and feature count) on (a) ``items?bbox=117.2,31.8,117.3,31.9&limit=100``, (b) one item,
(c) ``items?limit=1000``; the raw-SQL ceiling: Diming's own statement for the same request run by ``pgbench``
(16 clients, prepared) on the database directly — "sql" with the exact count (for (c) the kept count), "sql-page"
the page alone (what the default server runs once a bbox result is known to exceed 10,000), "sql-pool" the
statement with as many clients as a server has connections (--pool × --workers); MVT tiles z10–z14,
sequential. It prints per server the median req/s and the spread (min–max) over rounds, p50/p99, the CPU per
request of the server's processes ("app") and of the database's backends ("db") — read from /proc around each
run, a figure the machine's other load changes far less than req/s — and the median of the per-round ratios
Diming / tipg and Diming / the ceiling of the statement that server runs. Figures only, no timed assertions.
Under a high load average the single pgbench run (16 backends) gets a larger share of the CPU than one server
process: compare the ceiling at the same --workers (and sql-pool) and read it with the load column.
``--base-tree DIR`` adds a server running another checkout's code (``git archive`` of the previous revision)
as "base-exact", in the same rounds: old and new compared like for like.

    .venv/bin/python scripts/bench/ogc_bench.py [--order random|hilbert] [--rounds 3] [--duration 10]
        [--workers 1] [--keep] [--reuse] [--cases abc] [--no-tiles] [--base-tree DIR]
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
from gis_api.ogc import crs as crs_mod  # noqa: E402
from gis_api.ogc import query  # noqa: E402
from gis_api.ogc.collections import get as get_collection  # noqa: E402
from gis_api.places import bulk  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

CACHE = ROOT / ".cache" / "bench"
TIPG_VENV = ROOT / ".cache" / "tipg-venv"
TIPG_VERSION = "1.6.1"
SOURCE = "bench-ogc-synthetic"
CATEGORY = "242"  # 农村居民点 (natural village)
LON0, LON1, LAT0, LAT1 = 116.9, 117.8, 31.5, 32.2
BBOX_A = (117.2, 31.8, 117.3, 31.9)
TARGETS = {"a": 3.0, "b": 2.0, "c": 3.0}  # Diming / tipg (issue 12); and within 2× of the raw-SQL ceiling
TILE_LIMIT = 2048  # features per tile on both servers (Diming: Collection.tile_max_features)
TILE_BUFFER = 64
EXACT_ALL = 100_000_000  # DIMING_OGC_EXACT_COUNT_MAX of the "exact" server: every count exact
DEFAULT_EXACT_MAX = 10_000  # the default DIMING_OGC_EXACT_COUNT_MAX (gis_api/ogc/settings.py)
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


def generate_points(n: int, order: str = "random", seed: int = SEED) -> list[tuple[str, float, float]]:
    """``n`` deterministic (name, lon, lat): in generation (random) order, or sorted along a Hilbert curve over
    the data area (``order="hilbert"``: neighbours stored together and numbered together, as an import grouped
    by township would be). The importer numbers place ids in file order, so the order decides how ids follow
    location; it stores an import's rows grouped by division code (since 5685392), each division's rows in file
    order — "random" is random within each of the 26 divisions the points fall in, not over the whole table."""
    rnd = random.Random(seed)
    pts = []
    for _ in range(n):
        lon = round(LON0 + (LON1 - LON0) * rnd.random(), 6)
        lat = round(LAT0 + (LAT1 - LAT0) * rnd.random(), 6)
        name = rnd.choice(FIRST) + rnd.choice(SECOND) + rnd.choice(GENERIC)
        pts.append((name, lon, lat))
    if order == "hilbert":
        grid = 1024
        pts.sort(key=lambda p: _hilbert(grid, min(grid - 1, int((p[1] - LON0) / (LON1 - LON0) * grid)),
                                        min(grid - 1, int((p[2] - LAT0) / (LAT1 - LAT0) * grid))))
    return pts


def write_csv(path: Path, n: int, order: str = "random") -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "category_code", "lon", "lat"])
        for name, lon, lat in generate_points(n, order):
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

def common_properties() -> list[str]:
    """The places properties both servers can serve: those that are a plain column of the same name."""
    c = get_collection("places")
    assert c is not None
    return [p.name for p in c.properties if not p.joined and p.sql == f"t.{p.name}"]


def ensure_tipg() -> Path:
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        print(f"installing tipg=={TIPG_VERSION} into {TIPG_VENV} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", f"tipg=={TIPG_VERSION}", "uvicorn[standard]"],
                       check=True)
    return uvicorn


def wait_http(port: int, path: str, seconds: float = 300) -> None:
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


def start_diming(db: str, port: int, workers: int, exact_max: int | None, pool: int, tree: Path | None = None
                 ) -> subprocess.Popen[bytes]:
    """``diming serve`` as an operator runs it (the same worker set-up), on the scratch database; ``tree``: the
    code of another checkout (a ``git archive`` of an older revision) against the same cluster and database."""
    env = {**os.environ, "DIMING_DB_NAME": db, "DIMING_WORKERS": str(workers), "DIMING_PORT": str(port),
           "DIMING_OGC_POOL_SIZE": str(pool)}
    if tree is not None:  # its settings would look for a cluster of its own path
        env["PYTHONPATH"] = str(tree)
        env.setdefault("DIMING_HOME", str(load_settings().db.home))
    if exact_max is not None:
        env["DIMING_OGC_EXACT_COUNT_MAX"] = str(exact_max)
    return subprocess.Popen([sys.executable, "-m", "gis_api.cli", "serve", "--log-level", "warning"],
                            cwd=tree or ROOT, env=env, stdout=subprocess.DEVNULL)


def start_tipg(url: str, db: str, port: int, workers: int, props: list[str], pool: int) -> subprocess.Popen[bytes]:
    target = make_url(url)
    sock = target.query.get("host") or ""
    tenv = {**os.environ, "DATABASE_URL": f"postgresql://{target.username}@{quote(str(sock), safe='')}/{db}",
            "TIPG_DB_SCHEMAS": '["public"]', "TIPG_DB_TABLES": '["public.places"]', "TIPG_DB_FUNCTIONS": "[]",
            "TIPG_TABLE_CONFIG__public_places__pk": "place_id",
            "TIPG_TABLE_CONFIG__public_places__geomcol": "geom",
            "TIPG_TABLE_CONFIG__public_places__properties": json.dumps([*props, "place_id", "geom"]),
            "TIPG_MAX_FEATURES_PER_TILE": str(TILE_LIMIT), "TIPG_TILE_BUFFER": str(TILE_BUFFER),
            "TIPG_SET_MVT_LAYERNAME": "true", "DB_MAX_CONN_SIZE": str(pool)}
    return subprocess.Popen(
        [str(ensure_tipg()), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port), "--workers",
         str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        cwd=tempfile.gettempdir(), env=tenv)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
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


# -- like-for-like checks ------------------------------------------------------------------------------------

class Mismatch(AssertionError):
    pass


def _coords_equal(a: Any, b: Any, tol: float = 1e-7) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tol
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_coords_equal(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def same_feature(d: dict[str, Any], t: dict[str, Any], where: str) -> None:
    if d.get("id") != t.get("id"):
        raise Mismatch(f"{where}: id {d.get('id')!r} ≠ tipg {t.get('id')!r}")
    dp, tp = d.get("properties") or {}, t.get("properties") or {}
    if set(dp) != set(tp):
        raise Mismatch(f"{where} id {d['id']}: properties differ: only Diming {sorted(set(dp) - set(tp))}, "
                       f"only tipg {sorted(set(tp) - set(dp))}")
    for k in dp:
        if dp[k] != tp[k]:
            raise Mismatch(f"{where} id {d['id']}: property {k}: {dp[k]!r} ≠ tipg {tp[k]!r}")
    dg, tg = d.get("geometry"), t.get("geometry")
    if (dg is None) != (tg is None) or (dg and (dg["type"] != tg["type"]  # type: ignore[index]
                                                or not _coords_equal(dg["coordinates"], tg["coordinates"]))):  # type: ignore[index]
        raise Mismatch(f"{where} id {d['id']}: geometry {dg} ≠ tipg {tg}")


def get_json(port: int, path: str) -> dict[str, Any]:
    status, headers, body = fetch(port, path)
    if status != 200:
        raise Mismatch(f"{path}: HTTP {status}: {body[:300]!r}")
    if not headers.get("content-type", "").startswith(("application/geo+json", "application/json")):
        raise Mismatch(f"{path}: content type {headers.get('content-type')}")
    doc: dict[str, Any] = json.loads(body)
    return doc


def compare(kind: str, diming: dict[str, Any], tipg: dict[str, Any], label: str, count_must_match: bool
            ) -> dict[str, Any]:
    """Raise Mismatch unless the two responses carry the same features (ids in order, properties, geometry)
    and — when ``count_must_match`` — the same numberMatched and numberReturned."""
    if kind == "feature":
        same_feature(diming, tipg, label)
        return {"features": 1}
    df, tf = diming["features"], tipg["features"]
    if [f["id"] for f in df] != [f["id"] for f in tf]:
        raise Mismatch(f"{label}: feature ids differ (first Diming {[f['id'] for f in df[:5]]}, "
                       f"tipg {[f['id'] for f in tf[:5]]}; {len(df)} vs {len(tf)} features)")
    for d, t in zip(df, tf, strict=True):
        same_feature(d, t, label)
    if diming.get("numberReturned") != tipg.get("numberReturned"):
        raise Mismatch(f"{label}: numberReturned {diming.get('numberReturned')} ≠ tipg {tipg.get('numberReturned')}")
    dm, tm = diming.get("numberMatched"), tipg.get("numberMatched")
    if count_must_match and dm != tm:
        raise Mismatch(f"{label}: numberMatched {dm} ≠ tipg {tm}")
    return {"features": len(df), "numberMatched": dm, "tipg_numberMatched": tm}


# -- MVT: just enough protobuf to compare tiles --------------------------------------------------------------

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        v: int | bytes
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((num, v))
    return out


def _packed(buf: bytes) -> list[int]:
    out, i = [], 0
    while i < len(buf):
        v, i = _varint(buf, i)
        out.append(v)
    return out


def _mvt_value(buf: bytes) -> Any:
    import struct
    for num, v in _fields(buf):
        if num == 1:
            return v.decode()
        if num == 2:
            return struct.unpack("<f", v)[0]
        if num == 3:
            return struct.unpack("<d", v)[0]
        if num in (4, 5):
            return v if num == 5 or v < 2**63 else v - 2**64
        if num == 6:
            return (v >> 1) ^ -(v & 1)
        if num == 7:
            return bool(v)
    return None


def decode_mvt(data: bytes, id_attr: str | None = None) -> dict[int, tuple[dict[str, Any], tuple[int, ...]]]:
    """{feature id: (attributes, geometry commands)} of a one-layer tile; the id from the MVT feature id, or
    from the attribute ``id_attr`` (tipg has no feature id: place_id is an attribute there)."""
    out: dict[int, tuple[dict[str, Any], tuple[int, ...]]] = {}
    for num, layer in _fields(data):
        if num != 3:
            continue
        keys: list[str] = []
        values: list[Any] = []
        feats: list[bytes] = []
        for n, v in _fields(layer):
            if n == 3:
                keys.append(v.decode())
            elif n == 4:
                values.append(_mvt_value(v))
            elif n == 2:
                feats.append(v)
        for f in feats:
            fid, tags = None, []
            geom: tuple[int, ...] = ()
            for n, v in _fields(f):
                if n == 1:
                    fid = v
                elif n == 2:
                    tags = _packed(v)
                elif n == 4:
                    geom = tuple(_packed(v))
            attrs = {keys[tags[i]]: values[tags[i + 1]] for i in range(0, len(tags), 2)}
            if id_attr is not None:
                fid = attrs.pop(id_attr)
            assert fid is not None and fid not in out, "feature id missing or repeated"
            out[int(fid)] = (attrs, geom)
    return out


# -- load ------------------------------------------------------------------------------------------------------

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


def _ms(m: re.Match[str] | None) -> float:
    if m is None:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(m.group(2), 1.0)


def wrk(port: int, path: str, expected: int, seconds: int, threads: int, connections: int, lua: Path
        ) -> dict[str, Any]:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
                          "-s", str(lua), f"http://127.0.0.1:{port}{path}", "--", str(expected)],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    checked = re.search(r"CHECKED (\d+) BAD (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": _ms(re.search(r"50%\s+([\d.]+)(\w+)", out)),
            "p99_ms": _ms(re.search(r"99%\s+([\d.]+)(\w+)", out)),
            "checked": int(checked.group(1)) if checked else 0, "bad": int(checked.group(2)) if checked else -1,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else ""}


_TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's worker processes)."""
    parents: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each process (those that have exited are left out)."""
    out = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            out[p] = (int(f[11]) + int(f[12])) / _TICK
        except OSError:
            pass
    return out


def backends(url: str, db: str) -> list[int]:
    """The server processes of the database's connections (whoever is measured owns nearly all the CPU)."""
    out = subprocess.run(["psql", "-Atc", f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}'",
                          "-h", str(make_url(url).query.get("host") or make_url(url).host), "-U",
                          str(make_url(url).username), "postgres"], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def sql_literal(sql: str, values: list[Any]) -> str:
    """Diming's statement with its parameters written in (pgbench runs it prepared, without arguments)."""
    def lit(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return {True: "true", False: "false", None: "NULL"}[v]
        if isinstance(v, (int, float)):
            return repr(v)
        return "'" + str(v).replace("'", "''") + "'"

    return re.sub(r"%\(p(\d+)\)s", lambda m: lit(values[int(m.group(1)) - 1]), sql).replace("%%", "%")


def pgbench(url: str, db: str, sql: str, seconds: int, clients: int) -> dict[str, Any]:
    target = make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        # The session settings Diming's read pool uses (gis_api.ogc.reader.SERVER_SETTINGS)
        fh.write(" ".join(sql.split()) + ";\n")
        script = fh.name
    from gis_api.ogc.reader import SERVER_SETTINGS
    opts = " ".join(f"-c {k}={v}" for k, v in SERVER_SETTINGS.items() if k != "application_name")
    env = {**os.environ, "PGOPTIONS": opts}
    for _try in range(6):  # a shared cluster may be out of connections for a moment: wait, try again
        out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                              "-h", str(target.query.get("host") or target.host), "-U", str(target.username), "-f",
                              script, "-r", db], capture_output=True, text=True, env=env)
        if out.returncode == 0 or "too many clients" not in out.stderr:
            break
        print("  (pgbench: too many clients on the cluster; again in 10 s)", flush=True)
        time.sleep(10)
    os.unlink(script)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed: {out.stderr[-500:]}")
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    lat = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    return {"rps": tps, "p50_ms": float(lat.group(1)) if lat else float("nan"), "p99_ms": float("nan"),
            "checked": 0, "bad": 0, "non2xx": 0, "socket_errors": ""}


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


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")  # a server that answered nothing in a round (seen: tipg stalling)


def median(values: list[float]) -> float:
    return pct(values, 50) if len(values) % 2 else (sorted(values)[len(values) // 2 - 1]
                                                    + sorted(values)[len(values) // 2]) / 2


TILE_D = "/ogc/collections/places/tiles/WebMercatorQuad/{z}/{y}/{x}"
TILE_T = "/collections/public.places/tiles/WebMercatorQuad/{z}/{x}/{y}?properties=place_id,name,category_code,status"


def get_tile(port: int, path: str) -> bytes:
    status, headers, body = fetch(port, path)
    if status not in (200, 204):
        raise Mismatch(f"tile {path}: HTTP {status}")
    if status == 200 and not headers.get("content-type", "").startswith("application/vnd.mapbox-vector-tile"):
        raise Mismatch(f"tile {path}: content type {headers.get('content-type')}")
    return body if status == 200 else b""


def _inside(geom: tuple[int, ...]) -> bool:
    """Whether a point feature lies in the tile proper (not in the buffer ring around it, nor on its edge, where
    rounding to the tile grid decides)."""
    if len(geom) != 3 or geom[0] != 9:  # MoveTo ×1: a single point
        return True
    x, y = ((geom[1] >> 1) ^ -(geom[1] & 1)), ((geom[2] >> 1) ^ -(geom[2] & 1))
    return 0 < x < 4096 and 0 < y < 4096


def compare_tile(port_d: int, port_t: int, z: int, x: int, y: int) -> tuple[int, int, int, bool]:
    """(features Diming, features tipg, Diming's features in the buffer ring, whether the tile was over the
    limit) — raises Mismatch unless the features inside the tile are the same (ids, attributes, geometry).

    tipg selects the features inside the tile only (its buffer setting pads the geometry, not the selection);
    Diming also sends those within 64 units around it (so labels and symbols are not cut at tile edges):
    compared are the features inside the tile, the ring is counted."""
    d = decode_mvt(get_tile(port_d, TILE_D.format(z=z, x=x, y=y)))
    t = decode_mvt(get_tile(port_t, TILE_T.format(z=z, x=x, y=y)), id_attr="place_id")
    over = len(t) >= TILE_LIMIT or len(d) >= TILE_LIMIT
    if over:
        if len(t) > TILE_LIMIT or len(d) > TILE_LIMIT:
            raise Mismatch(f"tile {z}/{x}/{y}: {len(d)} / {len(t)} features, limit {TILE_LIMIT}")
        return len(d), len(t), 0, True
    d_in = {k: v for k, v in d.items() if _inside(v[1])}
    t_in = {k: v for k, v in t.items() if _inside(v[1])}
    if set(d_in) != set(t_in):
        raise Mismatch(f"tile {z}/{x}/{y}: feature ids differ: {len(d_in)} vs {len(t_in)}, only Diming "
                       f"{sorted(set(d_in) - set(t_in))[:5]}, only tipg {sorted(set(t_in) - set(d_in))[:5]}")
    for fid, (attrs, geom) in d_in.items():
        if (attrs, geom) != t_in[fid]:
            raise Mismatch(f"tile {z}/{x}/{y} feature {fid}: {attrs} {geom} ≠ tipg {t_in[fid]}")
    return len(d), len(t), len(d) - len(d_in), False


def time_tiles(port: int, path: str, tiles: list[tuple[int, int, int]]) -> list[float]:
    out = []
    for z, x, y in tiles:
        t = time.perf_counter()
        get_tile(port, path.format(z=z, x=x, y=y))
        out.append((time.perf_counter() - t) * 1000)
    return out


# -- main ------------------------------------------------------------------------------------------------------

def load_db(args: argparse.Namespace, url: str, today: dt.date) -> None:
    csv_path = write_csv(CACHE / f"ogc_points_{args.rows}_{args.order}.csv", args.rows, args.order)
    print(f"points file: {csv_path} ({args.rows:,} rows, {args.order} order)")
    print(f"creating {args.db} …", flush=True)
    recreate_database(url)
    run_migrations(url)
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    load(engine, csv_path, today - dt.timedelta(days=1))
    engine.dispose()
    if args.ogr2ogr:
        ogr2ogr_load(url, csv_path, args.rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--order", choices=("random", "hilbert"), default="random",
                    help="file order of the points (= place id order; stored grouped by division, then in this "
                         "order): random, or along a Hilbert curve")
    ap.add_argument("--db", help="scratch database (default ogc_bench_<order>; re-created unless --reuse)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    ap.add_argument("--reuse", action="store_true", help="reuse a kept scratch database (skip the load)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per server (at least 3)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk / pgbench run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1, help="server worker processes, the same for both servers")
    ap.add_argument("--pool", type=int, default=5,
                    help="database connections per worker process (read pool), the same for both servers; the "
                         "cluster's max_connections is shared")
    ap.add_argument("--cases", default="abc", help="which of a, b, c to measure")
    ap.add_argument("--ogr2ogr", action="store_true", help="also time ogr2ogr loading the same file")
    ap.add_argument("--no-tiles", action="store_true")
    ap.add_argument("--tiles", type=int, default=30, help="tiles compared and timed per zoom level")
    ap.add_argument("--port", type=int, default=8811, help="first of three ports (Diming exact, default, tipg)")
    ap.add_argument("--base-tree", type=Path,
                    help="also run this checkout's code (e.g. a git archive of the previous revision) as "
                         "'base-exact', interleaved with the others: old and new compared in the same rounds")
    args = ap.parse_args(argv)
    args.rounds = max(3, args.rounds)
    args.db = args.db or f"ogc_bench_{args.order}"

    settings = load_settings()
    url = database_url(settings.db, args.db)
    if not args.reuse:
        load_db(args, url, dt.date.today())
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM places")).scalar_one()
        in_force = c.execute(text("SELECT count(*) FROM places WHERE valid_from <= current_date "
                                  "AND (valid_to IS NULL OR valid_to > current_date)")).scalar_one()
        exact_a = c.execute(text("SELECT count(*) FROM places WHERE ST_Intersects(geom, ST_MakeEnvelope("
                                 ":a, :b, :c, :d, 4490))"), dict(zip("abcd", BBOX_A, strict=True))).scalar_one()
        place_id = c.execute(text("SELECT place_id FROM places ORDER BY place_id OFFSET :o LIMIT 1"),
                             {"o": n // 2}).scalar_one()
    engine.dispose()
    print(f"{args.db}: {n:,} rows ({in_force:,} in force today: the same rows for both servers); "
          f"{exact_a:,} in bbox (a)")
    if in_force != n:
        raise SystemExit("every row must be in force today, or the servers would not serve the same rows")

    props = common_properties()
    pq = "properties=" + ",".join(props)
    port_x, port_d, port_t = args.port, args.port + 1, args.port + 2
    bbox = ",".join(str(v) for v in BBOX_A)
    cases = {
        "a": (f"items?bbox={bbox}&limit=100", "bbox", 100,
              f"/ogc/collections/places/items?bbox={bbox}&limit=100&{pq}",
              f"/collections/public.places/items?bbox={bbox}&limit=100&{pq}"),
        "b": ("one item", "feature", 1, f"/ogc/collections/places/items/{place_id}?{pq}",
              f"/collections/public.places/items/{place_id}?{pq}"),
        "c": ("items?limit=1000", "page", 1000, f"/ogc/collections/places/items?limit=1000&{pq}",
              f"/collections/public.places/items?limit=1000&{pq}"),
    }
    cases = {k: v for k, v in cases.items() if k in args.cases}
    servers = {"diming-exact": port_x, "diming": port_d, "tipg": port_t}
    if args.base_tree:
        servers["base-exact"] = args.port + 3
    print(f"servers: {args.workers} worker process(es) each, read pools of {args.pool} connections; "
          f"Diming 'exact' counts every match "
          f"(DIMING_OGC_EXACT_COUNT_MAX={EXACT_ALL:,}), 'diming' runs the default settings; "
          f"properties compared: {len(props)}")
    procs = [start_diming(args.db, port_x, args.workers, EXACT_ALL, args.pool),
             start_diming(args.db, port_d, args.workers, None, args.pool),
             start_tipg(url, args.db, port_t, args.workers, props, args.pool)]
    if args.base_tree:
        procs.append(start_diming(args.db, servers["base-exact"], args.workers, EXACT_ALL, args.pool,
                                  tree=args.base_tree.resolve()))
    pid_of = dict(zip(servers, (p.pid for p in procs), strict=True))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {k: {} for k in cases}
    ceiling_of: dict[str, dict[str, str]] = {}
    tile_rows: list[str] = []
    try:
        wait_http(port_x, "/ogc/collections/places")
        wait_http(port_d, "/ogc/collections/places")
        wait_http(port_t, "/collections/public.places")
        if args.base_tree:
            wait_http(servers["base-exact"], "/ogc/collections/places")

        print("\n== responses compared in Python: ids and order, properties, geometry, counts ==")
        for k, (label, kind, _e, path_d, path_t) in cases.items():
            t_doc = get_json(port_t, path_t)
            info = compare(kind, get_json(port_x, path_d), t_doc, f"({k}) exact", count_must_match=True)
            info_d = compare(kind, get_json(port_d, path_d), t_doc, f"({k}) default", count_must_match=False)
            if args.base_tree:
                compare(kind, get_json(servers["base-exact"], path_d), t_doc, f"({k}) base exact",
                        count_must_match=True)
            # the statement the default server runs: with the count while it is exact, else the page alone
            exact_default = kind in ("feature", "page") or t_doc.get("numberMatched", 0) <= DEFAULT_EXACT_MAX
            ceiling_of[k] = {"diming-exact": "sql", "diming": "sql" if exact_default else "sql-page"}
            if kind == "feature":
                print(f"  ({k}) {label}: identical (id, {len(props)} properties, geometry) on all three")
            else:
                dm, tm = info_d["numberMatched"], info_d["tipg_numberMatched"]
                print(f"  ({k}) {label}: {info['features']} features identical in order, properties and geometry; "
                      f"numberMatched tipg {tm:,}, Diming exact {info['numberMatched']:,}, Diming default {dm:,}"
                      f"{' (same)' if dm == tm else ' (estimate: differs by ' + f'{dm - tm:+,})'}")
            # paging too: the next page is identical (ids continue in the same order)
            if kind == "page":
                nd = get_json(port_x, path_d + "&offset=1000")
                nt = get_json(port_t, path_t + "&offset=1000")
                compare(kind, nd, nt, f"({k}) exact, second page", count_must_match=True)
                print(f"  ({k}) second page (offset=1000): identical too")

        if not args.no_tiles:
            print(f"\n== MVT tiles compared (limit {TILE_LIMIT} features, buffer {TILE_BUFFER}, extent 4096 "
                  "on both) ==")
            rnd = random.Random(SEED)
            tiles = {z: tiles_for(z, args.tiles, rnd) for z in range(10, 15)}
            for z, ts in tiles.items():
                n_d = n_t = ring = over = 0
                for _z, x, y in ts:
                    a, b, r_, o = compare_tile(port_d, port_t, z, x, y)
                    n_d, n_t, ring, over = n_d + a, n_t + b, ring + r_, over + o
                print(f"  z{z}: {len(ts)} tiles, {n_d:,} / {n_t:,} features (Diming / tipg); {len(ts) - over} with "
                      f"the same features inside the tile (+{ring:,} on the edge or in Diming's buffer ring), {over} "
                      f"over the limit (both ≤ {TILE_LIMIT}, different samples)")

        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_LUA)
            lua = Path(fh.name)
        coll = get_collection("places")
        assert coll is not None
        from gis_api.ogc.params import parse_props
        plist = parse_props(coll, ",".join(props))
        today = dt.date.today()  # noqa: F841 — Diming's "today" is the bureau's (clock.today); the same here
        from gis_api import clock
        tf = query.TimeFilter(as_of=clock.today())
        out = crs_mod.resolve(None)
        sqls: dict[str, dict[str, str]] = {}
        for k, (_l, kind, _e, _pd, _pt) in cases.items():
            if kind == "feature":
                s_, p_ = query.item_sql(coll, str(place_id), plist, out, tf)
                sqls[k] = {"sql": sql_literal(s_, p_.values)}
                sqls[k]["sql-pool"] = sqls[k]["sql"]
                continue
            q = query.ItemsQuery(collection=coll, limit=100 if kind == "bbox" else 1000, offset=0, crs=out, props=plist,
                                 time=tf)
            if kind == "bbox":
                q.bbox = BBOX_A
                q.spatial_leads = True
            # the statement of the "exact" server (every count exact), and the page alone
            s_, p_, _w, _wp = query.items_sql(q, EXACT_ALL, count_exact=True)
            sqls[k] = {"sql": sql_literal(s_, p_.values)}
            s2, p2, _w, _wp = query.items_sql(q, EXACT_ALL, count_exact=False)
            sqls[k]["sql-page"] = sql_literal(s2, p2.values)
            sqls[k]["sql-pool"] = sqls[k]["sql"]
        print(f"\n== load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s (every response checked: "
              f"status 200, feature count) and pgbench -c{args.connections} of Diming's statement; "
              f"{args.rounds} interleaved "
              "rounds ==", flush=True)
        for k, (_label, _kind, expected, path_d, path_t) in cases.items():
            paths = {"diming-exact": path_d, "diming": path_d, "tipg": path_t, "base-exact": path_d}
            for s, port in servers.items():  # warm-up: connections opened, statements prepared
                wrk(port, paths[s], expected, 2, args.threads, args.connections, lua)
            runs: dict[str, list[dict[str, Any]]] = {s: [] for s in [*servers, *sqls[k]]}
            for r in range(args.rounds):
                for s in runs:
                    load1 = os.getloadavg()[0]
                    if s in servers:
                        # CPU per request, server process(es) and database backends: a figure the machine's
                        # other load does not change much (req/s under a load average of 15 does)
                        spids, bpids = _tree(pid_of[s]), backends(url, args.db)
                        before = cpu_seconds(spids), cpu_seconds(bpids)
                        res = wrk(servers[s], paths[s], expected, args.duration, args.threads, args.connections, lua)
                        # connections opened during the run (a pool replacing one) count whole
                        after = cpu_seconds(spids), cpu_seconds(sorted({*bpids, *backends(url, args.db)}))
                        done = max(1.0, res["rps"] * args.duration)
                        res["cpu_app_ms"], res["cpu_db_ms"] = (1000 * sum(a[p] - b.get(p, 0.0) for p in a) / done
                                                               for a, b in zip(after, before, strict=True))
                    else:
                        # sql-pool: as many clients as one server has connections (under a high load, 16
                        # backends take a larger share of the CPU than a server's pool)
                        res = pgbench(url, args.db, sqls[k][s], args.duration,
                                      args.pool * args.workers if s == "sql-pool" else args.connections)
                    res["load"] = load1
                    runs[s].append(res)
                    print(f"  ({k}) round {r + 1} {s:12} {res['rps']:8.1f} req/s  p50 {res['p50_ms']:7.2f} ms  "
                          f"p99 {res['p99_ms']:7.2f} ms  load {load1:4.1f}  bad {res['bad'] + res['non2xx']}"
                          f"{'  socket errors: ' + res['socket_errors'] if res['socket_errors'] else ''}"
                          + (f"  CPU/req app {res['cpu_app_ms']:5.2f} db {res['cpu_db_ms']:5.2f} ms"
                             if "cpu_app_ms" in res else ""), flush=True)
            results[k] = runs
        lua.unlink()

        if not args.no_tiles:
            print("\n== MVT tiles, sequential, one connection (ms), interleaved rounds ==")
            warm = random.Random(SEED + 1)
            for z, ts in tiles.items():
                time_tiles(port_d, TILE_D, tiles_for(z, 12, warm))
                time_tiles(port_t, TILE_T, tiles_for(z, 12, warm))
                dd: list[float] = []
                tt: list[float] = []
                loads = []
                for _r in range(args.rounds):
                    loads.append(os.getloadavg()[0])
                    dd += time_tiles(port_d, TILE_D, ts)
                    tt += time_tiles(port_t, TILE_T, ts)
                row = (f"  z{z}: {len(ts):3d} tiles × {args.rounds}  Diming p50 {pct(dd, 50):6.1f} "
                       f"p95 {pct(dd, 95):6.1f}"
                       f"  | tipg p50 {pct(tt, 50):6.1f} p95 {pct(tt, 95):6.1f}  | p50 ratio "
                       f"{pct(tt, 50) / pct(dd, 50):4.2f}×  load {' '.join(f'{v:.1f}' for v in loads)}")
                tile_rows.append(row)
                print(row, flush=True)
    except Mismatch as exc:
        print(f"\nNOT like for like: {exc}")
        stop(procs)
        return 2
    finally:
        stop(procs)

    print(f"\n== summary ({args.order} order, {n:,} rows, {args.workers} worker(s) each, {os.cpu_count()} cores) ==")
    print("  req/s: median [min–max] over rounds; p50 / p99 ms: medians; ratios: median [min–max] of per-round ratios")
    for k, runs in results.items():
        label = cases[k][0]
        print(f"  ({k}) {label}")
        for s, rs in runs.items():
            rps = [x["rps"] for x in rs]
            line = (f"     {s:12} {median(rps):8.1f} [{min(rps):7.1f}–{max(rps):7.1f}]  p50 "
                    f"{median([x['p50_ms'] for x in rs]):7.2f}  p99 {median([x['p99_ms'] for x in rs]):7.2f}  "
                    "load " + " ".join(f"{x['load']:.1f}" for x in rs))
            if "cpu_app_ms" in rs[0]:
                line += (f"  CPU/req app {median([x['cpu_app_ms'] for x in rs]):5.2f} db "
                         f"{median([x['cpu_db_ms'] for x in rs]):5.2f} ms")
            if s == "base-exact":
                ratios = [ratio(a["rps"], b["rps"]) for a, b in zip(rs, runs["tipg"], strict=True)]
                new = [ratio(a["rps"], b["rps"]) for a, b in zip(runs["diming-exact"], rs, strict=True)]
                line += (f"  ×tipg {median(ratios):5.2f} [{min(ratios):.2f}–{max(ratios):.2f}]  diming-exact / "
                         f"base {median(new):4.2f} [{min(new):.2f}–{max(new):.2f}]")
            if s.startswith("diming"):
                ratios = [ratio(a["rps"], b["rps"]) for a, b in zip(rs, runs["tipg"], strict=True)]
                line += f"  ×tipg {median(ratios):5.2f} [{min(ratios):.2f}–{max(ratios):.2f}]"
                ref = ceiling_of[k][s] if ceiling_of[k][s] in runs else "sql"
                ceil = [ratio(a["rps"], b["rps"]) for a, b in zip(rs, runs[ref], strict=True)]
                line += f"  ×ceiling({ref}) {median(ceil):4.2f} [{min(ceil):.2f}–{max(ceil):.2f}]"
                if "sql-pool" in runs and ref == "sql":
                    cp = [ratio(a["rps"], b["rps"]) for a, b in zip(rs, runs["sql-pool"], strict=True)]
                    line += f"  ×ceiling(sql-pool) {median(cp):4.2f} [{min(cp):.2f}–{max(cp):.2f}]"
            print(line)
        for s in ("diming-exact", "diming"):
            ratios = [ratio(a["rps"], b["rps"]) for a, b in zip(runs[s], runs["tipg"], strict=True)]
            ref = ceiling_of[k][s] if ceiling_of[k][s] in runs else "sql"
            ceil = [ratio(a["rps"], b["rps"]) for a, b in zip(runs[s], runs[ref], strict=True)]
            p99_ok = median([x["p99_ms"] for x in runs[s]]) <= median([x["p99_ms"] for x in runs["tipg"]])
            print(f"     target {s}: ≥ {TARGETS[k]}× tipg: {'met' if median(ratios) >= TARGETS[k] else 'NOT met'}; "
                  f"≥ ½ of the raw-SQL ceiling: {'met' if median(ceil) >= 0.5 else 'NOT met'}"
                  + (f"; p99 ≤ tipg's: {'met' if p99_ok else 'NOT met'}" if k == "b" else ""))
    for row in tile_rows:
        print(row)
    bad = sum(x["bad"] + x["non2xx"] for runs in results.values() for rs in runs.values() for x in rs)
    print(f"  responses failing the wrk check: {bad}")
    if not args.keep and not args.reuse:
        drop_database(url)
        print(f"dropped {args.db}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
