// The signalling socket of one consult room (`/ws/signal`): joins with a room token, tracks the room's `seq`, and after
// any drop reconnects within the 30 s resume window with `{peer_id, last_seq}` so nothing sent meanwhile is lost.

const RESUME_WINDOW_MS = 30_000;
const PING_EVERY_MS = 10_000;
const PONG_WITHIN_MS = 6_000;

export class Signal {
  /**
   * `freshToken()` → a room token (a new one for each connection: they are short-lived).
   * `onMessage(msg)` gets every server message; `onState(state)` gets "connecting" | "open" | "reconnecting" | "closed" | "failed".
   */
  constructor({ freshToken, onMessage, onState }) {
    this.freshToken = freshToken;
    this.onMessage = onMessage;
    this.onState = onState;
    this.peerId = null;
    this.lastSeq = 0;
    this.ws = null;
    this.closed = false;
    this.droppedAt = null;
    this.attempt = 0;
    this.timers = new Set();
  }

  async connect() {
    if (this.closed) return;
    this.onState(this.peerId ? "reconnecting" : "connecting");
    let token;
    try {
      token = await this.freshToken();
    } catch (err) {
      // The consult ended or the session is over: nothing to reconnect to.
      if (err.status && err.status !== 0 && err.status < 500) {
        this.closed = true;
        this.onState("failed", err);
        return;
      }
      return this.retry();
    }
    if (this.closed) return;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/signal`);
    this.ws = ws;
    ws.onopen = () => {
      const join = { type: "join", token };
      if (this.peerId) join.resume = { peer_id: this.peerId, last_seq: this.lastSeq };
      ws.send(JSON.stringify(join));
      this.keepAlive(ws);
    };
    ws.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.lastPong = Date.now();
      if (msg.seq) this.lastSeq = Math.max(this.lastSeq, msg.seq);
      if (msg.type === "joined") {
        this.peerId = msg.peer_id;
        this.droppedAt = null;
        this.attempt = 0;
        this.onState("open");
      }
      if (msg.type === "ended") this.closed = true;
      this.onMessage(msg);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pinger);
      if (this.closed) return this.onState("closed");
      // 4409: this identity joined again elsewhere (another tab took over the call).
      if (event.code === 4409) {
        this.closed = true;
        return this.onState("failed", new Error("This call was opened in another tab or window, so it closed here."));
      }
      if (event.code === 4401 && this.attempt > 3) {
        this.closed = true;
        return this.onState("failed", new Error("The call refused this device's pass. Reload the page to join again."));
      }
      this.droppedAt ??= Date.now();
      this.retry();
    };
  }

  retry() {
    if (this.closed) return;
    if (this.droppedAt && Date.now() - this.droppedAt > RESUME_WINDOW_MS) {
      // Past the resume window the server has let us go: join afresh.
      this.peerId = null;
      this.lastSeq = 0;
    }
    this.onState("reconnecting");
    const delay = Math.min(250 * 2 ** this.attempt++, 4000);
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.connect();
    }, delay);
    this.timers.add(t);
  }

  /** A silent socket (a network blip the browser has not noticed) is closed and resumed. */
  keepAlive(ws) {
    clearInterval(this.pinger);
    this.lastPong = Date.now();
    this.pinger = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastPong > PING_EVERY_MS + PONG_WITHIN_MS) {
        ws.close(4000, "no answer");
        return;
      }
      ws.send(JSON.stringify({ type: "ping" }));
    }, PING_EVERY_MS);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /** Leaves the room for good (`leave`), or just drops the socket when `quietly`. */
  close({ leave = true } = {}) {
    if (this.closed && !this.ws) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    clearInterval(this.pinger);
    if (this.ws) {
      if (leave) this.send({ type: "leave" });
      this.ws.close(1000);
      this.ws = null;
    }
  }
}
