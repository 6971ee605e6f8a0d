// The planner's editors on the map: facilities (create, move, edit), cemeteries (create, burial facts) and their
// parcels (create, reshape, edit). Every save of an existing record sends If-Match with the ETag read when the form
// opened; a 412 opens the same merge dialog as places (conflict.js), so nobody's edit is overwritten unseen.
//
// Points are moved with Leaflet's own draggable marker and parcels reshaped with Geoman's edit mode on the one
// layer; Geoman's draw mode is not used here, because its map-wide "pm:create" event belongs to the place editor.
/* global L */
import { api, ApiError } from "./api.js";
import { openConflict } from "./conflict.js";
import { t, onLang, applyI18n } from "./i18n.js";
import "./i18n/planner.js";
import { map, showOverlay } from "./map.js";
import { loadFacilities, loadCemeteries, loadFacilityKinds, kindName } from "./overlays.js";
import { same } from "./place-fields.js";
import { state, on, can } from "./state.js";
import { el, $, fmt, toast, put, showTab } from "./ui.js";

const sketch = L.featureGroup().addTo(map); // the pin or the parcel being edited
/** The editor's box: one node for the page's life, so a re-render of the planner pane keeps an open form. */
export const editorBox = el("section", { id: "planner-editor", "aria-live": "polite" });
let mapClick = null;

const FACILITY_STATUSES = ["open", "planned", "under_construction", "suspended", "closed"];
const PARCEL_STATUSES = ["existing", "planned_extension", "approved", "rejected"];
const CEMETERY_TYPES = ["public", "rural_public", "commercial", "ash_hall"];
// [key, input kind]; kinds: text, int, date, textarea, kind, facility_status, parcel_status, cemetery_type
const FACILITY_FIELDS = [["name", "text"], ["kind", "kind"], ["status", "facility_status"], ["capacity", "int"],
  ["staff", "int"], ["address", "text"], ["opened_on", "date"], ["remarks", "textarea"]];
const BURIAL_FIELDS = [["capacity_plots", "int"], ["occupied_plots", "int"], ["eco_burials", "int"], ["approval_doc", "text"],
  ["remarks", "textarea"]];
const PARCEL_FIELDS = [["name", "text"], ["status", "parcel_status"], ["plots_capacity", "int"], ["approval_doc", "text"],
  ["remarks", "textarea"]];

// -- form pieces -----------------------------------------------------------------------------------------------
function labelKey(key) {
  return key === "name" ? "fac_name" : `fields.${key}`;
}

function label(key) {
  return t(labelKey(key));
}

function display(key, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (key === "geometry") {
    if (v.type === "Point") return v.coordinates.map((x) => x.toFixed(6)).join(", ");
    const b = L.geoJSON(v).getBounds();
    return b.isValid() ? `${v.type} ${b.getCenter().lng.toFixed(5)}, ${b.getCenter().lat.toFixed(5)}` : v.type;
  }
  if (key === "kind") return kindName(v);
  if (key === "status") return t(`facility_status.${v}`) !== v ? t(`facility_status.${v}`) : t(`parcel_status.${v}`);
  return fmt(v);
}

// [value, i18n key or null, text]: options with a key follow a language switch (data-i18n, see onLang below).
function options(kind, kinds) {
  if (kind === "kind") return kinds.map((k) => [k.id, null, kindName(k.id)]);
  const of = (list, group) => list.map((s) => [s, `${group}.${s}`, t(`${group}.${s}`)]);
  if (kind === "facility_status") return of(FACILITY_STATUSES, "facility_status");
  if (kind === "parcel_status") return of(PARCEL_STATUSES, "parcel_status");
  if (kind === "cemetery_type") return of(CEMETERY_TYPES, "cemetery_type");
  return null;
}

function control(prefix, key, kind, value, kinds = []) {
  const id = `${prefix}-${key}`;
  const opts = options(kind, kinds);
  let input;
  if (opts) {
    input = el("select", { id, name: key }, opts.map(([v, i18n, txt]) => el("option", { value: v, selected: v === value, dataset: i18n ? { i18n } : {} }, txt)));
  }
  else if (kind === "textarea") input = el("textarea", { id, name: key, rows: 2 }, value ?? "");
  else input = el("input", { id, name: key, type: kind === "int" ? "number" : kind === "date" ? "date" : "text",
    step: kind === "int" ? "1" : null, min: kind === "int" ? "0" : null, value: value ?? "" });
  return el("div", { class: "row" }, el("label", { for: id, dataset: { i18n: labelKey(key) } }, label(key)), input);
}

function read(form, fields) {
  const out = {};
  for (const [key, kind] of fields) {
    const raw = form.elements.namedItem(key).value.trim();
    out[key] = raw === "" ? null : kind === "int" ? Number.parseInt(raw, 10) : raw;
  }
  return out;
}

function valuesOf(fields) {
  return (feature) => {
    const out = {};
    for (const [k] of fields) out[k] = feature.properties[k] ?? null;
    out.geometry = feature.geometry;
    return out;
  };
}

function reasonRow(prefix) {
  return el("div", { class: "row" }, el("label", { for: `${prefix}-reason`, dataset: { i18n: "reason" } }, t("reason")),
    el("input", { id: `${prefix}-reason`, name: "reason", required: true }));
}

function actions(prefix, extra = []) {
  return el("div", { class: "actions" },
    el("button", { type: "submit", class: "primary", id: `${prefix}-save`, dataset: { i18n: "save" } }, t("save")),
    el("button", { type: "button", id: `${prefix}-cancel`, dataset: { i18n: "cancel" }, onclick: () => closeEditor() }, t("cancel")), ...extra);
}

function errorText(e) {
  return `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
}

function show(form) {
  editorBox.replaceChildren(form);
  showTab("planner");
  editorBox.scrollIntoView({ block: "nearest" });
}

export function closeEditor() {
  sketch.eachLayer((l) => { if (l.pm) l.pm.disable(); });
  sketch.clearLayers();
  if (mapClick) { map.off("click", mapClick); mapClick = null; }
  editorBox.replaceChildren();
  delete document.body.dataset.plannerEditing;
}

// -- the point pin ------------------------------------------------------------------------------------------------
const pinIcon = () => L.divIcon({ className: "planner-pin", html: el("span", { class: "pin" }), iconSize: [22, 22], iconAnchor: [11, 20] });

function lonlatText(ll) {
  return `${ll.lng.toFixed(6)}, ${ll.lat.toFixed(6)}`;
}

function parseLonLat(s) {
  const parts = String(s).split(",").map((x) => Number(x.trim()));
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x))) return null;
  return { type: "Point", coordinates: parts };
}

/**
 * A draggable pin tied to the form's lon/lat input (either moves the other). A click on the map puts the pin
 * there while the form is open. Returns {moved(), geometry()}.
 */
function pin(form, geometry) {
  const input = form.elements.namedItem("lonlat");
  const ll = geometry ? L.latLng(geometry.coordinates[1], geometry.coordinates[0]) : map.getCenter();
  input.value = geometry ? geometry.coordinates.map((x) => x.toFixed(6)).join(", ") : lonlatText(ll);
  const marker = L.marker(ll, { draggable: true, pane: "points", icon: pinIcon(), title: t("location"), zIndexOffset: 1000 }).addTo(sketch);
  let moved = !geometry;
  const set = (p) => { marker.setLatLng(p); input.value = lonlatText(p); moved = true; };
  marker.on("drag dragend", () => { input.value = lonlatText(marker.getLatLng()); moved = true; });
  input.addEventListener("change", () => {
    const g = parseLonLat(input.value);
    if (g) { marker.setLatLng([g.coordinates[1], g.coordinates[0]]); moved = true; }
  });
  mapClick = (e) => set(e.latlng);
  map.on("click", mapClick);
  if (!map.getBounds().contains(ll)) map.setView(ll, Math.max(map.getZoom(), 15));
  return {
    moved: () => moved,
    geometry: () => parseLonLat(input.value),
  };
}

// -- saving with If-Match ---------------------------------------------------------------------------------------------
/**
 * PATCH what differs from `base`; a 412 opens the merge dialog with the fields of `fields` (and the geometry).
 * `then(answer)` runs after a save (the form's own or the merge's).
 */
async function saveChanges({ url, etag, base, mine, extra, fields, title, history, reload, then }) {
  const body = { ...extra };
  for (const k of Object.keys(mine)) if (!same(mine[k], base[k])) body[k] = mine[k];
  if (Object.keys(body).length === Object.keys(extra).length) { toast(t("nothing_changed")); return null; }
  try {
    const r = await api(url, { method: "PATCH", json: body, ifMatch: etag });
    return then(r);
  } catch (e) {
    if (e instanceof ApiError && e.status === 412 && e.body.current) {
      return openConflict({
        base, mine, current: e.body.current, etag: e.body.etag, title,
        fields: [...fields.map(([k]) => k), ...("geometry" in mine ? ["geometry"] : [])],
        values: valuesOf(fields), label, display,
        lastSaved: () => api(history).then(({ data }) => data.changes[data.changes.length - 1]),
        save: (merged, newEtag) => api(url, { method: "PATCH", json: { ...extra, ...merged }, ifMatch: newEtag }).then(then),
        reload,
      });
    }
    throw e;
  }
}

function refreshLayers() {
  loadFacilities().catch((e) => console.warn(e));
  loadCemeteries().catch((e) => console.warn(e));
}

// -- facilities ----------------------------------------------------------------------------------------------------
/** The facility form: `id` to edit (read with its ETag), none to create. */
export async function openFacility(id) {
  closeEditor();
  const kinds = await loadFacilityKinds();
  let feature = null;
  let etag = null;
  if (id) {
    const r = await api(`/api/v1/facilities/${id}`, { params: { as_of: state.asOf } });
    feature = r.data;
    etag = r.etag;
  }
  const p = feature ? feature.properties : { status: "open", kind: kinds[0] && kinds[0].id };
  const base = feature ? valuesOf(FACILITY_FIELDS)(feature) : {};
  const error = el("p", { class: "error", role: "alert", id: "facility-error" });
  const form = el("form", { id: "facility-form", class: "planner-form", novalidate: true, dataset: { id: id || "" } },
    el("h3", {}, id ? t("facility_edit_title", { name: p.name }) : t("facility_new_title")),
    FACILITY_FIELDS.map(([k, kind]) => control("fac", k, kind, p[k], kinds)),
    el("div", { class: "row" }, el("label", { for: "fac-lonlat", dataset: { i18n: "location" } }, t("location")), el("input", { id: "fac-lonlat", name: "lonlat" })),
    el("p", { class: "hint", dataset: { i18n: "location_hint" } }, t("location_hint")),
    reasonRow("fac"), error, actions("fac"));
  show(form);
  document.body.dataset.plannerEditing = "facility";
  const where = pin(form, feature && feature.geometry);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const reason = form.elements.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); form.elements.namedItem("reason").focus(); return; }
    const geometry = where.geometry();
    if (!geometry) { error.textContent = t("bad_lonlat"); return; }
    const mine = read(form, FACILITY_FIELDS);
    if (where.moved()) mine.geometry = geometry;
    try {
      if (!id) {
        const body = Object.fromEntries(Object.entries(mine).filter(([, v]) => v !== null));
        const r = await api("/api/v1/facilities", { json: { ...body, geometry, reason } });
        toast(t("facility_created", { id: r.data.properties.id }), "ok");
        afterFacility(r);
        return;
      }
      await saveChanges({
        url: `/api/v1/facilities/${id}`, etag, base, mine, extra: { mode: "correction", reason },
        fields: FACILITY_FIELDS, title: t("conflict_facility"), history: `/api/v1/facilities/${id}/history`,
        reload: () => openFacility(id),
        then: (r) => { toast(t("facility_saved", { v: r.data.properties.version }), "ok"); afterFacility(r); return r; },
      });
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
  form.elements.namedItem("name").focus();
  return form;
}

function afterFacility(r) {
  closeEditor();
  const p = r.data.properties;
  editorBox.replaceChildren(el("p", { class: "ok", id: "facility-saved", dataset: { id: p.id, version: p.version, etag: r.etag || "" } },
    `${p.name} · ${kindName(p.kind)} · v${p.version}`));
  refreshLayers();
}

// -- cemeteries ------------------------------------------------------------------------------------------------------
export async function openNewCemetery() {
  closeEditor();
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { id: "cemetery-new-form", class: "planner-form", novalidate: true },
    el("h3", {}, t("cemetery_new_title")),
    control("cem", "name", "text", ""),
    control("cem", "cemetery_type", "cemetery_type", "public"),
    BURIAL_FIELDS.slice(0, 3).map(([k, kind]) => control("cem", k, kind, null)),
    el("div", { class: "row" }, el("label", { for: "cem-lonlat", dataset: { i18n: "location" } }, t("location")), el("input", { id: "cem-lonlat", name: "lonlat" })),
    el("p", { class: "hint", dataset: { i18n: "location_hint" } }, t("location_hint")),
    reasonRow("cem"), error, actions("cem"));
  show(form);
  document.body.dataset.plannerEditing = "cemetery";
  const where = pin(form, null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const reason = form.elements.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); return; }
    const geometry = where.geometry();
    if (!geometry) { error.textContent = t("bad_lonlat"); return; }
    const v = read(form, [["name", "text"], ["cemetery_type", "text"], ...BURIAL_FIELDS.slice(0, 3)]);
    const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
    try {
      const r = await api("/api/v1/cemeteries", { json: { ...body, geometry, reason } });
      toast(t("cemetery_created", { id: r.data.properties.id }), "ok");
      refreshLayers();
      await openCemetery(r.data.properties.id);
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
  form.elements.namedItem("name").focus();
}

/** A cemetery's burial facts (If-Match) and its parcels, each with an edit button; "add a parcel". */
export async function openCemetery(id) {
  closeEditor();
  const r = await api(`/api/v1/cemeteries/${id}`, { params: { as_of: state.asOf } });
  const feature = r.data;
  const p = feature.properties;
  const base = valuesOf(BURIAL_FIELDS)(feature);
  const error = el("p", { class: "error", role: "alert", id: "cemetery-error" });
  const form = el("form", { id: "cemetery-form", class: "planner-form", novalidate: true, dataset: { id } },
    el("h3", {}, t("cemetery_edit_title", { name: p.name })),
    el("p", { class: "muted" }, `${t(`cemetery_type.${p.cemetery_type}`)} · ${t("fields.capacity_plots")} ${fmt(p.capacity_plots)}`),
    BURIAL_FIELDS.map(([k, kind]) => control("cemf", k, kind, p[k])),
    reasonRow("cemf"), error,
    actions("cemf", [el("button", { type: "button", id: "cemf-move", onclick: () => openFacility(id) }, t("move_cemetery"))]),
    el("h4", {}, t("parcels")),
    el("ul", { class: "items parcels" }, (p.parcels || []).map((pf) => el("li", {},
      el("button", { type: "button", class: "link parcel-edit", dataset: { parcel: pf.properties.id }, onclick: () => openParcel(pf.properties.id, feature) },
        `${pf.properties.name} · ${t(`parcel_status.${pf.properties.status}`)} · ${fmt(pf.properties.area_mu)} 亩`)))),
    el("div", { class: "actions" }, el("button", { type: "button", id: "btn-add-parcel", onclick: () => openParcel(null, feature) }, t("add_parcel"))));
  show(form);
  document.body.dataset.plannerEditing = "cemetery";
  if (feature.geometry) {
    const ll = [feature.geometry.coordinates[1], feature.geometry.coordinates[0]];
    L.marker(ll, { pane: "points", icon: pinIcon(), interactive: false }).addTo(sketch);
    if (!map.getBounds().contains(ll)) map.setView(ll, Math.max(map.getZoom(), 15));
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const reason = form.elements.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); return; }
    try {
      await saveChanges({
        url: `/api/v1/cemeteries/${id}`, etag: r.etag, base, mine: read(form, BURIAL_FIELDS), extra: { mode: "correction", reason },
        fields: BURIAL_FIELDS, title: t("conflict_cemetery"), history: `/api/v1/facilities/${id}/history`,
        reload: () => openCemetery(id),
        then: async (a) => { toast(t("cemetery_saved", { v: a.data.properties.version }), "ok"); refreshLayers(); await openCemetery(id); return a; },
      });
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
}

// -- parcels -----------------------------------------------------------------------------------------------------------
function square(center, metres) {
  // A starting square east of the cemetery point, to be reshaped; lengths from the local scale of a degree.
  const dLat = metres / 111_320;
  const dLng = metres / (111_320 * Math.cos((center.lat * Math.PI) / 180));
  const x0 = center.lng + dLng * 0.5;
  const y0 = center.lat - dLat / 2;
  return [[y0, x0], [y0, x0 + dLng], [y0 + dLat, x0 + dLng], [y0 + dLat, x0]];
}

function asMulti(g) {
  return g.type === "Polygon" ? { type: "MultiPolygon", coordinates: [g.coordinates] } : g;
}

function exclusionText(x) {
  if (!x) return "";
  if (x.ok) return t("exclusion_ok");
  return t("exclusion_conflict", { layers: x.layers.map((l) => l.name_zh || l.layer).join("、"), m2: fmt(x.conflict_area_m2), mu: fmt(x.conflict_area_mu) });
}

/** Edit parcel `id` of `cemetery` (a cemetery feature), or create one when `id` is null. */
export async function openParcel(id, cemetery) {
  closeEditor();
  let feature = null;
  let etag = null;
  if (id) {
    const r = await api(`/api/v1/cemeteries/parcels/${id}`, { params: { as_of: state.asOf } });
    feature = r.data;
    etag = r.etag;
  }
  const p = feature ? feature.properties : { status: "planned_extension", name: "" };
  const base = feature ? valuesOf(PARCEL_FIELDS)(feature) : {};
  const cem = cemetery.properties;
  const error = el("p", { class: "error", role: "alert", id: "parcel-error" });
  const info = el("p", { class: "muted", id: "parcel-info" }, feature ? `${fmt(p.area_m2)} m² · ${fmt(p.area_mu)} 亩` : "");
  const form = el("form", { id: "parcel-form", class: "planner-form", novalidate: true, dataset: { id: id || "" } },
    el("h3", {}, id ? t("parcel_edit_title", { name: p.name }) : t("parcel_new_title", { cemetery: cem.name })),
    PARCEL_FIELDS.map(([k, kind]) => control("par", k, kind, p[k])),
    id ? el("fieldset", { class: "mode" }, el("legend", {}, t("mode")),
      el("label", {}, el("input", { type: "radio", name: "mode", value: "correction", checked: true }), " ", t("mode_correction")),
      el("label", {}, el("input", { type: "radio", name: "mode", value: "legal" }), " ", t("mode_legal")),
      el("div", { class: "row" }, el("label", { for: "par-effective" }, t("effective_date")),
        el("input", { id: "par-effective", name: "effective_date", type: "date" }))) : null,
    el("p", { class: "hint", dataset: { i18n: "polygon_hint" } }, t("polygon_hint")), info,
    reasonRow("par"), error, actions("par", [el("button", { type: "button", id: "par-back", onclick: () => openCemetery(cem.id) }, t("edit_cemetery"))]));
  show(form);
  document.body.dataset.plannerEditing = "parcel";
  const start = feature ? L.geoJSON(feature.geometry).getLayers()[0].getLatLngs()
    : square(L.latLng(cemetery.geometry.coordinates[1], cemetery.geometry.coordinates[0]), 120);
  const shape = L.polygon(start, { pane: "lines", color: "#c53030", weight: 2, fillOpacity: 0.2, className: "parcel-sketch" }).addTo(sketch);
  shape.pm.enable({ allowSelfIntersection: false, draggable: false });
  let reshaped = !feature;
  shape.on("pm:edit pm:markerdragend pm:vertexadded pm:vertexremoved", () => { reshaped = true; });
  map.fitBounds(shape.getBounds(), { maxZoom: 17, padding: [60, 60] });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const reason = form.elements.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); return; }
    const mine = read(form, PARCEL_FIELDS);
    if (reshaped) mine.geometry = asMulti(shape.toGeoJSON().geometry);
    try {
      if (!id) {
        const body = Object.fromEntries(Object.entries(mine).filter(([, v]) => v !== null));
        const r = await api(`/api/v1/cemeteries/${cem.id}/parcels`, { json: { ...body, reason } });
        toast(t("parcel_created", { id: r.data.properties.id }), "ok");
        afterParcel(r, cemetery);
        return;
      }
      const extra = { mode: form.querySelector('input[name="mode"]:checked').value, reason };
      const eff = form.elements.namedItem("effective_date").value;
      if (extra.mode === "legal" && eff) extra.effective_date = eff;
      await saveChanges({
        url: `/api/v1/cemeteries/parcels/${id}`, etag, base, mine, extra,
        fields: PARCEL_FIELDS, title: t("conflict_parcel"), history: `/api/v1/cemeteries/parcels/${id}/history`,
        reload: () => openParcel(id, cemetery),
        then: (r) => { toast(t("parcel_saved", { v: r.data.properties.version }), "ok"); afterParcel(r, cemetery); return r; },
      });
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
  form.elements.namedItem("name").focus();
}

function afterParcel(r, cemetery) {
  closeEditor();
  const p = r.data.properties;
  editorBox.replaceChildren(el("div", { id: "parcel-saved", dataset: { id: p.id, version: p.version } },
    el("p", { class: "ok" }, `${p.name} · ${t(`parcel_status.${p.status}`)} · ${fmt(p.area_m2)} m² · ${fmt(p.area_mu)} 亩 · v${p.version}`),
    p.exclusion ? el("p", { class: p.exclusion.ok ? "ok" : "warn", id: "parcel-exclusion" }, exclusionText(p.exclusion)) : null,
    el("button", { type: "button", onclick: () => openCemetery(cemetery.properties.id) }, t("edit_cemetery"))));
  refreshLayers();
}

// -- the tools above the editor ------------------------------------------------------------------------------------
/** Buttons to create, and a list of cemeteries to open (the map needs no pointer to reach them). */
export function editorTools() {
  if (!can("plan")) return null;
  keepFocus();
  const pick = el("select", { id: "cemetery-pick", "aria-label": t("pick_cemetery") }, el("option", { value: "" }, t("pick_cemetery")));
  api("/api/v1/cemeteries", { params: { as_of: state.asOf } }).then(({ data }) => {
    pick.append(...data.features.map((f) => el("option", { value: f.properties.id }, f.properties.name)));
  }).catch(() => {});
  pick.addEventListener("change", () => { if (pick.value) openCemetery(Number(pick.value)).catch(report); pick.value = ""; });
  return el("details", { class: "planner-tools", id: "planner-tools", open: true },
    el("summary", {}, t("edit_section")),
    el("p", { class: "hint" }, t("edit_hint")),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "btn-new-facility", onclick: () => openFacility(null).catch(report) }, t("new_facility")),
      el("button", { type: "button", id: "btn-new-cemetery", onclick: () => openNewCemetery().catch(report) }, t("new_cemetery")),
      pick),
    editorBox);
}

function report(e) {
  toast(e instanceof ApiError ? e.text : String(e), "error");
}

/**
 * The planner pane re-renders after a language switch or a login (planner.js) and takes the open editor along
 * into its new tools box: the move takes the editor out of the document for a moment, which drops the focus of
 * the field being typed in — the next keystrokes (or a test's fill) went nowhere, and a save then said "reason
 * required". Give the field its focus and selection back as soon as the re-render (this same task) is done.
 */
function keepFocus() {
  const active = document.activeElement;
  if (!active || active === document.body || !editorBox.contains(active)) return;
  let range = null;
  try { range = [active.selectionStart, active.selectionEnd, active.selectionDirection]; } catch { /* no selection */ }
  queueMicrotask(() => {
    if (!document.contains(active) || document.activeElement === active) return;
    active.focus({ preventScroll: true });
    if (range && range[0] !== null) {
      try { active.setSelectionRange(...range); } catch { /* number and date inputs have none */ }
    }
  });
}

export function initPlannerEdit() {
  // The map's popups offer "Edit" to planners (overlays.js emits these).
  on("facility:edit", ({ id }) => { if (can("plan")) { showOverlay("facilities", true); openFacility(id).catch(report); } });
  on("cemetery:edit", ({ id }) => { if (can("plan")) openCemetery(id).catch(report); });
  on("parcel:edit", ({ id, cemeteryId }) => {
    if (!can("plan")) return;
    api(`/api/v1/cemeteries/${cemeteryId}`, { params: { as_of: state.asOf } })
      .then(({ data }) => openParcel(id, data)).catch(report);
  });
  on("user", () => { if (!can("plan")) closeEditor(); });
  // An open form keeps what was typed; its labels and choices change language in place.
  onLang(() => {
    applyI18n(editorBox);
    editorBox.querySelectorAll('select[name="kind"] option').forEach((o) => { o.textContent = kindName(o.value); });
  });
}
