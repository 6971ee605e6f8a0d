// Divisions in force on the as_of date: county outlines and townships (small, loaded whole), villages by view.
/* global L */
import { api, getToken } from "./api.js";
import { t } from "./i18n.js";
import { initLabels, labelLayer, setDivisionLabels } from "./labels.js";
import { map, registerOverlay, viewBbox, overlayVisible } from "./map.js";
import { state, on, has } from "./state.js";
import { el, table, text } from "./ui.js";

const COUNTY = "340122";
const county = L.featureGroup();
const township = L.featureGroup();
const village = L.featureGroup();
let counts = { county: 0, township: 0, village: 0 };

function isSynthetic(p) {
  return String(p.source || "").toLowerCase().includes("synthetic");
}

function popup(p) {
  const f = (k) => t(`fields.${k}`);
  return el("div", { class: "division-popup" },
    el("h3", {}, p.name),
    isSynthetic(p) ? el("p", { class: "synthetic" }, t("synthetic")) : null,
    table(["code", "level", "kind", "parent_code", "area_km2", "population", "source", "valid_from", "valid_to", "version"]
      .filter((k) => p[k] !== undefined).map((k) => [f(k), p[k]])));
}

async function divisions(params) {
  const { data } = await api("/api/v1/divisions", { params: { ...params, as_of: state.asOf } });
  return data;
}

export async function loadDivisions() {
  const [counties, townships] = await Promise.all([
    divisions({ level: "county" }),
    divisions({ level: "township", parent: COUNTY }),
  ]);
  county.clearLayers();
  township.clearLayers();
  L.geoJSON(counties, {
    pane: "divisions",
    style: (f) => ({ color: "#8b1a1a", weight: f.properties.code === COUNTY ? 3 : 1.5, fill: false }),
    onEachFeature: (f, l) => { l.bindPopup(() => popup(f.properties)); l.bindTooltip(text(f.properties.name), { sticky: true }); },
  }).addTo(county);
  L.geoJSON(townships, {
    pane: "divisions",
    style: () => ({ color: "#2b6cb0", weight: 1.2, dashArray: "6 4", fillOpacity: 0.06 }),
    onEachFeature: (f, l) => {
      l.bindPopup(() => popup(f.properties));
      l.bindTooltip(text(`${f.properties.name}（${t("synthetic")}）`), { sticky: true });
    },
  }).addTo(township);
  setDivisionLabels(counties, townships);
  counts = { ...counts, county: counties.numberReturned, township: townships.numberReturned };
  return counts;
}

// With the OGC API on the server, villages come as vector tiles (MVT via Leaflet.VectorGrid): only the
// tiles in view are fetched. Without it, they come as GeoJSON for the view's bounding box.
let villageTiles = null;

function tileUrl() {
  return `/ogc/collections/villages/tiles/WebMercatorQuad/{z}/{y}/{x}?datetime=${state.asOf}`;
}

function villageTileLayer() {
  const token = getToken();
  const layer = L.vectorGrid.protobuf(tileUrl(), {
    pane: "points",
    interactive: true,
    maxNativeZoom: 16,
    fetchOptions: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
    vectorTileLayerStyles: {
      villages: { radius: 3, weight: 1, color: "#2f855a", fill: true, fillColor: "#48bb78", fillOpacity: 0.8 },
    },
  });
  layer.on("click", (e) => {
    const p = e.layer.properties || {};
    L.popup().setLatLng(e.latlng).setContent(popup({ ...p, source: p.source || "synthetic" })).openOn(map);
  });
  return layer;
}

async function loadVillages() {
  if (has("ogc") && L.vectorGrid) {
    if (!villageTiles) { villageTiles = villageTileLayer(); villageTiles.addTo(village); }
    else villageTiles.setUrl(tileUrl());
    return;
  }
  village.clearLayers();
  if (!overlayVisible("village")) return;
  const data = await divisions({ level: "village", bbox: viewBbox(), limit: 2000 });
  L.geoJSON(data, {
    pointToLayer: (_f, ll) => L.circleMarker(ll, { pane: "points", radius: 3, color: "#2f855a", weight: 1, fillOpacity: 0.8 }),
    onEachFeature: (f, l) => { l.bindPopup(() => popup(f.properties)); l.bindTooltip(text(f.properties.name)); },
  }).addTo(village);
  counts.village = data.numberReturned;
}

export function divisionCounts() {
  return counts;
}

export function initDivisions() {
  initLabels();
  registerOverlay({ id: "county", label: "lyr_county", layer: county });
  registerOverlay({ id: "township", label: "lyr_township", layer: township });
  registerOverlay({ id: "village", label: "lyr_village", layer: village, visible: false, onToggle: () => loadVillages() });
  registerOverlay({ id: "labels", label: "lyr_labels", layer: labelLayer, swatch: "labels" });
  on("view", () => { if (!has("ogc")) loadVillages().catch(console.error); });
  on("as_of", () => { if (has("ogc") && villageTiles) villageTiles.setUrl(tileUrl()); });
  on("as_of", () => loadDivisions().catch(console.error));
  return map;
}
