// The page shell: a hash router over each role's pages, the navigation bar, and the live-events stream.

import { h, replace, loading, messageOf } from "./ui.js";
import { session, onSessionChange, logout } from "./session.js";
import * as events from "./events.js";
import * as auth from "./pages/auth.js";
import * as patient from "./pages/patient.js";
import * as doctor from "./pages/doctor.js";
import * as pharmacy from "./pages/pharmacy.js";

const areas = { patient, doctor, pharmacist: pharmacy };
const routes = [...auth.routes, ...patient.routes, ...doctor.routes, ...pharmacy.routes].map(([pattern, render, role]) => ({
  pattern,
  render,
  role,
  regex: new RegExp(`^${pattern.replace(/:[a-z_]+/g, "([^/]+)")}$`),
}));

let cleanup = null;

/** Where a signed-in person starts. */
export function home(s = session()) {
  if (!s) return "#/login";
  return { patient: "#/patient", doctor: "#/doctor", pharmacist: "#/pharmacy" }[s.role] || "#/signed-in";
}

function renderNav() {
  const nav = document.getElementById("nav");
  const s = session();
  const area = s ? areas[s.role] : null;
  const links = area ? area.nav : [["#/login", "Log in"], ["#/register", "Get a Health ID"]];
  const here = location.hash || "#/";
  replace(
    nav,
    links.map(([href, text]) => h("a", { href, "aria-current": here === href ? "page" : null }, text)),
    s
      ? h(
          "button",
          {
            type: "button",
            onclick: async () => {
              await logout();
              location.hash = "#/login";
            },
          },
          "Log out",
        )
      : null,
  );
}

async function show() {
  const main = document.getElementById("app");
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error(err);
    }
    cleanup = null;
  }
  const path = (location.hash || "#/").slice(1).split("?")[0] || "/";
  const s = session();
  if (path === "/") {
    location.replace(home(s));
    return;
  }
  renderNav();
  const route = routes.find((r) => r.regex.test(path));
  if (!route) {
    replace(main, h("h1", {}, "Page not found"), h("p", {}, "This page does not exist. "), h("a", { href: home(s) }, "Go to your start page"));
    return;
  }
  if (route.role && (!s || s.role !== route.role)) {
    location.replace(s ? home(s) : `#/login?next=${encodeURIComponent(path)}`);
    return;
  }
  const params = path.match(route.regex).slice(1).map(decodeURIComponent);
  replace(main, loading());
  try {
    cleanup = (await route.render(main, ...params)) || null;
  } catch (err) {
    replace(main, h("h1", {}, "This page could not be shown"), h("div", { class: "alert error", role: "alert" }, messageOf(err)),
      h("button", { type: "button", onclick: show }, "Try again"));
  }
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", show);
onSessionChange(() => renderNav());
events.start();
show();
