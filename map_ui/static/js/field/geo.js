// Distances on the phone, for live feedback only (the server recomputes everything in PostGIS when the track
// is synced). Local equirectangular metres around each pair: good to well under 1 % over a few kilometres.
const R = 6371008.8;
const RAD = Math.PI / 180;

export function metres(a, b) {
  const [lon1, lat1] = a;
  const [lon2, lat2] = b;
  const h = Math.sin(((lat2 - lat1) * RAD) / 2) ** 2
    + Math.cos(lat1 * RAD) * Math.cos(lat2 * RAD) * Math.sin(((lon2 - lon1) * RAD) / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(h));
}

function xy(p, lat0) {
  return [p[0] * RAD * R * Math.cos(lat0 * RAD), p[1] * RAD * R];
}

/** Distance in metres from point p to segment a–b (all [lon, lat]). */
export function toSegment(p, a, b) {
  const lat0 = p[1];
  const [px, py] = xy(p, lat0);
  const [ax, ay] = xy(a, lat0);
  const [bx, by] = xy(b, lat0);
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function parts(geometry) {
  if (!geometry) return [];
  if (geometry.type === "LineString") return [geometry.coordinates];
  if (geometry.type === "MultiLineString") return geometry.coordinates;
  return [];
}

/**
 * The share of each line covered by the track, by the GPX upload's rule (patrols.py): the length of the line
 * lying within buffer_m of the track, over the line's length. The line is cut into pieces of at most `step`
 * metres; a piece counts as covered when its midpoint is within the buffer of a track segment.
 */
export class Coverage {
  constructor(lines, bufferM, step = 5) {
    this.buffer = bufferM;
    this.lines = lines.map((f) => {
      const samples = [];
      for (const coords of parts(f.geometry)) {
        for (let i = 0; i + 1 < coords.length; i++) {
          const a = coords[i];
          const b = coords[i + 1];
          const len = metres(a, b);
          const n = Math.max(1, Math.ceil(len / step));
          for (let k = 0; k < n; k++) {
            const f0 = (k + 0.5) / n;
            samples.push({ p: [a[0] + (b[0] - a[0]) * f0, a[1] + (b[1] - a[1]) * f0], w: len / n, hit: false });
          }
        }
      }
      const length = samples.reduce((s, x) => s + x.w, 0);
      return { id: f.id ?? f.properties.line_id, samples, length, covered: 0 };
    });
  }

  /** Add one walked segment a–b ([lon, lat]); returns true when a line's share changed. */
  add(a, b) {
    const pad = this.buffer / 90000 * 2; // degrees, generous at this latitude: a cheap box test first
    const minx = Math.min(a[0], b[0]) - pad; const maxx = Math.max(a[0], b[0]) + pad;
    const miny = Math.min(a[1], b[1]) - pad; const maxy = Math.max(a[1], b[1]) + pad;
    let changed = false;
    for (const line of this.lines) {
      for (const s of line.samples) {
        if (s.hit || s.p[0] < minx || s.p[0] > maxx || s.p[1] < miny || s.p[1] > maxy) continue;
        if (toSegment(s.p, a, b) <= this.buffer) { s.hit = true; line.covered += s.w; changed = true; }
      }
    }
    return changed;
  }

  share(id) {
    const line = this.lines.find((l) => l.id === id);
    return line && line.length ? line.covered / line.length : 0;
  }
}
