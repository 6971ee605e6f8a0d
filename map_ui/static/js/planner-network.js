// The road network that network-distance coverage follows, drawn on the map (an overlay of its own), so a planner
// can see why fewer villages are reached along the roads than within the same straight radius.
/* global L */
import { api } from "./api.js";
import { t, onLang, term } from "./i18n.js";
import { networkTitle } from "./i18n/planner.js";
import { registerOverlay, overlayVisible, showOverlay } from "./map.js";
import { has } from "./state.js";
import { el, fmt, text } from "./ui.js";

export const networkLayer = L.featureGroup();
const LIMIT = 5000;
let shown = null; // {name, data}
let wanted = null; // the network name the planner picked

function noteBox() {
  return document.getElementById("network-note");
}

function renderNote() {
  const box = noteBox();
  if (!box) return;
  if (!shown || !overlayVisible("road_network")) { box.replaceChildren(); return; }
  const d = shown.data;
  const km = d.features.reduce((s, f) => s + (f.properties.length_m || 0), 0) / 1000;
  box.replaceChildren(
    el("span", { class: "sw road", "aria-hidden": "true" }), " ",
    t("network_note", { name: networkTitle(d.network), edges: fmt(d.numberMatched), km: km.toFixed(1), source: term(d.network.source || "") }),
    d.truncated ? t("network_truncated", { n: fmt(d.numberReturned) }) : "",
  );
}

/** Draw network `name` (all its edges up to LIMIT: the demo's is a few hundred). */
export async function drawNetwork(name) {
  wanted = name || wanted;
  if (!overlayVisible("road_network")) return null;
  if (!wanted) {  // switched on from the layer list before the planner picked one: the first network
    const { data: nets } = await api("/api/v1/coverage/networks");
    if (!nets.length) return null;
    wanted = nets[0].name;
  }
  if (shown && shown.name === wanted) { renderNote(); return shown.data; }
  const box = noteBox();
  if (box) box.textContent = t("network_loading");
  const { data } = await api(`/api/v1/coverage/networks/${encodeURIComponent(wanted)}/edges`, { params: { limit: LIMIT } });
  networkLayer.clearLayers();
  L.geoJSON(data, {
    pane: "coverage",
    style: (f) => ({ color: "#4a5568", weight: 1.5, opacity: 0.75, dashArray: f.properties.oneway ? "6 4" : null, className: "road-edge" }),
    onEachFeature: (f, l) => {
      const p = f.properties;
      l.bindTooltip(text(`${p.name || t("network")} · ${fmt(p.length_m)} m`), { sticky: true });
    },
  }).addTo(networkLayer);
  shown = { name: wanted, data };
  document.body.dataset.roadNetwork = wanted;
  renderNote();
  return data;
}

/** Switch the overlay on or off (the planner's checkbox and the layer list do the same). */
export function setNetworkVisible(visible, name) {
  if (name) wanted = name;
  if (overlayVisible("road_network") !== visible) showOverlay("road_network", visible);
  else if (visible) drawNetwork().catch((e) => console.warn(e));
  renderNote();
}

export function initPlannerNetwork() {
  registerOverlay({
    id: "road_network", label: "lyr_road_network", layer: networkLayer, available: has("coverage"), visible: false,
    onToggle: (v) => {
      const cb = document.getElementById("cov-show-network");
      if (cb) cb.checked = v;
      if (v) drawNetwork().catch((e) => console.warn(e));
      renderNote();
    },
  });
  onLang(renderNote);
}

export { renderNote as renderNetworkNote };
