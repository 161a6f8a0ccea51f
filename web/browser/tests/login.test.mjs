// Logging in: the demo doctor reaches the queue; a wrong password is refused in plain words and nothing else changes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { useServer, person, login, shot, realProblems, DOCTOR, PHONE } from "./harness.mjs";

const env = useServer();

test("a wrong password is refused with a plain message and the form keeps what was typed", async () => {
  const { context, page } = await person(env.browser, env.server, { viewport: PHONE });
  await page.goto("/#/login");
  await shot(page, "login");
  await page.getByLabel("Username or Health ID").fill(DOCTOR);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), /username and password do not match/i);
  assert.equal(await page.getByLabel("Username or Health ID").inputValue(), DOCTOR);
  assert.match(page.url(), /#\/login/);
  assert.deepEqual(realProblems(page), []);
  await context.close();
});

test("the demo doctor logs in and lands on the queue", async () => {
  const { context, page } = await person(env.browser, env.server);
  await login(page, DOCTOR);
  assert.match(page.url(), /#\/doctor/);
  await context.close();
});
