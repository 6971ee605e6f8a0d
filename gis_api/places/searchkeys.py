"""The search columns of a place, computed once on write so search is answered by indexes.

Officers type fast, in Chinese or pinyin: full pinyin (``dianbu``), initials (``dbz``), a Chinese
substring, or the name without its generic (…社区居民委员会). ``ü`` is stored as ``v``, as IMEs type it.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

from gis_api.places.romanize import everyday_syllables, is_han, pinyin_syllables, split_name


@dataclass(frozen=True)
class SearchKeys:
    keys: list[str]  # exact-match keys: name, 专名, their toneless pinyin and initials
    pinyin: str
    initials: str
    grams: list[str]  # Chinese 1-grams and 2-grams of the name (substring search)


def _ascii_pinyin(syllables: list[str]) -> tuple[str, str]:
    clean = [s.lower().replace("ü", "v") for s in syllables if s and s.isalpha()]
    return "".join(clean), "".join(s[0] for s in clean)


def query_form(q: str) -> str:
    """A query as it is compared with stored keys: trimmed, lower case, ü → v, no spaces or apostrophes."""
    return "".join(q.split()).lower().replace("ü", "v").replace("'", "").replace("’", "")


def grams(text: str) -> list[str]:
    chars = [c for c in text if is_han(c) or c.isalnum()]
    out = set(chars)
    out.update(a + b for a, b in itertools.pairwise(chars))
    return sorted(out)


def search_keys(name: str) -> SearchKeys:
    zhuanming, _tongming = split_name(name)
    py, ini = _ascii_pinyin(pinyin_syllables(name))
    zm_py, zm_ini = _ascii_pinyin(pinyin_syllables(zhuanming)) if zhuanming else ("", "")
    keys = {query_form(k) for k in (name, zhuanming, py, ini, zm_py, zm_ini) if k}
    # The everyday reading too, when the place-name reading differs (单庄 is Shanzhuang, but an officer who does
    # not know that types "danzhuang"): exact keys only; the pinyin column keeps the place-name reading.
    everyday, everyday_ini = _ascii_pinyin(everyday_syllables(name))
    if everyday != py:
        zm_everyday, zm_everyday_ini = _ascii_pinyin(everyday_syllables(zhuanming)) if zhuanming else ("", "")
        keys.update(query_form(k) for k in (everyday, everyday_ini, zm_everyday, zm_everyday_ini) if k)
    return SearchKeys(keys=sorted(keys), pinyin=py, initials=ini, grams=grams(name))


# -- look-alike and same-sounding characters (issue 14) ---------------------------------------------------------

CONFUSABLES = Path(__file__).resolve().parent / "data" / "confusables.tsv"
LOOK_ALIKE_MAX_CHARS = 8  # longer queries are not typed one character wrong; they are pasted
LOOK_ALIKE_MAX = 400  # variants per query: each is a GIN (or btree) lookup


@functools.cache
def confusables() -> dict[str, str]:
    """Character → the characters an officer may have meant instead (look-alike 形近 or same-sounding 同音), from
    data/confusables.tsv (built by scripts/build_confusables.py; sources in its header)."""
    out: dict[str, set[str]] = {}
    for line in CONFUSABLES.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        kind, key, chars = line.split("\t")
        if kind == "shape":
            out.setdefault(key, set()).update(chars)
        elif kind == "sound":
            for c in chars:
                out.setdefault(c, set()).update(x for x in chars if x != c)
    return {k: "".join(sorted(v)) for k, v in out.items()}


def look_alikes(*texts: str) -> list[str]:
    """Every text with one character replaced by a look-alike or same-sounding one (店阜 → 店埠, 店部 …)."""
    table = confusables()
    out: set[str] = set()
    for t in texts:
        if not t or len(t) > LOOK_ALIKE_MAX_CHARS:
            continue
        for i, c in enumerate(t):
            out.update(t[:i] + alt + t[i + 1:] for alt in table.get(c, ""))
    out.difference_update(texts)
    return sorted(out)[:LOOK_ALIKE_MAX]
