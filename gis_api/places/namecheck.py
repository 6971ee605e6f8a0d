"""Checks for non-standard place names: 大 (exaggerated), 洋 (foreign), 怪 (odd), 重 (duplicate).

domain.md section 2 (the 2018 clean-up campaign) and the naming rules N1-N7 of section 1.2. A hit is a
review flag with its reason and rule, never a rejection; officers may record exemptions. All word lists,
thresholds and tables are data files under ``gis_api/places/data/`` (see ``SOURCES.txt`` there):

* 大 N2 — ``exaggerating_words.txt``; size thresholds, stacked generics: ``namecheck_settings.json``.
* 洋 N5 — ``foreign_seed.txt`` + ``foreign_names.tsv`` (CLDR + CC-CEDICT lexicon, built by
  ``lexicon_build.py``) minus ``foreign_stoplist.txt``; any Latin letter in the 专名.
* 怪 N3 — digits, Latin letters, symbols; traditional characters (``traditional_chars.tsv``, OpenCC);
  characters outside the 通用规范汉字表 (``standard_chars.csv``). 怪 N1 — ``odd_words.csv``.
* 重 N7 — same normalised 专名, same toneless pinyin, or same reading under ``dialect_homophones.csv``,
  compared against the ``existing`` names the caller selected for the statutory scope (:func:`duplicate_scope`).
* Exemptions — ``exemptions.csv`` plus the officer's per-call exemptions; suppressed flags are returned
  separately by :func:`check_name_detailed`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from gis_api.places.romanize import DATA_DIR, _read_csv, is_han, pinyin_syllables, split_name, strip_tones

CLASSES = ("大", "洋", "怪", "重")
SCOPES = ("national", "province", "county", "built_up_area")
_LATIN = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Flag:
    """One review flag. ``span`` is the part of the name that triggered it (used to match exemptions)."""

    cls: str
    rule: str
    reason: str
    reason_zh: str
    evidence: str
    span: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, str]:
        return {
            "class": self.cls,
            "rule": self.rule,
            "reason": self.reason,
            "reason_zh": self.reason_zh,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Exemption:
    """An exemption: flags whose matched text lies inside ``term`` are suppressed, with a justification."""

    term: str
    justification: str
    classes: frozenset[str] = frozenset()  # empty = 大, 洋, 怪 (重 must be named)
    source: str = "officer"

    def covers(self, name: str, flag: Flag) -> bool:
        if not self.term or self.term not in name:
            return False
        if flag.cls == "重":
            return "重" in self.classes
        if self.classes and flag.cls not in self.classes:
            return False
        span = flag.span or flag.evidence
        return bool(span) and (span in self.term or self.term in span)

    def to_dict(self) -> dict[str, str]:
        return {"term": self.term, "justification": self.justification, "source": self.source}


@dataclass(frozen=True)
class ExemptedFlag:
    flag: Flag
    exemption: Exemption

    def to_dict(self) -> dict[str, Any]:
        return {**self.flag.to_dict(), "exemption": self.exemption.to_dict()}


@dataclass(frozen=True)
class NameCheck:
    """Result of :func:`check_name_detailed`: raised flags and the flags an exemption suppressed."""

    flags: list[Flag]
    exempted: list[ExemptedFlag]


@dataclass(frozen=True)
class ForeignEntry:
    word: str
    kind: str  # place | person | other | seed
    source: str


@dataclass(frozen=True)
class NameCheckConfig:
    """Everything the checks read from the data directory (replace fields in tests or per county)."""

    exaggerating: tuple[str, ...]
    size_thresholds: Mapping[str, Mapping[str, Mapping[str, float]]]
    size_check_categories: frozenset[str]
    stacked_generics: tuple[str, ...]
    stacked_allowed: frozenset[str]
    foreign: Mapping[str, ForeignEntry]
    foreign_lengths: tuple[int, ...]
    foreign_mask: tuple[str, ...]
    foreign_straddle: frozenset[str]
    odd_words: Mapping[str, str]
    standard_chars: frozenset[str]
    traditional: Mapping[str, str]
    exemptions: tuple[Exemption, ...]
    dup_prefixes: tuple[str, ...]
    dup_leading: tuple[str, ...]
    dup_min_after_leading: int
    dup_suffixes: tuple[str, ...]
    dup_after_suffix: tuple[str, ...]
    dialect_initials: tuple[tuple[str, str], ...]
    dialect_finals: tuple[tuple[str, str], ...]
    dialect_syllables: Mapping[str, str]
    scopes: Mapping[str, str]


def _words(path: Path) -> list[str]:
    """One word per line; ``#`` starts a comment."""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            out.append(word)
    return out


def _tsv(path: Path) -> list[dict[str, str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=False)) for ln in lines[1:]]


def _parse_classes(text: str) -> frozenset[str]:
    classes = frozenset(c.strip() for c in text.split("|") if c.strip())
    unknown = classes - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown flag class(es) {sorted(unknown)}; expected {CLASSES}")
    return classes


@lru_cache(maxsize=4)
def load_config(data_dir: Path = DATA_DIR) -> NameCheckConfig:
    """Read every data file once (call ``load_config.cache_clear()`` after editing them)."""
    settings: dict[str, Any] = json.loads((data_dir / "namecheck_settings.json").read_text(encoding="utf-8"))
    romanize_settings: dict[str, Any] = json.loads((data_dir / "romanize_settings.json").read_text(encoding="utf-8"))
    stop = set(_words(data_dir / "foreign_stoplist.txt"))
    min_chars = int(settings["foreign_min_chars"])
    foreign: dict[str, ForeignEntry] = {}
    for row in _tsv(data_dir / "foreign_names.tsv"):
        word = row["word"]
        if len(word) >= min_chars and word not in stop:
            foreign[word] = ForeignEntry(word, row.get("kind", "place"), row.get("source", ""))
    for word in _words(data_dir / "foreign_seed.txt"):
        if word not in stop:
            foreign[word] = ForeignEntry(word, "seed", "foreign_seed.txt")
    ethnic: list[str] = list(romanize_settings["ethnic_designations"])
    # 朝鲜族, 俄罗斯族 and the 蒙古民族乡 / 鄂伦春民族乡 forms are Chinese ethnic designations, not foreign names.
    stems = [e[:-1] + "民族" for e in ethnic if e.endswith("族") and len(e) >= 3]
    mask = [*settings["foreign_mask_words"], *ethnic, *stems]
    dialect = _read_csv(data_dir / "dialect_homophones.csv")
    thresholds = {k: v for k, v in settings["size_thresholds"].items() if not k.startswith("_")}
    scopes = {k: v for k, v in settings["duplicate_scopes"].items() if not k.startswith("_")}
    bad_scopes = set(scopes.values()) - set(SCOPES)
    if bad_scopes:
        raise ValueError(f"namecheck_settings.json: unknown duplicate scope(s) {sorted(bad_scopes)}")
    return NameCheckConfig(
        exaggerating=tuple(_words(data_dir / "exaggerating_words.txt")),
        size_thresholds=thresholds,
        size_check_categories=frozenset(settings["size_check_categories"]),
        stacked_generics=tuple(settings["stacked_generics"]),
        stacked_allowed=frozenset(settings["stacked_allowed"]),
        foreign=foreign,
        foreign_lengths=tuple(sorted({len(w) for w in foreign}, reverse=True)),
        foreign_mask=tuple(sorted(set(mask), key=len, reverse=True)),
        foreign_straddle=frozenset(settings["foreign_straddle_words"]),
        odd_words={row["word"]: row["kind"] for row in _read_csv(data_dir / "odd_words.csv")},
        standard_chars=frozenset(row["char"] for row in _read_csv(data_dir / "standard_chars.csv")),
        traditional={row["traditional"]: row["simplified"] for row in _tsv(data_dir / "traditional_chars.tsv")},
        exemptions=tuple(
            Exemption(row["term"], row["justification"], _parse_classes(row["classes"]), "exemptions.csv")
            for row in _read_csv(data_dir / "exemptions.csv")
        ),
        dup_prefixes=tuple(sorted(settings["dup_strip_prefixes"], key=len, reverse=True)),
        dup_leading=tuple(settings["dup_strip_leading"]),
        dup_min_after_leading=int(settings["dup_min_specific_chars_after_leading"]),
        dup_suffixes=tuple(sorted(settings["dup_strip_suffixes"], key=len, reverse=True)),
        dup_after_suffix=tuple(settings["dup_strip_after_suffix"]),
        dialect_initials=tuple((r["from"], r["to"]) for r in dialect if r["kind"] == "initial"),
        dialect_finals=tuple((r["from"], r["to"]) for r in dialect if r["kind"] == "final"),
        dialect_syllables={r["from"]: r["to"] for r in dialect if r["kind"] == "syllable"},
        scopes=scopes,
    )


# ---------------------------------------------------------------------------------------------------------
# 大 (N2)


# The size attributes of §2.1 as people read them (the N2 message names them).
_ATTR_ZH = {"land_area_m2": "占地面积（平方米）", "floor_area_m2": "建筑面积（平方米）", "storeys": "层数"}


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def _size_flags(name: str, category: str | None, attrs: Mapping[str, float], cfg: NameCheckConfig) -> list[Flag]:
    """N2: a building/estate generic used for an entity below the configured size (domain.md 2.1)."""
    if category is not None and str(category) not in cfg.size_check_categories:
        return []
    out: list[Flag] = []
    for generic, rule in cfg.size_thresholds.items():
        if not name.endswith(generic) or len(name) == len(generic):
            continue
        for mode, limits in rule.items():
            known = {k: float(attrs[k]) for k in limits if attrs.get(k) is not None}
            failing = {k: v for k, v in known.items() if v < limits[k]}
            # "any": conclusive only when every condition is known and failing; "all": one failing is enough.
            flagged = len(failing) == len(limits) if mode == "any" else bool(failing)
            if not flagged:
                continue
            need = (" or " if mode == "any" else " and ").join(f"{k} >= {_fmt(limits[k])}" for k in limits)
            have = ", ".join(f"{k} = {_fmt(v)}" for k, v in known.items())
            need_zh = ("或" if mode == "any" else "且").join(f"{_ATTR_ZH.get(k, k)}不少于 {_fmt(limits[k])}"
                                                           for k in limits)
            have_zh = "，".join(f"{_ATTR_ZH.get(k, k)} {_fmt(v)}" for k, v in known.items())
            out.append(
                Flag(
                    "大",
                    "N2",
                    f"N2: generic '{generic}' needs {need}; this entity has {have}",
                    f"N2 名不副实：通名“{generic}”要求{need_zh}，实际{have_zh}",
                    f"{generic}: {have}",
                    generic,
                )
            )
    return out


def _check_big(name: str, category: str | None, attrs: Mapping[str, float], cfg: NameCheckConfig) -> list[Flag]:
    out: list[Flag] = []
    for word in cfg.exaggerating:
        if word in name:
            out.append(
                Flag(
                    "大",
                    "N2",
                    f"N2: exaggerating word '{word}' (name beyond the entity's real size, rank or nature)",
                    f"N2 夸大：含“{word}”，名称与实体规模、等级、性质不符",
                    word,
                    word,
                )
            )
    out.extend(_size_flags(name, category, attrs, cfg))
    for outer in cfg.stacked_generics:
        if not name.endswith(outer):
            continue
        rest = name[: -len(outer)]
        for inner in cfg.stacked_generics:
            pair = inner + outer
            if inner != outer and rest.endswith(inner) and len(rest) > len(inner) and pair not in cfg.stacked_allowed:
                out.append(
                    Flag(
                        "大",
                        "N2",
                        f"N2: stacked generics '{inner}' + '{outer}'",
                        f"N2 通名叠加：“{inner}{outer}”",
                        pair,
                        pair,
                    )
                )
    return out


# ---------------------------------------------------------------------------------------------------------
# 洋 (N5)


def _derived(cfg: NameCheckConfig) -> tuple[re.Pattern[str] | None, dict[str, tuple[int, ...]]]:
    """Lookup aids built once per config (``dataclasses.replace`` makes a new one, so keyed by the object):
    a pattern that finds any mask word, and per first character the lengths of the foreign words (longest first).
    They only skip work: a name without a mask word is left as is, a position whose character starts no foreign
    word has no hit."""
    hit = _DERIVED.get(id(cfg))
    if hit is not None and hit[0] is cfg:  # a config is frozen: a changed one is a new object
        return hit[1], hit[2]
    mask = re.compile("|".join(map(re.escape, cfg.foreign_mask))) if cfg.foreign_mask else None
    lengths: dict[str, set[int]] = {}
    for word in cfg.foreign:
        if word:
            lengths.setdefault(word[0], set()).add(len(word))
    # In the order foreign_hits tries them: the configured lengths, longest first.
    by_first = {c: tuple(n for n in cfg.foreign_lengths if n in ns) for c, ns in lengths.items()}
    _DERIVED.clear()  # one config in use at a time; tests swap whole configs
    _DERIVED[id(cfg)] = (cfg, mask, by_first)
    return mask, by_first


_DERIVED: dict[int, tuple[NameCheckConfig, re.Pattern[str] | None, dict[str, tuple[int, ...]]]] = {}


def _masked(name: str, cfg: NameCheckConfig) -> str:
    """Blank out Chinese words that contain foreign-looking names (朝鲜族, 俄罗斯族, 内蒙古)."""
    mask, _ = _derived(cfg)
    if mask is None or mask.search(name) is None:
        return name
    for word in cfg.foreign_mask:
        name = name.replace(word, "\u3000" * len(word))
    return name


def _straddles(text: str, start: int, end: int, cfg: NameCheckConfig) -> bool:
    """True if a hit's edge forms a listed ordinary word with its neighbour (建德国际: 德国|国际)."""
    before = text[start - 1 : start + 1] if start > 0 else ""
    after = text[end - 1 : end + 1] if end < len(text) else ""
    return before in cfg.foreign_straddle or after in cfg.foreign_straddle


def foreign_hits(name: str, cfg: NameCheckConfig | None = None) -> list[ForeignEntry]:
    """Lexicon entries found in ``name`` (longest match first, left to right, no overlaps)."""
    cfg = cfg or load_config()
    text = _masked(name, cfg)
    _, by_first = _derived(cfg)
    hits: list[ForeignEntry] = []
    i = 0
    while i < len(text):
        for n in by_first.get(text[i], ()):
            word = text[i : i + n]
            if len(word) == n and word in cfg.foreign and not (n == 2 and _straddles(text, i, i + n, cfg)):
                hits.append(cfg.foreign[word])
                i += n
                break
        else:
            i += 1
    return hits


def _check_foreign(name: str, specific: str, cfg: NameCheckConfig) -> list[Flag]:
    out = _foreign_word_flags(name, cfg)
    latin = _LATIN.findall(unicodedata.normalize("NFKC", specific))
    if latin:
        letters = " ".join(latin)
        out.append(
            Flag(
                "洋",
                "N5",
                f"N5: Latin letters in the specific part '{letters}'",
                f"N5 崇洋：专名使用外文字母“{letters}”",
                letters,
                letters,
            )
        )
    return out


def _foreign_word_flags(name: str, cfg: NameCheckConfig) -> list[Flag]:
    out: list[Flag] = []
    for entry in foreign_hits(name, cfg):
        what = {"person": "foreign personal name", "place": "foreign place name"}.get(entry.kind, "foreign name")
        what_zh = {"person": "外国人名", "place": "外国地名"}.get(entry.kind, "外国名称")
        out.append(
            Flag(
                "洋",
                "N5",
                f"N5: {what} '{entry.word}' ({entry.source})",
                f"N5 崇洋：含{what_zh}“{entry.word}”",
                entry.word,
                entry.word,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------
# 怪 (N3, N1)


def _check_odd(name: str, cfg: NameCheckConfig) -> list[Flag]:
    out: list[Flag] = []
    norm = unicodedata.normalize("NFKC", name)
    digits = _DIGITS.findall(norm)
    has_han = any(is_han(c) for c in name)
    if norm.isdigit():
        out.append(Flag("怪", "N3", "N3: name is only digits", "N3 怪异：名称仅为数字", name, name))
    elif digits and has_han:
        runs = " ".join(digits)
        out.append(
            Flag("怪", "N3", f"N3: digits mixed into the name '{runs}'", f"N3 怪异：名称夹杂数字“{runs}”", runs, runs)
        )
    latin = _LATIN.findall(norm)
    if latin:
        letters = " ".join(latin)
        out.append(
            Flag(
                "怪",
                "N3",
                f"N3: Latin letters are not the standard national script '{letters}'",
                f"N3 怪异：使用外文字母“{letters}”",
                letters,
                letters,
            )
        )
    symbols = sorted({c for c in norm if not (is_han(c) or (c.isascii() and c.isalnum()))}, key=norm.index)
    if symbols:
        shown = " ".join(repr(c)[1:-1] if c.isspace() else c for c in symbols)
        out.append(
            Flag("怪", "N3", f"N3: symbols in the name: {shown}", f"N3 怪异：使用符号 {shown}", shown, "".join(symbols))
        )
    for ch in dict.fromkeys(c for c in name if is_han(c)):
        if ch in cfg.standard_chars or ch == "〇":  # 〇 is the Chinese numeral zero (八五〇农场), not rare
            continue
        simplified = cfg.traditional.get(ch)
        if simplified:
            out.append(
                Flag(
                    "怪",
                    "N3",
                    f"N3: traditional character '{ch}' (standard form '{simplified}')",
                    f"N3 怪异：使用繁体字“{ch}”（规范字“{simplified}”）",
                    f"{ch}→{simplified}",
                    ch,
                )
            )
        else:
            out.append(
                Flag(
                    "怪",
                    "N3",
                    f"N3: rare character '{ch}' (U+{ord(ch):04X}) outside the 通用规范汉字表 (2013)",
                    f"N3 生僻字：“{ch}”不在《通用规范汉字表》内",
                    ch,
                    ch,
                )
            )
    out.extend(_odd_word_flags(name, cfg))
    return out


def _odd_word_flags(name: str, cfg: NameCheckConfig) -> list[Flag]:
    out: list[Flag] = []
    for word, kind in cfg.odd_words.items():
        if word in name:
            what, what_zh = {"feudal": ("feudal", "封建色彩"), "ominous": ("ominous", "不吉/恐怖")}.get(
                kind, (kind, "低俗")
            )
            out.append(
                Flag("怪", "N1", f"N1: {what} word '{word}'", f"N1 含义不健康：含{what_zh}词语“{word}”", word, word)
            )
    return out


# ---------------------------------------------------------------------------------------------------------
# 重 (N7)


def normalize_for_duplicate(
    name: str, config: NameCheckConfig | None = None, *, known: tuple[str, str] | None = None
) -> str:
    """Normalised 专名 for the N7 comparison (domain.md 2.2).

    Removes an NBS committee suffix (…社区居民委员会, then a 村/社区 left in front of it) or else the 通名
    (so 青龙路 and 青龙街 both give 青龙), a county/city prefix (肥东, 合肥), and then a leading 新/大 when at least
    ``dup_min_specific_chars_after_leading`` characters remain.

    ``known`` is ``(text, split_name(text, join_modifier=False)[0])`` when the caller has it (the bulk importer).
    """
    cfg = config or load_config()
    text = name.strip()
    committee = False
    if text.endswith(cfg.dup_suffixes):  # one C call for the common miss (speed); the loop picks which
        for suffix in cfg.dup_suffixes:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, committee = text[: -len(suffix)], True
                break
    if text.startswith(cfg.dup_prefixes):
        for prefix in cfg.dup_prefixes:
            if text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix) :]
                break
    if committee:
        # The committee suffix was the generic: 赵岗社区村民委员会 -> 赵岗 (岗 stays), but the village's own
        # generic goes too: 陈村村民委员会 -> 陈村 -> 陈, as for the village 陈村.
        specific = text
        for generic in cfg.dup_after_suffix:
            if specific.endswith(generic) and len(specific) > len(generic):
                specific = specific[: -len(generic)]
                break
    elif known is not None and known[0] == text:
        specific = known[1]
    else:
        specific, _ = split_name(text, join_modifier=False)
    for lead in cfg.dup_leading:
        if specific.startswith(lead) and len(specific) - len(lead) >= cfg.dup_min_after_leading:
            specific = specific[len(lead) :]
            break
    return specific


def _dialect_syllable(syl: str, cfg: NameCheckConfig) -> str:
    syl = cfg.dialect_syllables.get(syl, syl)
    for src, dst in cfg.dialect_initials:
        if syl.startswith(src) and not syl.startswith(("ng",)):
            syl = dst + syl[len(src) :]
            break
    for src, dst in cfg.dialect_finals:
        if syl.endswith(src):
            syl = syl[: -len(src)] + dst
            break
    return syl


@dataclass(frozen=True)
class DuplicateKey:
    """What two names are compared on (N7)."""

    specific: str
    pinyin: str
    dialect: str


def duplicate_key(name: str, config: NameCheckConfig | None = None) -> DuplicateKey:
    cfg = config or load_config()
    return specific_key(normalize_for_duplicate(name, cfg), cfg)


def specific_key(specific: str, cfg: NameCheckConfig, syllables: Sequence[str] | None = None) -> DuplicateKey:
    """The duplicate key of a normalised 专名 (names sharing a 专名 share it: the campaign computes it once).

    ``syllables``: ``pinyin_syllables(specific, tones=True)`` when the caller has them (the bulk importer).
    """
    if syllables is None:
        syllables = pinyin_syllables(specific)
    low, local = specific_key_columns(syllables, cfg)
    return DuplicateKey(specific, low, local)


def specific_key_columns(syllables: Sequence[str], cfg: NameCheckConfig) -> tuple[str, str]:
    """(pinyin, dialect) of a duplicate key from syllables with or without tone marks: per syllable, once per
    syllable and config (speed: the same few thousand syllables come back in every name)."""
    memo = _DIALECT.get(id(cfg))
    if memo is None or memo[0] is not cfg:
        _DIALECT.clear()
        memo = _DIALECT[id(cfg)] = (cfg, {}, {})
    _cfg, lowered, local = memo
    try:
        return " ".join(map(lowered.__getitem__, syllables)), " ".join(map(local.__getitem__, syllables))
    except KeyError:
        if len(lowered) >= 100_000:
            lowered.clear()
            local.clear()
        for s in syllables:
            low = strip_tones(s).lower()
            lowered[s], local[s] = low, _dialect_syllable(low, cfg)
        return specific_key_columns(syllables, cfg)


_DIALECT: dict[int, tuple[NameCheckConfig, dict[str, str], dict[str, str]]] = {}  # see specific_key_columns


def duplicate_scope(kind: str, config: NameCheckConfig | None = None) -> str:
    """N7 scope for a kind of entity: "national" | "province" | "county" | "built_up_area".

    County-level divisions and famous natural features: national; 乡/镇: province; 村(居)委会: county;
    街路巷 and 住宅区/楼宇: built-up area (the caller approximates it by township or urban zone).
    """
    cfg = config or load_config()
    try:
        return cfg.scopes[kind]
    except KeyError:
        raise ValueError(f"unknown scope kind {kind!r}; known: {', '.join(sorted(cfg.scopes))}") from None


def _check_duplicates(
    name: str,
    existing: Iterable[tuple[object, str]],
    scope_label: str | tuple[str, str] | None,
    own_id: object | None,
    cfg: NameCheckConfig,
    keys: Callable[[str], DuplicateKey] | None = None,
) -> list[Flag]:
    key_of = keys or (lambda n: duplicate_key(n, cfg))
    key = key_of(name)
    if not key.specific:
        return []
    same: list[str] = []
    homophone: list[str] = []
    dialect: list[str] = []
    for ident, other in existing:
        if own_id is not None and ident == own_id:
            continue
        other_key = key_of(other)
        label = f"#{ident} {other}"
        if other_key.specific == key.specific:
            same.append(label)
        elif key.pinyin and other_key.pinyin == key.pinyin:
            homophone.append(label)
        elif key.dialect and other_key.dialect == key.dialect:
            dialect.append(label)
    # A label may come as (Chinese, English): the scope is named in each message's own language.
    label_zh, label_en = scope_label if isinstance(scope_label, tuple) else (scope_label, scope_label)
    where = f" within {label_en}" if label_en else " within the same scope"
    where_zh = f"在{label_zh}内" if label_zh else "在同一范围内"
    out: list[Flag] = []
    if same:
        out.append(
            Flag(
                "重",
                "N7",
                f"N7: same specific part '{key.specific}' as {len(same)} existing name(s){where}",
                f"N7 重名：{where_zh}与已有地名专名“{key.specific}”相同",
                "; ".join(same),
                key.specific,
            )
        )
    if homophone:
        out.append(
            Flag(
                "重",
                "N7",
                f"N7: same sound '{key.pinyin}' as {len(homophone)} existing name(s){where} (homophone)",
                f"N7 同音：{where_zh}与已有地名读音相同（{key.pinyin}）",
                "; ".join(homophone),
                key.specific,
            )
        )
    if dialect:
        out.append(
            Flag(
                "重",
                "N7",
                f"N7: same local reading '{key.dialect}' as {len(dialect)} existing name(s){where}"
                " (dialect homophone, see dialect_homophones.csv)",
                f"N7 方言同音：{where_zh}与已有地名方言读音相同（{key.dialect}）",
                "; ".join(dialect),
                key.specific,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------
# Entry points


def _as_exemptions(exemptions: Iterable[Exemption] | Mapping[str, str] | None) -> list[Exemption]:
    if exemptions is None:
        return []
    if isinstance(exemptions, Mapping):
        return [Exemption(term, why) for term, why in exemptions.items()]
    return list(exemptions)


def check_name_detailed(
    name: str,
    *,
    category: str | None = None,
    attrs: Mapping[str, float] | None = None,
    existing: Iterable[tuple[object, str]] = (),
    scope_label: str | tuple[str, str] | None = None,
    config: NameCheckConfig | None = None,
    exemptions: Iterable[Exemption] | Mapping[str, str] | None = None,
    own_id: object | None = None,
) -> NameCheck:
    """Run all checks; flags covered by an exemption (data file or ``exemptions``) go to ``exempted``.

    ``existing`` are (id, name) pairs the caller already restricted to the N7 scope of this kind of
    entity (see :func:`duplicate_scope`); ``own_id`` skips the entity itself when re-checking it.
    ``exemptions`` may be Exemption objects or a mapping term -> justification (classes 大/洋/怪).
    """
    cfg = config or load_config()
    name = name.strip()
    if not name:
        raise ValueError("empty name")
    flags = [*name_flags(name, category, attrs, cfg), *_check_duplicates(name, existing, scope_label, own_id, cfg)]
    return apply_exemptions(name, flags, [*_as_exemptions(exemptions), *cfg.exemptions])


def name_flags(name: str, category: str | None, attrs: Mapping[str, float] | None, cfg: NameCheckConfig
               ) -> list[Flag]:
    """The 大, 洋 and 怪 flags of a stripped name: they depend on the name, category and size only (the
    campaign computes them once per distinct name and category), unlike 重, which depends on the scope.

    A name made only of characters of the 通用规范汉字表 (the usual case) has no digits, Latin letters, symbols,
    traditional or rare characters, so only the word lists can raise a flag: the same flags, in the same order,
    without splitting the name or normalising it (the splitting only served the Latin-letter test)."""
    if _plain_chars(cfg).issuperset(name):
        return [*_check_big(name, category, attrs or {}, cfg), *_foreign_word_flags(name, cfg),
                *_odd_word_flags(name, cfg)]
    specific, _ = split_name(name)
    return [*_check_big(name, category, attrs or {}, cfg), *_check_foreign(name, specific, cfg),
            *_check_odd(name, cfg)]


def _plain_chars(cfg: NameCheckConfig) -> frozenset[str]:
    """Characters for which :func:`_check_odd` and the Latin-letter test of :func:`_check_foreign` have nothing to
    say: Han characters of the standard list that NFKC leaves unchanged (one set per config, as ``_derived``)."""
    hit = _PLAIN.get(id(cfg))
    if hit is not None and hit[0] is cfg:
        return hit[1]
    plain = frozenset(c for c in cfg.standard_chars
                      if len(c) == 1 and is_han(c) and unicodedata.normalize("NFKC", c) == c and not c.isdigit()
                      and not c.isspace())
    _PLAIN.clear()
    _PLAIN[id(cfg)] = (cfg, plain)
    return plain


_PLAIN: dict[int, tuple[NameCheckConfig, frozenset[str]]] = {}


def duplicate_flags(name: str, existing: Iterable[tuple[object, str]], scope_label: str | tuple[str, str] | None,
                    own_id: object | None, cfg: NameCheckConfig, keys: Callable[[str], DuplicateKey]) -> list[Flag]:
    """The 重 flags, with ``keys`` giving each name's duplicate key (a cache of :func:`duplicate_key`)."""
    return _check_duplicates(name, existing, scope_label, own_id, cfg, keys)


def apply_exemptions(name: str, flags: Iterable[Flag], rules: Sequence[Exemption]) -> NameCheck:
    """Split ``flags`` into raised and exempted by the first exemption in ``rules`` that covers each."""
    raised: list[Flag] = []
    exempted: list[ExemptedFlag] = []
    for flag in flags:
        match = next((ex for ex in rules if ex.covers(name, flag)), None)
        if match is None:
            raised.append(flag)
        else:
            exempted.append(ExemptedFlag(flag, match))
    return NameCheck(raised, exempted)


def check_name(
    name: str,
    *,
    category: str | None = None,
    attrs: Mapping[str, float] | None = None,
    existing: Iterable[tuple[object, str]] = (),
    scope_label: str | tuple[str, str] | None = None,
    config: NameCheckConfig | None = None,
    exemptions: Iterable[Exemption] | Mapping[str, str] | None = None,
    own_id: object | None = None,
) -> list[Flag]:
    """Review flags for ``name`` (大 N2, 洋 N5, 怪 N3/N1, 重 N7); exempted flags are left out."""
    return check_name_detailed(
        name,
        category=category,
        attrs=attrs,
        existing=existing,
        scope_label=scope_label,
        config=config,
        exemptions=exemptions,
        own_id=own_id,
    ).flags


def check_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """``diming check-name``: one JSON object {"name","category","division_code"} or bare name per line.

    Returns, in order, {"name", "flags": [...], "exempted": [...]} per line (plus "error" for a line that
    is not valid input). Duplicates (重) need the database and are not checked here.
    """
    out: list[dict[str, Any]] = []
    for line in lines:
        text = line.strip()
        name, category, error = text, None, None
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                obj, error = None, f"invalid JSON: {exc.msg}"
            if isinstance(obj, dict):
                name = str(obj.get("name") or "").strip()
                cat = obj.get("category")
                category = None if cat is None else str(cat)
                if not name:
                    error = 'missing "name"'
            elif error is None:
                error = "expected a JSON object"
        if error or not name:
            entry: dict[str, Any] = {"name": name, "flags": [], "exempted": []}
            if error:
                entry["error"] = error
            out.append(entry)
            continue
        result = check_name_detailed(name, category=category)
        out.append(
            {
                "name": name,
                "flags": [f.to_dict() for f in result.flags],
                "exempted": [e.to_dict() for e in result.exempted],
            }
        )
    return out


def summarize(flags: Sequence[Flag]) -> dict[str, int]:
    """Count flags per class (for reports)."""
    return {cls: sum(1 for f in flags if f.cls == cls) for cls in CLASSES}
