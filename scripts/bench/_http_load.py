"""Shared by the HTTP benchmarks (search_bench, scale_bench, mixed_load): a real Diming server on loopback and
a closed-loop load generator (N client threads, each with its own keep-alive connection, each sending its next
request as soon as the last one is answered), percentiles and the load average.

The server is ``uvicorn`` in its own process(es) on the named database (``DIMING_DB_NAME``), like a deployment:
``make_app`` is its factory (``uvicorn _http_load:make_app --factory``).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def make_app() -> Any:
    """The ASGI app, as ``diming serve`` builds it (uvicorn calls this in every worker process)."""
    from gis_api.app import create_app
    from gis_api.settings import load_settings

    return create_app(load_settings())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str, port: int, workers: int = 1, env: dict[str, str] | None = None,
                 wait_path: str = "/api/v1/places/categories", tree: Path | None = None) -> subprocess.Popen[bytes]:
    """uvicorn with ``workers`` processes serving database ``db``; returns once ``wait_path`` answers 200.

    ``tree``: run the code of another checkout (e.g. a ``git archive`` of an old revision) against the same
    cluster and database; default this one.
    """
    base = tree or ROOT
    penv = {**os.environ, "DIMING_DB_NAME": db, "PYTHONPATH": str(base), **(env or {})}
    if tree is not None:  # the other tree's settings would look for the cluster of its own path
        from gis_api.settings import load_settings
        penv.setdefault("DIMING_HOME", str(load_settings().db.home))
    cmd = [sys.executable, "-m", "uvicorn", "_http_load:make_app", "--factory", "--app-dir",
           str(base / "scripts" / "bench"), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=base, env=penv)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server ({base}) exited with {proc.returncode}")
        try:
            status, _b = Client(port).request("GET", wait_path)
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise SystemExit(f"server ({base}) on port {port} did not answer {wait_path}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Client:
    """One keep-alive HTTP/1.1 connection (re-opened if the server closed it)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self.conn: http.client.HTTPConnection | None = None
        self.last_headers: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
                r = self.conn.getresponse()
                data = r.read()
                self.last_headers = {k.lower(): v for k, v in r.getheaders()}
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Sample:
    kind: str
    ms: float
    status: int
    ok: bool


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average before and after
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds of this (load generator) process: it shares the machine's CPUs too

    def ms(self, kind: str | None = None) -> list[float]:
        return [s.ms for s in self.samples if kind is None or s.kind == kind]

    @property
    def rps(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0


# A job: (client, worker index, request number) -> (kind, status, ok); the load generator times it.
Job = Callable[[Client, int, int], tuple[str, int, bool]]


def run_load(port: int, job: Job, clients: int, *, requests: int | None = None, seconds: float | None = None,
             headers: Callable[[int], dict[str, str]] | None = None) -> LoadResult:
    """``clients`` threads run ``job`` back to back until ``requests`` in all were made or ``seconds`` passed."""
    result = LoadResult()
    lock = threading.Lock()
    counter = iter(range(10**12))
    stop_at = time.monotonic() + seconds if seconds else None
    start = threading.Barrier(clients + 1)

    def worker(w: int) -> None:
        client = Client(port, headers(w) if headers else None)
        mine: list[Sample] = []
        start.wait()
        while True:
            with lock:
                n = next(counter)
            if (requests is not None and n >= requests) or (stop_at is not None and time.monotonic() >= stop_at):
                break
            t = time.perf_counter()
            try:
                kind, status, ok = job(client, w, n)
            except Exception as exc:  # a failed request is counted, not fatal
                kind, status, ok = "error", 0, False
                with lock:
                    result.errors.append(repr(exc)[:200])
            mine.append(Sample(kind, (time.perf_counter() - t) * 1000, status, ok))
        with lock:
            result.samples.extend(mine)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(clients)]
    for th in threads:
        th.start()
    before = os.getloadavg()[0]
    start.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for th in threads:
        th.join()
    result.seconds = time.perf_counter() - t0
    result.client_cpu = time.process_time() - c0
    result.load = (before, os.getloadavg()[0])
    return result


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def spread(values: list[float]) -> str:
    """median [min–max] of per-round figures."""
    if not values:
        return "n/a"
    return f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]"


_TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """user + system CPU seconds of each live process (from /proc/<pid>/stat)."""
    out = {}
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[p] = (int(fields[11]) + int(fields[12])) / _TICK
    return out
