// Seeing a doctor: choose a speciality or a named doctor, say why, give consent, join the queue; then the waiting room
// (a live queue position) which becomes the call when the doctor is ready.

import { h, replace, field, form, values, busy, loading, when, toast, badge } from "../ui.js";
import { get, post } from "../api.js";
import { on } from "../events.js";
import { consultRoom } from "../room.js";
import { radios, checkbox, fieldError, doctorName, modeName, notFound, failure, consultStatus, plainer } from "./patient_util.js";

const languageNames = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" });
  } catch {
    return null;
  }
})();
const languageName = (code) => languageNames?.of(code) || code;

/** "Dr. Asha Rao · General Medicine" for the doctor choice list. */
function doctorOption(d) {
  const langs = (d.languages || []).map(languageName).join(", ");
  return h("option", { value: d.provider_id }, `${doctorName(d.name)} — ${d.speciality || "General practice"}${langs ? ` (speaks ${langs})` : ""}`);
}

/** `#/patient/see-doctor` — the form that joins a queue. */
export function renderSeeDoctor(main) {
  const body = h("div", {}, loading("Finding doctors…"));
  replace(main, h("h1", {}, "See a doctor"),
    h("p", { class: "muted" }, "Choose a speciality to see the next available doctor, or a doctor by name. You wait in a queue and see your place in it; the call starts when the doctor is ready."),
    body);
  let alive = true;
  const start = async () => {
    replace(body, loading("Finding doctors…"));
    try {
      const [providers, consults] = await Promise.all([
        get("/api/v1/providers?role=doctor&limit=200", { auth: false }),
        get("/api/v1/consults?role=mine&limit=200"),
      ]);
      if (alive) replace(body, consultForm(providers.items, consults.items));
    } catch (err) {
      if (alive) replace(body, failure(err, start));
    }
  };
  start();
  return () => {
    alive = false;
  };
}

function consultForm(doctors, consults) {
  const waiting = consults.find((c) => c.status === "waiting" || c.status === "in_progress");
  const notice = waiting
    ? h("div", { class: "alert info", role: "status" },
      waiting.status === "waiting" ? "You are already waiting in a queue. " : "You have a consult in progress. ",
      h("a", { href: `#/patient/consult/${waiting.consult_id}` }, waiting.status === "waiting" ? "Go to your place in the queue" : "Join the call"))
    : null;

  const specialities = [...new Set(doctors.map((d) => d.speciality).filter(Boolean))].sort();
  const languages = [...new Set(doctors.flatMap((d) => d.languages || []))].sort();
  const speciality = h("select", { name: "speciality" }, h("option", { value: "" }, "Choose a speciality…"), specialities.map((s) => h("option", { value: s }, s)));
  const language = h("select", { name: "language" }, h("option", { value: "" }, "Any language"), languages.map((l) => h("option", { value: l }, languageName(l))));
  const doctor = h("select", { name: "doctor_id" });
  const fillDoctors = () => {
    const chosen = doctor.value;
    const shown = doctors.filter((d) => (!speciality.value || d.speciality === speciality.value) && (!language.value || (d.languages || []).includes(language.value)));
    replace(doctor, h("option", { value: "" }, speciality.value ? "Next available doctor" : "Any doctor of the chosen speciality"), shown.map(doctorOption));
    doctor.value = shown.some((d) => d.provider_id === chosen) ? chosen : "";
  };
  fillDoctors();
  speciality.addEventListener("change", fillDoctors);
  language.addEventListener("change", fillDoctors);
  doctor.addEventListener("change", () => {
    const d = doctors.find((x) => x.provider_id === doctor.value);
    if (d?.speciality && specialities.includes(d.speciality)) speciality.value = d.speciality;
  });

  const reason = h("textarea", { name: "reason", required: true, maxlength: 2000, placeholder: "e.g. fever and headache for three days" });
  const completed = consults.filter((c) => c.status === "completed");
  const previous = h("select", { name: "previous_consult_id" },
    h("option", { value: "" }, completed.length ? "Choose the earlier consult…" : "You have no completed consults yet"),
    completed.map((c) => h("option", { value: c.consult_id }, `${when(c.started_at || c.created_at)} — ${doctorName(c.doctor?.name)} — ${c.reason}`)));
  const previousField = field("Earlier consult this follows", previous, "A follow-up continues one of your completed consults.");
  previousField.hidden = true;
  const visit = radios("Is this a new problem or a follow-up?", "visit", [
    { value: "first", label: "First visit for this problem" },
    { value: "follow_up", label: "Follow-up of an earlier consult" },
  ], { checked: "first", onchange: (e) => (previousField.hidden = e.currentTarget.value !== "follow_up") });
  const mode = radios("How would you like to talk?", "mode", [
    { value: "video", label: "Video call" },
    { value: "audio", label: "Voice call only" },
    { value: "text", label: "Text chat" },
  ], { checked: "video" });
  const consent = h("input", { type: "checkbox", name: "consent.teleconsultation" });
  const phr = h("input", { type: "checkbox", name: "consent.record_to_phr" });

  const consultForm = form(
    [
      h("div", { class: "grid two" },
        field("Speciality", speciality),
        field("Doctor", doctor, "Leave it as it is to see whoever of the speciality is free first.")),
      field("Language you would like to speak (optional)", language, "Shows only doctors who speak it."),
      field("Reason for the consult", reason, "A few words for the doctor. At least 3 characters."),
      visit,
      previousField,
      mode,
      h("fieldset", { class: "pt-choices" }, h("legend", {}, "Your consent"),
        checkbox("I consent to this teleconsultation", consent, "Required: a doctor can see you online only with your consent."),
        checkbox("Save the doctor's notes to my health record (PHR)", phr, "You can read them later under Records. You can change your mind later.")),
    ],
    "Join the queue",
    async (f) => {
      const v = values(f);
      const body = {
        reason: v.reason,
        visit: v.visit,
        mode: v.mode,
        consent: { teleconsultation: consent.checked, record_to_phr: phr.checked },
      };
      if (v.doctor_id) body.doctor_id = v.doctor_id;
      else if (v.speciality) body.speciality = v.speciality;
      else throw fieldError("Choose a speciality, or a doctor by name.", [{ field: "speciality", message: "choose a speciality, or a doctor by name" }]);
      if (v.visit === "follow_up") {
        if (!v.previous_consult_id) {
          throw fieldError("Choose the earlier consult this follows, or choose “First visit”.", [
            { field: "previous_consult_id", message: completed.length ? "choose the earlier consult" : "you have no completed consult to follow up; choose “First visit”" },
          ]);
        }
        body.previous_consult_id = v.previous_consult_id;
      }
      try {
        const created = await post("/api/v1/consults", body);
        location.hash = `#/patient/consult/${created.consult_id}`;
      } catch (err) {
        if (err.code === "consult_already_waiting") {
          const list = await get("/api/v1/consults?role=mine&status=waiting").catch(() => null);
          const open = list?.items?.[0];
          if (open) {
            replace(already, "You are already in a queue: ", h("a", { href: `#/patient/consult/${open.consult_id}` }, "go to your place in the queue"), ".");
            already.hidden = false;
          }
        }
        throw plainer(err, {
          "consent.teleconsultation": "tick this box: a doctor can see you online only with your consent",
          reason: "tell the doctor in a few words (at least 3 letters) why you need a consult",
        });
      }
    },
    { busyLabel: "Joining the queue…" },
  );
  const already = h("div", { class: "alert info", role: "status", hidden: true });
  return h("div", { class: "card medium pt-consult-form" }, notice, consultForm, already);
}

const providerNames = new Map();

/** The name of the doctor a waiting consult asked for (it has only their id until admitted); null if unknown. */
export async function requestedDoctor(c) {
  const id = c.requested_doctor_id;
  if (!id || c.doctor) return null;
  if (!providerNames.has(id)) {
    providerNames.set(id, get(`/api/v1/providers/${encodeURIComponent(id)}`, { auth: false }).then((d) => d.name).catch(() => null));
  }
  return providerNames.get(id);
}

/** Who the patient is waiting for, in words. */
export function waitingFor(c, requestedName) {
  if (c.doctor) return doctorName(c.doctor.name);
  if (requestedName) return doctorName(requestedName);
  if (c.speciality) return `the next available ${c.speciality} doctor`;
  return "the doctor you chose";
}

/** The live queue card: "You are number N in the queue". */
export function queueCard(c) {
  const ahead = (c.queue_position || 1) - 1;
  return h(
    "div",
    { class: "pt-queue", role: "status", "aria-live": "polite", "data-consult-id": c.consult_id },
    h("p", { class: "pt-queue-line" }, "You are number ", h("span", { class: "queue-position", "data-testid": "queue-position" }, String(c.queue_position ?? "…")), " in the queue"),
    h("p", {}, ahead === 0 ? "You are next. The doctor will be with you soon." : `${ahead} ${ahead === 1 ? "person is" : "people are"} ahead of you.`),
  );
}

/** The patient leaves the queue. */
export function cancelButton(c, after) {
  return h("button", {
    type: "button",
    class: "secondary",
    onclick: (e) =>
      busy(e.currentTarget, async () => {
        await post(`/api/v1/consults/${c.consult_id}/cancel`);
        toast("You have left the queue.");
        after();
      }, "Leaving the queue…"),
  }, "Leave the queue");
}

/** `#/patient/consult/:id` — the waiting room while waiting, the call once the doctor is ready. */
export function renderConsult(main, id) {
  let alive = true;
  let room = null;
  let starting = false;
  let n = 0;
  const head = h("div");
  const area = h("section", { "aria-label": "Your consult" });
  replace(main, head, area);
  replace(area, loading("Loading your consult…"));

  const startRoom = async (c) => {
    if (room || starting) return;
    starting = true;
    replace(head,
      h("h1", {}, `${doctorName(c.doctor?.name)} is ready`),
      h("p", { class: "muted" }, `${modeName(c.mode)} · ${c.reason}. Allow your camera and microphone when asked; the doctor lets you in from the lobby.`));
    replace(area, loading("Starting the call…"));
    try {
      const r = await consultRoom(area, c, "patient");
      if (!alive) r.close();
      else room = r;
    } catch (err) {
      if (alive) replace(area, failure(err, () => { starting = false; startRoom(c); }, "Try to join the call again"));
    } finally {
      starting = false;
    }
  };

  const show = async () => {
    const mine = ++n;
    let c;
    try {
      c = await get(`/api/v1/consults/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!alive || mine !== n) return;
      if (err.status === 404) {
        replace(head);
        replace(area, notFound("consult"));
      } else if (!room) {
        replace(area, failure(err, show));
      }
      return;
    }
    const asked = c.status === "waiting" ? await requestedDoctor(c) : null;
    if (!alive || mine !== n) return;
    if (c.status === "waiting") {
      replace(head,
        h("h1", {}, "Waiting for your consult"),
        h("p", {}, `With ${waitingFor(c, asked)} · ${modeName(c.mode)} · ${c.reason}`));
      replace(area,
        h("div", { class: "card pt-waiting" },
          queueCard(c),
          h("p", { class: "muted small" }, "This page updates by itself. Keep it open: when the doctor is ready, the call starts here."),
          h("div", { class: "row" }, cancelButton(c, show))));
    } else if (c.status === "in_progress") {
      await startRoom(c);
    } else if (!room) {
      const [label, kind] = consultStatus(c.status);
      replace(head, h("h1", {}, "Your consult"), h("p", {}, badge(label, kind), ` ${c.reason} · ${when(c.created_at)}`));
      replace(area,
        h("div", { class: "card" },
          h("p", {}, c.status === "completed"
            ? `This consult with ${doctorName(c.doctor?.name)} has ended. Notes and prescriptions from it appear under Records.`
            : "This consult was cancelled; you are no longer in the queue."),
          h("div", { class: "row" },
            c.status === "completed" ? h("a", { class: "button", href: "#/patient/records" }, "Open my records") : null,
            h("a", { class: "button secondary", href: "#/patient/see-doctor" }, "See a doctor"))));
    }
  };

  const mineOnly = (fn) => (data) => {
    if (data && data.consult_id === id) fn(data);
  };
  const offs = [
    on("queue.updated", mineOnly(() => { if (!room) show(); })),
    on("consult.admitted", mineOnly(() => show())),
  ];
  show();
  return () => {
    alive = false;
    offs.forEach((off) => off());
    room?.close();
  };
}
