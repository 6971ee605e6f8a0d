// A patrol team's edits of one boundary marker: its status (完好/损坏/移位/丢失/撤除) and its position (drag on
// the map or type lon, lat). Both read the marker first (its ETag), save with If-Match, and on 412 open the
// same merge dialog as places (conflict.js): a concurrent edit by another team is shown, never overwritten.
/* global L */
import { api, ApiError } from "./api.js";
import { openConflict } from "./conflict.js";
import { t } from "./i18n.js";
import "./i18n/patrol.js";
import { map } from "./map.js";
import { MARKER_COLORS } from "./overlays.js";
import { state } from "./state.js";
import { el, fmt, toast, today, text } from "./ui.js";

export const MARKER_STATUSES = Object.keys(MARKER_COLORS);
const FIELDS = ["status", "note", "survey_method", "precision_m", "surveyed_on", "geometry"];
const dragGroup = L.featureGroup().addTo(map);

// The ring has a pane of its own, over the points pane (610) and the labels (615). A Leaflet marker's z-index is
// its layer y, which is negative for a point that was above the view when the zoom last changed; in the shared
// points pane that put the ring under the SVG of the line's marker circles, which then took the mouse: the map
// panned and the ring stayed where it was.
const RING_PANE = "patrol-ring";
map.createPane(RING_PANE).style.zIndex = "630";
// A drag is placed to the pixel: at zoom 17 a pixel is about 1 m here (16 m at the zoom the line view fits).
const MOVE_ZOOM = 17;

let held = null; // the marker as read when its edit opened: the base (and ETag) until the edit ends

/** The marker as the server has it now, with its ETag (the base of an edit). */
export async function readMarker(no) {
  const r = await api(`/api/v1/boundary-markers/${encodeURIComponent(no)}`, { params: { as_of: state.asOf } });
  return { feature: r.data, etag: r.etag };
}

// A form redrawn during an edit (a language switch) keeps the base it was opened with: reading again would
// take in another team's save unseen, and the conflict dialog would never show.
async function base(no) {
  if (held && held.no === no) return held;
  const got = await readMarker(no);
  held = { no, ...got };
  return held;
}

/** End the edit: the next form reads the marker again. */
export function forget() {
  held = null;
}

function values(feature) {
  const p = feature.properties;
  const out = {};
  for (const k of FIELDS) out[k] = k === "geometry" ? feature.geometry : p[k] ?? null;
  return out;
}

function display(key, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (key === "status") return t(`marker.${v}`);
  if (key === "geometry") return v.coordinates.map((x) => Number(x).toFixed(7)).join(", ");
  return fmt(v);
}

function lastSaved(feature) {
  return api(`/api/v1/boundary-markers/${encodeURIComponent(feature.properties.marker_no)}/history`)
    .then(({ data }) => data.changes[data.changes.length - 1]);
}

// The API takes a position as lon and lat; the dialog compares it as a GeoJSON point.
function toBody(merged) {
  const out = { ...merged };
  if (out.geometry) {
    [out.lon, out.lat] = out.geometry.coordinates;
  }
  delete out.geometry;
  return out;
}

/**
 * PATCH the changed fields (`mine` against `base`, both from values()) with If-Match `etag`; on 412 the merge
 * dialog. `extra` (reason, mode, agreement) goes with every save. `done(feature)` runs after a save.
 */
async function save({ no, base, mine, etag, extra, done }) {
  const changed = {};
  for (const k of FIELDS) if (k in mine && JSON.stringify(mine[k] ?? null) !== JSON.stringify(base[k] ?? null)) changed[k] = mine[k];
  if (!Object.keys(changed).length) { toast(t("nothing_changed")); return null; }
  const patch = (body, tag) => api(`/api/v1/boundary-markers/${encodeURIComponent(no)}`, {
    method: "PATCH", json: { ...extra, ...toBody(body) }, ifMatch: tag, params: { as_of: state.asOf },
  }).then(async (r) => {
    toast(t("marker_saved", { no, v: r.data.properties.version }), "ok");
    await done(r.data);
    return r;
  });
  try {
    return await patch(changed, etag);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 412 && e.body.current)) throw e;
    openConflict({
      base, mine: { ...base, ...mine }, current: e.body.current, etag: e.body.etag,
      fields: FIELDS.filter((k) => k !== "geometry" || "geometry" in mine), values, display, lastSaved,
      label: (k) => t(`mfields.${k}`), title: `${t("marker_conflict_title")} ${no}`,
      save: patch, reload: () => done(e.body.current),
    });
    return null;
  }
}

function row(id, label, control) {
  return el("div", { class: "row" }, el("label", { for: id }, label), control);
}

function markerOptions(markers, selected, blank = null) {
  return [
    blank ? el("option", { value: "" }, blank) : null,
    ...markers.map((f) => el("option", { value: f.properties.marker_no, selected: f.properties.marker_no === selected },
      `${f.properties.marker_no} · ${t(`marker.${f.properties.status}`)}`)),
  ].filter(Boolean);
}

/** The status form: pick a marker and its new status; the marker is read (with its ETag) when picked. */
export function statusForm({ markers, marker, onSaved, onCancel, onPick }) {
  let edit = null; // {no, feature, etag}
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { id: "marker-status-form", class: "patrol-form", novalidate: true },
    el("h3", {}, t("status_title")),
    row("ms-marker", t("marker_label"), el("select", { id: "ms-marker", name: "marker" }, markerOptions(markers, marker))),
    row("ms-status", t("new_status"), el("select", { id: "ms-status", name: "status" },
      MARKER_STATUSES.map((s) => el("option", { value: s }, t(`marker.${s}`))))),
    row("ms-note", t("notes"), el("textarea", { id: "ms-note", name: "note", rows: 2 })),
    row("ms-reason", t("reason"), el("input", { id: "ms-reason", name: "reason", required: true })),
    error,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "btn-marker-status" }, t("save")),
      el("button", { type: "button", onclick: onCancel }, t("cancel"))));
  const pick = async () => {
    const no = form.elements.namedItem("marker").value;
    edit = null;
    const got = await base(no);
    if (form.elements.namedItem("marker").value !== no) return; // picked another meanwhile
    edit = got;
    const p = got.feature.properties;
    if (!form.dataset.touched && !form.dataset.restored) {
      form.elements.namedItem("status").value = p.status;
      form.elements.namedItem("note").value = p.note || "";
    }
    form.dataset.ready = no;
  };
  form.elements.namedItem("marker").addEventListener("change", () => {
    delete form.dataset.touched;
    delete form.dataset.restored;
    forget();
    if (onPick) onPick(form.elements.namedItem("marker").value);
    pick().catch((e) => { error.textContent = String(e); });
  });
  for (const n of ["status", "note"]) form.elements.namedItem(n).addEventListener("input", () => { form.dataset.touched = "1"; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const reason = form.elements.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); form.elements.namedItem("reason").focus(); return; }
    if (!edit) return;
    const base = values(edit.feature);
    const mine = { status: form.elements.namedItem("status").value, note: form.elements.namedItem("note").value.trim() || null };
    try {
      await save({ no: edit.no, base, mine, etag: edit.etag, extra: { reason }, done: onSaved });
    } catch (e) {
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
  pick().catch((e) => { error.textContent = String(e); });
  return form;
}

// -- moving a marker: a draggable ring on the map, the typed position, and the distance between them --------
let moving = null; // {no, registered: LatLng, ring: L.Marker, leg: L.Polyline}

export function stopMove() {
  dragGroup.clearLayers();
  moving = null;
}

function parseLonLat(s) {
  const parts = String(s).split(/[,，\s]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x))) return null;
  return L.latLng(parts[1], parts[0]);
}

/** The map centred on `ll` at a zoom fit for placing a marker; resolves once the view is set. */
function focusRing(ll) {
  return new Promise((resolve) => {
    const go = () => {
      map.setView(ll, Math.max(map.getZoom(), MOVE_ZOOM), { animate: false });
      resolve();
    };
    // Leaflet ignores a setView made while a zoom animation runs (_tryAnimatedZoom returns early) and ends on
    // that animation's view: the line view's fitBounds may still be zooming when the form opens. The frame's
    // wait lets an animation asked for in this frame start, so that it is seen and waited for.
    L.Util.requestAnimFrame(() => {
      if (map._animatingZoom) map.once("zoomend", go);
      else go();
    });
  });
}

function lonLatText(ll) {
  return `${ll.lng.toFixed(7)}, ${ll.lat.toFixed(7)}`;
}

/** The move form; the ring on the map and the lon/lat field follow each other. */
export function moveForm({ feature, onSaved, onCancel }) {
  const no = feature.properties.marker_no;
  const [lon, lat] = feature.geometry.coordinates;
  const registered = L.latLng(lat, lon);
  let edit = null;
  const distance = el("output", { id: "mm-distance", for: "mm-lonlat", "aria-live": "polite" });
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { id: "marker-move-form", class: "patrol-form", novalidate: true, dataset: { marker: no } },
    el("h3", {}, t("move_title", { no })),
    el("p", { class: "hint" }, t("move_hint")),
    el("p", { class: "muted" }, `${t("registered_position")}: `, el("span", { id: "mm-registered" }, lonLatText(registered))),
    row("mm-lonlat", t("measured_position"), el("input", { id: "mm-lonlat", name: "lonlat", value: lonLatText(registered), dataset: { keepEvent: "1" } })),
    el("p", {}, distance),
    el("fieldset", {}, el("legend", {}, t("move_mode")),
      el("label", {}, el("input", { type: "radio", name: "mode", value: "correction", checked: true }), " ", t("move_correction")),
      el("label", {}, el("input", { type: "radio", name: "mode", value: "relocation" }), " ", t("move_relocation")),
      row("mm-agreement", t("agreement_ref"), el("input", { id: "mm-agreement", name: "agreement_ref" })),
      el("label", {}, el("input", { type: "checkbox", name: "both_sides_present", id: "mm-both" }), " ", t("both_sides_present"))),
    row("mm-method", t("survey_method"), el("input", { id: "mm-method", name: "survey_method", value: "GNSS-RTK" })),
    row("mm-precision", t("precision_m"), el("input", { id: "mm-precision", name: "precision_m", type: "number", min: 0, step: "any", value: "0.05" })),
    row("mm-surveyed", t("surveyed_on"), el("input", { id: "mm-surveyed", name: "surveyed_on", type: "date", value: today(), max: today() })),
    row("mm-reason", t("reason"), el("input", { id: "mm-reason", name: "reason", required: true })),
    error,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "btn-marker-move" }, t("save")),
      el("button", { type: "button", onclick: () => { stopMove(); onCancel(); } }, t("cancel"))));
  const input = form.elements.namedItem("lonlat");
  const show = (ll) => {
    distance.textContent = ll ? t("from_registered", { d: `${map.distance(registered, ll).toFixed(2)} m` }) : t("bad_lonlat");
    distance.dataset.metres = ll ? map.distance(registered, ll).toFixed(3) : "";
  };
  // The ring is kept across re-renders of the form (a language switch) when it is the same marker's.
  let shown = Promise.resolve(); // the map showing the ring: a new ring is brought into view, a kept one stays
  if (!moving || moving.no !== no) {
    stopMove();
    const ring = L.marker(registered, {
      draggable: true, autoPan: true, pane: RING_PANE, title: no, alt: no,
      icon: L.divIcon({ className: "patrol-drag", iconSize: [24, 24] }),
    }).addTo(dragGroup);
    L.circleMarker(registered, { pane: "points", radius: 4, color: "#1a202c", weight: 1, fillColor: "#fff", fillOpacity: 1, interactive: false }).addTo(dragGroup);
    const leg = L.polyline([registered, registered], { pane: "lines", color: "#dd6b20", weight: 2, dashArray: "4 4", interactive: false }).addTo(dragGroup);
    ring.bindTooltip(text(no), { direction: "top", offset: [0, -12] });
    moving = { no, registered, ring, leg };
    shown = focusRing(registered);
  }
  const { ring, leg } = moving;
  ring.off("drag dragend");
  ring.on("drag dragend", () => {
    const ll = ring.getLatLng();
    leg.setLatLngs([registered, ll]);
    input.value = lonLatText(ll);
    show(ll);
  });
  const typed = () => {
    const ll = parseLonLat(input.value);
    show(ll);
    if (ll) { ring.setLatLng(ll); leg.setLatLngs([registered, ll]); }
  };
  input.addEventListener("input", typed);
  input.addEventListener("change", typed);
  show(ring.getLatLng());
  if (!ring.getLatLng().equals(registered)) input.value = lonLatText(ring.getLatLng());
  // Ready: the marker read (the base of the edit) and the ring in view at its working zoom.
  Promise.all([base(no), shown]).then(([got]) => { edit = got; form.dataset.ready = no; }).catch((e) => { error.textContent = String(e); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const f = form.elements;
    const reason = f.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); f.namedItem("reason").focus(); return; }
    const ll = parseLonLat(input.value);
    if (!ll) { error.textContent = t("bad_lonlat"); input.focus(); return; }
    if (!edit) return;
    const mode = form.querySelector('input[name="mode"]:checked').value;
    const extra = { reason, mode, both_sides_present: f.namedItem("both_sides_present").checked };
    if (f.namedItem("agreement_ref").value.trim()) extra.agreement_ref = f.namedItem("agreement_ref").value.trim();
    const precision = f.namedItem("precision_m").value;
    const mine = {
      geometry: { type: "Point", coordinates: [Number(ll.lng.toFixed(8)), Number(ll.lat.toFixed(8))] },
      survey_method: f.namedItem("survey_method").value.trim() || null,
      precision_m: precision === "" ? null : Number(precision),
      surveyed_on: f.namedItem("surveyed_on").value || null,
    };
    try {
      await save({ no, base: values(edit.feature), mine, etag: edit.etag, extra, done: async (saved) => { stopMove(); await onSaved(saved); } });
    } catch (e) {
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
  return form;
}
