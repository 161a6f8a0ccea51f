// The patient's pages in a real browser: registering a Health ID on a phone, joining a queue and watching the position
// change live, reading the PHR, answering consent requests, the access log, sending a prescription to a pharmacy and
// following the order live, and API errors shown in plain words. Every step waits for what the page shows, never a timer.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  useServer, person, login, shot, apiAs, registeredPatient, newPatient,
  DOCTOR, PHARMACIST, PHONE, DESKTOP, NEAR_JAYANAGAR,
} from "./harness.mjs";

const env = useServer();
let doctor;
let pharmacist;
before(async () => {
  await env.ready();
  doctor = await apiAs(env.server, DOCTOR);
  pharmacist = await apiAs(env.server, PHARMACIST);
});

const GENERAL = "General Medicine";
const in7days = () => new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();

/** The page's problems, less the network lines of answers a test provoked on purpose (e.g. "status of 422"). */
function problems(page, ...expected) {
  return page.problems.filter((p) => !expected.some((code) => p.includes(`status of ${code}`)));
}

async function loginPatient(page, p) {
  await login(page, p.health_id, p.password);
  await page.waitForURL(/#\/patient/);
}

/** The live-updates socket is up, so events from now on reach the page. */
async function live(page) {
  await page.locator("#live").filter({ hasText: "Live" }).waitFor();
}

/** Waits until the locator's text matches. */
async function hasText(locator, pattern) {
  await locator.filter({ hasText: pattern }).first().waitFor();
}

function consultBody(extra = {}) {
  return { speciality: GENERAL, reason: "Fever and headache for three days", visit: "first", mode: "video", consent: { teleconsultation: true, record_to_phr: true }, ...extra };
}

/** Takes dr.asha's lane back to empty: every waiting consult she could admit is admitted and completed. */
async function drainQueue() {
  const queue = await doctor.get("/api/v1/queue?limit=200");
  for (const c of queue.items) {
    await doctor.post(`/api/v1/consults/${c.consult_id}/admit`);
    await doctor.post(`/api/v1/consults/${c.consult_id}/complete`);
  }
}

/** A patient whose consult the doctor admitted; returns the patient and the consult id. */
async function admittedPatient(tag, extra) {
  const p = await registeredPatient(env.server, tag);
  const c = await p.api.post("/api/v1/consults", consultBody(extra));
  await doctor.post(`/api/v1/consults/${c.consult_id}/admit`);
  return { p, consultId: c.consult_id };
}

const NOTES = {
  chief_complaints: "Fever and headache for three days",
  history: "No known drug allergies",
  examination: "Temperature 38.4 C, throat congested",
  diagnoses: [{ text: "Viral fever" }],
  investigations_advised: ["Complete blood count"],
  advice: "Rest and plenty of fluids",
  follow_up: { after_days: 5, note: "If the fever persists" },
};
const PARACETAMOL = {
  items: [{ drug: { name: "paracetamol" }, strength: "500 mg", form: "tablet", dose: "1 tablet", frequency: "three times a day", duration_days: 5, quantity: 15, instructions: "After food" }],
  notes: "Drink plenty of water",
};

/** A patient with a paracetamol prescription from a completed consult. */
async function prescribedPatient(tag) {
  const { p, consultId } = await admittedPatient(tag);
  const rx = await doctor.post(`/api/v1/consults/${consultId}/prescriptions`, PARACETAMOL);
  await doctor.post(`/api/v1/consults/${consultId}/complete`);
  return { p, consultId, prescriptionId: rx.prescription_id };
}

test("a patient registers a Health ID on a phone; an invalid mobile number is refused and creates nothing", async () => {
  const { context, page } = await person(env.browser, env.server, { viewport: PHONE });
  const p = newPatient("reg");
  await page.goto("/#/register");
  await page.getByLabel("Full name").fill(p.name);
  await page.getByLabel("Gender").selectOption("F");
  await page.getByLabel("Date of birth").fill(p.dob);
  await page.getByLabel("Mobile number").fill("12345");
  await page.getByLabel("Health address (optional)").fill(p.handle);
  await page.getByLabel("State").fill(p.state);
  await page.getByLabel("PIN code").fill(p.pincode);
  await page.getByLabel("Password").fill(p.password);
  await page.getByRole("button", { name: "Create my Health ID" }).click();

  const mobile = page.getByLabel("Mobile number");
  await page.locator('[name="mobile"][aria-invalid="true"]').waitFor();
  const message = page.locator(`#${await mobile.getAttribute("id")}-error`);
  assert.match(await message.innerText(), /10 digits/);
  assert.match(await page.getByRole("alert").first().innerText(), /mobile/i);
  await shot(page, "patient-register-error");
  // Nothing was created: the health address does not log in.
  const tried = await fetch(`${env.server.base}/api/v1/auth/login`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: `${p.handle}@vaidya`, password: p.password }),
  });
  assert.equal(tried.status, 401);

  await mobile.fill(p.mobile);
  await page.getByRole("button", { name: "Create my Health ID" }).click();
  await page.getByRole("heading", { name: "Your Health ID is ready" }).waitFor();
  assert.match(await page.getByTestId("health-id").innerText(), /^\d{2}-\d{4}-\d{4}-\d{4}$/);
  await page.getByRole("link", { name: "Continue" }).click();
  await page.getByRole("heading", { name: `Hello, ${p.name}` }).waitFor();
  await page.getByText("You are not waiting for a consult.").waitFor();
  await shot(page, "patient-home");
  assert.deepEqual(problems(page, 422), []);
  await context.close();
});

test("joining the queue shows the position, which changes live as consults ahead are admitted or cancelled", async () => {
  await drainQueue();
  const first = await registeredPatient(env.server, "qa");
  const second = await registeredPatient(env.server, "qb");
  const ahead1 = await first.api.post("/api/v1/consults", consultBody({ reason: "Cough for a week" }));
  const ahead2 = await second.api.post("/api/v1/consults", consultBody({ reason: "Back pain" }));
  const me = await registeredPatient(env.server, "qc");

  const { context, page } = await person(env.browser, env.server);
  await loginPatient(page, me);
  await live(page);
  await page.getByRole("link", { name: "See a doctor" }).first().click();
  await page.getByLabel("Speciality").selectOption(GENERAL);
  await page.getByLabel("Reason for the consult").fill("Fever and headache for three days");
  await page.getByLabel("Video call").check();
  await page.getByLabel("I consent to this teleconsultation").check();
  await page.getByLabel("Save the doctor's notes to my health record (PHR)").check();
  await shot(page, "patient-see-doctor");
  await page.getByRole("button", { name: "Join the queue" }).click();

  await page.waitForURL(/#\/patient\/consult\//);
  const position = page.getByTestId("queue-position");
  await hasText(position, /^3$/);
  await page.getByText("2 people are ahead of you.").waitFor();
  await shot(page, "patient-waiting");

  await doctor.post(`/api/v1/consults/${ahead1.consult_id}/admit`);
  await hasText(position, /^2$/);
  await page.getByText("1 person is ahead of you.").waitFor();
  await second.api.post(`/api/v1/consults/${ahead2.consult_id}/cancel`);
  await hasText(position, /^1$/);
  await page.getByText("You are next.").waitFor();

  // Home shows the same place in the queue, and the doctor's readiness when she admits this patient.
  await page.getByRole("link", { name: "Home" }).click();
  await hasText(page.getByTestId("queue-position"), /^1$/);
  const mine = (await me.api.get("/api/v1/consults?role=mine")).items[0];
  await doctor.post(`/api/v1/consults/${mine.consult_id}/admit`);
  await page.getByRole("heading", { name: "Dr. Asha Rao is ready" }).waitFor();
  await shot(page, "patient-home-ready");
  await page.getByRole("link", { name: "Join the call" }).click();
  await page.waitForURL(new RegExp(`#/patient/consult/${mine.consult_id}`));
  await page.getByRole("heading", { name: "Dr. Asha Rao is ready" }).waitFor();
  // The call (room.js) takes over: the patient waits in its lobby until the doctor lets them in.
  await hasText(page.getByTestId("call-status"), "You are in the waiting room");

  await page.getByRole("link", { name: "Home" }).click();
  await page.getByRole("heading", { name: "Your consult" }).waitFor();
  for (const id of [ahead1.consult_id, mine.consult_id]) await doctor.post(`/api/v1/consults/${id}/complete`);
  await page.getByText("You are not waiting for a consult.").waitFor();
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("a follow-up with a named doctor picks the earlier consult, and the patient can leave the queue", async () => {
  const { p, consultId } = await admittedPatient("fu");
  await doctor.post(`/api/v1/consults/${consultId}/complete`);
  const { context, page } = await person(env.browser, env.server, { viewport: PHONE });
  await loginPatient(page, p);
  await page.goto("/#/patient/see-doctor");
  const doctors = await (await fetch(`${env.server.base}/api/v1/providers?role=doctor`)).json();
  const vikram = doctors.items.find((d) => d.name === "Dr. Vikram Nair");
  await page.getByLabel("Doctor", { exact: true }).selectOption(vikram.provider_id);
  assert.equal(await page.getByLabel("Speciality").inputValue(), "Dermatology");
  await page.getByLabel("Reason for the consult").fill("The rash came back");
  await page.getByLabel("Follow-up of an earlier consult").check();
  const earlier = page.getByLabel("Earlier consult this follows");
  await earlier.waitFor();
  await earlier.selectOption(consultId);
  await page.getByLabel("Text chat").check();
  await page.getByLabel("I consent to this teleconsultation").check();
  await page.getByRole("button", { name: "Join the queue" }).click();
  await page.waitForURL(/#\/patient\/consult\//);
  await hasText(page.getByTestId("queue-position"), /^1$/);
  await page.getByText("With Dr. Vikram Nair").waitFor();
  const waiting = (await p.api.get("/api/v1/consults?role=mine&status=waiting")).items[0];
  assert.equal(waiting.visit, "follow_up");
  assert.equal(waiting.previous_consult_id, consultId);
  assert.equal(waiting.mode, "text");
  assert.equal(waiting.consent.record_to_phr, false);

  await page.getByRole("button", { name: "Leave the queue" }).click();
  await page.getByText("This consult was cancelled").waitFor();
  assert.equal((await p.api.get(`/api/v1/consults/${waiting.consult_id}`)).status, "cancelled");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("the health record shows consultation notes and a prescription readably, and new prescriptions arrive live", async () => {
  const { p, consultId } = await admittedPatient("phr");
  await doctor.post(`/api/v1/consults/${consultId}/notes`, NOTES);
  const rx = await doctor.post(`/api/v1/consults/${consultId}/prescriptions`, PARACETAMOL);

  const { context, page } = await person(env.browser, env.server);
  await loginPatient(page, p);
  await page.getByRole("link", { name: "Records" }).click();
  const notes = page.locator('article[data-hi-type="OPConsultation"]');
  await notes.waitFor();
  const notesText = await notes.innerText();
  for (const words of ["Consultation notes", "Chief complaints", "Fever and headache for three days", "Medical history", "No known drug allergies",
    "Examination", "Temperature 38.4 C", "Diagnosis", "Viral fever", "Investigations advised", "Complete blood count", "Advice",
    "Rest and plenty of fluids", "Follow-up", "If the fever persists", "Dr. Asha Rao", "KMC-104233"]) {
    assert.ok(notesText.includes(words), `the notes show "${words}":\n${notesText}`);
  }
  const prescription = page.locator('article[data-hi-type="Prescription"]');
  const rxText = await prescription.innerText();
  for (const words of ["Prescription", "paracetamol 500 mg tablet", "1 tablet, three times a day, for 5 days", "5 days", "Quantity", "15",
    "After food", "Drink plenty of water", "Dr. Asha Rao", "KMC-104233"]) {
    assert.ok(rxText.includes(words), `the prescription shows "${words}":\n${rxText}`);
  }
  for (const text of [notesText, rxText]) assert.doesNotMatch(text, /resourceType|urn:uuid|"entry"/, "no raw FHIR on the page");
  const send = prescription.getByRole("link", { name: "Send to a pharmacy" });
  assert.equal(await send.getAttribute("href"), `#/patient/prescription/${rx.prescription_id}`);
  await shot(page, "patient-records");

  await page.getByLabel("Type of record").selectOption("Prescription");
  await notes.waitFor({ state: "detached" });
  assert.equal(await prescription.count(), 1);

  // Home lists the prescription; a new one appears there live.
  await page.getByRole("link", { name: "Home" }).click();
  const list = page.getByRole("list", { name: "Your prescriptions" });
  await hasText(list, "paracetamol 500 mg tablet");
  await live(page);
  const second = await doctor.post(`/api/v1/consults/${consultId}/prescriptions`, {
    items: [{ drug: { name: "cetirizine" }, strength: "10 mg", form: "tablet", dose: "1 tablet", frequency: "at night", duration_days: 3, quantity: 3 }],
  });
  await hasText(list, "cetirizine 10 mg tablet");
  await page.locator(`[data-prescription-id="${second.prescription_id}"]`).getByRole("link", { name: "Send to a pharmacy" }).waitFor();
  await page.getByText(/sent you a prescription/).first().waitFor();
  await doctor.post(`/api/v1/consults/${consultId}/complete`);
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("consent requests are approved (narrowed), denied and revoked; new requests and emergency access appear live", async () => {
  const p = await registeredPatient(env.server, "cns");
  const ask = (hi_types, purpose, reason) =>
    doctor.post("/api/v1/consent-requests", {
      patient_health_id: p.health_id, purpose, hi_types, reason,
      date_range: { from: "2024-01-01", to: "2026-12-31" }, expires_at: in7days(),
    });
  const one = await ask(["OPConsultation", "Prescription"], "CAREMGT", "To review your fever treatment");
  const two = await ask(["DiagnosticReport"], "CAREMGT", "To see your blood tests");

  const { context, page } = await person(env.browser, env.server);
  await loginPatient(page, p);
  await page.getByRole("link", { name: "Consents" }).click();
  const card1 = page.locator(`[data-request-id="${one.consent_request_id}"]`).and(page.locator("article"));
  await card1.waitFor();
  const text1 = await card1.innerText();
  for (const words of ["Dr. Asha Rao asks to see your records", "to look after your care", "To review your fever treatment", "Consultation notes", "Prescriptions", "Answer by"]) {
    assert.ok(text1.includes(words), `the request shows "${words}":\n${text1}`);
  }
  await shot(page, "patient-consents");

  // Approve, sharing only the consultation notes.
  await card1.getByLabel("Prescriptions").uncheck();
  await card1.getByRole("button", { name: "Approve" }).click();
  await card1.waitFor({ state: "detached" });
  const granted = (await doctor.get("/api/v1/consents")).items.find((k) => k.consent_request_id === one.consent_request_id);
  assert.equal(granted.status, "GRANTED");
  assert.deepEqual(granted.hi_types, ["OPConsultation"]);
  const consent = page.locator(`article[data-consent-id="${granted.consent_id}"]`);
  await hasText(consent, "Active");
  assert.match(await consent.innerText(), /May see\s+Consultation notes\n/);

  // Deny the other.
  const card2 = page.locator(`article[data-request-id="${two.consent_request_id}"]`);
  await card2.getByRole("button", { name: "Deny" }).click();
  await card2.waitFor({ state: "detached" });
  await hasText(page.locator(`li[data-request-id="${two.consent_request_id}"]`), "Denied");
  const denied = (await doctor.get("/api/v1/consent-requests")).items.find((r) => r.consent_request_id === two.consent_request_id);
  assert.equal(denied.status, "DENIED");

  // A request made while the page is open shows up by itself.
  await live(page);
  const three = await ask(["Prescription"], "CAREMGT", "Checking your medicines");
  await page.locator(`article[data-request-id="${three.consent_request_id}"]`).waitFor();

  // Revoke: the doctor's access stops at once.
  await consent.getByRole("button", { name: "Revoke" }).click();
  await hasText(consent, "Revoked");
  const refused = await fetch(`${env.server.base}/api/v1/patients/${p.health_id}/records`, { headers: { authorization: `Bearer ${doctor.tokens.access_token}` } });
  assert.equal(refused.status, 403);

  // Emergency access is shown with its reason, live.
  const btg = await doctor.post(`/api/v1/patients/${p.health_id}/break-glass`, { reason: "Unconscious in the emergency ward, allergies unknown" });
  const btgCard = page.locator(`article[data-consent-id="${btg.consent_id}"]`);
  await hasText(btgCard, "Emergency access (break the glass)");
  assert.match(await btgCard.innerText(), /Unconscious in the emergency ward, allergies unknown/);
  await shot(page, "patient-consents-answered");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("the access log lists the doctor's access in plain words, pages back, and can hide the patient's own actions", async () => {
  const { p, consultId } = await admittedPatient("acc");
  await doctor.post(`/api/v1/consults/${consultId}/notes`, NOTES);
  await doctor.post(`/api/v1/consults/${consultId}/complete`);
  const request = await doctor.post("/api/v1/consent-requests", {
    patient_health_id: p.health_id, purpose: "CAREMGT", hi_types: ["OPConsultation"],
    date_range: { from: "2024-01-01", to: "2026-12-31" }, expires_at: in7days(),
  });
  await p.api.post(`/api/v1/consent-requests/${request.consent_request_id}/grant`);
  for (let i = 0; i < 32; i++) await doctor.get(`/api/v1/patients/${p.health_id}/records`);

  const { context, page } = await person(env.browser, env.server, { viewport: PHONE });
  await loginPatient(page, p);
  await page.getByRole("link", { name: "Access log" }).click();
  const rows = page.locator("table.pt-access tbody tr");
  await rows.first().waitFor();
  const first = await rows.filter({ hasText: "Dr. Asha Rao" }).first().innerText();
  assert.match(first, /Dr\. Asha Rao/);
  assert.match(first, /viewed your health records/);
  assert.match(first, /care management/);
  assert.match(first, /Allowed/);
  assert.equal(await rows.count(), 30);
  assert.match(await rows.first().innerText(), /You[\s\S]*logged in/, "the patient's own log-in is there too");
  await shot(page, "patient-access");

  await page.getByRole("button", { name: "Show older entries" }).click();
  await rows.nth(30).waitFor();
  assert.ok(await page.locator("table.pt-access").getByText("You", { exact: true }).count() > 0, "the patient's own actions are listed as You");
  await page.getByLabel("Show only access by others").check();
  assert.equal(await page.locator("table.pt-access tr.pt-self").first().isVisible(), false);
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("a prescription goes to a pharmacy chosen from the distance-sorted list, and the order moves on live", async () => {
  const { p, prescriptionId } = await prescribedPatient("rx");
  const { context, page } = await person(env.browser, env.server, { geolocation: NEAR_JAYANAGAR });
  await loginPatient(page, p);
  await live(page);
  await page.goto(`/#/patient/prescription/${prescriptionId}`);
  await page.getByRole("heading", { name: "Prescription from Dr. Asha Rao" }).waitFor();
  await page.getByRole("button", { name: "Use my location" }).click();
  await page.locator("fieldset.pt-pharmacies").waitFor();
  const labels = await page.locator("fieldset.pt-pharmacies label").allInnerTexts();
  assert.match(labels[0], /nearest pharmacy for me/i);
  assert.match(labels[1], /Jayanagar Jan Aushadhi Pharmacy[\s\S]*m away/);
  assert.ok(labels.findIndex((l) => l.includes("Indiranagar")) > 1, "farther pharmacies come after the nearest");
  await page.getByRole("radio", { name: /Jayanagar Jan Aushadhi Pharmacy/ }).check();
  await page.getByLabel("I will pick them up at the pharmacy").check();
  await shot(page, "patient-prescription");
  await page.getByRole("button", { name: "Send to the pharmacy" }).click();

  await page.waitForURL(/#\/patient\/order\//);
  const orderId = page.url().split("/").pop();
  const status = page.getByTestId("order-status");
  await hasText(status, "Waiting for the pharmacy to accept");
  assert.match(await status.innerText(), /Jayanagar Jan Aushadhi Pharmacy/);
  await page.getByRole("button", { name: "Cancel this order" }).waitFor();
  await shot(page, "patient-order-routed");

  await pharmacist.post(`/api/v1/orders/${orderId}/accept`);
  await hasText(status, /^Accepted: Jayanagar Jan Aushadhi Pharmacy/);
  assert.equal(await page.getByRole("button", { name: "Cancel this order" }).count(), 0);
  await pharmacist.post(`/api/v1/orders/${orderId}/ready`);
  await hasText(status, /^Ready: your medicines are ready to pick up/);
  await page.locator('.pt-step[aria-current="step"]').filter({ hasText: "Ready to pick up" }).waitFor();
  await pharmacist.post(`/api/v1/orders/${orderId}/dispense`, { items: [{ index: 0, quantity: 15 }] });
  await hasText(status, /^Dispensed/);
  await shot(page, "patient-order-dispensed");

  await page.getByRole("link", { name: "All my orders" }).click();
  await hasText(page.locator(`li[data-order-id="${orderId}"]`), "Dispensed");
  await shot(page, "patient-orders");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("without location the patient finds a pharmacy by PIN code on a phone, asks for delivery, and cancels", async () => {
  const { p, prescriptionId } = await prescribedPatient("pin");
  const { context, page } = await person(env.browser, env.server, { viewport: PHONE });
  await loginPatient(page, p);
  await page.goto(`/#/patient/prescription/${prescriptionId}`);
  await page.getByRole("button", { name: "Use my location" }).click();
  await page.getByText(/chose not to share your location.*PIN code/).waitFor();
  await page.getByLabel("Your PIN code").fill("560041");
  await page.getByRole("button", { name: "Find pharmacies" }).click();
  await page.getByRole("radio", { name: /Jayanagar Jan Aushadhi Pharmacy/ }).check();
  assert.equal(await page.getByRole("radio", { name: /nearest pharmacy for me/i }).count(), 0, "no 'nearest' without a location");
  await page.getByLabel("Deliver them to me").check();
  assert.equal(await page.getByLabel("Delivery address").inputValue(), "3 Temple Road");
  await page.getByLabel("Delivery address").fill("3 Temple Road, 2nd floor");
  await shot(page, "patient-prescription-pin");
  await page.getByRole("button", { name: "Send to the pharmacy" }).click();

  await page.waitForURL(/#\/patient\/order\//);
  const status = page.getByTestId("order-status");
  await hasText(status, "Waiting for the pharmacy to accept");
  assert.match(await page.locator(".pt-order").innerText(), /Delivery to 3 Temple Road, 2nd floor/);
  // The chosen pharmacy cannot fill it: the order moves on to the next nearest, and the page says so.
  await live(page);
  const orderId = page.url().split("/").pop();
  await pharmacist.post(`/api/v1/orders/${orderId}/reject`, { reason: "Out of stock" });
  await hasText(page.locator(".pt-order"), "Jayanagar Jan Aushadhi Pharmacy could not fill it (Out of stock)");
  assert.doesNotMatch(await status.innerText(), /Jayanagar/);
  await hasText(status, "Waiting for the pharmacy to accept");
  await page.getByRole("button", { name: "Cancel this order" }).click();
  await hasText(status, /^Cancelled/);
  await page.getByRole("link", { name: "Send the prescription again" }).waitFor();
  await shot(page, "patient-order-cancelled");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("API errors are shown in plain words: a refused consent, a missing order, an order that already exists", async () => {
  const { p, prescriptionId } = await prescribedPatient("err");
  const { context, page } = await person(env.browser, env.server, { geolocation: NEAR_JAYANAGAR });
  await loginPatient(page, p);

  // The API refuses a consult without consent to teleconsultation: the message sits under the checkbox.
  await page.goto("/#/patient/see-doctor");
  await page.getByLabel("Speciality").selectOption(GENERAL);
  await page.getByLabel("Reason for the consult").fill("Rash on both arms");
  await page.getByRole("button", { name: "Join the queue" }).click();
  const box = page.getByLabel("I consent to this teleconsultation");
  await page.locator('[name="consent.teleconsultation"][aria-invalid="true"]').waitFor();
  assert.match(await page.locator(`#${await box.getAttribute("id")}-error`).innerText(), /tick this box: a doctor can see you online only with your consent/);
  assert.match(await page.getByRole("alert").first().innerText(), /One answer needs a change/);
  assert.equal((await p.api.get("/api/v1/consults?role=mine&status=waiting")).items.length, 0);
  await shot(page, "patient-see-doctor-error");

  // A link to an order that is not there (or not theirs).
  await page.goto("/#/patient/order/01935d3c-8a5e-7c4b-9d2e-3f4a5b6c7d8e");
  await page.getByRole("heading", { name: "We could not find this order" }).waitFor();

  // Sending a prescription that has just been sent elsewhere (say, from another tab): 409, explained, with a link.
  await page.goto(`/#/patient/prescription/${prescriptionId}`);
  await page.getByRole("button", { name: "Use my location" }).click();
  await page.getByRole("radio", { name: /Indiranagar Health Pharmacy/ }).check();
  const other = await p.api.call("POST", `/api/v1/prescriptions/${prescriptionId}/orders`, { near: { lat: NEAR_JAYANAGAR.latitude, lon: NEAR_JAYANAGAR.longitude }, fulfilment: "pickup" });
  await page.getByRole("button", { name: "Send to the pharmacy" }).click();
  await hasText(page.getByRole("alert").first(), "already has an open order");
  const follow = page.getByRole("link", { name: "Follow that order" });
  assert.equal(await follow.getAttribute("href"), `#/patient/order/${other.order_id}`);
  await follow.click();
  await hasText(page.getByTestId("order-status"), "Jayanagar Jan Aushadhi Pharmacy");
  assert.deepEqual(problems(page, 404, 409, 422), []);
  await context.close();
});

test("a send whose answer was lost on the network is retried with the same Idempotency-Key and makes one order", async () => {
  const { p, prescriptionId } = await prescribedPatient("idem");
  const { context, page } = await person(env.browser, env.server, { geolocation: NEAR_JAYANAGAR });
  await loginPatient(page, p);
  await page.goto(`/#/patient/prescription/${prescriptionId}`);
  await page.getByRole("button", { name: "Use my location" }).click();
  await page.getByRole("radio", { name: /nearest pharmacy for me/i }).check();

  // The first send reaches the server (which creates the order), but its answer never comes back.
  const keys = [];
  let lose = true;
  await page.route(/\/api\/v1\/prescriptions\/[^/]+\/orders$/, async (route) => {
    keys.push(route.request().headers()["idempotency-key"]);
    if (lose) {
      lose = false;
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  await page.getByRole("button", { name: "Send to the pharmacy" }).click();
  await hasText(page.getByRole("alert").first(), "Cannot reach vaidya");
  await page.getByRole("button", { name: "Send to the pharmacy" }).click();
  await page.waitForURL(/#\/patient\/order\//);
  await hasText(page.getByTestId("order-status"), "Jayanagar Jan Aushadhi Pharmacy");

  assert.equal(keys.length, 2);
  assert.match(keys[0], /^[0-9a-f-]{36}$/);
  assert.equal(keys[0], keys[1], "the retry reuses the key");
  const orders = await p.api.get("/api/v1/orders");
  assert.equal(orders.items.length, 1, "one order, not two");
  assert.equal(page.url().split("/").pop(), orders.items[0].order_id);
  assert.deepEqual(page.problems.filter((x) => !x.includes("ERR_CONNECTION_RESET") && !x.includes("Failed to load resource")), []);
  await context.close();
});

test("every patient page fits a phone and a desktop screen", async () => {
  const { p, consultId, prescriptionId } = await prescribedPatient("fit");
  await p.api.post(`/api/v1/prescriptions/${prescriptionId}/orders`, { near: { lat: NEAR_JAYANAGAR.latitude, lon: NEAR_JAYANAGAR.longitude }, fulfilment: "pickup" });
  await doctor.post("/api/v1/consent-requests", {
    patient_health_id: p.health_id, purpose: "CAREMGT", hi_types: ["OPConsultation", "Prescription"], reason: "Review",
    date_range: { from: "2024-01-01", to: "2026-12-31" }, expires_at: in7days(),
  });
  const orders = await p.api.get("/api/v1/orders");
  const pages = [
    ["home", "#/patient", "Prescriptions"],
    ["see-doctor", "#/patient/see-doctor", "Join the queue"],
    ["records", "#/patient/records", "Prescription"],
    ["consents", "#/patient/consents", "asks to see your records"],
    ["access", "#/patient/access", "Dr. Asha Rao"],
    ["prescription", `#/patient/prescription/${prescriptionId}`, "already with"],
    ["order", `#/patient/order/${orders.items[0].order_id}`, "Waiting for the pharmacy"],
    ["orders", "#/patient/orders", "View order"],
    ["consult", `#/patient/consult/${consultId}`, "has ended"],
  ];
  for (const viewport of [PHONE, DESKTOP]) {
    const { context, page } = await person(env.browser, env.server, { viewport });
    await loginPatient(page, p);
    for (const [name, hash, text] of pages) {
      await page.goto(`/${hash}`);
      await page.locator("main").getByText(text).first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${name} is wider than the ${viewport.width}px screen by ${overflow}px`);
      await shot(page, `patient-fit-${name}`);
    }
    assert.deepEqual(problems(page), []);
    await context.close();
  }
});
