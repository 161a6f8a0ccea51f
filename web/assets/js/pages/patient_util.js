// Small pieces the patient's pages share: error panels with a retry, radio groups and checkboxes that show the API's
// field messages, plain words for the codes the API uses, loaders that never let an older answer win, and paging
// through older entries.

import { h, replace, alertBox, loading } from "../ui.js";

let seq = 0;
const nextId = (prefix) => `${prefix}${++seq}`;

/** An error in plain words with a "Try again" button (when `retry` is given). */
export function failure(err, retry, retryLabel = "Try again") {
  const box = alertBox();
  box.show(err);
  return h("div", { class: "pt-failure" }, box, retry ? h("button", { type: "button", class: "secondary", onclick: retry }, retryLabel) : null);
}

/**
 * `loader(target, load, render)` → a function that (re)loads: shows progress the first time, renders the newest
 * answer only (an older, slower answer never overwrites a newer one), and shows errors in `target` with a retry.
 */
export function loader(target, load, render, { progress = "Loading…" } = {}) {
  let n = 0;
  let shown = false;
  const run = async () => {
    const mine = ++n;
    if (!shown) replace(target, loading(progress));
    try {
      const data = await load();
      if (mine !== n) return;
      shown = true;
      const out = render(data);
      if (out !== undefined) replace(target, out);
    } catch (err) {
      if (mine !== n) return;
      shown = false;
      replace(target, failure(err, run));
    }
  };
  return run;
}

/**
 * Cursor paging for a list shown newest first, with a button in `more` that loads the next, older page.
 * `fetchPage(cursor)` answers the API's `{ items, next_cursor }` (`cursor` is undefined for the first page);
 * `append(items)` adds an older page to the list. Returns:
 * - `first()`: fetches the first page (to hand to a `loader`), remembering where the next one starts;
 * - `show()`: puts the `label` button in `more` if there is an older page, or empties `more` if not;
 * - `reset()`: forgets the cursor and empties `more` (e.g. when a filter changes);
 * - `stop()`: once the page is left, an older page that arrives late is dropped.
 * While a page loads its button is disabled; a failure replaces it with the error and a `retryLabel` button.
 */
export function olderPages({ more, fetchPage, append, label, retryLabel }) {
  let cursor = null;
  let alive = true;
  const fetchFrom = async (from) => {
    const data = await fetchPage(from);
    cursor = data.next_cursor;
    return data;
  };
  const show = () => replace(more, cursor ? h("button", { type: "button", class: "secondary", onclick: loadMore }, label) : null);
  const loadMore = async (e) => {
    e.currentTarget.disabled = true;
    try {
      const data = await fetchFrom(cursor);
      if (!alive) return;
      append(data.items);
      show();
    } catch (err) {
      replace(more, failure(err, loadMore, retryLabel));
    }
  };
  return {
    first: () => fetchFrom(undefined),
    show,
    reset: () => {
      cursor = null;
      replace(more);
    },
    stop: () => {
      alive = false;
    },
  };
}

/** An error the page raises itself, shown like the API's (with each named field marked). */
export function fieldError(message, fields = []) {
  return Object.assign(new Error(message), { fields });
}

/** A group of radio buttons under a legend, with a slot for the API's message about `name`. */
export function radios(legend, name, options, { checked, onchange, hint, cls = "" } = {}) {
  const inputs = options.map((o) => {
    const input = h("input", { type: "radio", name, value: o.value, checked: o.value === checked, onchange });
    input.id = nextId("r");
    return { input, o };
  });
  const firstId = inputs[0] ? inputs[0].input.id : nextId("r");
  const error = h("span", { class: "field-error", id: `${firstId}-error`, hidden: true });
  const hintId = hint ? `${firstId}-hint` : null;
  for (const { input } of inputs) input.setAttribute("aria-describedby", [hintId, error.id].filter(Boolean).join(" "));
  return h(
    "fieldset",
    { class: `pt-choices ${cls}`.trim() },
    h("legend", {}, legend),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    inputs.map(({ input, o }) =>
      h("label", { class: "check pt-choice", for: input.id }, input, h("span", {}, h("span", { class: "pt-choice-title" }, o.label), o.detail ? h("span", { class: "pt-choice-detail muted small" }, o.detail) : null)),
    ),
    error,
  );
}

/** A checkbox with its label, an optional hint and a slot for the API's message about it. */
export function checkbox(labelText, input, hint) {
  input.id = input.id || nextId("c");
  const error = h("span", { class: "field-error", id: `${input.id}-error`, hidden: true });
  input.setAttribute("aria-describedby", [hint ? `${input.id}-hint` : null, error.id].filter(Boolean).join(" "));
  return h("div", { class: "field pt-check" }, h("label", { class: "check", for: input.id }, input, h("span", {}, labelText)),
    hint ? h("span", { class: "hint", id: `${input.id}-hint` }, hint) : null, error);
}

/** "Dr. Asha Rao" stays; "Asha Rao" becomes "Dr. Asha Rao". */
export function doctorName(name) {
  if (!name) return "the doctor";
  return /^dr\.?\s/i.test(name) ? name : `Dr. ${name}`;
}

export const HI_TYPES = [
  ["OPConsultation", "Consultation notes"],
  ["Prescription", "Prescriptions"],
  ["DiagnosticReport", "Test reports"],
  ["DischargeSummary", "Discharge summaries"],
  ["ImmunizationRecord", "Vaccination records"],
  ["HealthDocumentRecord", "Other health documents"],
  ["WellnessRecord", "Wellness records"],
];
const HI_NAMES = Object.fromEntries(HI_TYPES);

/** A HI type in plain words. */
export function hiTypeName(code) {
  return HI_NAMES[code] || code;
}

const PURPOSES = {
  CAREMGT: "to look after your care (care management)",
  BTG: "emergency access (break the glass)",
  PUBHLTH: "for public health",
  HPAYMT: "to arrange payment for your care",
  DSRCH: "for research on a disease",
  PATRQT: "because you asked for it",
  dispensing: "to dispense your medicines",
  record_to_phr: "your choice to keep notes in your health record",
};

/** A purpose of use in plain words. */
export function purposeText(code) {
  if (!code) return "";
  return code.split(",").map((c) => PURPOSES[c] || c).join("; ");
}

const CONSULT_STATUS = {
  waiting: ["Waiting", "warn"],
  in_progress: ["In progress", "ok"],
  completed: ["Completed", ""],
  cancelled: ["Cancelled", "danger"],
};

export function consultStatus(status) {
  return CONSULT_STATUS[status] || [status, ""];
}

const MODES = { video: "Video call", audio: "Voice call", text: "Text chat" };
export const modeName = (m) => MODES[m] || m;

/** A fresh Idempotency-Key (a random UUID), also where crypto.randomUUID is missing (plain http). */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A page-level "not found" in plain words (404 also means "not yours": the API never says which). */
export function notFound(what, back = ["#/patient", "Go to your home page"]) {
  return [
    h("h1", {}, `We could not find this ${what}`),
    h("div", { class: "alert error", role: "alert" }, `There is no ${what} at this link for your account. The link may be wrong or incomplete.`),
    h("a", { class: "button secondary", href: back[0] }, back[1]),
  ];
}

/**
 * A 422 with field messages, said for a person: a short headline (the details sit beside each field), and the
 * messages of fields this page knows better words for. Returns the same error, to rethrow.
 */
export function plainer(err, messages = {}) {
  if (err && err.status === 422 && Array.isArray(err.fields) && err.fields.length) {
    for (const f of err.fields) if (messages[f.field]) f.message = messages[f.field];
    const n = err.fields.length;
    err.message = n === 1 ? "One answer needs a change — see the message below it." : `${n} answers need a change — see the messages below them.`;
  }
  return err;
}
