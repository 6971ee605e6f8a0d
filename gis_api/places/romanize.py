"""Romanisation of place names (GB/T 16159-2012; 中国地名汉语拼音字母拼写规则 1984).

Rule IDs are those of domain.md section 3 (RZ1-RZ9). Word lists and readings live in
``gis_api/places/data/`` so officers can correct them without a code change:

* ``generics.csv``          通名 table (longest match at the end of a name) with its spelling;
* ``readings.csv``          RZ6 place-name readings layered over pypinyin's dictionary, each row citing its
                            source (现代汉语词典, MCA division spellings, GeoNames tune split ...);
* ``romanize_settings.json`` RZ2 modifiers, RZ3 kinds, ethnic designations.

How a name is spelled:

* RZ1  专名 and 通名 are written apart, each word capitalised (RZ8): 肥东县 -> Feidong Xian.
* Generic compounds are written as separate capitalised *words*, as listed in ``generics.csv``:
  社区居民委员会 -> Shequ Jumin Weiyuanhui; 村民委员会 -> Cunmin Weiyuanhui; 民族乡 -> Minzu Xiang.
  An ethnic designation in front of the generic of a division or committee belongs to the generic and
  each ethnic word is its own word: 牌坊回族满族乡 -> Paifang Huizu Manzu Xiang. In front of 民族乡 the
  people's name without 族 is part of the generic too: 得力其尔鄂温克民族乡 -> Deliqi'er Ewenke Minzu Xiang.
* RZ2  a one-syllable modifier (data: ``rz2_modifiers``) in front of a one-syllable street generic joins
  the generic when at least two characters of 专名 remain: 景山后街 -> Jingshan Houjie (湖南路 -> Hunan Lu).
* RZ3  natural villages/towns (``kind`` in ``rz3_natural_kinds``) are written as one word: 王村 -> Wangcun.
* RZ4  only the last generic is split off, so an absorbed generic stays in the 专名: 景德镇市 -> Jingdezhen Shi.
* RZ5  numbers are spelled (五一广场 -> Wuyi Guangchang) except an ordinal at the end of a street's 专名,
  which is written in digits as a separate word (经五路 -> Jing 5 Lu).
* RZ6  readings from ``readings.csv`` win over pypinyin inside any name that contains them (a row ending
  with a division generic, 单县, holds for that whole name only; a row with ``regions`` holds in those
  provinces only: ``romanize(..., region=...)``, default ``default_region``); an officer's
  ``overrides`` mapping (whole name, or 专名 alone) wins over everything.
* RZ7  toneless by default; ``tones=True`` keeps the tone marks.
* RZ9  an apostrophe before a non-initial syllable starting with a, o or e (Chang'an, Lu'an); ü is kept.
* A 专名 of ``segment_specific_min_chars`` or more characters is split into words by forward maximum
  matching over ``segment_words.txt`` (合肥循环经济 -> Hefei Xunhuan Jingji); shorter ones are one word, and so
  is a long one of which the word list knows at most one word among 4+ unknown characters (a transliterated
  name: 卧里托格拉克 -> Wolituogelake).

Speed: spellings are cached per run of Han characters and per (name, tones, kind); ``reload_data()`` clears
the caches. Accuracy against official spellings: ``scripts/bench/romanize_accuracy.py`` (issue 14).
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pypinyin import Style, pinyin

DATA_DIR = Path(__file__).resolve().parent / "data"

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL_CHARS = frozenset(_CN_DIGITS) | frozenset(_CN_UNITS)
_TONE_COMBINING = frozenset({"\u0300", "\u0301", "\u0304", "\u030c"})  # grave, acute, macron, caron
_APOSTROPHE_INITIALS = frozenset("aoe")  # RZ9


@dataclass(frozen=True)
class Generic:
    """One row of ``generics.csv``."""

    word: str
    pinyin: str  # tone-marked, words separated by spaces
    category: str


@dataclass(frozen=True)
class Romanization:
    """Result of :func:`romanize`: the full spelling plus its 专名 / 通名 parts."""

    romanized: str
    zhuanming: str
    tongming: str
    zhuanming_roman: str
    tongming_roman: str


@dataclass(frozen=True)
class _Split:
    """Internal result of splitting: 专名, modifier (RZ2), ethnic words, base generic."""

    specific: str
    modifier: str
    ethnic: tuple[str, ...]
    generic: Generic | None

    @property
    def tongming(self) -> str:
        base = self.generic.word if self.generic else ""
        return "".join(self.ethnic) + self.modifier + base


@dataclass(frozen=True)
class _Data:
    generics: dict[str, Generic]
    generic_lengths: tuple[int, ...]
    readings: dict[str, tuple[str, ...]]
    whole_names: dict[str, tuple[str, ...]]  # 单县 -> (shàn, xiàn): readings of whole names
    reading_lengths: tuple[int, ...]
    modifiers: frozenset[str]
    rz2_min_specific: int
    natural_kinds: frozenset[str]
    ordinal_categories: frozenset[str]
    segment_min: int
    ethnic: tuple[str, ...]  # longest first
    ethnic_before_minzu: tuple[str, ...]  # 鄂温克 (of 鄂温克族) in front of 民族乡; longest first
    ethnic_categories: frozenset[str]
    regional: dict[str, dict[str, tuple[str, ...]]]  # province code -> readings that hold there only
    default_region: str  # province of this gazetteer (romanize_settings.json)
    # Per-run caches (speed): a run of Han characters always gets the same syllables and reading spans
    # with one reading table; a new table (reload, another region) starts with empty caches.
    syllable_cache: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    span_cache: dict[str, dict[int, tuple[int, tuple[str, ...]]]] = field(
        default_factory=dict, compare=False, repr=False
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Read a data CSV, skipping ``#`` comment lines (officers annotate the files)."""
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    rows: list[dict[str, str]] = []
    for row in csv.DictReader(lines):
        if None in row:
            raise ValueError(f"{path.name}: too many fields in {row}; quote a value that contains a comma")
        rows.append({k: (v or "").strip() for k, v in row.items()})
    return rows


@lru_cache(maxsize=4)
def _load(data_dir: Path = DATA_DIR) -> _Data:
    generics = {
        row["generic"]: Generic(row["generic"], row["pinyin"], row["category"])
        for row in _read_csv(data_dir / "generics.csv")
    }
    all_readings: dict[str, tuple[str, ...]] = {}
    regional: dict[str, dict[str, tuple[str, ...]]] = {}
    for row in _read_csv(data_dir / "readings.csv"):
        word, syllables = row["word"], tuple(row["pinyin"].split())
        if len(syllables) != len(word):
            raise ValueError(f"readings.csv: {word!r} has {len(word)} characters but {len(syllables)} syllables")
        regions = row.get("regions", "").split()
        if regions:  # a reading that holds in these provinces only (圩 wéi in Anhui)
            for region in regions:
                regional.setdefault(region, {})[word] = syllables
        else:
            all_readings[word] = syllables
    # A row whose word ends with a division generic (单县 shàn xiàn) is the reading of that whole name only:
    # its 专名 is read so in that name alone (单 is dān elsewhere), and it must not stop split_name.
    division_generics = [g for g, row in generics.items() if row.category == "admin"]
    whole_names = {
        w: syl for w, syl in all_readings.items() if any(w.endswith(g) and len(w) > len(g) for g in division_generics)
    }
    readings = {w: syl for w, syl in all_readings.items() if w not in whole_names}
    settings: dict[str, Any] = json.loads((data_dir / "romanize_settings.json").read_text(encoding="utf-8"))
    return _Data(
        generics=generics,
        generic_lengths=tuple(sorted({len(g) for g in generics}, reverse=True)),
        readings=readings,
        whole_names=whole_names,
        reading_lengths=tuple(sorted({len(w) for w in readings}, reverse=True)),
        modifiers=frozenset(settings["rz2_modifiers"]),
        rz2_min_specific=int(settings["rz2_min_specific_chars"]),
        natural_kinds=frozenset(settings["rz3_natural_kinds"]),
        ordinal_categories=frozenset(settings["rz5_ordinal_categories"]),
        segment_min=int(settings["segment_specific_min_chars"]),
        ethnic=tuple(sorted(settings["ethnic_designations"], key=len, reverse=True)),
        ethnic_before_minzu=tuple(
            sorted(
                (e[:-1] for e in settings["ethnic_designations"] if e.endswith("族") and len(e) >= 3),
                key=len,
                reverse=True,
            )
        ),
        ethnic_categories=frozenset(settings["ethnic_absorb_categories"]),
        regional=regional,
        default_region=str(settings["default_region"]),
    )


@lru_cache(maxsize=64)
def _data_for(region: str | None = None) -> _Data:
    """The data with the readings of a province (GB/T 2260 code or its first two digits) layered on top.

    ``None`` is this gazetteer's own province (``default_region`` in romanize_settings.json).
    """
    base = _load()
    province = (region or base.default_region)[:2]
    extra = base.regional.get(province)
    if not extra:
        return base
    readings = {**base.readings, **extra}
    return replace(
        base,
        readings=readings,
        reading_lengths=tuple(sorted({len(w) for w in readings}, reverse=True)),
        syllable_cache={},
        span_cache={},
    )


def reload_data() -> None:
    """Forget cached data files and every spelling derived from them (after an officer edited them)."""
    _load.cache_clear()
    _data_for.cache_clear()
    _segment_words.cache_clear()
    _romanize_cached.cache_clear()


# The per-run caches are bounded so that a bulk import of unique names cannot grow them without end.
_CACHE_MAX = 200_000


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


# ---------------------------------------------------------------------------------------------------------
# Syllables


def is_han(ch: str) -> bool:
    """True for a CJK unified ideograph (basic block and extensions)."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x3134F
        or 0xF900 <= cp <= 0xFAFF
        or cp == 0x3007  # 〇
    )


@lru_cache(maxsize=16_384)
def strip_tones(text: str) -> str:
    """Remove tone marks but keep ü (RZ7, RZ9): ``lǚ`` -> ``lü``, ``Xī'ān`` -> ``Xi'an``."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_COMBINING))


def _reading_spans(text: str, data: _Data) -> dict[int, tuple[int, tuple[str, ...]]]:
    """Non-overlapping RZ6 reading matches, longest first, left to right: start -> (end, syllables)."""
    cached = data.span_cache.get(text)
    if cached is not None:
        return cached
    spans: dict[int, tuple[int, tuple[str, ...]]] = {}
    i = 0
    while i < len(text):
        for n in data.reading_lengths:
            word = text[i : i + n]
            if len(word) == n and word in data.readings:
                spans[i] = (i + n, data.readings[word])
                i += n
                break
        else:
            i += 1
    _remember(data.span_cache, text, spans)
    return spans


def _han_syllables(run: str, data: _Data) -> list[str]:
    """Tone-marked syllables of a run of Han characters: pypinyin, then RZ6 readings on top.

    pypinyin is asked for the whole run (so its phrase dictionary sees the context); the readings table
    then replaces the syllables of the characters it covers. pypinyin's global dictionaries are never
    modified, so nothing leaks between calls.
    """
    cached = data.syllable_cache.get(run)
    if cached is not None:
        return list(cached)
    result = [item[0] for item in pinyin(run, style=Style.TONE, errors="default")]
    if len(result) != len(run):  # characters unknown to pypinyin come back grouped: go one at a time
        result = [pinyin(ch, style=Style.TONE, errors="default")[0][0] for ch in run]
    for start, (end, syllables) in _reading_spans(run, data).items():
        result[start:end] = list(syllables)
    _remember(data.syllable_cache, run, tuple(result))
    return result


def _tokens(text: str, data: _Data) -> list[str]:
    """Split text into tone-marked syllables (Han) and untouched runs of other characters."""
    out: list[str] = []
    i = 0
    while i < len(text):
        j = i
        if is_han(text[i]):
            while j < len(text) and is_han(text[j]):
                j += 1
            out.extend(_han_syllables(text[i:j], data))
        else:
            while j < len(text) and not is_han(text[j]) and not text[j].isspace():
                j += 1
            if j == i:  # whitespace
                j += 1
            else:
                out.append(unicodedata.normalize("NFKC", text[i:j]))  # full-width Ｂ１ -> B1
        i = j
    return out


def pinyin_syllables(text: str, *, tones: bool = False, region: str | None = None) -> list[str]:
    """Syllables of ``text`` with the RZ6 readings applied (lower case; toneless unless ``tones``)."""
    data = _data_for(region)
    syllables = _tokens(text, data)
    return syllables if tones else [strip_tones(s) for s in syllables]


def _join_word(syllables: Sequence[str]) -> str:
    """Join syllables into one capitalised word, with RZ9 apostrophes (Chang'an, Lu'an)."""
    parts: list[str] = []
    for idx, syl in enumerate(syllables):
        if not syl:
            continue
        if idx > 0 and parts and strip_tones(syl[0]).lower() in _APOSTROPHE_INITIALS and parts[-1][-1:].isalpha():
            parts.append("'")
        parts.append(syl)
    word = "".join(parts)
    return _capitalise(word)


def _capitalise(word: str) -> str:
    """RZ8: first letter upper case, the rest as spelled."""
    return word[:1].upper() + word[1:] if word else word


def _finish(text: str, tones: bool) -> str:
    return text if tones else strip_tones(text)


# ---------------------------------------------------------------------------------------------------------
# Splitting 专名 / 通名


def _cuts_reading(name: str, cut: int, data: _Data) -> bool:
    """True if cutting ``name`` at ``cut`` would split an RZ6 reading word (e.g. 砀山 -> 砀 + 山)."""
    return any(start < cut < end for start, (end, _) in _reading_spans(name, data).items())


def _split(name: str, data: _Data, *, absorb_modifier: bool = True) -> _Split:
    for n in data.generic_lengths:
        if len(name) <= n:
            continue
        word = name[-n:]
        generic = data.generics.get(word)
        if generic is None or _cuts_reading(name, len(name) - n, data):
            continue
        specific = name[:-n]
        modifier = ""
        ethnic: list[str] = []
        # RZ2: one-syllable modifier + one-syllable street generic -> one word (景山后街 -> Houjie).
        if (
            absorb_modifier
            and generic.category in data.ordinal_categories
            and len(word) == 1
            and specific[-1:] in data.modifiers
            and len(specific) - 1 >= data.rz2_min_specific
            and not _cuts_reading(specific, len(specific) - 1, data)
        ):
            modifier, specific = specific[-1], specific[:-1]
        # Ethnic designations belong to the generic of a division / committee (牌坊回族满族乡). In front of
        # 民族乡 / 民族镇 the people's name comes without 族 (鄂温克民族乡 -> Ewenke Minzu Xiang).
        # Every designation ends with 族 (民族, 回族 ...); only the 民族乡 case needs the 族-less names.
        if generic.category in data.ethnic_categories and (specific.endswith("族") or word.startswith("民族")):
            names = data.ethnic_before_minzu + data.ethnic if word.startswith("民族") else data.ethnic
            found = True
            while found:
                found = False
                for eth in names:
                    if specific.endswith(eth) and len(specific) > len(eth):
                        ethnic.insert(0, eth)
                        specific = specific[: -len(eth)]
                        found = True
                        break
        return _Split(specific, modifier, tuple(ethnic), generic)
    return _Split(name, "", (), None)


def _clean(name: str) -> str:
    """Drop whitespace: a standard name has none (``店埠 镇`` is 店埠镇)."""
    return "".join(name.split())


def split_name(name: str, *, join_modifier: bool = True) -> tuple[str, str]:
    """Split a standard name into (专名, 通名) (N0, RZ1).

    The 通名 is the longest entry of ``generics.csv`` at the end of the name that leaves a non-empty 专名
    and does not cut an RZ6 reading word; a one-syllable RZ2 modifier and ethnic designations are part of
    the 通名. A name with no known generic returns ``(name, "")``.

    Whitespace is dropped first. ``join_modifier=False`` leaves an RZ2 modifier in the 专名 (used by the
    N7 duplicate check, so that 中山北路 and 中山南路 are not taken for the same name).

    >>> split_name("长安街")
    ('长安', '街')
    """
    name = _clean(name)
    parts = _split(name, _data_for(None), absorb_modifier=join_modifier)
    return parts.specific, parts.tongming


# ---------------------------------------------------------------------------------------------------------
# Spelling


def _cn_numeral_value(text: str) -> int | None:
    """Value of a Chinese numeral such as 五, 十二, 二十, 一百零五; None if not a numeral."""
    if not text or any(ch not in _CN_NUMERAL_CHARS for ch in text):
        return None
    if all(ch in _CN_DIGITS for ch in text):
        if len(text) == 1:
            return _CN_DIGITS[text]
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total = 0
    current = 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        else:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
    return total + current


def _ordinal_suffix(specific: str) -> tuple[str, int] | None:
    """RZ5: (prefix, number) when the 专名 ends with a Chinese ordinal after a non-numeral prefix."""
    i = len(specific)
    while i > 0 and specific[i - 1] in _CN_NUMERAL_CHARS:
        i -= 1
    if i == len(specific) or i == 0:
        return None
    value = _cn_numeral_value(specific[i:])
    return None if value is None else (specific[:i], value)


def _words_for_specific(specific: str, data: _Data) -> list[str]:
    """Tone-marked words of a 专名: one word, or several when it is long (pypinyin's segmenter)."""
    if not specific:
        return []
    if len(specific) >= data.segment_min and all(is_han(c) for c in specific):
        pieces = _segment(specific)
        # Split a 专名 into its dictionary words (合肥|循环|经济, 众兴|水库|大坝). One of which the word list knows
        # at most one word among four or more unknown characters is a name of its own, typically a
        # transliteration (卧|里|托|格拉|克), and is written as one word (issue 14).
        known = sum(1 for p in pieces if len(p) > 1)
        if known > 1 or len(pieces) - known < 4:
            pieces = _merge_readings(_merge_single_chars(pieces), specific, data)
            return [_join_word(_tokens(p, data)) for p in pieces]
    tokens = _tokens(specific, data)
    words: list[str] = []
    han: list[str] = []
    # Non-Han runs (digits, Latin letters) are their own words; Han syllables are joined.
    for tok, is_syllable in _classify_tokens(specific, tokens):
        if is_syllable:
            han.append(tok)
        else:
            if han:
                words.append(_join_word(han))
                han = []
            words.append(tok)
    if han:
        words.append(_join_word(han))
    return words


def _classify_tokens(text: str, tokens: list[str]) -> Iterator[tuple[str, bool]]:
    """Pair each token of :func:`_tokens` with whether it came from a Han character."""
    pos = 0
    for tok in tokens:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and is_han(text[pos]):
            yield tok, True
            pos += 1
        else:
            yield tok, False
            pos += len(tok)


@lru_cache(maxsize=2)
def _segment_words(data_dir: Path = DATA_DIR) -> frozenset[str]:
    """Word list for long 专名 (``segment_words.txt``, CC-CEDICT headwords), loaded on first use."""
    text = (data_dir / "segment_words.txt").read_text(encoding="utf-8")
    return frozenset(w for w in (ln.strip() for ln in text.splitlines()) if w and not w.startswith("#"))


def _segment(text: str) -> list[str]:
    """Forward maximum matching (words of 2-4 characters) over ``segment_words.txt``."""
    words = _segment_words()
    pieces: list[str] = []
    i = 0
    while i < len(text):
        for n in (4, 3, 2):
            if i + n <= len(text) and text[i : i + n] in words:
                pieces.append(text[i : i + n])
                i += n
                break
        else:
            pieces.append(text[i])
            i += 1
    return pieces


def _merge_single_chars(pieces: list[str]) -> list[str]:
    """Join runs of one-character pieces (characters the word list does not know) into one word."""
    merged: list[str] = []
    single = False
    for piece in pieces:
        if len(piece) == 1 and single and merged:
            merged[-1] += piece
        else:
            merged.append(piece)
        single = len(piece) == 1
    return merged


def _merge_readings(pieces: list[str], text: str, data: _Data) -> list[str]:
    """Re-join segmenter pieces that would split an RZ6 reading word."""
    merged: list[str] = []
    pos = 0
    for piece in pieces:
        if merged and _cuts_reading(text, pos, data):
            merged[-1] += piece
        else:
            merged.append(piece)
        pos += len(piece)
    return merged


def _generic_words(parts: _Split, data: _Data) -> list[str]:
    """Tone-marked words of the 通名 (ethnic words, then the generic with an RZ2 modifier joined)."""
    words = [_join_word(_tokens(eth, data)) for eth in parts.ethnic]
    if parts.generic is None:
        return words
    base = parts.generic.pinyin.split()
    if parts.modifier:
        mod = _tokens(parts.modifier, data)
        base = [_join_word([*mod, base[0].lower()]), *base[1:]]
    return words + base


def _romanize_split(name: str, parts: _Split, data: _Data, kind: str | None) -> tuple[str, str, str]:
    """Return (romanized, zhuanming_roman, tongming_roman), tone-marked."""
    if kind is not None and kind in data.natural_kinds:
        # RZ3: natural villages and towns are one word (王村 -> Wangcun, 周口店 -> Zhoukoudian).
        whole = _join_word(_tokens(name, data))
        spec = _join_word(_tokens(parts.specific, data))
        gen = _join_word(_tokens(parts.tongming, data)) if parts.tongming else ""
        return whole, spec, gen
    generic = parts.generic
    if generic is not None and generic.category == "nested":
        inner = _split(parts.specific, data)
        spec_words = _romanize_split(parts.specific, inner, data, None)[0].split(" ")
    else:
        ordinal = _ordinal_suffix(parts.specific) if generic and generic.category in data.ordinal_categories else None
        if ordinal is not None:
            # RZ5: ordinal street numbers in digits (经五路 -> Jing 5 Lu).
            spec_words = [*_words_for_specific(ordinal[0], data), str(ordinal[1])]
        elif name in data.whole_names and parts.specific and parts.tongming:
            # RZ6 reading of this whole name (单县 -> Shan Xian): the 专名 takes the first syllables.
            spec_words = [_join_word(list(data.whole_names[name][: len(parts.specific)]))]
        else:
            spec_words = _words_for_specific(parts.specific, data)
    gen_words = _generic_words(parts, data)
    spec = " ".join(spec_words)
    gen = " ".join(gen_words)
    return " ".join(w for w in (spec, gen) if w), spec, gen


def romanize(
    name: str,
    *,
    tones: bool = False,
    kind: str | None = None,
    overrides: Mapping[str, str] | None = None,
    region: str | None = None,
) -> Romanization:
    """Romanise a standard place name (RZ1-RZ9).

    ``kind`` selects RZ3 (e.g. ``"natural_village"``). ``overrides`` maps a whole name (or just its 专名)
    to an officer's spelling, which is returned as written (RZ6: "the correction wins"). ``region`` is the
    GB/T 2260 code of the place's division (or its province): readings that differ by province (圩 wéi in
    Anhui, xū in the south) follow it; by default, this gazetteer's province.
    """
    name = _clean(name)
    if not name:
        raise ValueError("empty name")
    province = region[:2] if region else None
    if not overrides:
        return _romanize_cached(name, tones, kind, province)
    return _romanize(name, tones=tones, kind=kind, overrides=overrides, region=province)


@lru_cache(maxsize=65_536)
def _romanize_cached(name: str, tones: bool, kind: str | None, region: str | None) -> Romanization:
    return _romanize(name, tones=tones, kind=kind, overrides=None, region=region)


def _romanize(
    name: str, *, tones: bool, kind: str | None, overrides: Mapping[str, str] | None, region: str | None
) -> Romanization:
    data = _data_for(region)
    parts = _split(name, data)
    specific, tongming = parts.specific, parts.tongming
    if overrides and name in overrides:
        return _from_override(overrides[name], parts, data)
    romanized, spec_roman, gen_roman = _romanize_split(name, parts, data, kind)
    if overrides and specific in overrides:
        spec_roman = overrides[specific].strip()
        gen_final = _finish(gen_roman, tones)
        natural = kind is not None and kind in data.natural_kinds
        joined = spec_roman + gen_final.lower() if natural else " ".join(w for w in (spec_roman, gen_final) if w)
        return Romanization(joined, specific, tongming, spec_roman, gen_final)
    return Romanization(
        _finish(romanized, tones), specific, tongming, _finish(spec_roman, tones), _finish(gen_roman, tones)
    )


def _from_override(spelling: str, parts: _Split, data: _Data) -> Romanization:
    """An officer's whole-name spelling: keep it verbatim, split it at the 通名 words when they match."""
    spelling = spelling.strip()
    gen_count = len(_generic_words(parts, data))
    words = spelling.split()
    spec_roman, gen_roman = spelling, ""
    if gen_count and len(words) > gen_count:
        spec_roman = " ".join(words[:-gen_count])
        gen_roman = " ".join(words[-gen_count:])
    return Romanization(spelling, parts.specific, parts.tongming, spec_roman, gen_roman)


def romanize_lines(lines: Iterable[str], tones: bool = False) -> list[str]:
    """Romanise one name per line, preserving order (``diming romanize``); blank lines stay blank."""
    out: list[str] = []
    for line in lines:
        text = line.strip()
        out.append(romanize(text, tones=tones).romanized if text else "")
    return out
