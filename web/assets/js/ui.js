// Small DOM helpers shared by every page: element building, forms that show the API's errors, toasts, dates.
// Text always goes in through text nodes, never innerHTML, so nothing a user typed can become markup.

/** Builds an element: h("button", {class: "x", onclick: fn}, "Save"). Children may be strings, nodes, arrays or null. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "selected" || key === "disabled") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldSeq = 0;

/** A labelled input with a slot for its error. `name` is the API's field path (e.g. "address.pincode"). */
export function field(labelText, input, hint) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const error = h("span", { class: "field-error", id: `${id}-error`, hidden: true });
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  input.setAttribute("aria-describedby", described);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), input, hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null, error);
}

/** A checkbox with its label beside it. */
export function check(labelText, input) {
  return h("label", { class: "check" }, input, h("span", {}, labelText));
}

/** An alert region that shows an error (ApiError or any Error) in plain words, with the API's field messages listed. */
export function alertBox() {
  const box = h("div", { class: "alert error", role: "alert", hidden: true });
  box.show = (err) => {
    const fields = err && err.fields ? err.fields : [];
    const items = fields.map((f) => h("li", {}, `${f.label || humanize(f.field)}: ${f.message}`));
    replace(box, h("strong", {}, messageOf(err)), items.length ? h("ul", {}, items) : null);
    box.hidden = false;
  };
  box.info = (text, kind = "info") => {
    box.className = `alert ${kind}`;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    replace(box, text);
    box.hidden = false;
  };
  box.clear = () => {
    box.className = "alert error";
    box.setAttribute("role", "alert");
    box.hidden = true;
    box.replaceChildren();
  };
  return box;
}

/** "address.pincode" → "Address pincode"; "items[0].quantity" → "Item 1 quantity". */
export function humanize(path = "") {
  const text = String(path)
    .replace(/([a-z_]+)\[(\d+)\]/g, (_, name, i) => `${name.replace(/s$/, "")} ${Number(i) + 1}`)
    .replace(/[._]/g, " ")
    .trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The plain-words message of any error. */
export function messageOf(err) {
  if (!err) return "Something went wrong.";
  return err.message || String(err);
}

/** Marks each input whose `name` an API error names, and shows its message under it. Returns how many it marked. */
export function markFields(form, err) {
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  let marked = 0;
  for (const f of (err && err.fields) || []) {
    const input = form.querySelector(`[name="${CSS.escape(f.field)}"]`);
    if (!input) continue;
    const label = form.querySelector(`label[for="${CSS.escape(input.id)}"]`);
    if (label) f.label = label.textContent;
    input.setAttribute("aria-invalid", "true");
    const slot = document.getElementById(`${input.id}-error`);
    if (slot) {
      slot.textContent = f.message;
      slot.hidden = false;
    }
    marked++;
  }
  return marked;
}

/**
 * A form whose submit runs `onSubmit(form)`: the button shows progress while it runs, errors are shown in plain
 * words (with each named field marked), and nothing typed is cleared when it fails.
 */
export function form(children, submitLabel, onSubmit, { busyLabel = "Working…", secondary } = {}) {
  const alert = alertBox();
  const button = h("button", { type: "submit" }, submitLabel);
  const el = h("form", { novalidate: true }, children, alert, h("div", { class: "row" }, button, secondary || null));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    alert.clear();
    markFields(el, null);
    button.disabled = true;
    replace(button, h("span", { class: "spinner", "aria-hidden": "true" }), " ", busyLabel);
    try {
      await onSubmit(el);
    } catch (err) {
      markFields(el, err);
      alert.show(err);
    } finally {
      button.disabled = false;
      replace(button, submitLabel);
    }
  });
  el.alert = alert;
  return el;
}

/** Runs `work` for a button: disabled with progress while it runs, an error toast if it fails. */
export async function busy(button, work, busyLabel = "Working…") {
  const label = [...button.childNodes];
  button.disabled = true;
  replace(button, h("span", { class: "spinner", "aria-hidden": "true" }), " ", busyLabel);
  try {
    return await work();
  } catch (err) {
    toast(messageOf(err), "error");
    return undefined;
  } finally {
    button.disabled = false;
    replace(button, label);
  }
}

/** A short message in the corner; errors stay longer. */
export function toast(text, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 4500);
}

/** A waiting line for slow loads. */
export function loading(text = "Loading…") {
  return h("p", { class: "muted", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), " ", text);
}

const dateTime = new Intl.DateTimeFormat("en-IN", { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat("en-IN", { dateStyle: "medium" });

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

export function day(iso) {
  if (!iso) return "";
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  return Number.isNaN(d.getTime()) ? iso : dateOnly.format(d);
}

/** A status as a coloured badge. */
export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

/** Reads a form's named inputs into an object; empty strings become undefined. */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "radio") {
      if (el.checked) out[el.name] = el.value;
    } else {
      const v = el.value.trim();
      out[el.name] = v === "" ? undefined : v;
    }
  }
  return out;
}
