"""The search columns of a place, computed once on write so search is answered by indexes.

Officers type fast, in Chinese or pinyin: full pinyin (``dianbu``), initials (``dbz``), a Chinese
substring, or the name without its generic (…社区居民委员会). ``ü`` is stored as ``v``, as IMEs type it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from gis_api.places.romanize import is_han, pinyin_syllables, split_name


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
    return SearchKeys(keys=sorted(keys), pinyin=py, initials=ini, grams=grams(name))
