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


def _color(share: float | None) -> str:
    if share is None:
        return "#cccccc"
    stops = [(0.5, "#d73027"), (0.7, "#fc8d59"), (0.85, "#fee08b"), (0.95, "#91cf60"), (1.01, "#1a9850")]
    return next(c for limit, c in stops if share < limit)


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
    m = folium.Map(location=[lat, lon], zoom_start=10, tiles=None, height="62%", control_scale=True)
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
            {"type": "FeatureCollection", "features": features}, name="乡镇覆盖率 township share covered",
            style_function=lambda f: {"fillColor": f["properties"]["_fill"], "color": "#555", "weight": 1,
                                      "fillOpacity": 0.35},
            tooltip=folium.GeoJsonTooltip(fields=["name", "share_covered"], aliases=["乡镇", "覆盖率"]),
        ).add_to(m)
    if service_areas and service_areas.get("features"):
        folium.GeoJson(service_areas, name="服务范围 service areas",
                       style_function=lambda _f: {"fillColor": "#3182bd", "color": "#3182bd", "weight": 1,
                                                  "fillOpacity": 0.12}).add_to(m)
    covered = folium.FeatureGroup(name="已覆盖村 covered villages").add_to(m)
    uncovered = folium.FeatureGroup(name="未覆盖村 uncovered villages").add_to(m)
    for d in demand:
        pop = float(d.get("population") or 0)
        tip = f"{d.get('name') or d['code']} · {pop:,.0f}"
        if scores is not None:
            tip += f" · 2SFCA {scores.get(d['code'], 0) * 1000:.3f}‰"
        if d["covered"]:
            tip += f" · {d.get('nearest_facility') or ''} {d.get('distance_m') or 0:.0f} m"
        folium.CircleMarker([d["lat"], d["lon"]], radius=max(2.0, min(9.0, (pop ** 0.5) / 12)),
                            color="#1a9850" if d["covered"] else "#d73027", fill=True, fill_opacity=0.8,
                            weight=1, tooltip=_tooltip(tip)).add_to(covered if d["covered"] else uncovered)
    fac = folium.FeatureGroup(name="设施 facilities").add_to(m)
    load = {f["facility_id"]: f for f in result.get("facility_load", [])}
    for s in supply:
        info = load.get(s["facility_id"], {})
        folium.CircleMarker(
            [s["lat"], s["lon"]], radius=6, color="#08519c", fill=True, fill_color="#6baed6", fill_opacity=1,
            tooltip=_tooltip(f"{s['name']} · served {info.get('population_served', 0):,} · "
                             f"capacity {s.get('capacity')}"),
        ).add_to(fac)
    if sites:
        sg = folium.FeatureGroup(name="建议新址 suggested sites").add_to(m)
        for s in sites:
            # A DivIcon is core Leaflet (folium's RegularPolygonMarker would pull a plugin from a CDN).
            folium.Marker(
                [s["lat"], s["lon"]],
                icon=folium.DivIcon(html=f'<div style="font: bold 16px sans-serif; color: #7a0177">'
                                         f'★{int(s["rank"])}</div>', icon_size=(28, 20), icon_anchor=(10, 10)),
                tooltip=_tooltip(f"#{s['rank']} {s.get('name') or s.get('code')} · +{s['added_population']:,}"),
            ).add_to(sg)
    folium.LayerControl(collapsed=False).add_to(m)
    if len(pts) > 1:
        lats, lons = [p[0] for p in pts], [p[1] for p in pts]
        m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])

    out = str(root.render())
    # The map's div joins the page while it renders, so the panel is put after it here.
    cut = out.rfind("</body>")
    out = out[:cut] + _panel(title, result, sites) + out[cut:]
    if EXTERNAL.search(out):
        raise AssertionError("the report would load an external asset")  # guards the offline promise
    # Only the scripts generated here may run, also when the file is opened from disk (docs/security.md).
    return with_meta_csp(out)


def _panel(title: str, result: dict[str, Any], sites: list[dict[str, Any]] | None) -> str:
    q = result.get("query", {})
    dist = q.get("distance", {})
    how = (f"半径 {dist.get('radius_m')} m（椭球面距离）" if dist.get("mode") == "radius"
           else f"路网距离 {dist.get('network_m')} m（{html.escape(str(dist.get('network')))}）")
    share = result.get("share_covered")
    demand = q.get("demand", {})
    rows = [(f"{t.get('name') or t['code']}", None if t.get("share_covered") is None else float(t["share_covered"]))
            for t in result.get("by_township", [])]
    chart = bar_chart(rows, "各乡镇人口覆盖率 share of population covered by township")
    unc = "".join(f"<tr><td>{html.escape(str(u['code']))}</td><td>{html.escape(str(u.get('name') or ''))}</td>"
                  f"<td style='text-align:right'>{u['population']:,}</td></tr>"
                  for u in result.get("uncovered", [])[:50])
    site_rows = "".join(f"<tr><td>{int(s['rank'])}</td><td>{html.escape(str(s.get('name') or s.get('code')))}</td>"
                        f"<td style='text-align:right'>+{s['added_population']:,}</td></tr>" for s in (sites or []))
    sites_html = (f"<h3>建议新址 suggested sites</h3><table><tr><th>#</th><th>site</th><th>added</th></tr>"
                  f"{site_rows}</table>") if sites else ""
    share_txt = "–" if share is None else f"{share:.1%}"
    return f"""
<div style="font: 14px sans-serif; padding: 8px 16px; display: flex; flex-wrap: wrap; gap: 24px">
  <div>
    <h2 style="margin: 4px 0">{html.escape(title)}</h2>
    <p>{html.escape(str(q.get('facility_kind_name', '')))} · {how} · 日期 {html.escape(str(q.get('as_of', '')))}</p>
    <p>覆盖人口 <b>{result.get('population_covered', 0):,}</b> / {result.get('population_total', 0):,}
       （<b>{share_txt}</b>）· 设施 {q.get('facilities', 0)} 处</p>
    <p style="color:#a00">需求数据来源 demand source: {html.escape(str(demand.get('source')))}
       — synthetic data are labelled so; not an authoritative map.</p>
    {sites_html}
  </div>
  <div>{chart}</div>
  <div><h3>未覆盖村 uncovered (top 50)</h3>
    <table><tr><th>code</th><th>name</th><th>population</th></tr>{unc}</table></div>
</div>"""
