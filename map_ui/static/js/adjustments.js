// 区划调整 from the map: list the proposals, start one (draw the area that moves between two townships, or a
// rename), read its impact report drawn on the map, and move it draft → submitted → approved → applied (or
// rejected / withdrawn). Every step sends If-Match; a 412 opens the shared merge dialog.
/* global L */
import { api, ApiError } from "./api.js";
import { openConflict } from "./conflict.js";
import { t, onLang } from "./i18n.js";
import "./i18n/adjustments.js";
import { map } from "./map.js";
import { state, on, can } from "./state.js";
import { el, $, put, fmt, toast, showTab, table, today, text } from "./ui.js";

const KINDS = ["boundary_change", "rename"];
const CONFLICT_FIELDS = ["status", "title", "effective_date", "approving_authority"];
const impactLayer = L.featureGroup().addTo(map); // the open proposal's impact
const sketch = L.featureGroup().addTo(map); // the area being drawn for a new proposal
let drawing = false;
let shown = null; // {data, etag} of the proposal on screen
let townships = null;

const pane = () => $("#pane-adjustments");
const label = (key, v) => t(`${key}.${v}`);

function row(id, text_, control) {
  return el("div", { class: "row" }, el("label", { for: id }, text_), control);
}

async function loadTownships() {
  if (!townships) {
    const { data } = await api("/api/v1/divisions", { params: { level: "township", parent: "340122", as_of: state.asOf } });
    townships = data.features.map((f) => f.properties).sort((a, b) => a.code.localeCompare(b.code));
  }
  return townships;
}

// -- the list ------------------------------------------------------------------------------------------------
export async function showList() {
  stopDrawing();
  sketch.clearLayers();
  impactLayer.clearLayers();
  shown = null;
  const box = pane();
  box.dataset.view = "list";
  let data = [];
  let error = null;
  try {
    ({ data } = await api("/api/v1/adjustments"));
  } catch (e) {
    error = e instanceof ApiError ? e.text : String(e);
  }
  const rows = data.slice().reverse().map((a) => el("tr", { class: "adj-row", dataset: { id: a.id, status: a.status } },
    el("td", {}, String(a.id)),
    el("td", {}, el("button", { type: "button", class: "link adj-open", onclick: () => openAdjustment(a.id) }, a.title)),
    el("td", {}, label("adj_kind", a.kind)),
    el("td", {}, el("span", { class: `adj-status st-${a.status}` }, label("adj_status", a.status))),
    el("td", {}, a.proposed_by || "—")));
  put(box,
    el("h2", {}, t("adj_title")),
    el("p", { class: "hint" }, t("adj_intro")),
    el("div", { class: "actions" },
      can("propose") ? el("button", { type: "button", id: "adj-new", class: "primary", onclick: () => openNewForm() }, t("adj_new")) : null,
      el("button", { type: "button", id: "adj-refresh", onclick: () => showList() }, t("adj_refresh"))),
    error ? el("p", { class: "error", role: "alert" }, error) : null,
    data.length
      ? el("div", { class: "table-wrap" }, el("table", { class: "adj-list", id: "adj-list" },
        el("thead", {}, el("tr", {}, ["adj_col_id", "adj_col_title", "adj_col_kind", "adj_col_status", "adj_col_by"]
          .map((c) => el("th", { scope: "col" }, t(c))))),
        el("tbody", {}, rows)))
      : el("p", { class: "muted" }, t("adj_none")));
}

// -- a new proposal ------------------------------------------------------------------------------------------
function stopDrawing() {
  if (drawing && map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  drawing = false;
}

function drawnArea() {
  const layer = sketch.getLayers()[0];
  return layer ? layer.toGeoJSON().geometry : null;
}

function areaStatus() {
  const s = $("#adj-draw-status");
  if (!s) return;
  const g = drawnArea();
  s.textContent = g ? t("adj_area_drawn", { n: g.coordinates[0].length - 1 }) : t("adj_draw_hint");
}

function startAreaDraw() {
  if (map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
  sketch.clearLayers();
  drawing = true;
  $("#adj-draw-status").textContent = t("adj_drawing");
  map.pm.enableDraw("Polygon", {
    snappable: false, continueDrawing: false, allowSelfIntersection: false,
    pathOptions: { color: "#c53030", weight: 3, dashArray: "6 4", fillOpacity: 0.1 },
  });
}

function onCreate(e) {
  // Only the area started here; draw.js handles the officer's new places (body[data-drawing]).
  if (!drawing || document.body.dataset.drawing) return;
  drawing = false;
  map.removeLayer(e.layer);
  sketch.clearLayers();
  e.layer.addTo(sketch);
  e.layer.pm.enable({ allowSelfIntersection: false }); // the drawn boundary stays editable until saved
  e.layer.on("pm:edit", areaStatus);
  areaStatus();
}

async function openNewForm() {
  impactLayer.clearLayers();
  const towns = await loadTownships();
  const options = () => [el("option", { value: "" }, "—"), ...towns.map((d) => el("option", { value: d.code }, `${d.name} ${d.code}`))];
  const kind = el("select", { id: "adj-kind", name: "kind" }, KINDS.map((k) => el("option", { value: k }, label("adj_kind", k))));
  const boundary = el("fieldset", { class: "adj-spec", dataset: { kind: "boundary_change" } },
    el("legend", {}, label("adj_kind", "boundary_change")),
    row("adj-from", t("adj_from"), el("select", { id: "adj-from" }, options())),
    row("adj-to", t("adj_to"), el("select", { id: "adj-to" }, options())),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "adj-draw", onclick: startAreaDraw }, t("adj_draw_area")),
      el("button", { type: "button", id: "adj-clear", onclick: () => { stopDrawing(); sketch.clearLayers(); areaStatus(); } }, t("adj_clear_area"))),
    el("p", { id: "adj-draw-status", class: "hint", "aria-live": "polite" }, t("adj_draw_hint")));
  const rename = el("fieldset", { class: "adj-spec", dataset: { kind: "rename" }, hidden: true },
    el("legend", {}, label("adj_kind", "rename")),
    row("adj-code", t("adj_division"), el("select", { id: "adj-code" }, options())),
    row("adj-name", t("adj_new_name"), el("input", { id: "adj-name" })));
  const error = el("p", { class: "error", role: "alert", id: "adj-error" });
  const form = el("form", { id: "adj-form", class: "adj-form", novalidate: true },
    el("h2", {}, t("adj_new")),
    row("adj-kind", t("adj_kind_label"), kind),
    row("adj-title", t("adj_title_label"), el("input", { id: "adj-title", required: true })),
    boundary, rename,
    row("adj-effective", t("adj_effective"), el("input", { id: "adj-effective", type: "date" })),
    row("adj-authority", t("adj_authority"), el("input", { id: "adj-authority", placeholder: t("adj_authority_placeholder") })),
    row("adj-reason", t("reason"), el("input", { id: "adj-reason" })),
    error,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "adj-create" }, t("adj_create")),
      el("button", { type: "button", id: "adj-cancel", onclick: () => showList() }, t("cancel"))));
  kind.addEventListener("change", () => {
    for (const fs of form.querySelectorAll(".adj-spec")) fs.hidden = fs.dataset.kind !== kind.value;
    if (kind.value !== "boundary_change") { stopDrawing(); sketch.clearLayers(); }
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const title = $("#adj-title").value.trim();
    if (!title) { error.textContent = t("adj_title_missing"); $("#adj-title").focus(); return; }
    let spec;
    if (kind.value === "boundary_change") {
      const from = $("#adj-from").value;
      const to = $("#adj-to").value;
      if (!from || !to) { error.textContent = t("adj_towns_missing"); $("#adj-from").focus(); return; }
      const area = drawnArea();
      if (!area) { error.textContent = t("adj_area_missing"); $("#adj-draw").focus(); return; }
      spec = { from_code: from, to_code: to, area };
    } else {
      const name = $("#adj-name").value.trim();
      if (!name) { error.textContent = t("adj_name_missing"); $("#adj-name").focus(); return; }
      spec = { code: $("#adj-code").value, name };
    }
    const body = { kind: kind.value, title, spec };
    const eff = $("#adj-effective").value;
    if (eff) body.effective_date = eff;
    const authority = $("#adj-authority").value.trim();
    if (authority) body.approving_authority = authority;
    const reason = $("#adj-reason").value.trim();
    if (reason) body.reason = reason;
    try {
      const r = await api("/api/v1/adjustments", { json: body });
      toast(t("adj_created", { id: r.data.id }), "ok");
      showAdjustment(r.data, r.etag);
    } catch (e) {
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
  pane().dataset.view = "new";
  put(pane(), form);
  showTab("adjustments");
  $("#adj-title").focus();
}

// -- one proposal: its impact and its workflow -----------------------------------------------------------------
export async function openAdjustment(id) {
  const r = await api(`/api/v1/adjustments/${id}`);
  showAdjustment(r.data, r.etag);
}

function drawImpact(a) {
  impactLayer.clearLayers();
  const spec = a.spec || {};
  const impact = a.impact || {};
  if (spec.area) {
    L.geoJSON(spec.area, { style: { color: "#c53030", weight: 2, dashArray: "6 4", fill: false }, interactive: false })
      .addTo(impactLayer);
  }
  for (const tr of impact.transfers || []) {
    if (!tr.geometry) continue;
    L.geoJSON(tr.geometry, { style: { color: "#dd6b20", weight: 2, fillColor: "#f6ad55", fillOpacity: 0.45 } })
      .bindTooltip(text(`${tr.from_name} → ${tr.to_name}`))
      .addTo(impactLayer);
  }
  for (const v of impact.villages_moved || []) {
    if (v.lon === undefined || v.lat === undefined) continue;
    L.circleMarker([v.lat, v.lon], { pane: "points", radius: 7, color: "#9b2c2c", weight: 2, fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip(text(v.name)).addTo(impactLayer);
  }
  for (const p of impact.places_affected || []) {
    if (p.lon === null || p.lon === undefined) continue;
    L.circleMarker([p.lat, p.lon], { pane: "points", radius: 4, color: "#2b6cb0", weight: 2, fillOpacity: 0.9 })
      .bindTooltip(text(p.name)).addTo(impactLayer);
  }
  const b = impactLayer.getBounds();
  if (b.isValid()) map.fitBounds(b, { maxZoom: 15, padding: [40, 40] });
}

function impactSection(impact) {
  if (!impact) return null;
  const num = (v) => fmt(v ?? 0);
  const summary = [
    [t("adj_area_moved"), t("adj_area_value", { km2: impact.area_moved ? impact.area_moved.km2 : 0, mu: impact.area_moved ? fmt(impact.area_moved.mu) : 0 }), { dataset: { key: "area_moved" } }],
    [t("adj_villages_moved"), num(impact.villages_moved_count), { dataset: { key: "villages_moved" } }],
    [t("adj_population_moved"), num(impact.population_moved), { dataset: { key: "population_moved" } }],
    [t("adj_places_affected"), num(impact.places_affected_count), { dataset: { key: "places_affected" } }],
    [t("adj_lines_affected"), num((impact.lines_affected || []).length), { dataset: { key: "lines_affected" } }],
  ];
  if ((impact.renamed || []).length) summary.push([t("adj_renamed"), impact.renamed.map((r) => `${r.from} → ${r.to}`).join("；")]);
  if ((impact.codes_retired || []).length) summary.push([t("adj_codes_retired"), impact.codes_retired.map((c) => `${c.name} ${c.code}`).join("；")]);
  if ((impact.codes_created || []).length) summary.push([t("adj_codes_created"), impact.codes_created.map((c) => `${c.name} ${c.code}`).join("；")]);
  const divisions = impact.divisions || [];
  const side = (x, k) => (x ? fmt(x[k]) : "—");
  return el("section", { id: "adj-impact", class: "adj-impact", "aria-labelledby": "adj-impact-title" },
    el("h3", { id: "adj-impact-title" }, t("adj_impact")),
    el("p", { class: "hint" }, t("adj_impact_as_of", { d: impact.state_as_of, e: impact.effective_date })),
    table(summary),
    (impact.transfers || []).length ? el("div", {}, el("h4", {}, t("adj_transfers")),
      el("ul", { class: "adj-transfers" }, impact.transfers.map((tr) => el("li", {}, t("adj_transfer", {
        from: `${tr.from_name || ""} ${tr.from}`, to: `${tr.to_name || ""} ${tr.to}`, km2: tr.area.km2, v: tr.villages, p: fmt(tr.population),
      }))))) : null,
    (impact.villages_moved || []).length ? el("div", {}, el("h4", {}, t("adj_villages_moved")),
      el("ul", { class: "adj-villages" }, impact.villages_moved.map((v) => el("li", {},
        `${v.name} ${v.code}${v.new_code ? ` → ${v.new_code}` : ""}（${fmt(v.population)}）`)))) : null,
    (impact.places_affected || []).length ? el("div", {}, el("h4", {}, t("adj_places_affected")),
      el("ul", { class: "adj-places" }, impact.places_affected.slice(0, 200).map((p) => el("li", { dataset: { id: p.place_id } },
        `${p.name}：${p.actions.map((x) => label("adj_place_actions", x)).join("、")}`,
        p.new_division_code !== p.division_code ? ` ${p.division_code} → ${p.new_division_code}` : "")))) : null,
    divisions.length ? el("div", { class: "table-wrap" }, el("h4", {}, t("adj_divisions")),
      el("table", { class: "adj-divisions" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("adj_division")),
          el("th", { scope: "col" }, `${t("adj_before")} ${t("adj_area_km2")}`), el("th", { scope: "col" }, `${t("adj_after")} ${t("adj_area_km2")}`),
          el("th", { scope: "col" }, `${t("adj_before")} ${t("adj_population")}`), el("th", { scope: "col" }, `${t("adj_after")} ${t("adj_population")}`),
          el("th", { scope: "col" }, t("adj_subdivisions")))),
        el("tbody", {}, divisions.map((d) => el("tr", { dataset: { code: d.code } },
          el("th", { scope: "row" }, `${d.name} ${d.code}`),
          el("td", {}, side(d.before, "area_km2")), el("td", {}, side(d.after, "area_km2")),
          el("td", {}, side(d.before, "population")), el("td", {}, side(d.after, "population")),
          el("td", {}, `${side(d.before, "subdivisions")} → ${side(d.after, "subdivisions")}`)))))) : null,
    (impact.warnings || []).length ? el("div", {}, el("h4", {}, t("adj_warnings")),
      el("ul", { class: "warn" }, impact.warnings.map((w) => el("li", {}, w)))) : null,
    el("ul", { class: "adj-legend" },
      el("li", { class: "drawn" }, t("adj_legend_drawn")), el("li", { class: "moved" }, t("adj_legend_moved")),
      el("li", { class: "village" }, t("adj_legend_village")), el("li", { class: "place" }, t("adj_legend_place"))));
}

function actionsSection(a) {
  const mine = can("propose");
  const reviewer = can("review");
  const buttons = [];
  const error = el("p", { class: "error", role: "alert", id: "adj-action-error" });
  const act = (action, body, target) => runAction(action, body, target, error);
  if (a.status === "draft" && mine) {
    buttons.push(el("button", { type: "button", class: "primary", id: "adj-submit", onclick: () => act("submit", { reason: t("adj_reason_submit") }, "submitted") }, t("adj_submit")));
  }
  if (a.status === "approved" && mine) {
    buttons.push(el("button", { type: "button", class: "primary", id: "adj-apply", onclick: () => act("apply", undefined, "applied") }, t("adj_apply")));
  }
  if (["draft", "submitted"].includes(a.status) && mine && a.spec && a.spec.area) {
    buttons.push(el("button", { type: "button", id: "adj-edit-area", onclick: () => startAreaEdit(a) }, t("adj_edit_area")));
  }
  if (["draft", "submitted", "approved"].includes(a.status) && mine) {
    buttons.push(el("button", { type: "button", id: "adj-withdraw", onclick: () => act("withdraw", { reason: t("adj_reason_withdraw") }, "withdrawn") }, t("adj_withdraw")));
  }
  let decide = null;
  if (a.status === "submitted" && reviewer) {
    decide = el("form", { id: "adj-decide", class: "adj-decide", novalidate: true },
      el("fieldset", {}, el("legend", {}, t("adj_approve_legend")),
        row("adj-document-no", t("adj_document_no"), el("input", { id: "adj-document-no" })),
        row("adj-approved-on", t("adj_approved_on"), el("input", { id: "adj-approved-on", type: "date", value: today() })),
        row("adj-approve-effective", t("adj_effective"), el("input", { id: "adj-approve-effective", type: "date", value: a.effective_date || "" })),
        row("adj-approve-authority", t("adj_authority"), el("input", { id: "adj-approve-authority", value: a.approving_authority || "" })),
        row("adj-note", t("adj_note"), el("input", { id: "adj-note" })),
        el("div", { class: "actions" },
          el("button", { type: "submit", class: "primary", id: "adj-approve" }, t("adj_approve")),
          el("button", { type: "button", id: "adj-reject", onclick: () => act("reject", clean({ note: $("#adj-note").value.trim(), reason: t("adj_reject") }), "rejected") }, t("adj_reject")))));
    decide.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act("approve", clean({
        document_no: $("#adj-document-no").value.trim(), approved_on: $("#adj-approved-on").value,
        effective_date: $("#adj-approve-effective").value, approving_authority: $("#adj-approve-authority").value.trim(),
        note: $("#adj-note").value.trim(), reason: t("adj_approve"),
      }), "approved");
    });
  }
  return el("div", { class: "adj-actions" }, decide, buttons.length ? el("div", { class: "actions" }, buttons) : null,
    el("form", { id: "adj-area-bar", class: "adj-area-bar", hidden: true, novalidate: true }), error);
}

function showGeometry(v) {
  if (!v) return "—";
  const b = L.geoJSON(v).getBounds();
  if (!b.isValid()) return v.type;
  const c = b.getCenter();
  return `${v.type} ${c.lng.toFixed(5)}, ${c.lat.toFixed(5)}`;
}

/** Reshape the area of a draft or submitted proposal on the map; saving recomputes the impact (PATCH, If-Match). */
function startAreaEdit(a) {
  stopDrawing();
  sketch.clearLayers();
  const layer = L.geoJSON(a.spec.area, { style: { color: "#c53030", weight: 3, dashArray: "6 4", fillOpacity: 0.1 } }).getLayers()[0];
  layer.addTo(sketch);
  layer.pm.enable({ allowSelfIntersection: false });
  const bar = $("#adj-area-bar");
  const reason = el("input", { id: "adj-area-reason" });
  const error = el("p", { class: "error", role: "alert", id: "adj-area-error" });
  put(bar,
    el("p", { class: "hint" }, t("adj_edit_hint")),
    row("adj-area-reason", t("reason"), reason), error,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "adj-area-save" }, t("adj_save_area")),
      el("button", { type: "button", id: "adj-area-cancel", onclick: () => { sketch.clearLayers(); bar.hidden = true; } }, t("cancel"))));
  bar.hidden = false;
  bar.onsubmit = async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const why = reason.value.trim();
    if (!why) { error.textContent = t("reason_required"); reason.focus(); return; }
    const area = layer.toGeoJSON().geometry;
    const patch = (spec, etag) => api(`/api/v1/adjustments/${a.id}`, { method: "PATCH", json: { spec, reason: why }, ifMatch: etag });
    try {
      const r = await patch({ ...a.spec, area }, shown.etag);
      toast(t("adj_area_saved"), "ok");
      showAdjustment(r.data, r.etag);
    } catch (e) {
      if (e instanceof ApiError && e.status === 412 && e.body.current) {
        const fields = [...CONFLICT_FIELDS, "area"];
        const values = (x) => ({ ...pick(x), area: (x.spec || {}).area ?? null });
        const base = values(a);
        openConflict({
          base, mine: { ...base, area }, current: e.body.current, etag: e.body.etag, fields, values,
          title: t("adj_conflict_title"), label: (k) => label("adj_fields", k),
          display: (k, v) => (k === "area" ? showGeometry(v) : k === "status" && v ? label("adj_status", v) : fmt(v)),
          lastSaved: (cur) => api(`/api/v1/adjustments/${cur.id}/history`).then(({ data: h }) => h.changes.pop()),
          save: async (merged, newEtag) => {
            if (Object.keys(merged).some((k) => k !== "area")) throw new Error(t("adj_conflict_readonly"));
            const r = await patch({ ...e.body.current.spec, area: merged.area }, newEtag);
            toast(t("adj_area_saved"), "ok");
            showAdjustment(r.data, r.etag);
          },
          reload: () => openAdjustment(a.id),
        });
        return;
      }
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  };
  reason.focus();
}

function clean(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== "" && v !== null && v !== undefined));
}

function pick(a) {
  return Object.fromEntries(CONFLICT_FIELDS.map((k) => [k, a[k] ?? null]));
}

async function post(id, action, body, etag) {
  return api(`/api/v1/adjustments/${id}/${action}`, { method: "POST", json: body, ifMatch: etag });
}

/** One workflow step with the shown version's ETag; on 412 the merge dialog asks whether to go on. */
async function runAction(action, body, target, error) {
  const { data, etag } = shown;
  error.textContent = "";
  try {
    const r = await post(data.id, action, body, etag);
    toast(label("adj_done", action), "ok");
    showAdjustment(r.data, r.etag);
  } catch (e) {
    if (e instanceof ApiError && e.status === 412 && e.body.current) {
      const base = pick(data);
      openConflict({
        base, mine: { ...base, status: target }, current: e.body.current, etag: e.body.etag,
        fields: CONFLICT_FIELDS, values: pick, title: t("adj_conflict_title"),
        label: (k) => label("adj_fields", k),
        display: (k, v) => (k === "status" && v ? label("adj_status", v) : fmt(v)),
        lastSaved: (cur) => api(`/api/v1/adjustments/${cur.id}/history`).then(({ data: h }) => h.changes.pop()),
        // Going on means the same step on the newer version; other fields are not edited here.
        save: async (merged, newEtag) => {
          if (Object.keys(merged).some((k) => k !== "status")) throw new Error(t("adj_conflict_readonly"));
          const r = await post(data.id, action, body, newEtag);
          toast(label("adj_done", action), "ok");
          showAdjustment(r.data, r.etag);
        },
        reload: () => openAdjustment(data.id),
      });
      return;
    }
    error.textContent = `${t("adj_action_failed")}: ${e instanceof ApiError ? e.text : e}`;
  }
}

export function showAdjustment(a, etag) {
  stopDrawing();
  sketch.clearLayers();
  shown = { data: a, etag };
  drawImpact(a);
  const box = pane();
  box.dataset.view = "detail";
  box.dataset.id = String(a.id);
  put(box,
    el("div", { class: "actions" }, el("button", { type: "button", id: "adj-back", onclick: () => showList() }, t("adj_back"))),
    el("h2", { id: "adj-detail-title" }, `#${a.id} ${a.title}`),
    el("p", {},
      el("span", { class: `adj-status st-${a.status}`, id: "adj-status", dataset: { status: a.status } }, label("adj_status", a.status)),
      " · ", label("adj_kind", a.kind), " · ", `${t("adj_version")} ${a.version}`),
    table([
      [t("adj_proposed_by"), a.proposed_by], [t("adj_effective"), a.effective_date],
      [t("adj_authority"), a.approving_authority], [t("adj_document_no"), a.document_no],
      [t("adj_decided_by"), a.decided_by], [t("adj_note"), a.decision_note],
    ]),
    actionsSection(a),
    impactSection(a.impact));
  showTab("adjustments");
}

export function initAdjustments() {
  // The impact drawing belongs to this tab: off the map while another tab is shown, back when it returns.
  new MutationObserver(() => {
    const here = document.body.dataset.tab === "adjustments";
    if (here && !map.hasLayer(impactLayer)) impactLayer.addTo(map);
    if (!here && map.hasLayer(impactLayer)) { map.removeLayer(impactLayer); stopDrawing(); }
  }).observe(document.body, { attributes: true, attributeFilter: ["data-tab"] });
  map.on("pm:create", onCreate);
  map.on("pm:drawend", () => { drawing = false; });
  const tab = $("#tab-adjustments");
  if (tab) tab.addEventListener("click", () => { if (pane().dataset.view !== "detail" && pane().dataset.view !== "new") showList(); });
  // Another user (or none) has other rights: back to the list, or off this tab when it is no longer theirs.
  on("user", () => {
    stopDrawing();
    sketch.clearLayers();
    impactLayer.clearLayers();
    shown = null;
    pane().dataset.view = "";
    if (document.body.dataset.tab !== "adjustments") return;
    if (tab && tab.hidden) showTab("layers");
    else showList();
  });
  onLang(() => {
    if (document.body.dataset.tab !== "adjustments") return;
    if (shown) showAdjustment(shown.data, shown.etag);
    else if (pane().dataset.view !== "new") showList();
  });
}
