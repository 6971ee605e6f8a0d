// Patrol screen: lines or markers in view → pick a line → its record, markers with status, open issues, inspection
// history and due date; set a marker's status, move it, file an issue, record a joint inspection (联检); upload a
// GPX track → share of the line covered and displaced markers. Edits go through If-Match and the merge dialog.
/* global L */
import { api, ApiError } from "./api.js";
import { t, onLang, term } from "./i18n.js";
import "./i18n/patrol.js";
import { map, showOverlay } from "./map.js";
import { MARKER_COLORS, loadBoundaries, loadMarkers } from "./overlays.js";
import { issueForm } from "./patrol-issue.js";
import { snapshot, restore } from "./patrol-keep.js";
import { statusForm, moveForm, stopMove, forget } from "./patrol-marker.js";
import { photoCell, releasePhotos } from "./patrol-photos.js";
import { inView } from "./patrol-view.js";
import { state, on, has, can } from "./state.js";
import { el, $, fmt, pct, table, toast, put, showTab, today, text } from "./ui.js";

const picked = L.featureGroup().addTo(map); // the chosen line, its markers, the uploaded track
let level = "county";
let listMode = "lines"; // the first screen lists "lines" or "markers"
let viewOnly = true; // …only those in the map's current view
let listed = { key: null, lines: [], markers: [] }; // what the first screen lists, per level and as_of
let current = null; // {line, etag, markers, inspections, issues}
let panel = null; // the edit open in the line view: {kind: "status" | "move" | "issue", marker}
let lastPatrol = null; // the last GPX result shown, kept across re-renders

function pane() {
  return $("#pane-patrol");
}

function km(m) {
  return m === null || m === undefined ? "—" : `${(Number(m) / 1000).toFixed(2)} km`;
}

function dueText(p) {
  if (!p.next_inspection_due) return "—";
  return p.inspection_overdue ? `${p.next_inspection_due}（${t("overdue")}）` : p.next_inspection_due;
}

async function fetchListed() {
  const key = `${level}|${state.asOf}`;
  if (listed.key === key) return listed;
  const params = level === "county" ? { level: "county", code: "340122" } : { level: "township", parent: "340122" };
  const [lines, markers] = await Promise.all([
    api("/api/v1/boundaries", { params: { ...params, as_of: state.asOf } }),
    has("markers") ? api("/api/v1/boundary-markers", { params: { as_of: state.asOf, limit: 5000 } }) : { data: { features: [] } },
  ]);
  listed = {
    key,
    lines: lines.data.features.sort((a, b) => String(a.properties.line_no).localeCompare(String(b.properties.line_no))),
    markers: markers.data.features,
  };
  return listed;
}

export async function renderLines() {
  const box = pane();
  if (!has("boundaries")) { put(box, el("p", { class: "muted" }, t("patrol_unavailable"))); return; }
  await fetchListed();
  if (current) return; // a line was opened meanwhile
  const radio = (name, value, now, label, set) => el("label", {}, el("input", { type: "radio", name, value, checked: value === now,
    onchange: () => { set(value); renderLines().catch((e) => toast(String(e), "error")); } }), " ", label);
  put(box,
    el("h2", {}, t("patrol_pick")),
    el("div", { class: "actions", role: "radiogroup", "aria-label": t("list_of") },
      radio("list-mode", "lines", listMode, t("patrol_lines"), (v) => { listMode = v; }),
      radio("list-mode", "markers", listMode, t("patrol_markers"), (v) => { listMode = v; })),
    listMode === "lines" ? el("div", { class: "actions", role: "radiogroup", "aria-label": t("patrol_lines") },
      ["county", "township"].map((lv) => radio("line-level", lv, level, t(`line_level.${lv}`), (v) => { level = v; }))) : null,
    el("label", { class: "view-only" }, el("input", { type: "checkbox", id: "patrol-view-only", checked: viewOnly,
      onchange: (e) => { viewOnly = e.target.checked; renderList(); } }), " ", t("view_only")),
    el("p", { class: "muted", id: "patrol-count", "aria-live": "polite" }),
    el("div", { id: "patrol-list" }),
  );
  renderList();
}

function lineItem(f) {
  const p = f.properties;
  return el("li", { dataset: { line: p.line_id } },
    el("button", { type: "button", class: "link", onclick: () => openLine(p.line_id) }, `${p.line_no} ${p.name || p.line_id}`),
    el("div", { class: "muted" }, `${p.left_name || p.left_code} | ${p.right_name || p.right_code || "—"} · ${km(p.length_m)} · ${t("patrol_markers")} ${p.markers}`),
    el("div", { class: p.inspection_overdue ? "warn" : "muted" }, `${t("due")}: ${dueText(p)}`));
}

function lineName(id) {
  const line = listed.lines.find((f) => f.properties.line_id === id);
  return line ? `${line.properties.line_no} ${line.properties.name || id}` : id;
}

function markerItem(f) {
  const p = f.properties;
  return el("li", { dataset: { marker: p.marker_no, line: p.line_id } },
    el("span", { class: "status-dot", style: `background:${MARKER_COLORS[p.status] || "#718096"}`, "aria-hidden": "true" }), " ",
    el("button", { type: "button", class: "link", onclick: () => openLine(p.line_id, { marker: p.marker_no }) }, p.marker_no),
    ` · ${t(`marker.${p.status}`)}`,
    el("div", { class: "muted" }, `${t("marker_line")}: ${lineName(p.line_id)}${p.distance_to_line_m === null ? "" : ` · ${t("to_line")} ${fmt(Number(p.distance_to_line_m))} m`}`));
}

/** The first screen's list, filtered by the view when asked: redrawn on every moveend, never refetched. */
function renderList() {
  const box = $("#patrol-list");
  if (!box || current) return;
  const all = listMode === "lines" ? listed.lines : listed.markers;
  const shown = viewOnly ? all.filter((f) => inView(f.geometry)) : all;
  $("#patrol-count").textContent = viewOnly ? t("in_view_count", { n: shown.length, total: all.length }) : t("all_count", { total: all.length });
  put(box, shown.length
    ? el("ul", { class: "items", id: listMode === "lines" ? "line-list" : "marker-list" }, shown.map(listMode === "lines" ? lineItem : markerItem))
    : el("p", { class: "muted", id: listMode === "lines" ? "line-list" : "marker-list" }, t("none_in_view")));
}

export async function openLine(lineId, { zoom = true, until = null, marker = null } = {}) {
  if (!current || current.line.properties.line_id !== lineId) { panel = null; stopMove(); forget(); }
  for (let i = 0; i < 8; i++) {
    const got = await fetchLine(lineId);
    if (!until || until(got) || i === 7) { current = got; break; }
    await new Promise((r) => setTimeout(r, 150 * (i + 1)));
  }
  drawLine(zoom);
  renderLine();
  showTab("patrol");
  if (marker) selectMarker(marker);
}

function selectMarker(no) {
  pane().querySelectorAll("#marker-table tr.selected").forEach((r) => r.classList.remove("selected"));
  const tr = pane().querySelector(`#marker-table tr[data-marker="${CSS.escape(no)}"]`);
  if (tr) { tr.classList.add("selected"); tr.scrollIntoView({ block: "nearest" }); }
}

/** Open one of the line view's edits (status, move, issue) in the slot above the marker table. */
function openPanel(kind, marker = null) {
  stopMove();
  forget(); // a fresh edit reads the marker (and its ETag) again
  panel = { kind, marker };
  renderPanel();
  const slot = $("#patrol-edit");
  const first = slot && slot.querySelector("select, input, textarea");
  if (first) first.focus();
  if (slot) slot.scrollIntoView({ block: "nearest" });
}

function closePanel() {
  panel = null;
  stopMove();
  forget();
  renderPanel();
}

// After a write, read the line again until it shows the write (the server commits just after it answers).
async function afterMarkerSave(saved) {
  const no = saved.properties.marker_no;
  panel = null;
  forget();
  await openLine(current.line.properties.line_id, { zoom: false, marker: no, until: (cur) => cur.markers.some((f) => f.properties.marker_no === no
    && f.properties.version >= saved.properties.version) });
  loadMarkers().catch(() => {});
  listed.key = null;
}

async function afterIssue(saved) {
  toast(t("issue_saved"), "ok");
  panel = null;
  await openLine(current.line.properties.line_id, { zoom: false, until: (cur) => cur.inspections.some((i) => i.id === saved.id) });
  loadMarkers().catch(() => {});
  listed.key = null;
}

function renderPanel() {
  const slot = $("#patrol-edit");
  if (!slot || !current) return;
  if (!panel) { slot.replaceChildren(); return; }
  const { markers, line } = current;
  if (panel.kind === "status") {
    put(slot, statusForm({ markers, marker: panel.marker || (markers[0] && markers[0].properties.marker_no), onSaved: afterMarkerSave, onCancel: closePanel,
      onPick: (no) => { panel.marker = no; } }));
  } else if (panel.kind === "move") {
    const f = markers.find((m) => m.properties.marker_no === panel.marker);
    put(slot, f ? moveForm({ feature: f, onSaved: afterMarkerSave, onCancel: closePanel }) : null);
  } else if (panel.kind === "issue") {
    put(slot, issueForm({ line, markers, marker: panel.marker, onSaved: afterIssue, onCancel: closePanel }));
  }
}

async function fetchLine(lineId) {
  const [line, markers, inspections, issues] = await Promise.all([
    api(`/api/v1/boundaries/${encodeURIComponent(lineId)}`, { params: { as_of: state.asOf } }),
    api("/api/v1/boundary-markers", { params: { line_id: lineId, as_of: state.asOf, limit: 1000 } }),
    api("/api/v1/boundary-inspections", { params: { line_id: lineId } }),
    api("/api/v1/boundary-issues", { params: { line_id: lineId, status: "open" } }).catch(() => ({ data: [] })),
  ]);
  return { line: line.data, etag: line.etag, markers: markers.data.features, inspections: inspections.data, issues: issues.data };
}

function drawLine(zoom) {
  picked.clearLayers();
  const geo = L.geoJSON(current.line, { pane: "lines", style: { color: "#d69e2e", weight: 7, opacity: 0.55 }, interactive: false }).addTo(picked);
  L.geoJSON({ type: "FeatureCollection", features: current.markers }, {
    pointToLayer: (f, ll) => L.circleMarker(ll, { pane: "points", radius: 7, weight: 2, color: "#1a202c", fillColor: MARKER_COLORS[f.properties.status] || "#718096", fillOpacity: 1 }),
    onEachFeature: (f, l) => {
      l.bindTooltip(text(`${f.properties.marker_no} · ${t(`marker.${f.properties.status}`)}`), { permanent: map.getZoom() >= 13 });
      l.on("click", () => selectMarker(f.properties.marker_no)); // its row in the table, with the row's actions
    },
  }).addTo(picked);
  if (zoom) map.fitBounds(geo.getBounds(), { padding: [30, 30] });
}

function openInspection() {
  const d = $("#inspection-details");
  if (!d) return;
  d.open = true;
  d.scrollIntoView({ block: "nearest" });
  $("#insp-date").focus();
}

function renderLine() {
  const p = current.line.properties;
  const box = pane();
  releasePhotos();
  const gallery = el("div", { id: "marker-photos", "aria-live": "polite" });
  const edit = can("patrol");
  put(box,
    el("button", { type: "button", id: "patrol-back", onclick: () => { current = null; panel = null; stopMove(); picked.clearLayers(); renderLines(); } }, "← ", t("patrol_lines")),
    el("h2", { id: "line-title" }, `${p.line_no} ${p.name || p.line_id}`),
    el("p", { class: "badges" },
      el("span", { class: "badge" }, t(`line_level.${p.level}`)),
      p.outer ? el("span", { class: "badge" }, t("outer_edge")) : null,
      el("span", { class: `badge ${p.inspection_overdue ? "st-non_standard" : "st-standard"}`, id: "line-due" }, `${t("due")}: ${dueText(p)}`)),
    table([
      [t("sides"), `${p.left_name || p.left_code} | ${p.right_name || p.right_code || "—"}`],
      [t("length"), km(p.length_m)],
      [t("agreement"), term(p.agreement_ref)], [t("detail_map"), term(p.detail_map_ref)],
      [t("responsible"), [p.responsible_left, p.responsible_right].filter(Boolean).join(" | ")],
      [t("last_inspection"), p.last_inspection_on], [t("due"), dueText(p)],
    ]),
    edit ? el("div", { class: "actions patrol-actions", role: "toolbar", "aria-label": t("act_actions") },
      el("button", { type: "button", id: "btn-open-inspection", onclick: openInspection }, t("act_record_inspection")),
      el("button", { type: "button", id: "btn-open-issue", onclick: () => openPanel("issue") }, t("act_file_issue")),
      el("button", { type: "button", id: "btn-open-status", disabled: !current.markers.length, onclick: () => openPanel("status") }, t("act_set_status"))) : null,
    el("div", { id: "patrol-edit", "aria-live": "polite" }),
    el("h3", {}, `${t("patrol_markers")} (${current.markers.length})`),
    el("table", { class: "grid", id: "marker-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "No."), el("th", {}, t("marker_status")), el("th", { class: "num" }, t("to_line")), el("th", {}, t("photos")),
        edit ? el("th", {}, el("span", { class: "sr-only" }, t("act_actions"))) : null)),
      el("tbody", {}, current.markers.map((f) => {
        const m = f.properties;
        return el("tr", { dataset: { marker: m.marker_no } },
          el("td", {}, m.marker_no),
          el("td", { class: "status" }, el("span", { class: "status-dot", style: `background:${MARKER_COLORS[m.status] || "#718096"}`, "aria-hidden": "true" }), " ", t(`marker.${m.status}`)),
          el("td", { class: "num" }, m.distance_to_line_m === null ? "—" : `${fmt(Number(m.distance_to_line_m))} m`),
          photoCell(m.marker_no, gallery),
          edit ? el("td", { class: "row-actions" },
            el("button", { type: "button", class: "act-status", "aria-label": `${m.marker_no} ${t("act_status")}`, onclick: () => openPanel("status", m.marker_no) }, t("act_status")),
            el("button", { type: "button", class: "act-move", "aria-label": `${m.marker_no} ${t("act_move")}`, onclick: () => openPanel("move", m.marker_no) }, t("act_move")),
            el("button", { type: "button", class: "act-issue", "aria-label": `${m.marker_no} ${t("act_file_issue")}`, title: t("act_file_issue"), onclick: () => openPanel("issue", m.marker_no) }, "!")) : null);
      }))),
    gallery,
    el("details", { open: true, id: "open-issues" }, el("summary", { class: current.issues.length ? "warn" : "" }, `${t("open_issues")} (${current.issues.length})`),
      current.issues.length ? el("ul", { id: "issue-list" }, current.issues.map((i) => el("li", { dataset: { kind: i.kind, marker: i.marker_no || "" } },
        `${t(`issue_kind.${i.kind}`)}${i.marker_no ? ` ${i.marker_no}` : ""}: ${i.description}`,
        el("span", { class: "muted" }, ` · ${t("opened_on")} ${i.opened_on} · ${t(`risk.${i.risk}`)}`,
          i.reports > 1 ? ` · ${t("reported_times", { n: i.reports, on: i.last_reported_on || "" })}` : "")))) : el("p", { class: "muted", id: "issue-list" }, "—")),
    el("h3", {}, `${t("inspections")} (${current.inspections.length})`),
    current.inspections.length ? el("ol", { class: "versions", id: "inspection-list" }, current.inspections.map((i) => el("li", {},
      `${i.inspected_on} · ${t(`inspection_kind.${i.kind}`)} · ${t("findings")} ${i.findings}${i.filed_on ? ` · ${t("filed")} ${i.filed_on} ${i.filing_ref || ""}` : ""}`)))
      : el("p", { class: "muted", id: "inspection-list" }, "—"),
    edit ? inspectionForm() : null,
    edit && has("gpx") ? gpxForm() : null,
    el("div", { id: "gpx-result", "aria-live": "polite" }),
  );
  renderPanel();
  if (lastPatrol && lastPatrol.line_id === p.line_id) renderPatrolResult(lastPatrol.result);
}

function inspectionForm() {
  const p = current.line.properties;
  const form = el("form", { id: "inspection-form" },
    el("details", { id: "inspection-details" }, el("summary", {}, t("inspection_new")),
      el("div", { class: "row" }, el("label", { for: "insp-date" }, t("inspection_date")), el("input", { id: "insp-date", name: "inspected_on", type: "date", value: today(), max: today(), required: true })),
      el("div", { class: "row" }, el("label", { for: "insp-kind" }, t("fields.kind")),
        el("select", { id: "insp-kind", name: "kind" }, ["periodic", "flood", "works", "other"].map((k) => el("option", { value: k }, t(`inspection_kind.${k}`))))),
      el("div", { class: "row" }, el("label", { for: "insp-left" }, `${t("team_a")} (${p.left_name || p.left_code})`), el("input", { id: "insp-left", name: "team_left", value: p.responsible_left || "", required: true })),
      el("div", { class: "row" }, el("label", { for: "insp-right" }, `${t("team_b")} (${p.right_name || p.right_code || "—"})`), el("input", { id: "insp-right", name: "team_right", value: p.responsible_right || "", required: true })),
      el("fieldset", {}, el("legend", {}, t("findings")),
        el("table", { class: "grid findings" },
          el("thead", {}, el("tr", {}, el("th", {}, "No."), ["present", "damaged", "moved", "legible", "cleared"].map((k) => el("th", {}, t(k))), el("th", {}, t("notes")))),
          el("tbody", {}, current.markers.map((f) => {
            const no = f.properties.marker_no;
            const box = (k, on) => el("td", {}, el("input", { type: "checkbox", name: `${k}:${no}`, checked: on, "aria-label": `${no} ${t(k)}` }));
            return el("tr", { dataset: { marker: no } }, el("td", {}, no), box("present", true), box("damaged", false), box("moved", false), box("legible", true), box("cleared", true),
              el("td", {}, el("input", { name: `note:${no}`, "aria-label": `${no} ${t("notes")}`, size: 8 })));
          })))),
      el("div", { class: "row" }, el("label", { for: "insp-disputes" }, t("disputes")), el("textarea", { id: "insp-disputes", name: "disputes", rows: 2 })),
      el("div", { class: "row" }, el("label", { for: "insp-note" }, t("notes")), el("textarea", { id: "insp-note", name: "note", rows: 2 })),
      el("p", { class: "error", role: "alert" }),
      el("button", { type: "submit", class: "primary", id: "btn-inspection" }, t("save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const findings = current.markers.map((m) => {
      const no = m.properties.marker_no;
      const c = (k) => f.namedItem(`${k}:${no}`).checked;
      return { marker_no: no, present: c("present"), damaged: c("damaged"), moved: c("moved"), legible: c("legible"), cleared: c("cleared"), note: f.namedItem(`note:${no}`).value || null };
    });
    const disputes = f.namedItem("disputes").value.split("\n").map((s) => s.trim()).filter(Boolean).map((d) => ({ description: d }));
    const body = {
      line_id: p.line_id, inspected_on: f.namedItem("inspected_on").value, kind: f.namedItem("kind").value,
      team_left: { unit: f.namedItem("team_left").value }, team_right: { unit: f.namedItem("team_right").value },
      findings, disputes, note: f.namedItem("note").value || null, reason: "joint inspection record",
    };
    try {
      const { data: saved } = await api("/api/v1/boundary-inspections", { json: body });
      toast(t("inspection_saved"), "ok");
      // Read our own write: the line's record must show this inspection. The server currently commits just
      // after it answers (FastAPI's yield-dependency teardown), so a few short retries bridge that moment.
      await openLine(p.line_id, { zoom: false, until: (cur) => cur.inspections.some((i) => i.id === saved.id)
        && (saved.kind !== "periodic" || (cur.line.properties.last_inspection_on || "") >= saved.inspected_on) });
      loadBoundaries().catch(() => {});
      loadMarkers().catch(() => {});
    } catch (e) {
      form.querySelector(".error").textContent = e instanceof ApiError ? e.text : String(e);
    }
  });
  return form;
}

function gpxForm() {
  const form = el("form", { id: "gpx-form" },
    el("h3", {}, t("gpx_upload")),
    el("div", { class: "row" }, el("label", { for: "gpx-file" }, t("gpx_file")), el("input", { id: "gpx-file", name: "file", type: "file", accept: ".gpx,application/gpx+xml", required: true })),
    el("div", { class: "row" }, el("label", { for: "gpx-buffer" }, t("buffer_m")), el("input", { id: "gpx-buffer", name: "buffer_m", type: "number", min: 1, step: 1, placeholder: "50" })),
    el("label", {}, el("input", { type: "checkbox", name: "gcj02", id: "gpx-gcj02" }), " ", t("gpx_gcj02")),
    el("p", { class: "error", role: "alert" }),
    el("button", { type: "submit", id: "btn-gpx" }, t("submit")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData();
    fd.append("line_id", current.line.properties.line_id);
    fd.append("file", form.elements.namedItem("file").files[0]);
    if (form.elements.namedItem("buffer_m").value) fd.append("buffer_m", form.elements.namedItem("buffer_m").value);
    if (form.elements.namedItem("gcj02").checked) fd.append("gcj02", "true");
    try {
      const { data } = await api("/api/v1/boundary-patrols", { form: fd });
      await showPatrol(data);
    } catch (e) {
      form.querySelector(".error").textContent = e instanceof ApiError ? e.text : String(e);
    }
  });
  return form;
}

async function showPatrol(r) {
  let track = null;
  for (let i = 0; i < 6 && !track; i++) {
    try { track = (await api(`/api/v1/boundary-patrols/${r.id}`)).data.track; } catch { await new Promise((ok) => setTimeout(ok, 150 * (i + 1))); }
  }
  if (track) L.geoJSON(track, { pane: "lines", style: { color: "#6b46c1", weight: 3, dashArray: "6 4" }, interactive: false }).addTo(picked);
  const byNo = new Map(current.markers.map((f) => [f.properties.marker_no, f]));
  for (const a of r.displacement_alerts || []) {
    const reg = byNo.get(a.marker_no);
    const at = L.latLng(a.surveyed[1], a.surveyed[0]);
    L.circleMarker(at, { pane: "points", radius: 8, color: "#c53030", weight: 3, fillOpacity: 0 }).bindTooltip(text(`${a.marker_no} ${fmt(a.distance_m)} m`), { permanent: true, className: "displaced" }).addTo(picked);
    if (reg) L.polyline([L.latLng(reg.geometry.coordinates[1], reg.geometry.coordinates[0]), at], { pane: "lines", color: "#c53030", dashArray: "3 3" }).addTo(picked);
  }
  lastPatrol = { line_id: current.line.properties.line_id, result: r };
  renderPatrolResult(r);
  $("#gpx-result").scrollIntoView({ block: "nearest" });
  showOverlay("markers", true);
}

function renderPatrolResult(r) {
  const box = $("#gpx-result");
  put(box,
    el("h3", {}, t("gpx_upload")),
    el("p", { class: "big", id: "gpx-share" }, pct(r.coverage)),
    el("div", { class: "bar", role: "img", "aria-label": pct(r.coverage) }, el("span", { style: `width:${(100 * r.coverage).toFixed(1)}%` })),
    el("p", {}, t("gpx_result", { share: pct(r.coverage), len: `${km(r.covered_m)} / ${km(r.line_length_m)}` }), ` · ${t("buffer_m")} ${fmt(r.buffer_m)} m`),
    el("p", {}, `${t("visited")}: ${(r.markers_visited || []).join("、") || "—"}`),
    el("h4", {}, t("gpx_displaced")),
    (r.displacement_alerts || []).length
      ? el("ul", { class: "flags", id: "displaced" }, r.displacement_alerts.map((a) => el("li", { class: "warn" },
        `${a.marker_no}: ${fmt(a.distance_m)} m > ${fmt(a.tolerance_m)} m`)))
      : el("p", { class: "ok", id: "displaced" }, t("gpx_none_displaced")),
    (r.unknown_markers || []).length ? el("p", { class: "muted" }, `? ${r.unknown_markers.join("、")}`) : null,
  );
}

export function initPatrol() {
  const tab = $("#tab-patrol");
  tab.addEventListener("click", () => { if (!current) renderLines().catch((e) => toast(String(e), "error")); });
  on("line:pick", ({ id, feature }) => {
    if (can("patrol")) { openLine(id, { zoom: false }).catch((e) => toast(String(e), "error")); return; }
    const p = feature.properties;
    L.popup().setLatLng(map.getCenter()).setContent(el("div", {}, el("h3", {}, `${p.line_no} ${p.name || p.line_id}`),
      table([[t("sides"), `${p.left_name || p.left_code} | ${p.right_name || p.right_code || "—"}`], [t("length"), km(p.length_m)],
        [t("patrol_markers"), p.markers], [t("last_inspection"), p.last_inspection_on], [t("due"), dueText(p)]]))).openOn(map);
  });
  on("as_of", () => {
    listed.key = null;
    if (current) openLine(current.line.properties.line_id, { zoom: false }).catch(() => {});
    else if (document.body.dataset.tab === "patrol") renderLines().catch(() => {});
  });
  // A language switch redraws the pane in the other language; half-filled forms keep what was typed.
  onLang(() => {
    const keep = snapshot(pane());
    if (current) { renderLine(); restore(pane(), keep); } else if (document.body.dataset.tab === "patrol") renderLines().then(() => restore(pane(), keep)).catch(() => {});
  });
  map.on("moveend", () => { if (!current && viewOnly) renderList(); });
}
