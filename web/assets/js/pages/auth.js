// Logging in and registering a Health ID.

import { h, replace, field, form, values } from "../ui.js";
import { post } from "../api.js";
import { login, session } from "../session.js";

export const routes = [
  ["/login", renderLogin],
  ["/register", renderRegister],
  ["/signed-in", renderSignedIn],
];

function nextPage() {
  const q = new URLSearchParams((location.hash.split("?")[1] || ""));
  const next = q.get("next");
  return next && next.startsWith("/") ? `#${next}` : "#/";
}

function renderLogin(main) {
  const username = h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const loginForm = form(
    [
      field("Username or Health ID", username, "Patients: your Health ID number (91-1234-5678-9012) or health address (name@vaidya)."),
      field("Password", password),
    ],
    "Log in",
    async () => {
      await login(username.value.trim(), password.value);
      location.hash = nextPage();
    },
    { busyLabel: "Logging in…" },
  );
  replace(
    main,
    h("div", { class: "card narrow" },
      h("h1", {}, "Log in to vaidya"),
      loginForm,
      h("p", {}, "New here? ", h("a", { href: "#/register" }, "Get a Health ID"), " — it takes a minute."),
    ),
  );
  username.focus();
}

function renderRegister(main) {
  const input = (name, attrs = {}) => h("input", { name, ...attrs });
  const gender = h("select", { name: "gender", required: true },
    h("option", { value: "" }, "Choose…"), h("option", { value: "F" }, "Female"), h("option", { value: "M" }, "Male"), h("option", { value: "O" }, "Other"));
  const dob = input("date_of_birth", { type: "date", required: true, max: new Date().toISOString().slice(0, 10) });
  const guardian = input("guardian_health_id", { inputmode: "numeric", placeholder: "91-1234-5678-9012" });
  const guardianField = field("Guardian's Health ID", guardian, "A person under 18 registers with an adult who already has a Health ID.");
  guardianField.hidden = true;
  dob.addEventListener("change", () => {
    const born = new Date(dob.value);
    const adult = new Date(born.getFullYear() + 18, born.getMonth(), born.getDate());
    guardianField.hidden = !(dob.value && adult > new Date());
  });
  const password = input("password", { type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  const registerForm = form(
    [
      field("Full name", input("name", { autocomplete: "name", required: true })),
      h("div", { class: "grid two" }, field("Gender", gender), field("Date of birth", dob)),
      guardianField,
      field("Mobile number", input("mobile", { type: "tel", inputmode: "numeric", autocomplete: "tel-national", required: true, placeholder: "98765 43210" }),
        "10 digits, starting with 6, 7, 8 or 9."),
      field("Health address (optional)", input("handle", { autocapitalize: "none", placeholder: "e.g. ravi.kumar" }),
        "4–32 letters, digits, dots or underscores; you can log in with it as name@vaidya."),
      field("Aadhaar number (optional)", input("aadhaar", { inputmode: "numeric", autocomplete: "off" }),
        "Used only to stop duplicate Health IDs. vaidya never stores or shows it in full."),
      field("Address", input("address.line", { autocomplete: "street-address" })),
      h("div", { class: "grid two" },
        field("District", input("address.district")),
        field("State", input("address.state", { required: true, autocomplete: "address-level1" }))),
      field("PIN code", input("address.pincode", { inputmode: "numeric", required: true, autocomplete: "postal-code" })),
      field("Password", password, "At least 8 characters."),
    ],
    "Create my Health ID",
    async (f) => {
      const v = values(f);
      const body = {
        name: v.name,
        gender: v.gender,
        date_of_birth: v.date_of_birth,
        mobile: (v.mobile || "").replace(/\s+/g, ""),
        aadhaar: v.aadhaar ? v.aadhaar.replace(/\s+/g, "") : undefined,
        handle: v.handle,
        guardian_health_id: guardianField.hidden ? undefined : v.guardian_health_id,
        address: { line: v["address.line"], district: v["address.district"], state: v["address.state"], pincode: v["address.pincode"] },
        password: password.value,
      };
      const created = await post("/api/v1/health-ids", body, { auth: false });
      await login(created.health_id, password.value);
      replace(
        main,
        h("div", { class: "card narrow" },
          h("h1", {}, "Your Health ID is ready"),
          h("p", {}, "Keep this number; it is how doctors and pharmacies find your records when you allow them."),
          h("p", { class: "queue-position", "data-testid": "health-id" }, created.health_id),
          h("p", {}, "Health address: ", h("strong", {}, created.health_address)),
          h("a", { class: "button", href: "#/patient" }, "Continue"),
        ),
      );
    },
    { busyLabel: "Creating your Health ID…" },
  );
  replace(main, h("div", { class: "card medium" }, h("h1", {}, "Get your Health ID"), registerForm,
    h("p", {}, "Already registered? ", h("a", { href: "#/login" }, "Log in"))));
}

function renderSignedIn(main) {
  const s = session();
  replace(main, h("h1", {}, "Signed in"), h("p", {}, s ? `You are signed in as ${s.role}. This role has no pages here yet; use the API (see /openapi.json).` : "You are not signed in."));
}
