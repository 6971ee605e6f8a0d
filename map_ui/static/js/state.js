// Shared page state and a tiny event bus: modules talk through events, not through each other.
export const state = {
  asOf: new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 10),  // local date
  user: null, // {username, roles}
  config: { tianditu: null, features: {}, paths: [] },
};

const handlers = new Map();

export function on(event, cb) {
  if (!handlers.has(event)) handlers.set(event, []);
  handlers.get(event).push(cb);
}

export function emit(event, data) {
  for (const cb of handlers.get(event) || []) {
    try { cb(data); } catch (e) { console.error(event, e); }
  }
}

export function has(feature) {
  return Boolean(state.config.features && state.config.features[feature]);
}

export function hasPath(path) {
  return (state.config.paths || []).includes(path);
}

// What each role may do (admin may do everything, as on the server: auth.require).
const CAN = {
  edit_place: ["officer"],
  propose: ["officer"],
  review: ["reviewer"],
  patrol: ["patrol"],
  plan: ["planner"],
};

export function can(action) {
  const roles = (state.user && state.user.roles) || [];
  if (roles.includes("admin")) return true;
  return (CAN[action] || []).some((r) => roles.includes(r));
}
