"""An offline HTML coverage report (folium): map layers and charts in one file a planner can open without a
network. Leaflet's JS and CSS are inlined from the app's own vendored copy (map_ui/static/vendor/leaflet, from
npm) and its images become data URIs; the chart is inline SVG. No tile layer, no CDN, nothing fetched.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import folium

from gis_api import clock
from gis_api.errors import DimingError
from gis_api.security_headers import with_meta_csp
from gis_api.settings import CHECKOUT

LEAFLET_DIRS = (CHECKOUT / "map_ui" / "static" / "vendor" / "leaflet", CHECKOUT / "map_ui" / "node_modules" / "leaflet"
                / "dist")
# An asset-loading tag pointing off this file (a plain <a href> link is not an asset).
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe|source|embed)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""",
                      re.IGNORECASE)


class AssetsMissing(DimingError):
    status = 503
    code = "assets_missing"


def _leaflet_dir() -> Path:
    for d in LEAFLET_DIRS:
        if (d / "leaflet.js").is_file() and (d / "leaflet.css").is_file():
            return d
    raise AssetsMissing("Leaflet assets are missing (run scripts/setup.sh to install them from npm)",
                        "缺少 Leaflet 前端资源（请运行 scripts/setup.sh 从 npm 安装）")


def inline_leaflet() -> str:
    """Leaflet's CSS (images as data URIs) and JS, inline."""
    d = _leaflet_dir()
    css = (d / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(m: re.Match[str]) -> str:
        path = d / m.group(1)
        if not path.is_file():
            return "url(data:,)"
        return f"url(data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)
    js = (d / "leaflet.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    return f"<style>{css}</style>\n<script>{js}</script>"


def _tooltip(text: str) -> folium.Tooltip:
    """A tooltip showing ``text`` (stored names) as text. folium pastes a tooltip's text unescaped into a
    JavaScript template literal that Leaflet then parses as HTML, so the text is HTML-escaped and then
    escaped for the literal (backslash, backtick, ``${``)."""
    safe = html.escape(text).replace("\\", "\\\\").replace("`", "\\`").replace("$", "\\$")
    return folium.Tooltip(safe)


SHARE_STOPS = [(0.5, "#d73027"), (0.7, "#fc8d59"), (0.85, "#fee08b"), (0.95, "#91cf60"), (1.01, "#1a9850")]
NO_SHARE = "#cccccc"
COVERED, UNCOVERED, FACILITY, SITE, SERVICE_AREA = "#1a9850", "#d73027", "#08519c", "#7a0177", "#3182bd"


def _color(share: float | None) -> str:
    if share is None:
        return NO_SHARE
    return next(c for limit, c in SHARE_STOPS if share < limit)


def chinese_title(title: str) -> str:
    """The Chinese part of a bilingual title ("乡镇社工站 覆盖分析 coverage report" → "乡镇社工站 覆盖分析"):
    the report is all Chinese, the callers still pass the bilingual title the API has always used."""
    return re.sub(r"(\s+[A-Za-z][A-Za-z ]*)+$", "", title).strip() or title


def source_label(source: Any) -> str:
    """A data source as people read it: synthetic data are called so, anything else is named as stored."""
    text = str(source or "").strip()
    if not text:
        return "未注明"
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return "、".join("合成数据（示意，非真实）" if "synthetic" in p.lower() else f"真实数据（{p}）" for p in parts)


def county_bounds(townships: dict[str, Any] | None) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the county: its townships partition it, so their extent is its own."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if c and isinstance(c[0], (int, float)):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        else:
            for x in c or []:
                walk(x)

    for f in (townships or {}).get("features", []):
        walk((f.get("geometry") or {}).get("coordinates"))
    return [[min(ys), min(xs)], [max(ys), max(xs)]] if xs else None


def bar_chart(rows: list[tuple[str, float | None]], title: str, width: int = 560) -> str:
    """A horizontal bar chart of shares (0–1) as inline SVG."""
    bar_h, left, top = 18, 170, 28
    height = top + bar_h * len(rows) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}" style="font: 12px sans-serif">',
             f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    span = width - left - 60
    for i, (label, share) in enumerate(rows):
        y = top + i * bar_h
        w = 0 if share is None else max(0.0, min(1.0, share)) * span
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{html.escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 5}" fill="{_color(share)}"/>')
        txt = "–" if share is None else f"{share:.0%}"
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}">{txt}</text>')
    parts.append("</svg>")
    return "".join(parts)


def build(title: str, result: dict[str, Any], demand: list[dict[str, Any]], supply: list[dict[str, Any]],
          townships: dict[str, Any] | None = None, service_areas: dict[str, Any] | None = None,
          sites: list[dict[str, Any]] | None = None, scores: dict[str, float] | None = None) -> str:
    """The report: a map (townships by share covered, service areas, covered/uncovered villages, facilities,
    suggested sites) and a panel with the figures, a chart by township and the uncovered villages."""
    pts = [(d["lat"], d["lon"]) for d in demand] + [(s["lat"], s["lon"]) for s in supply]
    if pts:
        lat = sum(p[0] for p in pts) / len(pts)
        lon = sum(p[1] for p in pts) / len(pts)
    else:
        lat, lon = 31.87, 117.46
    root = folium.Figure()
    # Fractional zoom: with whole zoom levels the county could only fill a quarter of the frame or overflow it.
    m = folium.Map(location=[lat, lon], zoom_start=10, tiles=None, height="62%", control_scale=True,
                   zoom_snap=0.1, zoom_delta=0.5)
    m.default_js = []
    m.default_css = []
    root.add_child(m)  # the map first, the panel below it
    root.header.add_child(folium.Element(inline_leaflet()), name="leaflet_inline")

    shares = {t["code"]: t.get("share_covered") for t in result.get("by_township", [])}
    if townships and townships.get("features"):
        features = []
        for f in townships["features"]:
            share = shares.get(f["properties"].get("code"))
            # Only what the map uses; GeoJsonTooltip puts the values into innerHTML, so names are escaped.
            features.append({**f, "properties": {
                "name": html.escape(str(f["properties"].get("name") or f["properties"].get("code") or "")),
                "share_covered": "–" if share is None else f"{float(share):.1%}",
                "_fill": _color(None if share is None else float(share)),
            }})
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features}, name="乡镇人口覆盖率",
            style_function=lambda f: {"fillColor": f["properties"]["_fill"], "color": "#555", "weight": 1,
                                      "fillOpacity": 0.35},
            tooltip=folium.GeoJsonTooltip(fields=["name", "share_covered"], aliases=["乡镇", "覆盖率"]),
        ).add_to(m)
    if service_areas and service_areas.get("features"):
        folium.GeoJson(service_areas, name="服务范围",
                       style_function=lambda _f: {"fillColor": SERVICE_AREA, "color": SERVICE_AREA, "weight": 1,
                                                  "fillOpacity": 0.12}).add_to(m)
    covered = folium.FeatureGroup(name="已覆盖的村（居）").add_to(m)
    uncovered = folium.FeatureGroup(name="未覆盖的村（居）").add_to(m)
    for d in demand:
        pop = float(d.get("population") or 0)
        tip = f"{d.get('name') or d['code']} · 人口 {pop:,.0f}"
        if scores is not None:
            tip += f" · 可达性（2SFCA）{scores.get(d['code'], 0) * 1000:.3f}‰"
        if d["covered"]:
            tip += f" · 最近设施 {d.get('nearest_facility') or ''} {d.get('distance_m') or 0:.0f} 米"
        folium.CircleMarker([d["lat"], d["lon"]], radius=max(2.0, min(9.0, (pop ** 0.5) / 12)),
                            color=COVERED if d["covered"] else UNCOVERED, fill=True, fill_opacity=0.8,
                            weight=1, tooltip=_tooltip(tip)).add_to(covered if d["covered"] else uncovered)
    fac = folium.FeatureGroup(name="现有设施").add_to(m)
    load = {f["facility_id"]: f for f in result.get("facility_load", [])}
    for s in supply:
        info = load.get(s["facility_id"], {})
        folium.CircleMarker(
            [s["lat"], s["lon"]], radius=6, color=FACILITY, fill=True, fill_color="#6baed6", fill_opacity=1,
            tooltip=_tooltip(f"{s['name']} · 服务人口 {info.get('population_served', 0):,} · "
                             f"容量 {'未注明' if s.get('capacity') is None else s.get('capacity')}"),
        ).add_to(fac)
    if sites:
        sg = folium.FeatureGroup(name="建议新址").add_to(m)
        for s in sites:
            # A DivIcon is core Leaflet (folium's RegularPolygonMarker would pull a plugin from a CDN).
            folium.Marker(
                [s["lat"], s["lon"]],
                icon=folium.DivIcon(html=f'<div style="font: bold 16px sans-serif; color: {SITE}">'
                                         f'★{int(s["rank"])}</div>', icon_size=(28, 20), icon_anchor=(10, 10)),
                tooltip=_tooltip(f"第 {s['rank']} 处 {s.get('name') or s.get('code')} · 新增覆盖 "
                                 f"{s['added_population']:,} 人"),
            ).add_to(sg)
    folium.LayerControl(collapsed=False).add_to(m)
    # Frame the county (its townships' extent); without townships, the points. The points of a demand layer of
    # one's own may lie outside the county: the frame then takes them in too.
    box = county_bounds(townships)
    if pts:
        lats, lons = [p[0] for p in pts], [p[1] for p in pts]
        if box is None and len(pts) > 1:
            box = [[min(lats), min(lons)], [max(lats), max(lons)]]
        elif box is not None:
            box = [[min(box[0][0], *lats), min(box[0][1], *lons)], [max(box[1][0], *lats), max(box[1][1], *lons)]]
    if box is not None:
        m.fit_bounds(box, padding=(12, 12))
    root.header.add_child(folium.Element(f"<style>{_PRINT_CSS}</style>"), name="diming_print")

    out = str(root.render())
    # The map's div joins the page while it renders, so the panel is put after it here.
    cut = out.rfind("</body>")
    has_areas = bool(service_areas and service_areas.get("features"))
    out = out[:cut] + _panel(chinese_title(title), result, sites, townships, has_areas) + out[cut:]
    if EXTERNAL.search(out):
        raise AssertionError("the report would load an external asset")  # guards the offline promise
    # Only the scripts generated here may run, also when the file is opened from disk (docs/security.md).
    return with_meta_csp(out)


_PRINT_CSS = """
.diming-panel{font:14px "WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;padding:8px 16px;display:flex;
  flex-wrap:wrap;gap:24px}
.diming-panel h2{margin:4px 0}.diming-panel p{margin:4px 0}.diming-panel .meta{color:#444}
.diming-panel table{border-collapse:collapse}.diming-panel td,.diming-panel th{padding:1px 6px;text-align:left}
.diming-panel .num{text-align:right}.diming-panel .synthetic{color:#a00}
.legend{list-style:none;padding:0;margin:4px 0}.legend li{display:flex;align-items:center;gap:6px;margin:2px 0}
.legend .sw{display:inline-block;width:14px;height:12px;border:1px solid #555}
.legend .dot{display:inline-block;width:10px;height:10px;border-radius:50%}
.leaflet-control-scale-line+.leaflet-control-scale-line{display:none}
@media print{.leaflet-control-layers,.leaflet-control-zoom{display:none}}
"""


def _legend(sites: list[dict[str, Any]] | None, service_areas: bool) -> str:
    """What each colour and symbol of the map means (the share classes are the ones ``_color`` uses)."""
    items = []
    lower = 0.0
    for limit, color in SHARE_STOPS:
        upper = min(limit, 1.0)
        span = f"{lower:.0%}–{upper:.0%}" if limit <= 1 else f"{lower:.0%} 及以上"
        items.append(f'<li><span class="sw" style="background:{color}"></span>乡镇人口覆盖率 {span}</li>')
        lower = limit
    items.append(f'<li><span class="sw" style="background:{NO_SHARE}"></span>乡镇无人口数据</li>')
    if service_areas:
        items.append(f'<li><span class="sw" style="background:{SERVICE_AREA};opacity:.4"></span>设施服务范围</li>')
    items += [
        f'<li><span class="dot" style="background:{COVERED}"></span>已覆盖的村（居），圆点大小示人口</li>',
        f'<li><span class="dot" style="background:{UNCOVERED}"></span>未覆盖的村（居）</li>',
        f'<li><span class="dot" style="background:#6baed6;border:2px solid {FACILITY}"></span>现有设施</li>',
    ]
    if sites:
        items.append(f'<li><b style="color:{SITE}">★1</b>建议新址及其排序</li>')
    return f'<h3>图例</h3><ul class="legend">{"".join(items)}</ul>'


def _sources(result: dict[str, Any], townships: dict[str, Any] | None) -> str:
    demand = result.get("query", {}).get("demand", {})
    town_sources = sorted({str(f["properties"].get("source") or "") for f in (townships or {}).get("features", [])})
    rows = [("需求（村人口）", source_label(demand.get("source"))),
            ("乡镇界线", source_label(", ".join(s for s in town_sources if s)) if town_sources else "未绘制"),
            ("设施位置", "本系统设施登记")]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td{' class=synthetic' if '合成' in v else ''}>"
                   f"{html.escape(v)}</td></tr>" for k, v in rows)
    return (f"<h3>数据来源</h3><table>{body}</table>"
            "<p class=synthetic>合成数据仅作示意；本图不是权威地图。</p>")


def _share_line(result: dict[str, Any], sites: list[dict[str, Any]] | None) -> str:
    """覆盖人口 and share; with suggested sites, before and after them."""
    total = result.get("population_total") or 0

    def pct(x: Any) -> str:
        return "–" if x is None else f"{float(x):.1%}"

    if not sites:
        return (f"<p>覆盖人口 <b>{result.get('population_covered', 0):,}</b> / {total:,} 人"
                f"（覆盖率 <b id=share-now>{pct(result.get('share_covered'))}</b>）· "
                f"现有设施 {result.get('query', {}).get('facilities', 0)} 处</p>")
    before = result.get("population_covered_before", result.get("population_covered", 0))
    after = result.get("population_covered_after", before + sum(s["added_population"] for s in sites))
    share_before = result.get("share_before", before / total if total else None)
    share_after = result.get("share_after", after / total if total else None)
    return (f"<p>覆盖率：新增设施前 <b id=share-before>{pct(share_before)}</b>（{before:,} / {total:,} 人）→ "
            f"建设 {len(sites)} 处建议新址后 <b id=share-after>{pct(share_after)}</b>（{after:,} / {total:,} 人）"
            f" · 现有设施 {result.get('query', {}).get('facilities', 0)} 处</p>")


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) else html.escape(str(x))


def _panel(title: str, result: dict[str, Any], sites: list[dict[str, Any]] | None,
           townships: dict[str, Any] | None = None, has_areas: bool = False) -> str:
    q = result.get("query", {})
    dist = q.get("distance", {})
    how = (f"服务半径 {_num(dist.get('radius_m'))} 米（椭球面直线距离）" if dist.get("mode") == "radius"
           else f"路网距离 {_num(dist.get('network_m'))} 米（路网：{html.escape(str(dist.get('network')))}）")
    rows = [(f"{t.get('name') or t['code']}", None if t.get("share_covered") is None else float(t["share_covered"]))
            for t in result.get("by_township", [])]
    chart = bar_chart(rows, "各乡镇人口覆盖率")
    unc = "".join(f"<tr><td>{html.escape(str(u['code']))}</td><td>{html.escape(str(u.get('name') or ''))}</td>"
                  f"<td class=num>{u['population']:,}</td></tr>"
                  for u in result.get("uncovered", [])[:50])
    site_rows = "".join(f"<tr><td>{int(s['rank'])}</td><td>{html.escape(str(s.get('name') or s.get('code')))}</td>"
                        f"<td class=num>+{s['added_population']:,}</td></tr>" for s in (sites or []))
    sites_html = (f"<h3>建议新址</h3><table><tr><th>序号</th><th>位置</th><th>新增覆盖人口</th></tr>"
                  f"{site_rows}</table>") if sites else ""
    return f"""
<div class="diming-panel">
  <div>
    <h1 style="font-size:20px;margin:4px 0">{html.escape(title)}</h1>
    <p class=meta>报告日期 <b id=report-date>{clock.today().isoformat()}</b> · 数据时点
       <b id=data-as-of>{html.escape(str(q.get('as_of', '')))}</b></p>
    <p>{html.escape(str(q.get('facility_kind_name', '')))} · {how}</p>
    {_share_line(result, sites)}
    {sites_html}
    {_sources(result, townships)}
  </div>
  <div>{_legend(sites, has_areas)}{chart}</div>
  <div><h3>未覆盖的村（居）（人口最多的 50 个）</h3>
    <table><tr><th>代码</th><th>名称</th><th>人口</th></tr>{unc}</table></div>
</div>"""
