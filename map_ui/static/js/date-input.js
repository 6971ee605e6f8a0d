// Date fields in the page's language. A native <input type=date> follows the browser's locale, not the page:
// an English browser shows mm/dd/yyyy on the Chinese page, a Chinese one 年/月/日 on the English page. Every
// date field of the page (also those the screens add later) becomes a text field holding the ISO date
// (年-月-日, the order both languages read the same and the value every screen and the API already use), with a
// calendar from flatpickr (npm, served locally) in the interface language: 2026年 十二月, 周一 … 周日.
// The field keeps its id, name and value, so forms and screens read it as before.
/* global flatpickr */
import { lang, onLang, t } from "./i18n.js";
import "./i18n/map.js";

const ISO = "\\d{4}-\\d{2}-\\d{2}";
const fields = new Set();

function locale() {
  return lang() === "zh" && window.flatpickr && flatpickr.l10ns.zh ? flatpickr.l10ns.zh : "default";
}

/** flatpickr's selection from the field's value (which screens may have set without telling flatpickr). */
function sync(fp) {
  const v = fp.input.value;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) fp.setDate(v, false);
  else if (!v) fp.clear(false);
}

function label(input) {
  input.placeholder = t("date_placeholder");
  input.title = t("date_hint");
}

/** Turn one <input type=date> into a text field with a calendar in the page's language. */
export function enhanceDate(input) {
  if (!window.flatpickr || input._flatpickr) return;
  const { min, max } = input;
  input.type = "text";
  input.dataset.date = "iso";
  input.inputMode = "numeric";
  input.pattern = ISO;
  input.autocomplete = "off";
  input.spellcheck = false;
  label(input);
  flatpickr(input, {
    dateFormat: "Y-m-d",
    allowInput: true, // typing 2026-05-01 works as well as picking
    animate: false,
    disableMobile: true, // a phone's native picker would bring the browser's language back
    locale: locale(),
    ariaDateFormat: lang() === "zh" ? "Y年n月j日" : "F j, Y",
    minDate: min || null,
    maxDate: max || null,
    // Screens set .value themselves (today, a record's date): the calendar opens on what the field holds.
    onOpen: (_dates, _text, fp) => sync(fp),
  });
  fields.add(input);
}

function scan(root) {
  if (root.matches && root.matches("input[type=date]")) enhanceDate(root);
  if (root.querySelectorAll) root.querySelectorAll("input[type=date]").forEach(enhanceDate);
}

/** Enhance the date fields there are and every one the screens add later. */
export function initDateInputs() {
  scan(document.body);
  new MutationObserver((records) => {
    for (const r of records) r.addedNodes.forEach((n) => { if (n.nodeType === 1) scan(n); });
  }).observe(document.body, { childList: true, subtree: true });
  onLang(() => {
    for (const input of fields) {
      if (!input.isConnected) { fields.delete(input); continue; }
      label(input);
      const fp = input._flatpickr;
      sync(fp); // set() rewrites the field from flatpickr's selection: make that the field's value first
      fp.set("locale", locale());
      fp.set("ariaDateFormat", lang() === "zh" ? "Y年n月j日" : "F j, Y");
    }
  });
}
