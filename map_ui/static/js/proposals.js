// Naming and renaming proposals (domain.md §1.3): the list with stages and D1/D2 deadlines, one proposal's
// documents and steps, the next step for the user's role, and a new proposal (from the place panel too).
import { api, ApiError } from "./api.js";
import { t, msg, onLang, lang } from "./i18n.js";
import { loadCategories } from "./place-edit.js";
import { zoomTo } from "./map.js";
import { state, on, emit, has, can } from "./state.js";
import { flagText } from "./place-panel.js";
import { el, $, debounce, table, toast, showTab, download, put, keepForms } from "./ui.js";
import { openConflict } from "./conflict.js";
import "./i18n/naming_law.js";

const STEP_ROLE = { reviewed: "propose", approved: "review", filed: "propose", announced: "propose", rejected: "review", withdrawn: "propose" };
const DOC_KINDS = ["申请书", "综合评估", "专家论证", "征求意见", "风险评估", "民政部门意见", "批复", "备案", "公告", "其他"];
let filter = { stage: "", overdue: false };
let open = null; // {data, etag}
let newForm = null; // the new-proposal form on screen: {kind, place}
let categoryNames = new Map(); // category code -> {name_zh, name_en}

async function categoryName(code) {
  if (!code) return null;
  if (!categoryNames.size) {
    try { categoryNames = new Map((await loadCategories()).map((c) => [c.code, c])); } catch { /* code only */ }
  }
  const c = categoryNames.get(code);
  if (!c) return code;
  return `${(lang() === "en" && c.name_en) || c.name_zh} ${code}`;
}

function pane() {
  return $("#pane-proposals");
}

function stageBadge(p) {
  return el("span", { class: `badge stage-${p.stage}` }, t(`stage.${p.stage}`));
}

function overdueNote(p) {
  const d = p.deadlines || {};
  const parts = [];
  if (d.filing_overdue) parts.push(`D1 ${t("overdue")} (${d.filing_due})`);
  if (d.notice_overdue) parts.push(`D2 ${t("overdue")} (${d.notice_due})`);
  return parts.length ? el("span", { class: "warn" }, ` ⚠ ${parts.join("；")}`) : null;
}

export async function renderList() {
  open = null;
  newForm = null;
  const box = pane();
  if (!has("proposals")) { box.replaceChildren(el("p", { class: "muted" }, t("proposals_unavailable"))); return; }
  const head = el("div", {},
    el("h2", {}, t("proposals")),
    el("div", { class: "actions" },
      el("label", {}, `${t("stage_label")} `, el("select", { id: "proposal-stage", onchange: (e) => { filter.stage = e.target.value; renderList(); } },
        el("option", { value: "" }, "—"),
        Object.keys(t("stage")).map((s) => el("option", { value: s, selected: filter.stage === s }, t(`stage.${s}`))))),
      el("label", {}, el("input", { type: "checkbox", checked: filter.overdue, onchange: (e) => { filter.overdue = e.target.checked; renderList(); } }), ` ${t("overdue")}`),
      can("propose") ? el("button", { type: "button", id: "btn-new-proposal", onclick: () => openNewForm({ kind: "naming" }) }, t("proposal_new")) : null));
  const list = el("ul", { class: "items", id: "proposal-list" });
  const pending = el("section", { id: "corrections", "aria-live": "polite" });
  box.replaceChildren(head, pending, list);
  renderCorrections(pending);
  try {
    const { data } = await api("/api/v1/proposals", { params: { as_of: state.asOf, stage: filter.stage, overdue: filter.overdue || undefined, limit: 100 } });
    if (!data.items.length) list.append(el("li", { class: "muted" }, t("proposals_none")));
    for (const p of data.items) {
      list.append(el("li", { dataset: { id: p.id } },
        el("button", { type: "button", class: "link", onclick: () => openProposal(p.id) },
          `#${p.id} ${t(`proposal_kind.${p.kind}`)} ${p.old_name ? `${p.old_name} → ` : ""}${p.name}`),
        " ", stageBadge(p), el("div", { class: "muted" }, `${p.applied_on} · ${p.applied_by}${p.division_name ? ` · ${p.division_name}` : ""}`),
        overdueNote(p)));
    }
  } catch (e) {
    list.append(el("li", { class: "error" }, e instanceof ApiError ? e.text : String(e)));
  }
}

/** Show one proposal; `known` = the answer of a write ({data, etag}), shown as is rather than read again. */
export async function openProposal(id, known = null, { zoom = true } = {}) {
  const { data, etag } = known || await api(`/api/v1/proposals/${id}`, { params: { as_of: state.asOf } });
  open = { data, etag };
  newForm = null;
  const p = data;
  const category = await categoryName(p.category_code);
  if (p.geometry && zoom) zoomTo(p.geometry);
  const box = pane();
  const next = (p.next_stages || []).filter((s) => can(STEP_ROLE[s]));
  put(box,
    el("button", { type: "button", id: "btn-proposals-back", onclick: () => renderList() }, "← ", t("proposals")),
    el("h2", {}, `#${p.id} ${p.old_name ? `${p.old_name} → ` : ""}${p.name}`, " ", el("small", { class: "py" }, p.romanized || "")),
    el("p", { class: "badges" }, stageBadge(p), el("span", { class: "badge" }, t(`proposal_kind.${p.kind}`)), overdueNote(p)),
    table([
      [t("fields.category"), category], [t("division"), `${p.division_name || ""} ${p.division_code || ""}`],
      [t("reasons"), p.reasons], [t("applicant"), p.applicant], [t("fields.meaning"), p.meaning],
      [t("location_description"), p.location_description], [t("applied"), `${p.applied_on} ${p.applied_by}`],
      [t("comment_period"), p.comment && p.comment.start ? `${p.comment.start} – ${p.comment.end}（${t("days_n", { n: p.comment.days })}）` : null],
      [t("authority"), p.approval_authority], [t("doc_no"), p.approval_doc_no], [t("approved_on"), p.approved_on],
      [t("filing_d1"), p.filed_on || (p.deadlines && p.deadlines.filing_due ? `≤ ${p.deadlines.filing_due}` : null)],
      [t("notice_d2"), p.announced_on || (p.deadlines && p.deadlines.notice_due ? `≤ ${p.deadlines.notice_due}` : null)],
    ]),
    p.flags && p.flags.length ? el("ul", { class: "flags" }, p.flags.map((f) => el("li", {}, el("span", { class: `cls cls-${f.class}` }, f.class), " ", ...flagText(f)))) : null,
    (p.warnings || []).length ? el("ul", { class: "warn" }, p.warnings.map((w) => el("li", {}, msg(w) || w.code))) : null,
    el("h3", {}, t("documents")),
    el("ul", { class: "items" }, (p.documents || []).map((d) => el("li", {}, `${t(`doc_kind.${d.kind}`)} · ${d.title}${d.doc_no ? ` · ${d.doc_no}` : ""}`,
      d.file_url ? el("button", { type: "button", class: "link", onclick: () => download(d.file_url, null, d.file_name) }, ` ⬇ ${d.file_name}`) : null))),
    can("propose") ? documentForm(p.id) : null,
    el("h3", {}, t("steps")),
    el("ol", { class: "versions", id: "proposal-steps" }, (p.steps || []).map((s) => el("li", { dataset: { step: s.id } },
      `${s.date} ${t(`stage.${s.to}`)} · ${s.actor}${s.doc_no ? ` · ${s.doc_no}` : ""} · ${s.reason}`,
      stepChecks((p.checks || []).find((c) => c.step === s.id))))),
    ["approved", "filed", "announced"].includes(p.stage) ? el("p", {},
      el("a", { href: `/api/v1/proposals/${p.id}/notice.html`, target: "_blank", rel: "noopener" }, t("notice_page")), " · ",
      el("button", { type: "button", class: "link", onclick: () => download(`/api/v1/proposals/${p.id}/notice.docx`, null, `notice-${p.id}.docx`) }, t("notice_docx"))) : null,
    next.length ? advanceForm(p, next) : null,
  );
  showTab("proposals");
}

/** What the checks found when a step was recorded, against the gazetteer as it stood then (R2/N7 …): the flags
 * that appeared and those that disappeared since the step before. Steps recorded before checks were kept: none. */
function stepChecks(c) {
  if (!c) return null;
  const item = (f, sign, cls) => el("li", { class: `check-${cls}` }, `${sign} `, el("span", { class: `cls cls-${f.class}` }, f.class), " ", ...flagText(f));
  const changes = [...(c.appeared || []).map((f) => item(f, "+", "appeared")), ...(c.disappeared || []).map((f) => item(f, "−", "disappeared"))];
  return el("div", { class: "step-checks" },
    el("small", { class: "muted" }, `${t("checks_at_step")} ${c.checked_on || c.as_of || ""} · ${(c.flags || []).length ? t("checks_found", { n: c.flags.length }) : t("checks_ok")}`),
    changes.length ? el("ul", { class: "flags" }, changes) : el("small", { class: "muted" }, ` · ${t("checks_unchanged")}`));
}

// -- R2: typo corrections of procedure names, waiting for a second person ------------------------------------
async function renderCorrections(box) {
  let items;
  try {
    ({ data: { items } } = await api("/api/v1/name-corrections", { params: { status: "pending" } }));
  } catch { return; /* the proposals list works without it */ }
  if (!items.length && !can("review")) { box.replaceChildren(); return; }
  box.replaceChildren(el("h3", {}, t("corrections")),
    items.length ? el("ul", { class: "items", id: "correction-list" }, items.map((c) => correctionItem(c, box)))
      : el("p", { class: "muted" }, t("corrections_none")));
}

function correctionItem(c, box) {
  const mine = state.user && state.user.username === c.requested_by;
  const reason = el("input", { name: "reason", "aria-label": t("correction_reject_reason"), placeholder: t("correction_reject_reason") });
  const error = el("p", { class: "error", role: "alert" });
  const done = async (r, key) => {
    toast(t(key, { old: c.old_name, new: c.new_name }), "ok");
    emit("place:changed", { id: c.place_id });
    await renderCorrections(box);
    return r;
  };
  const confirm = (placeEtag) => api(`/api/v1/name-corrections/${c.id}/confirm`, { json: placeEtag ? { place_etag: placeEtag } : {}, ifMatch: c.etag })
    .then((r) => done(r, "correction_confirmed"));
  const onConfirm = async () => {
    error.textContent = "";
    try {
      await confirm();
    } catch (e) {
      if (e instanceof ApiError && e.status === 412 && e.body.current) {
        // The place changed after the officer asked: compare, and confirm against the current version or leave it.
        openConflict({
          base: { name: c.old_name }, mine: { name: c.new_name }, current: e.body.current, etag: e.body.etag,
          fields: ["name"], title: t("correction_conflict_title"),
          save: (_merged, newEtag) => confirm(newEtag),
          reload: () => renderCorrections(box),
        });
        return;
      }
      error.textContent = e instanceof ApiError ? e.text : String(e);
    }
  };
  const onReject = async () => {
    error.textContent = "";
    try {
      const r = await api(`/api/v1/name-corrections/${c.id}/reject`, { json: { reason: reason.value.trim() }, ifMatch: c.etag });
      await done(r, "correction_rejected");
    } catch (e) { error.textContent = e instanceof ApiError ? e.text : String(e); }
  };
  return el("li", { class: "correction", dataset: { id: c.id, place: c.place_id } },
    el("b", { class: "correction-names" }, `${c.old_name} → ${c.new_name}`),
    el("div", { class: "muted" }, t("correction_by", { who: c.requested_by, at: (c.requested_at || "").slice(0, 10) }), ` · #${c.place_id}`),
    el("div", { class: "correction-reason" }, c.reason),
    can("review") && !mine ? el("div", { class: "actions" },
      el("button", { type: "button", class: "primary btn-correction-confirm", onclick: onConfirm }, t("correction_confirm")),
      reason,
      el("button", { type: "button", class: "btn-correction-reject", onclick: onReject }, t("correction_reject"))) : null,
    can("review") && mine ? el("p", { class: "muted" }, t("correction_own")) : null,
    error);
}

/** The place panel says when a correction of the name is waiting for a reviewer. */
async function placeCorrection(cur) {
  if (!cur.feature) return;
  const id = cur.feature.properties.id;
  try {
    const { data } = await api("/api/v1/name-corrections", { params: { place_id: id, status: "pending" } });
    if (!cur.feature || cur.feature.properties.id !== id || !data.items.length) return;
    const c = data.items[0];
    $("#place-view").append(el("p", { class: "warn", id: "place-correction-pending" },
      t("correction_pending_note", { old: c.old_name, new: c.new_name, who: c.requested_by, why: c.reason })));
  } catch { /* the panel works without it */ }
}

function advanceForm(p, next) {
  const form = el("form", { class: "advance", id: "advance-form" },
    el("h3", {}, t("advance")),
    el("div", { class: "row" }, el("label", { for: "adv-to" }, t("advance")),
      el("select", { id: "adv-to", name: "to" }, next.map((s) => el("option", { value: s }, t(`stage.${s}`))))),
    el("div", { class: "row" }, el("label", { for: "adv-date" }, t("date")), el("input", { id: "adv-date", name: "date", type: "date" })),
    el("div", { class: "row" }, el("label", { for: "adv-doc" }, t("doc_no")), el("input", { id: "adv-doc", name: "doc_no" })),
    el("div", { class: "row only-approved" }, el("label", { for: "adv-auth" }, t("authority")), el("input", { id: "adv-auth", name: "authority" })),
    el("div", { class: "row only-approved" }, el("label", { for: "adv-just" }, t("flags_justification")), el("input", { id: "adv-just", name: "flags_justification" })),
    el("div", { class: "row only-reviewed" }, el("label", { for: "adv-cs" }, t("comment_start")), el("input", { id: "adv-cs", name: "comment_start", type: "date" })),
    el("div", { class: "row only-filed" }, el("label", { for: "adv-fw" }, t("filed_with")), el("input", { id: "adv-fw", name: "filed_with" })),
    el("div", { class: "row" }, el("label", { for: "adv-reason" }, t("reason")), el("input", { id: "adv-reason", name: "reason", required: true })),
    el("p", { class: "error", role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, t("submit"))));
  const toggle = () => {
    const to = form.elements.namedItem("to").value;
    form.querySelectorAll(".only-approved").forEach((n) => { n.hidden = to !== "approved"; });
    form.querySelectorAll(".only-reviewed").forEach((n) => { n.hidden = to !== "reviewed"; });
    form.querySelectorAll(".only-filed").forEach((n) => { n.hidden = to !== "filed"; });
  };
  form.elements.namedItem("to").addEventListener("change", toggle);
  toggle();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = form.querySelector(".error");
    const v = (k) => (form.elements.namedItem(k).value || "").trim() || undefined;
    const to = v("to");
    try {
      let r;
      if (to === "rejected" || to === "withdrawn") {
        r = await api(`/api/v1/proposals/${p.id}/${to === "rejected" ? "reject" : "withdraw"}`, { json: { reason: v("reason"), date: v("date") }, ifMatch: open.etag });
      } else {
        r = await api(`/api/v1/proposals/${p.id}/advance`, {
          json: { to, reason: v("reason"), date: v("date"), doc_no: v("doc_no"), authority: v("authority"), flags_justification: v("flags_justification"), comment_start: v("comment_start"), filed_with: v("filed_with") },
          ifMatch: open.etag,
        });
      }
      toast(t(`stage.${to}`), "ok");
      await openProposal(p.id, r);
    } catch (e) {
      err.textContent = e instanceof ApiError ? e.text : String(e);
      if (e instanceof ApiError && e.status === 412) await openProposal(p.id);
    }
  });
  return form;
}

function documentForm(id) {
  const form = el("form", { class: "doc-form", id: "doc-form" },
    el("details", {}, el("summary", {}, `+ ${t("add_document")}`),
      el("div", { class: "row" }, el("label", { for: "doc-kind" }, t("fields.kind")), el("select", { id: "doc-kind", name: "kind" }, DOC_KINDS.map((k) => el("option", { value: k }, t(`doc_kind.${k}`))))),
      el("div", { class: "row" }, el("label", { for: "doc-title" }, t("doc_title")), el("input", { id: "doc-title", name: "title", required: true })),
      el("div", { class: "row" }, el("label", { for: "doc-no" }, t("doc_no")), el("input", { id: "doc-no", name: "doc_no" })),
      el("div", { class: "row" }, el("label", { for: "doc-date" }, t("date")), el("input", { id: "doc-date", name: "doc_date", type: "date" })),
      el("div", { class: "row" }, el("label", { for: "doc-handling" }, t("opinion_handling")), el("input", { id: "doc-handling", name: "opinion_handling" })),
      el("div", { class: "row" }, el("label", { for: "doc-file" }, t("doc_file")), el("input", { id: "doc-file", name: "file", type: "file" })),
      el("p", { class: "error", role: "alert" }),
      el("button", { type: "submit" }, t("submit"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    for (const [k, v] of [...fd.entries()]) if (v === "" || (v instanceof File && !v.name)) fd.delete(k);
    try {
      await api(`/api/v1/proposals/${id}/documents`, { form: fd });
      await openProposal(id);
    } catch (e) {
      form.querySelector(".error").textContent = e instanceof ApiError ? e.text : String(e);
    }
  });
  return form;
}

/** New proposal: naming (a new entity) or renaming (prefilled from the place on screen). */
export async function openNewForm({ kind, place }) {
  const cats = await loadCategories();
  open = null;
  newForm = { kind, place };
  const p = place ? place.feature.properties : null;
  const form = el("form", { id: "proposal-form", class: "place-form" },
    el("h2", {}, `${t("proposal_new")} · ${t(`proposal_kind.${kind}`)}`),
    p ? el("p", {}, `${p.name} (#${p.id}) → `) : null,
    el("div", { class: "row" }, el("label", { for: "pr-name" }, t("fields.name")), el("input", { id: "pr-name", name: "name", required: true })),
    el("section", { class: "checks", "aria-live": "polite" }, el("h3", {}, t("checks")), el("div", { class: "name-checks" })),
    kind === "naming" ? el("div", { class: "row" }, el("label", { for: "pr-cat" }, t("fields.category")),
      el("select", { id: "pr-cat", name: "category_code" }, el("option", { value: "" }, t("choose_category")), cats.map((c) => el("option", { value: c.code }, `${c.code} ${(lang() === "en" && c.name_en) || c.name_zh}`)))) : null,
    kind === "naming" ? el("div", { class: "row" }, el("label", { for: "pr-div" }, t("division")), el("input", { id: "pr-div", name: "division_code", value: "340122" })) : null,
    el("div", { class: "row" }, el("label", { for: "pr-loc" }, t("location_description")), el("input", { id: "pr-loc", name: "location_description" })),
    el("div", { class: "row" }, el("label", { for: "pr-meaning" }, t("fields.meaning")), el("textarea", { id: "pr-meaning", name: "meaning", rows: 2 })),
    el("div", { class: "row" }, el("label", { for: "pr-reasons" }, t("reasons")), el("textarea", { id: "pr-reasons", name: "reasons", rows: 2, required: true })),
    el("div", { class: "row" }, el("label", { for: "pr-applicant" }, t("applicant")), el("input", { id: "pr-applicant", name: "applicant" })),
    el("p", { class: "error", role: "alert" }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, t("submit")),
      el("button", { type: "button", onclick: () => renderList() }, t("cancel"))));
  const checks = form.querySelector(".name-checks");
  const run = debounce(async () => {
    const name = form.elements.namedItem("name").value.trim();
    if (!name) { checks.replaceChildren(); return; }
    try {
      const { data } = await api("/api/v1/names/check", { json: {
        name, category: (form.elements.namedItem("category_code") || {}).value || (p && p.category_code) || undefined,
        division_code: p ? p.division_code : undefined, place_id: p ? p.id : undefined } });
      checks.replaceChildren(data.flags.length
        ? el("ul", { class: "flags" }, data.flags.map((f) => el("li", {}, el("span", { class: `cls cls-${f.class}` }, f.class), " ", ...flagText(f))))
        : el("p", { class: "ok" }, t("checks_ok")));
    } catch (e) { checks.replaceChildren(el("p", { class: "error" }, e instanceof ApiError ? e.text : String(e))); }
  }, 300);
  form.elements.namedItem("name").addEventListener("input", run);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (k) => { const n = form.elements.namedItem(k); return n ? (n.value || "").trim() || undefined : undefined; };
    const body = { kind, name: v("name"), reasons: v("reasons"), applicant: v("applicant"), meaning: v("meaning"), location_description: v("location_description") };
    if (kind === "renaming") body.place_id = p.id;
    else { body.category_code = v("category_code"); body.division_code = v("division_code"); }
    try {
      const r = await api("/api/v1/proposals", { json: body });
      toast(`#${r.data.id} ${t("stage.applied")}`, "ok");
      await openProposal(r.data.id, r);
    } catch (e) {
      form.querySelector(".error").textContent = e instanceof ApiError ? e.text : String(e);
    }
  });
  pane().replaceChildren(form);
  showTab("proposals");
  form.elements.namedItem("name").focus();
}

/** The place panel lists the proposals about that place. */
async function placeProposals(cur) {
  if (!has("proposals") || !cur.feature) return;
  const view = $("#place-view");
  const id = cur.feature.properties.id;
  try {
    const { data } = await api("/api/v1/proposals", { params: { place_id: id, as_of: state.asOf } });
    if (!cur.feature || cur.feature.properties.id !== id) return;
    const btn = view.querySelector("#btn-propose-rename");
    if (btn) btn.hidden = !can("propose");
    view.append(el("details", { open: data.items.length > 0, id: "sec-proposals" }, el("summary", {}, `${t("tab_proposals")} (${data.numberMatched})`),
      el("ul", { class: "items" }, data.items.map((p) => el("li", {},
        el("button", { type: "button", class: "link", onclick: () => openProposal(p.id) }, `#${p.id} ${p.old_name ? `${p.old_name} → ` : ""}${p.name}`), " ", stageBadge(p))))));
  } catch { /* the panel works without it */ }
}

export function initProposals() {
  on("place:rendered", (cur) => placeProposals(cur));
  on("place:rendered", (cur) => placeCorrection(cur));
  on("proposal:rename", (cur) => openNewForm({ kind: "renaming", place: cur }));
  on("user", () => { if (document.body.dataset.tab === "proposals") renderList(); });
  const tab = $("#tab-proposals");
  tab.addEventListener("click", () => { if (!open && !newForm) renderList(); });
  // A language switch redraws the screen in place: the proposal on screen as it was read (no second read),
  // the new-proposal form, and whatever the user had typed into any form (keepForms).
  onLang(() => keepForms(pane(), () => {
    if (open) return openProposal(open.data.id, open, { zoom: false });  // the map stays where the user left it
    if (newForm) return openNewForm(newForm);
    return renderList();
  }));
  renderList();
}
