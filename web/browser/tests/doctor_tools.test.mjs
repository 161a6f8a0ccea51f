// The doctor's clinical panels in the consult workspace: encounter notes (and a refused empty note), prescribing a
// drug the guidelines allow, drugs they refuse (prohibited, List B on a first visit) with the reason shown, and past
// records that appear once the patient grants the doctor's request for access.

import { test } from "node:test";
import assert from "node:assert/strict";
import { useServer, person, login, shot, registeredPatient, apiAs, DOCTOR, PHONE } from "./harness.mjs";

const env = useServer();

/** A new patient's first video consult, admitted by dr.asha. */
async function admittedConsult() {
  const patient = await registeredPatient(env.server, "dt");
  const consult = await patient.api.post("/api/v1/consults", {
    speciality: "General Medicine",
    reason: "Fever and body ache for three days",
    visit: "first",
    mode: "video",
    consent: { teleconsultation: true, record_to_phr: true },
  });
  const doctor = await apiAs(env.server, DOCTOR);
  await doctor.post(`/api/v1/consults/${consult.consult_id}/admit`);
  return { patient, doctor, consultId: consult.consult_id };
}

/** The doctor's workspace for a consult, in a fresh browser context. */
async function workspace(consultId, viewport) {
  const { context, page } = await person(env.browser, env.server, viewport ? { viewport } : {});
  await login(page, DOCTOR);
  await page.goto(`/#/doctor/consult/${consultId}`);
  await page.getByRole("heading", { name: "Encounter notes" }).waitFor();
  return { context, page };
}

/** Page errors and console errors, leaving out the browser's own lines for the 4xx answers a test provokes. */
function problems(page) {
  return page.problems.filter((p) => !/status of 4\d\d/.test(p));
}

/** Searches the formulary in medicine `n` and picks `name` from the suggestions. */
async function chooseDrug(page, typed, name, n = 1) {
  await page.getByLabel(`Drug for medicine ${n}`).fill(typed);
  await page.getByRole("button", { name: `Choose ${name}`, exact: true }).click();
}

async function fillItem(page, { dose, frequency, days, quantity }, n = 1) {
  await page.getByLabel(`Dose for medicine ${n}`).fill(dose);
  await page.getByLabel(`Frequency for medicine ${n}`).fill(frequency);
  await page.getByLabel(`Duration (days) for medicine ${n}`).fill(String(days));
  await page.getByLabel(`Quantity to dispense for medicine ${n}`).fill(String(quantity));
}

test("notes: an empty chief complaint is refused at that field, then the notes are saved to the record", async () => {
  const { consultId } = await admittedConsult();
  const { context, page } = await workspace(consultId);
  const chief = page.getByLabel("Chief complaints");

  await page.getByRole("button", { name: "Save notes" }).click();
  await page.locator('[name="chief_complaints"][aria-invalid="true"]').waitFor();
  const errorId = (await chief.getAttribute("aria-describedby")).split(" ").pop();
  assert.match(await page.locator(`#${errorId}`).innerText(), /required|empty/i);
  const alert = page.locator(".notes-panel").getByRole("alert");
  assert.match(await alert.innerText(), /not saved/i);
  assert.match(await alert.innerText(), /Chief complaints/);

  await chief.fill("Fever for 3 days with body ache");
  await page.getByLabel("Examination findings (optional)").fill("Temp 38.6 C, throat mildly congested");
  await page.getByLabel("Diagnosis 1").fill("Viral fever");
  await page.getByRole("button", { name: "Add another diagnosis" }).click();
  await page.getByLabel("Diagnosis 2").fill("Mild dehydration");
  await page.getByLabel("Code 2 (optional)").fill("E86");
  await page.getByLabel("Investigations advised (optional)").fill("Complete blood count\nDengue NS1 antigen");
  await page.getByLabel("Advice (optional)").fill("Rest, plenty of fluids");
  await page.getByLabel("Follow up after (days, optional)").fill("5");
  await page.getByRole("button", { name: "Save notes" }).click();

  const saved = page.locator(".notes-panel").getByRole("status").filter({ hasText: "Notes saved to the record" });
  await saved.waitFor();
  assert.match(await saved.locator(".record-id").innerText(), /^[0-9a-f-]{36}$/);
  assert.equal(await chief.inputValue(), "", "the form is cleared for another note");
  assert.equal(await page.getByLabel("Diagnosis 2").count(), 0);
  await shot(page, "doctor-notes");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("prescribing paracetamol is signed and issued", async () => {
  const { consultId, patient } = await admittedConsult();
  const { context, page } = await workspace(consultId);
  await chooseDrug(page, "parac", "paracetamol");
  await page.locator(".drug-info").filter({ hasText: "List O" }).waitFor();
  await fillItem(page, { dose: "1 tablet", frequency: "three times a day", days: 3, quantity: 9 });
  await page.getByLabel("Strength (optional) for medicine 1").fill("500 mg");
  await page.getByRole("button", { name: "Add another medicine" }).click();
  await chooseDrug(page, "cetiri", "cetirizine", 2);
  await fillItem(page, { dose: "1 tablet", frequency: "at bedtime", days: 5, quantity: 5 }, 2);
  await page.getByLabel("Notes for the patient and pharmacist (optional)").fill("Take with water.");
  await page.getByRole("button", { name: "Sign and issue prescription" }).click();

  const issued = page.getByRole("heading", { name: "Prescription signed and issued" });
  await issued.waitFor();
  const summary = page.locator(".rx-issued");
  assert.match(await summary.innerText(), /Signed/);
  assert.match(await summary.innerText(), /Paracetamol 500 mg/);
  assert.match(await summary.innerText(), /three times a day, for 3 days/);
  const id = await summary.locator(".prescription-id").innerText();
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(await summary.getByRole("link").count(), 0, "the summary has no links");
  const stored = await patient.api.get(`/api/v1/prescriptions/${id}`);
  assert.deepEqual(stored.items.map((i) => i.name), ["paracetamol", "cetirizine"]);
  await shot(page, "doctor-prescription");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("morphine is refused, and the page says why: a prohibited drug", async () => {
  const { consultId } = await admittedConsult();
  const { context, page } = await workspace(consultId);
  await chooseDrug(page, "morph", "morphine");
  // Warned as soon as it is chosen.
  const early = page.locator(".drug-warning");
  await early.waitFor();
  assert.match(await early.innerText(), /prohibited drug .*never be prescribed by teleconsultation/i);

  await fillItem(page, { dose: "1 tablet", frequency: "twice a day", days: 3, quantity: 6 });
  await page.getByRole("button", { name: "Sign and issue prescription" }).click();
  const drug = page.getByLabel("Drug for medicine 1");
  await page.locator('[name="items[0].drug"][aria-invalid="true"]').waitFor();
  const errorId = (await drug.getAttribute("aria-describedby")).split(" ").pop();
  assert.match(await page.locator(`#${errorId}`).innerText(), /Morphine is a prohibited drug \(Schedule X \/ NDPS\) and can never be prescribed by teleconsultation/);
  const summary = page.locator(".prescription-panel form > .alert.error");
  assert.match(await summary.innerText(), /Not issued\. Morphine is a prohibited drug/);
  assert.equal(await page.getByRole("heading", { name: "Prescription signed and issued" }).count(), 0);
  await shot(page, "doctor-prescription-refused");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("a List B drug on a first consult is refused with the reason, next to that item", async () => {
  const { consultId } = await admittedConsult();
  const { context, page } = await workspace(consultId);
  await chooseDrug(page, "para", "paracetamol");
  await fillItem(page, { dose: "1 tablet", frequency: "twice a day", days: 3, quantity: 6 });
  await page.getByRole("button", { name: "Add another medicine" }).click();
  await chooseDrug(page, "sitag", "sitagliptin", 2);
  await page.locator(".drug-warning").filter({ hasText: "List B" }).waitFor();
  await fillItem(page, { dose: "1 tablet", frequency: "once a day", days: 30, quantity: 30 }, 2);
  await page.getByRole("button", { name: "Sign and issue prescription" }).click();

  await page.locator('[name="items[1].drug"][aria-invalid="true"]').waitFor();
  assert.equal(await page.locator('[name="items[0].drug"][aria-invalid="true"]').count(), 0, "paracetamol is not marked");
  const drug = page.getByLabel("Drug for medicine 2");
  const errorId = (await drug.getAttribute("aria-describedby")).split(" ").pop();
  assert.match(await page.locator(`#${errorId}`).innerText(), /Sitagliptin is on TPG List B .* only in a follow-up consultation/);
  const summary = page.locator(".prescription-panel form > .alert.error");
  assert.match(await summary.innerText(), /Not issued\. Sitagliptin is on TPG List B/);
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("records: consent is needed; the doctor asks, the patient grants, and the records appear", async () => {
  const { consultId, patient, doctor } = await admittedConsult();
  // Something to read: this consult's notes and a prescription, written through the API.
  await doctor.post(`/api/v1/consults/${consultId}/notes`, {
    chief_complaints: "Cough for a week",
    diagnoses: [{ text: "Acute bronchitis", code: "J20.9", system: "http://hl7.org/fhir/sid/icd-10" }],
    advice: "Steam inhalation twice a day",
    follow_up: { after_days: 7 },
  });
  await doctor.post(`/api/v1/consults/${consultId}/prescriptions`, {
    items: [{ drug: { name: "paracetamol" }, strength: "650 mg", dose: "1 tablet", frequency: "twice a day", duration_days: 3, quantity: 6 }],
  });

  const { context, page } = await workspace(consultId);
  const panel = page.locator(".records-panel");
  await panel.locator(".consent-needed").waitFor();
  assert.match(await panel.locator(".consent-needed").innerText(), /do not have .*consent/i);
  assert.equal(await page.getByLabel("Purpose").inputValue(), "CAREMGT");
  assert.ok(await page.getByLabel("Consultation notes").isChecked());
  await page.getByLabel("Why you need them (optional)").fill("To follow up your cough");
  await page.getByRole("button", { name: "Request access" }).click();
  await panel.locator(".pending-request").waitFor();
  assert.match(await panel.locator(".pending-request").innerText(), /waiting for Sunita Devi to answer/);

  const pending = await patient.api.get("/api/v1/consent-requests");
  assert.equal(pending.items.length, 1);
  await patient.api.post(`/api/v1/consent-requests/${pending.items[0].consent_request_id}/grant`, {});

  const notes = panel.locator('article[data-hi-type="OPConsultation"]');
  await notes.waitFor();
  const text = await notes.innerText();
  assert.match(text, /Cough for a week/);
  assert.match(text, /Acute bronchitis \(J20\.9\)/);
  assert.match(text, /Steam inhalation/);
  assert.match(text, /Dr\. Asha Rao/);
  const rx = panel.locator('article[data-hi-type="Prescription"]');
  assert.match(await rx.innerText(), /paracetamol 650 mg/);
  assert.match(await rx.innerText(), /1 tablet, twice a day, for 3 days/);
  assert.equal(await panel.getByText('"resourceType"').count(), 0, "no raw JSON");
  await shot(page, "doctor-workspace");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("records: a denied request says so; breaking the glass needs a real reason, then opens the records", async () => {
  const { consultId, patient, doctor } = await admittedConsult();
  await doctor.post(`/api/v1/consults/${consultId}/notes`, { chief_complaints: "Chest pain since morning", diagnoses: [] });
  const { context, page } = await workspace(consultId);
  const panel = page.locator(".records-panel");
  await page.getByRole("button", { name: "Request access" }).click();
  await panel.locator(".pending-request").waitFor();
  const pending = await patient.api.get("/api/v1/consent-requests");
  await patient.api.post(`/api/v1/consent-requests/${pending.items[0].consent_request_id}/deny`);
  await panel.getByRole("alert").filter({ hasText: "Sunita Devi denied your request for access." }).waitFor();
  await page.getByRole("button", { name: "Request access" }).waitFor();

  await panel.getByText("Emergency access (break the glass)").click();
  assert.match(await panel.locator(".break-glass").innerText(), /audited/);
  await page.getByLabel("Why is this an emergency?").fill("Chest pain");
  await page.getByRole("button", { name: "Break the glass: open records for 1 hour" }).click();
  await page.locator('.break-glass [name="reason"][aria-invalid="true"]').waitFor();
  assert.match(await panel.locator(".break-glass form > .alert.error").innerText(), /at least 20 characters/);
  await page.getByLabel("Why is this an emergency?").fill("Severe chest pain, need past cardiac history now");
  await page.getByRole("button", { name: "Break the glass: open records for 1 hour" }).click();
  await panel.locator('article[data-hi-type="OPConsultation"]').filter({ hasText: "Chest pain since morning" }).waitFor();
  const audit = await patient.api.get("/api/v1/audit");
  assert.ok(JSON.stringify(audit).includes("break_glass"), "the patient sees the emergency access");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("the workspace panels on a phone", async () => {
  const { consultId } = await admittedConsult();
  const { context, page } = await workspace(consultId, PHONE);
  await page.locator(".records-panel .consent-needed").waitFor();
  await chooseDrug(page, "parac", "paracetamol");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `no sideways scrolling (page is ${width}px wide)`);
  await shot(page, "doctor-workspace");
  assert.deepEqual(problems(page), []);
  await context.close();
});
