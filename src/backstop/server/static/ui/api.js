// FTX's REST API from the browser: public GETs, and private calls signed FTX's way
// (hex HMAC-SHA256 of ts + METHOD + path?query + body, headers FTX-KEY / FTX-TS / FTX-SIGN,
// FTX-SUBACCOUNT for a subaccount). The key and secret live in sessionStorage only.
import { hmacHex } from "./hmac.js";

const STORE = "backstop.credentials";

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

let creds = null;
try { creds = JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch { creds = null; }
const listeners = new Set();

export function credentials() { return creds; }
export function onCredentials(fn) { listeners.add(fn); }
export function setCredentials(value) {
  creds = value;
  if (value) sessionStorage.setItem(STORE, JSON.stringify(value));
  else sessionStorage.removeItem(STORE);
  for (const fn of listeners) fn(creds);
}
export function setSubaccount(name) { setCredentials({ ...creds, sub: name || "" }); }

async function reply(response) {
  let body;
  try { body = await response.json(); } catch { throw new ApiError(`HTTP ${response.status}`, response.status); }
  if (!body.success) throw new ApiError(body.error || `HTTP ${response.status}`, response.status);
  return body.result;
}

export async function get(path) {
  return reply(await fetch(path, { headers: { Accept: "application/json" } }));
}

let lastTs = 0; // each signed write needs its own signature: never two requests in the same ms

export async function priv(method, path, body, sub) {
  if (!creds) throw new ApiError("Not logged in", 401);
  let ts = Date.now();
  if (ts <= lastTs) ts = lastTs + 1;
  lastTs = ts;
  const text = body === undefined ? "" : JSON.stringify(body);
  const sign = await hmacHex(creds.secret, `${ts}${method}${path}${text}`);
  const headers = { "FTX-KEY": creds.key, "FTX-TS": String(ts), "FTX-SIGN": sign, Accept: "application/json" };
  const account = sub === undefined ? creds.sub : sub;
  if (account) headers["FTX-SUBACCOUNT"] = encodeURIComponent(account);
  if (text) headers["Content-Type"] = "application/json";
  return reply(await fetch(path, { method, headers, body: text || undefined }));
}

export const privGet = (path, sub) => priv("GET", path, undefined, sub);
export const post = (path, body) => priv("POST", path, body);
export const del = (path) => priv("DELETE", path);

export function query(params) {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

// The operator API (/operator/..., Authorization: Bearer <token>): the token is pasted by the
// operator and kept in this tab's session storage, as the keys are.
const OPERATOR = "backstop.operator";
const operatorListeners = new Set();
export function operatorToken() { return sessionStorage.getItem(OPERATOR) || ""; }
export function onOperator(fn) { operatorListeners.add(fn); }
export function setOperatorToken(token) {
  if (token) sessionStorage.setItem(OPERATOR, token);
  else sessionStorage.removeItem(OPERATOR);
  for (const fn of operatorListeners) fn(token);
}

export async function operator(method, path, body) {
  const token = operatorToken();
  if (!token) throw new ApiError("No operator token", 401);
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return reply(await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}
