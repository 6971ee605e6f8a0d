// The phone's own storage (IndexedDB): the work package, the patrol being recorded, the queue of changes
// waiting for the network, and the photos taken offline (as blobs, uploaded just before their change is sent).
const DB = "diming-field";
const VERSION = 1;
let opened = null;

function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = () => {
        const d = req.result;
        if (!d.objectStoreNames.contains("kv")) d.createObjectStore("kv");
        // seq keeps the order the changes were recorded in: the server applies them in that order.
        if (!d.objectStoreNames.contains("queue")) d.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
        if (!d.objectStoreNames.contains("blobs")) d.createObjectStore("blobs", { keyPath: "id" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return opened;
}

async function run(store, mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction(store, mode);
    let out;
    const r = fn(tx.objectStore(store));
    if (r) r.onsuccess = () => { out = r.result; };
    tx.oncomplete = () => resolve(out);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const kv = {
  get: (key) => run("kv", "readonly", (s) => s.get(key)),
  set: (key, value) => run("kv", "readwrite", (s) => s.put(value, key)),
  del: (key) => run("kv", "readwrite", (s) => s.delete(key)),
};

export const queue = {
  all: () => run("queue", "readonly", (s) => s.getAll()),
  add: (item) => run("queue", "readwrite", (s) => s.add(item)),
  put: (item) => run("queue", "readwrite", (s) => s.put(item)),
  del: (seq) => run("queue", "readwrite", (s) => s.delete(seq)),
};

export const blobs = {
  get: (id) => run("blobs", "readonly", (s) => s.get(id)),
  put: (rec) => run("blobs", "readwrite", (s) => s.put(rec)),
  del: (id) => run("blobs", "readwrite", (s) => s.delete(id)),
};

/** A change id for the server's idempotency (docs/field.md §3): a UUID, only [A-Za-z0-9-]. */
export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
