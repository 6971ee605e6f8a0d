// Recording a patrol with the browser's Geolocation API: start / pause / stop, kept in IndexedDB at every
// point so that a reload (or the phone killing the tab) loses nothing.
import { kv } from "./store.js";
import { metres } from "./geo.js";

const KEY = "track";

export class Track {
  constructor(maxAccuracyM = 50) {
    this.maxAccuracy = maxAccuracyM;
    this.reset();
  }

  reset() {
    this.state = "idle";
    this.segments = []; // a pause ends a segment: the gap was not walked
    this.dropped = 0;
    this.startedAt = null;
  }

  async load() {
    const saved = await kv.get(KEY);
    if (saved) Object.assign(this, saved);
    return this;
  }

  save() {
    const { state, segments, dropped, startedAt } = this;
    return kv.set(KEY, { state, segments, dropped, startedAt });
  }

  start() {
    this.reset();
    this.state = "recording";
    this.startedAt = new Date().toISOString();
    this.segments.push([]);
    return this.save();
  }

  pause() {
    if (this.state === "recording") this.state = "paused";
    return this.save();
  }

  resume() {
    if (this.state === "paused") { this.state = "recording"; this.segments.push([]); }
    return this.save();
  }

  /**
   * A position fix. Returns the walked segment [a, b] it adds (b alone when it starts a segment), or null when
   * not recording or the fix is too imprecise (the server drops those too: max_accuracy_m).
   */
  async add(pos) {
    if (this.state !== "recording") return null;
    const c = pos.coords;
    if (c.accuracy > this.maxAccuracy) { this.dropped += 1; await this.save(); return null; }
    const p = [c.longitude, c.latitude, new Date(pos.timestamp || Date.now()).toISOString(), Math.round(c.accuracy * 10) / 10];
    const seg = this.segments[this.segments.length - 1];
    const prev = seg[seg.length - 1];
    if (prev && prev[0] === p[0] && prev[1] === p[1]) return null; // standing still
    seg.push(p);
    await this.save();
    return [prev || p, p];
  }

  points() {
    return this.segments.flat();
  }

  distance() {
    let d = 0;
    for (const seg of this.segments) for (let i = 1; i < seg.length; i++) d += metres(seg[i - 1], seg[i]);
    return d;
  }

  async stop() {
    const out = { segments: this.segments, startedAt: this.startedAt, dropped: this.dropped };
    this.reset();
    await this.save();
    return out;
  }
}
