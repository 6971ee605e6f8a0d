// Small DOM helpers shared by the screens.
import { api } from "./api.js";

/** el("button", {class: "x", onclick: fn}, "text", child…) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Stored text as a node, for Leaflet tooltips, popups and icons: a string there would be parsed as HTML. */
export function text(s) {
  return el("span", {}, s);
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function fmt(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumFractionDigits: 3 });
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function pct(x) {
  return x === null || x === undefined ? "—" : `${(100 * Number(x)).toFixed(1)}%`;
}

let toastTimer;
export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 4000);
}

/** Fetch with the login token and hand the file to the browser (works when reads need a login too). */
export async function download(path, params, filename, opts = {}) {
  const { data } = await api(path, { params, blob: true, ...opts });
  const href = URL.createObjectURL(data);
  const a = el("a", { href, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
  return data;
}

/** A definition table from [[label, value], …]. */
export function table(rows, cls = "fields") {
  return el("table", { class: cls },
    el("tbody", {}, rows.map(([k, v, attrs]) => el("tr", attrs || {}, el("th", { scope: "row" }, k), el("td", {}, v instanceof Node ? v : fmt(v))))));
}

/** The user's local date (toISOString would give the UTC date: yesterday before 08:00 in Beijing). */
export function today() {
  const d = new Date();
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

/** Show one side-panel tab (ARIA tabs: the selected tab and its panel). */
export function showTab(name) {
  document.querySelectorAll('#tabs [role="tab"]').forEach((tab) => {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
  });
  document.body.dataset.tab = name;
}

export function initTabs() {
  const tabs = () => [...document.querySelectorAll('#tabs [role="tab"]')].filter((x) => !x.hidden);
  document.querySelectorAll('#tabs [role="tab"]').forEach((tab) => {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
    tab.addEventListener("keydown", (e) => {
      const list = tabs();
      const i = list.indexOf(tab);
      let next = null;
      if (e.key === "ArrowRight") next = list[(i + 1) % list.length];
      if (e.key === "ArrowLeft") next = list[(i - 1 + list.length) % list.length];
      if (next) { e.preventDefault(); showTab(next.dataset.tab); next.focus(); }
    });
  });
}

/** replaceChildren without the nulls that conditional children leave (the DOM would print "null"). */
export function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** append without nulls. */
export function add(node, ...children) {
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/**
 * Redraw `root` with `render()` (sync or async) and keep what the user had entered: the value of every control
 * with an id, checkboxes, which <details> were open, and the focus. A language switch must not cost a half-typed
 * form. Restored controls get an "input"/"change" event so live checks and dependent fields follow.
 */
export async function keepForms(root, render) {
  const controls = (node) => [...node.querySelectorAll("input[id], select[id], textarea[id]")].filter((n) => n.type !== "file");
  const saved = new Map(controls(root).map((n) => [n.id, n.type === "checkbox" || n.type === "radio" ? n.checked : n.value]));
  const detailKey = (d, i) => d.id || `${(d.parentElement && d.parentElement.closest("[id]") || root).id}#${i}`;
  const opened = new Map([...root.querySelectorAll("details")].map((d, i) => [detailKey(d, i), d.open]));
  const focused = document.activeElement && root.contains(document.activeElement) ? document.activeElement.id : null;
  await render();
  [...root.querySelectorAll("details")].forEach((d, i) => { const k = detailKey(d, i); if (opened.has(k)) d.open = opened.get(k); });
  for (const n of controls(root)) {
    if (!saved.has(n.id)) continue;
    const v = saved.get(n.id);
    if (n.type === "checkbox" || n.type === "radio") {
      if (n.checked === v) continue;
      n.checked = v;
    } else {
      if (n.value === v) continue;
      n.value = v;
    }
    n.dispatchEvent(new Event(n.tagName === "SELECT" || n.type === "checkbox" || n.type === "radio" ? "change" : "input", { bubbles: true }));
  }
  if (focused) { const n = document.getElementById(focused); if (n) n.focus(); }
}
