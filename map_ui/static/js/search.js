// The search box: Chinese, full pinyin or initials, results while typing (debounced), keyboard friendly.
import { api } from "./api.js";
import { t, onLang } from "./i18n.js";
import { state, emit } from "./state.js";
import { el, $, debounce } from "./ui.js";

const DEBOUNCE_MS = 250;
let results = [];
let active = -1;
let controller = null;

function close(input, list) {
  list.hidden = true;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
  active = -1;
}

function setActive(input, list, i) {
  const items = list.querySelectorAll('[role="option"]');
  if (!items.length) return;
  active = (i + items.length) % items.length;
  items.forEach((n, j) => n.setAttribute("aria-selected", String(j === active)));
  input.setAttribute("aria-activedescendant", items[active].id);
  items[active].scrollIntoView({ block: "nearest" });
}

function choose(input, list, i) {
  const f = results[i];
  if (!f) return;
  close(input, list);
  emit("place:open", { id: f.properties.id, zoom: true });
}

function render(input, list, data) {
  results = data.features;
  list.replaceChildren(
    ...results.map((f, i) => {
      const p = f.properties;
      return el("li", {
        id: `search-opt-${i}`, role: "option", "aria-selected": "false", class: `match-${p.match || ""}`,
        dataset: { id: p.id },
        onmousedown: (e) => { e.preventDefault(); choose(input, list, i); },
      },
      el("span", { class: "name" }, p.name),
      el("span", { class: "py" }, p.romanized || ""),
      el("span", { class: "meta" }, [p.category_name, p.division_name].filter(Boolean).join(" · ")));
    }),
  );
  if (!results.length) list.append(el("li", { class: "none", role: "option", "aria-disabled": "true" }, t("search_none")));
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
  $("#search-count").textContent = t("search_count", { n: results.length });
  active = -1;
}

async function run(input, list) {
  const q = input.value.trim();
  if (!q) { close(input, list); return; }
  if (controller) controller.abort();
  controller = new AbortController();
  try {
    const { data } = await api("/api/v1/places/search", {
      params: { q, limit: 12, as_of: state.asOf }, signal: controller.signal,
    });
    if (input.value.trim() === q) render(input, list, data);
  } catch (e) {
    if (e.name !== "AbortError") console.error(e);
  }
}

export function initSearch() {
  const input = $("#search");
  const list = $("#search-results");
  const later = debounce(() => run(input, list), DEBOUNCE_MS);
  input.addEventListener("input", later);
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); if (list.hidden) run(input, list); else setActive(input, list, active + 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); setActive(input, list, active - 1); }
    else if (e.key === "Enter") { e.preventDefault(); choose(input, list, active >= 0 ? active : 0); }
    else if (e.key === "Escape") close(input, list);
  });
  input.addEventListener("blur", () => setTimeout(() => close(input, list), 150));
  // A language switch keeps the query and the results on screen (only their words change).
  onLang(() => { if (!list.hidden) render(input, list, { features: results }); });
  // Back in the box (e.g. after the language button took the focus), the last results show again.
  input.addEventListener("focus", () => { if (input.value.trim() && results.length && list.hidden) render(input, list, { features: results }); });
}
