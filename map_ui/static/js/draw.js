// Drawing a new place and moving/reshaping one, with Leaflet-Geoman (its toolbar hidden; labelled buttons instead).
/* global L */
import { t, lang, onLang } from "./i18n.js";
import { map } from "./map.js";
import { saveEdit, baseValues } from "./place-edit.js";
import { current } from "./place-panel.js";
import { on, emit } from "./state.js";
import { el, $, toast, showTab } from "./ui.js";
import { ApiError } from "./api.js";
import "./i18n/officer.js";

const SHAPES = { point: "Marker", line: "Line", polygon: "Polygon" };
const sketch = L.featureGroup().addTo(map);
let editing = null; // the layer being reshaped

function setGeomanLang() {
  if (map.pm && map.pm.setLang) map.pm.setLang(lang() === "zh" ? "zh" : "en");
}

export function startDraw(kind) {
  stopAll();
  showTab("place");
  document.body.dataset.drawing = kind;
  $("#draw-status").textContent = t(`draw_hint_${kind}`);
  map.pm.enableDraw(SHAPES[kind], { snappable: false, continueDrawing: false, markerStyle: { draggable: true } });
}

function stopAll() {
  if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  if (editing) { editing.pm.disable(); editing = null; }
  sketch.clearLayers();
  delete document.body.dataset.drawing;
  const s = $("#draw-status");
  if (s) s.textContent = "";
  $("#reshape-bar").hidden = true;
}

function onCreate(e) {
  if (!document.body.dataset.drawing) return; // a shape drawn by another screen (区划调整), not a new place
  const layer = e.layer;
  map.removeLayer(layer);
  sketch.clearLayers();
  layer.addTo(sketch);
  delete document.body.dataset.drawing;
  $("#draw-status").textContent = "";
  emit("place:new", { geometry: layer.toGeoJSON().geometry });
}

/** Put the selected place's geometry into edit mode: drag a point, move vertices of a line or area. */
function startReshape(cur) {
  stopAll();
  const f = cur.feature;
  if (!f || !f.geometry) return;
  const group = L.geoJSON(f.geometry, { pointToLayer: (_g, ll) => L.marker(ll, { draggable: true, pane: "points" }) });
  const layer = group.getLayers()[0];
  layer.addTo(sketch);
  layer.pm.enable({ allowSelfIntersection: false, draggable: true });
  editing = layer;
  const bar = $("#reshape-bar");
  bar.hidden = false;
  const ll = $("#reshape-lonlat");
  const isPoint = f.geometry.type === "Point";
  ll.closest(".row").hidden = !isPoint;
  const hint = bar.querySelector(".hint");
  hint.dataset.i18n = isPoint ? "geometry_edit_hint" : "reshape_hint_shape"; // kept on a language switch
  hint.textContent = t(hint.dataset.i18n);
  if (isPoint) {
    ll.value = f.geometry.coordinates.map((x) => x.toFixed(6)).join(", ");
    layer.on("pm:dragend pm:edit drag", () => {
      const p = layer.getLatLng();
      ll.value = `${p.lng.toFixed(6)}, ${p.lat.toFixed(6)}`;
    });
  }
  $("#reshape-reason").value = "";
  $("#reshape-reason").focus();
  showTab("place");
}

function reshapedGeometry() {
  const f = current.feature;
  if (f.geometry.type === "Point") {
    const [lon, lat] = $("#reshape-lonlat").value.split(",").map((x) => Number(x.trim()));
    return { type: "Point", coordinates: [lon, lat] };
  }
  const g = editing.toGeoJSON().geometry;
  // Keep the stored type: a MultiPolygon with one part comes back from Leaflet as a Polygon.
  if (f.geometry.type === "MultiPolygon" && g.type === "Polygon") return { type: "MultiPolygon", coordinates: [g.coordinates] };
  if (f.geometry.type === "MultiLineString" && g.type === "LineString") return { type: "MultiLineString", coordinates: [g.coordinates] };
  return g;
}

async function saveReshape(ev) {
  ev.preventDefault();
  const reason = $("#reshape-reason").value.trim();
  const error = $("#reshape-error");
  error.textContent = "";
  if (!reason) { error.textContent = t("reason_required"); $("#reshape-reason").focus(); return; }
  const p = current.feature.properties;
  try {
    const geometry = reshapedGeometry();
    // The attributes as shown: a 412 then lists only what someone else changed, next to the new shape.
    const base = baseValues(p);
    await saveEdit({ id: p.id, etag: current.etag, base, mine: base, extra: { mode: "correction", reason }, geometry });
    stopAll();
  } catch (e) {
    error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
  }
}

export function initDraw() {
  // Vertex handles above the place labels and markers ("points" pane, 610): a label must not hide a vertex.
  map.createPane("pm-edit").style.zIndex = "640";
  map.pm.setGlobalOptions({ panes: { vertexPane: "pm-edit", layerPane: "overlayPane", markerPane: "markerPane" } });
  map.on("pm:create", onCreate);
  setGeomanLang();
  onLang(setGeomanLang);
  document.querySelectorAll("[data-draw]").forEach((b) => b.addEventListener("click", () => startDraw(b.dataset.draw)));
  $("#draw-cancel").addEventListener("click", stopAll);
  $("#reshape-bar").addEventListener("submit", saveReshape);
  $("#reshape-cancel").addEventListener("click", stopAll);
  on("place:reshape", startReshape);
  on("place:form-closed", () => sketch.clearLayers());
  on("place:shown", () => { if (editing) stopAll(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && (document.body.dataset.drawing || editing)) stopAll(); });
}
