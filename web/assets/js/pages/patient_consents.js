// Consent and access: the requests doctors make to see the patient's records (approve, narrow, deny), the consents in
// force (revoke), emergency "break the glass" access with its reason, and the log of everyone who touched their data.

import { h, replace, busy, badge, when, day, toast, alertBox } from "../ui.js";
import { get, post, query } from "../api.js";
import { on } from "../events.js";
import { session } from "../session.js";
import { loader, olderPages, hiTypeName, purposeText, doctorName } from "./patient_util.js";

const CONSENT_STATUS = {
  REQUESTED: ["Waiting for your answer", "warn"],
  GRANTED: ["Active", "ok"],
  DENIED: ["Denied", "danger"],
  REVOKED: ["Revoked", "danger"],
  EXPIRED: ["Expired", ""],
};
const statusBadge = (s) => badge(...(CONSENT_STATUS[s] || [s, ""]));
const REQUEST_STATUS = { GRANTED: ["Approved", "ok"], DENIED: ["Denied", "danger"], EXPIRED: ["Lapsed unanswered", ""] };
const requestBadge = (s) => badge(...(REQUEST_STATUS[s] || CONSENT_STATUS[s] || [s, ""]));

/** "1 Jan 2024 to 31 Dec 2026"; a range from the epoch means every record up to its end. */
const range = (r) => {
  if (!r) return "";
  return new Date(r.from).getUTCFullYear() <= 1970 ? `all dates, up to ${day(r.to)}` : `${day(r.from)} to ${day(r.to)}`;
};

/** One pending request, with the kinds of record as checkboxes the patient may narrow before approving. */
function requestCard(r, reload) {
  const title = `rq-${r.consent_request_id}`;
  const boxes = r.hi_types.map((t) => ({ t, input: h("input", { type: "checkbox", value: t, checked: true }) }));
  const error = alertBox();
  const approve = h("button", {
    type: "button",
    onclick: (e) =>
      busy(e.currentTarget, async () => {
        error.clear();
        const chosen = boxes.filter((b) => b.input.checked).map((b) => b.t);
        if (!chosen.length) {
          error.show(new Error("Choose at least one kind of record to share, or deny the request."));
          return;
        }
        await post(`/api/v1/consent-requests/${r.consent_request_id}/grant`, chosen.length === r.hi_types.length ? {} : { hi_types: chosen });
        toast(`You allowed ${doctorName(r.doctor.name)} to see ${chosen.map(hiTypeName).join(", ").toLowerCase()}.`);
        reload();
      }, "Approving…"),
  }, "Approve");
  const deny = h("button", {
    type: "button",
    class: "danger",
    onclick: (e) =>
      busy(e.currentTarget, async () => {
        await post(`/api/v1/consent-requests/${r.consent_request_id}/deny`);
        toast(`You denied ${doctorName(r.doctor.name)}'s request.`);
        reload();
      }, "Denying…"),
  }, "Deny");
  return h(
    "article",
    { class: "card pt-request", "aria-labelledby": title, "data-request-id": r.consent_request_id },
    h("h3", { id: title }, `${doctorName(r.doctor.name)} asks to see your records`),
    h("dl", { class: "pt-facts" },
      h("dt", {}, "Why"), h("dd", {}, purposeText(r.purpose)),
      r.reason ? [h("dt", {}, "Their reason"), h("dd", {}, r.reason)] : null,
      h("dt", {}, "Records from"), h("dd", {}, range(r.date_range)),
      h("dt", {}, "Answer by"), h("dd", {}, `${when(r.expires_at)} — after that the request lapses`),
      h("dt", {}, "Asked on"), h("dd", {}, when(r.created_at))),
    h("fieldset", { class: "pt-choices" },
      h("legend", {}, "What they may see"),
      h("p", { class: "hint" }, "Untick anything you do not want to share; they get only what stays ticked."),
      boxes.map((b) => h("label", { class: "check" }, b.input, h("span", {}, hiTypeName(b.t))))),
    error,
    h("div", { class: "row" }, approve, deny),
  );
}

function consentCard(k, reload) {
  const title = `ct-${k.consent_id}`;
  const revoke = k.status === "GRANTED"
    ? h("button", {
      type: "button",
      class: "danger",
      onclick: (e) =>
        busy(e.currentTarget, async () => {
          await post(`/api/v1/consents/${k.consent_id}/revoke`);
          toast(`${doctorName(k.doctor.name)} can no longer see your records under this consent.`);
          reload();
        }, "Revoking…"),
    }, "Revoke")
    : null;
  return h(
    "article",
    { class: `card pt-consent${k.break_glass ? " pt-btg" : ""}`, "aria-labelledby": title, "data-consent-id": k.consent_id },
    h("div", { class: "row spread" }, h("h3", { id: title }, doctorName(k.doctor.name)), statusBadge(k.status)),
    k.break_glass
      ? h("p", { class: "alert error" }, h("strong", {}, "Emergency access (break the glass). "),
        "This doctor opened your records without asking, for an emergency. It lasts one hour and is recorded. Their reason: ", h("q", {}, k.reason || "none given"))
      : null,
    h("dl", { class: "pt-facts" },
      h("dt", {}, "Why"), h("dd", {}, purposeText(k.purpose)),
      h("dt", {}, "May see"), h("dd", {}, k.hi_types.map(hiTypeName).join(", ")),
      h("dt", {}, "Records from"), h("dd", {}, range(k.date_range)),
      h("dt", {}, k.status === "GRANTED" ? "Until" : "Was valid until"), h("dd", {}, when(k.expires_at)),
      k.revoked_at ? [h("dt", {}, "Revoked"), h("dd", {}, when(k.revoked_at))] : null,
      h("dt", {}, "Given"), h("dd", {}, when(k.created_at))),
    revoke ? h("div", { class: "row" }, revoke, h("span", { class: "muted small" }, "Revoking stops their access at once.")) : null,
  );
}

/** `#/patient/consents` — requests to answer, consents in force, and past answers. Updates live. */
export function renderConsents(main) {
  const pending = h("div", { "aria-live": "polite" });
  const consents = h("div", { "aria-live": "polite" });
  const answered = h("div");
  let alive = true;

  const loadPending = loader(pending, () => get("/api/v1/consent-requests"), (data) =>
    data.items.length
      ? data.items.map((r) => requestCard(r, reloadAll))
      : h("p", { class: "card", role: "status" }, "No one is asking to see your records right now. New requests appear here as they arrive."),
  { progress: "Loading requests…" });
  const loadConsents = loader(consents, () => get("/api/v1/consents"), (data) =>
    data.items.length
      ? data.items.map((k) => consentCard(k, reloadAll))
      : h("p", { class: "muted" }, "You have not given any doctor access to your records."),
  { progress: "Loading consents…" });
  const loadAnswered = loader(answered, () => get("/api/v1/consent-requests?status=all"), (data) => {
    const done = data.items.filter((r) => r.status !== "REQUESTED");
    if (!done.length) return h("p", { class: "muted" }, "None yet.");
    return h("ul", { class: "plain card pt-list" }, done.map((r) =>
      h("li", { class: "row spread", "data-request-id": r.consent_request_id },
        h("span", {}, `${doctorName(r.doctor.name)} — ${r.hi_types.map(hiTypeName).join(", ")} — asked ${when(r.created_at)}`),
        requestBadge(r.status))));
  }, { progress: "Loading…" });
  function reloadAll() {
    if (!alive) return;
    loadPending();
    loadConsents();
    loadAnswered();
  }

  replace(main,
    h("h1", {}, "Consents"),
    h("p", { class: "muted" }, "Doctors need your consent to see your health records. You decide what they see and for how long, and you can take it back at any time."),
    h("h2", {}, "Requests waiting for your answer"), pending,
    h("h2", {}, "Who can see your records"), consents,
    h("h2", {}, "Requests you have answered"), answered);
  reloadAll();
  const offs = [on("consent.requested", reloadAll), on("consent.revoked", reloadAll)];
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}

/** What happened, in words, by "action resource_type" (the audit log's vocabulary). */
const ACTIONS = {
  "read patient_records": "viewed your health records",
  "read health_record": "viewed a health record",
  "read consult": "viewed your consult",
  "read prescription": "viewed a prescription",
  "read order": "viewed your medicines order",
  "list consult": "saw your consult in their list",
  "list order": "saw your medicines order in their list",
  "create consult": "asked for a consult",
  "create health_record": "wrote a health record",
  "write_notes consult": "wrote notes of your consult",
  "admit consult": "took your consult from the queue",
  "complete consult": "completed your consult",
  "cancel consult": "cancelled a consult",
  "consent_give consult": "allowed a consult's notes in your record",
  "consent_withdraw consult": "withdrew a consult's notes from your record",
  "prescribe prescription": "wrote a prescription",
  "request consent_request": "asked for consent to see your records",
  "deny consent_request": "denied a consent request",
  "grant consent": "granted consent",
  "revoke consent": "revoked a consent",
  "break_glass consent": "used emergency access to your records",
  "route order": "sent a prescription to a pharmacy",
  "time_out order": "moved an order on (the pharmacy did not answer in time)",
  "accept order": "accepted your medicines order",
  "reject order": "declined your medicines order",
  "ready order": "got your medicines ready",
  "dispatch order": "sent your medicines for delivery",
  "dispense order": "dispensed your medicines",
  "cancel order": "cancelled a medicines order",
  "auth.login account": "logged in",
  "health_id.create health_id": "created your Health ID",
  "health_id.read health_id": "looked up your Health ID",
};
const whatHappened = (e) => ACTIONS[`${e.action} ${e.resource_type}`] || `${e.action.replace(/[._]/g, " ")} ${e.resource_type.replace(/_/g, " ")}`;
const OUTCOMES = { success: ["Allowed", "ok"], denied: ["Refused", "danger"], failure: ["Failed", "warn"] };

/** `#/patient/access` — who accessed the patient's data, newest first, paged. */
export function renderAccess(main) {
  const me = session()?.subject_id;
  const body = h("tbody");
  const table = h("table", { class: "pt-access" },
    h("caption", { class: "sr-only" }, "Who accessed your data, newest first"),
    h("thead", {}, h("tr", {}, ["When", "Who", "What they did", "Purpose", "Outcome"].map((t) => h("th", { scope: "col" }, t)))),
    body);
  const holder = h("div");
  const more = h("div");
  const others = h("input", { type: "checkbox", id: "pt-only-others" });

  const mine = (e) => e.role === "patient" && (e.actor_id || "").replace(/-/g, "") === (me || "").replace(/-/g, "");
  const row = (e) => {
    const self = mine(e);
    const [outcome, kind] = OUTCOMES[e.outcome] || [e.outcome, ""];
    const what = whatHappened(e);
    return h("tr", { class: self ? "pt-self" : null, "data-role": e.role || "" },
      h("td", { "data-label": "When" }, when(e.when || e.at)),
      h("td", { "data-label": "Who" }, self ? "You" : e.who ? h("span", {}, h("strong", {}, e.who), e.role ? ` (${e.role})` : "") : "vaidya (automatic)"),
      h("td", { "data-label": "What they did" }, what),
      h("td", { "data-label": "Purpose" }, purposeText(e.purpose) || "—"),
      h("td", { "data-label": "Outcome" }, badge(outcome, kind)));
  };
  const filter = () => table.classList.toggle("pt-hide-self", others.checked);
  others.addEventListener("change", filter);
  const older = olderPages({
    more,
    fetchPage: (cursor) => get(`/api/v1/audit${query({ limit: 30, cursor })}`),
    append: (items) => body.append(...items.map(row)),
    label: "Show older entries",
    retryLabel: "Try loading older entries again",
  });
  const load = loader(holder, older.first, (data) => {
    replace(body, data.items.map(row));
    older.show();
    return data.items.length ? table : h("p", { class: "card" }, "No one has accessed your data yet.");
  }, { progress: "Loading the access log…" });

  replace(main,
    h("h1", {}, "Who accessed your data"),
    h("p", { class: "muted" }, "Every time anyone reads or changes your health data — or is refused — it is written here and cannot be altered afterwards."),
    h("label", { class: "check pt-filter", for: others.id }, others, h("span", {}, "Show only access by others")),
    holder, more);
  load();
  return older.stop;
}
