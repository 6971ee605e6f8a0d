// Thematic layers everyone can see: boundary lines, markers, facilities by kind, cemeteries and parcels,
// coverage results. Each loads by view (bbox) where it can; each is greyed out until its API exists.
/* global L */
import { api } from "./api.js";
import { t, lang, onLang } from "./i18n.js";
import { map, registerOverlay, viewBbox, overlayVisible } from "./map.js";
import { state, on, emit, has, can } from "./state.js";
import { el, table, fmt, text } from "./ui.js";
import "./i18n/planner.js"; // the planner words of the popups' edit buttons

export const layers = {
  boundaries: L.featureGroup(),
  markers: L.featureGroup(),
  facilities: L.featureGroup(),
  cemeteries: L.featureGroup(),
  coverage: L.featureGroup(),
};

export const MARKER_COLORS = { intact: "#2f855a", damaged: "#dd6b20", moved: "#c53030", missing: "#718096", removed: "#a0aec0" };
const KIND_COLORS = ["#805ad5", "#d53f8c", "#3182ce", "#38a169", "#dd6b20", "#2c7a7b", "#b7791f", "#e53e3e", "#4a5568", "#319795", "#6b46c1", "#975a16"];
export let facilityKinds = [];
const shownKinds = new Set();

export function kindColor(id) {
  const i = facilityKinds.findIndex((k) => k.id === id);
  return KIND_COLORS[(i < 0 ? 0 : i) % KIND_COLORS.length];
}

export function kindName(id) {
  const k = facilityKinds.find((x) => x.id === id);
  if (!k) return id;
  return lang() === "zh" ? k.name_zh : k.name_en || k.name_zh;
}

function props(p, keys) {
  return table(keys.filter((k) => p[k] !== undefined && p[k] !== null).map((k) => [t(`fields.${k}`) !== k ? t(`fields.${k}`) : k, p[k]]));
}

// -- boundary lines and markers (issue 4) --------------------------------------------------------------
export async function loadBoundaries() {
  if (!overlayVisible("boundaries")) return;
  // Lines are few (one per pair of neighbours): the county's own and those of its townships, per as_of.
  const [township, county] = await Promise.all([
    api("/api/v1/boundaries", { params: { level: "township", parent: "340122", as_of: state.asOf } }),
    api("/api/v1/boundaries", { params: { level: "county", code: "340122", as_of: state.asOf } }),
  ]);
  layers.boundaries.clearLayers();
  // County lines dark red (bright red when the joint inspection is overdue); township lines thin orange.
  const style = (f) => (f.properties.level === "county"
    ? { color: f.properties.inspection_overdue ? "#e53e3e" : "#742a2a", weight: 4, opacity: 0.8, dashArray: f.properties.outer ? "2 6" : null }
    : { color: "#dd6b20", weight: 1.5, opacity: 0.7, dashArray: f.properties.outer ? "2 6" : null });
  for (const fc of [township.data, county.data]) {
    L.geoJSON(fc, {
      pane: "lines", style,
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(text(`${p.name || p.line_id}（${p.left_name || p.left_code} | ${p.right_name || p.right_code || "—"}）`), { sticky: true });
        l.on("click", () => emit("line:pick", { id: p.line_id, feature: f }));
      },
    }).addTo(layers.boundaries);
  }
  emit("boundaries:loaded", { township: township.data, county: county.data });
}

export async function loadMarkers() {
  if (!overlayVisible("markers")) return;
  // The markers API filters by line, not by bbox: a county has a few hundred markers at most.
  const { data } = await api("/api/v1/boundary-markers", { params: { as_of: state.asOf, limit: 5000 } });
  layers.markers.clearLayers();
  L.geoJSON(data, {
    pointToLayer: (f, ll) => L.circleMarker(ll, {
      pane: "points", radius: 5, weight: 2, color: "#1a202c", fillColor: MARKER_COLORS[f.properties.status] || "#718096", fillOpacity: 1,
    }),
    onEachFeature: (f, l) => {
      l.bindTooltip(text(`${f.properties.marker_no} ${f.properties.status_zh || f.properties.status || ""}`));
      l.bindPopup(() => props(f.properties, ["marker_no", "line_id", "status", "survey_method", "precision_m", "surveyed_on", "material", "note"]));
    },
  }).addTo(layers.markers);
}

// -- facilities by kind, cemeteries with parcels (issue 5) ----------------------------------------------
export async function loadFacilityKinds() {
  if (!facilityKinds.length) {
    const { data } = await api("/api/v1/facilities/kinds");
    facilityKinds = data;
    if (!shownKinds.size) facilityKinds.forEach((k) => shownKinds.add(k.id));
  }
  return facilityKinds;
}

let facilitiesLoad = 0; // the newest load: an older answer arriving later is dropped

export async function loadFacilities() {
  if (!overlayVisible("facilities")) return;
  const load = ++facilitiesLoad;
  await loadFacilityKinds();
  const kinds = [...shownKinds];
  const data = kinds.length
    ? (await api("/api/v1/facilities", { params: { bbox: viewBbox(), as_of: state.asOf, kind: kinds.join(","), limit: 5000 } })).data
    : null;
  // Cleared only now, by the newest load: two loads at once (a layer switched on and the view moved) each
  // cleared before their answers and then both drew theirs — every facility twice, and maybe the older view.
  if (load !== facilitiesLoad) return;
  layers.facilities.clearLayers();
  if (!data) return;
  L.geoJSON(data, {
    pointToLayer: (f, ll) => L.circleMarker(ll, {
      pane: "points", radius: 6, weight: 1.5, color: "#fff", fillColor: kindColor(f.properties.kind), fillOpacity: 0.95,
      className: `facility k-${f.properties.kind} f-${f.properties.id}`,
    }),
    onEachFeature: (f, l) => {
      const p = f.properties;
      l.bindTooltip(text(`${p.name}（${kindName(p.kind)}）`));
      // Planners get an edit button (planner-edit.js opens the form with the facility's ETag).
      l.bindPopup(() => el("div", {}, el("h3", {}, p.name), props(p, ["kind_name", "division_name", "capacity", "staff", "opened_on", "status", "source"]),
        editButton("edit-facility", "edit_facility", () => emit("facility:edit", { id: p.id }))));
    },
  }).addTo(layers.facilities);
  renderKindFilter();
}

function renderKindFilter() {
  const box = document.getElementById("facility-kinds");
  if (!box) return;
  box.replaceChildren(el("legend", {}, t("lyr_facilities")), ...facilityKinds.map((k) => el("label", { class: "kind" },
    el("input", { type: "checkbox", value: k.id, checked: shownKinds.has(k.id), onchange: (e) => {
      if (e.target.checked) shownKinds.add(k.id); else shownKinds.delete(k.id);
      loadFacilities();
    } }),
    el("span", { class: "dot", style: `background:${kindColor(k.id)}`, "aria-hidden": "true" }), " ", kindName(k.id))));
}

export async function loadCemeteries() {
  if (!overlayVisible("cemeteries")) return;
  const { data } = await api("/api/v1/cemeteries", { params: { as_of: state.asOf } });
  layers.cemeteries.clearLayers();
  const parcelColors = { existing: "#4a5568", planned_extension: "#d69e2e", approved: "#38a169", rejected: "#c53030" };
  for (const f of data.features) {
    const p = f.properties;
    L.geoJSON({ type: "FeatureCollection", features: p.parcels || [] }, {
      pane: "divisions",
      style: (pf) => ({ color: parcelColors[pf.properties.status] || "#4a5568", weight: 1.5, fillOpacity: 0.35,
        dashArray: pf.properties.status === "planned_extension" ? "4 3" : null, className: `parcel parcel-${pf.properties.id}` }),
      onEachFeature: (pf, l) => l.bindPopup(() => el("div", {}, el("h3", {}, `${p.name} · ${pf.properties.name || pf.properties.id}`),
        table([["status", pf.properties.status], ["m²", pf.properties.area_m2], ["亩", pf.properties.area_mu], ["plots", pf.properties.plots_capacity]]),
        editButton("edit-parcel", "edit_parcel", () => emit("parcel:edit", { id: pf.properties.id, cemeteryId: p.id })))),
    }).addTo(layers.cemeteries);
    if (f.geometry) {
      L.geoJSON(f, {
        pointToLayer: (_g, ll) => L.marker(ll, { pane: "points", icon: L.divIcon({ className: `cemetery-icon cemetery-${p.id}`, html: text("墓"), iconSize: [18, 18] }), title: p.name }),
        onEachFeature: (_g, l) => l.bindPopup(() => el("div", {}, el("h3", {}, p.name),
          table([["type", p.cemetery_type], [t("fields.capacity"), p.capacity_plots], ["occupied", p.occupied_plots], ["eco", `${p.eco_burials ?? "—"} (${p.eco_share ?? "—"})`],
            ["亩", fmt(p.area_mu_by_status)], ["served", (p.served_townships || []).map((x) => x.name).join("、")]]),
          editButton("edit-cemetery", "edit_cemetery", () => emit("cemetery:edit", { id: p.id })))),
      }).addTo(layers.cemeteries);
    }
  }
}

/** A popup's edit button, for planners only (the server checks the role again). */
function editButton(cls, label, onclick) {
  if (!can("plan")) return null;
  return el("div", { class: "actions" }, el("button", { type: "button", class: cls, onclick: (e) => { map.closePopup(); onclick(e); } }, t(label)));
}

function renderLegend() {
  const box = document.getElementById("legend-extra");
  if (!box) return;
  box.replaceChildren();
  if (has("markers")) {
    box.append(el("fieldset", { class: "legend-markers" }, el("legend", {}, t("lyr_markers")),
      Object.entries(MARKER_COLORS).map(([s, c]) => el("span", { class: "kind" },
        el("span", { class: "status-dot", style: `background:${c}`, "aria-hidden": "true" }), " ", t(`marker.${s}`)))));
  }
  if (has("boundaries")) {
    box.append(el("p", { class: "note" }, el("span", { class: "sw", style: "border:0;border-top:4px solid #e53e3e;height:0" }), " ", t("overdue_line")));
  }
}

export function initOverlays() {
  const f = state.config.features || {};
  registerOverlay({ id: "boundaries", label: "lyr_boundaries", layer: layers.boundaries, available: Boolean(f.boundaries), onToggle: (v) => v && loadBoundaries() });
  registerOverlay({ id: "markers", label: "lyr_markers", layer: layers.markers, available: Boolean(f.markers), onToggle: (v) => v && loadMarkers() });
  registerOverlay({ id: "facilities", label: "lyr_facilities", layer: layers.facilities, available: Boolean(f.facilities), visible: false,
    onToggle: (v) => { document.getElementById("facility-kinds").hidden = !v; if (v) loadFacilities(); } });
  registerOverlay({ id: "cemeteries", label: "lyr_cemeteries", layer: layers.cemeteries, available: Boolean(f.cemeteries), onToggle: (v) => v && loadCemeteries() });
  // Hiding the analysis result from the layer list is like clearing it for the other layers (clusters come back).
  registerOverlay({ id: "coverage", label: "lyr_coverage", layer: layers.coverage, available: Boolean(f.coverage),
    onToggle: (v) => emit("analysis", { active: v && layers.coverage.getLayers().length > 0 }) });
  const safe = (fn) => () => fn().catch((e) => console.warn(e));
  on("view", () => { if (has("facilities")) safe(loadFacilities)(); });
  const whole = () => {
    if (has("boundaries")) safe(loadBoundaries)();
    if (has("markers")) safe(loadMarkers)();
    if (has("cemeteries")) safe(loadCemeteries)();
  };
  on("as_of", whole);
  whole();
  onLang(renderKindFilter);
  onLang(renderLegend);
  renderLegend();
  return map;
}
