// Filing an issue from the line view. The API opens issues from inspection records (domain.md §5), so an issue
// found on patrol is filed as an ad hoc inspection (kind "other") carrying that one finding, dispute or structure.
import { api, ApiError } from "./api.js";
import { t } from "./i18n.js";
import "./i18n/patrol.js";
import { el, today } from "./ui.js";

const MARKER_PROBLEMS = ["damaged", "moved", "missing", "illegible", "overgrown"];
const LINE_PROBLEMS = ["dispute", "structure"];

/** The finding for `problem` on a marker now in `status`: what is already known of it stays as it is. */
function finding(no, status, problem, note) {
  const f = { marker_no: no, present: status !== "missing", damaged: status === "damaged", moved: status === "moved",
    legible: true, cleared: true, note };
  if (problem === "missing") f.present = false;
  if (problem === "damaged") f.damaged = true;
  if (problem === "moved") f.moved = true;
  if (problem === "illegible") f.legible = false;
  if (problem === "overgrown") f.cleared = false;
  return f;
}

function row(id, label, control) {
  return el("div", { class: "row" }, el("label", { for: id }, label), control);
}

export function issueForm({ line, markers, marker, onSaved, onCancel }) {
  const p = line.properties;
  const error = el("p", { class: "error", role: "alert" });
  const riskRow = row("is-risk", t("issue_risk"), el("select", { id: "is-risk", name: "risk" },
    ["low", "medium", "high"].map((r) => el("option", { value: r, selected: r === "medium" }, t(`risk.${r}`)))));
  const form = el("form", { id: "issue-form", class: "patrol-form", novalidate: true },
    el("h3", {}, t("issue_title")),
    row("is-marker", t("issue_marker"), el("select", { id: "is-marker", name: "marker", dataset: { keepEvent: "1" } },
      el("option", { value: "" }, t("whole_line")),
      markers.map((f) => el("option", { value: f.properties.marker_no, selected: f.properties.marker_no === marker },
        `${f.properties.marker_no} · ${t(`marker.${f.properties.status}`)}`)))),
    row("is-problem", t("issue_problem"), el("select", { id: "is-problem", name: "problem", dataset: { keepEvent: "1" } },
      [...MARKER_PROBLEMS, ...LINE_PROBLEMS].map((k) => el("option", { value: k, selected: k === (marker ? "damaged" : "dispute") }, t(`problem.${k}`))))),
    riskRow,
    row("is-date", t("issue_date"), el("input", { id: "is-date", name: "found_on", type: "date", value: today(), max: today(), required: true })),
    row("is-description", t("issue_description"), el("textarea", { id: "is-description", name: "description", rows: 2 })),
    el("fieldset", {}, el("legend", {}, t("issue_reporters")),
      row("is-left", `${t("team_a")} (${p.left_name || p.left_code})`, el("input", { id: "is-left", name: "team_left", value: p.responsible_left || "", required: true })),
      row("is-right", `${t("team_b")} (${p.right_name || p.right_code || "—"})`, el("input", { id: "is-right", name: "team_right", value: p.responsible_right || "", required: true }))),
    row("is-reason", t("reason"), el("input", { id: "is-reason", name: "reason", value: t("issue_title") })),
    error,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary", id: "btn-issue" }, t("save")),
      el("button", { type: "button", onclick: onCancel }, t("cancel"))));
  const f = form.elements;
  const sync = () => { riskRow.hidden = f.namedItem("problem").value !== "dispute"; };
  f.namedItem("problem").addEventListener("change", sync);
  sync();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const no = f.namedItem("marker").value;
    const problem = f.namedItem("problem").value;
    const description = f.namedItem("description").value.trim();
    if (MARKER_PROBLEMS.includes(problem) && !no) { error.textContent = t("issue_needs_marker"); f.namedItem("marker").focus(); return; }
    if (LINE_PROBLEMS.includes(problem) && !description) { error.textContent = t("issue_needs_description"); f.namedItem("description").focus(); return; }
    const body = {
      line_id: p.line_id, inspected_on: f.namedItem("found_on").value, kind: "other",
      team_left: { unit: f.namedItem("team_left").value.trim() }, team_right: { unit: f.namedItem("team_right").value.trim() },
      findings: [], disputes: [], structures: [], note: description || null,
      reason: f.namedItem("reason").value.trim() || "issue filed on patrol",
    };
    if (MARKER_PROBLEMS.includes(problem)) {
      const m = markers.find((x) => x.properties.marker_no === no);
      body.findings.push(finding(no, m ? m.properties.status : "intact", problem, description || null));
    } else if (problem === "dispute") {
      body.disputes.push({ description, risk: f.namedItem("risk").value });
    } else {
      body.structures.push({ description });
    }
    try {
      const { data } = await api("/api/v1/boundary-inspections", { json: body });
      await onSaved(data);
    } catch (e) {
      error.textContent = `${t("save_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
  return form;
}
