// A patient's past records for the doctor, under consent: readable FHIR documents, asking for access, break-the-glass.

import { h, replace, field, check, form, values, alertBox, toast, loading, when, day } from "../ui.js";
import { get, post, query } from "../api.js";
import { on } from "../events.js";
import { plainValidation } from "./doctor_tools.js";

/**
 * Runs `fn` for events of `kind` while `panel` is on the page; unsubscribes once it has been taken off, or when the
 * returned function is called.
 */
function live(panel, kind, fn) {
  const off = on(kind, (data, event) => {
    if (!panel.isConnected) {
      off();
      return;
    }
    fn(data, event);
  });
  return off;
}

/** `YYYY-MM-DD` of a local date. */
function isoDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The first or last instant of a local day, as RFC 3339 (so "today" means the doctor's today, wherever they are). */
function dayEdge(dateText, end) {
  if (!dateText) return undefined;
  const [y, m, d] = dateText.split("-").map(Number);
  if (!y || !m || !d) return dateText;
  const at = end ? new Date(y, m - 1, d, 23, 59, 59, 999) : new Date(y, m - 1, d, 0, 0, 0, 0);
  return Number.isNaN(at.getTime()) ? dateText : at.toISOString();
}

const CONSENT_CODES = new Set(["consent_required", "consent_revoked", "consent_expired"]);

const PURPOSES = [
  ["CAREMGT", "Care management — treating this patient"],
  ["PATRQT", "Requested by the patient"],
  ["BTG", "Emergency (break the glass)"],
  ["PUBHLTH", "Public health"],
  ["HPAYMT", "Healthcare payment"],
  ["DSRCH", "Disease-specific research"],
];

const HI_TYPES = [
  ["OPConsultation", "Consultation notes"],
  ["Prescription", "Prescriptions"],
  ["DiagnosticReport", "Diagnostic reports (lab, imaging)"],
  ["DischargeSummary", "Discharge summaries"],
  ["ImmunizationRecord", "Immunisation records"],
  ["HealthDocumentRecord", "Other health documents"],
  ["WellnessRecord", "Wellness records"],
];
const hiTypeName = (t) => (HI_TYPES.find(([v]) => v === t) || [t, t])[1];
const purposeName = (p) => (PURPOSES.find(([v]) => v === p) || [p, p])[1];
const digits = (s = "") => String(s).replace(/\D/g, "");

/** The patient's past records that a consent of this doctor covers; when none does, a request for access. */
export function recordsPanel(consult) {
  const patient = consult.patient;
  const firstName = patient.name.split(/\s+/)[0];
  const results = h("div", { class: "records-results" });
  const access = h("div", { class: "records-access" });
  const pendingIds = new Set();
  let needsConsent = false;

  const typeSelect = h("select", { name: "hi_type" }, h("option", { value: "" }, "All kinds"),
    HI_TYPES.map(([value, text]) => h("option", { value }, text)));
  const filters = form(
    [
      field("Kind of record", typeSelect),
      h("div", { class: "field-grid" },
        field("From date", h("input", { name: "from", type: "date" })),
        field("To date", h("input", { name: "to", type: "date" }))),
    ],
    "Show records",
    async (f) => {
      const v = values(f);
      await load({ hi_type: v.hi_type, from: v.from, to: v.to }, true);
    },
    { busyLabel: "Loading records…" },
  );
  let lastFilter = {};
  const panel = h("section", { class: "card tool-panel records-panel", "aria-labelledby": "records-title" },
    h("h2", { id: "records-title" }, "Past records"),
    h("p", { class: "muted small" }, `Records of ${patient.name} that the patient has allowed you to see.`),
    h("details", { class: "filters" }, h("summary", {}, "Filter by kind or date"), filters),
    results,
    access);

  async function load(filter = lastFilter, fromForm = false) {
    lastFilter = filter;
    replace(results, loading("Loading past records…"));
    try {
      const bundle = await get(`/api/v1/patients/${encodeURIComponent(patient.health_id)}/records${query(filter)}`);
      needsConsent = false;
      replace(access);
      replace(results, recordList(bundle));
    } catch (err) {
      if (CONSENT_CODES.has(err.code)) {
        needsConsent = true;
        replace(results, consentNotice(err, patient.name));
        await showAccess();
        return;
      }
      if (fromForm) {
        replace(results);
        throw err;
      }
      const box = alertBox();
      box.show(err);
      replace(results, box, h("button", { type: "button", class: "secondary", onclick: () => load() }, "Try again"));
    }
  }

  async function showAccess(notice) {
    replace(access, loading("Checking your earlier requests…"));
    let pending = null;
    try {
      const mine = await get("/api/v1/consent-requests");
      const forPatient = mine.items.filter((r) => digits(r.patient_health_id) === digits(patient.health_id));
      for (const r of forPatient) if (r.status === "REQUESTED") pendingIds.add(r.consent_request_id);
      pending = forPatient.find((r) => r.status === "REQUESTED") || null;
    } catch {
      // Not knowing of an earlier request only means the doctor may ask again; the form still works.
    }
    if (pending) showPending(pending);
    else showRequestForm(notice);
  }

  function showPending(request) {
    replace(access,
      h("div", { class: "alert info pending-request", role: "status" },
        h("strong", {}, `Access requested — waiting for ${patient.name} to answer.`),
        h("p", { class: "small" },
          `Sent ${when(request.created_at)} · ${purposeName(request.purpose)} · ${request.hi_types.map(hiTypeName).join(", ")} · `,
          `records from ${day(request.date_range.from)} to ${day(request.date_range.to)}. `,
          "This updates by itself when the patient grants or denies it."),
        h("button", { type: "button", class: "secondary", onclick: () => load() }, "Check again")),
      breakGlassForm());
  }

  function showRequestForm(notice) {
    const today = new Date();
    const twoYearsAgo = new Date(today.getFullYear() - 2, today.getMonth(), today.getDate());
    const inThirtyDays = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 30);
    const purpose = h("select", { name: "purpose" }, PURPOSES.map(([value, text]) => h("option", { value, selected: value === "CAREMGT" }, text)));
    const boxes = HI_TYPES.map(([value, text]) =>
      h("input", { type: "checkbox", name: "hi_types", value, checked: value === "OPConsultation" || value === "Prescription" }));
    boxes[0].id = `hi-types-${consult.consult_id}`;
    const typesError = h("span", { class: "field-error", id: `${boxes[0].id}-error`, hidden: true });
    const from = h("input", { name: "date_range.from", type: "date", value: isoDay(twoYearsAgo) });
    const to = h("input", { name: "date_range.to", type: "date", value: isoDay(today) });
    const expires = h("input", { name: "expires_at", type: "date", value: isoDay(inThirtyDays), min: isoDay(today) });
    const reason = h("textarea", { name: "reason", rows: 2, placeholder: `e.g. To treat ${firstName}'s current complaint: ${consult.reason}` });
    const requestForm = form(
      [
        field("Purpose", purpose),
        h("fieldset", { class: "choices" }, h("legend", {}, "Records to see"),
          HI_TYPES.map(([, text], i) => check(text, boxes[i])), typesError),
        h("div", { class: "field-grid" }, field("Records from", from), field("Records up to", to)),
        field("Access ends on", expires, "After this day the consent stops working by itself."),
        field("Why you need them (optional)", reason, "The patient sees this with your request."),
      ],
      "Request access",
      async () => {
        const body = {
          patient_health_id: patient.health_id,
          purpose: purpose.value,
          hi_types: boxes.filter((b) => b.checked).map((b) => b.value),
          date_range: { from: dayEdge(from.value, false), to: dayEdge(to.value, true) },
          expires_at: dayEdge(expires.value, true),
          reason: reason.value.trim() || undefined,
        };
        try {
          const created = await post("/api/v1/consent-requests", body);
          pendingIds.add(created.consent_request_id);
          toast(`Request sent to ${patient.name}.`);
          showPending(created);
        } catch (err) {
          for (const f of err.fields || []) {
            if (f.field === "hi_types") f.label = "Records to see";
            if (f.field === "date_range") f.label = "Date range";
          }
          throw plainValidation(err, "The request was not sent.");
        }
      },
      { busyLabel: "Sending request…" },
    );
    replace(access,
      notice || null,
      h("h3", {}, "Ask for access"),
      h("p", { class: "small muted" }, `${patient.name} gets your request at once and can grant or deny it.`),
      requestForm,
      breakGlassForm());
  }

  function breakGlassForm() {
    const reason = h("textarea", { name: "reason", rows: 2, minlength: 20 });
    const glass = form(
      [
        h("p", { class: "alert warn" },
          h("strong", {}, "Only in an emergency. "),
          "This opens all of the patient's records for 1 hour without their consent. It is audited, and the patient is shown it at once, with your reason."),
        field("Why is this an emergency?", reason, "At least 20 characters. The patient will read this."),
      ],
      "Break the glass: open records for 1 hour",
      async () => {
        try {
          await post(`/api/v1/patients/${encodeURIComponent(patient.health_id)}/break-glass`, { reason: reason.value.trim() || undefined });
        } catch (err) {
          throw plainValidation(err, "Emergency access was not opened.");
        }
        toast("Emergency access opened for 1 hour. The patient has been told.");
        await load({});
      },
      { busyLabel: "Opening records…" },
    );
    glass.querySelector('button[type="submit"]').classList.add("danger");
    return h("details", { class: "break-glass" }, h("summary", {}, "Emergency access (break the glass)"), glass);
  }

  const offRequested = live(panel, "consent.requested", (data) => {
    if (!data || !pendingIds.has(data.consent_request_id)) return;
    pendingIds.delete(data.consent_request_id);
    if (data.status === "GRANTED") {
      toast(`${patient.name} granted access. Loading the records…`);
      load({});
    } else if (data.status === "DENIED") {
      toast(`${patient.name} denied your request.`, "error");
      showRequestForm(h("div", { class: "alert error", role: "alert" },
        h("strong", {}, `${patient.name} denied your request for access.`),
        " You can ask again, saying why you need the records, or carry on without them."));
    }
  });
  const offRevoked = live(panel, "consent.revoked", (data) => {
    if (!data || data.patient_name === patient.name || !needsConsent) load();
  });

  panel.dispose = () => {
    offRequested();
    offRevoked();
  };

  load();
  return panel;
}

function consentNotice(err, name) {
  const text = {
    consent_required: `You do not have ${name}'s consent to see their past records.`,
    consent_revoked: `${name} revoked the consent that let you see their records.`,
    consent_expired: `Your consent to see ${name}'s records has expired.`,
  }[err.code];
  return h("div", { class: "alert warn consent-needed", role: "status" }, h("strong", {}, text), " ", err.message);
}

/** The searchset's documents, each shown readably. */
function recordList(searchset) {
  const docs = (searchset.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === "Bundle");
  if (!docs.length) {
    return h("p", { class: "muted", role: "status" }, "The consent is in place, but there are no records in the range it covers yet.");
  }
  return h("div", { class: "record-list", role: "list", "aria-label": "Past records" },
    h("p", { class: "small muted", role: "status" }, `${docs.length} record${docs.length === 1 ? "" : "s"}.`),
    docs.map((doc) => h("div", { role: "listitem" }, documentCard(doc))));
}

/** Reads a FHIR document Bundle: its resources by full URL, its Composition, and its sections by SNOMED code. */
function readDocument(doc) {
  const entries = doc.entry || [];
  const byUrl = new Map(entries.map((e) => [e.fullUrl, e.resource]));
  const resources = entries.map((e) => e.resource).filter(Boolean);
  const composition = resources.find((r) => r.resourceType === "Composition") || {};
  const sections = composition.section || [];
  const section = (code) => sections.find((s) => (s.code?.coding || []).some((c) => c.code === code));
  const refs = (s) => (s?.entry || []).map((e) => byUrl.get(e.reference)).filter(Boolean);
  return { byUrl, resources, composition, sections, section, refs };
}

/** The paragraphs of a FHIR XHTML narrative, as plain text (parsed inertly, never inserted as markup). */
function narrativeText(text) {
  const div = text?.div;
  if (!div) return [];
  const parsed = new DOMParser().parseFromString(div, "text/html");
  const paragraphs = [...parsed.querySelectorAll("p")].map((p) => p.textContent.trim()).filter(Boolean);
  return paragraphs.length ? paragraphs : [parsed.body.textContent.trim()].filter(Boolean);
}

const conceptText = (c) => c?.text || c?.coding?.[0]?.display || "";
const typeCode = (composition) => composition.type?.coding?.[0]?.code;

function documentCard(doc) {
  const d = readDocument(doc);
  const code = typeCode(d.composition);
  if (code === "371530004") return consultationCard(d);
  if (code === "440545006") return prescriptionCard(d);
  return genericCard(d);
}

function recordHead(d, title) {
  const c = d.composition;
  const author = (c.author || []).map((a) => a.display).filter(Boolean).join(", ");
  return [
    h("h3", {}, `${title} — ${day(c.date)}`),
    h("p", { class: "small muted" }, [author ? `By ${author}` : "Author not recorded", c.custodian?.display ? ` · ${c.custodian.display}` : ""]),
  ];
}

function dl(rows) {
  const shown = rows.filter(([, value]) => value && (!Array.isArray(value) || value.length));
  return h("dl", {}, shown.map(([term, value]) => [
    h("dt", {}, term),
    h("dd", {}, Array.isArray(value) ? (value.length === 1 ? value[0] : h("ul", {}, value.map((v) => h("li", {}, v)))) : value),
  ]));
}

function consultationCard(d) {
  const texts = (code) => narrativeText(d.section(code)?.text);
  const complaints = d.refs(d.section("422843007")).map((r) => conceptText(r.code)).filter(Boolean);
  const history = d.refs(d.section("371529009")).map((r) => conceptText(r.code)).filter(Boolean);
  const exam = d.refs(d.section("425044008")).map((r) => r.valueString).filter(Boolean);
  const investigations = d.refs(d.section("721963009")).map((r) => conceptText(r.code)).filter(Boolean);
  const encounterRef = d.composition.encounter?.reference;
  const encounter = (encounterRef && d.byUrl.get(encounterRef)) || d.resources.find((r) => r.resourceType === "Encounter");
  let diagnoses = (encounter?.diagnosis || []).map((x) => d.byUrl.get(x.condition?.reference)).filter(Boolean);
  if (!diagnoses.length) {
    diagnoses = d.resources.filter((r) => r.resourceType === "Condition" && (r.category || []).some((c) => (c.coding || []).some((k) => k.code === "encounter-diagnosis")));
  }
  const diagnosisText = diagnoses.map((c) => {
    const coded = (c.code?.coding || [])[0];
    return coded?.code ? `${conceptText(c.code)} (${coded.code})` : conceptText(c.code);
  });
  const followUpSection = d.section("390906007");
  const appointment = d.refs(followUpSection).find((r) => r.resourceType === "Appointment");
  const followUp = followUpSection
    ? `${narrativeText(followUpSection.text).join(" ")}${appointment?.requestedPeriod?.[0]?.start ? ` (around ${day(appointment.requestedPeriod[0].start)})` : ""}`
    : "";
  return h("article", { class: "record card", "data-hi-type": "OPConsultation" },
    recordHead(d, "Consultation notes"),
    dl([
      ["Chief complaints", complaints.length ? complaints : texts("422843007")],
      ["History", history.length ? history : texts("371529009")],
      ["Examination", exam.length ? exam : texts("425044008")],
      ["Diagnoses", diagnosisText],
      ["Investigations advised", investigations.length ? investigations : texts("721963009")],
      ["Advice", texts("404684003").join("\n")],
      ["Follow-up", followUp],
    ]));
}

function prescriptionCard(d) {
  const requests = d.resources.filter((r) => r.resourceType === "MedicationRequest");
  return h("article", { class: "record card", "data-hi-type": "Prescription" },
    recordHead(d, "Prescription"),
    requests.length
      ? h("ol", { class: "medicines" }, requests.map((m) => {
          const quantity = m.dispenseRequest?.quantity?.value;
          return h("li", {},
            h("strong", {}, conceptText(m.medicationCodeableConcept)),
            h("div", {}, (m.dosageInstruction || []).map((x) => x.text).filter(Boolean).join("; ")),
            quantity ? h("div", { class: "small muted" }, `Dispense ${quantity}`) : null);
        }))
      : dl([["Prescription", narrativeText(d.sections[0]?.text)]]),
    (requests[0]?.note || []).length ? dl([["Notes", requests[0].note.map((n) => n.text).join("\n")]]) : null);
}

function genericCard(d) {
  return h("article", { class: "record card" },
    recordHead(d, d.composition.title || conceptText(d.composition.type) || "Health record"),
    dl(d.sections.map((s) => [s.title || conceptText(s.code), narrativeText(s.text)])));
}
