// Planner screen: a facility kind and a radius or network distance → coverage overlay (or 2SFCA accessibility),
// uncovered villages, figures per township, suggested sites (MCLP or LSCP), the plan's rules, the report and CSV
// exports, the road network that network distance follows, and the editors of facilities, cemeteries and parcels.
//
// The form and the result live in module state, so a language switch re-renders both in the other language
// without losing what the planner chose; a new result fits the map to its extent and tells other layers
// (emit "analysis") that a result is on the map.
/* global L */
import { api, ApiError } from "./api.js";
import { t, msg, onLang, term } from "./i18n.js";
import { networkTitle } from "./i18n/planner.js";
import { map, showOverlay, zoomTo } from "./map.js";
import { layers, loadFacilityKinds, kindName, kindColor } from "./overlays.js";
import { editorTools, initPlannerEdit } from "./planner-edit.js";
import { initPlannerNetwork, setNetworkVisible, drawNetwork } from "./planner-network.js";
import { state, has, can, on, emit } from "./state.js";
import { el, $, fmt, pct, toast, download, put, showTab, text } from "./ui.js";

let last = null; // {body, method, result, geo, radiusShare, sites}
let presets = {};
let networks = [];
let formState = null; // the form's values, kept across re-renders
let suggestState = { method: "mclp", k: 3, target: 50 };
const SCORE_COLORS = ["#c53030", "#dd6b20", "#d69e2e", "#68d391", "#276749"];

function pane() {
  return $("#pane-planner");
}

// -- the form ---------------------------------------------------------------------------------------------------
function snapshot(form) {
  if (!form) return formState;
  const v = (k) => form.elements.namedItem(k);
  const checked = (name) => { const x = form.querySelector(`input[name="${name}"]:checked`); return x ? x.value : null; };
  return {
    kind: v("kind").value, method: checked("method"), dist: checked("dist"), meters: v("meters").value,
    network: v("network") ? v("network").value : null, planned: v("planned").checked,
    showNetwork: v("show_network") ? v("show_network").checked : false,
  };
}

function request(form) {
  const s = snapshot(form);
  const body = { facility_kind: s.kind, as_of: state.asOf, include_planned: s.planned };
  if (s.dist === "network") { body.network_m = Number(s.meters); if (s.network) body.network = s.network; }
  else body.radius_m = Number(s.meters);
  return body;
}

function restore(form, s) {
  const v = (k) => form.elements.namedItem(k);
  if ([...v("kind").options].some((o) => o.value === s.kind)) v("kind").value = s.kind;
  v("meters").value = s.meters;
  for (const [name, value] of [["method", s.method], ["dist", s.dist]]) {
    const x = form.querySelector(`input[name="${name}"][value="${value}"]`);
    if (x && !x.disabled) x.checked = true;
  }
  if (v("network") && s.network) v("network").value = s.network;
  v("planned").checked = s.planned;
  if (v("show_network")) v("show_network").checked = s.showNetwork;
}

/** A life-circle preset's name in the page's language (the server gives the Chinese one). */
function presetName(id, p) {
  const name = t(`preset_label.${id}`);
  return name !== id ? name : p.label_zh || id;
}

async function renderForm() {
  const box = pane();
  const keep = snapshot($("#coverage-form"));
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
    el("fieldset", {}, el("legend", {}, t("analysis_method")),
      el("label", {}, el("input", { type: "radio", name: "method", value: "coverage", checked: true }), " ", t("method_coverage")), " ",
      el("label", {}, el("input", { type: "radio", name: "method", value: "2sfca" }), " ", t("method_2sfca"))),
    el("fieldset", {}, el("legend", {}, t("distance_type")),
      el("label", {}, el("input", { type: "radio", name: "dist", value: "radius", checked: true }), " ", t("radius")), " ",
      el("label", {}, el("input", { type: "radio", name: "dist", value: "network", disabled: !networks.length }), " ", t("network"),
        networks.length ? "" : " —"),
      el("div", { class: "row" }, el("label", { for: "cov-meters" }, t("distance_m")),
        el("input", { id: "cov-meters", name: "meters", type: "number", min: 1, step: "any", value: 2000, required: true })),
      networks.length ? el("div", { class: "row" }, el("label", { for: "cov-network" }, t("network")),
        el("select", { id: "cov-network", name: "network" }, networks.map((n) => el("option", { value: n.name }, `${networkTitle(n)} (${term(n.source || "")})`)))) : null,
      networks.length ? el("label", {}, el("input", { type: "checkbox", name: "show_network", id: "cov-show-network" }), " ", t("show_network")) : null,
      el("p", { id: "network-note", class: "note" }),
      el("div", { class: "presets", role: "group", "aria-label": t("preset") }, `${t("preset")}: `,
        Object.entries(presets).map(([id, p]) => el("button", { type: "button", dataset: { preset: id },
          onclick: () => { form.elements.namedItem("meters").value = p.radius_m; } }, `${presetName(id, p)} ${p.radius_m} m`)))),
    el("label", {}, el("input", { type: "checkbox", name: "planned" }), " ", t("include_planned")),
    el("p", { class: "error", role: "alert", id: "coverage-error" }),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "btn-coverage" }, t("run_analysis")),
      el("button", { type: "button", id: "btn-clear-analysis", onclick: clearAnalysis }, t("clear_analysis"))),
  );
  form.elements.namedItem("kind").addEventListener("change", (e) => {
    const r = e.target.selectedOptions[0].dataset.radius;
    if (r) form.elements.namedItem("meters").value = r;
  });
  const net = form.elements.namedItem("show_network");
  const netName = () => (form.elements.namedItem("network") ? form.elements.namedItem("network").value : null);
  if (net) net.addEventListener("change", () => setNetworkVisible(net.checked, netName()));
  form.querySelectorAll('input[name="dist"]').forEach((r) => r.addEventListener("change", () => {
    // Choosing network distance shows the network it follows.
    if (r.checked && r.value === "network" && net && !net.checked) { net.checked = true; setNetworkVisible(true, netName()); }
  }));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); runAnalysis(form); });
  put(box, editorTools(), form, el("div", { id: "coverage-result", "aria-live": "polite" }), el("section", { id: "plan-rules" }));
  const first = form.elements.namedItem("kind").selectedOptions[0];
  if (first && first.dataset.radius) form.elements.namedItem("meters").value = first.dataset.radius;
  if (keep) restore(form, keep);
  renderRules();
}

// -- running ------------------------------------------------------------------------------------------------------
async function runAnalysis(form) {
  const error = $("#coverage-error");
  error.textContent = "";
  const s = snapshot(form);
  formState = s;
  const body = request(form);
  $("#btn-coverage").disabled = true;
  try {
    if (s.method === "2sfca") {
      const [json, geo] = await Promise.all([
        api("/api/v1/coverage/accessibility", { json: body }),
        api("/api/v1/coverage/accessibility", { json: body, params: { format: "geojson" } }),
      ]);
      last = { body, method: "2sfca", result: json.data, geo: geo.data, sites: null };
    } else {
      const radiusBody = body.network_m ? { ...body, radius_m: body.network_m, network_m: undefined, network: undefined } : null;
      const [json, geo, radius] = await Promise.all([
        api("/api/v1/coverage", { json: { ...body, service_areas: true } }),
        api("/api/v1/coverage", { json: body, params: { format: "geojson" } }),
        // Network distance: the same metres as a straight radius, to show on the page how much the roads take away.
        radiusBody ? api("/api/v1/coverage", { json: radiusBody }).catch(() => null) : Promise.resolve(null),
      ]);
      last = { body, method: "coverage", result: json.data, geo: geo.data, radiusShare: radius ? radius.data.share_covered : null, sites: null };
    }
    if (body.network_m) setNetworkVisible(true, body.network || (networks[0] && networks[0].name));
    drawOverlay();
    fitResult();
    renderResult();
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.text : String(e);
  } finally {
    $("#btn-coverage").disabled = false;
  }
}

function clearAnalysis() {
  last = null;
  layers.coverage.clearLayers();
  const box = $("#coverage-result");
  if (box) box.replaceChildren();
  document.body.dataset.analysis = "off";
  emit("analysis", { active: false });
}

/** Fit the map to the result (demand points, service areas, suggested sites), whatever the view was before. */
function fitResult() {
  const b = layers.coverage.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [20, 20], maxZoom: 15 });
}

// -- drawing ------------------------------------------------------------------------------------------------------
function scoreClass(score, breaks) {
  if (!(score > 0)) return 0;
  let i = 1;
  while (i < breaks.length && score > breaks[i]) i += 1;
  return Math.min(i, SCORE_COLORS.length - 1);
}

/** Class breaks of the positive scores: quartiles (0 stays its own class, "none in reach"). */
function scoreBreaks() {
  const xs = last.geo.features.filter((f) => f.properties.layer === "demand" && f.properties.score > 0)
    .map((f) => f.properties.score).sort((a, b) => a - b);
  if (!xs.length) return [0];
  const q = (p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  return [0, q(0.25), q(0.5), q(0.75)];
}

function drawOverlay() {
  const g = layers.coverage;
  g.clearLayers();
  if (!last) return;
  const sfca = last.method === "2sfca";
  const breaks = sfca ? scoreBreaks() : null;
  if (!sfca) {
    L.geoJSON(last.result.service_areas || { type: "FeatureCollection", features: [] }, {
      pane: "coverage", style: { color: "#2f855a", weight: 1, fillColor: "#48bb78", fillOpacity: 0.15, className: "service-area" }, interactive: false,
    }).addTo(g);
  }
  L.geoJSON(last.geo, {
    filter: (f) => f.properties.layer !== "service_area",
    // Network distance: the line from each facility to the network vertex it starts from; red when it is longer
    // than the snap limit, i.e. the facility is off the network and reaches nobody along it.
    style: (f) => (f.properties.layer === "snap"
      ? { pane: "lines", color: f.properties.on_network ? "#2f855a" : "#c53030", weight: 2, dashArray: "4 4", className: `snap ${f.properties.on_network ? "on" : "off"}` }
      : {}),
    pointToLayer: (f, ll) => {
      const p = f.properties;
      if (p.layer === "facility") {
        const off = p.on_network === false;
        return L.circleMarker(ll, { pane: "points", radius: 7, weight: off ? 3 : 2, color: off ? "#c53030" : "#fff",
          fillColor: kindColor(last.body.facility_kind), fillOpacity: off ? 0.35 : 1, className: `result-facility${off ? " off-network" : ""}` });
      }
      if (sfca) {
        const c = scoreClass(p.score, breaks);
        return L.circleMarker(ll, { pane: "points", radius: 4 + c, weight: 1, color: "#1a202c", fillColor: SCORE_COLORS[c], fillOpacity: 0.9, className: `demand sfca score-${c}` });
      }
      return L.circleMarker(ll, {
        pane: "points", radius: p.covered ? 3 : 5, weight: 1, color: p.covered ? "#276749" : "#9b2c2c",
        fillColor: p.covered ? "#68d391" : "#fc8181", fillOpacity: 0.9, className: p.covered ? "demand covered" : "demand uncovered",
      });
    },
    onEachFeature: (f, l) => {
      const p = f.properties;
      let s;
      if (p.layer === "snap") s = t("snap_tip", { m: fmt(p.snap_m) });
      else if (p.layer === "facility") {
        s = `${p.name}（${sfca ? `${t("sfca_score")} ${fmt(p.ratio ? p.ratio * 1000 : 0)}` : `${t("population")} ${fmt(p.population_served)}`}）`;
        if (p.on_network === false) s += ` · ${t("snap_tip", { m: fmt(p.snap_m) })}`;
      }
      else if (sfca) s = `${p.name} · ${t("population")} ${fmt(p.population)} · ${t("sfca_score")} ${fmt(p.score_per_1000)}`;
      else s = `${p.name} · ${t("population")} ${fmt(p.population)}${p.covered ? ` · ${fmt(p.distance_m)} m` : ` · ${t("uncovered")}`}`;
      l.bindTooltip(text(s));
    },
  }).addTo(g);
  drawSites();
  showOverlay("coverage", true);
  document.body.dataset.analysis = last.method;
  emit("analysis", { active: true, method: last.method });
}

function drawSites() {
  if (!last || !last.sites) return;
  for (const s of last.sites.sites) {
    L.marker([s.lat, s.lon], {
      pane: "points", title: `${s.rank}. ${s.name}`, zIndexOffset: 1000,
      icon: L.divIcon({ className: `site-icon ${last.sites.query.method}`, html: text(`★${s.rank}`), iconSize: [26, 20] }),
    }).bindTooltip(text(`${t("suggested")} ${s.rank}: ${s.name} (+${fmt(s.added_population)})`)).addTo(layers.coverage);
  }
}

// -- the result panel ---------------------------------------------------------------------------------------------
function distanceText(d) {
  if (!d) return "";
  return d.mode === "network" ? `${t("network")} ${fmt(d.network_m)} m${d.network ? ` (${networkTitle(networks.find((n) => n.name === d.network) || { name: d.network })})` : ""}` : `${t("radius")} ${fmt(d.radius_m)} m`;
}

function heading(r) {
  return el("h3", {}, `${kindName(r.query.facility_kind) || r.query.facility_kind_name} · ${distanceText(r.query.distance)}`);
}

function renderResult() {
  if (!last) return;
  if (last.method === "2sfca") { renderAccessibility(); return; }
  const box = $("#coverage-result");
  const r = last.result;
  const uncovered = r.uncovered || [];
  const demand = new Map(last.geo.features.filter((f) => f.properties.layer === "demand").map((f) => [f.properties.code, f]));
  const d = r.query.distance || {};
  const facilities = last.geo.features.filter((f) => f.properties.layer === "facility");
  put(box,
    heading(r),
    el("p", { class: "big", id: "coverage-share" }, pct(r.share_covered)),
    el("div", { class: "bar", role: "img", "aria-label": pct(r.share_covered) }, el("span", { style: `width:${(100 * (r.share_covered || 0)).toFixed(1)}%` })),
    el("p", {}, t("coverage_result", { covered: fmt(r.population_covered), total: fmt(r.population_total), share: pct(r.share_covered) })),
    d.mode === "network" && last.radiusShare !== null && last.radiusShare !== undefined
      ? el("p", { class: "note", id: "coverage-compare" }, t("compare_radius", { m: fmt(d.network_m), share: pct(last.radiusShare), snap: fmt(d.max_snap_m),
        off: facilities.filter((f) => f.properties.on_network === false).length, n: facilities.length })) : null,
    el("div", { class: "actions" },
      el("button", { type: "button", id: "btn-report", onclick: () => exportAs("/api/v1/coverage", "html", "coverage-report.html") }, t("export_report")),
      el("button", { type: "button", id: "btn-csv", onclick: () => exportAs("/api/v1/coverage", "csv", "coverage.csv") }, t("export_csv"))),
    el("details", { open: true, id: "uncovered" }, el("summary", {}, `${t("uncovered")} (${uncovered.length})`),
      el("div", { class: "scroll" }, el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, t("fields.name")), el("th", { class: "num" }, t("population")))),
        el("tbody", {}, uncovered.slice(0, 500).map((u) => el("tr", {},
          el("td", {}, el("button", { type: "button", class: "link", onclick: () => { const f = demand.get(u.code); if (f) zoomTo(f.geometry, 14); } }, u.name)),
          el("td", { class: "num" }, fmt(u.population)))))))),
    el("details", { id: "by-township" }, el("summary", {}, t("by_township")),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, t("fields.name")), el("th", { class: "num" }, t("population")), el("th", { class: "num" }, "%"))),
        el("tbody", {}, (r.by_township || []).map((x) => el("tr", {}, el("td", {}, x.name || x.code), el("td", { class: "num" }, fmt(x.population_total)), el("td", { class: "num" }, pct(x.share_covered))))))),
    suggestForm(),
  );
}

function renderAccessibility() {
  const box = $("#coverage-result");
  const r = last.result;
  const breaks = scoreBreaks();
  const lowest = [...r.villages].sort((a, b) => a.score - b.score || b.population - a.population).slice(0, 10);
  const demand = new Map(last.geo.features.filter((f) => f.properties.layer === "demand").map((f) => [f.properties.code, f]));
  // Classes as scoreClass draws them: none in reach, then ≤ each quartile of the positive scores, then above.
  const per1000 = (x) => fmt(Number((x * 1000).toPrecision(3)));
  const limits = [t("sfca_none"), ...breaks.slice(1).map((x) => `≤ ${per1000(x)}`), `> ${per1000(breaks[breaks.length - 1])}`];
  const legend = limits.map((txt, i) => el("span", { class: "kind" },
    el("span", { class: "dot", style: `background:${SCORE_COLORS[Math.min(i, SCORE_COLORS.length - 1)]}`, "aria-hidden": "true" }), " ", txt));
  put(box,
    heading(r),
    el("p", { class: "big", id: "sfca-mean" }, fmt(r.population_weighted_mean_score === null ? null : Number((r.population_weighted_mean_score * 1000).toFixed(4)))),
    el("p", {}, t("sfca_mean", { v: fmt(r.population_weighted_mean_score === null ? null : Number((r.population_weighted_mean_score * 1000).toFixed(4))) })),
    el("p", { id: "sfca-without" }, t("sfca_without", { n: fmt(r.population_without_access) })),
    el("div", { class: "legend sfca-legend", role: "group", "aria-label": t("sfca_legend") }, `${t("sfca_legend")}: `, legend),
    (r.warnings || []).map((w) => el("p", { class: "warn" }, w)),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "btn-csv", onclick: () => exportAs("/api/v1/coverage/accessibility", "csv", "accessibility.csv") }, t("export_csv"))),
    el("details", { open: true, id: "sfca-lowest" }, el("summary", {}, t("sfca_lowest")),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, el("th", {}, t("fields.name")), el("th", { class: "num" }, t("population")), el("th", { class: "num" }, t("sfca_score")))),
        el("tbody", {}, lowest.map((v) => el("tr", {},
          el("td", {}, el("button", { type: "button", class: "link", onclick: () => { const f = demand.get(v.code); if (f) zoomTo(f.geometry, 14); } }, v.name)),
          el("td", { class: "num" }, fmt(v.population)), el("td", { class: "num" }, fmt(v.score_per_1000))))))),
  );
}

// -- site suggestion (MCLP, LSCP) ---------------------------------------------------------------------------------
function suggestForm() {
  if (!(can("plan") && has("suggest"))) return null;
  const s = suggestState;
  const form = el("form", { id: "suggest-form", class: "suggest" },
    el("fieldset", {}, el("legend", {}, t("suggest_method")),
      el("label", {}, el("input", { type: "radio", name: "smethod", value: "mclp", checked: s.method === "mclp" }), " ", t("method_mclp")),
      el("div", { class: "row" }, el("label", { for: "suggest-k" }, t("suggest_k")),
        el("input", { id: "suggest-k", name: "k", type: "number", min: 1, max: 50, value: s.k, style: "width:4rem" })),
      el("label", {}, el("input", { type: "radio", name: "smethod", value: "lscp", checked: s.method === "lscp" }), " ", t("method_lscp")),
      el("div", { class: "row" }, el("label", { for: "suggest-target" }, t("suggest_target")),
        el("input", { id: "suggest-target", name: "target", type: "number", min: 1, max: 100, step: "any", value: s.target, style: "width:5rem" }))),
    el("div", { class: "actions" }, el("button", { type: "submit", id: "btn-suggest" }, t("suggested"))),
    el("div", { id: "suggest-result", "aria-live": "polite" }));
  const keep = () => {
    const m = form.querySelector('input[name="smethod"]:checked');
    suggestState = { method: m ? m.value : "mclp", k: form.elements.namedItem("k").value, target: form.elements.namedItem("target").value };
  };
  form.addEventListener("change", keep);
  form.elements.namedItem("k").addEventListener("input", () => { form.querySelector('input[value="mclp"]').checked = true; keep(); });
  form.elements.namedItem("target").addEventListener("input", () => { form.querySelector('input[value="lscp"]').checked = true; keep(); });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); keep(); suggest(); });
  if (last && last.sites) renderSites(form.querySelector("#suggest-result"));
  return form;
}

async function suggest() {
  const out = $("#suggest-result");
  out.textContent = t("loading");
  const s = suggestState;
  const body = { ...last.body, method: s.method, candidates: "villages" };
  if (s.method === "lscp") body.target_share = Number(s.target) / 100;
  else body.k = Number(s.k);
  try {
    const { data } = await api("/api/v1/coverage/suggest", { json: body });
    last.sites = data;
    drawOverlay();
    fitResult();
    renderSites(out);
  } catch (e) {
    out.textContent = e instanceof ApiError ? e.text : String(e);
  }
}

function renderSites(out) {
  const data = last.sites;
  put(out,
    data.query.method === "lscp" ? el("p", { id: "lscp-summary" }, t("lscp_result", { n: data.sites.length, target: pct(data.query.target_share) })) : null,
    el("p", {}, `${pct(data.share_before)} → `, el("b", {}, pct(data.share_after)), data.optimal ? ` · ${t("optimal")}` : ` · ${data.status}`),
    el("ol", { class: "sites" }, data.sites.map((s) => el("li", {}, `${s.name} `, el("small", {}, `+${fmt(s.added_population)}`)))));
}

async function exportAs(path, format, filename) {
  try {
    await download(path, { format }, filename, { json: last.body });
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
  // The planner's own style sheet, added here so the page template stays as it is.
  document.head.append(el("link", { rel: "stylesheet", href: "/static/css/planner.css" }));
  initPlannerNetwork();
  initPlannerEdit();
  const tab = $("#tab-planner");
  let built = false;
  const build = () => renderForm().then(() => { if (last) renderResult(); });
  tab.addEventListener("click", () => { if (!built) { built = true; build().catch(console.error); } });
  // A login as another user rebuilds the screen for that user's rights (the result and the form stay).
  on("user", () => { if (built) build().catch(console.error); });
  // A language switch: the same form values and the same result, in the other language.
  onLang(() => { if (built) { build().then(() => { if (last) drawOverlay(); }).catch(console.error); } });
  on("as_of", () => { if (built) renderRules(); });
  return { map, showTab, drawNetwork };
}
