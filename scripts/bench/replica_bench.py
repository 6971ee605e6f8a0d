"""Reads with and without a read replica, on one machine: what the routing costs and where the reads land.

Builds a scratch embedded cluster of its own (never the shared one) with the demo data and a local streaming
replica (``diming db replica add``), starts two servers on it — A with every read on the primary, B with
``DIMING_READ_REPLICA_URLS`` — and loads them in interleaved rounds (A, B, A, B …) with ``wrk``, recording the
load average per round and, for B, how many transactions the primary and the replica served.

On one machine a replica shares the same cores, so B cannot be faster than A here: this measures the routing's
overhead and checks that reads really move; capacity grows only with replicas on other machines. The share of
transactions is read from pg_stat_database, which backends update lazily (an idle one after up to 10 s), so a
round may also count the tail of the one before it.

    python scripts/bench/replica_bench.py [--rounds 3] [--seconds 10] [--connections 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIMING = str(ROOT / ".venv" / "bin" / "diming")
PATHS = {
    "ogc items (100)": "/ogc/collections/places/items?limit=100",
    "json places (50)": "/api/v1/places?limit=50",
}


def run(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def psql(home: Path, sql: str) -> str:
    return subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-h", str(home / "run"), "-U", "diming", "-d",
                           "diming", "-tAc", sql], capture_output=True, text=True, check=True).stdout.strip()


def commits(home: Path) -> int:
    return int(psql(home, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'diming'"))


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx[1]} non-2xx answers")
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99[2]] if p99 else 0.0
    return rps, float(p99[1]) * scale if p99 else float("nan")


def wait_up(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server on {port} did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    opts = ap.parse_args()
    base = Path("/var/lib/diming") if os.geteuid() == 0 else Path.home() / ".cache" / "diming-bench"
    base.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="replica-bench-", dir=base))
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DIMING_DATABASE_URL", "DIMING_WAL_ARCHIVE", "DIMING_READ_REPLICA_URLS")}
    env.update(DIMING_HOME=str(home), DIMING_PROGRESS="off")
    servers: list[subprocess.Popen[bytes]] = []
    try:
        run([DIMING, "db", "up"], env)
        run([DIMING, "migrate"], env)
        run([DIMING, "load-demo"], env)
        added = run([DIMING, "db", "replica", "add"], env)
        replica_url = added.split("DIMING_READ_REPLICA_URLS=")[1].strip()
        replica_home = home / "replicas" / "r1"
        ports = {"A primary only": 18771, "B with replica": 18772}
        for name, port in ports.items():
            server_env = {**env, "DIMING_PORT": str(port), "DIMING_WORKERS": str(opts.workers)}
            if name.startswith("B"):
                server_env["DIMING_READ_REPLICA_URLS"] = replica_url
            servers.append(subprocess.Popen([DIMING, "serve", "--log-level", "warning"], env=server_env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in ports.values():
            wait_up(port)
        time.sleep(3)  # B's replica joins rotation
        results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        print(f"{opts.rounds} rounds, {opts.seconds} s each, {opts.connections} connections, "
              f"{opts.workers} worker(s) per server; {os.cpu_count()} cores")
        for path_name, path in PATHS.items():
            for port in ports.values():  # warm-up: pools, caches
                wrk(f"http://127.0.0.1:{port}{path}", 2, opts.connections)
            for rnd in range(1, opts.rounds + 1):
                for name, port in ports.items():
                    before = (commits(home), commits(replica_home))
                    load = os.getloadavg()[0]
                    rps, p99 = wrk(f"http://127.0.0.1:{port}{path}", opts.seconds, opts.connections)
                    after = (commits(home), commits(replica_home))
                    share = (after[1] - before[1]) / max(1, (after[0] - before[0]) + (after[1] - before[1]))
                    results.setdefault((path_name, name), []).append((rps, p99, load))
                    print(f"  {path_name:18} round {rnd} {name:15} {rps:8.1f} req/s  p99 {p99:7.1f} ms  "
                          f"load {load:5.2f}  transactions on the replica {share:6.1%}")
        print("\nmedians (spread = min..max)")
        for path_name in PATHS:
            a = [r[0] for r in results[(path_name, "A primary only")]]
            b = [r[0] for r in results[(path_name, "B with replica")]]
            print(f"  {path_name:18} A {statistics.median(a):8.1f} ({min(a):.0f}..{max(a):.0f})  "
                  f"B {statistics.median(b):8.1f} ({min(b):.0f}..{max(b):.0f})  "
                  f"B/A {statistics.median(b) / statistics.median(a):.2f}")
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait(timeout=30)
        subprocess.run([DIMING, "db", "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
