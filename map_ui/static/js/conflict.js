// The 412 dialog: both versions side by side, a choice per field, then save the merge with the new ETag.
/* global L */
import { api, ApiError } from "./api.js";
import { t, msg } from "./i18n.js";
import { EDITABLE_KEYS, same } from "./place-fields.js";
import { el, $, fmt, toast } from "./ui.js";

function show(key, v) {
  if (key === "geometry") {
    if (!v) return "—";
    const b = L.geoJSON(v).getBounds();
    if (!b.isValid()) return v.type;
    const c = b.getCenter();
    return `${v.type} ${c.lng.toFixed(5)}, ${c.lat.toFixed(5)}`;
  }
  if (key === "status" && v) return t(`status.${v}`);
  return fmt(v);
}

function theirValues(feature) {
  const p = feature.properties;
  const out = {};
  for (const k of EDITABLE_KEYS) out[k] = k === "category_code" ? p.category_code || p.category : p[k];
  out.geometry = feature.geometry;
  return out;
}

/**
 * Open the merge dialog. `base` = values when the officer opened the form, `mine` = the form, `current` =
 * the 412 body's feature (someone else's save), `etag` = its ETag. `save(body, etag)` PATCHes the merge.
 */
export function openConflict(opts) {
  // Places by default; other records (boundary markers) pass their own fields, values, labels, display and who.
  const { base, mine, current, etag, save, reload, fields = EDITABLE_KEYS, values = theirValues,
    label = (k) => t(`fields.${k}`), display = show, lastSaved = placeLastSaved, title = t("conflict_title") } = opts;
  const dialog = $("#conflict-dialog");
  const theirs = values(current);
  const keys = [...fields, ...("geometry" in mine && !fields.includes("geometry") ? ["geometry"] : [])];
  const rows = keys.filter((k) => !same(mine[k], base[k]) || !same(theirs[k], base[k]));
  const who = el("span", { id: "conflict-who" }, t("conflict_someone"));
  const tbody = el("tbody");
  for (const k of rows) {
    const iChanged = !same(mine[k], base[k]);
    const theyChanged = !same(theirs[k], base[k]);
    const agree = same(mine[k], theirs[k]);
    const take = iChanged ? "mine" : "theirs";
    const name = `take-${k}`;
    const cls = iChanged && theyChanged && !agree ? "both" : iChanged ? "mine" : "theirs";
    tbody.append(el("tr", { class: `conflict-row ${cls}`, dataset: { field: k } },
      el("th", { scope: "row" }, label(k), cls === "both" ? el("small", { class: "warn" }, ` ${t("both_changed")}`) : null),
      el("td", { class: "base" }, display(k, base[k])),
      el("td", { class: "mine" }, display(k, mine[k])),
      el("td", { class: "theirs" }, display(k, theirs[k])),
      el("td", { class: "take" }, agree ? "=" : el("div", { role: "radiogroup", "aria-label": `${t("col_take")} ${label(k)}` },
        el("label", {}, el("input", { type: "radio", name, value: "mine", checked: take === "mine" }), " ", t("take_mine")),
        el("label", {}, el("input", { type: "radio", name, value: "theirs", checked: take === "theirs" }), " ", t("take_theirs")))),
    ));
  }
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { method: "dialog", id: "conflict-form" },
    el("h2", { id: "conflict-title" }, title),
    el("p", {}, ...t("conflict_intro", { etag: String(etag).replace(/"/g, "") }).split("{who}").flatMap((part, i) => (i ? [who, part] : [part]))),
    el("div", { class: "table-wrap" }, el("table", { class: "conflict" },
      el("thead", {}, el("tr", {}, ["col_field", "col_base", "col_mine", "col_theirs", "col_take"].map((c) => el("th", { scope: "col" }, t(c))))),
      tbody)),
    error,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "btn-merge-save", value: "save" }, t("merge_save")),
      el("button", { type: "button", id: "btn-merge-cancel", onclick: () => dialog.close() }, t("cancel"))),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const k of rows) {
      const choice = form.querySelector(`input[name="take-${k}"]:checked`);
      const v = choice && choice.value === "mine" ? mine[k] : theirs[k];
      if (!same(v, theirs[k])) body[k] = v;
    }
    if (!Object.keys(body).length) {
      dialog.close();
      toast(t("merge_nothing"), "ok");
      await reload();
      return;
    }
    try {
      await save(body, etag);
      dialog.close();
    } catch (e) {
      if (e instanceof ApiError && e.status === 412 && e.body.current) {
        // Changed again meanwhile: merge against the newer version, keeping the officer's choices as "mine".
        dialog.close();
        const merged = { ...theirs, ...body };
        openConflict({ ...opts, base: theirs, mine: merged, current: e.body.current, etag: e.body.etag });
        return;
      }
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text || msg(e.body) : e}`;
    }
  });
  dialog.replaceChildren(form);
  dialog.setAttribute("aria-labelledby", "conflict-title");
  dialog.showModal();
  // Who saved the version we collided with: the last entry of the record's audit trail.
  lastSaved(current).then((last) => {
    if (last) who.textContent = `${last.actor}（${last.at.slice(0, 19).replace("T", " ")}${last.reason ? `，${last.reason}` : ""}）`;
  }).catch(() => {});
  return dialog;
}

function placeLastSaved(current) {
  return api(`/api/v1/places/${current.properties.id}/history`)
    .then(({ data }) => data.changes.filter((c) => c.table === "places").pop());
}
