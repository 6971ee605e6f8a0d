"""The bulk importer's fast derivation (romanize.fast_reading, issue 12 section 3) against the general functions.

derived_fields composes a name's syllables from its 专名's and a cached tail, reuses the split and the syllables
for the search and duplicate keys, and caches per 专名, tail and 通名. Every field must be what romanize(),
search_keys() and duplicate_key() give (derive._derived_general), with caches filled either way, so that a cache or
composition bug fails here. scripts/bench/derive_speed.py checks the same on the 371,189 distinct real village names.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from pypinyin.seg.mmseg import seg

from gis_api.places import derive, romanize
from gis_api.places.searchkeys import grams, query_form

# 专名 chosen for what they exercise: polyphones and RZ6 place-name readings (单, 六安, 蚌埠, 圩, 涡), lexicon words
# that can run into the 通名 (三家村, 中关村, 万新), pypinyin phrases that cross into the 通名 (樊卜居, 哈什哈达),
# Mongolian / Uyghur transliterations (巴彦托海, 克孜勒博依), long 专名 (segmented), RZ2 / RZ5 / ethnic 通名 parts,
# duplicate-key prefixes and leading characters (肥东, 合肥, 新, 大), committee suffixes.
_SPECIFICS = (
    "单 单庄 长安 重庆 朝阳 乐山 六安 蚌埠 亳州 圩 涡阳 堡子 曾家 解家 大栅栏 巴彦托海 巴彦 克孜勒博依 "
    "卧里托格拉克 锡林郭勒 阿拉善 乌鲁木齐 三家 中关 万新 上周 樊卜 哈什哈 齐齐哈 合宁铁路肥东 众兴水库 经五 "
    "景山后 中山北 店埠 肥东店埠 合肥青龙 新华 大王 陈村 赵岗 王 周郢 李疃 得力其尔鄂温克 牌坊回族满族 苏沁回民 "
    "三间房达斡尔族 西安 平安 延安 天恩 东鄂 长乐 行唐 银行 都江堰 不 一 七里 十二里 二十 翁贡"
)
SPECIFICS = tuple(_SPECIFICS.split())
GENERICS = (
    "", "村", "村委会", "村民委员会", "社区", "社区居委会", "社区居民委员会", "社区村民委员会", "居委会", "嘎查", "路",
    "街", "镇", "乡", "民族乡", "县", "区",
)  # fmt: skip
ODD = (
    "(土郎)头村民委员会", "030院社区居委会", "IT家园社区居委会", "一0九村委会", "万寿路1号社区居委会", "店埠 镇",
    " 王村 ", "B1区", "3号路", "𠀀村", "\ue815村", "〇村", "豈村", "李家𪚥村", "合肥循环经济示范园", "众兴水库大坝",
    "合宁铁路肥东段", "渡江战役总前委旧址", "新疆生产建设兵团第十四师二二四团", "阿克苏地区温宿县克孜勒博依村委会",
    "单县", "单县城", "景德镇市", "经五路", "经十二路", "景山后街", "沿河路", "哈什哈达斡尔族村民委员会", "樊卜居委会",
    "齐齐哈达斡尔族村民委员会", "王村", "Ａ区", "ü村", "’村", "",
    # a lexicon word across the 专名 and the 通名 whose reading is not pypinyin's (色达县 sè dá, 浚县 xùn xiàn) —
    # only these 4 of the 4,619 such names the lexicon and generics.csv can make spell differently without it
    "古纤道", "泷水库", "浚县", "色达县", "三都县", "中牟县", "乌什县", "什邡市", "伽师县", "克什克腾旗", "翁贡嘎查",
)  # fmt: skip
CATEGORIES = ("222", "242", "251", "212", "221")


def _cases() -> list[tuple[str, str]]:
    names = [s + g for s in SPECIFICS for g in GENERICS] + list(ODD)
    rng = random.Random(12)
    out = [(n, rng.choice(CATEGORIES)) for n in names]
    out += [(n, "242") for n in names[::7]] + [(n, "251") for n in names[3::11]]
    return out


def _general(name: str, category: str) -> dict[str, Any] | str:
    kind = "natural_village" if category.startswith("242") else None
    try:
        return derive._derived_general(name, kind)
    except ValueError as exc:
        return f"ValueError: {exc}"


def _fast(name: str, category: str) -> dict[str, Any] | str:
    try:
        return derive.derived_fields(name, category)
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.fixture
def fresh_caches() -> Any:
    romanize.reload_data()
    yield
    romanize.reload_data()


def test_fast_path_gives_what_the_general_functions_give(fresh_caches: Any) -> None:
    cases = _cases()
    reference = [_general(n, c) for n, c in cases]  # caches filled by the general functions only
    romanize.reload_data()
    fast = [_fast(n, c) for n, c in cases]  # caches filled by the fast path only
    again = [_general(n, c) for n, c in cases]  # the general functions reading what the fast path cached
    fast_again = [_fast(n, c) for n, c in cases]  # the fast path on warm caches
    for (name, cat), ref, f, g, f2 in zip(cases, reference, fast, again, fast_again, strict=True):
        assert f == ref, (name, cat)
        assert g == ref, (name, cat)
        assert f2 == ref, (name, cat)
    took_fast = sum(romanize.fast_reading(n) is not None for n, _c in cases)
    assert took_fast > 0.8 * len(cases)


def test_cases_reach_the_composition_branches(fresh_caches: Any) -> None:
    """The names above meet every way the whole name's syllables are composed (else the test above proves less)."""
    data = romanize._data_for(None)
    seen = {"tail_from_last_word": 0, "tail_is_generic": 0, "cut_crosses": 0, "lexicon_crosses": 0, "no_generic": 0}
    for name, _cat in _cases():
        if romanize.fast_reading(name) is None:
            continue
        b = len(romanize._split(name, data).specific)
        composed = romanize.name_syllables(name, b, data)
        assert composed is not None
        _final, raw, info = composed
        head = name[:b]
        if b == len(name):
            seen["no_generic"] += 1
            continue
        if any(head[s:] in romanize._PREFIXES for s in info.starts):
            seen["tail_from_last_word"] += 1
        else:
            seen["tail_is_generic"] += 1
        if tuple(raw[:b]) != info.raw:
            seen["cut_crosses"] += 1
        gen = romanize._generic_info(name[b:], data)
        if any(head[-k:] in gen.crossing for k in range(1, min(b, gen.longest) + 1)):
            seen["lexicon_crosses"] += 1
    assert all(seen.values()), seen


def test_cut_is_pypinyins_segmenter() -> None:
    rng = random.Random(7)
    texts = {s + g for s in SPECIFICS for g in GENERICS if s + g}
    pool = "".join(sorted(set("".join(texts)))) + "中华人民共和国长江大桥北京天安门"
    texts |= {"".join(rng.choice(pool) for _ in range(rng.randint(1, 14))) for _ in range(3000)}
    texts |= {t[i:j] for t in list(texts)[:300] for i in range(len(t)) for j in range(i + 1, len(t) + 1)}
    for text in texts:
        assert romanize._cut(text) == list(seg.cut(text)), text


def test_query_form_and_grams_shortcuts_change_nothing() -> None:
    def query_form_plain(q: str) -> str:
        return "".join(q.split()).lower().replace("ü", "v").replace("'", "").replace("’", "")

    def grams_plain(text: str) -> list[str]:
        chars = [c for c in text if romanize.is_han(c) or c.isalnum()]
        return sorted(set(chars) | {a + b for a, b in itertools.pairwise(chars)})

    samples = [n for n, _c in _cases()] + ["dianbu", "DianBu", "lüe", "xi'an", "Xi’an", "〇", "豈", "abc1", "İstanbul"]
    for text in samples:
        assert query_form(text) == query_form_plain(text), text
        assert grams(text) == grams_plain(text), text
