// Editing a place: the attribute form, naming checks while typing, save with If-Match, create.
import { api, ApiError } from "./api.js";
import { t, msg, lang } from "./i18n.js";
import "./i18n/officer.js";
import { openConflict } from "./conflict.js";
import { CORE_FIELDS, REGISTER_FIELDS, STATUSES, EDITABLE, same, parseInput } from "./place-fields.js";
import { current, openPlace, showPlace } from "./place-panel.js";
import { state, on, emit } from "./state.js";
import { el, $, debounce, toast, showTab, put, add } from "./ui.js";
import "./i18n/naming_law.js";

let categories = null;

export async function loadCategories() {
  if (!categories) {
    const { data } = await api("/api/v1/places/categories");
    categories = data.filter((c) => c.code.length === 3);
  }
  return categories;
}

function control(key, kind, options, value) {
  const id = `f-${key}`;
  const common = { id, name: key, dataset: { kind } };
  let input;
  if (kind === "textarea") input = el("textarea", { ...common, rows: 2 }, value ?? "");
  else if (kind === "select") {
    input = el("select", common, el("option", { value: "" }, "—"),
      options.map((o) => el("option", { value: o, selected: o === value }, key === "usage" || key === "coord_method" ? t(`${key}_values.${o}`) : o)));
  } else if (kind === "status") {
    input = el("select", common, STATUSES.map((s) => el("option", { value: s, selected: s === value }, t(`status.${s}`))));
  } else if (kind === "category") {
    input = el("select", { ...common, required: true },
      el("option", { value: "" }, t("choose_category")),
      (categories || []).map((c) => el("option", { value: c.code, selected: c.code === value },
        `${c.code} ${lang() === "en" && c.name_en ? c.name_en : c.name_zh}`))); // one language at a time
  } else {
    const type = kind === "int" || kind === "number" ? "number" : kind === "date" ? "date" : "text";
    input = el("input", { ...common, type, value: value ?? "", step: kind === "number" ? "any" : kind === "int" ? "1" : null });
  }
  return el("div", { class: `row row-${key}` }, el("label", { for: id }, t(`fields.${key}`)), input);
}

function readForm(form) {
  const out = {};
  for (const [key, kind] of EDITABLE) {
    const n = form.elements.namedItem(key);
    if (n) out[key] = parseInput(kind, n.value);
  }
  return out;
}

/** The editable values a place has now: the merge dialog's "base" column. */
export function baseValues(p) {
  const out = {};
  for (const [key] of EDITABLE) out[key] = key === "category_code" ? p.category_code || p.category : p[key];
  return out;
}

// -- naming checks and romanisation while typing ---------------------------------------------------------
function renderChecks(box, result) {
  put(box,
    result.flags.length
      ? el("ul", { class: "flags" }, result.flags.map((f) => el("li", { class: "flag" },
        el("span", { class: `cls cls-${f.class}` }, f.class), " ", el("b", {}, f.rule), " ", msg(f, "reason_zh", "reason"))))
      : el("p", { class: "ok" }, t("checks_ok")),
    result.exempted && result.exempted.length
      ? el("p", { class: "muted" }, result.exempted.map((x) => msg(x, "reason_zh", "reason") || JSON.stringify(x)).join("；"))
      : null,
    result.scope ? el("p", { class: "muted" }, t("checks_scope", { scope: result.scope })) : null,
  );
}

function wireChecks(form, placeId, divisionCode) {
  const box = form.querySelector(".name-checks");
  const preview = form.querySelector(".roman-preview");
  let seq = 0;
  const run = debounce(async () => {
    const name = form.elements.namedItem("name").value.trim();
    const category = form.elements.namedItem("category_code").value || undefined;
    const mine = ++seq;
    if (!name) { box.replaceChildren(); preview.textContent = ""; return; }
    box.replaceChildren(el("p", { class: "muted" }, t("checks_running")));
    try {
      const [check, roman] = await Promise.all([
        api("/api/v1/names/check", {
          json: { name, category, division_code: divisionCode || undefined, place_id: placeId || undefined },
          params: { as_of: state.asOf },
        }),
        api("/api/v1/romanize", { params: { name } }),
      ]);
      if (mine !== seq) return;
      renderChecks(box, check.data);
      preview.textContent = roman.data.romanized;
      form.dataset.checked = name;
    } catch (e) {
      if (mine === seq) box.replaceChildren(el("p", { class: "error" }, e instanceof ApiError ? e.text : String(e)));
    }
  }, 300);
  form.elements.namedItem("name").addEventListener("input", run);
  form.elements.namedItem("category_code").addEventListener("change", run);
  return run;
}

// -- the form --------------------------------------------------------------------------------------------
/**
 * Open the form. mode "edit": {feature, etag}; mode "new": {geometry}.
 * `geometry` on an edit carries a reshaped geometry to save with the attributes.
 */
export async function openForm({ mode, feature, etag, geometry }) {
  await loadCategories();
  const p = feature ? feature.properties : { status: "standard" };
  const base = baseValues(p);
  const pane = $("#place-edit");
  const form = el("form", { id: "place-form", class: "place-form", novalidate: true });
  const title = mode === "edit" ? t("edit_title", { name: p.name }) : t("new_title");
  add(form,
    el("h2", {}, title),
    el("fieldset", {}, el("legend", {}, t("sec_register")),
      CORE_FIELDS.map(([k, kind, opts]) => control(k, kind, opts, base[k])),
      el("div", { class: "row" }, el("span", { class: "label" }, t("romanization")),
        el("output", { class: "roman-preview", for: "f-name", "aria-live": "polite" }, p.romanized || "")),
      el("p", { class: "hint" }, t("romanized_auto")),
      el("section", { class: "checks", "aria-live": "polite", "aria-label": t("checks") },
        el("h3", {}, t("checks")), el("div", { class: "name-checks" })),
      REGISTER_FIELDS.map(([k, kind, opts]) => control(k, kind, opts, base[k]))),
    mode === "edit" ? el("fieldset", { class: "mode" }, el("legend", {}, t("mode")),
      el("label", {}, el("input", { type: "radio", name: "mode", value: "correction", checked: true }), " ", t("mode_correction")),
      el("label", {}, el("input", { type: "radio", name: "mode", value: "legal" }), " ", t("mode_legal")),
      el("div", { class: "row" }, el("label", { for: "f-effective" }, t("effective_date")),
        el("input", { id: "f-effective", name: "effective_date", type: "date" }))) : null,
    mode === "new" && geometry && geometry.type === "Point" ? el("div", { class: "row" },
      el("label", { for: "f-lonlat" }, `${t("fields.geometry")}（${t("lonlat")}）`),
      el("input", { id: "f-lonlat", name: "lonlat", value: geometry.coordinates.map((x) => x.toFixed(6)).join(", ") })) : null,
    el("div", { class: "row" }, el("label", { for: "f-reason" }, t("reason")),
      el("input", { id: "f-reason", name: "reason", required: true })),
    el("p", { class: "error", role: "alert", id: "form-error" }),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "btn-save" }, t("save")),
      el("button", { type: "button", id: "btn-cancel-edit", onclick: () => closeForm() }, t("cancel"))),
  );
  const checks = wireChecks(form, mode === "edit" ? p.id : null, mode === "edit" ? p.division_code : null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = form.querySelector("#form-error");
    error.textContent = "";
    const reason = form.elements.namedItem("reason").value.trim();
    if (!reason) { error.textContent = t("reason_required"); form.elements.namedItem("reason").focus(); return; }
    const mine = readForm(form);
    try {
      if (mode === "edit") {
        const extra = { mode: form.elements.namedItem("mode").value, reason };
        const eff = form.elements.namedItem("effective_date").value;
        if (extra.mode === "legal" && eff) extra.effective_date = eff;
        await saveEdit({ id: p.id, etag, base, mine, extra, geometry });
      } else {
        let geom = geometry;
        const ll = form.elements.namedItem("lonlat");
        if (ll) geom = { type: "Point", coordinates: ll.value.split(",").map((x) => Number(x.trim())) };
        await saveNew({ ...stripNull(mine), geometry: geom, reason });
      }
    } catch (e) {
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
  pane.replaceChildren(form);
  pane.hidden = false;
  $("#place-view").hidden = true;
  showTab("place");
  form.elements.namedItem("name").focus();
  if (mode === "edit") checks();
  return form;
}

export function closeForm() {
  $("#place-edit").hidden = true;
  $("#place-edit").replaceChildren();
  $("#place-view").hidden = false;
  emit("place:form-closed");
}

function stripNull(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

// -- saving ----------------------------------------------------------------------------------------------
/** PATCH the fields that differ from `base`; on 412 open the merge dialog. */
export async function saveEdit({ id, etag, base, mine, extra, geometry }) {
  const body = { ...extra };
  for (const [k] of EDITABLE) if (!same(mine[k], base[k])) body[k] = mine[k];
  if (geometry) body.geometry = geometry;
  const changed = Object.keys(body).filter((k) => !(k in extra));
  if (!changed.length) { toast(t("nothing_changed")); closeForm(); return null; }
  try {
    const r = await api(`/api/v1/places/${id}`, { method: "PATCH", json: body, ifMatch: etag });
    return afterSave(r, id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 412 && e.body.current) {
      return openConflict({
        id, base: { ...base, geometry: geometry ? current.feature && current.feature.geometry : undefined },
        mine: { ...mine, ...(geometry ? { geometry } : {}) },
        current: e.body.current, etag: e.body.etag, extra,
        save: (merged, newEtag) => api(`/api/v1/places/${id}`, { method: "PATCH", json: { ...extra, ...merged }, ifMatch: newEtag })
          .then((r) => afterSave(r, id)),
        reload: () => { closeForm(); emit("place:changed", { id }); return openPlace(id); },
      });
    }
    throw e;
  }
}

// After a write the page shows the server's answer itself (the new version and its ETag), rather than
// reading the place again: the answer comes from the writing transaction, so it can never be stale.
// A typo correction of a name approved by the naming procedure is not written yet (202, R2): it waits for
// another reviewer, and the place is shown as it still is.
async function afterSave(r, id) {
  if (r.status === 202) {
    toast(t("correction_waiting", { old: r.data.old_name, new: r.data.new_name, id: r.data.id }), "ok");
    closeForm();
    emit("place:changed", { id });
    await openPlace(id);
    return r;
  }
  toast(t("saved", { v: r.data.properties.version }), "ok");
  closeForm();
  emit("place:changed", { id });
  await showPlace(r.data, r.etag);
  return r;
}

async function saveNew(body) {
  const r = await api("/api/v1/places", { json: body });
  const id = r.data.properties.id;
  toast(t("created", { id }), "ok");
  closeForm();
  emit("place:created", { id });
  emit("place:changed", { id });
  await showPlace(r.data, r.etag);
  return r;
}

export function initPlaceEdit() {
  on("place:edit", (cur) => openForm({ mode: "edit", feature: cur.feature, etag: cur.etag }));
  on("place:new", ({ geometry }) => openForm({ mode: "new", geometry }));
}
