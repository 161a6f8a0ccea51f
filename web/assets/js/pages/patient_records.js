// The patient's health record (PHR): each FHIR document Bundle shown as people read it — consultation notes by
// section, prescriptions drug by drug with the prescriber's registration — never as raw JSON (that is one click away).

import { h, replace, field, when } from "../ui.js";
import { get, query } from "../api.js";
import { loader, olderPages, HI_TYPES, hiTypeName, doctorName } from "./patient_util.js";

const DOCTOR_SYSTEM = "https://doctor.ndhm.gov.in";

/** The resources of a document Bundle by full URL, and its Composition. */
function indexBundle(bundle) {
  const byUrl = new Map();
  for (const e of bundle?.entry || []) if (e && e.fullUrl && e.resource) byUrl.set(e.fullUrl, e.resource);
  const composition = (bundle?.entry || []).map((e) => e.resource).find((r) => r?.resourceType === "Composition") || {};
  const resolve = (ref) => (ref && ref.reference ? byUrl.get(ref.reference) : undefined);
  const all = (type) => [...byUrl.values()].filter((r) => r.resourceType === type);
  return { composition, resolve, all };
}

/** The paragraphs of a FHIR narrative, as text (parsed inertly; nothing in it runs or loads). */
function narrativeText(text) {
  const div = text && text.div;
  if (!div) return [];
  const doc = new DOMParser().parseFromString(div, "text/html");
  const paragraphs = [...doc.body.querySelectorAll("p")].map((p) => p.textContent.trim()).filter(Boolean);
  return paragraphs.length ? paragraphs : [doc.body.textContent.trim()].filter(Boolean);
}

const concept = (c) => c?.text || c?.coding?.[0]?.display || c?.coding?.[0]?.code || "";

/** What one entry of a section says, in words. */
function resourceText(r) {
  if (!r) return "";
  switch (r.resourceType) {
    case "Condition":
    case "ServiceRequest":
    case "Procedure":
      return concept(r.code);
    case "Observation":
      return r.valueString || (r.valueQuantity ? `${r.valueQuantity.value} ${r.valueQuantity.unit || ""}`.trim() : concept(r.valueCodeableConcept) || concept(r.code));
    case "Appointment": {
      const start = r.requestedPeriod?.[0]?.start || r.start;
      return [start ? `On or after ${dayOf(start)}` : "", r.description || ""].filter(Boolean).join(": ");
    }
    case "MedicationRequest":
    case "MedicationStatement":
      return [concept(r.medicationCodeableConcept), r.dosageInstruction?.[0]?.text].filter(Boolean).join(" — ");
    case "DocumentReference":
      return r.description || concept(r.type);
    default:
      return concept(r.code) || r.description || "";
  }
}

const dayOf = (iso) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : new Intl.DateTimeFormat("en-IN", { dateStyle: "medium" }).format(d);
};

/** The prescriber: name, registration number and council, from the Practitioner a reference points at. */
function practitioner(ix, ref) {
  const p = ix.resolve(ref) || ix.all("Practitioner")[0];
  const name = ref?.display || p?.name?.[0]?.text || "";
  const id = (p?.identifier || []).find((i) => i.system === DOCTOR_SYSTEM) || p?.identifier?.[0];
  return { name, registration: id?.value || "", council: id?.assigner?.display || "" };
}

function byLine(record, who) {
  const parts = [when(record.date || record.created_at)];
  if (who.name || record.author) {
    let doctor = doctorName(who.name || record.author);
    if (who.registration) doctor += ` (registration ${who.registration}${who.council ? `, ${who.council}` : ""})`;
    parts.push(doctor);
  }
  if (record.facility) parts.push(record.facility);
  return h("p", { class: "muted small" }, parts.join(" · "));
}

const SECTION_NAMES = {
  422843007: "Chief complaints",
  371529009: "Medical history",
  425044008: "Examination",
  721963009: "Investigations advised",
  390906007: "Follow-up",
  721912009: "Medicines",
};

/** The value of a section: its entries in words, or else its narrative. */
function sectionValue(ix, section) {
  const texts = (section.entry || []).map((ref) => resourceText(ix.resolve(ref))).filter(Boolean);
  const lines = texts.length ? texts : narrativeText(section.text);
  if (lines.length <= 1) return lines[0] || "—";
  return h("ul", { class: "pt-lines" }, lines.map((l) => h("li", {}, l)));
}

function opConsultation(record, ix) {
  const c = ix.composition;
  const rows = [];
  const sections = c.section || [];
  const code = (s) => s.code?.coding?.[0]?.code;
  const add = (s) => rows.push([SECTION_NAMES[code(s)] || s.title || "Notes", sectionValue(ix, s)]);
  // Complaints, history and examination first, then the diagnoses, then advice and follow-up, as a doctor reads notes.
  const early = sections.filter((s) => ["422843007", "371529009", "425044008"].includes(code(s)));
  const rest = sections.filter((s) => !early.includes(s));
  early.forEach(add);
  // Diagnoses sit on the Encounter (NDHM OPConsultRecord), each a Condition with a text and maybe a code.
  const encounter = ix.resolve(c.encounter) || ix.all("Encounter")[0];
  let diagnoses = (encounter?.diagnosis || []).map((d) => ix.resolve(d.condition)).filter(Boolean);
  if (!diagnoses.length) {
    diagnoses = ix.all("Condition").filter((r) => (r.category || []).some((cat) => (cat.coding || []).some((x) => x.code === "encounter-diagnosis")));
  }
  if (diagnoses.length) {
    const text = (d) => {
      const coding = d.code?.coding?.[0];
      const words = concept(d.code);
      return coding?.code && coding.code !== words ? `${words} (${coding.code})` : words;
    };
    rows.push(["Diagnosis", diagnoses.length === 1 ? text(diagnoses[0]) : h("ul", { class: "pt-lines" }, diagnoses.map((d) => h("li", {}, text(d))))]);
  }
  rest.forEach(add);
  const who = practitioner(ix, c.author?.[0]);
  return [
    h("h3", { id: `rec-${record.record_id}` }, "Consultation notes"),
    byLine(record, who),
    encounter?.type?.[0]?.text ? h("p", { class: "small" }, encounter.type[0].text) : null,
    h("dl", { class: "pt-notes" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  ];
}

/** The drugs of a PrescriptionRecord, one block each: what, how to take it, for how long, how much. */
export function medicines(ix) {
  const requests = ix.all("MedicationRequest");
  if (!requests.length) return h("p", { class: "muted" }, "This prescription lists no medicines.");
  return h(
    "ol",
    { class: "pt-meds" },
    requests.map((m) => {
      const dosage = m.dosageInstruction?.[0] || {};
      const instructions = dosage.patientInstruction || "";
      let how = dosage.text || "";
      if (instructions && how.endsWith(`. ${instructions}`)) how = how.slice(0, -(instructions.length + 2));
      const days = m.dispenseRequest?.expectedSupplyDuration?.value;
      const quantity = m.dispenseRequest?.quantity?.value;
      return h(
        "li",
        {},
        h("strong", { class: "pt-drug" }, concept(m.medicationCodeableConcept)),
        h("dl", {},
          how ? [h("dt", {}, "How to take"), h("dd", {}, how)] : null,
          dosage.route?.text ? [h("dt", {}, "Route"), h("dd", {}, dosage.route.text)] : null,
          days ? [h("dt", {}, "Duration"), h("dd", {}, `${days} ${days === 1 ? "day" : "days"}`)] : null,
          quantity ? [h("dt", {}, "Quantity"), h("dd", {}, String(quantity))] : null,
          instructions ? [h("dt", {}, "Instructions"), h("dd", {}, instructions)] : null),
      );
    }),
  );
}

function prescription(record, ix) {
  const c = ix.composition;
  const first = ix.all("MedicationRequest")[0];
  const who = practitioner(ix, first?.requester || c.author?.[0]);
  const note = first?.note?.[0]?.text;
  return [
    h("h3", { id: `rec-${record.record_id}` }, "Prescription"),
    byLine(record, who),
    medicines(ix),
    note ? h("p", {}, h("strong", {}, "Doctor's note: "), note) : null,
    h("p", { class: "row" },
      h("a", { class: "button", href: `#/patient/prescription/${record.record_id}` }, "Send to a pharmacy")),
  ];
}

function otherDocument(record, ix) {
  const c = ix.composition;
  const who = practitioner(ix, c.author?.[0]);
  return [
    h("h3", { id: `rec-${record.record_id}` }, c.title || hiTypeName(record.hi_type)),
    byLine(record, who),
    h("dl", {}, (c.section || []).map((s) => [h("dt", {}, s.title || "Section"), h("dd", {}, sectionValue(ix, s))])),
  ];
}

/** The raw FHIR document behind a record, built only when asked for. */
function technical(record) {
  const details = h("details", { class: "pt-fhir" }, h("summary", {}, "Show the FHIR document (for IT staff)"));
  details.addEventListener("toggle", () => {
    if (details.open && details.childElementCount === 1) details.append(h("pre", {}, JSON.stringify(record.bundle, null, 2)));
  });
  return details;
}

/** One PHR record as a card. */
export function recordCard(record) {
  const ix = indexBundle(record.bundle);
  let body;
  try {
    if (record.hi_type === "OPConsultation") body = opConsultation(record, ix);
    else if (record.hi_type === "Prescription") body = prescription(record, ix);
    else body = otherDocument(record, ix);
  } catch (err) {
    console.warn("could not read a record", record.record_id, err);
    body = [h("h3", { id: `rec-${record.record_id}` }, hiTypeName(record.hi_type)), byLine(record, {}),
      h("p", { class: "alert info" }, "This record could not be shown in full here; its document is below.")];
  }
  return h("article", { class: "card record", "aria-labelledby": `rec-${record.record_id}`, "data-record-id": record.record_id, "data-hi-type": record.hi_type },
    body, technical(record));
}

/** `#/patient/records` — the PHR, newest first, filterable by kind, paged. */
export function renderRecords(main) {
  const type = h("select", { name: "hi_type" }, h("option", { value: "" }, "All records"), HI_TYPES.map(([code, name]) => h("option", { value: code }, name)));
  const list = h("div", { class: "pt-records", "aria-live": "polite" });
  const more = h("div");
  const older = olderPages({
    more,
    fetchPage: (cursor) => get(`/api/v1/phr/records${query({ hi_type: type.value, cursor, limit: 20 })}`),
    append: (items) => list.append(...items.map(recordCard)),
    label: "Show older records",
    retryLabel: "Try loading older records again",
  });
  const reload = loader(list, older.first, (data) => {
    older.show();
    if (!data.items.length) {
      return h("p", { class: "card", role: "status" }, type.value
        ? `You have no ${hiTypeName(type.value).toLowerCase()} in your record yet.`
        : "Your health record is empty. Notes and prescriptions from your consults appear here when you choose to save them to your record.");
    }
    return data.items.map(recordCard);
  }, { progress: "Loading your health record…" });
  type.addEventListener("change", () => {
    older.reset();
    reload();
  });

  replace(main,
    h("h1", {}, "Your health record"),
    h("p", { class: "muted" }, "Consultation notes and prescriptions your doctors wrote, kept in your personal health record (PHR). Only you see them here; a doctor sees them only with your consent."),
    h("div", { class: "pt-filter" }, field("Type of record", type)),
    list, more);
  reload();
  return older.stop;
}
