"""Mixed load: 50 concurrent clients on the Feidong demo against a real server, reads, search, OGC and writes.

In a scratch database (``scale_mixed``, re-created, dropped unless --keep) with the Feidong demo (divisions,
boundaries, places, facilities) and an officer user, it runs two servers on loopback — A with one uvicorn worker
process, B with --workers-b (default: the number of CPUs) — for --rounds interleaved rounds (A, B then B, A …) of
--seconds per write model with --clients closed-loop clients (each sends its next request when the last is
answered). Only one server runs at a time (started for its turn, warmed up, stopped after it), so that the
benchmark's own pools stay within a shared cluster's max_connections. Each client draws its requests from a
fixed mix (weights in MIX):

* reads: GET a place (/api/v1/places/{id}), a division (/api/v1/divisions/{code}), a boundary line
  (/api/v1/boundaries/{id});
* search: /api/v1/places/search with the query kinds of search_bench.py, drawn from the demo's names;
* OGC: items in a bbox (limit 100) and single items of the places collection;
* writes: PATCH a place's 历史沿革 (``history``, the register's cultural note) through the REST API as a logged-in
  officer with If-Match: the client's last known ETag of that place (read with a GET the first time); a 412
  (someone else wrote it first) is answered by re-reading the place and trying again — correct client
  behaviour, and the write's time includes it (after 10 412s in a row the write is given up and counted).

Two write models, each run every round on every server (both reported, neither hidden):

* ``realistic`` (the default model of real use): every client is an officer with places of their own
  (--own-places each, disjoint); a share --collide of the writes (default 2 %) goes to a place another client
  owns, which answers 412 when that officer wrote it since this one last read it;
* ``stress``: all writers share --shared-places places (default 20, the model of the earlier figures; 0 skips
  it), so most writes meet a 412 and queue on the same row locks.

It prints the mix (share of each request class), p50/p95/p99 per class and overall for each model and server,
requests/s, the 412s and every other error (the aim: none), CPU per request under the load (server processes and
PostgreSQL backends), the load average per round, and the ratio B/A. Target: p95 ≤ 300 ms overall. Figures only.

Old code against new: ``--a-rev REV`` runs server A from that git revision (``git archive`` into a scratch
directory, same database, same embedded cluster), server B from this checkout; with ``--workers-b 1`` both have one
worker, so the rounds compare the code alone. ``--a-tree DIR`` / ``--b-tree DIR`` run a server from a directory
(e.g. ``git archive HEAD`` untarred, so that a shared work tree's uncommitted edits stay out of the comparison).

    .venv/bin/python scripts/bench/mixed_load.py [--clients 50] [--seconds 30] [--rounds 2] [--keep]
    .venv/bin/python scripts/bench/mixed_load.py --a-rev b003948 --workers-b 1 --rounds 3 --seconds 20
    .venv/bin/python scripts/bench/mixed_load.py --shared-places 0 --collide 0.05   # realistic model only, 5 %
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _http_load as hl  # noqa: E402
import search_bench as sb  # noqa: E402

from gis_api import auth  # noqa: E402
from gis_api.boundaries.demo import load_demo_boundaries  # noqa: E402
from gis_api.cli import run_migrations  # noqa: E402
from gis_api.db import CONNECTION_OPTIONS, database_url, drop_database, recreate_database  # noqa: E402
from gis_api.divisions.demo import load_demo  # noqa: E402
from gis_api.facilities.demo import load_demo_facilities  # noqa: E402
from gis_api.places.demo import load_demo_places  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

MIX = {"place": 15, "division": 10, "boundary": 10, "search": 25, "ogc_bbox": 15, "ogc_item": 15, "write": 10}
CLASSES = tuple(MIX)
OFFICER, PASSWORD = "scale_officer", "correct horse battery staple"
TARGET_P95_MS = 300.0


def setup(url: str) -> dict[str, Any]:
    recreate_database(url)
    run_migrations(url)
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    try:
        with Session(engine) as s:
            load_demo(s)
            load_demo_boundaries(s)
            load_demo_places(s)
            load_demo_facilities(s)
            auth.create_user(s, OFFICER, PASSWORD, ["officer"])
            s.commit()
        with engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        with Session(engine) as s:
            today = dt.date.today()
            places = [int(x) for x in s.scalars(text(
                "SELECT place_id FROM places WHERE valid_to IS NULL ORDER BY place_id"))]
            divisions = list(s.scalars(text("SELECT DISTINCT code FROM divisions WHERE valid_to IS NULL")))
            lines = list(s.scalars(text("SELECT line_id FROM boundary_lines ORDER BY line_id")))
            sample = s.execute(text(
                "SELECT name, zhuanming, initials, division_code, ST_X(ST_PointOnSurface(geom)) AS lon, "
                "ST_Y(ST_PointOnSurface(geom)) AS lat FROM places WHERE valid_to IS NULL ORDER BY md5(name)")).all()
        queries = sb.queries_from_sample(sample, min(400, len(sample) // 2), 20261206, today)
        return {"places": places, "divisions": divisions, "lines": lines,
                "search": [sb.query_path(q) for _k, q in queries],
                "bbox": [f"{r.lon - 0.02:.5f},{r.lat - 0.02:.5f},{r.lon + 0.02:.5f},{r.lat + 0.02:.5f}"
                         for r in sample[:300]]}
    finally:
        engine.dispose()


def checkout(rev: str) -> Path:
    """The tree of git revision ``rev`` in a scratch directory (``git archive``: no work tree of ours touched)."""
    out = Path(tempfile.mkdtemp(prefix="mixed_load_"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def login(port: int) -> str:
    status, body = hl.Client(port).request(
        "POST", "/api/v1/auth/token", urlencode({"username": OFFICER, "password": PASSWORD}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise SystemExit(f"login failed: {status} {body[:200]!r}")
    return str(json.loads(body)["access_token"])


def writable(port: int, token: str, places: list[int], n: int) -> list[int]:
    """``n`` places whose 历史沿革 an officer may correct (a trial PATCH each answered 200)."""
    c = hl.Client(port, {"Authorization": f"Bearer {token}"})
    out: list[int] = []
    for pid in places:
        status, _b = c.request("GET", f"/api/v1/places/{pid}")
        if status != 200:
            continue
        status, body = c.request("PATCH", f"/api/v1/places/{pid}", _note(0, 0),
                                 {"If-Match": c.last_headers["etag"], "Content-Type": "application/json"})
        if status == 200:
            out.append(pid)
        elif not out:
            print(f"  (place {pid} not writable: {status} {body[:160].decode(errors='replace')})")
        if len(out) >= n:
            break
    return out


def _note(client: int, n: int) -> bytes:
    return json.dumps({"history": f"混合负载测试记录（合成示例）：客户端 {client} 第 {n} 次更正",
                       "reason": "mixed-load benchmark (synthetic)"}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class WriteModel:
    """Which places each client writes. ``own[w]``: client w's own places; with probability ``collide`` a write
    goes to a place of another client instead (``own`` of every client the same list: all places shared)."""

    name: str
    own: list[list[int]]
    collide: float

    def pick(self, rnd: random.Random, w: int) -> int:
        mine = self.own[w % len(self.own)]
        if self.collide and len(self.own) > 1 and rnd.random() < self.collide:
            other = rnd.choice([i for i in range(len(self.own)) if i != w % len(self.own)])
            return rnd.choice(self.own[other])
        return rnd.choice(mine)

    def describe(self) -> str:
        shared = len(self.own) == 1 or all(o == self.own[0] for o in self.own)
        if shared:
            return f"{self.name}: every writer writes any of the same {len(self.own[0])} places"
        sizes = sorted({len(o) for o in self.own})
        return (f"{self.name}: each of {len(self.own)} clients writes its own {'/'.join(map(str, sizes))} places; "
                f"{self.collide:.0%} of writes go to another client's place")


def realistic(places: list[int], clients: int, per_client: int, collide: float) -> WriteModel:
    """Disjoint places per client (round-robin over ``places``; fewer places than needed → fewer per client)."""
    if len(places) < clients:  # not enough to go round: some clients share one (describe() says so)
        return WriteModel("realistic", [[places[i % len(places)]] for i in range(clients)], collide)
    k = max(1, min(per_client, len(places) // clients))
    return WriteModel("realistic", [places[i * k:(i + 1) * k] for i in range(clients)], collide)


def new_stats() -> dict[str, int]:
    return {"412": 0, "written": 0, "write_errors": 0, "gave_up": 0}


def make_job(data: dict[str, Any], model: WriteModel, token: str, stats: dict[str, int], seed: int,
             only: str | None = None) -> hl.Job:
    kinds = [only] if only else [k for k, w in MIX.items() for _ in range(w)]
    rngs: dict[int, random.Random] = {}
    etags: dict[int, dict[int, str]] = {}
    auth_h = {"Authorization": f"Bearer {token}"}

    def job(c: hl.Client, w: int, n: int) -> tuple[str, int, bool]:
        rnd = rngs.setdefault(w, random.Random(seed * 1000 + w))
        kind = rnd.choice(kinds)
        if kind == "place":
            status, _b = c.request("GET", f"/api/v1/places/{rnd.choice(data['places'])}")
        elif kind == "division":
            status, _b = c.request("GET", f"/api/v1/divisions/{rnd.choice(data['divisions'])}")
        elif kind == "boundary":
            status, _b = c.request("GET", f"/api/v1/boundaries/{rnd.choice(data['lines'])}")
        elif kind == "search":
            status, _b = c.request("GET", rnd.choice(data["search"]))
        elif kind == "ogc_bbox":
            status, _b = c.request("GET", f"/ogc/collections/places/items?bbox={rnd.choice(data['bbox'])}&limit=100")
        elif kind == "ogc_item":
            status, _b = c.request("GET", f"/ogc/collections/places/items/{rnd.choice(data['places'])}")
        else:
            known = etags.setdefault(w, {})
            pid = model.pick(rnd, w)
            for _attempt in range(10):
                if pid not in known:
                    status, _b = c.request("GET", f"/api/v1/places/{pid}", headers=auth_h)
                    if status != 200:
                        break
                    known[pid] = c.last_headers["etag"]
                status, body = c.request("PATCH", f"/api/v1/places/{pid}", _note(w, n),
                                         {**auth_h, "If-Match": known[pid], "Content-Type": "application/json"})
                if status == 412:  # someone wrote it since we read it: re-read, try again
                    stats["412"] += 1
                    known.pop(pid, None)
                    continue
                if status == 200:
                    known[pid] = c.last_headers["etag"]
                    stats["written"] += 1
                else:
                    stats["write_errors"] += 1
                    if stats["write_errors"] <= 3:
                        print(f"  write error {status}: {body[:200].decode(errors='replace')}")
                break
            else:
                stats["gave_up"] += 1
        return kind, status, status == 200

    return job


def backends(engine: Any, db: str) -> list[int]:
    with engine.connect() as c:
        return [int(p) for p in c.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": db}).scalars()]


class CpuMeter:
    """CPU seconds of a server's processes and of the database's backends between ``start`` and ``stop``
    (backends that ended in between are missed: the pools keep theirs, so little is)."""

    def __init__(self, engine: Any, db: str, pid: int) -> None:
        self.engine, self.db, self.pid = engine, db, pid

    def start(self) -> None:
        self.before_s = hl.cpu_seconds(hl.process_tree(self.pid))
        self.before_d = hl.cpu_seconds(backends(self.engine, self.db))
        self.before_n = self.sessions()

    def sessions(self) -> int:
        """Backends started on the database so far (a pool that closes and re-opens connections starts many —
        whose CPU the /proc figures miss once they are gone)."""
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT sessions FROM pg_stat_database WHERE datname = :db"),
                                 {"db": self.db}).scalar_one())

    def opened(self) -> int:
        return self.sessions() - self.before_n

    def stop(self) -> tuple[float, float]:
        after_s = hl.cpu_seconds(hl.process_tree(self.pid))
        after_d = hl.cpu_seconds(backends(self.engine, self.db))
        return (sum(v - self.before_s.get(p, 0.0) for p, v in after_s.items()),
                sum(v - self.before_d.get(p, 0.0) for p, v in after_d.items()))


def cpu_profile(engine: Any, db: str, srv: dict[str, Any], data: dict[str, Any], model: WriteModel, token: str,
                n: int) -> None:
    """CPU time per request by class (server processes and PostgreSQL backends), one client: what the mix costs
    the machine, whatever else runs on it — and so the most requests per second its CPUs could answer."""
    print(f"\n== CPU per request, by class ({n} requests each, 1 client, server with {srv['workers']} worker(s)) ==")
    print(f"  {'class':10} {'server ms':>9} {'db ms':>7} {'total ms':>9} {'wall p50':>9}")
    weighted = 0.0
    meter = CpuMeter(engine, db, srv["proc"].pid)
    for kind in CLASSES:
        meter.start()
        r = hl.run_load(srv["port"], make_job(data, model, token, new_stats(), 7, only=kind), 1, requests=n)
        server, dbs = (x * 1000 / n for x in meter.stop())
        weighted += MIX[kind] * (server + dbs)
        print(f"  {kind:10} {server:9.1f} {dbs:7.1f} {server + dbs:9.1f} {hl.pct(r.ms(), 50):9.1f}")
    per_req = weighted / sum(MIX.values())
    cpus = os.cpu_count() or 1
    print(f"  the mix: {per_req:.1f} CPU ms per request → at most {cpus * 1000 / per_req:.0f} req/s on {cpus} idle "
          f"CPUs; 50 closed-loop clients then wait at least {50 / (cpus * 1000 / per_req) * 1000:.0f} ms per request "
          f"on average (Little's law), more while other work shares the CPUs (load {os.getloadavg()[0]:.1f})")


@dataclass
class Cell:
    """The rounds of one server under one write model."""

    results: list[hl.LoadResult] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=new_stats)
    cpu_ms: list[float] = field(default_factory=list)  # per round: CPU ms per request under the load
    client_ms: list[float] = field(default_factory=list)  # per round: the load generator's CPU ms per request
    opened: list[int] = field(default_factory=list)  # per round: database backends started


def summary(title: str, cell: Cell) -> dict[str, float]:
    results = cell.results
    samples = [s for r in results for s in r.samples]
    secs = sum(r.seconds for r in results)
    print(f"\n  -- {title}: {len(samples):,} requests in {secs:.0f} s = {len(samples) / secs:.0f}/s; "
          f"per-round req/s {', '.join(f'{r.rps:.0f}' for r in results)}; load per round "
          f"{', '.join(f'{r.load[0]:.1f}→{r.load[1]:.1f}' for r in results)}")
    print(f"  {'class':10} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  errors")
    out: dict[str, float] = {}
    for kind in (*CLASSES, None):
        v = [s.ms for s in samples if kind is None or s.kind == kind]
        bad = sum(1 for s in samples if (kind is None or s.kind == kind) and not s.ok)
        if not v:
            continue
        name = kind or "overall"
        print(f"  {name:10} {len(v):6d} {hl.pct(v, 50):8.1f} {hl.pct(v, 95):8.1f} {hl.pct(v, 99):8.1f} "
              f"{max(v):8.1f}  {bad}")
        out[f"{name}_p50"], out[f"{name}_p95"], out[f"{name}_p99"] = hl.pct(v, 50), hl.pct(v, 95), hl.pct(v, 99)
    failed = Counter((s.kind, s.status) for s in samples if not s.ok)
    if failed:
        print("  non-200 by class and status (0: no answer): "
              + ", ".join(f"{k} {st}: {n}" for (k, st), n in sorted(failed.items())))
    per_round = [hl.pct(r.ms(), 95) for r in results]
    print(f"  overall p95 per round: {', '.join(f'{x:.0f}' for x in per_round)} ms "
          f"(median {statistics.median(per_round):.0f}); req/s per round {hl.spread([r.rps for r in results])}; "
          f"CPU ms per request under load per round {hl.spread(cell.cpu_ms)} (server + database; the load "
          f"generator's own {hl.spread(cell.client_ms)}); database backends started per round: "
          f"{', '.join(map(str, cell.opened))}")
    st = cell.stats
    print(f"  writes: {st['written']} written, {st['412']} answered 412 (re-read, retried), {st['gave_up']} given up "
          f"after 10 412s, {st['write_errors']} other write errors; non-200 responses of any class: "
          f"{sum(1 for s in samples if not s.ok)}; 5xx: {sum(1 for s in samples if s.status >= 500)}")
    errs = [e for r in results for e in r.errors]
    if errs:
        print(f"  client-side exceptions: {len(errs)}, e.g. {errs[0]}")
    out["rps"] = len(samples) / secs
    out["p95_round_median"] = statistics.median(per_round)
    out["cpu_ms"] = statistics.median(cell.cpu_ms) if cell.cpu_ms else float("nan")
    out["errors"] = sum(1 for s in samples if not s.ok)
    return out


def start(db: str, srv: dict[str, Any]) -> None:
    srv["port"] = hl.free_port()
    srv["proc"] = hl.start_server(db, srv["port"], srv["workers"], srv["env"], tree=srv["tree"])


def stop(srv: dict[str, Any]) -> None:
    if srv.get("proc") is not None:
        hl.stop_server(srv["proc"])
        srv["proc"] = None


def mix_text() -> str:
    total = sum(MIX.values())
    return ", ".join(f"{k} {v / total:.0%}" for k, v in MIX.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0, help="per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per server and model (interleaved A, B, B, A …)")
    ap.add_argument("--workers-a", type=int, default=1, help="uvicorn worker processes of server A")
    ap.add_argument("--workers-b", type=int, default=os.cpu_count() or 2, help="… of server B (0: A only)")
    ap.add_argument("--own-places", type=int, default=2,
                    help="realistic model: places each client (officer) edits, disjoint between clients")
    ap.add_argument("--collide", type=float, default=0.02,
                    help="realistic model: share of writes to a place of another client (default 0.02)")
    ap.add_argument("--shared-places", type=int, default=20,
                    help="stress model: places all writers share (default 20; 0: skip the stress model)")
    ap.add_argument("--env-a", action="append", default=[], metavar="VAR=VALUE", help="environment of server A only")
    ap.add_argument("--env-b", action="append", default=[], metavar="VAR=VALUE",
                    help="environment of server B only (e.g. DIMING_POOL_SIZE=10)")
    ap.add_argument("--a-rev", metavar="REV", help="server A runs this git revision's code (old vs new)")
    ap.add_argument("--a-tree", metavar="DIR", type=Path, help="server A runs the code of this directory")
    ap.add_argument("--b-tree", metavar="DIR", type=Path,
                    help="server B runs the code of this directory (e.g. a git archive of HEAD, without the "
                         "uncommitted edits of a shared work tree)")
    ap.add_argument("--cpu-profile", type=int, default=100, metavar="N",
                    help="CPU per request by class, N requests each on every server (0 = skip)")
    ap.add_argument("--db", default="scale_mixed")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)

    url = database_url(load_settings().db, args.db)
    print(f"setting up {args.db} (Feidong demo) …", flush=True)
    data = setup(url)
    print(f"  {len(data['places']):,} places, {len(data['divisions'])} divisions, {len(data['lines'])} boundary lines,"
          f" {len(data['search'])} search queries; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    servers: dict[str, Any] = {}
    old_tree = checkout(args.a_rev) if args.a_rev else None
    trees = {"A": old_tree or args.a_tree, "B": args.b_tree}
    what = {"A": f"code of {args.a_rev}" if args.a_rev else f"code of {args.a_tree}", "B": f"code of {args.b_tree}"}
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    try:
        env_a = dict(kv.split("=", 1) for kv in args.env_a)
        env_b = dict(kv.split("=", 1) for kv in args.env_b)
        specs = [("A", args.workers_a, env_a)] + ([("B", args.workers_b, env_b)] if args.workers_b else [])
        for name, workers, env in specs:
            tree = trees[name]
            label = f"{workers} uvicorn worker(s)" + (f", {what[name]}" if tree else
                                                      ", this checkout" if any(trees.values()) else "")
            servers[name] = {"tree": tree, "workers": workers, "env": env, "label": label, "proc": None}
        # One server at a time: the cluster is shared, and two servers' pools (up to 2 × 40 connections with the
        # defaults) next to other work met "too many clients already" — 503s that were the benchmark's own doing.
        start(args.db, servers["A"])
        token = login(servers["A"]["port"])
        need = max(args.clients * args.own_places, args.shared_places)
        targets = writable(servers["A"]["port"], token, data["places"], need)
        stop(servers["A"])
        models = [realistic(targets, args.clients, args.own_places, args.collide)]
        if args.shared_places:
            models.append(WriteModel("stress", [targets[:args.shared_places]], 0.0))
        print(f"  officer logged in; {len(targets)} writable places. Write models:")
        for m in models:
            print(f"    {m.describe()}")
        if not args.shared_places:
            print("    (stress model skipped: --shared-places 0)")
        print(f"  mix: {mix_text()}", flush=True)
        cells = {(m.name, name): Cell() for m in models for name in servers}
        for rnd in range(args.rounds):
            # A, B in odd rounds, B, A in even ones: a load that drifts over the run weighs on both alike
            order = list(servers.items()) if rnd % 2 == 0 else list(reversed(servers.items()))
            for name, srv in order:
                start(args.db, srv)
                for m in models:  # warm-up: plans, caches, the pools' connections
                    hl.run_load(srv["port"], make_job(data, m, token, new_stats(), 1), args.clients, seconds=3)
                for m in models:
                    cell = cells[(m.name, name)]
                    meter = CpuMeter(engine, args.db, srv["proc"].pid)
                    meter.start()
                    r = hl.run_load(srv["port"], make_job(data, m, token, cell.stats, 100 + rnd), args.clients,
                                    seconds=args.seconds)
                    cpu = sum(meter.stop()) * 1000 / max(1, len(r.samples))
                    cell.opened.append(meter.opened())
                    cell.results.append(r)
                    cell.cpu_ms.append(cpu)
                    cell.client_ms.append(r.client_cpu * 1000 / max(1, len(r.samples)))
                    print(f"  round {rnd + 1} {m.name:9} {name} ({srv['label']}): {r.rps:.0f} req/s, p50 "
                          f"{hl.pct(r.ms(), 50):.0f} ms, p95 {hl.pct(r.ms(), 95):.0f} ms, p99 "
                          f"{hl.pct(r.ms(), 99):.0f} ms, write p95 {hl.pct(r.ms('write'), 95):.0f} ms, errors "
                          f"{sum(1 for s in r.samples if not s.ok)}, CPU {cpu:.1f} ms/request, "
                          f"{cell.opened[-1]} backends started, "
                          f"load {r.load[0]:.1f}→{r.load[1]:.1f}", flush=True)
                stop(srv)
        print(f"\n== {args.clients} clients; mix {mix_text()}; {args.rounds} × {args.seconds:.0f} s per server and "
              "write model, ms ==")
        figures: dict[tuple[str, str], dict[str, float]] = {}
        for m in models:
            print(f"\n  write model {m.describe()}")
            for name, srv in servers.items():
                figures[(m.name, name)] = summary(f"{m.name}, server {name}: {srv['label']} {srv['env'] or ''}",
                                                  cells[(m.name, name)])
        print(f"\n  {'model':9} {'server':6} {'req/s':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'p95/round':>9} "
              f"{'write p95':>9} {'412s':>5} {'CPU ms':>6}")
        for (mname, name), f in figures.items():
            print(f"  {mname:9} {name:6} {f['rps']:6.0f} {f['overall_p50']:6.0f} {f['overall_p95']:6.0f} "
                  f"{f['overall_p99']:6.0f} {f['p95_round_median']:9.0f} {f.get('write_p95', float('nan')):9.0f} "
                  f"{cells[(mname, name)].stats['412']:5d} {f['cpu_ms']:6.1f}")
        if "B" in servers:
            for m in models:
                a, b = figures[(m.name, "A")], figures[(m.name, "B")]
                print(f"  ratio B/A ({m.name}): req/s ×{b['rps'] / a['rps']:.2f}; "
                      f"overall p50 ×{b['overall_p50'] / a['overall_p50']:.2f}, "
                      f"p95 ×{b['overall_p95'] / a['overall_p95']:.2f}, p99 ×{b['overall_p99'] / a['overall_p99']:.2f}")
        for (mname, name), f in figures.items():
            print(f"  target overall p95 ≤ {TARGET_P95_MS:.0f} ms — {mname}, server {name}: {f['overall_p95']:.0f} ms "
                  f"({'met' if f['overall_p95'] <= TARGET_P95_MS else 'NOT met'})")
        if args.cpu_profile:
            for name, srv in servers.items():
                start(args.db, srv)
                print(f"\n  server {name}: {srv['label']}", end="")
                cpu_profile(engine, args.db, srv, data, models[0], token, args.cpu_profile)
                stop(srv)
    finally:
        engine.dispose()
        for srv in servers.values():
            stop(srv)
        if old_tree is not None:
            shutil.rmtree(old_tree, ignore_errors=True)
        if not args.keep:
            drop_database(url)
            print(f"\ndropped {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
