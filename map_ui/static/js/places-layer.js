// Place names on the map, loaded by view: clustered when zoomed out, labelled with pinyin when zoomed in.
/* global L */
import { api } from "./api.js";
import { t } from "./i18n.js";
import { map, registerOverlay, viewBbox, overlayVisible } from "./map.js";
import { state, on, emit } from "./state.js";
import { el } from "./ui.js";

const LIMIT = 2000;
const LABEL_ZOOM = 15;
const cluster = L.markerClusterGroup({
  disableClusteringAtZoom: LABEL_ZOOM,
  maxClusterRadius: 40,
  showCoverageOnHover: false,
  chunkedLoading: true,
  clusterPane: "points",
});
const lines = L.featureGroup();
const selected = L.featureGroup().addTo(map);
let last = { bbox: null, asOf: null, complete: false };
export const placeStats = { returned: 0, matched: 0 };

/** A point to hang the label on: the point itself, the middle vertex of a line, the centre of an area. */
function anchor(geometry) {
  if (!geometry) return null;
  if (geometry.type === "Point") return L.latLng(geometry.coordinates[1], geometry.coordinates[0]);
  if (geometry.type === "LineString") {
    const c = geometry.coordinates[Math.floor(geometry.coordinates.length / 2)];
    return L.latLng(c[1], c[0]);
  }
  const b = L.geoJSON(geometry).getBounds();
  return b.isValid() ? b.getCenter() : null;
}

function labelMarker(f) {
  const p = f.properties;
  const ll = anchor(f.geometry);
  if (!ll) return null;
  const kind = f.geometry.type === "Point" ? "pt" : f.geometry.type.includes("Line") ? "ln" : "pg";
  const icon = L.divIcon({
    className: `place-label ${kind} st-${p.status}`,
    // Nodes, not an HTML string: the name and its pinyin are stored data.
    html: el("span", {}, el("span", { class: "dot" }), el("span", { class: "lbl" }, el("b", {}, p.name), el("i", {}, p.romanized || ""))),
    iconSize: null,
    iconAnchor: [5, 5],
  });
  const m = L.marker(ll, { icon, title: `${p.name} ${p.romanized || ""}`, alt: p.name, keyboard: true, pane: "points" });
  m.feature = f;
  m.on("click", () => emit("place:open", { id: p.id }));
  m.on("keypress", (e) => { if (e.originalEvent.key === "Enter") emit("place:open", { id: p.id }); });
  return m;
}

function contains(outer, inner) {
  if (!outer) return false;
  const a = outer.split(",").map(Number);
  const b = inner.split(",").map(Number);
  return a[0] <= b[0] && a[1] <= b[1] && a[2] >= b[2] && a[3] >= b[3];
}

export async function loadPlaces(force = false) {
  if (!overlayVisible("places")) return;
  const bbox = viewBbox(0.3);
  // A smaller view inside a completely loaded one needs no new request.
  if (!force && last.complete && last.asOf === state.asOf && contains(last.bbox, viewBbox(0))) return;
  const { data } = await api("/api/v1/places", { params: { bbox, as_of: state.asOf, limit: LIMIT } });
  cluster.clearLayers();
  lines.clearLayers();
  const markers = [];
  for (const f of data.features) {
    const m = labelMarker(f);
    if (m) markers.push(m);
    if (f.geometry && f.geometry.type.includes("LineString")) {
      L.geoJSON(f, { pane: "lines", style: { color: "#3182ce", weight: 2, opacity: 0.8 } })
        .on("click", () => emit("place:open", { id: f.properties.id }))
        .addTo(lines);
    }
  }
  cluster.addLayers(markers);
  placeStats.returned = data.numberReturned;
  placeStats.matched = data.numberMatched;
  last = { bbox, asOf: state.asOf, complete: data.numberMatched <= data.numberReturned };
  emit("places:loaded", placeStats);
  const status = document.getElementById("places-status");
  if (status) status.textContent = last.complete ? "" : t("truncated", { n: data.numberReturned });
}

/** Draw the selected place's geometry on top (polygons and lines included). */
export function highlight(feature) {
  selected.clearLayers();
  if (!feature || !feature.geometry) return;
  L.geoJSON(feature, {
    pane: "lines",
    style: { color: "#d69e2e", weight: 4, fillOpacity: 0.12 },
    pointToLayer: (_f, ll) => L.circleMarker(ll, { pane: "points", radius: 10, color: "#d69e2e", weight: 3, fill: false }),
    interactive: false,
  }).addTo(selected);
}

function zoomClass() {
  map.getContainer().classList.toggle("labels-on", map.getZoom() >= LABEL_ZOOM);
}

/**
 * While an analysis result is drawn (the planner emits "analysis" {active}), the cluster bubbles are hidden
 * and single place markers dimmed, so they do not sit on top of the result; both come back when it is cleared.
 */
function analysisShown(e) {
  const active = Boolean(e && e.active);
  map.getContainer().classList.toggle("analysis-active", active);
  map.getContainer().dataset.analysis = active ? "on" : "off";
}

export function initPlacesLayer() {
  on("analysis", analysisShown);
  registerOverlay({ id: "places", label: "lyr_places", layer: cluster, onToggle: (v) => v && loadPlaces(true) });
  registerOverlay({ id: "place_lines", label: "lyr_place_lines", layer: lines });
  map.on("zoomend", zoomClass);
  zoomClass();
  on("view", () => loadPlaces().catch(console.error));
  on("as_of", () => { last.complete = false; });
  on("place:changed", () => loadPlaces(true).catch(console.error));
}
