// Calls the vaidya API: adds the access token, refreshes it when it expires, asks the user to log in again when the
// session is over (then repeats the call), and turns every RFC 9457 problem into an error with a plain message.

import { session, refresh, requireLogin } from "./session.js";

/** An error answered by the API (or the network), with the problem's code and per-field messages. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(plainMessage(status, problem));
    this.status = status;
    this.code = problem.code || "";
    this.fields = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

function plainMessage(status, problem) {
  if (status === 0) return "Cannot reach vaidya. Check your internet connection and try again.";
  if (status === 429) return `${problem.detail || "Too many attempts."} Please wait a little and try again.`;
  if (status === 503) return "vaidya is briefly unavailable. Please try again in a minute.";
  if (status >= 500) return "Something went wrong on our side. Please try again; if it keeps happening, contact support.";
  // The fields themselves are listed and marked; the server's one-line summary of them is for developers.
  if (status === 422 && problem.code === "validation_failed" && Array.isArray(problem.errors) && problem.errors.length) {
    return problem.errors.length === 1 ? "One answer needs a change:" : `${problem.errors.length} answers need a change:`;
  }
  return problem.detail || problem.title || `The request was refused (${status}).`;
}

/**
 * `api("POST", "/api/v1/consults", body)` → the parsed JSON answer (null for 204).
 * Options: `idempotencyKey` for order creation, `auth: false` for public endpoints.
 */
export async function api(method, path, body, { idempotencyKey, auth = true } = {}) {
  let res = await send(method, path, body, idempotencyKey, auth);
  if (res.status === 401 && auth) {
    if (!(await refresh().catch(() => false))) await requireLogin();
    res = await send(method, path, body, idempotencyKey, auth);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

async function send(method, path, body, idempotencyKey, auth) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (auth && session()) headers.authorization = `Bearer ${session().access_token}`;
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, {});
  }
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => api("PUT", path, body, opts);

/** A query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
