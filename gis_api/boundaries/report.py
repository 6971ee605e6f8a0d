"""平安边界 report: per line and for the county — inspections due or overdue, open issues, markers by status.

Figures come from one SQL statement; HTML is self-contained (inline CSS, no external asset) and CSV is
UTF-8 with a BOM so spreadsheet programs open the Chinese headers correctly. Both are written for people in
one language (Chinese by default, English on request): labels, not stored identifiers (``overdue``, ``True``).
The report says when it was made, the date its data hold for, where the data come from (real or synthetic)
and what its colours mean.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.boundaries.models import MARKER_STATUS_ZH, MarkerStatus
from gis_api.boundaries.settings import BoundarySettings
from gis_api.divisions.models import Level
from gis_api.field import attachments as field_attachments
from gis_api.io import safe_cells

STATUSES = [s.value for s in MarkerStatus]
Lang = Literal["zh", "en"]

REPORT_SQL = """
WITH lines AS (
    SELECT l.*, v.length_m, v.geom,
           (SELECT min(v0.valid_from) FROM boundary_line_versions v0 WHERE v0.line_id = l.line_id) AS first_from,
           -- the last joint inspection as of the report date: one recorded later had not happened yet (T1)
           CASE WHEN l.last_inspection_on <= :on THEN l.last_inspection_on
                ELSE (SELECT max(i.inspected_on) FROM boundary_inspections i WHERE i.line_id = l.line_id
                        AND i.kind = 'periodic' AND i.inspected_on <= :on) END AS last_on
    FROM boundary_lines l
    JOIN boundary_line_versions v ON v.line_id = l.line_id AND v.valid_from <= :on
         AND (v.valid_to IS NULL OR v.valid_to > :on)
    WHERE (CAST(:level AS text) IS NULL OR l.level = :level)
      AND (CAST(:code AS text) IS NULL OR :code IN (l.left_code, l.right_code))
      AND (CAST(:parent AS text) IS NULL OR EXISTS (
            SELECT 1 FROM divisions c WHERE c.parent_code = :parent AND c.code IN (l.left_code, l.right_code)
              AND c.valid_from <= :on AND (c.valid_to IS NULL OR c.valid_to > :on)))
      AND (CAST(:line_id AS text) IS NULL OR l.line_id = :line_id)
)
SELECT l.line_id, l.line_no, l.name, l.level, l.left_code, l.right_code,
       (SELECT d.name FROM divisions d WHERE d.code = l.left_code AND d.valid_from <= :on
          AND (d.valid_to IS NULL OR d.valid_to > :on)) AS left_name,
       (SELECT d.name FROM divisions d WHERE d.code = l.right_code AND d.valid_from <= :on
          AND (d.valid_to IS NULL OR d.valid_to > :on)) AS right_name,
       (SELECT d.source FROM divisions d WHERE d.code = l.left_code AND d.valid_from <= :on
          AND (d.valid_to IS NULL OR d.valid_to > :on)) AS left_source,
       (SELECT d.source FROM divisions d WHERE d.code = l.right_code AND d.valid_from <= :on
          AND (d.valid_to IS NULL OR d.valid_to > :on)) AS right_source,
       (SELECT coalesce(array_agg(DISTINCT m.source ORDER BY m.source), '{}') FROM boundary_markers m
          WHERE m.line_id = l.line_id AND m.valid_from <= :on AND (m.valid_to IS NULL OR m.valid_to > :on)
       ) AS marker_sources,
       l.length_m, l.agreement_ref, l.responsible_left, l.responsible_right, l.last_on AS last_inspection_on,
       (coalesce(l.last_on, l.agreement_signed_on, l.first_from)
          + make_interval(years => CAST(:interval AS int)))::date AS next_due,
       (SELECT count(*) FROM boundary_issues i WHERE i.line_id = l.line_id AND i.status = 'open'
          AND i.opened_on <= :on) AS open_issues,
       (SELECT count(*) FROM boundary_issues i WHERE i.line_id = l.line_id AND i.status = 'open'
          AND i.risk = 'high' AND i.opened_on <= :on) AS open_high,
       (SELECT coalesce(json_object_agg(k, n), '{}'::json) FROM (
            SELECT i.kind AS k, count(*) AS n FROM boundary_issues i
            WHERE i.line_id = l.line_id AND i.status = 'open' AND i.opened_on <= :on GROUP BY i.kind) x
       ) AS issues_by_kind,
       (SELECT coalesce(json_object_agg(s, n), '{}'::json) FROM (
            SELECT m.status AS s, count(*) AS n FROM boundary_markers m
            WHERE m.line_id = l.line_id AND m.valid_from <= :on AND (m.valid_to IS NULL OR m.valid_to > :on)
            GROUP BY m.status) x
       ) AS markers_by_status,
       (SELECT count(*) FROM boundary_markers m
          WHERE m.line_id = l.line_id AND m.valid_from <= :on AND (m.valid_to IS NULL OR m.valid_to > :on)
            AND ST_Distance(m.geom::geography, l.geom::geography) > :tol) AS marker_outliers,
       (SELECT max(p.patrolled_on) FROM boundary_patrols p WHERE p.line_id = l.line_id
          AND p.patrolled_on <= :on) AS last_patrol_on,
       (SELECT p.coverage FROM boundary_patrols p WHERE p.line_id = l.line_id AND p.patrolled_on <= :on
          ORDER BY p.patrolled_on DESC, p.id DESC LIMIT 1) AS last_patrol_coverage
FROM lines l
ORDER BY l.line_no
"""


def build(session: Session, settings: BoundarySettings, on: dt.date, *, level: Level | None = Level.county,
          code: str | None = "340122", parent: str | None = None, line_id: str | None = None) -> dict[str, Any]:
    rows = session.execute(text(REPORT_SQL), {
        "on": on, "level": level.value if level else None, "code": code, "parent": parent, "line_id": line_id,
        "interval": settings.inspection_interval_years, "tol": settings.marker_tolerance_m,
    }).mappings().all()
    soon = on + dt.timedelta(days=settings.due_soon_days)
    lines = []
    totals: dict[str, Any] = {
        "lines": 0, "length_km": 0.0, "overdue": 0, "due": 0, "ok": 0, "open_issues": 0, "open_high_risk": 0,
        "markers": dict.fromkeys(STATUSES, 0), "marker_outliers": 0, "safe_lines": 0, "issues_by_kind": {},
    }
    for r in rows:
        due: dt.date = r["next_due"]
        inspection = "overdue" if due < on else ("due" if due <= soon else "ok")
        markers = {s: int(r["markers_by_status"].get(s, 0)) for s in STATUSES}
        safe = inspection != "overdue" and int(r["open_high"]) == 0
        item = {
            "line_id": r["line_id"], "line_no": r["line_no"], "name": r["name"], "level": r["level"],
            "left_code": r["left_code"], "left_name": r["left_name"], "right_code": r["right_code"],
            "right_name": r["right_name"], "length_km": round(float(r["length_m"]) / 1000, 3),
            "agreement_ref": r["agreement_ref"], "responsible_left": r["responsible_left"],
            "responsible_right": r["responsible_right"],
            "last_inspection_on": r["last_inspection_on"].isoformat() if r["last_inspection_on"] else None,
            "next_inspection_due": due.isoformat(), "inspection": inspection,
            "overdue_days": (on - due).days if due < on else 0,
            "open_issues": int(r["open_issues"]), "open_high_risk": int(r["open_high"]),
            "issues_by_kind": dict(r["issues_by_kind"]), "markers": markers,
            "marker_outliers": int(r["marker_outliers"]),
            "last_patrol_on": r["last_patrol_on"].isoformat() if r["last_patrol_on"] else None,
            "last_patrol_coverage": round(float(r["last_patrol_coverage"]), 4)
            if r["last_patrol_coverage"] is not None else None,
            "safe": safe,
            # The line is drawn from its two sides' outlines: synthetic when either of them is.
            "line_source": "synthetic" if any(_synthetic(x) for x in (r["left_source"], r["right_source"]))
            else "real",
            "marker_sources": list(r["marker_sources"] or []),
        }
        lines.append(item)
        totals["lines"] += 1
        totals["length_km"] = round(totals["length_km"] + item["length_km"], 3)
        totals[inspection] += 1
        totals["open_issues"] += item["open_issues"]
        totals["open_high_risk"] += item["open_high_risk"]
        totals["marker_outliers"] += item["marker_outliers"]
        totals["safe_lines"] += int(safe)
        for s in STATUSES:
            totals["markers"][s] += markers[s]
        for k, n in item["issues_by_kind"].items():
            totals["issues_by_kind"][k] = totals["issues_by_kind"].get(k, 0) + int(n)
    return {
        "title": "平安边界报告", "as_of": on.isoformat(), "generated_on": clock.today().isoformat(),
        "scope_names": _scope_names(session, on, code, parent),
        "level": level.value if level else None, "code": code,
        "parent": parent, "inspection_interval_years": settings.inspection_interval_years,
        "marker_tolerance_m": settings.marker_tolerance_m, "totals": totals, "lines": lines,
        "overdue": [x["line_id"] for x in lines if x["inspection"] == "overdue"],
        "marker_photos": field_attachments.marker_photos(session, [x["line_id"] for x in lines]),
    }


def _synthetic(source: Any) -> bool:
    return "synthetic" in str(source or "").lower()


def _scope_names(session: Session, on: dt.date, code: str | None, parent: str | None) -> dict[str, str]:
    """Names of the report's division and parent, so the scope reads 肥东县（340122）, not code=340122."""
    codes = [c for c in (code, parent) if c]
    if not codes:
        return {}
    rows = session.execute(text(
        "SELECT code, name FROM divisions WHERE code = ANY(:codes) AND valid_from <= :on "
        "AND (valid_to IS NULL OR valid_to > :on)"), {"codes": codes, "on": on}).all()
    return {str(c): str(n) for c, n in rows}


# Words of the report, Chinese and English (labels of the stored identifiers included).
WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "平安边界报告", "generated": "报告日期", "as_of": "数据时点", "interval": "联检周期 {n} 年",
        "tolerance": "界桩偏离容差 {n} 米", "never": "从未联检", "days": "{n} 天", "yes": "是", "no": "否",
        "inspection": {"overdue": "已逾期", "due": "即将到期", "ok": "正常"},
        "level": {"county": "县级", "township": "乡级", None: "各级"},
        "scope_code": "涉及{name}（{code}）的{level}界线", "scope_parent": "{name}（{code}）下辖区划之间的{level}界线",
        "scope_line": "界线 {line}", "scope_all": "全部{level}界线",
        "cards": ["界线条数", "总长（千米）", "联检逾期", "即将到期", "未结问题", "偏离界线的界桩", "平安边界"],
        "markers_by_status": "界桩状态",
        "head": ["编号", "界线", "长度（千米）", "上次联检", "下次联检", "联检状态", "未结问题", "问题类型", "界桩",
                 "偏离界桩", "最近巡查", "平安边界", "数据来源"],
        "sources": "数据来源", "src_real": "真实", "src_synthetic": "合成（示意）",
        "src_line": "线位：{v}", "src_markers": "界桩：{v}",
        "src_note": "线位由两侧行政区域的轮廓派生：两侧轮廓都是真实数据时标“真实”，有一侧为合成示意时标“合成”；"
                    "界桩按其登记的来源标注。标为合成的数据仅作演示，不可作为界线管理依据。",
        "legend": "图例", "legend_rows": {"overdue": "联检已逾期", "due": "联检即将到期（{n} 天内）", "ok": "联检正常"},
        "legend_safe": "平安边界：联检未逾期，且没有未结的高风险问题。",
        "legend_outlier": "偏离界桩：距界线超过 {n} 米的界桩。",
        "total": "合计", "lines_n": "{n} 条", "sep": "，",
        "issue_kind": {
            "dispute": "争议", "risk": "风险", "marker_damaged": "界桩损坏", "marker_missing": "界桩丢失",
            "marker_moved": "界桩移位", "marker_illegible": "字迹不清", "marker_overgrown": "周边未清理",
            "displacement": "位移", "structure": "跨界建筑物", "one_sided_marker": "单方界桩",
            "feature_change": "地物变化", "other": "其他"},
        "marker_status": dict(MARKER_STATUS_ZH.items()),
    },
    "en": {
        "title": "Safe-boundary report", "generated": "Report date", "as_of": "Data as of",
        "interval": "joint inspection every {n} years", "tolerance": "marker tolerance {n} m",
        "never": "never inspected", "days": "{n} days", "yes": "yes", "no": "no",
        "inspection": {"overdue": "overdue", "due": "due soon", "ok": "ok"},
        "level": {"county": "county-level", "township": "township-level", None: "all"},
        "scope_code": "{level} lines of {name} ({code})", "scope_parent": "{level} lines within {name} ({code})",
        "scope_line": "line {line}", "scope_all": "all {level} lines",
        "cards": ["lines", "length (km)", "inspection overdue", "due soon", "open issues", "markers off the line",
                  "safe lines"],
        "markers_by_status": "Markers by status",
        "head": ["No.", "Line", "Length (km)", "Last inspection", "Next inspection", "Inspection", "Open issues",
                 "Issue kinds", "Markers", "Off the line", "Last patrol", "Safe", "Source"],
        "sources": "Sources", "src_real": "real", "src_synthetic": "synthetic (illustrative)",
        "src_line": "line: {v}", "src_markers": "markers: {v}",
        "src_note": "Lines are derived from the outlines on either side: real when both outlines are real data, "
                    "synthetic when either is; markers carry the source they were recorded with. Synthetic data are "
                    "for demonstration only, never a basis for boundary management.",
        "legend": "Legend", "legend_rows": {"overdue": "inspection overdue", "due": "inspection due within {n} days",
                                            "ok": "inspection ok"},
        "legend_safe": "Safe line: inspection not overdue and no open high-risk issue.",
        "legend_outlier": "Off the line: markers more than {n} m from the line.",
        "total": "Total", "lines_n": "{n} lines", "sep": ", ",
        "issue_kind": {
            "dispute": "dispute", "risk": "risk", "marker_damaged": "marker damaged",
            "marker_missing": "marker missing",
            "marker_moved": "marker moved", "marker_illegible": "inscription illegible",
            "marker_overgrown": "surroundings overgrown", "displacement": "displacement",
            "structure": "structure across the line", "one_sided_marker": "one-sided marker",
            "feature_change": "feature change", "other": "other"},
        "marker_status": {s: s for s in STATUSES},
    },
}


def _source_word(w: dict[str, Any], sources: list[str] | str) -> str:
    items = [sources] if isinstance(sources, str) else sources
    if not items:
        return "—"
    paren = "{}（{}）" if w is WORDS["zh"] else "{} ({})"
    return str(w["sep"]).join(str(w["src_synthetic"]) if _synthetic(x) else
                              (str(w["src_real"]) if x == "real" else paren.format(w["src_real"], x)) for x in items)


def scope_text(rep: dict[str, Any], lang: Lang = "zh") -> str:
    w = WORDS[lang]
    level = str(w["level"].get(rep.get("level"), rep.get("level")))
    names = rep.get("scope_names") or {}
    if rep.get("line_id"):
        return str(w["scope_line"].format(line=rep["line_id"]))
    if rep.get("code"):
        return str(w["scope_code"].format(name=names.get(rep["code"], rep["code"]), code=rep["code"], level=level))
    if rep.get("parent"):
        return str(w["scope_parent"].format(name=names.get(rep["parent"], rep["parent"]), code=rep["parent"],
                                            level=level))
    return str(w["scope_all"].format(level=level))


CSV_COLUMNS = [
    ("line_no", "界线编号"), ("line_id", "界线标识"), ("name", "界线名称"), ("left_name", "左侧"),
    ("right_name", "右侧"), ("length_km", "长度(km)"), ("last_inspection_on", "上次联检"),
    ("next_inspection_due", "下次联检"), ("inspection", "联检状态"), ("overdue_days", "逾期天数"),
    ("open_issues", "未结问题"), ("open_high_risk", "高风险问题"),
    *[(f"markers_{s}", f"界桩{MARKER_STATUS_ZH[MarkerStatus(s)]}") for s in STATUSES],
    ("marker_outliers", "偏离界线界桩"), ("last_patrol_on", "最近巡查"), ("safe", "平安边界"),
]


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    for s in STATUSES:
        out[f"markers_{s}"] = item["markers"][s]
    return out


CSV_COLUMNS_EN = [
    "line no.", "line id", "line", "left side", "right side", "length (km)", "last inspection", "next inspection",
    "inspection", "days overdue", "open issues", "high-risk issues", *[f"markers {s}" for s in STATUSES],
    "markers off the line", "last patrol", "safe line",
]


def _csv_cell(key: str, value: Any, w: dict[str, Any]) -> Any:
    if isinstance(value, bool):
        return w["yes"] if value else w["no"]
    if key == "inspection":
        return w["inspection"].get(value, value)
    return value


def to_csv(rep: dict[str, Any], lang: Lang = "zh") -> str:
    """Headings in the reader's language, then the keys (for programs), a row per line and the totals, values as
    words (是/否, 已逾期); line and division names that a spreadsheet would run as formulas are escaped
    (``gis_api.io.safe_cells``)."""
    w = WORDS[lang]
    t = rep["totals"]
    states = w["sep"].join(f"{w['inspection'][k]} {t[k]}" for k in ("overdue", "due", "ok"))
    rows: list[list[Any]] = [
        [k for k, _zh in CSV_COLUMNS],
        *([_csv_cell(k, _flat(item).get(k), w) for k, _zh in CSV_COLUMNS] for item in rep["lines"]),
        [w["total"], "", w["lines_n"].format(n=t["lines"]), "", "", t["length_km"], "", "", states, "",
         t["open_issues"], t["open_high_risk"], *[t["markers"][s] for s in STATUSES], t["marker_outliers"], "",
         f"{t['safe_lines']}/{t['lines']}"],
    ]
    head = [zh for _k, zh in CSV_COLUMNS] if lang == "zh" else CSV_COLUMNS_EN
    return safe_cells.csv_text(head, rows, lineterminator="\n")


_STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .meta{color:#555;margin-bottom:16px}
table{border-collapse:collapse;width:100%;font-size:13px;margin-bottom:20px}
th,td{border:1px solid #bbb;padding:4px 6px;text-align:left} th{background:#eef2f6}
td.n{text-align:right} .overdue{background:#fbe3e1} .due{background:#fff4d6} .ok{background:#e7f5e9}
.card{display:inline-block;border:1px solid #ccc;border-radius:6px;padding:8px 14px;margin:0 8px 8px 0}
.card b{display:block;font-size:20px}
h2{font-size:16px;margin:12px 0 4px} .legend ul{list-style:none;padding:0;margin:0}
.legend li{display:inline-flex;align-items:center;gap:6px;margin-right:18px}
.legend .sw{display:inline-block;width:22px;height:14px;border:1px solid #bbb}
.sw.overdue{background:#fbe3e1} .sw.due{background:#fff4d6} .sw.ok{background:#e7f5e9}
td:nth-child(4),td:nth-child(5){white-space:nowrap} td.src{font-size:12px} td.src.synthetic{color:#a04000}
@media print{body{margin:8mm} .card{padding:4px 8px} tr{break-inside:avoid}}
"""


def to_html(rep: dict[str, Any], lang: Lang = "zh", due_soon_days: int | None = None) -> str:
    e = html.escape
    w = WORDS[lang]
    t = rep["totals"]
    cards = list(zip(w["cards"], [t["lines"], f"{t['length_km']:.3f}", t["overdue"], t["due"], t["open_issues"],
                                  t["marker_outliers"], f"{t['safe_lines']}/{t['lines']}"], strict=True))
    ms = w["marker_status"]
    rows = []
    for x in rep["lines"]:
        markers = w["sep"].join(f"{ms[s]} {n}" for s, n in x["markers"].items() if n) or "—"
        issues = w["sep"].join(f"{w['issue_kind'].get(k, k)} {n}" for k, n in x["issues_by_kind"].items()) or "—"
        state = w["inspection"][x["inspection"]]
        if x["overdue_days"]:
            state += f"（{w['days'].format(n=x['overdue_days'])}）" if lang == "zh" else \
                f" ({w['days'].format(n=x['overdue_days'])})"
        source = w["sep"].join([w["src_line"].format(v=_source_word(w, x.get("line_source", ""))),
                                w["src_markers"].format(v=_source_word(w, x.get("marker_sources", [])))])
        synthetic = x.get("line_source") == "synthetic" or any(_synthetic(m) for m in x.get("marker_sources", []))
        rows.append(
            f"<tr class=\"{x['inspection']}\"><td>{e(x['line_no'])}</td><td>{e(x['name'] or x['line_id'])}</td>"
            f"<td class=n>{x['length_km']:.3f}</td><td>{e(x['last_inspection_on'] or w['never'])}</td>"
            f"<td>{e(x['next_inspection_due'])}</td><td>{e(state)}</td>"
            f"<td class=n>{x['open_issues']}</td><td>{e(issues)}</td><td>{e(markers)}</td>"
            f"<td class=n>{x['marker_outliers']}</td><td>{e(x['last_patrol_on'] or '—')}</td>"
            f"<td>{w['yes'] if x['safe'] else w['no']}</td>"
            f"<td class=\"src{' synthetic' if synthetic else ''}\">{e(source)}</td></tr>"
        )
    marker_totals = w["sep"].join(f"{ms[s]} {n}" for s, n in t["markers"].items())
    soon = "" if due_soon_days is None else due_soon_days
    legend = "".join(f'<li><span class="sw {k}"></span>{e(v.format(n=soon))}</li>'
                     for k, v in w["legend_rows"].items())
    head = "".join(f"<th>{e(h)}</th>" for h in w["head"])
    return f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<title>{e(w['title'])} {e(rep['as_of'])}</title>
<style>{_STYLE}</style></head><body>
<h1>{e(w['title'])}</h1>
<div class="meta">{e(scope_text(rep, lang))}<br>
{e(w['generated'])} <b id="generated-on">{e(rep.get('generated_on') or clock.today().isoformat())}</b> ·
{e(w['as_of'])} <b id="as-of">{e(rep['as_of'])}</b> · {e(w['interval'].format(n=rep['inspection_interval_years']))} ·
{e(w['tolerance'].format(n=f"{rep['marker_tolerance_m']:g}"))}</div>
<div>{''.join(f'<div class="card">{e(str(k))}<b>{e(str(v))}</b></div>' for k, v in cards)}</div>
<p>{e(w['markers_by_status'])}{'：' if lang == 'zh' else ': '}{e(marker_totals)}</p>
<table><thead><tr>{head}</tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<section class="legend"><h2>{e(w['legend'])}</h2><ul>{legend}</ul>
<p>{e(w['legend_safe'])}</p><p>{e(w['legend_outlier'].format(n=f"{rep['marker_tolerance_m']:g}"))}</p></section>
{field_attachments.report_section(rep, lang)}
<section class="sources"><h2>{e(w['sources'])}</h2><p>{e(w['src_note'])}</p></section>
</body></html>
"""
