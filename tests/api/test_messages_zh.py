"""Chinese messages are Chinese (issue 13): ``message_zh`` names fields by their labels and holds no English.

* Request validation (pydantic) answers in Chinese from a table keyed by the error type, naming the field by its
  label from ``gis_api/labels.py``; every field a request can carry has a label there.
* Every ``message_zh`` written in the backend (the second text of an error, a flag's Chinese reason, a report
  row's ``message_zh``) holds no English word or identifier. Allowed are codes and rule IDs (anything with a
  digit: N5, D1, CGCS2000, GCJ-02), acronyms in capitals (JSON, GPX, BBOX, environment variables such as
  DIMING_LIMIT_…), command-line options (``--crs``), file names and paths, and the few names in ``ALLOWED``.
  gis_api/ogc is left out: its messages go to GIS clients, which show the collections' attribute names.
* The name-check messages the issue quotes (本县 county, storeys >= 8) read in one language.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gis_api import labels
from gis_api.errors import VALIDATION_ZH, validation_message_zh
from gis_api.places import namecheck

GIS_API = Path(__file__).resolve().parents[2] / "gis_api"

# Latin names with no Chinese form in a Chinese message, and why.
ALLOWED = {
    "If-Match": "HTTP header the client must send (RFC 9110)",
    "If-None-Match": "HTTP header",
    "ETag": "HTTP header",
    "Content-Length": "HTTP header",
    "GeoJSON": "format name",
    "FeatureCollection": "GeoJSON type name the body must carry",
    "Feature": "GeoJSON type name",
    "zip": "archive format",
    "shp": "Shapefile extension",
    "km": "unit",
    "m": "unit",
    "npm": "package manager named in an installation hint",
    "Leaflet": "map library named in an installation hint",
    "fonts-wqy-microhei": "Debian package named in an installation hint",
    "U": "Unicode code point prefix (U+XXXX)",
}
# Calls whose arguments are messages; for the Chinese one see _chinese().
MESSAGE_CALLS = {"InvalidInput", "NotFound", "Conflict", "Forbidden", "Unauthorized", "PreconditionRequired",
                 "PreconditionFailed", "MethodNotAllowed", "Unavailable", "TooLarge", "TooBusy", "QueryTimeout",
                 "BadRequest", "NotAcceptable", "DimingError", "too_large", "_bad", "_err", "err", "_nul_error",
                 "Flag", "ImportError_", "RowError"}
ZH_KEYS = {"message_zh", "reason_zh", "why_zh", "what_zh"}
_TOKEN = re.compile(r"(?:--|/)?[A-Za-z0-9][A-Za-z0-9_\-./]*")  # 0003001Q is one token (a code); /help a path
_CJK = re.compile(r"[\u4e00-\u9fff]")


def english_in(text: str) -> list[str]:
    """Latin tokens of a Chinese message that are words or identifiers (see the module docstring)."""
    bad = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0).rstrip(".-/")
        if (not re.search(r"[A-Za-z]", tok) or tok in ALLOWED or tok.startswith("--") or re.search(r"\d", tok)
                or "/" in tok or re.fullmatch(r"[A-Z][A-Z0-9_]*", tok) or re.fullmatch(r"_[A-Z][A-Z0-9_]*", tok)
                or re.fullmatch(r"\w+\.\w+", tok)):
            continue
        bad.append(tok)
    return bad


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                       for v in node.values)
    return None


def _chinese(text: str) -> bool:
    """A Chinese message (not an English one quoting a Chinese term such as 文号)."""
    cjk = len(_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]", re.sub(r"\{\}", "", text)))
    return cjk > 0 and cjk * 2 >= latin


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def backend_messages_zh() -> Iterator[tuple[str, int, str]]:
    """(file, line, text) of every Chinese message text in the backend (outside gis_api/ogc)."""
    for path in sorted(GIS_API.rglob("*.py")):
        if "ogc" in path.relative_to(GIS_API).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            found: list[ast.expr] = []
            if isinstance(node, ast.Call):
                found += [k.value for k in node.keywords if k.arg in ZH_KEYS]
                if _call_name(node) in MESSAGE_CALLS:
                    found += list(node.args)
            elif isinstance(node, ast.Dict):
                found += [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value in ZH_KEYS]
            for arg in found:
                text = _text(arg)
                if text is not None and _chinese(text):
                    yield str(path.relative_to(GIS_API.parent)), arg.lineno, text


def test_the_checker_catches_what_the_issue_quotes() -> None:
    for leak in ("字段 reason 无效：Field required", "在本县 county 340122内",
                 "N2 名不副实：通名“大厦”要求 storeys >= 8", "须填写公示开始日期（comment_start）", "请使用 mode=legal",
                 "状态 open"):
        assert english_in(leak), leak
    for fine in ("修改须携带 If-Match 请求头（所编辑版本的 ETag）", "N5 崇洋：含外国地名“维也纳”",
                 "坐标须为 CGCS2000 经度、纬度", "数据库查询超时（DIMING_LIMIT_READ_TIMEOUT_S）",
                 "请指定 --crs EPSG:4490", "GPX 文件超过 20 MB", "没有这份帮助文档（见 /help）"):
        assert not english_in(fine), (fine, english_in(fine))


def test_backend_message_zh_has_no_english() -> None:
    found = list(backend_messages_zh())
    assert len(found) > 100  # the scan sees the messages (a broken scan must not pass on nothing)
    bad = [f"{file}:{line}: {english_in(text)} in {text!r}" for file, line, text in found if english_in(text)]
    assert not bad, "English in message_zh:\n" + "\n".join(bad)


def _request_fields(app: Any) -> set[str]:
    doc = app.openapi()
    schemas = doc.get("components", {}).get("schemas", {})
    names: set[str] = set()

    def walk(s: Any, seen: set[str]) -> None:
        if not isinstance(s, dict):
            return
        if "$ref" in s:
            ref = s["$ref"].split("/")[-1]
            if ref not in seen:
                walk(schemas.get(ref, {}), seen | {ref})
            return
        for k, v in (s.get("properties") or {}).items():
            names.add(k)
            walk(v, seen)
        for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            v = s.get(key)
            for x in v if isinstance(v, list) else [v]:
                walk(x, seen)

    for path, ops in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            names.update(p["name"] for p in op.get("parameters", []))
            for content in op.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema", {}), set())
    return names


def test_every_request_field_has_a_chinese_and_english_label(client: TestClient) -> None:
    fields = _request_fields(client.app)
    assert len(fields) > 100
    missing = sorted(f for f in fields if f not in labels.FIELDS)
    assert not missing, f"fields without a label in gis_api/labels.py: {missing}"
    for name, (zh, en) in labels.FIELDS.items():
        assert _CJK.search(zh) and not english_in(zh), (name, zh)
        assert en and not _CJK.search(en), (name, en)


def test_every_validation_type_reads_in_chinese() -> None:
    for kind in VALIDATION_ZH:
        text = validation_message_zh({"type": kind, "loc": ("body", "division_code"),
                                      "ctx": {"min_length": 1, "max_length": 9, "gt": 0, "ge": 0, "lt": 9, "le": 9,
                                              "multiple_of": 2, "expected": "'csv' or 'xlsx'", "pattern": "^x$"}})
        assert "所在（跨）行政区" in text and not english_in(text.replace("csv", "").replace("xlsx", "")), (kind, text)
    assert validation_message_zh({"type": "some_future_type", "loc": ("query", "limit")}) == "条数上限无效"


def test_validation_errors_answer_in_chinese(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    headers = login("officer")
    # The issue's example: a missing reason. Now 缺少必填项：修改原因, and every listed error is Chinese too.
    r = client.patch("/api/v1/places/1", json={"remarks": "x"}, headers={**headers, "If-Match": '"p1.v1"'})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "reason"
    assert body["message_zh"] == "缺少必填项：修改原因" and body["rule"] == "missing"
    assert "Field required" in body["message"]  # the English message is unchanged
    r = client.get("/api/v1/places/search", params={"q": "店埠", "limit": 0})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "limit" and "条数上限" in body["message_zh"] and not english_in(body["message_zh"])
    r = client.post("/api/v1/names/check", json={"name": "x" * 5000})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "name", body
    assert "名称" in body["message_zh"] and not english_in(body["message_zh"]), body
    for e in body["errors"]:
        assert e["message_zh"] and not english_in(e["message_zh"]), e


def test_malformed_json_and_nul_answer_in_chinese(client: TestClient) -> None:
    r = client.post("/api/v1/names/check", content=b'{"name" "x"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "malformed_json"
    assert "第 1 行" in r.json()["message_zh"] and not english_in(r.json()["message_zh"]), r.json()
    r = client.post("/api/v1/names/check", content=b'{"name": "a\\u0000b"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_character"
    assert "名称" in r.json()["message_zh"] and not english_in(r.json()["message_zh"]), r.json()


def test_name_check_messages_are_in_one_language() -> None:
    """N7 names its scope and N2 its size attributes in the message's own language (the issue's examples)."""
    existing = [(1, "店埠路")]
    result = namecheck.check_name_detailed("店埠路", existing=existing,
                                           scope_label=("本县 340122", "the county 340122"))
    n7 = [f for f in result.flags if f.rule == "N7"]
    assert n7 and "本县 340122" in n7[0].reason_zh and not english_in(n7[0].reason_zh)
    assert "the county 340122" in n7[0].reason and "本县" not in n7[0].reason
    cfg = namecheck.load_config()
    generic, rule = next(iter(cfg.size_thresholds.items()))
    attrs = {k: 0.5 for limits in rule.values() for k in limits}
    big = namecheck.check_name_detailed("示例" + generic, category=next(iter(cfg.size_check_categories)), attrs=attrs)
    n2 = [f for f in big.flags if f.rule == "N2" and "名不副实" in f.reason_zh]
    assert n2, big.flags
    assert not english_in(n2[0].reason_zh), n2[0].reason_zh
    assert any(k in n2[0].reason for k in attrs)  # the English message keeps the attribute names


@pytest.mark.parametrize(("header", "lang"), [
    (None, "zh"), ("", "zh"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh;q=0.8", "en"), ("en", "en"),
    ("fr-FR,fr;q=0.9", "zh"), ("zh;q=0.5,en;q=0.9", "en"), ("en;q=0,zh", "zh"), ("*", "zh"),
])
def test_accept_language_picks_the_language(header: str | None, lang: str) -> None:
    assert labels.language(header) == lang


def test_labels_of_values() -> None:
    assert labels.cell("status", "non_standard") == "不规范地名"
    assert labels.cell("status", "non_standard", "en") == "non-standard"
    assert labels.cell("flag_status", "open") == "待处理"
    assert labels.cell("anything", True) == "是" and labels.cell("anything", False, "en") == "no"
    assert labels.cell("name", "店埠镇") == "店埠镇"  # data stays as it is
    assert labels.enum_label("stage", "unknown_value") == "unknown_value"


# -- exports follow Accept-Language ------------------------------------------------------------------------

def _csv(content: bytes) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_csv_export_is_labelled_in_the_requested_language(client: TestClient) -> None:
    """With Accept-Language (the map UI always sends its language), CSV headings and enumerations are words in that
    language; without it, field names and stored values (scripts, re-imports and GIS tools read those)."""
    url = "/api/v1/exports/place-points?format=csv"  # points: lon/lat columns
    plain = _csv(client.get(url).content)
    assert plain and {"id", "name", "status", "romanized_by", "lon", "lat"} <= set(plain[0])
    statuses = {r["status"] for r in plain}
    assert statuses <= {"standard", "pending", "non_standard", "historic"}

    zh = _csv(client.get(url, headers={"Accept-Language": "zh-CN,zh;q=0.9"}).content)
    heads = list(zh[0])
    assert {"编号", "名称", "状态", "拼写人", "经度", "纬度"} <= set(heads), heads
    assert not [h for h in heads if english_in(h)], heads
    assert {r["状态"] for r in zh} <= {"标准地名", "待审批", "不规范地名", "历史地名"}
    assert "自动拼写" in {r["拼写人"] for r in zh}
    assert [r["编号"] for r in zh] == [r["id"] for r in plain]

    en = _csv(client.get(url, headers={"Accept-Language": "en-GB,en;q=0.9"}).content)
    assert {"id", "name", "status", "spelled by", "longitude", "latitude"} <= set(en[0]), list(en[0])
    assert not any(_CJK.search(h) for h in en[0])
    assert {r["status"] for r in en} <= {"standard", "pending", "non-standard", "historic"}


def test_a_labelled_csv_reads_back_unchanged(client: TestClient, login: Callable[..., dict[str, str]]) -> None:
    """A Chinese CSV export, imported again as it is (dry run): every row is recognised and unchanged."""
    content = client.get("/api/v1/exports/places?format=csv", headers={"Accept-Language": "zh-CN"}).content
    rows = len(_csv(content))
    r = client.post("/api/v1/imports/places", headers=login("officer"), files={"file": ("places.csv", content)},
                    data={"reason": "语言往返", "dry_run": "true"})
    assert r.status_code == 200, r.text[:2000]
    report = r.json()
    assert report["errors"] == [] and report["unchanged"] == rows and report["inserted"] == 0, report


def test_xlsx_export_is_labelled(client: TestClient) -> None:
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(client.get("/api/v1/exports/markers?format=xlsx",
                                              headers={"Accept-Language": "zh-CN"}).content), read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    heads = [str(h) for h in rows[0]]
    assert "状态" in heads and "界桩编号" in heads and not [h for h in heads if english_in(h)], heads
    status = heads.index("状态")
    assert {r[status] for r in rows[1:]} <= {"完好", "损坏", "移位", "丢失", "撤除", None}
    # The census register keeps its Chinese headings and writes the status as a word.
    wb = load_workbook(io.BytesIO(client.get("/api/v1/exports/places?format=xlsx",
                                              headers={"Accept-Language": "zh-CN"}).content), read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    status = list(rows[0]).index("状态")
    assert {r[status] for r in rows[1:]} <= {"标准地名", "待审批", "不规范地名", "历史地名"}


def test_every_stored_enumeration_has_both_words() -> None:
    """Each value of the stored enumerations has a Chinese and an English word (a new value needs its label)."""
    from gis_api.boundaries.models import MarkerStatus
    from gis_api.boundaries.schemas import InspectionKind, RiskLevel
    from gis_api.divisions.models import Level
    from gis_api.facilities.models import CemeteryType, FacilityStatus, ParcelStatus
    from gis_api.naming.models import Kind, Stage
    from gis_api.places.models import FlagStatus, PlaceStatus

    for domain, enum in (("place_status", PlaceStatus), ("flag_status", FlagStatus), ("stage", Stage),
                         ("proposal_kind", Kind), ("marker_status", MarkerStatus), ("level", Level),
                         ("facility_status", FacilityStatus), ("cemetery_type", CemeteryType),
                         ("parcel_status", ParcelStatus), ("risk", RiskLevel), ("inspection_kind", InspectionKind)):
        for member in enum:
            zh, en = labels.ENUMS[domain][member.value]
            assert _CJK.search(zh) and not english_in(zh), (domain, member, zh)
            assert en and not _CJK.search(en), (domain, member, en)


def test_coverage_csv_follows_accept_language(client: TestClient) -> None:
    """The planner's coverage and accessibility CSVs (issue 13: exports follow Accept-Language): Chinese headings
    and 是/否 cells when the reader asks for Chinese, English words for English, column names and True/False for a
    program that sends no language; the same rows in all three."""
    body = {"facility_kind": "township_social_work_station", "radius_m": 5000}
    plain = _csv(client.post("/api/v1/coverage", params={"format": "csv"}, json=body).content)
    assert plain and {"code", "name", "covered", "distance_m"} <= set(plain[0])
    zh = _csv(client.post("/api/v1/coverage", params={"format": "csv"}, json=body,
                          headers={"Accept-Language": "zh-CN,zh;q=0.9"}).content)
    heads = list(zh[0])
    assert {"代码", "名称", "乡镇", "人口", "是否覆盖", "距离（米）", "经度", "纬度"} <= set(heads), heads
    assert not [h for h in heads if english_in(h)], heads
    assert {r["是否覆盖"] for r in zh} == {"是", "否"}
    assert [(r["代码"], r["是否覆盖"] == "是") for r in zh] == [(r["code"], r["covered"] == "True") for r in plain]
    en = _csv(client.post("/api/v1/coverage", params={"format": "csv"}, json=body,
                          headers={"Accept-Language": "en-GB,en;q=0.9"}).content)
    assert {"code", "name", "township", "covered", "distance (m)"} <= set(en[0]), list(en[0])
    assert not any(_CJK.search(h) for h in en[0])
    assert {r["covered"] for r in en} == {"yes", "no"}
    acc = _csv(client.post("/api/v1/coverage/accessibility", params={"format": "csv"},
                           json={"facility_kind": "township_social_work_station", "radius_m": 5000},
                           headers={"Accept-Language": "zh-CN"}).content)
    assert {"两步移动搜索法得分", "每千人得分"} <= set(acc[0]), list(acc[0])
    assert not [h for h in acc[0] if english_in(h)], list(acc[0])
