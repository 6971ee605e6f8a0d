/* The field app's service worker, served as /field/sw.js (scope /field/; docs/field.md §0).
 * Shell (page, scripts, styles, icons): network first, the cached copy when offline — an update reaches the
 * phone as soon as it is online. Base tiles (/ogc/…/tiles/…): cache first; the app fills the tile cache when
 * it downloads a work package. /api/ is not touched: the app keeps its data in IndexedDB itself. */
const SHELL_CACHE = "diming-field-shell-v2";
const TILE_CACHE = "diming-field-tiles"; // the same name in js/field/app.js
const SHELL = [
  "/field/",
  "/field/manifest.webmanifest",
  "/static/field/icon.svg",
  "/static/field/icon-192.png",
  "/static/field/icon-512.png",
  "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js",
  "/static/css/field.css",
  "/static/js/field/app.js",
  "/static/js/field/store.js",
  "/static/js/field/geo.js",
  "/static/js/field/track.js",
  "/static/js/field/sync.js",
  "/static/js/api.js",
  "/static/js/leaflet-text.js",
  "/static/js/leaflet-i18n.js",
  "/static/js/i18n.js",
  "/static/js/i18n/field.js",
  "/static/js/i18n/patrol.js",
  "/static/js/i18n/map.js",
  "/static/js/ui.js",
  "/static/js/conflict.js",
  "/static/js/place-fields.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("diming-field-shell") && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function networkFirst(request, key) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key || request, response.clone());
    return response;
  } catch (e) {
    const hit = await cache.match(key || request, { ignoreVary: true });
    if (hit) return hit;
    throw e;
  }
}

async function tile(request) {
  const cache = await caches.open(TILE_CACHE);
  const hit = await cache.match(request, { ignoreVary: true });
  if (hit) return hit;
  try {
    return await fetch(request);
  } catch {
    return new Response(null, { status: 204 }); // not in the package and no network: an empty tile
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && (url.pathname === "/field/" || url.pathname === "/field")) {
    event.respondWith(networkFirst(request, "/field/"));
  } else if (url.pathname.startsWith("/ogc/") && url.pathname.includes("/tiles/")) {
    event.respondWith(tile(request));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/field/manifest.webmanifest") {
    event.respondWith(networkFirst(request));
  }
});
