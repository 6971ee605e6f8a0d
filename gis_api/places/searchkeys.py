"""The search columns of a place, computed once on write so search is answered by indexes.

Officers type fast, in Chinese or pinyin: full pinyin (``dianbu``), initials (``dbz``), a Chinese
substring, or the name without its generic (…社区居民委员会). ``ü`` is stored as ``v``, as IMEs type it.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gis_api.places.romanize import _HAN_RUN, everyday_syllables, is_han, pinyin_syllables, split_name, strip_tones


@dataclass(frozen=True)
class SearchKeys:
    keys: list[str]  # exact-match keys: name, 专名, their toneless pinyin and initials
    pinyin: str
    initials: str
    grams: list[str]  # Chinese 1-grams and 2-grams of the name (substring search)


def _ascii_pinyin(syllables: list[str]) -> tuple[str, str]:
    clean = [s.lower().replace("ü", "v") for s in syllables if s and s.isalpha()]
    return "".join(clean), "".join(s[0] for s in clean)


# syllable (tone-marked or not) -> what _ascii_pinyin keeps of it after strip_tones ("" for nothing), and its first
# letter: the same few thousand syllables come back in every name (speed, issue 12 section 3)
_ASCII: dict[str, str] = {}
_ASCII_FIRST: dict[str, str] = {}


def _ascii_pinyin_toned(syllables: Sequence[str]) -> tuple[str, str]:
    """``_ascii_pinyin`` of the syllables without their tone marks (``[strip_tones(s) for s in syllables]``)."""
    try:
        return "".join(map(_ASCII.__getitem__, syllables)), "".join(map(_ASCII_FIRST.__getitem__, syllables))
    except KeyError:
        if len(_ASCII) >= 100_000:
            _ASCII.clear()
            _ASCII_FIRST.clear()
        for syl in syllables:
            plain = strip_tones(syl)
            a = plain.lower().replace("ü", "v") if plain and plain.isalpha() else ""
            _ASCII[syl], _ASCII_FIRST[syl] = a, a[:1]
        return _ascii_pinyin_toned(syllables)


def query_form(q: str) -> str:
    """A query as it is compared with stored keys: trimmed, lower case, ü → v, no spaces or apostrophes."""
    if (q.isascii() and q.isalpha() and q.islower()) or _HAN_RUN.fullmatch(q):  # nothing to change (speed)
        return q
    return "".join(q.split()).lower().replace("ü", "v").replace("'", "").replace("’", "")


def grams(text: str) -> list[str]:
    if _HAN_RUN.fullmatch(text):  # every character counts (speed: no per-character test, pairs joined in C)
        out = set(text)
        out.update(map(operator.add, text, text[1:]))
        return sorted(out)
    chars = [c for c in text if is_han(c) or c.isalnum()]
    out = set(chars)
    out.update(a + b for a, b in itertools.pairwise(chars))
    return sorted(out)


def search_keys(name: str) -> SearchKeys:
    zhuanming, _tongming = split_name(name)
    return SearchKeys(*_assemble(
        name,
        zhuanming,
        _ascii_pinyin(pinyin_syllables(name)),
        _ascii_pinyin(pinyin_syllables(zhuanming)) if zhuanming else ("", ""),
        _ascii_pinyin(everyday_syllables(name)),
        lambda: _ascii_pinyin(everyday_syllables(zhuanming)),
    ))


def keys_from_syllables(
    name: str, zhuanming: str, syllables: Sequence[str], zm_syllables: Sequence[str], everyday: Sequence[str],
    zm_everyday: Sequence[str],
) -> tuple[list[str], str, str, list[str]]:  # fmt: skip
    """The fields of ``search_keys(name)`` (keys, pinyin, initials, grams) from syllables the caller has (the bulk
    importer, romanize.fast_reading): those of ``pinyin_syllables`` for the name and its 专名 ``zhuanming`` and of
    ``everyday_syllables`` for both, with or without tone marks."""
    return _assemble(
        name,
        zhuanming,
        _ascii_pinyin_toned(syllables),
        _ascii_pinyin_toned(zm_syllables) if zhuanming else ("", ""),
        _ascii_pinyin_toned(everyday),
        lambda: _ascii_pinyin_toned(zm_everyday),
    )


def _assemble(
    name: str, zhuanming: str, pinyin: tuple[str, str], zm_pinyin: tuple[str, str], everyday: tuple[str, str],
    zm_everyday: Callable[[], tuple[str, str]],
) -> tuple[list[str], str, str, list[str]]:  # fmt: skip
    py, ini = pinyin
    zm_py, zm_ini = zm_pinyin
    keys = {query_form(k) for k in (name, zhuanming, py, ini, zm_py, zm_ini) if k}
    # The everyday reading too, when the place-name reading differs (单庄 is Shanzhuang, but an officer who does
    # not know that types "danzhuang"): exact keys only; the pinyin column keeps the place-name reading.
    if everyday[0] != py:
        zm_everyday_py, zm_everyday_ini = zm_everyday() if zhuanming else ("", "")
        keys.update(query_form(k) for k in (*everyday, zm_everyday_py, zm_everyday_ini) if k)
    return sorted(keys), py, ini, grams(name)


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


# -- what toneless pinyin can look like (typo candidates, issue 12) --------------------------------------------

# Every toneless syllable of pypinyin's dictionary that has a vowel (呣 m, 嗯 n/ng, 噷 hm, 哼 hng left out: no place
# name is written with them), ü as v, as the stored keys spell them.
_SYLLABLES = """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biang biao bie bin bing bo bong bu ca cai can cang
    cao ce cei cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai chuan chuang chui
    chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den deng di dia dian diao die din ding
    diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen feng fiao fo fou fu ga gai gan gang gao
    ge gei gen geng gong gou gu gua guai guan guang gui gun guo ha hai han hang hao he hei hen heng hong hou hu
    hua huai huan huang hui hun huo ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan
    kang kao ke kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo la lai lan lang lao le lei len leng li
    lia lian liang liao lie lin ling liu lo long lou lu luan lun luo lv lve ma mai man mang mao me mei men meng
    mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei nen neng ni nia nian niang niao nie nin
    ning niu nong nou nu nuan nun nuo nv nve o ou pa pai pan pang pao pei pen peng pi pian piao pie pin ping po
    pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren reng ri rong rou
    ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao she shei shen sheng shi
    shou shu shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao te tei
    teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo wong wu xi xia xian
    xiang xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yo yong you yu yuan yue
    yun za zai zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu
    zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo
"""
PINYIN_SYLLABLES = frozenset(_SYLLABLES.split())


@functools.cache
def pinyin_trigrams() -> frozenset[str]:
    """Every run of three letters that a string of syllables can hold, ``^`` marking its start and ``$`` its end
    (``^zh``, ``ngd``, ``un$``): a one-edit variant of typed pinyin that holds any other cannot be stored pinyin."""
    syllables = sorted(PINYIN_SYLLABLES)
    lasts = {x[-1] for x in syllables} | {"^"}
    firsts = {x[0] for x in syllables} | {"$"}
    # The last two characters of "^" + syllables, and the first two of syllables + "$" (a one-letter syllable —
    # a, e, o — takes its neighbour's letter along).
    ends = {x[-2:] if len(x) > 1 else c + x for x in syllables for c in lasts}
    starts = {x[:2] if len(x) > 1 else x + c for x in syllables for c in firsts} | {"$"}
    out = {t[i:i + 3] for x in syllables for t in (f"^{x}$",) for i in range(len(t) - 2)}
    out.update(e + s[0] for e in ends for s in starts)
    out.update(e[-1] + s[:2] for e in ends | {"^"} for s in starts if len(s) == 2)
    return frozenset(t for t in out if "^" not in t[1:] and "$" not in t[:2])
