// The doctor's e-prescription for a consult: a formulary drug search, each drug checked against the TPG 2020 lists.

import { h, replace, field, form, badge, when } from "../ui.js";
import { get, post, query } from "../api.js";
import { int, plainValidation } from "./doctor_tools.js";

const capital = (s = "") => s.charAt(0).toUpperCase() + s.slice(1);

const LIST_TEXT = {
  O: "List O — over the counter; allowed in any consult.",
  A: "List A — on a first consult only by video; any follow-up.",
  B: "List B — add-on drugs; only in a follow-up consult.",
  prohibited: "Prohibited (Schedule X / NDPS) — never by teleconsultation.",
};
const LIST_BADGE = { O: ["List O", "ok"], A: ["List A", ""], B: ["List B", "warn"], prohibited: ["Prohibited", "danger"] };
const FREQUENCIES = ["once a day", "twice a day", "three times a day", "four times a day", "at bedtime", "every 8 hours", "as needed (SOS)", "once a week"];
const ROUTES = ["oral", "topical", "eye", "ear", "nasal", "inhaled", "sublingual", "rectal", "vaginal"];

/** Why a drug cannot be prescribed in this consult (the TPG 2020 rule the server enforces), or null if it can. */
function refusalFor(drug, consult) {
  const name = capital(drug.name);
  const first = consult.visit !== "follow_up";
  if (drug.list === "prohibited") {
    return `${name} is a prohibited drug (Schedule X / NDPS): it can never be prescribed by teleconsultation.`;
  }
  if (drug.list === "B" && first) {
    return `${name} is on TPG List B (add-on drugs): it may be prescribed only in a follow-up consultation, and this is a first visit.`;
  }
  if (drug.list === "A" && first && consult.mode !== "video") {
    return `${name} is on TPG List A: on a first consultation it may be prescribed only during a video consult, and this one is by ${consult.mode}.`;
  }
  return null;
}

let itemSeq = 0;

/** One medicine on the prescription: a formulary search with suggestions, then dose, frequency, duration, quantity. */
function medicineItem(consult, { onRemove, lists }) {
  const uid = `rx${++itemSeq}`;
  let picked = null;
  let timer = null;
  let asked = 0;
  const legend = h("legend");
  const labels = {};
  const label = (key, text) => {
    labels[key] = h("span", { class: "visually-hidden" });
    return [text, labels[key]];
  };
  const drug = h("input", {
    type: "text", autocomplete: "off", spellcheck: "false", "aria-controls": `${uid}-suggestions`,
    placeholder: "Type 2 or more letters, e.g. paracetamol",
  });
  const suggestions = h("ul", { class: "suggestions", id: `${uid}-suggestions`, "aria-label": "Matching drugs", hidden: true });
  const searchState = h("p", { class: "small muted search-state", role: "status", "aria-live": "polite" });
  const info = h("div", { class: "drug-info", "aria-live": "polite" });
  const forms = h("datalist", { id: `${uid}-forms` });
  const inputs = {
    strength: h("input", { placeholder: "e.g. 500 mg" }),
    form: h("input", { list: `${uid}-forms`, placeholder: "e.g. tablet" }),
    dose: h("input", { placeholder: "e.g. 1 tablet", required: true }),
    frequency: h("input", { list: lists.frequencies, placeholder: "e.g. twice a day", required: true }),
    duration_days: h("input", { type: "number", inputmode: "numeric", min: 1, max: 180, required: true }),
    quantity: h("input", { type: "number", inputmode: "numeric", min: 1, max: 1000, required: true }),
    route: h("input", { list: lists.routes, placeholder: "e.g. oral" }),
    instructions: h("input", { placeholder: "e.g. after food" }),
  };
  const remove = h("button", { type: "button", class: "secondary", onclick: () => onRemove(item) });

  function showInfo() {
    if (!picked) {
      replace(info);
      return;
    }
    const [text, kind] = LIST_BADGE[picked.list] || [picked.list, ""];
    const refusal = refusalFor(picked, consult);
    replace(info,
      h("p", { class: "small" }, badge(text, kind), " ", h("strong", {}, picked.name), ` · ${picked.category} · `, LIST_TEXT[picked.list] || ""),
      refusal ? h("p", { class: "alert error drug-warning", role: "alert" }, h("strong", {}, "Cannot be prescribed here. "), refusal) : null);
    replace(forms, (picked.forms || []).map((f) => h("option", { value: f })));
  }

  function pick(d) {
    picked = d;
    drug.value = d.name;
    closeSuggestions();
    replace(searchState);
    showInfo();
  }

  function closeSuggestions() {
    suggestions.hidden = true;
    replace(suggestions);
  }

  async function search() {
    const text = drug.value.trim();
    const mine = ++asked;
    if (text.length < 2) {
      closeSuggestions();
      replace(searchState);
      return;
    }
    replace(searchState, h("span", { class: "spinner", "aria-hidden": "true" }), " Searching the formulary…");
    try {
      const found = await get(`/api/v1/drugs${query({ q: text, limit: 8 })}`, { auth: false });
      if (mine !== asked) return;
      const lower = text.toLowerCase();
      const exact = found.items.find((d) => d.name.toLowerCase() === lower || (d.synonyms || []).some((s) => s.toLowerCase() === lower));
      if (exact && !picked) {
        picked = exact;
        showInfo();
      }
      if (!found.items.length) {
        closeSuggestions();
        replace(searchState, `No drug in the formulary matches “${text}”. Check the spelling, or try the generic name.`);
        return;
      }
      replace(searchState, `${found.items.length} matching drug${found.items.length === 1 ? "" : "s"}: choose one below.`);
      replace(suggestions, found.items.map((d) => {
        const [text2, kind] = LIST_BADGE[d.list] || [d.list, ""];
        return h("li", {}, h("button", { type: "button", "aria-label": `Choose ${d.name}`, onclick: () => pick(d) },
          h("span", { class: "drug-name" }, d.name), badge(text2, kind), h("span", { class: "small muted" }, d.category)));
      }));
      suggestions.hidden = false;
    } catch (err) {
      if (mine !== asked) return;
      closeSuggestions();
      replace(searchState, h("span", { class: "field-error" }, `Could not search the formulary: ${err.message}`));
    }
  }

  drug.addEventListener("input", () => {
    if (picked && drug.value.trim().toLowerCase() !== picked.name.toLowerCase()) {
      picked = null;
      showInfo();
    }
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
  drug.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeSuggestions();
    if (e.key === "ArrowDown" && !suggestions.hidden) {
      e.preventDefault();
      suggestions.querySelector("button")?.focus();
    }
  });

  const el = h("fieldset", { class: "rx-item" },
    legend,
    field(label("drug", "Drug"), drug),
    suggestions, searchState, info,
    h("div", { class: "field-grid" },
      field(label("dose", "Dose"), inputs.dose),
      field(label("frequency", "Frequency"), inputs.frequency),
      field(label("duration_days", "Duration (days)"), inputs.duration_days),
      field(label("quantity", "Quantity to dispense"), inputs.quantity),
      field(label("strength", "Strength (optional)"), inputs.strength),
      field(label("form", "Form (optional)"), inputs.form),
      field(label("route", "Route (optional)"), inputs.route)),
    field(label("instructions", "Instructions (optional)"), inputs.instructions),
    forms,
    remove);

  const item = {
    el,
    drug,
    number(i, total) {
      replace(legend, `Medicine ${i + 1}`);
      for (const key of Object.keys(labels)) replace(labels[key], ` for medicine ${i + 1}`);
      drug.name = `items[${i}].drug`;
      for (const [key, input] of Object.entries(inputs)) input.name = `items[${i}].${key}`;
      replace(remove, `Remove medicine ${i + 1}`);
      remove.hidden = total === 1;
    },
    body() {
      const text = (input) => input.value.trim() || undefined;
      const typed = drug.value.trim();
      return {
        drug: picked && typed.toLowerCase() === picked.name.toLowerCase() ? { name: picked.name, code: picked.code } : { name: typed || undefined },
        strength: text(inputs.strength),
        form: text(inputs.form),
        dose: text(inputs.dose),
        frequency: text(inputs.frequency),
        duration_days: int(inputs.duration_days.value),
        route: text(inputs.route),
        quantity: int(inputs.quantity.value),
        instructions: text(inputs.instructions),
      };
    },
  };
  return item;
}

/** Writes, signs and issues an e-prescription for this consult. */
export function prescriptionPanel(consult) {
  const items = [];
  const list = h("div", { class: "rx-items" });
  const result = h("div", { class: "rx-result" });
  const lists = { frequencies: `rx-${consult.consult_id}-frequencies`, routes: `rx-${consult.consult_id}-routes` };
  const shared = h("div", {},
    h("datalist", { id: lists.frequencies }, FREQUENCIES.map((f) => h("option", { value: f }))),
    h("datalist", { id: lists.routes }, ROUTES.map((r) => h("option", { value: r }))));

  function renumber() {
    items.forEach((it, i) => it.number(i, items.length));
  }

  function add(focus) {
    const item = medicineItem(consult, {
      lists,
      onRemove(it) {
        items.splice(items.indexOf(it), 1);
        it.el.remove();
        renumber();
        items[0]?.drug.focus();
      },
    });
    items.push(item);
    list.append(item.el);
    renumber();
    if (focus) item.drug.focus();
  }

  const notes = h("textarea", { name: "notes", rows: 2 });
  const visit = consult.visit === "follow_up" ? "a follow-up" : "a first visit";
  const rxForm = form(
    [
      h("p", { class: "small muted" },
        `This is ${visit} by ${consult.mode}. The Telemedicine Practice Guidelines decide which drugs are allowed: `,
        "List O always; List A on a first visit only by video; List B only on a follow-up; prohibited drugs never."),
      list,
      h("button", { type: "button", class: "secondary", onclick: () => add(true) }, "Add another medicine"),
      field("Notes for the patient and pharmacist (optional)", notes),
      shared,
    ],
    "Sign and issue prescription",
    async () => {
      replace(result);
      const body = { items: items.map((it) => it.body()), notes: notes.value.trim() || undefined };
      let issued;
      try {
        issued = await post(`/api/v1/consults/${encodeURIComponent(consult.consult_id)}/prescriptions`, body);
      } catch (err) {
        if (err.code && err.code.startsWith("drug_")) {
          err.message = err.code === "drug_unknown"
            ? "Not issued: a drug is not in the formulary. Search for it and choose it from the suggestions."
            : `Not issued. ${err.message}`;
        }
        throw plainValidation(err, "Not issued: some details of the prescription need fixing.");
      }
      rxForm.hidden = true;
      replace(result, issuedSummary(issued, consult, () => {
        replace(result);
        for (const it of items) it.el.remove();
        items.length = 0;
        notes.value = "";
        add(true);
        rxForm.hidden = false;
      }));
      result.querySelector("h3")?.focus();
    },
    { busyLabel: "Signing and issuing…" },
  );
  add(false);

  return h("section", { class: "card tool-panel prescription-panel", "aria-labelledby": "rx-title" },
    h("h2", { id: "rx-title" }, "Prescription"),
    rxForm,
    result);
}

function directions(item) {
  let text = `${item.dose}, ${item.frequency}, for ${item.duration_days} day${item.duration_days === 1 ? "" : "s"}`;
  if (item.route) text += `, ${item.route}`;
  if (item.instructions) text += `. ${item.instructions}`;
  return text;
}

function issuedSummary(rx, consult, again) {
  const title = (it) => [it.name, it.strength, it.form].filter(Boolean).join(" ");
  return h("div", { class: "alert ok rx-issued", role: "status" },
    h("h3", { tabindex: "-1" }, "Prescription signed and issued"),
    h("p", {}, badge("Signed", "ok"), ` by ${rx.doctor?.name || "you"}`,
      rx.doctor?.registration_number ? ` (reg. no. ${rx.doctor.registration_number})` : "", ` · ${when(rx.created_at)}`),
    h("p", { class: "small" }, "Prescription ID: ", h("code", { class: "prescription-id" }, rx.prescription_id)),
    h("ol", { class: "medicines" }, rx.items.map((it) =>
      h("li", {}, h("strong", {}, capital(title(it))), h("div", {}, directions(it)), h("div", { class: "small muted" }, `Dispense ${it.quantity}`)))),
    rx.notes ? h("p", { class: "small" }, `Notes: ${rx.notes}`) : null,
    h("p", { class: "small" }, `${consult.patient.name} has been told and can send it to a pharmacy.`),
    h("button", { type: "button", class: "secondary", onclick: again }, "Write another prescription"));
}
