// The video call between a patient and a doctor, in two browser contexts: the lobby, real media both ways, chat, mute,
// a network blip (the signalling socket cut under the page), a refused camera, and the doctor leaving mid-call.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect } from "node:net";
import { useServer, launch, person, login, shot, apiAs, registeredPatient, realProblems, DOCTOR, PHONE } from "./harness.mjs";

const env = useServer();
let doctorApi;
before(async () => {
  await env.ready();
  doctorApi = await apiAs(env.server, DOCTOR);
});

/** A patient with a video consult that dr.asha has taken off the queue. */
async function admittedConsult(mode = "video") {
  const patient = await registeredPatient(env.server, "call");
  const consult = await patient.api.post("/api/v1/consults", {
    speciality: "General Medicine", reason: "Fever for three days", visit: "first", mode,
    consent: { teleconsultation: true, record_to_phr: true },
  });
  await doctorApi.post(`/api/v1/consults/${consult.consult_id}/admit`);
  return { patient, consultId: consult.consult_id };
}

/** Decoded frames of the page's remote video(s). */
const framesDecoded = (page) =>
  page.evaluate(() => Math.max(0, ...[...document.querySelectorAll("video.remote")].map((v) => v.getVideoPlaybackQuality().totalVideoFrames)));

async function waitForMedia(page) {
  await page.locator('.videos[data-connection="connected"]').waitFor({ timeout: 20_000 });
  await page.waitForFunction(
    () => [...document.querySelectorAll("video.remote")].some((v) => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5),
    null,
    { timeout: 20_000 },
  );
}

/** Patient and doctor in the call with media flowing both ways; `base` lets the patient come through a proxy. */
async function inCall({ patientBase, patientViewport = PHONE } = {}) {
  const { patient, consultId } = await admittedConsult();
  const doc = await person(env.browser, env.server);
  await login(doc.page, DOCTOR);
  await doc.page.goto(`/#/doctor/consult/${consultId}`);
  const pat = await person(env.browser, patientBase ? { base: patientBase } : env.server, { viewport: patientViewport });
  await login(pat.page, patient.health_id, patient.password);
  await pat.page.goto(`/#/patient/consult/${consultId}`);
  await pat.page.getByTestId("call-status").filter({ hasText: "waiting room" }).waitFor();
  await doc.page.getByRole("button", { name: `Let ${patient.name} in` }).click();
  await Promise.all([waitForMedia(pat.page), waitForMedia(doc.page)]).catch(async (e) => {
    console.log("PAT", await pat.page.getByTestId("call-status").innerText(), pat.page.problems, await pat.page.locator(".videos").getAttribute("data-connection"));
    console.log("DOC", await doc.page.getByTestId("call-status").innerText(), doc.page.problems, await doc.page.locator(".videos").getAttribute("data-connection"));
    throw e;
  });
  return { patient, consultId, doc, pat };
}

test("patient waits in the lobby, the doctor lets them in, and video flows both ways", async () => {
  const { doc, pat } = await inCall();
  assert.ok((await framesDecoded(pat.page)) > 5, "patient decodes the doctor's video");
  assert.ok((await framesDecoded(doc.page)) > 5, "doctor decodes the patient's video");
  await shot(pat.page, "call-patient");
  await shot(doc.page, "call-doctor");

  await pat.page.getByLabel("Chat message", { exact: true }).fill("I also have a headache");
  await pat.page.getByRole("button", { name: "Send" }).click();
  await doc.page.getByRole("log", { name: "Chat messages" }).getByText("I also have a headache").waitFor();
  await doc.page.getByLabel("Chat message", { exact: true }).fill("Since when?");
  await doc.page.getByRole("button", { name: "Send" }).click();
  await pat.page.getByRole("log", { name: "Chat messages" }).getByText("Since when?").waitFor();

  await pat.page.getByRole("button", { name: "Mute" }).click();
  assert.equal(await pat.page.getByRole("button", { name: "Unmute" }).getAttribute("aria-pressed"), "true");
  const audioEnabled = await pat.page.evaluate(() => document.querySelector("video.local").srcObject.getAudioTracks().every((t) => t.enabled));
  assert.equal(audioEnabled, false, "muting disables the microphone track");
  await pat.page.getByRole("button", { name: "Camera off" }).click();
  await pat.page.getByRole("button", { name: "Camera on" }).waitFor();

  // The doctor hangs up mid-call: the patient is told, in words.
  await doc.page.getByRole("button", { name: "Hang up" }).click();
  await pat.page.getByTestId("call-status").filter({ hasText: /doctor.*left the call/i }).waitFor();
  assert.deepEqual(realProblems(pat.page), []);
  assert.deepEqual(realProblems(doc.page), []);
  await pat.context.close();
  await doc.context.close();
});

test("a network blip cuts the patient's signalling socket; the page resumes it and the call and chat carry on", async () => {
  // The patient reaches the server through a proxy the test can cut, as a flaky mobile network would.
  const sockets = new Set();
  const target = new URL(env.server.base);
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise((ok) => proxy.listen(0, "127.0.0.1", ok));
  const patientBase = `http://127.0.0.1:${proxy.address().port}`;
  try {
    const { doc, pat } = await inCall({ patientBase });
    const peerBefore = await pat.page.locator(".videos").getAttribute("data-peer");
    for (const s of sockets) s.destroy();
    await pat.page.getByTestId("call-status").filter({ hasText: /reconnecting/i }).waitFor();
    await pat.page.getByTestId("call-status").filter({ hasText: "Reconnected." }).waitFor({ timeout: 20_000 });
    // Chat crosses the resumed socket both ways, and media kept flowing.
    await pat.page.getByLabel("Chat message", { exact: true }).fill("Can you hear me after the blip?");
    await pat.page.getByRole("button", { name: "Send" }).click();
    await doc.page.getByRole("log", { name: "Chat messages" }).getByText("Can you hear me after the blip?").waitFor({ timeout: 20_000 });
    await doc.page.getByLabel("Chat message", { exact: true }).fill("Yes, clearly");
    await doc.page.getByRole("button", { name: "Send" }).click();
    await pat.page.getByRole("log", { name: "Chat messages" }).getByText("Yes, clearly").waitFor({ timeout: 20_000 });
    const before = await framesDecoded(pat.page);
    await pat.page.waitForFunction((n) => Math.max(...[...document.querySelectorAll("video.remote")].map((v) => v.getVideoPlaybackQuality().totalVideoFrames)) > n + 10, before);
    assert.equal(await pat.page.locator(".videos").getAttribute("data-peer"), peerBefore, "the same signalling session was resumed");
    assert.equal(await doc.page.getByText(/left the call/).count(), 0, "the doctor never saw the patient leave");
    await pat.context.close();
    await doc.context.close();
  } finally {
    proxy.close();
  }
});

test("a refused camera is explained, with what to do, and chat-only still joins", async () => {
  const denying = await launch({ denyMedia: true });
  try {
    const { patient, consultId } = await admittedConsult();
    const pat = await person(denying, env.server, { viewport: PHONE, media: false });
    await login(pat.page, patient.health_id, patient.password);
    await pat.page.goto(`/#/patient/consult/${consultId}`);
    const status = pat.page.getByTestId("call-status");
    await status.filter({ hasText: /blocked the camera and microphone/ }).waitFor();
    assert.match(await status.innerText(), /choose Allow, then press Try again/);
    await shot(pat.page, "call-camera-blocked");
    await pat.page.getByRole("button", { name: "Join with chat only" }).click();
    await status.filter({ hasText: /waiting room/ }).waitFor();
    await pat.context.close();
  } finally {
    await denying.close();
  }
});
