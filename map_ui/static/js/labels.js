// Names of divisions on the map at the scale where they help: the county and its neighbours and the townships
// from the county view on, villages from the township view on. Labels are placed greedily by priority on
// screen boxes after every move or zoom, so no two overlap; a label that would collide is left out.
// A neighbouring county is named where its visible part is (its own centre is often off screen).
// Names are stored data: they go in as textContent, never as HTML.
/* global L */
import { api } from "./api.js";
import { map, overlayVisible } from "./map.js";
import { state, on } from "./state.js";

const COUNTY = "340122";
/** The smallest zoom at which each kind of label is shown (the first view of the county is about 10). */
export const LABEL_ZOOM = { county: 7, township: 9, village: 12 };
/** From this zoom on the place names carry their own labels (places-layer.js): villages leave it to them. */
const PLACE_LABEL_ZOOM = 15;
const MARGIN = 4; // px kept free around each label
const EDGE = 2; // px a label keeps from the map's edge

let counties = []; // GeoJSON features
let townships = [];
let villages = null; // null: not loaded for this as_of
let villagesFor = null;
let villagesLoading = null;

// -- geometry in screen pixels --------------------------------------------------------------------------
function outerRings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates[0]];
  if (geometry.type === "MultiPolygon") return geometry.coordinates.map((p) => p[0]);
  return [];
}

function ringArea(pts) {
  let a = 0;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) a += (pts[j].x + pts[i].x) * (pts[j].y - pts[i].y);
  return Math.abs(a / 2);
}

function centroidY(pts) {
  let a = 0;
  let cy = 0;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const f = pts[j].x * pts[i].y - pts[i].x * pts[j].y;
    a += f;
    cy += (pts[j].y + pts[i].y) * f;
  }
  return a ? cy / (3 * a) : pts[0].y;
}

/** The widest run inside the ring along the horizontal line y: [x0, x1] or null. */
function widestRun(pts, y) {
  const xs = [];
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const a = pts[j];
    const b = pts[i];
    if ((a.y > y) !== (b.y > y)) xs.push(a.x + ((y - a.y) * (b.x - a.x)) / (b.y - a.y));
  }
  xs.sort((p, q) => p - q);
  let best = null;
  for (let k = 0; k + 1 < xs.length; k += 2) {
    if (!best || xs[k + 1] - xs[k] > best[1] - best[0]) best = [xs[k], xs[k + 1]];
  }
  return best;
}

/**
 * Points inside the part of the polygon that is on screen, with room for a label, best first: the visible
 * outline is clipped to the map (Leaflet's own Sutherland–Hodgman clip), and a label sits in the middle of the
 * widest horizontal run through the centroid, then through other heights (used when the first spot is taken).
 * Container points; none when too little of the polygon is in view.
 */
function visibleAnchors(geometry, size, view) {
  let best = null;
  for (const ring of outerRings(geometry)) {
    const px = ring.map(([lon, lat]) => map.latLngToContainerPoint([lat, lon]));
    const clipped = L.PolyUtil.clipPolygon(px, view);
    if (clipped.length < 3) continue;
    const area = ringArea(clipped);
    if (!best || area > best.area) best = { pts: clipped, area };
  }
  if (!best || best.area < size.x * size.y * 2) return [];
  const ys = best.pts.map((p) => p.y);
  const top = Math.min(...ys);
  const h = Math.max(...ys) - top;
  const out = [];
  for (const y of [centroidY(best.pts), top + h * 0.5, top + h * 0.3, top + h * 0.7, top + h * 0.15, top + h * 0.85]) {
    const run = widestRun(best.pts, y);
    if (run && run[1] - run[0] >= size.x) out.push(L.point((run[0] + run[1]) / 2, y));
  }
  return out;
}

// -- measuring and placing ------------------------------------------------------------------------------
const sizes = new Map();
let probe = null;

function measure(kind, name) {
  const key = `${kind}\u0000${name}`;
  if (!sizes.has(key)) {
    probe.className = `map-label lvl-${kind}`;
    probe.textContent = name;
    const r = probe.getBoundingClientRect();
    sizes.set(key, L.point(Math.ceil(r.width), Math.ceil(r.height)));
  }
  return sizes.get(key);
}

function overlaps(a, b) {
  return a.x0 < b.x1 + MARGIN && b.x0 < a.x1 + MARGIN && a.y0 < b.y1 + MARGIN && b.y0 < a.y1 + MARGIN;
}

/** Every label wanted at this zoom, highest priority first. */
function candidates(zoom) {
  const out = [];
  const named = (f) => f.properties && f.properties.name;
  if (zoom >= LABEL_ZOOM.county && overlayVisible("county")) {
    // Neighbours first: at the county view they are the only names outside it. The county itself follows
    // its townships (when they fill it, its name would only cover theirs).
    for (const f of counties.filter(named)) {
      if (f.properties.code !== COUNTY) out.push({ kind: "county", f, rank: 0 });
    }
    const own = counties.find((f) => f.properties.code === COUNTY);
    if (own) out.push({ kind: "county", f: own, rank: zoom >= LABEL_ZOOM.township ? 2 : 0 });
  }
  if (zoom >= LABEL_ZOOM.township && overlayVisible("township")) {
    for (const f of townships.filter(named)) out.push({ kind: "township", f, rank: 1 });
  }
  if (zoom >= LABEL_ZOOM.village && zoom < PLACE_LABEL_ZOOM && villages) {
    // Bigger villages first when they crowd each other.
    const vs = villages.filter(named).slice().sort((a, b) => (b.properties.population || 0) - (a.properties.population || 0));
    for (const f of vs) out.push({ kind: "village", f, rank: 3 });
  }
  return out.sort((a, b) => a.rank - b.rank);
}

/** Boxes (container pixels) of the place-name labels on the map, which division names must not cover. */
function placeLabelBoxes(zoom) {
  if (zoom < PLACE_LABEL_ZOOM) return [];
  const origin = map.getContainer().getBoundingClientRect();
  return [...map.getContainer().querySelectorAll(".place-label")].map((n) => {
    const r = n.getBoundingClientRect();
    return { x0: r.left - origin.left, y0: r.top - origin.top, x1: r.right - origin.left, y1: r.bottom - origin.top };
  }).filter((b) => b.x1 > b.x0 && b.y1 > b.y0);
}

function place(pane) {
  pane.replaceChildren();
  if (!map._loaded) return;
  const size = map.getSize();
  const view = L.bounds(L.point(EDGE, EDGE), L.point(size.x - EDGE, size.y - EDGE));
  probe = document.createElement("div");
  probe.style.visibility = "hidden";
  probe.style.position = "absolute";
  pane.append(probe);
  const taken = placeLabelBoxes(map.getZoom());
  const shown = [];
  for (const c of candidates(map.getZoom())) {
    const name = c.f.properties.name;
    const s = measure(c.kind, name);
    let spots;
    if (c.f.geometry && c.f.geometry.type === "Point") {
      const [lon, lat] = c.f.geometry.coordinates;
      const p = map.latLngToContainerPoint([lat, lon]);
      spots = [overlayVisible("village") ? p.add([0, -s.y / 2 - 3]) : p]; // just above the village's dot
    } else {
      spots = visibleAnchors(c.f.geometry, s, view);
    }
    for (const p of spots) {
      const box = { x0: p.x - s.x / 2, y0: p.y - s.y / 2, x1: p.x + s.x / 2, y1: p.y + s.y / 2 };
      if (box.x0 < EDGE || box.y0 < EDGE || box.x1 > size.x - EDGE || box.y1 > size.y - EDGE) continue;
      if (taken.some((b) => overlaps(b, box))) continue;
      taken.push(box);
      shown.push({ c, box, name });
      break;
    }
  }
  probe.remove();
  for (const { c, box, name } of shown) {
    const div = document.createElement("div");
    div.className = `map-label lvl-${c.kind}${c.kind === "county" && c.f.properties.code === COUNTY ? " own" : ""}`;
    div.textContent = name;
    div.dataset.code = c.f.properties.code || "";
    // Positions are in the map pane's layer coordinates, so a pan moves the labels with the map.
    const lp = map.containerPointToLayerPoint([box.x0, box.y0]);
    L.DomUtil.setPosition(div, lp);
    pane.append(div);
  }
  pane.dataset.count = String(shown.length);
}

// -- the layer --------------------------------------------------------------------------------------------
/** A Leaflet layer (so the layer list can switch it) that redraws its labels after each move and zoom. */
const LabelLayer = L.Layer.extend({
  onAdd(m) {
    this._pane = m.getPane("labels") || m.createPane("labels");
    this._pane.classList.add("map-labels");
    this._redraw = () => { this._hidden(false); this.redraw(); };
    this._hide = () => this._hidden(true);
    m.on("moveend zoomend resize", this._redraw);
    m.on("zoomstart", this._hide);
    this.redraw();
  },
  onRemove(m) {
    m.off("moveend zoomend resize", this._redraw);
    m.off("zoomstart", this._hide);
    this._pane.replaceChildren();
    this._pane.dataset.count = "0";
  },
  _hidden(v) {
    if (this._pane) this._pane.classList.toggle("zooming", v);
  },
  redraw() {
    if (!this._map) return;
    if (this._map.getZoom() >= LABEL_ZOOM.village) ensureVillages();
    place(this._pane);
  },
});

export const labelLayer = new LabelLayer();

function redraw() {
  labelLayer.redraw();
}

async function ensureVillages() {
  if (villagesFor === state.asOf && (villages || villagesLoading)) return;
  villagesFor = state.asOf;
  villages = null;
  villagesLoading = api("/api/v1/divisions", { params: { level: "village", as_of: state.asOf, limit: 2000 } })
    .then(({ data }) => {
      if (villagesFor !== state.asOf) return;
      villages = data.features || [];
      redraw();
    })
    .catch((e) => { villagesFor = null; console.error(e); })
    .finally(() => { villagesLoading = null; });
}

/** divisions.js hands over the county outlines and townships it has just loaded. */
export function setDivisionLabels(countyFc, townshipFc) {
  counties = (countyFc && countyFc.features) || [];
  townships = (townshipFc && townshipFc.features) || [];
  redraw();
}

/** Called once at start: keep the labels in step with the as_of date and the layer switches. */
export function initLabels() {
  // Over the place markers and clusters: a name stays readable, and clicks pass through it (CSS).
  map.createPane("labels").style.zIndex = "615";
  on("as_of", () => { villagesFor = null; villages = null; });
  on("overlays:changed", redraw);
  // The place labels to keep clear of come after the move, added in chunks by the cluster layer.
  on("places:loaded", () => setTimeout(redraw, 300));
  return labelLayer;
}

// For the browser tests: the boxes of the labels now shown, in screen pixels.
export function labelBoxes() {
  return [...document.querySelectorAll(".map-labels .map-label")].map((n) => {
    const r = n.getBoundingClientRect();
    return { kind: [...n.classList].find((c) => c.startsWith("lvl-")).slice(4), name: n.textContent,
      x0: r.left, y0: r.top, x1: r.right, y1: r.bottom };
  });
}
