// Leaflet's zoom buttons and attribution prefix come in English; they follow the interface language like the
// rest, on the main map and the phone app's map alike.
import { t, onLang } from "./i18n.js";
import "./i18n/map.js";

function label(map) {
  for (const [cls, key] of [["leaflet-control-zoom-in", "zoom_in"], ["leaflet-control-zoom-out", "zoom_out"]]) {
    const a = map.getContainer().querySelector(`.${cls}`);
    if (a) { a.title = t(key); a.setAttribute("aria-label", t(key)); }
  }
  // The prefix is HTML (Leaflet's API): only our own dictionary words go in, never data, and escaped all the same.
  const hint = t("leaflet_hint").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  if (map.attributionControl) map.attributionControl.setPrefix(`<a href="https://leafletjs.com" title="${hint}">Leaflet</a>`);
}

/** Label ``map``'s controls in the interface language now and after every language switch. */
export function localizeLeaflet(map) {
  label(map);
  onLang(() => label(map));
}
