// The whole journey, through the pages only: a patient registers on a phone, joins the queue, the doctor admits them,
// a real video call connects with frames decoded on both sides, they chat, the doctor writes notes and prescribes, the
// patient sends the prescription to the nearest pharmacy, and the pharmacist accepts and dispenses while the patient watches.
// Then: an expired session in the middle of writing notes asks to log in again and loses nothing.

import { test } from "node:test";
import assert from "node:assert/strict";
import { useServer, person, login, shot, newPatient, apiAs, registeredPatient, realProblems, DOCTOR, PHARMACIST, PHONE, NEAR_JAYANAGAR } from "./harness.mjs";

const env = useServer();

const hasFrames = () =>
  [...document.querySelectorAll("video.remote")].some((v) => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5);

test("register, queue, admit, video call, chat, notes, prescription, pharmacy, dispensed", async () => {
  const me = newPatient("journey");
  const pat = await person(env.browser, env.server, { viewport: PHONE, geolocation: NEAR_JAYANAGAR });
  const p = pat.page;

  // Register a Health ID on a phone.
  await p.goto("/#/register");
  await p.getByLabel("Full name").fill(me.name);
  await p.getByLabel("Gender").selectOption("F");
  await p.getByLabel("Date of birth").fill(me.dob);
  await p.getByLabel("Mobile number").fill(me.mobile);
  await p.getByLabel("Health address (optional)").fill(me.handle);
  await p.getByLabel("State").fill(me.state);
  await p.getByLabel("PIN code").fill(me.pincode);
  await p.getByLabel("Password").fill(me.password);
  await shot(p, "register");
  await p.getByRole("button", { name: "Create my Health ID" }).click();
  const healthId = await p.getByTestId("health-id").innerText();
  assert.match(healthId, /^\d{2}-\d{4}-\d{4}-\d{4}$/);
  await p.getByRole("link", { name: "Continue" }).click();
  await p.waitForURL(/#\/patient$/);
  await shot(p, "patient-home");

  const doc = await person(env.browser, env.server);
  const d = doc.page;
  await login(d, DOCTOR);
  await d.getByText("No one is waiting").waitFor();

  // Join the queue for General Medicine, with consent to the consult and to saving notes in the PHR.
  await p.goto("/#/patient/see-doctor");
  await p.getByLabel("Speciality").selectOption("General Medicine");
  await p.getByLabel("Reason for the consult").fill("Fever and sore throat for three days");
  await p.getByLabel("I consent to this teleconsultation").check();
  await p.getByLabel("Save the doctor's notes to my health record (PHR)").check();
  await shot(p, "see-doctor");
  await p.getByRole("button", { name: "Join the queue" }).click();
  await p.getByTestId("queue-position").filter({ hasText: "1" }).waitFor();
  await shot(p, "queue");

  // The doctor, already on the queue page, sees the patient arrive live and admits them.
  const admit = d.getByRole("button", { name: `Admit ${me.name}` });
  await admit.waitFor();
  await shot(d, "doctor-queue");
  await admit.click();
  await d.waitForURL(/#\/doctor\/consult\//);

  // The patient's page moves into the call's waiting room; the doctor lets them in; media flows both ways.
  await p.getByTestId("call-status").filter({ hasText: "waiting room" }).waitFor({ timeout: 20_000 });
  await d.getByRole("button", { name: `Let ${me.name} in` }).click();
  for (const page of [p, d]) {
    await page.locator('.videos[data-connection="connected"]').waitFor({ timeout: 20_000 });
    await page.waitForFunction(hasFrames, null, { timeout: 20_000 });
  }
  await p.getByLabel("Chat message", { exact: true }).fill("Namaste doctor");
  await p.getByRole("button", { name: "Send" }).click();
  await d.getByRole("log", { name: "Chat messages" }).getByText("Namaste doctor").waitFor();
  await shot(d, "doctor-call");
  await shot(p, "patient-call");

  // Notes and a prescription, beside the video.
  await d.getByLabel("Chief complaints").fill("Fever and sore throat for three days");
  await d.getByLabel("Diagnosis 1").fill("Acute pharyngitis");
  await d.getByRole("button", { name: "Save notes" }).click();
  await d.getByText("Notes saved to the record.").waitFor();
  await d.getByLabel("Drug for medicine 1").fill("parac");
  await d.getByRole("button", { name: "Choose paracetamol" }).click();
  await d.getByLabel("Dose for medicine 1").fill("500 mg");
  await d.getByLabel("Frequency for medicine 1").fill("three times a day");
  await d.getByLabel("Duration (days) for medicine 1").fill("3");
  await d.getByLabel("Quantity to dispense for medicine 1").fill("9");
  await d.getByRole("button", { name: "Sign and issue prescription" }).click();
  await d.getByRole("heading", { name: "Prescription signed and issued" }).waitFor();
  await d.getByRole("button", { name: "Complete consult" }).click();
  await p.getByTestId("call-status").filter({ hasText: "The doctor ended the consult" }).waitFor();

  // The patient sends the prescription to the nearest pharmacy (the list is sorted by distance).
  await p.goto("/#/patient");
  await p.getByRole("link", { name: "Send to a pharmacy" }).first().click();
  await p.getByRole("button", { name: "Use my location" }).click();
  const options = p.getByRole("radio");
  await options.nth(1).waitFor();
  const distances = await p.locator(".pt-pharmacies").innerText();
  const km = [...distances.matchAll(/([\d.]+)\s*km/g)].map((m) => Number(m[1]));
  assert.ok(km.length >= 2, `distances are shown: ${distances}`);
  assert.deepEqual(km, [...km].sort((a, b) => a - b), "nearest first");
  await p.getByLabel(/Jayanagar Jan Aushadhi Pharmacy/).check();
  await shot(p, "choose-pharmacy");
  await p.getByRole("button", { name: "Send to the pharmacy" }).click();
  const status = p.getByTestId("order-status");
  await p.waitForURL(/#\/patient\/order\//);
  assert.equal(await status.getAttribute("data-status"), "routed");

  // The pharmacist sees it arrive, checks the signature, accepts, marks it ready and dispenses.
  const ph = await person(env.browser, env.server);
  const f = ph.page;
  await login(f, PHARMACIST);
  await f.getByRole("link", { name: "Open order" }).first().click();
  await f.getByText(/Signature valid — signed by Dr\. Asha Rao/).waitFor();
  await f.getByRole("button", { name: "Accept order" }).click();
  await p.locator('[data-testid="order-status"][data-status="accepted"]').waitFor();
  await f.getByRole("button", { name: "Mark ready for pickup" }).click();
  await p.locator('[data-testid="order-status"][data-status="ready"]').waitFor();
  await shot(f, "pharmacist-order");
  await f.getByRole("button", { name: "Dispense and hand over" }).click();
  await p.locator('[data-testid="order-status"][data-status="dispensed"]').waitFor();
  await shot(p, "order-dispensed");

  // The notes and the prescription are in the patient's records, readable.
  await p.goto("/#/patient/records");
  await p.getByText("Acute pharyngitis").first().waitFor();
  await p.getByText(/paracetamol/i).first().waitFor();
  await shot(p, "records");

  for (const page of [p, d, f]) assert.deepEqual(realProblems(page), [], "no errors on the pages");
  for (const c of [pat, doc, ph]) await c.context.close();
});

test("a session that ends while the doctor writes notes asks to log in again, and the notes are saved", async () => {
  const patient = await registeredPatient(env.server, "relogin");
  const consult = await patient.api.post("/api/v1/consults", {
    speciality: "General Medicine", reason: "Cough", visit: "first", mode: "text",
    consent: { teleconsultation: true, record_to_phr: true },
  });
  const doctorApi = await apiAs(env.server, DOCTOR);
  await doctorApi.post(`/api/v1/consults/${consult.consult_id}/admit`);
  const doc = await person(env.browser, env.server);
  const d = doc.page;
  await login(d, DOCTOR);
  await d.goto(`/#/doctor/consult/${consult.consult_id}`);
  await d.getByLabel("Chief complaints").fill("Dry cough for a week, worse at night");
  await d.getByLabel("Diagnosis 1").fill("Post-viral cough");

  // The session ends behind the page's back (as when it expires, or is logged out elsewhere).
  const tokens = await d.evaluate(() => JSON.parse(sessionStorage.getItem("vaidya.session")));
  const out = await fetch(`${env.server.base}/api/v1/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(out.status, 204);

  // Saving finds the session over, unless a request of the page's own (the live events socket rechecking its
  // session) found it first: then the click waits behind the dialog and goes through once the doctor is back.
  const save = d.getByRole("button", { name: "Save notes" });
  const clicked = save.click().then(() => true, () => false);
  const dialog = d.getByRole("dialog", { name: "Your session has ended" });
  await dialog.waitFor();
  await shot(d, "session-ended");
  await dialog.getByLabel("Password").fill("vaidya-demo-2026");
  await dialog.getByRole("button", { name: "Log in again" }).click();
  await dialog.waitFor({ state: "detached" });
  assert.ok(await clicked, "Save notes was clicked");
  await d.getByText("Notes saved to the record.").waitFor();
  assert.equal(await d.getByRole("dialog").count(), 0);
  await doc.context.close();
});
