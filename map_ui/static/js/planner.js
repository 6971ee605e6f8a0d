// Planner screen: a facility kind and a radius or network distance → coverage overlay, uncovered villages,
// figures per township, suggested sites (MCLP), the plan's rules, and the folium report / CSV exports.
/* global L */
import { api, ApiError } from "./api.js";
import { t, msg, onLang } from "./i18n.js";
import { map, showOverlay, zoomTo } from "./map.js";
import { layers, loadFacilityKinds, kindName, kindColor } from "./overlays.js";
import { state, has, can, on } from "./state.js";
import { el, $, fmt, pct, toast, download, put, showTab, text } from "./ui.js";

let last = null; // {body, result, geo, sites}
let presets = {};
let networks = [];

function pane() {
  return $("#pane-planner");
}

function request(form) {
  const v = (k) => form.elements.namedItem(k);
  const mode = form.querySelector('input[name="dist"]:checked').value;
  const meters = Number(v("meters").value);
  const body = { facility_kind: v("kind").value, as_of: state.asOf, include_planned: v("planned").checked };
  if (mode === "network") { body.network_m = meters; if (v("network") && v("network").value) body.network = v("network").value; }
  else body.radius_m = meters;
  return body;
}

async function renderForm() {
  const box = pane();
  if (!has("coverage")) { put(box, el("p", { class: "muted" }, t("planner_unavailable"))); return; }
  const [kinds, pre, nets] = await Promise.all([
    loadFacilityKinds(),
    api("/api/v1/coverage/presets").then((r) => r.data).catch(() => ({})),
    api("/api/v1/coverage/networks").then((r) => r.data).catch(() => []),
  ]);
  presets = pre;
  networks = nets;
  const form = el("form", { id: "coverage-form" },
    el("h2", {}, t("tab_planner")),
    el("div", { class: "row" }, el("label", { for: "cov-kind" }, t("planner_kind")),
      el("select", { id: "cov-kind", name: "kind" }, kinds.map((k) => el("option", { value: k.id, dataset: { radius: k.default_radius_m ?? "" } }, kindName(k.id))))),
    el("fieldset", {}, el("legend", {}, t("distance_type")),
      el("label", {}, el("input", { type: "radio", name: "dist", value: "radius", checked: true }), " ", t("radius")), " ",
      el("label", {}, el("input", { type: "radio", name: "dist", value: "network", disabled: !networks.length }), " ", t("network"),
        networks.length ? "" : " —"),
      el("div", { class: "row" }, el("label", { for: "cov-meters" }, t("distance_m")),
        el("input", { id: "cov-meters", name: "meters", type: "number", min: 1, step: "any", value: 2000, required: true })),
      networks.length ? el("div", { class: "row" }, el("label", { for: "cov-network" }, t("network")),
        el("select", { id: "cov-network", name: "network" }, networks.map((n) => el("option", { value: n.name }, `${n.name} (${n.source || ""})`)))) : null,
      el("div", { class: "presets", role: "group", "aria-label": t("preset") }, `${t("preset")}: `,
        Object.entries(presets).map(([id, p]) => el("button", { type: "button", dataset: { preset: id },
          onclick: () => { form.elements.namedItem("meters").value = p.radius_m; } }, `${p.label_zh || id} ${p.radius_m} m`)))),
    el("label", {}, el("input", { type: "checkbox", name: "planned" }), " 含规划、在建 / include planned"),
    el("p", { class: "error", role: "alert", id: "coverage-error" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary", id: "btn-coverage" }, t("run_coverage"))),
  );
  form.elements.namedItem("kind").addEventListener("change", (e) => {
    const r = e.target.selectedOptions[0].dataset.radius;
    if (r) form.elements.namedItem("meters").value = r;
  });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); runCoverage(form); });
  put(box, form, el("div", { id: "coverage-result", "aria-live": "polite" }), el("section", { id: "plan-rules" }));
  const first = form.elements.namedItem("kind").selectedOptions[0];
  if (first && first.dataset.radius) form.elements.namedItem("meters").value = first.dataset.radius;
  renderRules();
}

async function runCoverage(form) {
  const error = $("#coverage-error");
  error.textContent = "";
  const body = request(form);
  $("#btn-coverage").disabled = true;
  try {
    const [json, geo] = await Promise.all([
      api("/api/v1/coverage", { json: { ...body, service_areas: true } }),
      api("/api/v1/coverage", { json: body, params: { format: "geojson" } }),
    ]);
    last = { body, result: json.data, geo: geo.data, sites: null };
    drawOverlay();
    renderResult();
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.text : String(e);
  } finally {
    $("#btn-coverage").disabled = false;
  }
}

function drawOverlay() {
  const g = layers.coverage;
  g.clearLayers();
  if (!last) return;
  L.geoJSON(last.result.service_areas || { type: "FeatureCollection", features: [] }, {
    pane: "coverage", style: { color: "#2f855a", weight: 1, fillColor: "#48bb78", fillOpacity: 0.15 }, interactive: false,
  }).addTo(g);
  L.geoJSON(last.geo, {
    filter: (f) => f.properties.layer !== "service_area",
    pointToLayer: (f, ll) => {
      const p = f.properties;
      if (p.layer === "facility") {
        return L.circleMarker(ll, { pane: "points", radius: 7, weight: 2, color: "#fff", fillColor: kindColor(last.body.facility_kind), fillOpacity: 1 });
      }
      return L.circleMarker(ll, {
        pane: "points", radius: p.covered ? 3 : 5, weight: 1, color: p.covered ? "#276749" : "#9b2c2c",
        fillColor: p.covered ? "#68d391" : "#fc8181", fillOpacity: 0.9, className: p.covered ? "demand covered" : "demand uncovered",
      });
    },
    onEachFeature: (f, l) => {
      const p = f.properties;
      l.bindTooltip(text(p.layer === "facility" ? `${p.name}（${t("population")} ${fmt(p.population_served)}）`
        : `${p.name} · ${t("population")} ${fmt(p.population)}${p.covered ? ` · ${fmt(p.distance_m)} m` : ` · ${t("uncovered")}`}`));
    },
  }).addTo(g);
  drawSites();
  showOverlay("coverage", true);
}

function drawSites() {
  if (!last || !last.sites) return;
  for (const s of last.sites.sites) {
    L.marker([s.lat, s.lon], {
      pane: "points", title: `${s.rank}. ${s.name}`,
      icon: L.divIcon({ className: "site-icon", html: text(`★${s.rank}`), iconSize: [26, 20] }),
    }).bindTooltip(text(`${t("suggested")} ${s.rank}: ${s.name} (+${fmt(s.added_population)})`)).addTo(layers.coverage);
  }
}

function distanceText(d) {
  if (!d) return "";
  return d.mode === "network" ? `${t("network")} ${fmt(d.network_m)} m${d.network ? ` (${d.network})` : ""}` : `${t("radius")} ${fmt(d.radius_m)} m`;
}

function renderResult() {
  const box = $("#coverage-result");
  const r = last.result;
  const uncovered = r.uncovered || [];
  const demand = new Map(last.geo.features.filter((f) => f.properties.layer === "demand").map((f) => [f.properties.code, f]));
  put(box,
    el("h3", {}, `${r.query.facility_kind_name || kindName(r.query.facility_kind)} · ${distanceText(r.query.distance)}`),
    el("p", { class: "big", id: "coverage-share" }, pct(r.share_covered)),
    el("div", { class: "bar", role: "img", "aria-label": pct(r.share_covered) }, el("span", { style: `width:${(100 * (r.share_covered || 0)).toFixed(1)}%` })),
    el("p", {}, t("coverage_result", { covered: fmt(r.population_covered), total: fmt(r.population_total), share: pct(r.share_covered) })),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "btn-report", onclick: () => exportAs("html", "coverage-report.html") }, t("export_report")),
      el("button", { type: "button", id: "btn-csv", onclick: () => exportAs("csv", "coverage.csv") }, t("export_csv"))),
    el("details", { open: true, id: "uncovered" }, el("summary", {}, `${t("uncovered")} (${uncovered.length})`),
      el("div", { class: "scroll" }, el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, t("fields.name")), el("th", { class: "num" }, t("population")))),
        el("tbody", {}, uncovered.slice(0, 500).map((u) => el("tr", {},
          el("td", {}, el("button", { type: "button", class: "link", onclick: () => { const f = demand.get(u.code); if (f) zoomTo(f.geometry, 14); } }, u.name)),
          el("td", { class: "num" }, fmt(u.population)))))))),
    el("details", { id: "by-township" }, el("summary", {}, t("by_township")),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, t("fields.name")), el("th", { class: "num" }, t("population")), el("th", { class: "num" }, "%"))),
        el("tbody", {}, (r.by_township || []).map((x) => el("tr", {}, el("td", {}, x.name || x.code), el("td", { class: "num" }, fmt(x.population_total)), el("td", { class: "num" }, pct(x.share_covered))))))),
    can("plan") && has("suggest") ? el("form", { id: "suggest-form", class: "actions" },
      el("label", { for: "suggest-k" }, t("suggest_k")), el("input", { id: "suggest-k", name: "k", type: "number", min: 1, max: 50, value: 3, style: "width:4rem" }),
      el("button", { type: "submit", id: "btn-suggest" }, t("suggested")),
      el("div", { id: "suggest-result", "aria-live": "polite" })) : null,
  );
  const sf = $("#suggest-form");
  if (sf) sf.addEventListener("submit", (ev) => { ev.preventDefault(); suggest(Number(sf.elements.namedItem("k").value)); });
}

async function suggest(k) {
  const out = $("#suggest-result");
  out.textContent = t("loading");
  try {
    const { data } = await api("/api/v1/coverage/suggest", { json: { ...last.body, method: "mclp", k, candidates: "villages" } });
    last.sites = data;
    drawOverlay();
    put(out,
      el("p", {}, `${pct(data.share_before)} → `, el("b", {}, pct(data.share_after)), data.optimal ? ` · ${t("optimal")}` : ` · ${data.status}`),
      el("ol", { class: "sites" }, data.sites.map((s) => el("li", {}, `${s.name} `, el("small", {}, `+${fmt(s.added_population)}`)))));
  } catch (e) {
    out.textContent = e instanceof ApiError ? e.text : String(e);
  }
}

async function exportAs(format, filename) {
  try {
    await download("/api/v1/coverage", { format }, filename, { json: last.body });
  } catch (e) {
    toast(e instanceof ApiError ? e.text : String(e), "error");
  }
}

async function renderRules() {
  const box = $("#plan-rules");
  if (!box) return;
  try {
    const { data } = await api("/api/v1/coverage/rules", { params: { as_of: state.asOf } });
    put(box, el("h3", {}, `${t("rules")} ${data.passed ? "✓" : "✗"}`),
      el("ul", { class: "items" }, data.rules.map((r) => el("li", { class: r.passed ? "ok" : "warn" },
        `${r.passed ? "✓" : "✗"} ${msg(r, "description_zh", "description")}`,
        r.failing && r.failing.length ? el("div", { class: "muted" }, r.failing.map((x) => x.name || x.code).join("、")) : null))));
  } catch { box.replaceChildren(); }
}

export function initPlanner() {
  const tab = $("#tab-planner");
  let built = false;
  tab.addEventListener("click", () => { if (!built) { built = true; renderForm().catch(console.error); } });
  on("user", () => { if (built && last) renderResult(); });
  onLang(() => { if (built) { renderForm().then(() => { if (last) renderResult(); }).catch(console.error); } });
  on("as_of", () => { if (built) renderRules(); });
  return { map, showTab };
}
