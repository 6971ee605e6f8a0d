// One place's panel: every register field, variants, cultural protection, review flags and history.
/* global L */
import { api, ApiError } from "./api.js";
import { t, msg, onLang, term } from "./i18n.js";
import { highlight } from "./places-layer.js";
import { zoomTo } from "./map.js";
import { VIEW_ORDER } from "./place-fields.js";
import { state, on, emit, can } from "./state.js";
import { el, $, fmt, table, toast, showTab, put } from "./ui.js";

// The place on screen: {feature, etag, divisionName}.
export const current = { feature: null, etag: null, divisionName: null };

export async function openPlace(id, { zoom = false } = {}) {
  const { data, etag } = await api(`/api/v1/places/${id}`, { params: { as_of: state.asOf } });
  return showPlace(data, etag, { zoom });
}

/** Show a place the page already holds (e.g. the answer of a write: no second read that could be stale). */
export async function showPlace(data, etag, { zoom = false } = {}) {
  current.feature = data;
  current.etag = etag;
  current.divisionName = null;
  const code = data.properties.division_code;
  if (code) {
    try {
      const d = await api(`/api/v1/divisions/${code}`, { params: { as_of: state.asOf } });
      current.divisionName = d.data.properties.name;
    } catch { /* a division outside the data: show the code only */ }
  }
  highlight(data);
  if (zoom) zoomTo(data.geometry);
  renderPlace();
  showTab("place");
  emit("place:shown", current);
  return current;
}

function extent(geometry) {
  if (!geometry) return null;
  const b = L.geoJSON(geometry).getBounds();
  if (!b.isValid()) return null;
  const f = (x) => x.toFixed(5);
  if (geometry.type === "Point") return t("extent_point", { x: f(b.getWest()), y: f(b.getSouth()) });
  return t("extent_box", { w: f(b.getWest()), e: f(b.getEast()), s: f(b.getSouth()), n: f(b.getNorth()) });
}

function value(p, key) {
  // 代码 is the place's own number (stable across versions), never the row id of one version.
  if (key === "id") return String(p.place_id ?? p.id);  // a code: no thousands separator
  if (key === "status") return t(`status.${p.status}`);
  if (key === "romanized_by") return p.romanized_by === "auto" ? t("romanized_by_auto") : p.romanized_by;
  if (key === "source" || key === "remarks" || key === "sources") return term(p[key]);
  if (key === "version") return p.version ? t("version_n", { v: p.version }) : null;
  if (key === "category") return `${p.category_name || ""} (${p.category})`;
  if (key === "division_code") return p.division_code ? `${current.divisionName || ""} ${p.division_code}`.trim() : null;
  if (key === "usage" && p.usage) return t(`usage_values.${p.usage}`);
  if (key === "coord_method" && p.coord_method) return t(`coord_method_values.${p.coord_method}`);
  return p[key];
}

function variants(p) {
  if (!p.variants || !p.variants.length) return el("p", { class: "muted" }, t("no_variants"));
  return el("ul", { class: "variants" }, p.variants.map((v) => el("li", {},
    el("span", { class: "tag" }, t(`variant_kind.${v.kind}`)), " ", el("b", {}, v.name), v.romanized ? ` ${v.romanized}` : "",
    v.valid_from || v.valid_to ? el("small", {}, ` ${v.valid_from || "…"} – ${v.valid_to || "…"}`) : "",
    v.note ? el("small", { class: "muted" }, ` ${v.note}`) : "")));
}

function protection(p) {
  const x = p.protection;
  if (!x) return el("p", { class: "muted" }, t("not_listed"));
  return table([
    [t("prot.category"), x.category],
    [t("prot.listed_on"), x.listed_on],
    [t("prot.measures"), x.measures],
    [t("prot.recorded_on"), x.measures_recorded_on],
    [t("prot.note"), x.note],
  ]);
}

/** A review flag's rule and reason: the reason already starts with the rule ("N5 崇洋：…"), so it is not repeated. */
export function flagText(f) {
  const reason = msg(f, "reason_zh", "reason");
  return reason.startsWith(f.rule) ? [el("b", {}, f.rule), reason.slice(f.rule.length).replace(/^[:：]/, "")]
    : [el("b", {}, f.rule), " ", reason];
}

function flags(p) {
  if (!p.flags || !p.flags.length) return el("p", { class: "muted" }, t("no_flags"));
  return el("ul", { class: "flags" }, p.flags.map((f) => el("li", { class: `flag st-${f.status}` },
    el("span", { class: `cls cls-${f.class}` }, f.class), " ", ...flagText(f), " ",
    el("small", {}, `[${t(`flag_status.${f.status}`)}]`),
    f.outcome_note ? el("small", { class: "muted" }, ` ${f.outcome_note}`) : "")));
}

const INTERNAL = new Set(["grams", "pinyin", "initials", "search_keys", "dup_specific", "dup_pinyin", "dup_dialect",
  "created_at", "updated_at", "version", "id", "row_id", "geom"]);

function changeRow(c) {
  const keys = Array.isArray(c.changed) ? c.changed.filter((k) => !INTERNAL.has(k)) : [];
  const detail = keys.map((k) => {
    const a = c.old ? c.old[k] : undefined;
    const b = c.new ? c.new[k] : undefined;
    return el("div", { class: "chg" }, el("b", {}, t(`fields.${k}`)), `: ${fmt(a)} → ${fmt(b)}`);
  });
  return el("li", {},
    el("div", {}, el("time", { datetime: c.at }, c.at.slice(0, 19).replace("T", " ")), " · ", c.actor, " · ",
      el("span", { class: "tag" }, `${t(`audit_table.${c.table}`)} ${t(`audit_action.${c.action}`)}`),
      c.version ? ` ${t("version_n", { v: c.version })}` : ""),
    c.reason ? el("div", { class: "muted" }, c.reason) : null,
    ...detail);
}

async function loadHistory(box, id) {
  box.replaceChildren(el("p", { class: "muted" }, t("history_loading")));
  try {
    const { data } = await api(`/api/v1/places/${id}/history`);
    box.replaceChildren(
      el("h4", {}, t("versions")),
      el("ol", { class: "versions" }, data.versions.map((v) => el("li", {},
        el("b", {}, v.name), ` ${v.romanized || ""} · ${t(`status.${v.status}`)} · ${v.valid_from} – ${v.valid_to || "…"} · ${t("version_n", { v: v.version })}`))),
      el("h4", {}, t("changes")),
      el("ol", { class: "changes", reversed: true }, [...data.changes].reverse().map(changeRow)),
    );
  } catch (e) {
    box.replaceChildren(el("p", { class: "error" }, e instanceof ApiError ? e.text : String(e)));
  }
}

export function renderPlace() {
  const pane = $("#place-view");
  // A re-render (language switch, login) keeps which sections the user opened or closed.
  const opened = new Map([...pane.querySelectorAll("details[id]")].map((d) => [d.id, d.open]));
  const f = current.feature;
  if (!f) {
    pane.replaceChildren(el("p", { class: "muted" }, t("place_none")));
    return;
  }
  const p = f.properties;
  const rows = VIEW_ORDER.map((k) => [t(`fields.${k}`), value(p, k), { dataset: { field: k } }]);
  rows.splice(rows.findIndex((r) => r[2].dataset.field === "division_code") + 1, 0, [t("extent"), extent(f.geometry)]);
  const history = el("div", { class: "history" });
  const histDetails = el("details", { id: "sec-history", ontoggle: (e) => { if (e.target.open) loadHistory(history, p.id); } },
    el("summary", {}, t("sec_history")), history);
  put(pane,
    el("h2", { id: "place-title" }, p.name, " ", el("small", { class: "py" }, p.romanized || "")),
    el("p", { class: "badges" },
      el("span", { class: `badge st-${p.status}` }, t(`status.${p.status}`)),
      el("span", { class: "badge" }, `${p.category_name || ""} ${p.category}`),
      el("span", { class: "badge" }, t("version_n", { v: p.version })),
      String(p.source || "").includes("synthetic") ? el("span", { class: "badge synthetic" }, t("synthetic")) : null),
    el("div", { class: "actions", dataset: { can: "edit_place" }, hidden: !can("edit_place") },
      el("button", { type: "button", id: "btn-edit", onclick: () => emit("place:edit", current) }, t("edit")),
      el("button", { type: "button", id: "btn-move", onclick: () => emit("place:reshape", current) }, t("move")),
      el("button", { type: "button", id: "btn-propose-rename", hidden: true, dataset: { can: "propose" },
        onclick: () => emit("proposal:rename", current) }, t("proposal_rename"))),
    el("details", { open: true, id: "sec-register" }, el("summary", {}, t("sec_register")), table(rows)),
    el("details", { open: true, id: "sec-variants" }, el("summary", {}, t("sec_variants")), variants(p)),
    el("details", { open: true, id: "sec-protection" }, el("summary", {}, t("sec_protection")), protection(p)),
    el("details", { open: true, id: "sec-flags" }, el("summary", {}, t("sec_flags")), flags(p)),
    histDetails,
  );
  if (current.shownId === p.id) {
    for (const d of pane.querySelectorAll("details[id]")) if (opened.has(d.id)) d.open = opened.get(d.id);
  }
  current.shownId = p.id;
  emit("place:rendered", current);
}

export function initPlacePanel() {
  on("place:open", ({ id, zoom }) => openPlace(id, { zoom }).catch((e) => toast(e instanceof ApiError ? e.text : String(e), "error")));
  on("user", () => renderPlace());
  on("as_of", () => { if (current.feature) openPlace(current.feature.properties.id).catch(() => { current.feature = null; renderPlace(); }); });
  onLang(() => renderPlace());
  renderPlace();
}
