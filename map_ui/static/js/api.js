// The one way the page talks to the server: same origin only, bearer token from the login.
import { lang, fieldLabel } from "./i18n.js";

const KEY = "diming.token";
let token = sessionStorage.getItem(KEY);

export function setToken(value) {
  token = value;
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export function getToken() {
  return token;
}

export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === "object" ? body : { message: String(body || "") };
    super(b.message || `HTTP ${status}`);
    this.status = status;
    this.body = b;
  }

  // The server's message in the page's language, with the field at fault.
  get text() {
    const msg = (lang() === "zh" ? this.body.message_zh : this.body.message) || this.message;
    // In Chinese the field is named by its label (an identifier would leak English); no label, no bracket.
    const field = lang() === "zh" ? fieldLabel(this.body.field) : this.body.field;
    return field && !msg.includes(field) ? `${msg} [${field}]` : msg;
  }
}

/**
 * fetch wrapper: JSON in, JSON (or text/blob) out; throws ApiError on 4xx/5xx.
 * Returns {data, etag, status, headers}.
 */
export async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (!headers.has("Accept-Language")) headers.set("Accept-Language", lang() === "zh" ? "zh-CN,zh;q=0.9" : "en");
  if (opts.ifMatch) headers.set("If-Match", opts.ifMatch);
  let body;
  if (opts.form instanceof FormData) {
    body = opts.form;
  } else if (opts.form) {
    body = new URLSearchParams(opts.form);
  } else if (opts.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(opts.json);
  }
  const url = opts.params ? `${path}?${new URLSearchParams(clean(opts.params))}` : path;
  const r = await fetch(url, { method: opts.method || (body ? "POST" : "GET"), headers, body, signal: opts.signal });
  const type = r.headers.get("content-type") || "";
  let data;
  if (opts.blob && r.ok) data = await r.blob();
  else if (type.includes("json")) data = await r.json();
  else data = await r.text();
  if (!r.ok) throw new ApiError(r.status, data);
  return { data, etag: r.headers.get("ETag"), status: r.status, headers: r.headers };
}

function clean(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") out[k] = String(v);
  return out;
}

// Same-origin URL with query (for downloads opened by the browser itself).
export function url(path, params) {
  return params ? `${path}?${new URLSearchParams(clean(params))}` : path;
}
