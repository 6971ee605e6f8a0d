"""Romanisation speed on 120,000 distinct village-like names: before (a git revision) vs after (work tree).

Issue 12 section 3: the bulk importer calls ``romanize()`` (via gis_api/places/derive.py) once for every
distinct name, so what counts is the rate on names it has never seen (the per-name cache does not help).

The names are synthetic and deterministic (``random.Random(seed)``): a surname or a place-name character,
one or two more characters, then a village-level generic (村, 庄, 郢, 圩, 社区, 村民委员会, 路 ...); one in three
is romanised as a natural village (``kind="natural_village"``, RZ3, as derive.py does for that category).

Each round runs in a fresh subprocess (empty caches, data files loaded before the clock starts), before and
after alternating (B, A, B, A ...) so that both see the same load; os.getloadavg() is recorded per round.
Rates are names per CPU second of the worker (time.process_time: the machine is shared) and per wall second.
The outputs of the two versions are compared name by name: the number that differ is printed, with examples.

Usage::

    .venv/bin/python scripts/bench/romanize_speed.py                      # before = HEAD, 3 rounds each
    .venv/bin/python scripts/bench/romanize_speed.py --before 6ff4bf6 --rounds 3 --names 120000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞"
)
PLACE_CHARS = (
    "东西南北中上下前后大小新老古长高低山水河湖江溪塘坝堰桥沟岗岭坡冲湾洼圩郢集店铺庄寨屯营堡墩台楼庙寺观宫庵阁亭"
    "家户门林木竹松柏桃李杏柳杨梅花草田园场坊巷井泉池潭港渡口头尾嘴角岩石沙土金银铜铁玉宝丰盛兴旺隆昌安平和宁康泰"
    "福寿喜乐吉祥瑞顺利义仁德孝忠信明光华红青白黄绿云龙凤虎马牛羊鹿鹤雁燕凰阳阴春夏秋冬朝晨星月日天地方圆清河汇合"
    "一二三四五六七八九十百千双联团结先进建设胜利幸福和谐发展光明永久卫星解放民主共同友谊文化科技教育畈埠蚌亳歙涡"
)
GENERICS = (
    "村", "庄", "郢", "圩", "集", "店", "湾", "岗", "冲", "塘", "社区", "村民委员会", "居民委员会", "组", "路", "街",
    "巷", "桥", "镇", "乡",
)  # fmt: skip


def synthetic_names(count: int, seed: int = 14) -> list[tuple[str, str | None]]:
    """``count`` distinct (name, kind) pairs; deterministic for a seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str | None]] = []
    while len(out) < count:
        first = rng.choice(SURNAMES) if rng.random() < 0.6 else rng.choice(PLACE_CHARS)
        rest = "".join(rng.choice(PLACE_CHARS) for _ in range(rng.choice((1, 1, 2, 2, 3))))
        name = first + rest + rng.choice(GENERICS)
        if name in seen:
            continue
        seen.add(name)
        out.append((name, "natural_village" if rng.random() < 1 / 3 else None))
    return out


def worker(rev: str, names_path: Path, out_path: Path) -> None:
    """One timed pass in this (fresh) process; prints a JSON line with the rates."""
    sys.path.insert(0, str(BENCH))
    import romanize_accuracy as ra

    mod = ra.load_current() if rev == "WORKTREE" else ra.load_romanizer_at(rev)
    items = json.loads(names_path.read_text(encoding="utf-8"))
    mod.romanize("合肥市")  # load the data files before the clock starts (a one-off at start-up)
    if hasattr(mod, "_segment_words"):
        mod._segment_words()
    results: list[str] = []
    c0, w0 = time.process_time(), time.perf_counter()
    for name, kind in items:
        results.append(mod.romanize(name, kind=kind).romanized)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    out_path.write_text("\n".join(results), encoding="utf-8")
    print(json.dumps({"cpu_rate": len(items) / cpu, "wall_rate": len(items) / wall}))


def _run(rev: str, names_path: Path, out_path: Path) -> dict[str, float]:
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", rev, "--names-file", str(names_path), "--out", str(out_path)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    rates = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**rates, "load": load}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="HEAD", help="git revision for 'before' (default %(default)s)")
    ap.add_argument("--names", type=int, default=120_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--names-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.names_file, args.out)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="romanize_speed_"))
    items = synthetic_names(args.names, args.seed)
    names_path = tmp / "names.json"
    names_path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    print(f"romanize() on {len(items):,} distinct synthetic village-like names (seed {args.seed}); "
          f"{args.rounds} rounds each, fresh process per round, before={args.before} / after=work tree")  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for rnd in range(args.rounds):
        for label, rev in (("before", args.before), ("after", "WORKTREE")):
            r = _run(rev, names_path, tmp / f"{label}.txt")
            runs[label].append(r)
            print(f"  round {rnd + 1} {label:6} {r['cpu_rate']:10,.0f} names/CPU s {r['wall_rate']:10,.0f} names/wall s"
                  f"   load {r['load']:.2f}")  # fmt: skip
    med: dict[str, float] = {}
    for label, rs in runs.items():
        cpu = [r["cpu_rate"] for r in rs]
        wall = [r["wall_rate"] for r in rs]
        med[label] = statistics.median(cpu)
        loads = ", ".join(f"{r['load']:.2f}" for r in rs)
        print(f"  {label:6} median {med[label]:10,.0f} names/CPU s (spread {min(cpu):,.0f}-{max(cpu):,.0f}); "
              f"wall median {statistics.median(wall):,.0f}; load {loads}")  # fmt: skip
    print(f"  ratio after/before (CPU medians): {med['after'] / med['before']:.2f}x")
    before = (tmp / "before.txt").read_text(encoding="utf-8").split("\n")
    after = (tmp / "after.txt").read_text(encoding="utf-8").split("\n")
    changed = [(n, b, a) for (n, _k), b, a in zip(items, before, after, strict=True) if a != b]
    print(f"  outputs that differ: {len(changed):,} of {len(items):,}")
    for n, b, a in changed[:15]:
        print(f"    {n}\t{b}\t->\t{a}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
