// The pharmacist's pages: a new order appears live, the prescription's signature is checked, and the order is
// accepted, marked ready and dispensed (never more than prescribed); a rejection passes it on; a patient's cancel
// shows at once; another pharmacy's order is not shown.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { useServer, person, login, shot, registeredPatient, apiAs, DOCTOR, PHARMACIST, PHONE } from "./harness.mjs";

const env = useServer();
let pharmacies;
before(async () => {
  await env.ready();
  const res = await fetch(`${env.server.base}/api/v1/facilities?kind=pharmacy`);
  const all = (await res.json()).items;
  const find = (name) => all.find((f) => f.name.includes(name)).facility_id;
  pharmacies = { jayanagar: find("Jayanagar"), indiranagar: find("Indiranagar") };
});

/** A new patient with a prescription from dr.asha: paracetamol (9 tablets) and cetirizine (5). */
async function prescribed() {
  const patient = await registeredPatient(env.server, "ph");
  const consult = await patient.api.post("/api/v1/consults", {
    speciality: "General Medicine",
    reason: "Fever",
    visit: "first",
    mode: "video",
    consent: { teleconsultation: true, record_to_phr: true },
  });
  const doctor = await apiAs(env.server, DOCTOR);
  await doctor.post(`/api/v1/consults/${consult.consult_id}/admit`);
  const rx = await doctor.post(`/api/v1/consults/${consult.consult_id}/prescriptions`, {
    items: [
      { drug: { name: "paracetamol" }, strength: "500 mg", form: "tablet", dose: "1 tablet", frequency: "three times a day", duration_days: 3, quantity: 9 },
      { drug: { name: "cetirizine" }, dose: "1 tablet", frequency: "at bedtime", duration_days: 5, quantity: 5 },
    ],
    notes: "Take with water",
  });
  return { patient, prescriptionId: rx.prescription_id };
}

async function order(patient, prescriptionId, pharmacy = pharmacies.jayanagar, fulfilment = "pickup") {
  return patient.api.post(`/api/v1/prescriptions/${prescriptionId}/orders`, { pharmacy_id: pharmacy, fulfilment });
}

async function pharmacist(viewport) {
  const { context, page } = await person(env.browser, env.server, viewport ? { viewport } : {});
  await login(page, PHARMACIST);
  return { context, page };
}

/** Page errors and console errors, leaving out the browser's own lines for the 4xx answers a test provokes. */
function problems(page) {
  return page.problems.filter((p) => !/status of 4\d\d/.test(p));
}

const status = (page, text) => page.getByTestId("order-status").filter({ hasText: text }).waitFor();

test("a new order appears live; the pharmacist checks the signature, accepts, marks it ready and dispenses", async () => {
  const { patient, prescriptionId } = await prescribed();
  const { context, page } = await pharmacist();
  assert.match(page.url(), /#\/pharmacy$/);
  await page.getByRole("heading", { name: "Incoming orders" }).waitFor();
  await page.locator(".order-list").locator("ul, p.card").first().waitFor();
  await page.locator("#live").filter({ hasText: "Live" }).waitFor();

  const created = await order(patient, prescriptionId);
  const row = page.locator(`li[data-order-id="${created.order_id}"]`);
  await row.waitFor();
  await page.locator(".toast").filter({ hasText: "New order" }).waitFor();
  assert.match(await row.innerText(), /Sunita, \d+/);
  assert.match(await row.innerText(), /New/);
  assert.match(await row.innerText(), /Pickup/);
  assert.doesNotMatch(await row.innerText(), /Devi/, "the list shows the first name only");
  await shot(page, "pharmacy-orders");

  await row.getByRole("link", { name: /Open order/ }).click();
  await page.getByText("Signature valid — signed by Dr. Asha Rao (reg. no. KMC-104233)").waitFor();
  await status(page, "New");
  const medicines = await page.locator("ol.medicines").innerText();
  assert.match(medicines, /Paracetamol 500 mg tablet/);
  assert.match(medicines, /Prescribed quantity: 9/);

  await page.getByRole("button", { name: "Accept order" }).click();
  await status(page, "Accepted");
  await page.getByRole("button", { name: "Mark ready for pickup" }).click();
  await status(page, "Ready for pickup");
  await shot(page, "pharmacy-order");

  // More than prescribed is refused at that medicine, in plain words.
  const quantity = page.getByLabel("Quantity to hand over for medicine 1");
  assert.equal(await quantity.inputValue(), "9", "defaults to the prescribed quantity");
  await quantity.fill("12");
  await page.getByLabel("Batch number (optional) for medicine 1").fill("PCM-2611");
  await page.getByRole("button", { name: "Dispense and hand over" }).click();
  await page.locator('[name="items[0].quantity"][aria-invalid="true"]').waitFor();
  const errorId = (await quantity.getAttribute("aria-describedby")).split(" ").pop();
  assert.match(await page.locator(`#${errorId}`).innerText(), /12 is more than the 9 prescribed of paracetamol/);
  assert.match(await page.locator(".order-actions form > .alert.error").innerText(), /more than was prescribed/);

  await quantity.fill("9");
  await page.getByRole("button", { name: "Dispense and hand over" }).click();
  await status(page, "Dispensed");
  assert.equal(await page.getByRole("button", { name: "Dispense and hand over" }).count(), 0);
  const seen = await patient.api.get(`/api/v1/orders/${created.order_id}`);
  assert.equal(seen.status, "dispensed");
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("rejecting with a reason passes the order on, and it leaves this pharmacy's list (phone)", async () => {
  const { patient, prescriptionId } = await prescribed();
  const created = await order(patient, prescriptionId);
  const { context, page } = await pharmacist(PHONE);
  await page.locator(`li[data-order-id="${created.order_id}"]`).waitFor();
  await shot(page, "pharmacy-orders");
  await page.goto(`/#/pharmacy/order/${created.order_id}`);
  await page.getByText("Signature valid").waitFor();
  await shot(page, "pharmacy-order");

  await page.getByRole("button", { name: "Reject order" }).click();
  await page.getByRole("button", { name: "Reject and pass it on" }).click();
  await page.locator('[name="reason"][aria-invalid="true"]').waitFor();
  await page.getByLabel("Reason for rejecting").fill("Cetirizine is out of stock");
  await page.getByRole("button", { name: "Reject and pass it on" }).click();
  await page.getByRole("heading", { name: "This order is not (or no longer) with your pharmacy" }).waitFor();
  assert.match(await page.locator(".order-gone").innerText(), /You rejected this order/);

  const after = await patient.api.get(`/api/v1/orders/${created.order_id}`);
  assert.notEqual(after.pharmacy_id, pharmacies.jayanagar);
  assert.equal(after.history[0].reason, "Cetirizine is out of stock");

  await page.getByRole("link", { name: "Back to orders" }).click();
  await page.getByRole("heading", { name: "Incoming orders" }).waitFor();
  await page.locator(".order-list").locator("ul, p.card").first().waitFor();
  assert.equal(await page.locator(`li[data-order-id="${created.order_id}"]`).count(), 0);
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("when the patient cancels, the open order page says so and its actions disappear", async () => {
  const { patient, prescriptionId } = await prescribed();
  const created = await order(patient, prescriptionId);
  const { context, page } = await pharmacist();
  await page.goto(`/#/pharmacy/order/${created.order_id}`);
  await page.getByRole("button", { name: "Accept order" }).waitFor();
  await page.locator("#live").filter({ hasText: "Live" }).waitFor();

  await patient.api.post(`/api/v1/orders/${created.order_id}/cancel`);
  await page.locator("main").getByRole("alert").filter({ hasText: "The patient cancelled this order." }).waitFor();
  await status(page, "Cancelled");
  assert.equal(await page.getByRole("button", { name: "Accept order" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Reject order" }).count(), 0);
  assert.deepEqual(problems(page), []);
  await context.close();
});

test("another pharmacy's order, opened by its URL, is not shown", async () => {
  const { patient, prescriptionId } = await prescribed();
  const elsewhere = await order(patient, prescriptionId, pharmacies.indiranagar);
  const { context, page } = await pharmacist();
  await page.goto(`/#/pharmacy/order/${elsewhere.order_id}`);
  await page.getByRole("heading", { name: "This order is not (or no longer) with your pharmacy" }).waitFor();
  assert.equal(await page.locator("main").getByText("Sunita").count(), 0, "nothing of the order leaks");
  await page.goto("/#/pharmacy");
  await page.getByRole("heading", { name: "Incoming orders" }).waitFor();
  await page.goto("/#/pharmacy/order/not-an-order");
  await page.getByRole("heading", { name: "This order is not (or no longer) with your pharmacy" }).waitFor();
  assert.deepEqual(problems(page), []);
  await context.close();
});
