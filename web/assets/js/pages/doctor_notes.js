// The doctor's encounter notes for a consult: complaints, findings, coded diagnoses, advice and follow-up.

import { h, replace, field, form } from "../ui.js";
import { post } from "../api.js";
import { int, plainValidation } from "./doctor_tools.js";

const CODE_SYSTEMS = [
  ["http://hl7.org/fhir/sid/icd-10", "ICD-10"],
  ["http://snomed.info/sct", "SNOMED CT"],
];

/** The doctor's encounter notes for this consult, saved as an OPConsultation record. */
export function notesPanel(consult) {
  const done = h("div", { class: "notes-done" });
  const diagnosisList = h("div", { class: "diagnoses" });
  const rows = [];

  function diagnosisRow() {
    const text = h("input", { autocomplete: "off" });
    const code = h("input", { autocomplete: "off", spellcheck: "false" });
    const system = h("select", {}, CODE_SYSTEMS.map(([value, label]) => h("option", { value }, label)));
    const labels = { text: h("span"), code: h("span"), system: h("span") };
    const remove = h("button", { type: "button", class: "secondary small-button" });
    const row = {
      text, code, system, remove,
      el: h("div", { class: "diagnosis-row" },
        field(labels.text, text),
        h("div", { class: "field-grid" }, field(labels.code, code), field(labels.system, system)),
        remove),
      number(i) {
        replace(labels.text, `Diagnosis ${i + 1}`);
        replace(labels.code, `Code ${i + 1} (optional)`);
        replace(labels.system, `Code system ${i + 1}`);
        replace(remove, `Remove diagnosis ${i + 1}`);
      },
      empty: () => !text.value.trim() && !code.value.trim(),
    };
    remove.addEventListener("click", () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
      renumber();
      (rows[0]?.text || addButton).focus();
    });
    return row;
  }

  function renumber() {
    rows.forEach((r, i) => {
      r.number(i);
      r.remove.hidden = rows.length === 1;
    });
  }

  function addDiagnosis(focus) {
    const row = diagnosisRow();
    rows.push(row);
    diagnosisList.append(row.el);
    renumber();
    if (focus) row.text.focus();
  }

  const addButton = h("button", { type: "button", class: "secondary", onclick: () => addDiagnosis(true) }, "Add another diagnosis");
  addDiagnosis(false);

  const chief = h("textarea", { name: "chief_complaints", rows: 2, required: true });
  const history = h("textarea", { name: "history", rows: 2 });
  const examination = h("textarea", { name: "examination", rows: 2 });
  const investigations = h("textarea", { name: "investigations_advised", rows: 2 });
  const advice = h("textarea", { name: "advice", rows: 2 });
  const afterDays = h("input", { name: "follow_up.after_days", type: "number", inputmode: "numeric", min: 1, max: 365 });
  const followNote = h("input", { name: "follow_up.note" });

  const notesForm = form(
    [
      field("Chief complaints", chief, "What the patient came with, in their words."),
      field("History (optional)", history),
      field("Examination findings (optional)", examination),
      h("fieldset", { class: "diagnoses-set" }, h("legend", {}, "Diagnoses"),
        h("p", { class: "hint" }, "Leave empty if there is no diagnosis yet. A code needs its code system."),
        diagnosisList, addButton),
      field("Investigations advised (optional)", investigations, "One per line."),
      field("Advice (optional)", advice),
      h("div", { class: "field-grid" },
        field("Follow up after (days, optional)", afterDays),
        field("Follow-up note (optional)", followNote)),
    ],
    "Save notes",
    async (f) => {
      replace(done);
      // Only diagnoses with something typed are sent; each input is named after its place in what is sent, so the
      // API's field paths (diagnoses[0].text) land on the right row.
      const sent = rows.filter((r) => !r.empty());
      for (const r of rows) for (const input of [r.text, r.code, r.system]) input.removeAttribute("name");
      sent.forEach((r, i) => {
        r.text.name = `diagnoses[${i}].text`;
        r.code.name = `diagnoses[${i}].code`;
        r.system.name = `diagnoses[${i}].system`;
      });
      const lines = investigations.value.split("\n").map((s) => s.trim()).filter(Boolean);
      const followUp = afterDays.value.trim() || followNote.value.trim()
        ? { after_days: int(afterDays.value), note: followNote.value.trim() || undefined }
        : undefined;
      const body = {
        chief_complaints: chief.value.trim() || undefined,
        history: history.value.trim() || undefined,
        examination: examination.value.trim() || undefined,
        diagnoses: sent.map((r) => {
          const code = r.code.value.trim();
          return { text: r.text.value.trim() || undefined, code: code || undefined, system: code ? r.system.value : undefined };
        }),
        investigations_advised: lines.length ? lines : undefined,
        advice: advice.value.trim() || undefined,
        follow_up: followUp,
      };
      let saved;
      try {
        saved = await post(`/api/v1/consults/${encodeURIComponent(consult.consult_id)}/notes`, body);
      } catch (err) {
        throw plainValidation(err, "The notes were not saved.");
      }
      f.reset();
      for (const r of rows.slice(1)) r.el.remove();
      rows.splice(1);
      renumber();
      replace(done, h("div", { class: "alert ok", role: "status" },
        h("strong", {}, "Notes saved to the record."),
        h("p", { class: "small" }, "Record ID: ", h("code", { class: "record-id" }, saved.record_id)),
        h("p", { class: "small" }, saved.in_phr === false
          ? `Kept in your facility's records only: ${consult.patient.name} did not allow this consult to go into their health record (PHR).`
          : `It is also in ${consult.patient.name}'s health record (PHR).`),
        h("p", { class: "small" }, "The form is cleared for another note.")));
    },
    { busyLabel: "Saving notes…" },
  );

  return h("section", { class: "card tool-panel notes-panel", "aria-labelledby": "notes-title" },
    h("h2", { id: "notes-title" }, "Encounter notes"),
    h("p", { class: "muted small" }, "Saved as a consultation record (OPConsultation) in your facility's records."),
    notesForm,
    done);
}
