// The signed-in session: tokens kept for this tab only, refreshed when they expire, and a log-in dialog that
// appears over the page when the session has ended, so whatever the user was doing carries on after they log in.

import { h, field, form, values, replace } from "./ui.js";

const KEY = "vaidya.session";
const listeners = new Set();
let current = load();
let refreshing = null;
let reloginPromise = null;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(next) {
  current = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn(current);
}

export function session() {
  return current;
}

/** Calls `fn(session)` whenever the session starts, changes user, or ends. */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

async function post(path, body) {
  let res;
  try {
    res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  } catch {
    const err = new Error("Cannot reach vaidya. Check your connection and try again.");
    err.code = "network";
    throw err;
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(res.status === 401 ? "That username and password do not match. Check them and try again." : data.detail || data.title || `The server answered ${res.status}.`);
    err.status = res.status;
    err.code = data.code;
    err.fields = data.errors || [];
    throw err;
  }
  return data;
}

function fromTokens(data, username) {
  return {
    access_token: data.access_token,
    refresh_token: data.refresh_token,
    role: data.role,
    subject_id: data.subject_id,
    username,
    expires_at: Date.now() + (data.expires_in || 900) * 1000,
  };
}

export async function login(username, password) {
  const data = await post("/api/v1/auth/login", { username, password });
  save(fromTokens(data, username));
  return current;
}

/** Trades the refresh token for a new pair, once at a time however many requests ask. Resolves false if the session is over. */
export function refresh() {
  if (!current) return Promise.resolve(false);
  if (!refreshing) {
    const before = current;
    refreshing = post("/api/v1/auth/refresh", { refresh_token: before.refresh_token })
      .then((data) => {
        save(fromTokens(data, before.username));
        return true;
      })
      .catch((err) => (err.code === "network" ? Promise.reject(err) : false))
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

export async function logout() {
  const s = current;
  if (s) {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { authorization: `Bearer ${s.access_token}` } }).catch(() => {});
  }
  save(null);
}

/**
 * The session has ended (expired, or logged out elsewhere): asks the same person to log in again over the page.
 * Resolves when they have; the caller then repeats its request, so nothing they typed is lost.
 */
export function requireLogin() {
  if (reloginPromise) return reloginPromise;
  const previous = current;
  reloginPromise = new Promise((resolve, reject) => {
    const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
    const username = h("input", { name: "username", autocomplete: "username", value: previous?.username || "", required: true });
    const dialog = h("dialog", { "aria-labelledby": "relogin-title" });
    const cancel = h("button", { type: "button", class: "secondary" }, "Log out");
    cancel.addEventListener("click", () => {
      dialog.close();
      dialog.remove();
      save(null);
      reject(Object.assign(new Error("You are logged out. Log in again to continue."), { code: "logged_out" }));
    });
    const loginForm = form(
      [field("Username or Health ID", username), field("Password", password)],
      "Log in again",
      async (f) => {
        const v = values(f);
        const data = await post("/api/v1/auth/login", { username: v.username, password: password.value });
        if (previous && data.subject_id !== previous.subject_id) {
          throw new Error("That is a different account. Log in as the same person to carry on, or log out.");
        }
        save(fromTokens(data, v.username));
        dialog.close();
        dialog.remove();
        resolve(true);
      },
      { busyLabel: "Logging in…", secondary: cancel },
    );
    replace(
      dialog,
      h("h2", { id: "relogin-title" }, "Your session has ended"),
      h("p", {}, "For your safety you were signed out. Log in again to carry on — what you were doing is kept."),
      loginForm,
    );
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    (previous?.username ? password : username).focus();
  }).finally(() => {
    reloginPromise = null;
  });
  return reloginPromise;
}
