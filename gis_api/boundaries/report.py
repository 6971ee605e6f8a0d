"""平安边界 report: per line and for the county — inspections due or overdue, open issues, markers by status.

Figures come from one SQL statement; HTML is self-contained (inline CSS, no external asset) and CSV is
UTF-8 with a BOM so spreadsheet programs open the Chinese headers correctly.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.boundaries.models import MARKER_STATUS_ZH, MarkerStatus
from gis_api.boundaries.settings import BoundarySettings
from gis_api.divisions.models import Level
from gis_api.io import safe_cells

STATUSES = [s.value for s in MarkerStatus]

REPORT_SQL = """
WITH lines AS (
    SELECT l.*, v.length_m, v.geom,
           (SELECT min(v0.valid_from) FROM boundary_line_versions v0 WHERE v0.line_id = l.line_id) AS first_from
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
       l.length_m, l.agreement_ref, l.responsible_left, l.responsible_right, l.last_inspection_on,
       (coalesce(l.last_inspection_on, l.agreement_signed_on, l.first_from)
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
        "title": "平安边界报告", "as_of": on.isoformat(), "level": level.value if level else None, "code": code,
        "parent": parent, "inspection_interval_years": settings.inspection_interval_years,
        "marker_tolerance_m": settings.marker_tolerance_m, "totals": totals, "lines": lines,
        "overdue": [x["line_id"] for x in lines if x["inspection"] == "overdue"],
    }


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


def to_csv(rep: dict[str, Any]) -> str:
    """Chinese headings, then the keys, a row per line and the totals; line and division names that a
    spreadsheet would run as formulas are escaped (``gis_api.io.safe_cells``)."""
    t = rep["totals"]
    rows: list[list[Any]] = [
        [k for k, _zh in CSV_COLUMNS],
        *([_flat(item).get(k) for k, _zh in CSV_COLUMNS] for item in rep["lines"]),
        ["合计", "total", f"{t['lines']} lines", "", "", t["length_km"], "", "",
         f"overdue {t['overdue']} / due {t['due']} / ok {t['ok']}", "", t["open_issues"], t["open_high_risk"],
         *[t["markers"][s] for s in STATUSES], t["marker_outliers"], "", t["safe_lines"]],
    ]
    return safe_cells.csv_text([zh for _k, zh in CSV_COLUMNS], rows, lineterminator="\n")


_STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .meta{color:#555;margin-bottom:16px}
table{border-collapse:collapse;width:100%;font-size:13px;margin-bottom:20px}
th,td{border:1px solid #bbb;padding:4px 6px;text-align:left} th{background:#eef2f6}
td.n{text-align:right} .overdue{background:#fbe3e1} .due{background:#fff4d6} .ok{background:#e7f5e9}
.card{display:inline-block;border:1px solid #ccc;border-radius:6px;padding:8px 14px;margin:0 8px 8px 0}
.card b{display:block;font-size:20px}
"""


def to_html(rep: dict[str, Any]) -> str:
    e = html.escape
    t = rep["totals"]
    cards = [
        ("界线 lines", t["lines"]), ("总长 km", t["length_km"]), ("联检逾期 overdue", t["overdue"]),
        ("即将到期 due", t["due"]), ("未结问题 open issues", t["open_issues"]),
        ("偏离界桩 outliers", t["marker_outliers"]), ("平安边界 safe lines", f"{t['safe_lines']}/{t['lines']}"),
    ]
    status_label = {"overdue": "逾期 overdue", "due": "到期 due", "ok": "正常 ok"}
    rows = []
    for x in rep["lines"]:
        markers = "，".join(f"{MARKER_STATUS_ZH[MarkerStatus(s)]} {n}" for s, n in x["markers"].items() if n) or "—"
        issues = "，".join(f"{k} {n}" for k, n in x["issues_by_kind"].items()) or "—"
        rows.append(
            f"<tr class=\"{x['inspection']}\"><td>{e(x['line_no'])}</td><td>{e(x['name'] or x['line_id'])}</td>"
            f"<td class=n>{x['length_km']:.3f}</td><td>{e(x['last_inspection_on'] or '从未 never')}</td>"
            f"<td>{e(x['next_inspection_due'])}</td><td>{status_label[x['inspection']]}"
            f"{' (' + str(x['overdue_days']) + ' 天)' if x['overdue_days'] else ''}</td>"
            f"<td class=n>{x['open_issues']}</td><td>{e(issues)}</td><td>{e(markers)}</td>"
            f"<td class=n>{x['marker_outliers']}</td><td>{e(x['last_patrol_on'] or '—')}</td>"
            f"<td>{'是' if x['safe'] else '否'}</td></tr>"
        )
    marker_totals = "，".join(f"{MARKER_STATUS_ZH[MarkerStatus(s)]} {n}" for s, n in t["markers"].items())
    scope = e(f"level={rep['level']} code={rep['code'] or ''} parent={rep['parent'] or ''}")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>平安边界报告 {e(rep['as_of'])}</title>
<style>{_STYLE}</style></head><body>
<h1>平安边界报告 <small>Safe-boundary report</small></h1>
<div class="meta">截至 as of {e(rep['as_of'])} · {scope} · 联检周期 {rep['inspection_interval_years']} 年 ·
界桩容差 {rep['marker_tolerance_m']:g} m</div>
<div>{''.join(f'<div class="card">{e(str(k))}<b>{e(str(v))}</b></div>' for k, v in cards)}</div>
<p>界桩状态 markers by status: {e(marker_totals)}</p>
<table><thead><tr><th>编号</th><th>界线</th><th>长度 km</th><th>上次联检</th><th>下次联检</th><th>联检状态</th>
<th>未结问题</th><th>问题类型</th><th>界桩</th><th>偏离</th><th>最近巡查</th><th>平安</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
</body></html>
"""
