// Sending the offline queue (docs/field.md §3). Photos are uploaded first (content-addressed: uploading the
// same bytes twice is harmless) and their sha256 written into the change before it is sent, so a change
// sent again is byte-for-byte the same request and the server answers it from its idempotency record.
import { api } from "../api.js";
import { blobs, kv, queue } from "./store.js";

const BATCH = 200; // DIMING_LIMIT_FIELD_SYNC_CHANGES

async function device() {
  let id = await kv.get("device");
  if (!id) {
    id = `phone-${Math.random().toString(16).slice(2, 8)}`;
    await kv.set("device", id);
  }
  return id;
}

async function uploadPhotos(item) {
  if (!item.photos || !item.photos.length) return item;
  const refs = [...(item.data.attachments || [])];
  for (const id of item.photos) {
    const rec = await blobs.get(id);
    if (!rec) continue;
    const form = new FormData();
    form.append("file", rec.blob, rec.name || "photo.jpg");
    const { data } = await api("/api/v1/field/attachments", { form });
    refs.push({ sha256: data.sha256 });
  }
  const done = { ...item, data: { ...item.data, attachments: refs }, photos: [], uploaded: item.photos };
  await queue.put(done);
  for (const id of item.photos) await blobs.del(id);
  return done;
}

/** The body of a change as the server reads it. */
export function wire(item) {
  const c = { change_id: item.change_id, kind: item.kind, recorded_at: item.recorded_at, data: item.data };
  if (item.base_etag) c.base_etag = item.base_etag;
  return c;
}

/**
 * Send every waiting change (conflicts and rejections stay until the user decides). Applied changes leave
 * the queue; `onResult(item, result)` sees each answer. Returns the server's totals.
 */
export async function syncQueue(onResult) {
  const waiting = (await queue.all()).filter((i) => i.state === "waiting");
  const totals = { applied: 0, replayed: 0, conflicts: 0, rejected: 0, sent: 0 };
  for (let i = 0; i < waiting.length; i += BATCH) {
    const items = [];
    for (const item of waiting.slice(i, i + BATCH)) {
      // Once sent, a change is never edited again (the server may have applied it; a retry must be identical).
      const sent = { ...(await uploadPhotos(item)), attempts: (item.attempts || 0) + 1 };
      await queue.put(sent);
      items.push(sent);
    }
    const { data } = await api("/api/v1/field/sync", { json: { device: await device(), changes: items.map(wire) } });
    for (const k of ["applied", "replayed", "conflicts", "rejected"]) totals[k] += data[k] || 0;
    totals.sent += items.length;
    const byId = new Map(data.results.map((r) => [r.change_id, r]));
    for (const item of items) {
      const r = byId.get(item.change_id);
      if (!r) continue;
      if (r.status === "applied") await queue.del(item.seq);
      else if (r.status === "conflict") await queue.put({ ...item, state: "conflict", conflict: r.conflict });
      else await queue.put({ ...item, state: "rejected", error: r.error });
      await onResult(item, r);
    }
  }
  await kv.set("last_sync", { at: new Date().toISOString(), ...totals });
  return totals;
}
