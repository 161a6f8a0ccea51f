// The doctor's pages: the live queue, and a consult's workspace — the call beside the patient's consented records,
// notes, prescription and consent requests.

import { h, replace, loading, busy, badge, when, toast, alertBox } from "../ui.js";
import { get, post } from "../api.js";
import { on } from "../events.js";
import { consultRoom } from "../room.js";
import { recordsPanel } from "./doctor_records.js";
import { notesPanel } from "./doctor_notes.js";
import { prescriptionPanel } from "./doctor_prescription.js";

export const nav = [
  ["#/doctor", "Queue"],
];

export const routes = [
  ["/doctor", renderQueue, "doctor"],
  ["/doctor/consult/:id", renderWorkspace, "doctor"],
];

async function renderQueue(main) {
  const list = h("div", { "aria-live": "polite" }, loading("Loading your queue…"));
  const mine = h("div");
  replace(main, h("h1", {}, "Your queue"), h("p", { class: "muted" }, "Patients waiting for you or for your speciality, oldest first. It updates live."), list,
    h("h2", {}, "Your consults today"), mine);
  let stale = false;
  const refresh = async () => {
    if (stale) return;
    try {
      const [queue, consults] = await Promise.all([get("/api/v1/queue"), get("/api/v1/consults?role=mine")]);
      replace(list, queueList(queue.items));
      replace(mine, ongoing(consults.items.filter((c) => c.status === "in_progress")));
    } catch (err) {
      const box = alertBox();
      box.show(err);
      replace(list, box, h("button", { type: "button", onclick: refresh }, "Try again"));
    }
  };
  await refresh();
  const off = on("queue.updated", refresh);
  return () => {
    stale = true;
    off();
  };
}

function queueList(items) {
  if (!items.length) return h("p", { class: "card", role: "status" }, "No one is waiting. New patients appear here as soon as they join.");
  return h(
    "ul",
    { class: "plain card", "aria-label": "Waiting patients" },
    items.map((c, i) =>
      h(
        "li",
        { class: "row spread" },
        h("div", {},
          h("strong", {}, `${i + 1}. ${c.patient.name}`), " ",
          badge(c.visit === "follow_up" ? "follow-up" : "first visit"), " ", badge(c.mode),
          h("div", { class: "muted small" }, `${c.reason} · waiting since ${when(c.created_at)}${c.speciality ? ` · ${c.speciality}` : ""}`)),
        h("button", {
          type: "button",
          onclick: (e) =>
            busy(e.currentTarget, async () => {
              await post(`/api/v1/consults/${c.consult_id}/admit`);
              location.hash = `#/doctor/consult/${c.consult_id}`;
            }, "Admitting…"),
        }, `Admit ${c.patient.name}`),
      ),
    ),
  );
}

function ongoing(items) {
  if (!items.length) return h("p", { class: "muted" }, "No consult in progress.");
  return h("ul", { class: "plain card" }, items.map((c) =>
    h("li", { class: "row spread" }, h("span", {}, `${c.patient.name} — ${c.reason}`), h("a", { class: "button secondary", href: `#/doctor/consult/${c.consult_id}` }, "Open"))));
}

async function renderWorkspace(main, id) {
  const consult = await get(`/api/v1/consults/${id}`);
  const status = h("span", {}, badge(consult.status.replace("_", " "), consult.status === "in_progress" ? "ok" : ""));
  const complete = h("button", {
    type: "button",
    class: "secondary",
    onclick: (e) =>
      busy(e.currentTarget, async () => {
        const done = await post(`/api/v1/consults/${id}/complete`);
        replace(status, badge(done.status));
        complete.hidden = true;
        room?.end();
        toast("Consult completed. You can still write notes and prescribe for 24 hours.");
      }, "Completing…"),
  }, "Complete consult");
  complete.hidden = consult.status !== "in_progress";
  const callArea = h("section", { "aria-label": "Video call" });
  const panels = [recordsPanel(consult), notesPanel(consult), prescriptionPanel(consult)];
  const side = h("section", { "aria-label": "Patient record" }, panels);
  replace(
    main,
    h("div", { class: "row spread" },
      h("h1", {}, `Consult with ${consult.patient.name}`),
      h("div", { class: "row" }, status, complete)),
    h("p", { class: "muted" }, `Health ID ${consult.patient.health_id} · ${consult.visit === "follow_up" ? "follow-up" : "first visit"} · ${consult.mode} · ${consult.reason}`),
    h("div", { class: "grid call-layout" }, callArea, side),
  );
  let room = null;
  if (consult.status === "in_progress") room = await consultRoom(callArea, consult, "doctor");
  else replace(callArea, h("p", { class: "card muted" }, consult.status === "completed" ? "This consult has ended." : "This consult is not in progress."));
  return () => {
    room?.close();
    for (const panel of panels) panel.dispose?.();
  };
}
