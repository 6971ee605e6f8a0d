// What of a boundary line or marker is in the map's current view (the patrol lists' "only what is in view").
/* global L */
import { map } from "./map.js";

// In the map's own projected pixels, so "in view" means what the user sees (a segment crossing the view
// counts even when none of its vertices is inside); Leaflet's own clipping does the segment test.
function parts(geometry) {
  if (!geometry) return [];
  if (geometry.type === "LineString") return [geometry.coordinates];
  if (geometry.type === "MultiLineString") return geometry.coordinates;
  if (geometry.type === "Point") return [[geometry.coordinates]];
  return [];
}

export function inView(geometry) {
  const view = map.getPixelBounds();
  for (const part of parts(geometry)) {
    let prev = null;
    for (const [lon, lat] of part) {
      const p = map.project(L.latLng(lat, lon));
      if (view.contains(p)) return true;
      if (prev && L.LineUtil.clipSegment(prev, p, view, false, false)) return true;
      prev = p;
    }
  }
  return false;
}
