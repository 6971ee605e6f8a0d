"""Mixed load: 50 concurrent clients on the Feidong demo against a real server, reads, search, OGC and writes.

In a scratch database (``scale_mixed``, re-created, dropped unless --keep) with the Feidong demo (divisions,
boundaries, places, facilities) and an officer user, it starts the server twice on loopback — A with one
uvicorn worker process, B with --workers-b (default: the number of CPUs) — and runs --rounds interleaved
rounds A, B, A, B … of --seconds each with --clients closed-loop clients (each sends its next request when the
last is answered). Each client draws its requests from a fixed mix (weights in MIX):

* reads: GET a place (/api/v1/places/{id}), a division (/api/v1/divisions/{code}), a boundary line
  (/api/v1/boundaries/{id});
* search: /api/v1/places/search with the query kinds of search_bench.py, drawn from the demo's names;
* OGC: items in a bbox (limit 100) and single items of the places collection;
* writes: PATCH a place's 历史沿革 (``history``, the register's cultural note) through the REST API as a logged-in
  officer with If-Match: the client's last known ETag of that place; a 412 (someone else wrote it first) is
  answered by re-reading the place and trying again (the write's time includes that). Writers share a small
  set of places (--write-places) so that conflicts happen.

It prints p50/p95/p99 per class and overall for each server, requests/s, the number of 412s, every other error
(the aim: none), the load average per round, and the ratio B/A. Target: p95 ≤ 300 ms overall. Figures only.

Old code against new: ``--a-rev REV`` runs server A from that git revision (``git archive`` into a scratch
directory, same database, same embedded cluster), server B from this checkout; with ``--workers-b 1`` both have one
worker, so the rounds compare the code alone. ``--a-tree DIR`` / ``--b-tree DIR`` run a server from a directory
(e.g. ``git archive HEAD`` untarred, so that a shared work tree's uncommitted edits stay out of the comparison).

    .venv/bin/python scripts/bench/mixed_load.py [--clients 50] [--seconds 30] [--rounds 2] [--keep]
    .venv/bin/python scripts/bench/mixed_load.py --a-rev b003948 --workers-b 1 --rounds 3 --seconds 20
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
    for pid in places[::7]:
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


def make_job(data: dict[str, Any], targets: list[int], token: str, stats: dict[str, int], seed: int,
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
            pid = rnd.choice(targets)
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
        return kind, status, status == 200

    return job


def cpu_profile(url: str, db: str, srv: dict[str, Any], data: dict[str, Any], targets: list[int], token: str,
                n: int) -> None:
    """CPU time per request by class (server processes and PostgreSQL backends), one client: what the mix costs
    the machine, whatever else runs on it — and so the most requests per second its CPUs could answer."""
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    print(f"\n== CPU per request, by class ({n} requests each, 1 client, server with {srv['workers']} worker(s)) ==")
    print(f"  {'class':10} {'server ms':>9} {'db ms':>7} {'total ms':>9} {'wall p50':>9}")
    weighted = 0.0
    try:
        for kind in CLASSES:
            def backends() -> list[int]:
                with engine.connect() as c:
                    return [int(p) for p in c.execute(text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                        {"db": db}).scalars()]
            tree = hl.process_tree(srv["proc"].pid)
            before_s, before_d = hl.cpu_seconds(tree), hl.cpu_seconds(backends())
            r = hl.run_load(srv["port"], make_job(data, targets, token, {"412": 0, "written": 0, "write_errors": 0},
                                                  7, only=kind), 1, requests=n)
            after_s, after_d = hl.cpu_seconds(tree), hl.cpu_seconds(backends())
            server = sum(v - before_s.get(p, 0.0) for p, v in after_s.items()) * 1000 / n
            dbms = sum(v - before_d.get(p, 0.0) for p, v in after_d.items()) * 1000 / n
            weighted += MIX[kind] * (server + dbms)
            print(f"  {kind:10} {server:9.1f} {dbms:7.1f} {server + dbms:9.1f} {hl.pct(r.ms(), 50):9.1f}")
    finally:
        engine.dispose()
    per_req = weighted / sum(MIX.values())
    cpus = os.cpu_count() or 1
    print(f"  the mix: {per_req:.1f} CPU ms per request → at most {cpus * 1000 / per_req:.0f} req/s on {cpus} idle "
          f"CPUs; 50 closed-loop clients then wait at least {50 / (cpus * 1000 / per_req) * 1000:.0f} ms per request "
          f"on average (Little's law), more while other work shares the CPUs (load {os.getloadavg()[0]:.1f})")


def summary(title: str, results: list[hl.LoadResult]) -> dict[str, float]:
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
          f"(median {statistics.median(per_round):.0f})")
    out["rps"] = len(samples) / secs
    out["errors"] = sum(1 for s in samples if not s.ok)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0, help="per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per server (interleaved A, B, A, B …)")
    ap.add_argument("--workers-a", type=int, default=1, help="uvicorn worker processes of server A")
    ap.add_argument("--workers-b", type=int, default=os.cpu_count() or 2, help="… of server B (0: A only)")
    ap.add_argument("--write-places", type=int, default=20, help="places the writers share (conflicts)")
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
    try:
        env_a = dict(kv.split("=", 1) for kv in args.env_a)
        env_b = dict(kv.split("=", 1) for kv in args.env_b)
        specs = [("A", args.workers_a, env_a)] + ([("B", args.workers_b, env_b)] if args.workers_b else [])
        for name, workers, env in specs:
            port = hl.free_port()
            tree = trees[name]
            proc = hl.start_server(args.db, port, workers, env, tree=tree)
            label = f"{workers} uvicorn worker(s)" + (f", {what[name]}" if tree else
                                                      ", this checkout" if any(trees.values()) else "")
            servers[name] = {"port": port, "proc": proc, "workers": workers, "env": env, "results": [],
                             "label": label}
        first = servers["A"]["port"]
        token = login(first)
        targets = writable(first, token, data["places"], args.write_places)
        print(f"  officer logged in; {len(targets)} places shared by the writers", flush=True)
        stats = {"412": 0, "written": 0, "write_errors": 0}
        for srv in servers.values():  # warm-up: plans, caches, the pools' connections
            hl.run_load(srv["port"], make_job(data, targets, token, stats, 1), args.clients, seconds=5)
        per_server_stats = {name: {"412": 0, "written": 0, "write_errors": 0} for name in servers}
        for rnd in range(args.rounds):
            for name, srv in servers.items():
                st = per_server_stats[name]
                r = hl.run_load(srv["port"], make_job(data, targets, token, st, 100 + rnd), args.clients,
                                seconds=args.seconds)
                srv["results"].append(r)
                print(f"  round {rnd + 1} {name} ({srv['label']}): {r.rps:.0f} req/s, p50 "
                      f"{hl.pct(r.ms(), 50):.0f} ms, p95 {hl.pct(r.ms(), 95):.0f} ms, p99 {hl.pct(r.ms(), 99):.0f} ms,"
                      f" errors {sum(1 for s in r.samples if not s.ok)}, load {r.load[0]:.1f}→{r.load[1]:.1f}",
                      flush=True)
        print(f"\n== {args.clients} clients, mix {MIX}, {args.rounds} × {args.seconds:.0f} s per server, ms ==")
        figures = {}
        for name, srv in servers.items():
            figures[name] = summary(f"server {name}: {srv['label']} {srv['env'] or ''}",
                                    srv["results"])
            st = per_server_stats[name]
            print(f"  writes: {st['written']} written, {st['412']} answered 412 (re-read, retried), "
                  f"{st['write_errors']} other write errors; non-200 responses of any class: "
                  f"{int(figures[name]['errors'])}")
            errs = [e for r in srv["results"] for e in r.errors]
            if errs:
                print(f"  client-side exceptions: {len(errs)}, e.g. {errs[0]}")
        if "B" in figures:
            a, b = figures["A"], figures["B"]
            print(f"\n  ratio B/A: req/s ×{b['rps'] / a['rps']:.2f}; "
                  f"overall p50 ×{b['overall_p50'] / a['overall_p50']:.2f}, "
                  f"p95 ×{b['overall_p95'] / a['overall_p95']:.2f}, p99 ×{b['overall_p99'] / a['overall_p99']:.2f}")
        for name, f in figures.items():
            print(f"  target overall p95 ≤ {TARGET_P95_MS:.0f} ms — server {name}: {f['overall_p95']:.0f} ms "
                  f"({'met' if f['overall_p95'] <= TARGET_P95_MS else 'NOT met'})")
        if args.cpu_profile:
            for name, srv in servers.items():
                print(f"\n  server {name}: {srv['label']}", end="")
                cpu_profile(url, args.db, srv, data, targets, token, args.cpu_profile)
    finally:
        for srv in servers.values():
            hl.stop_server(srv["proc"])
        if old_tree is not None:
            shutil.rmtree(old_tree, ignore_errors=True)
        if not args.keep:
            drop_database(url)
            print(f"\ndropped {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
