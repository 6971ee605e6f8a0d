// The Leaflet map, its base maps (none, or Tianditu when a key is configured) and the layer list.
/* global L */
import { t, onLang } from "./i18n.js";
import "./i18n/map.js";
import { state, on, emit } from "./state.js";
import { el, debounce, put } from "./ui.js";
import { localizeLeaflet } from "./leaflet-i18n.js";

export const FEIDONG_BOUNDS = [[31.62, 117.22], [32.18, 117.88]];

export const map = L.map("map", {
  zoomControl: true,
  keyboard: true,
  preferCanvas: false,
  minZoom: 7,
  maxZoom: 18,
  // Geoman's own toolbar stays hidden; the side panel has labelled buttons for drawing.
}).fitBounds(FEIDONG_BOUNDS);
L.control.scale({ imperial: false }).addTo(map);

localizeLeaflet(map); // zoom buttons and attribution prefix in the interface language

// A login keeps the view the user has (they may have zoomed to where they are about to work); the view goes
// back to the whole county only when asked, with this button under the zoom buttons.
const HomeControl = L.Control.extend({
  options: { position: "topleft" },
  onAdd() {
    const box = L.DomUtil.create("div", "leaflet-bar home-control");
    const a = L.DomUtil.create("a", "", box);
    a.href = "#";
    a.id = "map-home";
    a.setAttribute("role", "button");
    const label = () => {
      a.textContent = t("map_home");
      a.title = t("map_home_hint");
      a.setAttribute("aria-label", t("map_home_hint"));
    };
    label();
    onLang(label);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.on(a, "click", (e) => { L.DomEvent.preventDefault(e); map.fitBounds(FEIDONG_BOUNDS); });
    return box;
  },
});
new HomeControl().addTo(map);

// Panes keep the order readable: polygons under coverage under lines under points.
for (const [name, z] of [["divisions", 350], ["coverage", 380], ["lines", 420], ["points", 610]]) {
  map.createPane(name).style.zIndex = String(z);
}

// -- base maps -----------------------------------------------------------------------------------------
// Tianditu WMTS in the web-mercator matrix set "w": CGCS2000 ≈ WGS84 at map scale, so our data line up
// (domain.md §7). GCJ-02 tiles (Amap, Tencent) and BD-09 (Baidu) are deliberately offset: never offered.
function tianditu(layer, key) {
  return L.tileLayer(
    `https://t{s}.tianditu.gov.cn/${layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=${layer}` +
      `&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=${encodeURIComponent(key)}`,
    { subdomains: "01234567", maxZoom: 18, attribution: t("tdt_attribution") },
  );
}

// The Tianditu credit in the interface language: swapped in the attribution control on a language switch.
onLang(() => {
  for (const group of [bases.tdt_vec, bases.tdt_img]) {
    if (!group) continue;
    group.eachLayer((layer) => {
      const on = map.hasLayer(layer);
      if (on) map.attributionControl.removeAttribution(layer.options.attribution);
      layer.options.attribution = t("tdt_attribution");
      if (on) map.attributionControl.addAttribution(layer.options.attribution);
    });
  }
});

const bases = { none: L.layerGroup() };
let currentBase = "none";

export function setupBaseMaps() {
  const cfg = state.config.tianditu;
  if (cfg && cfg.key) {
    bases.tdt_vec = L.layerGroup([tianditu("vec", cfg.key), tianditu("cva", cfg.key)]);
    bases.tdt_img = L.layerGroup([tianditu("img", cfg.key), tianditu("cia", cfg.key)]);
    currentBase = sessionStorage.getItem("diming.base") || "tdt_vec";
    if (!bases[currentBase]) currentBase = "tdt_vec";
  }
  bases[currentBase].addTo(map);
  document.body.dataset.base = currentBase;
  renderLayerList();
}

export function setBase(id) {
  if (!bases[id] || id === currentBase) return;
  map.removeLayer(bases[currentBase]);
  currentBase = id;
  bases[id].addTo(map);
  sessionStorage.setItem("diming.base", id);
  document.body.dataset.base = id;
}

// -- overlays --------------------------------------------------------------------------------------------
const overlays = []; // {id, label, layer, available, swatch, onToggle}

/** Register an overlay in the layer list; `available` false greys it out (its API is not there yet). */
export function registerOverlay(spec) {
  const existing = overlays.find((o) => o.id === spec.id);
  if (existing) Object.assign(existing, spec);
  else overlays.push({ visible: true, available: true, ...spec });
  const o = overlays.find((x) => x.id === spec.id);
  if (o.available && o.visible) o.layer.addTo(map);
  else map.removeLayer(o.layer);
  renderLayerList();
  return o;
}

export function overlayVisible(id) {
  const o = overlays.find((x) => x.id === id);
  return Boolean(o && o.available && o.visible);
}

export function showOverlay(id, visible = true) {
  const o = overlays.find((x) => x.id === id);
  if (!o || !o.available) return;
  o.visible = visible;
  if (visible) o.layer.addTo(map);
  else map.removeLayer(o.layer);
  if (o.onToggle) o.onToggle(visible);
  renderLayerList();
  emit("overlays:changed", { id, visible });
}

export function renderLayerList() {
  const box = document.getElementById("layer-list");
  if (!box) return;
  const hasKey = Boolean(state.config.tianditu && state.config.tianditu.key);
  const baseIds = hasKey ? ["none", "tdt_vec", "tdt_img"] : ["none"];
  put(box,
    el("fieldset", { class: "bases" },
      el("legend", {}, t("base_map")),
      baseIds.map((id) => el("label", {},
        el("input", { type: "radio", name: "base", value: id, checked: id === currentBase, onchange: () => setBase(id) }),
        " ", t(`base_${id}`))),
      el("p", { class: "note" }, t(hasKey ? "base_note_key" : "base_note_nokey")),
      el("p", { class: "note gcj", title: t("gcj_note") }, el("strong", {}, t("gcj_title")), " ", t("gcj_note"))),
    el("fieldset", { class: "overlays" },
      el("legend", {}, t("overlays")),
      overlays.map((o) => el("label", { class: o.available ? "" : "unavailable", dataset: { layer: o.id } },
        el("input", {
          type: "checkbox", checked: o.available && o.visible, disabled: !o.available,
          onchange: (e) => showOverlay(o.id, e.target.checked),
        }),
        el("span", { class: `sw ${o.swatch || o.id}`, "aria-hidden": "true" }),
        " ", t(o.label), o.available ? "" : ` ${t("lyr_unavailable")}`))),
  );
}

onLang(renderLayerList);

// -- view-driven loading ----------------------------------------------------------------------------------
/** The current view as minlon,minlat,maxlon,maxlat, padded by `pad` of its size. */
export function viewBbox(pad = 0.15) {
  const b = map.getBounds().pad(pad);
  const r = (x) => x.toFixed(5);
  return [r(b.getWest()), r(b.getSouth()), r(b.getEast()), r(b.getNorth())].join(",");
}

const fireView = debounce(() => emit("view", map.getBounds()), 250);
map.on("moveend", fireView);
on("as_of", () => emit("view", map.getBounds()));

/** Zoom to a GeoJSON geometry (points get a fixed zoom). */
export function zoomTo(geometry, maxZoom = 15) {
  if (!geometry) return;
  const layer = L.geoJSON(geometry);
  const b = layer.getBounds();
  if (!b.isValid()) return;
  if (geometry.type === "Point") map.setView(b.getCenter(), Math.max(map.getZoom(), maxZoom));
  else map.fitBounds(b, { maxZoom, padding: [30, 30] });
}
