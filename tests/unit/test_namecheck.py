"""Non-standard name checks 大 (N2), 洋 (N5), 怪 (N3/N1), 重 (N7) and exemptions (domain.md section 2)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from gis_api.places.namecheck import (
    Exemption,
    Flag,
    check_lines,
    check_name,
    check_name_detailed,
    duplicate_key,
    duplicate_scope,
    foreign_hits,
    load_config,
    normalize_for_duplicate,
)
from gis_api.places.romanize import DATA_DIR

DIVISIONS_CSV = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "divisions.csv"


def classes(flags: list[Flag]) -> set[tuple[str, str]]:
    return {(f.cls, f.rule) for f in flags}


def feidong_names(level: str) -> list[str]:
    with DIVISIONS_CSV.open(encoding="utf-8", newline="") as fh:
        return [
            row["name"]
            for row in csv.DictReader(fh)
            if row["code"].startswith("340122") and row["level"] == level and len(row["code"]) > 6
        ]


# --- domain.md examples ------------------------------------------------------------------------------------


def test_n2_big_yuzhoucheng() -> None:
    flags = check_name("宇宙城")
    assert ("大", "N2") in classes(flags)
    assert any(f.evidence == "宇宙" for f in flags)


def test_n2_big_zhongyang_gongguan() -> None:
    flags = check_name("中央公馆")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("大", "N2", "中央")]


def test_n5_foreign_manhadun_shequ() -> None:
    flags = check_name("曼哈顿社区")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("洋", "N5", "曼哈顿")]


def test_n5_foreign_weiyena_huayuan() -> None:
    flags = check_name("维也纳花园")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("洋", "N5", "维也纳")]


def test_n3_odd_99_dasha() -> None:
    flags = check_name("99大厦")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("怪", "N3", "99")]
    assert "digits" in flags[0].reason and "数字" in flags[0].reason_zh


def test_n1_odd_feudal_huangting_shijia() -> None:
    flags = check_name("皇庭世家")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("怪", "N1", "皇庭")]


def test_n7_two_yanhe_lu_in_one_town() -> None:
    flags = check_name("沿河路", existing=[(12, "沿河路"), (13, "店埠路")], scope_label="店埠镇")
    assert [(f.cls, f.rule) for f in flags] == [("重", "N7")]
    assert flags[0].evidence == "#12 沿河路"
    assert "店埠镇" in flags[0].reason


def test_clean_dianbu_zhen() -> None:
    assert check_name("店埠镇") == []


def test_feidong_252_villages_and_20_townships_raise_no_big_foreign_odd_flags() -> None:
    villages = feidong_names("village")
    townships = feidong_names("township")
    assert (len(villages), len(townships)) == (252, 20)
    flagged = {name: check_name(name) for name in villages + townships}
    assert {name: f for name, f in flagged.items() if f} == {}


# --- 大 N2 ------------------------------------------------------------------------------------------------


def test_n2_exaggerating_word_list_is_data() -> None:
    words = load_config().exaggerating
    assert {"宇宙", "中央", "天下", "世界", "环球", "国际", "皇家", "至尊"} <= set(words)
    assert check_name("环球花园")[0].evidence == "环球"


def test_n2_guangchang_below_threshold() -> None:
    flags = check_name("金色广场", attrs={"land_area_m2": 3000, "floor_area_m2": 20000})
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [
        ("大", "N2", "广场: land_area_m2 = 3,000, floor_area_m2 = 20,000")
    ]
    assert "10,000" in flags[0].reason


def test_n2_guangchang_either_condition_is_enough() -> None:
    assert check_name("金色广场", attrs={"land_area_m2": 12000, "floor_area_m2": 20000}) == []
    assert check_name("金色广场", attrs={"land_area_m2": 3000, "floor_area_m2": 120000}) == []
    # One value unknown: not conclusive for an "or" rule, so no flag.
    assert check_name("金色广场", attrs={"land_area_m2": 3000}) == []


def test_n2_zhongxin_needs_both_conditions() -> None:
    assert check_name("金色中心", attrs={"land_area_m2": 20000, "floor_area_m2": 120000}) == []
    flags = check_name("金色中心", attrs={"land_area_m2": 20000, "floor_area_m2": 50000})
    assert [f.evidence for f in flags] == ["中心: land_area_m2 = 20,000, floor_area_m2 = 50,000"]


def test_n2_cheng_estate_and_dasha_storeys() -> None:
    assert check_name("金色城", attrs={"land_area_m2": 80000})[0].rule == "N2"
    assert check_name("金色城", attrs={"land_area_m2": 160000}) == []
    assert check_name("金色大厦", attrs={"storeys": 6})[0].evidence == "大厦: storeys = 6"
    assert check_name("金色大厦", attrs={"storeys": 8}) == []
    assert check_name("金色大厦") == []  # no attributes: size cannot be judged


def test_n2_size_thresholds_only_for_buildings() -> None:
    # A service centre (category 29x, organisation) is not held to the estate 中心 threshold.
    assert check_name("养老服务中心", category="299", attrs={"land_area_m2": 500, "floor_area_m2": 800}) == []
    assert check_name("金色中心", category="282", attrs={"land_area_m2": 500, "floor_area_m2": 800}) != []


def test_n2_thresholds_come_from_config() -> None:
    cfg = dataclasses.replace(load_config(), size_thresholds={"大厦": {"all": {"storeys": 20}}})
    assert check_name("金色大厦", attrs={"storeys": 12}, config=cfg)[0].rule == "N2"
    assert check_name("金色大厦", attrs={"storeys": 12}) == []


def test_n2_stacked_generics() -> None:
    flags = check_name("金色大厦广场")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("大", "N2", "大厦广场")]
    assert check_name("人民中心广场") == []  # 中心广场 is an allowed pair (settings)


# --- 洋 N5 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["威尼斯", "海德堡", "普罗旺斯", "托斯卡纳", "香榭丽舍", "帕提欧", "地中海"])
def test_n5_seed_list(word: str) -> None:
    assert [f.cls for f in check_name(f"{word}小区")] == ["洋"]


@pytest.mark.parametrize(
    ("name", "word"),
    [("温哥华花园", "温哥华"), ("鹿特丹小区", "鹿特丹"), ("莎士比亚公寓", "莎士比亚"), ("西雅图家园", "西雅图")],
)
def test_n5_packaged_lexicon_beyond_seed(name: str, word: str) -> None:
    # Not in foreign_seed.txt: found through the CLDR / CC-CEDICT lexicon (foreign_names.tsv).
    assert word not in (DATA_DIR / "foreign_seed.txt").read_text(encoding="utf-8")
    assert [(f.cls, f.rule, f.evidence) for f in check_name(name)] == [("洋", "N5", word)]


def test_n5_lexicon_excludes_china_and_one_char_entries() -> None:
    foreign = load_config().foreign
    assert "维也纳" in foreign and "伦敦" in foreign
    for word in ("中国", "香港", "澳门", "台湾", "上海", "乌鲁木齐", "台北"):
        assert word not in foreign, word
    assert all(len(w) >= 2 for w in foreign)


def test_n5_stoplist_removes_chinese_homographs() -> None:
    # 柏林镇, 黑山, 巴西镇 are Chinese place names that look like Berlin / Montenegro / Brazil.
    for name in ("柏林镇", "黑山村", "巴西镇", "凤凰城街道", "卧龙岗街道"):
        assert check_name(name) == [], name


def test_n5_ethnic_designations_are_not_foreign() -> None:
    assert check_name("江南朝鲜族满族乡") == []  # not 南朝鲜 / 朝鲜
    assert check_name("恩和俄罗斯族民族乡") == []
    assert check_name("鄂伦春民族乡") == []
    assert foreign_hits("俄罗斯风情街") != []  # but the country name itself still counts


def test_n5_straddling_ordinary_word_is_not_a_hit() -> None:
    assert foreign_hits("建德国际公寓") == []  # 德国 straddles 建德|国际
    assert [h.word for h in foreign_hits("德国小镇")] == ["德国"]


def test_n5_latin_letters_in_specific() -> None:
    flags = check_name("ABC花园")
    assert ("洋", "N5") in classes(flags)
    assert ("怪", "N3") in classes(flags)
    assert {f.evidence for f in flags} == {"ABC"}


# --- 怪 N3 / N1 -------------------------------------------------------------------------------------------


def test_n3_only_digits() -> None:
    flags = check_name("8848")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("怪", "N3", "8848")]
    assert "only digits" in flags[0].reason


def test_n3_full_width_digits_count_as_digits() -> None:
    assert check_name("９９大厦")[0].evidence == "99"


def test_n3_symbols() -> None:
    flags = check_name("阳光·新城")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("怪", "N3", "·")]
    assert check_name("A-1#楼") and any(f.evidence == "- #" for f in check_name("A-1#楼"))


def test_n3_traditional_character() -> None:
    flags = check_name("書香苑")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("怪", "N3", "書→书")]


def test_n3_rare_character_outside_standard_table() -> None:
    flags = check_name("䃥头村")
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("怪", "N3", "䃥")]
    assert "通用规范汉字表" in flags[0].reason


def test_n3_standard_table_has_8105_characters_incl_regional_ones() -> None:
    std = load_config().standard_chars
    assert len(std) == 8105
    assert set("畈郢埠疃圩塅淝槎阚") <= std
    assert "書" not in std and "䃥" not in std


def test_n3_chinese_zero_is_not_rare() -> None:
    assert check_name("八五〇农场") == []


@pytest.mark.parametrize("word", ["皇帝", "御府", "帝都", "王府", "相府", "官邸"])
def test_n1_feudal_words(word: str) -> None:
    assert [(f.cls, f.rule, f.evidence) for f in check_name(f"金色{word}")] == [("怪", "N1", word)]


def test_n1_ominous_word() -> None:
    flags = check_name("黄泉路")
    assert [(f.cls, f.rule) for f in flags] == [("怪", "N1")]
    assert "ominous" in flags[0].reason


# --- 重 N7 ------------------------------------------------------------------------------------------------


def test_n7_normalize_for_duplicate() -> None:
    assert normalize_for_duplicate("青龙路") == normalize_for_duplicate("青龙街") == "青龙"
    assert normalize_for_duplicate("店埠社区居民委员会") == "店埠"
    assert normalize_for_duplicate("赵岗社区村民委员会") == "赵岗"  # 岗 is part of the village name here
    assert normalize_for_duplicate("陈村村民委员会") == normalize_for_duplicate("陈村") == "陈"
    assert normalize_for_duplicate("肥东县店埠镇") == "店埠"
    assert normalize_for_duplicate("合肥青龙路") == "青龙"
    assert normalize_for_duplicate("新青龙路") == "青龙"
    assert normalize_for_duplicate("大青龙街") == "青龙"
    assert normalize_for_duplicate("新华路") == "新华"  # 新 kept when only one character would remain
    assert normalize_for_duplicate("中山北路") == "中山北"  # direction is not dropped for N7


def test_n7_differs_only_in_generic() -> None:
    flags = check_name("青龙路", existing=[(1, "青龙街")])
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("重", "N7", "#1 青龙街")]


def test_n7_prefix_and_leading_xin() -> None:
    flags = check_name("新青龙路", existing=[("a", "合肥青龙街"), ("b", "白龙路")])
    assert [f.evidence for f in flags] == ["#a 合肥青龙街"]


def test_n7_nbs_committee_suffixes() -> None:
    flags = check_name("赵岗村", existing=[(7, "赵岗社区村民委员会")])
    assert [f.evidence for f in flags] == ["#7 赵岗社区村民委员会"]


def test_n7_homophone() -> None:
    flags = check_name("清龙路", existing=[(3, "青龙街")])
    assert [(f.cls, f.rule, f.evidence) for f in flags] == [("重", "N7", "#3 青龙街")]
    assert "homophone" in flags[0].reason and "qing long" in flags[0].reason


def test_n7_dialect_homophone_from_table() -> None:
    # 合肥话: n = l and -ing = -in (dialect_homophones.csv): 南宁 nan ning ~ 兰林 lan lin.
    assert duplicate_key("南宁路").dialect == duplicate_key("兰林路").dialect
    flags = check_name("南宁路", existing=[(5, "兰林路")])
    assert [f.evidence for f in flags] == ["#5 兰林路"]
    assert "dialect" in flags[0].reason


def test_n7_no_clash() -> None:
    assert check_name("沿河路", existing=[(1, "店埠路"), (2, "长江东路")]) == []


def test_n7_own_id_skipped() -> None:
    assert check_name("沿河路", existing=[(12, "沿河路")], own_id=12) == []


def test_n7_all_clashes_named_in_evidence() -> None:
    flags = check_name("沿河路", existing=[(12, "沿河路"), (15, "沿河街"), (16, "岩河巷")])
    by_reason = {("homophone" in f.reason): f.evidence for f in flags}
    assert by_reason == {False: "#12 沿河路; #15 沿河街", True: "#16 岩河巷"}


@pytest.mark.parametrize(
    ("kind", "scope"),
    [
        ("county", "national"),
        ("famous_natural_feature", "national"),
        ("town", "province"),
        ("township", "province"),
        ("village_committee", "county"),
        ("residents_committee", "county"),
        ("street", "built_up_area"),
        ("residential_area", "built_up_area"),
        ("building", "built_up_area"),
    ],
)
def test_n7_duplicate_scope(kind: str, scope: str) -> None:
    assert duplicate_scope(kind) == scope


def test_n7_duplicate_scope_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown scope kind"):
        duplicate_scope("planet")


# --- exemptions ----------------------------------------------------------------------------------------------


def test_exemption_data_file_memorial_name() -> None:
    result = check_name_detailed("白求恩路")
    assert result.flags == []
    assert [(e.flag.cls, e.flag.evidence, e.exemption.source) for e in result.exempted] == [
        ("洋", "白求恩", "exemptions.csv")
    ]
    assert "Bethune" in result.exempted[0].exemption.justification


def test_exemption_is_specific_to_its_term() -> None:
    # 列宁公园 is exempted (historic); 列宁路 is not.
    assert check_name("列宁公园") == []
    assert [f.evidence for f in check_name("列宁路")] == ["列宁"]


def test_exemption_acronym_suppresses_both_classes() -> None:
    result = check_name_detailed("CBD中心")
    assert result.flags == []
    assert {e.flag.cls for e in result.exempted} == {"洋", "怪"}


def test_officer_exemption_per_call_with_justification() -> None:
    plain = check_name_detailed("维也纳花园")
    assert [f.cls for f in plain.flags] == ["洋"]
    result = check_name_detailed(
        "维也纳花园", exemptions={"维也纳": "friendship name approved 2024 (文号 肥民〔2024〕1号)"}
    )
    assert result.flags == []
    assert result.exempted[0].exemption.source == "officer"
    assert result.exempted[0].to_dict()["exemption"]["justification"].startswith("friendship name")
    assert check_name("维也纳花园", exemptions={"维也纳": "x"}) == []


def test_exemption_does_not_cover_other_classes_or_words() -> None:
    ex = [Exemption("维也纳", "friendship", frozenset({"洋"}))]
    flags = check_name("维也纳国际花园", exemptions=ex)
    assert [(f.cls, f.evidence) for f in flags] == [("大", "国际")]


def test_duplicate_exemption_must_name_class() -> None:
    existing = [(12, "沿河路")]
    assert check_name("沿河路", existing=existing, exemptions={"沿河路": "no class given"}) != []
    ex = [Exemption("沿河路", "two towns, recorded 2024", frozenset({"重"}))]
    result = check_name_detailed("沿河路", existing=existing, exemptions=ex)
    assert result.flags == [] and result.exempted[0].flag.cls == "重"


# --- serialisation and the CLI helper -------------------------------------------------------------------


def test_flag_serialises_with_class_key() -> None:
    d = check_name("宇宙城")[0].to_dict()
    assert set(d) == {"class", "rule", "reason", "reason_zh", "evidence"}
    assert d["class"] == "大" and d["rule"] == "N2" and "N2" in d["reason"] and "N2" in d["reason_zh"]
    json.dumps(d, ensure_ascii=False)


def test_check_lines_json_and_bare_names_in_order() -> None:
    lines = [
        '{"name": "曼哈顿社区", "category": "221", "division_code": "340122100001"}\n',
        "店埠镇\n",
        "",
        "{bad json",
        '{"category": "251"}',
        "金色大厦广场",
    ]
    out = check_lines(lines)
    assert [o["name"] for o in out] == ["曼哈顿社区", "店埠镇", "", "{bad json", "", "金色大厦广场"]
    assert [f["class"] for f in out[0]["flags"]] == ["洋"]
    assert out[1]["flags"] == [] and out[2]["flags"] == []
    assert "invalid JSON" in out[3]["error"]
    assert out[4]["error"] == 'missing "name"'
    assert out[5]["flags"][0]["evidence"] == "大厦广场"


def test_check_lines_reports_exempted() -> None:
    out = check_lines(["白求恩路"])
    assert out[0]["flags"] == []
    assert out[0]["exempted"][0]["exemption"]["term"] == "白求恩"


def test_empty_name_rejected() -> None:
    with pytest.raises(ValueError):
        check_name(" ")


# --- packaged data snapshots -----------------------------------------------------------------------------


def test_foreign_lexicon_snapshot_matches_cldr_when_babel_is_installed() -> None:
    pytest.importorskip("babel")
    from gis_api.places import lexicon_build

    cldr = {e.word for e in lexicon_build.cldr_foreign_names()}
    assert {"维也纳", "伦敦", "奥地利", "新西兰"} <= cldr
    assert not cldr & {"中国", "香港", "澳门", "台湾", "上海", "世界", "亚洲"}
    snapshot = (DATA_DIR / "foreign_names.tsv").read_text(encoding="utf-8")
    words = {line.split("\t", 1)[0] for line in snapshot.splitlines() if not line.startswith("#")}
    assert cldr <= words


def test_standard_chars_builder_rejects_a_wrong_table(tmp_path: Path) -> None:
    from gis_api.places import lexicon_build

    bad = tmp_path / "characters.txt"
    bad.write_text("一\n乙\n", encoding="utf-8")
    with pytest.raises(ValueError, match="8,105"):
        lexicon_build.standard_chars(bad)


def test_traditional_table_only_lists_characters_outside_the_standard_table() -> None:
    cfg = load_config()
    assert cfg.traditional["書"] == "书"
    assert not set(cfg.traditional) & cfg.standard_chars
