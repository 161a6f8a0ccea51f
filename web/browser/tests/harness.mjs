// Test harness: starts a fresh `vaidya serve --demo` on its own SQLite file and port, launches Debian's Chromium
// with a fake camera and microphone, and offers page helpers shared by the browser tests.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { before, after } from "node:test";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
export const SCREENSHOTS = resolve(here, "../screenshots");
export const DEMO_PASSWORD = "vaidya-demo-2026";
export const DOCTOR = "dr.asha";
export const PHARMACIST = "ph.meera";
/** Where ph.meera's pharmacy (Jayanagar) is: the patient stands next to it, so it is the nearest. */
export const NEAR_JAYANAGAR = { latitude: 12.9301, longitude: 77.5829 };

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1366, height: 900 };

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on("error", fail);
  });
}

function binary() {
  const bin = process.env.VAIDYA_BIN || join(root, "target/debug/vaidya");
  if (!existsSync(bin)) throw new Error(`no vaidya binary at ${bin}: run 'cargo build -p vaidya-web' first (or set VAIDYA_BIN)`);
  return bin;
}

/** Starts a server; `stop()` ends it. `extraArgs` go after `serve`. */
export async function startServer(extraArgs = []) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "vaidya-browser-"));
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(binary(), ["serve", "--demo", "--listen", `127.0.0.1:${port}`, "--database-url", `sqlite://${join(dir, "vaidya.db")}`, ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vaidya exited early (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`vaidya did not become ready in 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    base,
    output: () => output,
    stop: () =>
      new Promise((ok) => {
        if (child.exitCode !== null) return ok();
        child.on("exit", () => ok());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }),
  };
}

/** Debian's Chromium, headless, with fake media devices that need no permission prompt unless `denyMedia`. */
export async function launch({ denyMedia = false } = {}) {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium is not installed at ${executablePath} (apt-get install chromium)`);
  const args = ["--use-fake-device-for-media-stream", "--no-sandbox", "--disable-dev-shm-usage"];
  if (!denyMedia) args.push("--use-fake-ui-for-media-stream");
  return chromium.launch({ executablePath, headless: true, args });
}

/**
 * The server and browser a test file shares: a node:test `before` hook fills `env.server` and `env.browser`, and an
 * `after` hook closes the browser and stops the server. A file's own `before` hook must start with
 * `await env.ready()`: node:test (v20) runs top-level `before` hooks as they are registered, without waiting for
 * earlier ones. `ready()` starts both only once, whichever hook asks first.
 */
export function useServer() {
  let starting;
  const env = {
    server: undefined,
    browser: undefined,
    ready: () =>
      (starting ??= (async () => {
        env.server = await startServer();
        env.browser = await launch();
      })()),
  };
  before(() => env.ready());
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/** A browser context (its own cookies and storage): one person. */
export async function person(browser, server, { viewport = DESKTOP, geolocation, media = true } = {}) {
  const context = await browser.newContext({
    baseURL: server.base,
    viewport,
    geolocation,
    permissions: [...(geolocation ? ["geolocation"] : []), ...(media ? ["camera", "microphone"] : [])],
  });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
  });
  page.problems = problems;
  return { context, page };
}

export async function login(page, username, password = DEMO_PASSWORD) {
  await page.goto("/#/login");
  await page.getByLabel("Username or Health ID").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/#\/(patient|doctor|pharmacy|signed-in)/);
}

/** Saves a screenshot of the page at its current size as screenshots/NAME-SIZE.png. */
export async function shot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const { width } = page.viewportSize();
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-${width <= 500 ? "phone" : "desktop"}.png`), fullPage: true });
}

/** A unique valid mobile number and handle for a new patient. */
export function newPatient(tag = "p") {
  const n = String(Date.now() % 1e8).padStart(8, "0") + String(Math.floor(Math.random() * 10));
  return {
    name: "Sunita Devi",
    mobile: `9${n.slice(-9)}`,
    handle: `${tag}${n}`.toLowerCase(),
    password: "sunita-pass-2026",
    dob: "1990-03-14",
    state: "Karnataka",
    pincode: "560041",
  };
}

/** Calls the API as `username` from the test itself (for setting up what a page then shows). */
export async function apiAs(server, username, password = DEMO_PASSWORD) {
  const res = await fetch(`${server.base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw new Error(`login as ${username}: ${res.status} ${await res.text()}`);
  const tokens = await res.json();
  const call = async (method, path, body, headers = {}) => {
    const r = await fetch(`${server.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens.access_token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return data;
  };
  return { tokens, call, get: (p) => call("GET", p), post: (p, b = {}) => call("POST", p, b) };
}

/** Registers a patient through the API; returns its details and an API handle. */
export async function registeredPatient(server, tag = "p") {
  const p = newPatient(tag);
  const res = await fetch(`${server.base}/api/v1/health-ids`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: p.name, gender: "F", date_of_birth: p.dob, mobile: p.mobile, handle: p.handle, password: p.password,
      address: { line: "3 Temple Road", district: "Bengaluru Urban", state: p.state, pincode: p.pincode },
    }),
  });
  if (!res.ok) throw new Error(`register: ${res.status} ${await res.text()}`);
  const created = await res.json();
  const api = await apiAs(server, created.health_id, p.password);
  return { ...p, health_id: created.health_id, health_address: created.health_address, api };
}

/** The page's errors, without the browser's own log lines for 4xx answers the page expected and handled. */
export function realProblems(page) {
  return page.problems.filter((p) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(p));
}
