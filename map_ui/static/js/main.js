// Boot: configuration, language, login, the map and its layers, then each role's screens.
import "./leaflet-text.js"; // first: stored text in tooltips and popups is never parsed as HTML
import "./i18n/map.js";
import { api, ApiError } from "./api.js";
import { initAdjustments } from "./adjustments.js";
import { initAuth, restoreSession, applyRoles } from "./auth.js";
import { initDateInputs } from "./date-input.js";
import { initDivisions, loadDivisions } from "./divisions.js";
import { initDraw } from "./draw.js";
import { t, applyI18n, setLang, lang, onLang } from "./i18n.js";
import { map, setupBaseMaps, renderLayerList } from "./map.js";
import { initOverlays } from "./overlays.js";
import { initPatrol } from "./patrol.js";
import { initPlaceEdit } from "./place-edit.js";
import { initPlacePanel } from "./place-panel.js";
import { initPlacesLayer, placeStats } from "./places-layer.js";
import { initPlanner } from "./planner.js";
import { initProposals } from "./proposals.js";
import { initSearch } from "./search.js";
import { state, on, emit } from "./state.js";
import { $, initTabs, showTab } from "./ui.js";

/** /api/v1/ui-config when the server has it; otherwise what /openapi.json says (no base map then). */
async function loadConfig() {
  try {
    const { data } = await api("/api/v1/ui-config");
    return data;
  } catch {
    const { data } = await api("/openapi.json");
    const paths = Object.keys(data.paths);
    const hasAny = (...ps) => ps.some((p) => paths.includes(p));
    return {
      tianditu: null,
      paths,
      features: {
        places: hasAny("/api/v1/places"), proposals: hasAny("/api/v1/proposals"),
        boundaries: hasAny("/api/v1/boundaries"), markers: hasAny("/api/v1/boundary-markers"),
        inspections: hasAny("/api/v1/boundary-inspections"), gpx: hasAny("/api/v1/boundary-patrols"),
        facilities: hasAny("/api/v1/facilities"), facility_kinds: hasAny("/api/v1/facilities/kinds"),
        cemeteries: hasAny("/api/v1/cemeteries"), coverage: hasAny("/api/v1/coverage"),
        suggest: hasAny("/api/v1/coverage/suggest"), ogc: paths.some((p) => p.startsWith("/ogc")),
      },
    };
  }
}

function status() {
  const n = (window.dimingCounts || {});
  $("#status").textContent = t("status_counts", { county: n.county ?? "…", township: n.township ?? "…", places: placeStats.returned });
}

async function boot() {
  window.dimingMap = map; // for people debugging in the console, and for the browser tests
  applyI18n();
  initDateInputs(); // before any screen draws a date field
  $("#lang").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  const asOf = $("#as-of");
  asOf.value = state.asOf;
  asOf.addEventListener("change", () => {
    if (!asOf.value) return;
    state.asOf = asOf.value;
    emit("as_of", state.asOf);
  });
  initTabs();
  showTab("layers");
  initAuth();
  state.config = await loadConfig();
  document.body.dataset.features = Object.entries(state.config.features || {}).filter(([, v]) => v).map(([k]) => k).join(" ");
  await restoreSession();
  setupBaseMaps();
  initDivisions();
  initPlacesLayer();
  initOverlays();
  initSearch();
  initPlacePanel();
  initPlaceEdit();
  initDraw();
  initProposals();
  initPatrol();
  initPlanner();
  initAdjustments();
  applyRoles();
  renderLayerList();
  on("user", () => applyRoles());
  on("places:loaded", status);
  onLang(status);
  try {
    window.dimingCounts = await loadDivisions();
  } catch (e) {
    // DIMING_PUBLIC_READ=false: nothing is readable before a login; draw everything once someone logs in.
    if (!(e instanceof ApiError && e.status === 401)) throw e;
    $("#status").textContent = t("login_needed");
    $("#login-btn").click();
    await new Promise((resolve) => on("user", (u) => { if (u) resolve(); }));
    // The server's configuration (the base-map key) needed the login too: fetch it again and add the base map.
    const full = await loadConfig();
    if (full.tianditu && !state.config.tianditu) {
      state.config = full;
      setupBaseMaps();
    }
    window.dimingCounts = await loadDivisions();
    emit("as_of", state.asOf);
  }
  on("as_of", async () => { window.dimingCounts = await loadDivisions(); status(); });
  emit("view");
  // Let the first view-driven loads finish before saying the page is ready (tests wait for this).
  await new Promise((resolve) => { const done = () => resolve(); on("places:loaded", done); setTimeout(done, 20000); });
  status();
  document.body.dataset.loaded = "true";
}

boot().catch((e) => {
  console.error(e);
  $("#status").textContent = String(e);
  document.body.dataset.loaded = "error";
});
