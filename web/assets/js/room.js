// A consult's call, for the patient and the doctor: camera and microphone, the lobby (the doctor lets the patient in),
// WebRTC with "perfect negotiation" (the server says who is polite, so offers never collide), chat, mute, camera off,
// hang up, and recovery: the signalling socket resumes after a blip and ICE restarts when media fails.

import { h, replace, toast, messageOf } from "./ui.js";
import { post } from "./api.js";
import { Signal } from "./signal.js";

const ICE_GRACE_MS = 4000;

/** Mounts the call in `container`; → {close(), end()}. `role` is "patient" or "doctor". */
export async function consultRoom(container, consult, role) {
  const room = new Room(container, consult, role);
  await room.start();
  return { close: () => room.close(), end: () => room.endForAll() };
}

class Room {
  constructor(container, consult, role) {
    this.container = container;
    this.consult = consult;
    this.role = role;
    this.links = new Map();
    this.peers = new Map();
    this.admitted = role === "doctor";
    this.local = null;
    this.iceServers = [];
    this.polite = true;
    this.pendingChat = [];
    this.build();
  }

  build() {
    const other = this.role === "doctor" ? this.consult.patient.name : this.consult.doctor?.name || "the doctor";
    this.status = h("p", { class: "alert info", role: "status", "aria-live": "polite", "data-testid": "call-status" }, "Getting ready…");
    this.remoteBox = h("div", { class: "remote-videos" });
    this.overlay = h("div", { class: "overlay" }, `Waiting for ${other}…`);
    this.localVideo = h("video", { class: "local", muted: true, autoplay: true, playsinline: true, "aria-label": "Your camera" });
    this.localVideo.muted = true;
    this.videos = h("div", { class: "videos", "data-connection": "new" }, this.remoteBox, this.overlay, this.localVideo);
    this.mute = h("button", { type: "button", class: "secondary", "aria-pressed": "false", onclick: () => this.toggle("audio", this.mute) }, "Mute");
    this.camera = h("button", { type: "button", class: "secondary", "aria-pressed": "false", onclick: () => this.toggle("video", this.camera) }, "Camera off");
    this.hangup = h("button", { type: "button", class: "danger", onclick: () => this.leave() }, "Hang up");
    this.endButton = this.role === "doctor" ? h("button", { type: "button", class: "danger", onclick: () => this.endForAll() }, "End call for everyone") : null;
    this.lobby = h("div", { class: "lobby", "aria-live": "polite" });
    this.chatLog = h("div", { class: "chat-log", role: "log", "aria-label": "Chat messages", "aria-live": "polite" });
    const text = h("input", { name: "chat", autocomplete: "off", maxlength: 2000 });
    text.id = "chat-text";
    this.chatForm = h("form", { class: "row chat-form", "aria-label": "Chat" },
      h("label", { for: "chat-text", class: "sr-only" }, "Chat message"), text, h("button", { type: "submit" }, "Send"));
    this.chatForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      if (!this.admitted) return toast("You can chat once the doctor lets you in.", "error");
      text.value = "";
      if (!this.signal?.send({ type: "chat", text: value })) {
        // Held while the socket reconnects, and sent as soon as it is back.
        this.pendingChat.push(value);
        toast("Reconnecting — your message will be sent as soon as the connection is back.");
      }
    });
    replace(this.container, this.status, this.videos, h("div", { class: "row controls" }, this.mute, this.camera, this.hangup, this.endButton), this.lobby,
      h("h3", {}, "Chat"), this.chatLog, this.chatForm);
  }

  say(text, kind = "info") {
    this.status.className = `alert ${kind}`;
    this.status.setAttribute("role", kind === "error" ? "alert" : "status");
    replace(this.status, text);
  }

  async start() {
    await this.getMedia();
  }

  /** Asks for the camera and microphone the consult's mode needs, explaining what to do if the browser refuses. */
  async getMedia() {
    const mode = this.consult.mode;
    if (mode === "text") {
      this.localVideo.hidden = true;
      this.mute.hidden = this.camera.hidden = true;
      return this.join();
    }
    this.say(mode === "video" ? "Asking for your camera and microphone…" : "Asking for your microphone…");
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: mode === "video" });
      if (this.closed) return this.stopMedia();
      this.localVideo.srcObject = this.local;
      if (mode !== "video") this.localVideo.hidden = this.camera.hidden = true;
      return this.join();
    } catch (err) {
      this.mediaProblem(err);
    }
  }

  mediaProblem(err) {
    const what = this.consult.mode === "video" ? "camera and microphone" : "microphone";
    let text;
    if (err && (err.name === "NotAllowedError" || err.name === "SecurityError")) {
      text = `Your browser blocked the ${what}. To be seen and heard, allow them for this site: click the camera icon (or the padlock) in the address bar, choose Allow, then press Try again.`;
    } else if (err && err.name === "NotFoundError") {
      text = `No ${what} was found on this device. Plug one in and press Try again, or join with chat only.`;
    } else if (err && err.name === "NotReadableError") {
      text = `Your ${what} is being used by another app. Close it and press Try again.`;
    } else {
      text = `The ${what} could not be started (${err?.message || err}). Press Try again, or join with chat only.`;
    }
    const retry = h("button", { type: "button", onclick: () => this.getMedia() }, "Try again");
    const chatOnly = h("button", {
      type: "button",
      class: "secondary",
      onclick: () => {
        this.local = null;
        this.localVideo.hidden = this.mute.hidden = this.camera.hidden = true;
        this.join();
      },
    }, "Join with chat only");
    this.say(h("span", {}, h("strong", {}, "Camera or microphone unavailable. "), text, h("span", { class: "row" }, retry, chatOnly)), "error");
  }

  join() {
    if (this.signal || this.closed) return;
    this.say("Connecting to the consult room…");
    this.signal = new Signal({
      freshToken: async () => {
        const t = await post(`/api/v1/consults/${this.consult.consult_id}/room-token`);
        this.iceServers = t.ice_servers || [];
        return t.token;
      },
      onMessage: (msg) => this.onSignal(msg).catch((err) => console.error("signal handling failed", err)),
      onState: (state, err) => this.onSignalState(state, err),
    });
    this.signal.connect();
  }

  onSignalState(state, err) {
    if (state === "open") {
      if (this.reconnecting) this.say("Reconnected.", "ok");
      this.reconnecting = false;
      while (this.pendingChat.length && this.signal.send({ type: "chat", text: this.pendingChat[0] })) this.pendingChat.shift();
    } else if (state === "reconnecting") {
      this.reconnecting = true;
      this.say("Connection lost — reconnecting… your call continues if it can.", "error");
    }
    else if (state === "failed") {
      this.say(err?.status === 409 ? "This consult has ended." : messageOf(err), "error");
      this.stopMedia();
    }
  }

  async onSignal(msg) {
    switch (msg.type) {
      case "joined": {
        const fresh = msg.peer_id !== this.myId;
        if (fresh) {
          // A new session (not a resume): every old connection belonged to the old peer id.
          for (const id of [...this.links.keys()]) this.dropLink(id);
          this.peers.clear();
        }
        this.myId = msg.peer_id;
        this.videos.dataset.peer = msg.peer_id;
        this.polite = msg.polite;
        if (msg.ice_servers) this.iceServers = msg.ice_servers;
        this.admitted = msg.admitted || this.role === "doctor";
        for (const p of msg.peers) this.peers.set(p.peer_id, p);
        this.renderLobby();
        if (this.admitted) {
          if (fresh) this.say(this.peersInCall().length ? "Connecting the call…" : this.waitingText());
          for (const p of this.peersInCall()) this.link(p.peer_id);
        }
        break;
      }
      case "waiting":
        this.admitted = false;
        this.say("You are in the waiting room. The doctor will let you in shortly — please keep this page open.");
        break;
      case "admitted":
        this.admitted = true;
        this.say("The doctor let you in. Connecting the call…", "ok");
        for (const p of this.peersInCall()) this.link(p.peer_id);
        break;
      case "peer_joined": {
        this.peers.set(msg.peer.peer_id, msg.peer);
        this.renderLobby();
        if (msg.peer.admitted && this.admitted) {
          this.say(`${msg.peer.name} joined. Connecting…`);
          this.link(msg.peer.peer_id);
        } else if (this.role === "doctor") {
          this.say(`${msg.peer.name} is waiting to be let in.`);
        }
        break;
      }
      case "peer_left": {
        const who = this.peers.get(msg.peer_id);
        this.peers.delete(msg.peer_id);
        this.dropLink(msg.peer_id);
        this.renderLobby();
        if (who && msg.reason !== "replaced") {
          const name = who.role === "doctor" ? `The doctor (${who.name})` : who.name;
          this.say(msg.reason === "timeout" ? `${name} lost their connection and left the call.` : `${name} left the call.`, "error");
        }
        break;
      }
      case "offer":
      case "answer":
        await this.onDescription(msg);
        break;
      case "candidate":
        await this.onCandidate(msg);
        break;
      case "chat":
        this.addChat(msg.from, msg.text, msg.at);
        break;
      case "ended":
        this.say(this.role === "doctor" ? "You ended the call." : "The doctor ended the consult. You can read the notes and prescription in your records.", this.role === "doctor" ? "info" : "error");
        this.finish();
        break;
      case "error":
        if (msg.code !== "resume_failed") toast(msg.message || "The call server refused a message.", "error");
        break;
      default:
        break;
    }
  }

  waitingText() {
    return this.role === "doctor" ? `Waiting for ${this.consult.patient.name} to join…` : "Waiting for the doctor to join…";
  }

  peersInCall() {
    return [...this.peers.values()].filter((p) => p.admitted);
  }

  /** The doctor's list of people waiting in the lobby, each with an Admit button. */
  renderLobby() {
    if (this.role !== "doctor") return;
    const waiting = [...this.peers.values()].filter((p) => !p.admitted);
    replace(this.lobby, waiting.length ? h("div", { class: "card" }, h("h3", {}, "Waiting room"),
      h("ul", { class: "plain" }, waiting.map((p) => h("li", { class: "row spread" }, h("span", {}, `${p.name} (${p.role})`),
        h("button", { type: "button", onclick: () => this.admit(p.peer_id) }, `Let ${p.name} in`))))) : null);
  }

  admit(peerId) {
    if (!this.signal.send({ type: "admit", peer_id: peerId })) toast("Not connected right now; try again in a moment.", "error");
  }

  /** The connection to one remote peer (created once; perfect negotiation from then on). */
  link(peerId) {
    if (this.links.has(peerId) || peerId === this.myId) return this.links.get(peerId);
    const peer = this.peers.get(peerId);
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    // The doctor leads every pair; between two others the server's ordering is mirrored by comparing ids.
    const polite = this.role === "doctor" ? false : peer?.role === "doctor" ? true : this.myId > peerId;
    const link = { pc, polite, makingOffer: false, ignoreOffer: false, video: null, failedAt: null };
    this.links.set(peerId, link);
    if (this.local) for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
    else {
      // Receive-only (chat only, or no devices): still ask for the other side's media.
      pc.addTransceiver("audio", { direction: "recvonly" });
      if (this.consult.mode === "video") pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.onnegotiationneeded = async () => {
      // The server says who offers, so offers never cross: the polite side answers the first offer and only offers
      // itself after that (a later change of its own). Crossed first offers could leave its answer without candidates.
      if (polite && !pc.remoteDescription) return;
      try {
        link.makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription(peerId, pc.localDescription);
      } catch (err) {
        console.error("offer failed", err);
      } finally {
        link.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.signal.send({ type: "candidate", to: peerId, candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track, streams }) => {
      if (!link.video) {
        link.video = h("video", { class: "remote", autoplay: true, playsinline: true, "aria-label": `${peer?.name || "Remote"} video`, dataset: { peer: peerId } });
        this.remoteBox.append(link.video);
      }
      link.video.srcObject = streams[0] || new MediaStream([track]);
      this.overlay.hidden = true;
    };
    pc.onconnectionstatechange = () => this.onConnectionState(peerId, link);
    pc.oniceconnectionstatechange = () => this.onIceState(peerId, link);
    return link;
  }

  onConnectionState(peerId, link) {
    const state = link.pc.connectionState;
    this.videos.dataset.connection = state;
    const name = this.peers.get(peerId)?.name || "the other side";
    if (state === "connected") this.say(`Connected with ${name}.`, "ok");
    else if (state === "disconnected") this.say(`The connection with ${name} is unstable — trying to recover…`, "error");
    else if (state === "failed") this.say(`The media connection with ${name} failed — restarting it…`, "error");
  }

  /** ICE that fails (or stays disconnected) is restarted; the impolite side's new offer carries fresh credentials. */
  onIceState(peerId, link) {
    const state = link.pc.iceConnectionState;
    if (state === "failed") link.pc.restartIce();
    else if (state === "disconnected") {
      link.failedAt = Date.now();
      setTimeout(() => {
        if (this.links.get(peerId) === link && link.pc.iceConnectionState === "disconnected" && Date.now() - link.failedAt >= ICE_GRACE_MS) {
          link.pc.restartIce();
        }
      }, ICE_GRACE_MS);
    }
  }

  async onDescription(msg) {
    if (!this.peers.has(msg.from)) this.peers.set(msg.from, { peer_id: msg.from, role: "", name: "", admitted: true });
    const link = this.link(msg.from);
    const { pc } = link;
    const description = { type: msg.type, sdp: msg.sdp };
    const collision = description.type === "offer" && (link.makingOffer || pc.signalingState !== "stable");
    link.ignoreOffer = !link.polite && collision;
    if (link.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      this.sendDescription(msg.from, pc.localDescription);
    }
  }

  /**
   * Sends what setLocalDescription() made, as what it made: in a state the page did not foresee (an offer applied while
   * a negotiation of its own was under way) it answers where an offer was meant, or the reverse, and a fixed type would
   * mislabel it.
   */
  sendDescription(peerId, description) {
    this.signal.send({ type: description.type, to: peerId, sdp: description.sdp });
  }

  async onCandidate(msg) {
    const link = this.links.get(msg.from);
    if (!link) return;
    try {
      await link.pc.addIceCandidate(msg.candidate);
    } catch (err) {
      if (!link.ignoreOffer) console.warn("a candidate was refused", err);
    }
  }

  dropLink(peerId) {
    const link = this.links.get(peerId);
    if (!link) return;
    this.links.delete(peerId);
    link.pc.close();
    link.video?.remove();
    if (!this.links.size) {
      this.overlay.hidden = false;
      this.videos.dataset.connection = "closed";
    }
  }

  addChat(from, text, at) {
    const mine = from === this.myId;
    const who = mine ? "You" : this.peers.get(from)?.name || "Them";
    const time = at ? new Date(at).toLocaleTimeString("en-IN", { hour: "2-digit", minute: "2-digit" }) : "";
    this.chatLog.append(h("p", { class: mine ? "mine" : "" }, h("strong", {}, `${who}: `), text, " ", h("span", { class: "muted small" }, time)));
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }

  toggle(kind, button) {
    if (!this.local) return;
    const tracks = kind === "audio" ? this.local.getAudioTracks() : this.local.getVideoTracks();
    const off = button.getAttribute("aria-pressed") !== "true";
    for (const t of tracks) t.enabled = !off;
    button.setAttribute("aria-pressed", String(off));
    replace(button, kind === "audio" ? (off ? "Unmute" : "Mute") : off ? "Camera on" : "Camera off");
  }

  stopMedia() {
    for (const t of this.local?.getTracks() || []) t.stop();
    this.localVideo.srcObject = null;
  }

  /** The call is over for this page: connections closed, camera released, controls gone. */
  finish() {
    for (const id of [...this.links.keys()]) this.dropLink(id);
    this.stopMedia();
    this.signal?.close({ leave: false });
    this.overlay.textContent = "The call has ended.";
    this.overlay.hidden = false;
    for (const b of [this.mute, this.camera, this.hangup, this.endButton]) if (b) b.hidden = true;
    this.chatForm.hidden = true;
  }

  leave() {
    this.signal?.close({ leave: true });
    this.say("You left the call.");
    this.finish();
  }

  endForAll() {
    if (this.signal && !this.signal.closed) this.signal.send({ type: "end" });
    this.finish();
  }

  close() {
    this.closed = true;
    this.signal?.close({ leave: true });
    this.finish();
  }
}
