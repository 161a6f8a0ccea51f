// The user's live event stream (`/ws/events`): one socket per tab, reconnecting after any drop and asking for
// what it missed (`last_seq`), so queue, consent, prescription and order updates are never silently skipped.

import { session, refresh, requireLogin, onSessionChange } from "./session.js";

const handlers = new Map();
let socket = null;
let retry = 0;
let timer = null;
let lastSeq = null;
let owner = null;

/** `on("order.updated", fn)` → an unsubscribe function. `fn(data, event)` runs for each event of that kind. */
export function on(kind, fn) {
  if (!handlers.has(kind)) handlers.set(kind, new Set());
  handlers.get(kind).add(fn);
  return () => handlers.get(kind).delete(fn);
}

function setLive(text) {
  const el = document.getElementById("live");
  if (el) el.textContent = text;
}

function dispatch(event) {
  for (const fn of handlers.get(event.kind) || []) {
    try {
      fn(event.data, event);
    } catch (err) {
      console.error("event handler failed", event.kind, err);
    }
  }
  for (const fn of handlers.get("*") || []) fn(event.data, event);
}

/** Opens the stream for the signed-in user (and closes it on logout). */
export function start() {
  const s = session();
  if (!s) return stop();
  if (socket && owner === s.subject_id) return;
  stop();
  owner = s.subject_id;
  lastSeq = Number(sessionStorage.getItem(`vaidya.events.${owner}`)) || null;
  connect();
}

export function stop() {
  clearTimeout(timer);
  owner = null;
  if (socket) {
    socket.onclose = null;
    socket.close(1000);
    socket = null;
  }
  setLive("");
}

function connect() {
  const s = session();
  if (!s || s.subject_id !== owner) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/events`;
  const ws = new WebSocket(url);
  socket = ws;
  setLive("Connecting to live updates…");
  ws.onopen = () => {
    const first = { type: "auth", token: session().access_token };
    if (lastSeq !== null) first.last_seq = lastSeq;
    ws.send(JSON.stringify(first));
  };
  ws.onmessage = (msg) => {
    let frame;
    try {
      frame = JSON.parse(msg.data);
    } catch {
      return;
    }
    if (frame.type === "ready") {
      retry = 0;
      if (lastSeq === null) lastSeq = frame.last_seq;
      setLive("● Live");
    } else if (frame.type === "event") {
      lastSeq = frame.seq;
      sessionStorage.setItem(`vaidya.events.${owner}`, String(frame.seq));
      dispatch(frame);
    }
  };
  ws.onclose = async (e) => {
    if (socket !== ws) return;
    socket = null;
    setLive("Live updates paused — reconnecting…");
    if (e.code === 4401) {
      // The access token was refused: refresh it (or ask to log in again) before the next try.
      const ok = await refresh().catch(() => false);
      if (!ok) await requireLogin().catch(() => {});
    }
    retry = Math.min(retry + 1, 6);
    timer = setTimeout(connect, Math.min(500 * 2 ** retry, 15000));
  };
}

onSessionChange((s) => {
  if (!s) stop();
  else if (s.subject_id !== owner) start();
});
