// The phone patrol app (/field/, issue 16): a work package downloaded before leaving, a patrol recorded with
// the Geolocation API, marker states/notes/photos recorded offline in a queue, sent when the network returns.
/* global L */
import "../leaflet-text.js"; // a string in a tooltip is text, never HTML (first, as in main.js)
import { api, ApiError, getToken, setToken } from "../api.js";
import { t, msg, setLang, lang, applyI18n, onLang } from "../i18n.js";
import "../i18n/patrol.js"; // marker field labels (mfields) for the conflict dialog
import "../i18n/field.js";
import { el, $, fmt, pct, toast } from "../ui.js";
import { openConflict } from "../conflict.js";
import { localizeLeaflet } from "../leaflet-i18n.js";
import { kv, queue, blobs, newId } from "./store.js";
import { Coverage, metres, toSegment } from "./geo.js";
import { Track } from "./track.js";
import { syncQueue } from "./sync.js";

const TILE_CACHE = "diming-field-tiles"; // the same name in sw.js
const STATES = ["intact", "damaged", "moved", "missing"];
const COLORS = { intact: "#2f855a", damaged: "#dd6b20", moved: "#d69e2e", missing: "#c53030", removed: "#718096" };

const app = {
  user: null, pkg: null, coverage: null, track: new Track(), position: null, visited: new Set(),
  etags: {}, items: [], layers: {}, sending: false,
};

// -- map -----------------------------------------------------------------------------------------------------
const map = L.map("map", { zoomControl: true, preferCanvas: true }).setView([31.88, 117.47], 10);
localizeLeaflet(map);
const baseGroup = L.layerGroup().addTo(map);
const lineGroup = L.layerGroup().addTo(map);
const markerGroup = L.layerGroup().addTo(map);
const trackLine = L.polyline([], { color: "#2b6cb0", weight: 4 }).addTo(map);
const me = L.circleMarker([0, 0], { radius: 8, color: "#fff", weight: 3, fillColor: "#3182ce", fillOpacity: 1 });
const meAccuracy = L.circle([0, 0], { radius: 1, weight: 1, color: "#3182ce", fillOpacity: 0.1 });

const BASE_STYLE = {
  townships: { weight: 1, color: "#805ad5", fill: false },
  "place-areas": { weight: 0.5, color: "#a0aec0", fill: true, fillColor: "#e2e8f0", fillOpacity: 0.4 },
  "place-lines": { weight: 1, color: "#4a5568" },
  "place-points": { radius: 2, weight: 1, color: "#4a5568", fill: true, fillOpacity: 0.6 },
};

function drawBase(pkg) {
  baseGroup.clearLayers();
  if (!L.vectorGrid || !pkg.tiles) return;
  const token = getToken();
  for (const c of pkg.tiles.collections) {
    const url = pkg.tiles.template.replace("{collection}", c);
    L.vectorGrid.protobuf(url, {
      maxNativeZoom: pkg.tiles.zooms[1], minZoom: pkg.tiles.zooms[0], interactive: false,
      fetchOptions: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
      vectorTileLayerStyles: new Proxy(BASE_STYLE, { get: (o, k) => o[k] || BASE_STYLE[c] || { weight: 1, color: "#718096" } }),
    }).addTo(baseGroup);
  }
}

function pendingByMarker() {
  const out = {};
  for (const i of app.items) if (i.kind === "marker_visit" && i.data.status) out[i.data.marker_no] = i;
  return out;
}

function issueText(i) {
  return `${t(`issue_kind.${i.kind}`)} · ${t(`risk.${i.risk}`)} · ${i.opened_on}${i.reports > 1 ? ` ×${i.reports}` : ""}${i.description ? ` · ${i.description}` : ""}`;
}

function drawPackage() {
  lineGroup.clearLayers();
  markerGroup.clearLayers();
  const pkg = app.pkg;
  if (!pkg) return;
  L.geoJSON(pkg.lines, {
    style: { color: "#e53e3e", weight: 4, dashArray: "8 6" },
    onEachFeature: (f, l) => l.bindTooltip(el("span", {}, `${f.properties.line_no || ""} ${f.properties.name || f.id}`)),
  }).addTo(lineGroup);
  const pending = pendingByMarker();
  for (const f of pkg.markers.features) {
    const p = f.properties;
    const no = p.marker_no;
    const status = pending[no] ? pending[no].data.status : p.status;
    const visited = app.visited.has(no);
    const [lon, lat] = f.geometry.coordinates;
    const m = L.circleMarker([lat, lon], {
      radius: visited ? 11 : 9, color: visited ? "#22543d" : "#1a202c", weight: visited ? 4 : 2,
      fillColor: COLORS[status] || "#718096", fillOpacity: 0.9,
    });
    m.bindTooltip(el("span", {}, `${no} · ${t(`marker.${status}`)}${visited ? ` ✓ ${t("visited")}` : ""}`));
    m.on("click", () => openMarker(no));
    m.addTo(markerGroup);
  }
  for (const i of pkg.issues || []) {
    if (!i.location) continue;
    L.circleMarker([i.location[1], i.location[0]], { radius: 6, color: "#9b2c2c", weight: 2, fillColor: "#feb2b2", fillOpacity: 1 })
      .bindTooltip(el("span", {}, issueText(i))).addTo(markerGroup);
  }
  trackLine.bringToFront(); // the walked track above the dashed line it follows
}

// -- package ---------------------------------------------------------------------------------------------------
function bytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${n} B`;
}

async function openPackageDialog() {
  const dialog = $("#package-dialog");
  $("#pkg-error").textContent = "";
  $("#pkg-progress").textContent = "";
  dialog.showModal();
  const box = $("#pkg-line-choices");
  if (!navigator.onLine) { $("#pkg-error").textContent = t("pkg_need_online"); return; }
  if (box.childElementCount) return;
  box.textContent = t("pkg_loading_lines");
  try {
    const { data } = await api("/api/v1/boundaries", { params: { level: "county", code: "340122" } });
    const feats = [...data.features].sort((a, b) => String(a.properties.line_no).localeCompare(String(b.properties.line_no)));
    box.replaceChildren(...feats.map((f) => el("label", { class: "check" },
      el("input", { type: "checkbox", name: "line", value: f.properties.line_id, checked: true }), " ",
      `${f.properties.line_no || ""} ${f.properties.name || f.properties.line_id}`)));
  } catch (e) {
    box.textContent = "";
    $("#pkg-error").textContent = e instanceof ApiError ? e.text : String(e);
  }
}

async function downloadPackage(ev) {
  ev.preventDefault();
  const error = $("#pkg-error");
  const progress = $("#pkg-progress");
  error.textContent = "";
  if (!app.user || !getToken()) { error.textContent = t("pkg_need_login"); return; }
  const chosen = [...document.querySelectorAll('#pkg-line-choices input[name="line"]:checked')].map((i) => i.value);
  const all = $("#pkg-all").checked;
  if (!all && !chosen.length) { error.textContent = t("pkg_lines"); return; }
  const body = all ? { code: "340122", level: "county" } : { line_ids: chosen };
  body.zooms = [8, Number($("#pkg-zoom").value)];
  const button = $("#pkg-download");
  button.disabled = true;
  progress.textContent = t("pkg_building");
  try {
    // Ask the browser to keep the offline data under storage pressure (installed apps are usually granted it).
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    const { data } = await api("/api/v1/field/packages", { json: body });
    const old = app.pkg;
    const same = old && old.package_id === data.package_id && old.tile_stats && !old.tile_stats.failed;
    const t0 = performance.now();
    const stats = same ? old.tile_stats : await fetchTiles(data.tiles.urls, (done) => {
      progress.textContent = t("pkg_tiles", { done, total: data.tiles.urls.length });
    });
    if (!same) stats.seconds = Math.round((performance.now() - t0) / 100) / 10;
    // The tile list is large and kept in the cache itself; the package keeps only what the app reads.
    const pkg = { ...data, tiles: { ...data.tiles, urls: undefined }, tile_stats: stats, downloaded_at: new Date().toISOString() };
    await kv.set("package", pkg);
    await kv.set("etags", {});
    app.etags = {};
    setPackage(pkg);
    if (same) toast(t("pkg_same", { id: data.package_id }), "ok");
    progress.textContent = t("pkg_ready");
    document.body.dataset.package = pkg.package_id;
    if (stats.failed) error.textContent = t("pkg_tiles_missing", { n: stats.failed });
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.text : String(e);
    progress.textContent = "";
  } finally {
    button.disabled = false;
  }
}

/** Fetch every tile of the package into the cache the service worker serves them from. */
async function fetchTiles(urls, onProgress) {
  const cache = await caches.open(TILE_CACHE);
  const token = getToken();
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const stats = { count: urls.length, bytes: 0, empty: 0, failed: 0 };
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < urls.length) {
      const url = urls[next++];
      try {
        const r = await fetch(url, { headers });
        if (!r.ok) { stats.failed += 1; continue; }
        const buf = await r.arrayBuffer();
        stats.bytes += buf.byteLength;
        if (r.status === 204 || !buf.byteLength) stats.empty += 1;
        await cache.put(url, new Response(r.status === 204 ? null : buf, {
          status: r.status, headers: { "Content-Type": r.headers.get("Content-Type") || "application/vnd.mapbox-vector-tile" },
        }));
      } catch {
        stats.failed += 1;
      } finally {
        done += 1;
        if (done % 50 === 0 || done === urls.length) onProgress(done);
      }
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker));
  // Tiles of an earlier package that this one does not list would only take the phone's storage.
  const keep = new Set(urls.map((u) => new URL(u, location.origin).href));
  for (const req of await cache.keys()) if (!keep.has(req.url)) await cache.delete(req);
  return stats;
}

function setPackage(pkg) {
  app.pkg = pkg;
  app.coverage = new Coverage(pkg.lines.features, pkg.settings.buffer_m);
  app.visited = new Set();
  for (const seg of app.track.segments) {
    for (let i = 0; i < seg.length; i++) walked(seg[i - 1] || seg[i], seg[i], false);
  }
  drawBase(pkg);
  drawPackage();
  const b = pkg.bbox;
  if (!app.position) map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  renderSheet();
}

function renderSheet() {
  const pkg = app.pkg;
  const summary = $("#pkg-summary");
  if (!pkg) {
    summary.replaceChildren(el("p", { class: "hint" }, t("pkg_none")));
    $("#line-list").replaceChildren();
    $("#marker-list").replaceChildren();
    return;
  }
  const s = pkg.tile_stats || { bytes: 0, count: 0, empty: 0 };
  summary.replaceChildren(
    el("p", { id: "pkg-info" }, t("pkg_info", { at: pkg.generated_at.slice(0, 16).replace("T", " "), by: pkg.generated_by, as_of: pkg.as_of })),
    el("p", { id: "pkg-counts" }, t("pkg_counts", pkg.counts)),
    el("p", { id: "pkg-size", dataset: { bytes: String(pkg.size_bytes), tileBytes: String(s.bytes), tiles: String(s.count), failed: String(s.failed || 0), seconds: String(s.seconds ?? "") } },
      t("pkg_size", { data: bytes(pkg.size_bytes), tiles: bytes(s.bytes), n: s.count, empty: s.empty })),
  );
  $("#line-list").replaceChildren(...pkg.lines.features.map((f) => {
    const share = app.coverage ? app.coverage.share(f.id) : 0;
    const lp = f.properties;
    const open = (pkg.issues || []).filter((i) => i.line_id === f.id).length;
    return el("li", { dataset: { line: f.id, coverage: share.toFixed(4), issues: String(open) } },
      el("div", {},
        el("span", {}, `${lp.line_no || ""} ${lp.name || f.id}`),
        el("small", { class: "line-facts" }, t("line_facts", {
          last: lp.last_inspection ? lp.last_inspection.inspected_on : t("never"),
          next: lp.next_inspection_planned_on || "—", issues: open }))),
      el("strong", { class: "coverage" }, t("coverage", { p: pct(share) })));
  }));
  const pending = pendingByMarker();
  $("#marker-list").replaceChildren(...pkg.markers.features.map((f) => {
    const no = f.properties.marker_no;
    const status = pending[no] ? pending[no].data.status : f.properties.status;
    const visited = app.visited.has(no);
    return el("li", { dataset: { marker: no, visited: String(visited) } },
      el("button", { type: "button", class: `marker-btn ${status}`, onclick: () => openMarker(no) },
        `${no} · ${t(`marker.${status}`)}${pending[no] ? ` (${t("queue_state.waiting")})` : ""}${visited ? ` ✓ ${t("visited")}` : ""}`));
  }));
  $("#visited-count").textContent = t("markers_visited", { n: app.visited.size });
  $("#visited-count").dataset.markers = [...app.visited].sort().join(" ");
}

// -- position and track ---------------------------------------------------------------------------------------
function walked(a, b, redraw = true) {
  if (!app.pkg) return;
  app.coverage.add(a, b);
  const visitM = app.pkg.settings.visit_m;
  for (const f of app.pkg.markers.features) {
    const no = f.properties.marker_no;
    if (app.visited.has(no)) continue;
    const c = f.geometry.coordinates;
    // The same rule as the server's: a marker within visit_m of the walked track was visited.
    const d = a === b ? metres(c, a) : toSegment(c, a, b);
    if (d <= visitM) app.visited.add(no);
  }
  if (redraw) { drawPackage(); renderSheet(); }
}

function renderTrack() {
  const tr = app.track;
  trackLine.setLatLngs(tr.segments.map((seg) => seg.map((p) => [p[1], p[0]])));
  $("#track-state").textContent = t(`track_${tr.state === "idle" ? "idle" : tr.state}`);
  $("#track-stats").textContent = tr.state === "idle" ? ""
    : t("track_stats", { d: `${fmt(Math.round(tr.distance()))} m`, n: tr.points().length, dropped: tr.dropped });
  $("#track-stats").dataset.metres = String(Math.round(tr.distance()));
  $("#track-stats").dataset.points = String(tr.points().length);
  document.body.dataset.track = tr.state;
  $("#btn-start").hidden = tr.state !== "idle";
  $("#btn-pause").hidden = tr.state === "idle";
  $("#btn-pause").textContent = t(tr.state === "paused" ? "btn_resume" : "btn_pause");
  $("#btn-stop").hidden = tr.state === "idle";
}

async function onPosition(pos) {
  const c = pos.coords;
  app.position = { lon: c.longitude, lat: c.latitude, accuracy: c.accuracy };
  const ll = [c.latitude, c.longitude];
  me.setLatLng(ll).addTo(map);
  meAccuracy.setLatLng(ll).setRadius(c.accuracy || 1).addTo(map);
  $("#position").textContent = t("position", { lon: c.longitude.toFixed(6), lat: c.latitude.toFixed(6), acc: Math.round(c.accuracy) });
  const seg = await app.track.add(pos);
  if (seg) {
    walked(seg[0], seg[1]);
    if (!map.getBounds().contains(ll)) map.panTo(ll);
  }
  renderTrack();
}

function watchPosition() {
  if (!navigator.geolocation) { $("#position").textContent = t("geo_unavailable", { e: "—" }); return; }
  navigator.geolocation.watchPosition(onPosition, (e) => {
    // The browser's own message is English whatever the page's language: say it with our words, by its code.
    $("#position").textContent = t("geo_unavailable", { e: t(`geo_error.${e.code}`) });
  }, { enableHighAccuracy: true, maximumAge: 0 });
}

async function stopPatrol() {
  const done = await app.track.stop();
  renderTrack();
  if (!app.pkg) return;
  let n = 0;
  const today = localDate(new Date());
  for (const seg of done.segments) {
    if (seg.length < 2) continue;
    // One patrol record per line the segment came near: the server computes each line's coverage.
    const cov = new Coverage(app.pkg.lines.features, app.pkg.settings.buffer_m);
    for (let i = 1; i < seg.length; i++) cov.add(seg[i - 1], seg[i]);
    for (const line of cov.lines) {
      if (line.covered <= 0) continue;
      await enqueue({ kind: "patrol", data: { line_id: line.id, track: seg, patrolled_on: today, max_accuracy_m: app.track.maxAccuracy, gcj02: false } });
      n += 1;
    }
  }
  toast(n ? t("track_queued", { n }) : t("track_none_near"), n ? "ok" : "error");
  trySync();
}

function localDate(d) {
  const z = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())}`;
}

// -- marker sheet ---------------------------------------------------------------------------------------------
let current = null; // {no, feature, measured, photos: [{id, blob, url}]}

function openMarker(no) {
  const f = app.pkg.markers.features.find((x) => x.properties.marker_no === no);
  if (!f) return;
  const p = f.properties;
  const pending = pendingByMarker()[no];
  current = { no, feature: f, measured: null, photos: [] };
  $("#marker-title").textContent = t("marker_title", { no });
  $("#marker-registered").textContent = t("marker_registered", { status: t(`marker.${p.status}`), line: p.line_id })
    + (pending ? ` · ${t("marker_pending", { status: t(`marker.${pending.data.status}`) })}` : "");
  const issues = (app.pkg.issues || []).filter((i) => i.marker_no === no);
  $("#marker-issues").replaceChildren(...issues.map((i) => el("li", {}, issueText(i))));
  $("#marker-issues").hidden = !issues.length;
  const chosen = pending ? pending.data.status : p.status;
  $("#marker-states").replaceChildren(el("legend", {}, t("marker_state")), ...STATES.map((s) => el("label", { class: `state ${s}` },
    el("input", { type: "radio", name: "marker-state", value: s, checked: s === chosen }), " ", t(`marker.${s}`))));
  $("#marker-note").value = pending ? pending.data.note || "" : p.note || "";
  $("#marker-measured").textContent = "";
  $("#marker-previews").replaceChildren();
  $("#marker-photo").value = "";
  $("#marker-error").textContent = "";
  $("#marker-dialog").showModal();
}

function measureHere() {
  if (!current) return;
  const pos = app.position;
  if (!pos) { $("#marker-error").textContent = t("geo_unavailable", { e: "—" }); return; }
  const d = metres(current.feature.geometry.coordinates, [pos.lon, pos.lat]);
  current.measured = { lon: pos.lon, lat: pos.lat, accuracy_m: Math.round(pos.accuracy * 10) / 10, coord_system: "WGS84" };
  const out = $("#marker-measured");
  out.textContent = t("marker_measured", { lon: pos.lon.toFixed(6), lat: pos.lat.toFixed(6), acc: Math.round(pos.accuracy), d: `${d.toFixed(1)} m` });
  out.dataset.distance = d.toFixed(1);
  // Beyond the tolerance the marker is displaced: suggest 移位 (the officer may still choose otherwise).
  if (d > app.pkg.settings.tolerance_m) {
    const moved = document.querySelector('input[name="marker-state"][value="moved"]');
    if (moved) moved.checked = true;
  }
}

function addPhotos() {
  if (!current) return;
  for (const file of $("#marker-photo").files) {
    const id = newId();
    const url = URL.createObjectURL(file);
    current.photos.push({ id, blob: file, name: file.name, url });
    $("#marker-previews").append(el("img", { src: url, alt: file.name, class: "preview" }));
  }
}

async function saveMarker(ev) {
  ev.preventDefault();
  if (!current) return;
  const { no, feature } = current;
  const p = feature.properties;
  const status = (document.querySelector('input[name="marker-state"]:checked') || {}).value;
  const note = $("#marker-note").value.trim();
  const data = { marker_no: no };
  const changesState = status !== p.status || note !== (p.note || "");
  if (changesState) { data.status = status; data.note = note || null; }
  if (current.measured) data.measured = current.measured;
  if (!changesState && !current.measured && !current.photos.length) { $("#marker-dialog").close(); return; }
  for (const ph of current.photos) await blobs.put({ id: ph.id, blob: ph.blob, name: ph.name });
  // A second visit of a marker whose first record never left the phone amends that record: two changes on
  // the same base version would collide with each other on the server.
  const earlier = app.items.find((i) => i.kind === "marker_visit" && i.state === "waiting" && !i.attempts
    && i.data.marker_no === no);
  if (earlier) {
    const merged = { ...earlier.data, ...data };
    // The form opened with the waiting values; back at the registered ones means no state change after all.
    if (!changesState) { delete merged.status; delete merged.note; }
    await queue.put({ ...earlier, data: merged, photos: [...(earlier.photos || []), ...current.photos.map((x) => x.id)] });
    await refreshQueue();
    $("#marker-dialog").close();
    toast(t("marker_saved_local", { no }), "ok");
    trySync();
    return;
  }
  await enqueue({
    kind: "marker_visit", base_etag: app.etags[no] || p.etag, data, photos: current.photos.map((x) => x.id),
    base: { status: p.status, note: p.note ?? null },
  });
  $("#marker-dialog").close();
  toast(t("marker_saved_local", { no }), "ok");
  drawPackage();
  trySync();
}

// -- queue and sync ---------------------------------------------------------------------------------------------
async function enqueue(change) {
  await queue.add({ change_id: newId(), recorded_at: new Date().toISOString(), state: "waiting", photos: [], ...change });
  await refreshQueue();
}

async function refreshQueue() {
  app.items = await queue.all();
  const open = app.items.length;
  $("#queue-count").textContent = String(open);
  document.body.dataset.queue = String(open);
  document.body.dataset.conflicts = String(app.items.filter((i) => i.state === "conflict").length);
  const list = $("#queue-list");
  if (!open) {
    list.replaceChildren(el("li", { class: "hint" }, t("queue_empty")));
    drawPackage();
    if (app.pkg) renderSheet();
    return;
  }
  list.replaceChildren(...app.items.map((i) => {
    const what = i.kind === "marker_visit" ? `${i.data.marker_no}${i.data.status ? ` → ${t(`marker.${i.data.status}`)}` : ""}`
      : i.kind === "patrol" ? `${i.data.line_id} · ${i.data.track.length}` : "";
    const nPhotos = (i.photos || []).length + (i.data.attachments || []).length;
    const li = el("li", { class: `q ${i.state}`, dataset: { state: i.state, kind: i.kind, change: i.change_id } },
      el("strong", {}, t(`queue_kind.${i.kind}`)), " ", what, " ",
      nPhotos ? el("span", {}, t("queue_photos", { n: nPhotos })) : null, " ",
      el("em", {}, t(`queue_state.${i.state}`)),
      el("small", {}, ` ${i.recorded_at.slice(11, 19)}`));
    if (i.state === "conflict") {
      li.append(el("p", { class: "warn conflict-msg" }, t("conflict_report", { no: i.conflict.marker_no, etag: String(i.conflict.etag).replace(/"/g, "") })),
        el("button", { type: "button", class: "resolve", onclick: () => resolve(i) }, t("resolve")), " ",
        el("button", { type: "button", class: "keep-theirs", onclick: () => keepTheirs(i) }, t("keep_theirs")));
    }
    if (i.state === "rejected") li.append(el("p", { class: "error" }, msg(i.error || {})));
    return li;
  }));
  drawPackage();
  if (app.pkg) renderSheet();
}

function renderNet() {
  const on = navigator.onLine;
  $("#net").textContent = t(on ? "net_online" : "net_offline");
  $("#net").className = `net ${on ? "on" : "off"}`;
  document.body.dataset.online = String(on);
}

async function renderSync() {
  const last = await kv.get("last_sync");
  $("#sync-summary").textContent = last ? t("last_sync", { ...last, at: last.at.slice(11, 19) }) : "";
}

async function trySync(explicit = false) {
  if (app.sending) return;
  if (!navigator.onLine) { if (explicit) toast(t("sync_offline")); return; }
  if (!getToken()) { if (explicit) toast(t("sync_need_login"), "error"); return; }
  if (!app.items.some((i) => i.state === "waiting")) { if (explicit) toast(t("queue_empty")); return; }
  app.sending = true;
  document.body.dataset.syncing = "true";
  try {
    const totals = await syncQueue(async (item, r) => {
      if (r.status === "applied" && item.kind === "marker_visit" && r.result && r.result.etag) {
        app.etags[item.data.marker_no] = r.result.etag;
        await kv.set("etags", app.etags);
        const f = app.pkg && app.pkg.markers.features.find((x) => x.properties.marker_no === item.data.marker_no);
        if (f && r.result.status) {
          f.properties.status = r.result.status;
          if ("note" in item.data) f.properties.note = item.data.note;
          f.properties.etag = r.result.etag;
          await kv.set("package", app.pkg);
        }
      }
    });
    toast(t("sync_done", totals), totals.conflicts || totals.rejected ? "error" : "ok");
    await refreshQueue();
    await renderSync();
    const conflict = app.items.find((i) => i.state === "conflict");
    if (conflict) resolve(conflict);
  } catch (e) {
    toast(t("sync_failed", { e: e instanceof ApiError ? e.text : e.message || e }), "error");
    await refreshQueue();
  } finally {
    app.sending = false;
    document.body.dataset.syncing = "false";
  }
}

/** The marker dialog of the map (conflict.js): mine vs theirs per field; the decision becomes a new change. */
function resolve(item) {
  const c = item.conflict;
  const mine = { status: item.data.status, note: item.data.note ?? null };
  openConflict({
    base: item.base || mine, mine, current: c.current, etag: c.etag, fields: ["status", "note"],
    values: (f) => ({ status: f.properties.status, note: f.properties.note ?? null }),
    label: (k) => t(`mfields.${k}`), display: (k, v) => (k === "status" && v ? t(`marker.${v}`) : fmt(v)),
    title: `${t("marker_conflict_title")} ${c.marker_no}`, lastSaved: () => Promise.resolve(null),
    // Keep mine (all or some fields): a new change, based on the version seen now.
    save: async (body, etag) => {
      const data = { ...item.data, status: undefined, note: undefined, ...body };
      for (const k of ["status", "note"]) if (data[k] === undefined) delete data[k];
      await replace(item, { base_etag: etag, data, base: { status: c.current.properties.status, note: c.current.properties.note ?? null } });
      trySync();
    },
    reload: () => keepTheirs(item),
  });
}

async function replace(item, changes) {
  await queue.del(item.seq);
  const { seq: _seq, conflict: _c, error: _e, ...rest } = item;
  await queue.add({ ...rest, ...changes, change_id: newId(), state: "waiting" });
  await refreshQueue();
}

/** Keep theirs: the state change is dropped; a measured position or photos still go as a plain visit. */
async function keepTheirs(item) {
  const { status: _s, note: _n, ...rest } = item.data;
  if (rest.measured || (rest.attachments && rest.attachments.length)) await replace(item, { data: rest, base_etag: null });
  else { await queue.del(item.seq); await refreshQueue(); }
  const dialog = $("#conflict-dialog");
  if (dialog.open) dialog.close();
  trySync();
}

// -- login --------------------------------------------------------------------------------------------------------
function renderUser() {
  const u = app.user;
  const roles = u ? u.roles.map((r) => t(`roles.${r}`)).join("、") : "";
  $("#user-info").textContent = !u ? t("not_logged_in")
    : u.offline ? t("offline_user", { user: u.username }) : t("logged_in_as", { user: u.username, roles });
  $("#login-btn").textContent = t(u && !u.offline ? "logout" : "login");
  document.body.dataset.user = u ? u.username : "";
}

async function restoreUser() {
  const saved = await kv.get("user");
  if (getToken() && navigator.onLine) {
    try {
      const { data } = await api("/api/v1/auth/me");
      app.user = data;
      await kv.set("user", data);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { setToken(null); app.user = null; } else if (saved) app.user = { ...saved, offline: true };
    }
  } else if (saved && getToken()) {
    app.user = { ...saved, offline: true }; // no network: the token is checked when the queue is sent
  }
  renderUser();
}

function initLogin() {
  const dialog = $("#login-dialog");
  const form = $("#login-form");
  $("#login-btn").addEventListener("click", async () => {
    if (app.user && !app.user.offline) {
      try { await api("/api/v1/auth/logout", { method: "POST" }); } catch { /* gone already */ }
      setToken(null);
      app.user = null;
      await kv.del("user");
      renderUser();
      return;
    }
    $("#login-error").textContent = "";
    form.reset();
    dialog.showModal();
  });
  $("#login-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const { data } = await api("/api/v1/auth/token", {
        form: { username: $("#login-username").value, password: $("#login-password").value },
      });
      setToken(data.access_token);
      app.user = { username: data.username, roles: data.roles };
      await kv.set("user", app.user);
      dialog.close();
      renderUser();
      if (app.pkg) drawBase(app.pkg);
      trySync();
    } catch (e) {
      $("#login-error").textContent = `${t("login_failed")}: ${e instanceof ApiError ? e.text : e}`;
    }
  });
}

// -- start --------------------------------------------------------------------------------------------------------
async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" });
    await navigator.serviceWorker.ready;
    document.body.dataset.sw = "ready";
  } catch (e) {
    document.body.dataset.sw = `error: ${e.message}`;
  }
}

async function start() {
  applyI18n();
  document.title = t("field_page_title");
  $("#lang").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  onLang(() => { document.title = t("field_page_title"); renderUser(); renderNet(); renderTrack(); renderSheet(); refreshQueue(); renderSync(); });
  initLogin();
  $("#btn-package").addEventListener("click", openPackageDialog);
  $("#pkg-close").addEventListener("click", () => $("#package-dialog").close());
  $("#package-form").addEventListener("submit", downloadPackage);
  $("#pkg-all").addEventListener("change", (ev) => {
    for (const i of document.querySelectorAll('#pkg-line-choices input[name="line"]')) i.checked = ev.target.checked;
  });
  $("#pkg-line-choices").addEventListener("change", () => {
    $("#pkg-all").checked = [...document.querySelectorAll('#pkg-line-choices input[name="line"]')].every((i) => i.checked);
  });
  $("#btn-start").addEventListener("click", async () => { await app.track.start(); renderTrack(); });
  $("#btn-pause").addEventListener("click", async () => {
    if (app.track.state === "paused") await app.track.resume(); else await app.track.pause();
    renderTrack();
  });
  $("#btn-stop").addEventListener("click", stopPatrol);
  $("#btn-queue").addEventListener("click", () => $("#queue-dialog").showModal());
  $("#queue-close").addEventListener("click", () => $("#queue-dialog").close());
  $("#btn-sync").addEventListener("click", () => trySync(true));
  $("#queue-sync").addEventListener("click", () => trySync(true));
  $("#marker-measure").addEventListener("click", measureHere);
  $("#marker-photo").addEventListener("change", addPhotos);
  $("#marker-form").addEventListener("submit", saveMarker);
  $("#marker-cancel").addEventListener("click", () => $("#marker-dialog").close());
  window.addEventListener("online", () => { renderNet(); trySync(); });
  window.addEventListener("offline", renderNet);

  renderNet();
  await restoreUser();
  await app.track.load();
  app.etags = (await kv.get("etags")) || {};
  await refreshQueue();
  const pkg = await kv.get("package");
  if (pkg) { setPackage(pkg); document.body.dataset.package = pkg.package_id; } else renderSheet();
  renderTrack();
  await renderSync();
  watchPosition();
  document.body.dataset.loaded = "true";
  registerWorker();
  trySync();
}

start();
