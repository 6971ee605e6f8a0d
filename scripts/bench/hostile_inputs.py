#!/usr/bin/env python3
"""Send the hostile inputs of issue 10 §5 to a live server; print status, time and the server's memory for each.

The script makes a scratch database (``diming_hostile``: migrated, Feidong demo loaded, one officer+planner user),
starts ``uvicorn`` on it in a child process (one worker), and reads the child's ``VmRSS`` (resident now) and
``VmHWM`` (peak resident so far) from ``/proc`` before and after each input. Figures, not assertions
(design.md). Uses ``DIMING_DATABASE_URL`` or the embedded cluster; drops the scratch database at the end.

    .venv/bin/python scripts/bench/hostile_inputs.py [--port 8765] [--only body,zip,...] [--keep-db]
    .venv/bin/python scripts/bench/hostile_inputs.py --checkout /tmp/diming-before   # another source tree

``--checkout`` runs the server (and the database set-up) from another tree of this repository, e.g. an export of
an older commit (``git archive <commit> | tar -x -C /tmp/diming-before``), for the same inputs before the change.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

from gis_api.db import database_url, drop_database  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

MiB = 1024 * 1024
DIANBU = (117.4571, 31.8774)
USER, PASSWORD = "hostile_planner", "hostile inputs password"

SETUP = """
import sys
from sqlalchemy.orm import Session
from gis_api import auth
from gis_api.cli import run_migrations
from gis_api.db import make_engine, recreate_database
from gis_api.divisions.demo import load_demo
from gis_api.boundaries.demo import load_demo_boundaries
from gis_api.places.demo import load_demo_places
from gis_api.facilities.demo import load_demo_facilities
url = sys.argv[1]
recreate_database(url)
run_migrations(url)
with Session(make_engine(url, 1)) as s:
    load_demo(s); load_demo_boundaries(s); load_demo_places(s); load_demo_facilities(s)
    auth.create_user(s, sys.argv[2], sys.argv[3], ["officer", "planner"])
    s.commit()
"""

SERVE = """
import sys, uvicorn
from gis_api.app import create_app
from gis_api.settings import load_settings
uvicorn.run(create_app(load_settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", workers=1)
"""


def mem(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            fields[k] = int(v.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


# -- raw HTTP: a client that stops sending as soon as the server answers ------------------------------------

def raw_post(port: int, path: str, headers: dict[str, str], body: Iterator[bytes], chunked: bool,
             timeout: float = 300) -> tuple[int, bytes, int]:
    """POST ``body`` and return (status, response body, bytes sent); stops sending once a response arrives."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if chunked:
        head += "Transfer-Encoding: chunked\r\n"
    sock.sendall((head + "\r\n").encode())
    sent = 0
    answered = False
    try:
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                answered = True
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            sent += len(chunk)
        if chunked and not answered:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: read what it said
    data = bytearray()  # the old server echoes a 200 MB remarks back: no quadratic bytes concatenation
    head_end, length = -1, None
    try:
        while True:
            part = sock.recv(1 << 20)
            if not part:
                break
            data += part
            if head_end < 0 and (head_end := data.find(b"\r\n\r\n")) >= 0:
                length = next((int(h.split(b":")[1]) for h in bytes(data[:head_end]).split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), None)
            if head_end >= 0 and length is not None and len(data) - head_end - 4 >= length:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    answer = bytes(data[head_end + 4:]) if head_end >= 0 else b""
    return status, answer[:100_000], sent


def _json_head(field: str) -> bytes:
    return b'{"name": "hostile", "category_code": "122", "reason": "hostile", "' + field.encode() + b'": "'


def json_body(total: int, field: str = "remarks") -> Iterator[bytes]:
    """A JSON object whose ``field`` is ``total`` bytes of 'x', generated in 1 MiB pieces."""
    yield _json_head(field)
    left = total
    while left > 0:
        n = min(MiB, left)
        yield b"x" * n
        left -= n
    yield b'"}'


def json_body_length(total: int, field: str = "remarks") -> int:
    return len(_json_head(field)) + total + 2


def polygon_json(n: int) -> bytes:
    ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
    pts = np.column_stack([DIANBU[0] + 0.01 * np.cos(ang), DIANBU[1] + 0.01 * np.sin(ang)]).round(7).tolist()
    return json.dumps({"geometry": {"type": "Polygon", "coordinates": [[*pts, pts[0]]]}}).encode()


def big_shapefile_zip(tmp: Path) -> bytes:
    """A zipped Shapefile of ~6 MB that expands to ~290 MB: 1,000,000 points with a wide, mostly blank field."""
    import pyogrio.raw

    n = 1_000_000
    rng = np.random.default_rng(1)
    xs = DIANBU[0] + rng.random(n) * 0.2
    ys = DIANBU[1] + rng.random(n) * 0.2
    geoms = shapely.to_wkb(shapely.points(xs, ys))
    names = np.array([f"地名{i % 1000}" + " " * 200 + "x" for i in range(n)], dtype=object)
    target = tmp / "big.shp"
    pyogrio.raw.write(str(target), geoms, [names], ["name"], driver="ESRI Shapefile", geometry_type="Point",
                      crs="EPSG:4490", encoding="UTF-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for f in sorted(tmp.glob("big.*")):
            z.write(f, f.name)
    return buf.getvalue()


def zero_bomb(name: str, size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z, z.open(name, "w",
                                                                                        force_zip64=True) as f:
        block = b"\0" * MiB
        for _ in range(size // MiB):
            f.write(block)
    return buf.getvalue()


def xlsx_bomb() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["名称", "类别", "经度", "纬度"])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z, z.open(
            "xl/media/padding.bin", "w", force_zip64=True) as f:
        for _ in range(500):
            f.write(b"\0" * MiB)
    return buf.getvalue()


def many_rows_csv(n: int) -> bytes:
    rows = "".join(f"测试{i},122,{DIANBU[0] + (i % 1000) / 1e5:.6f},{DIANBU[1]:.6f}\n" for i in range(n))
    return ("name,category,lon,lat\n" + rows).encode()


# -- the run ------------------------------------------------------------------------------------------------

class Run:
    def __init__(self, port: int, pid: int) -> None:
        self.port = port
        self.pid = pid
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.base, timeout=600)
        self.rows: list[tuple[str, int, float, int, int, int, str]] = []  # label, status, s, rss, Δ, peak Δ

    def token(self) -> dict[str, str]:
        r = self.client.post("/api/v1/auth/token", data={"username": USER, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def measure(self, label: str, fn: Callable[[], tuple[int, bytes]]) -> None:
        rss0 = mem(self.pid)[0]
        # VmHWM only grows, so it hides the peak of an input that stays under an earlier one: sample VmRSS
        # every 10 ms while the request runs and report the highest value above the starting point.
        peak = [rss0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.01):
                peak[0] = max(peak[0], mem(self.pid)[0])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        try:
            status, body = fn()
        except Exception as exc:  # a dropped connection is a result too
            status, body = 0, repr(exc).encode()
        dt = time.perf_counter() - t0
        done.set()
        sampler.join()
        time.sleep(0.3)
        rss1, hwm1 = mem(self.pid)
        try:
            doc = json.loads(body) if len(body) < 1_000_000 else {"code": f"{len(body):,}-byte answer"}
            what = f"{doc.get('code')} field={doc.get('field')} rule={doc.get('rule')}" if isinstance(doc, dict) \
                else ""
        except ValueError:
            what = body[:80].decode(errors="replace")
        self.rows.append((label, status, dt, rss0, rss1 - rss0, peak[0] - rss0, what))
        print(f"{label:<58} {status:>4} {dt:8.2f} s  rss {rss0 / MiB:6.0f} MiB"
              f"  peak Δ {(peak[0] - rss0) / MiB:+7.0f} MiB  after Δ {(rss1 - rss0) / MiB:+6.0f} MiB"
              f"  VmHWM {hwm1 / MiB:6.0f} MiB  {what}", flush=True)

    def post(self, path: str, **kw: Any) -> Callable[[], tuple[int, bytes]]:
        def go() -> tuple[int, bytes]:
            r = self.client.post(path, **kw)
            return r.status_code, r.content
        return go


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--checkout", type=Path, default=ROOT, help="source tree to serve (default: this one)")
    ap.add_argument("--db", default="diming_hostile")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated groups: body,zip,geometry,text,import,analysis")
    args = ap.parse_args()
    groups = set(filter(None, args.only.split(","))) or {"body", "zip", "geometry", "text", "import", "analysis"}

    url = database_url(load_settings().db, args.db)
    env = {**os.environ, "PYTHONPATH": str(args.checkout), "DIMING_DATABASE_URL": url}
    py = str(ROOT / ".venv" / "bin" / "python")
    print(f"== scratch database {args.db}: migrate, load the demo ({args.checkout}) ==", flush=True)
    subprocess.run([py, "-c", SETUP, url, USER, PASSWORD], env=env, cwd=args.checkout, check=True)
    server = subprocess.Popen([py, "-c", SERVE, str(args.port)], env=env, cwd=args.checkout)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{args.port}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        run = Run(args.port, server.pid)
        h = run.token()
        rss, hwm = mem(server.pid)
        print(f"server pid {server.pid}: rss {rss / MiB:.1f} MiB, peak {hwm / MiB:.1f} MiB after start-up\n")
        print(f"{'input':<58} {'code':>4} {'time':>10}")
        places = "/api/v1/places"
        if "body" in groups:
            run.measure("200 MB JSON, anonymous, Content-Length", lambda: raw_post(
                args.port, places, {"Content-Type": "application/json",
                                    "Content-Length": str(json_body_length(200 * MiB))},
                json_body(200 * MiB), False)[:2])
            run.measure("200 MB JSON, anonymous, chunked (no Content-Length)", lambda: raw_post(
                args.port, places, {"Content-Type": "application/json"}, json_body(200 * MiB), True)[:2])
            run.measure("200 MB JSON, officer token, chunked", lambda: raw_post(
                args.port, places, {"Content-Type": "application/json", **h}, json_body(200 * MiB), True)[:2])
        if "text" in groups:
            body5m = b"".join(json_body(5_000_000))
            run.measure("5,000,000-character remarks (officer)", run.post(
                places, content=body5m, headers={"Content-Type": "application/json", **h}))
            long_body = {"name": "长备注", "category_code": "122", "reason": "hostile", "remarks": "备" * 4001,
                         "geometry": {"type": "Point", "coordinates": list(DIANBU)}}
            run.measure("4,001-character remarks (officer)", run.post(places, json=long_body, headers=h))
            run.measure("101-character name (officer)", run.post(
                places, json={**long_body, "remarks": None, "name": "名" * 101}, headers=h))
        if "geometry" in groups:
            poly = polygon_json(1_000_000)
            run.measure(f"1,000,000-vertex polygon, exclusion-check, anon ({len(poly) / MiB:.0f} MB)", run.post(
                "/api/v1/cemeteries/exclusion-check", content=poly, headers={"Content-Type": "application/json"}))
            run.measure("1,000,000-vertex polygon, exclusion-check, planner", run.post(
                "/api/v1/cemeteries/exclusion-check", content=poly,
                headers={"Content-Type": "application/json", **h}))
            p10 = polygon_json(10_001)
            run.measure("10,001-vertex polygon, exclusion-check, anonymous", run.post(
                "/api/v1/cemeteries/exclusion-check", content=p10, headers={"Content-Type": "application/json"}))
            run.measure("10,001-vertex polygon, exclusion-check, planner", run.post(
                "/api/v1/cemeteries/exclusion-check", content=p10,
                headers={"Content-Type": "application/json", **h}))
            p50 = polygon_json(50_000)
            run.measure(f"50,000-vertex polygon, exclusion-check, planner ({len(p50) / MiB:.1f} MB)", run.post(
                "/api/v1/cemeteries/exclusion-check", content=p50,
                headers={"Content-Type": "application/json", **h}))
            ring = json.loads(polygon_json(8))
            ring["geometry"]["coordinates"][0].pop()
            run.measure("unclosed ring, exclusion-check, anonymous", run.post(
                "/api/v1/cemeteries/exclusion-check", json=ring))

        def imp(name: str, data: bytes, **form: Any) -> Callable[[], tuple[int, bytes]]:
            return run.post("/api/v1/imports/places", headers=h, files={"file": (name, data)},
                            data={"reason": "hostile", "dry_run": "true", **form})

        if "zip" in groups:
            with tempfile.TemporaryDirectory() as tmp:
                shp = big_shapefile_zip(Path(tmp))
            run.measure(f"zipped Shapefile {len(shp) / MiB:.1f} MB → ~290 MB, officer", imp("big.zip", shp))
            bomb = zero_bomb("a.shp", 1024 * MiB)
            run.measure(f"zip bomb {len(bomb) / MiB:.1f} MB → 1 GiB of zeros, officer", imp("bomb.zip", bomb))
            xb = xlsx_bomb()
            run.measure(f"XLSX with a 500 MiB hidden member ({len(xb) / MiB:.1f} MB)", imp("bomb.xlsx", xb))
            evil = io.BytesIO()
            with zipfile.ZipFile(evil, "w") as z:
                z.writestr("../../etc/evil.shp", b"x")
            run.measure("zip with ../../ member (path traversal)", imp("evil.zip", evil.getvalue()))
            run.measure("1 GiB zip bomb, anonymous", run.post("/api/v1/imports/places", files={"file": (
                "bomb.zip", bomb)}, data={"reason": "hostile"}))
        if "import" in groups:
            big_csv = many_rows_csv(200_001)
            run.measure(f"CSV with 200,001 rows ({len(big_csv) / MiB:.1f} MB), officer, dry run",
                        imp("rows.csv", big_csv))
        if "analysis" in groups:
            body = {"facility_kind": "elderly_care_station", "radius_m": 200_000}
            run.measure("coverage 200 km radius, anonymous", run.post("/api/v1/coverage", json=body))
            run.measure("coverage 200 km radius, planner", run.post("/api/v1/coverage", json=body, headers=h))
            import concurrent.futures

            def burst() -> tuple[int, bytes]:
                with concurrent.futures.ThreadPoolExecutor(10) as pool:
                    rs = list(pool.map(lambda _i: httpx.post(f"{run.base}/api/v1/coverage/accessibility",
                                                             json={**body, "radius_m": 20_000}, timeout=600),
                                       range(10)))
                counts: dict[int, int] = {}
                for r in rs:
                    counts[r.status_code] = counts.get(r.status_code, 0) + 1
                return 200, json.dumps({"code": "statuses", "field": counts, "rule": None}).encode()

            run.measure("10 parallel anonymous 2SFCA requests", burst)
        rss, hwm = mem(server.pid)
        print(f"\nserver at the end: rss {rss / MiB:.1f} MiB, peak (VmHWM) {hwm / MiB:.1f} MiB")
    finally:
        server.terminate()
        server.wait(10)
        if not args.keep_db:
            drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
