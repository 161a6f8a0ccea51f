// Sending a prescription to a pharmacy (nearest first, by location or PIN code; pickup or delivery) and following the
// order live: routed → accepted → ready or on the way → dispensed, with re-routing, cancellation and refusals explained.

import { h, replace, field, form, values, busy, loading, when, day, toast, badge } from "../ui.js";
import { get, post, query } from "../api.js";
import { on } from "../events.js";
import { radios, fieldError, doctorName, newKey, notFound, failure, loader, plainer } from "./patient_util.js";

const OPEN = ["routed", "accepted", "ready", "dispatched"];

const ORDER_BADGE = {
  routed: ["Waiting for the pharmacy", "warn"],
  accepted: ["Accepted", "ok"],
  ready: ["Ready to pick up", "ok"],
  dispatched: ["On the way", "ok"],
  dispensed: ["Dispensed", "ok"],
  unfulfilled: ["Not filled", "danger"],
  cancelled: ["Cancelled", ""],
};
export const orderBadge = (s) => badge(...(ORDER_BADGE[s] || [s, ""]));

const itemTitle = (i) => [i.name, i.strength, i.form].filter(Boolean).join(" ");
const km = (d) => (d < 1 ? `${Math.round(d * 1000)} m away` : `${d.toFixed(1)} km away`);
const addressLine = (a) => (a ? [a.line, a.district, a.state, a.pincode].filter(Boolean).join(", ") : "");

/** The medicines of a prescription (API items) as a list. */
function itemList(items) {
  return h("ol", { class: "pt-meds" }, items.map((i) =>
    h("li", {},
      h("strong", { class: "pt-drug" }, itemTitle(i)),
      h("div", {}, `${i.dose}, ${i.frequency}, for ${i.duration_days} ${i.duration_days === 1 ? "day" : "days"}${i.route ? `, ${i.route}` : ""}`),
      h("div", { class: "muted small" }, `Quantity: ${i.quantity}${i.instructions ? ` · ${i.instructions}` : ""}`))));
}

/** Asks the browser where the patient is. Rejects with a message in plain words. */
function locate() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error("This browser cannot share your location. Type your PIN code below instead."));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
      (err) => {
        const why = {
          1: "You chose not to share your location — that is fine.",
          2: "Your device could not work out where you are.",
          3: "Finding your location took too long.",
        }[err.code] || "Your location is not available.";
        reject(new Error(`${why} Type your PIN code below to find pharmacies in your area instead.`));
      },
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 5 * 60 * 1000 },
    );
  });
}

/** `#/patient/prescription/:id` — choose a pharmacy and how to get the medicines, then send. */
export function renderPrescription(main, id) {
  let alive = true;
  const body = h("div", {}, loading("Loading your prescription…"));
  replace(main, h("h1", {}, "Send your prescription to a pharmacy"), body);
  const start = async () => {
    replace(body, loading("Loading your prescription…"));
    try {
      const [rx, me, orders] = await Promise.all([
        get(`/api/v1/prescriptions/${encodeURIComponent(id)}`),
        get("/api/v1/health-ids/me").catch(() => null),
        get("/api/v1/orders?limit=200").catch(() => ({ items: [] })),
      ]);
      if (!alive) return;
      replace(body, prescriptionPage(rx, me, orders.items.filter((o) => o.prescription_id === rx.prescription_id)));
    } catch (err) {
      if (!alive) return;
      if (err.status === 404) replace(main, notFound("prescription", ["#/patient/records", "Go to your records"]));
      else replace(body, failure(err, start));
    }
  };
  start();
  return () => {
    alive = false;
  };
}

function prescriptionCard(rx) {
  return h("section", { class: "card record pt-sec", "aria-labelledby": "rx-title" },
    h("h2", { id: "rx-title" }, `Prescription from ${doctorName(rx.doctor.name)}`),
    h("p", { class: "muted small" }, `${when(rx.created_at)} · registration ${rx.doctor.registration_number} · for ${rx.patient.name}${rx.patient_age != null ? ` (${rx.patient_age} years)` : ""}`),
    itemList(rx.items),
    rx.notes ? h("p", {}, h("strong", {}, "Doctor's note: "), rx.notes) : null);
}

function prescriptionPage(rx, me, orders) {
  const open = orders.find((o) => OPEN.includes(o.status));
  if (rx.status === "dispensed") {
    return [prescriptionCard(rx), h("div", { class: "alert info", role: "status" }, "This prescription has already been dispensed, so it cannot be sent again."),
      orders[0] ? h("a", { class: "button secondary", href: `#/patient/order/${orders[0].order_id}` }, "See the order") : null];
  }
  if (open) {
    return [prescriptionCard(rx), h("div", { class: "alert info", role: "status" },
      `This prescription is already with ${open.pharmacy?.name || "a pharmacy"} (${ORDER_BADGE[open.status]?.[0].toLowerCase() || open.status}). `,
      h("a", { href: `#/patient/order/${open.order_id}` }, "Follow that order"),
      ". To send it somewhere else, cancel that order first (possible until the pharmacy accepts it).")];
  }

  let near = null; // {lat, lon} once the browser told us
  let found = []; // pharmacies listed
  const where = h("div", { class: "pt-where", role: "status", "aria-live": "polite" });
  const choices = h("div", {}, h("fieldset", { class: "pt-choices" }, h("legend", {}, "Choose a pharmacy"),
    h("p", { class: "muted" }, "First find pharmacies near you: use your location or type your PIN code above.")));

  const showPharmacies = (items, how) => {
    found = items;
    const options = [];
    if (near && items.length) {
      options.push({ value: "nearest", label: "The nearest pharmacy for me", detail: "vaidya picks the closest one; if it cannot fill the prescription, it goes on to the next nearest by itself." });
    }
    for (const f of items) {
      options.push({
        value: f.facility_id,
        label: f.name,
        detail: [f.distance_km != null ? km(f.distance_km) : null, addressLine(f.address), f.phone ? `phone ${f.phone}` : null].filter(Boolean).join(" · "),
      });
    }
    if (!items.length) {
      replace(choices, h("p", { class: "alert info", role: "status" }, how === "pincode"
        ? "No registered pharmacy has this PIN code. Try a neighbouring PIN code, or use your location."
        : "No registered pharmacy is within 50 km of you. Try your PIN code instead."));
      return;
    }
    replace(choices, radios("Choose a pharmacy", "pharmacy_id", options, {
      cls: "pt-pharmacies",
      hint: how === "near" ? "Nearest first." : "Pharmacies with this PIN code.",
    }));
  };

  const useLocation = h("button", {
    type: "button",
    onclick: (e) =>
      busy(e.currentTarget, async () => {
        where.className = "pt-where";
        replace(where, "Asking your browser for your location…");
        try {
          near = await locate();
        } catch (err) {
          near = null;
          where.className = "pt-where alert info";
          replace(where, err.message);
          pin.focus();
          return;
        }
        replace(where, "Using your location to list pharmacies nearest first. It is used only for this and not stored.");
        const data = await get(`/api/v1/facilities${query({ kind: "pharmacy", near: `${near.lat.toFixed(5)},${near.lon.toFixed(5)}`, radius_km: 50, limit: 50 })}`, { auth: false });
        showPharmacies(data.items, "near");
      }, "Finding pharmacies…"),
  }, "Use my location");

  const pin = h("input", { name: "pincode", inputmode: "numeric", autocomplete: "postal-code", maxlength: 6, value: me?.address?.pincode || "" });
  const pinForm = form([field("Your PIN code", pin, "6 digits, e.g. 560041.")], "Find pharmacies", async () => {
    const code = pin.value.replace(/\s+/g, "");
    if (!/^[1-9]\d{5}$/.test(code)) throw fieldError("A PIN code has 6 digits and does not start with 0.", [{ field: "pincode", message: "type the 6 digits of your PIN code" }]);
    near = null;
    where.className = "pt-where";
    replace(where, `Pharmacies with PIN code ${code}.`);
    const data = await get(`/api/v1/facilities${query({ kind: "pharmacy", pincode: code, limit: 50 })}`, { auth: false });
    showPharmacies(data.items, "pincode");
  }, { busyLabel: "Searching…" });
  pinForm.classList.add("pt-pin");

  // How the medicines reach the patient; delivery asks where.
  const address = me?.address || {};
  const addressFields = h("div", { class: "pt-address", hidden: true },
    field("Delivery address", h("input", { name: "delivery_address.line", autocomplete: "street-address", value: address.line || "" })),
    h("div", { class: "grid two" },
      field("District", h("input", { name: "delivery_address.district", value: address.district || "" })),
      field("State", h("input", { name: "delivery_address.state", autocomplete: "address-level1", value: address.state || "" }))),
    field("Delivery PIN code", h("input", { name: "delivery_address.pincode", inputmode: "numeric", autocomplete: "postal-code", value: address.pincode || "" })));
  const setDisabled = (on) => addressFields.querySelectorAll("input").forEach((i) => (i.disabled = !on));
  setDisabled(false);
  const fulfilment = radios("How will you get your medicines?", "fulfilment", [
    { value: "pickup", label: "I will pick them up at the pharmacy" },
    { value: "delivery", label: "Deliver them to me", detail: "If the pharmacy delivers." },
  ], {
    checked: "pickup",
    onchange: (e) => {
      addressFields.hidden = e.currentTarget.value !== "delivery";
      setDisabled(!addressFields.hidden);
    },
  });

  let pending = null; // the submission being sent, with its Idempotency-Key, reused if the same one is retried
  const conflict = h("div", { class: "alert info", role: "status", hidden: true });
  const orderForm = form([choices, fulfilment, addressFields], "Send to the pharmacy", async (f) => {
    conflict.hidden = true;
    const v = values(f);
    if (!found.length) throw fieldError("Find pharmacies first: use your location or type your PIN code.");
    if (!v.pharmacy_id) throw fieldError("Choose a pharmacy from the list.", [{ field: "pharmacy_id", message: "choose a pharmacy" }]);
    const body = { fulfilment: v.fulfilment };
    if (v.pharmacy_id !== "nearest") body.pharmacy_id = v.pharmacy_id;
    if (near) body.near = { lat: near.lat, lon: near.lon };
    if (v.fulfilment === "delivery") {
      body.delivery_address = {
        line: v["delivery_address.line"],
        district: v["delivery_address.district"],
        state: v["delivery_address.state"],
        pincode: (v["delivery_address.pincode"] || "").replace(/\s+/g, "") || undefined,
      };
    }
    const text = JSON.stringify(body);
    if (!pending || pending.text !== text) pending = { text, key: newKey() };
    try {
      const order = await post(`/api/v1/prescriptions/${rx.prescription_id}/orders`, body, { idempotencyKey: pending.key });
      pending = null;
      toast(`Sent to ${order.pharmacy?.name || "the pharmacy"}.`);
      location.hash = `#/patient/order/${order.order_id}`;
    } catch (err) {
      if (err.status === 409 && err.code === "order_open") {
        const mine = await get("/api/v1/orders?limit=200").catch(() => null);
        const existing = mine?.items?.find((o) => o.prescription_id === rx.prescription_id && OPEN.includes(o.status));
        if (existing) {
          replace(conflict, `It is with ${existing.pharmacy?.name || "a pharmacy"} already. `, h("a", { href: `#/patient/order/${existing.order_id}` }, "Follow that order"), ".");
          conflict.hidden = false;
        }
      }
      throw plainer(err);
    }
  }, { busyLabel: "Sending…" });

  return [
    prescriptionCard(rx),
    h("section", { class: "card pt-sec", "aria-labelledby": "find-title" },
      h("h2", { id: "find-title" }, "Find a pharmacy"),
      h("p", {}, "To list pharmacies nearest to you first, vaidya can use your location once. You can say no: a PIN code works too."),
      h("div", { class: "row" }, useLocation),
      where,
      h("p", { class: "muted small pt-or" }, "Or search by PIN code:"),
      pinForm),
    h("section", { class: "card pt-sec", "aria-labelledby": "send-title" }, h("h2", { id: "send-title" }, "Send it"), orderForm, conflict),
  ];
}

const STEP_NAMES = {
  routed: "Sent to the pharmacy",
  accepted: "Accepted by the pharmacy",
  ready: "Ready to pick up",
  dispatched: "On the way to you",
  dispensed: "Dispensed",
};
const RANK = { routed: 0, accepted: 1, ready: 2, dispatched: 2, dispensed: 3 };

/** The steps of an order, each done, current or still to come. */
function timeline(o) {
  const third = o.status === "ready" || o.status === "dispatched" ? o.status : o.fulfilment === "delivery" ? "dispatched" : "ready";
  const steps = ["routed", "accepted", third, "dispensed"];
  const ended = o.status === "unfulfilled" || o.status === "cancelled";
  const reached = ended ? (o.history.some((t) => t.outcome === "accepted") ? 1 : 0) : RANK[o.status] ?? 0;
  return h("ol", { class: "pt-timeline", "aria-label": "Order progress" }, steps.map((s, i) => {
    const state = ended ? (i <= reached ? "done" : "skipped") : i < reached ? "done" : i === reached ? (s === "dispensed" ? "done" : "current") : "todo";
    const label = state === "done" ? "done" : state === "current" ? "now" : state === "skipped" ? "did not happen" : "to come";
    return h("li", { class: `pt-step ${state}`, "aria-current": state === "current" || (s === "dispensed" && o.status === "dispensed") ? "step" : null },
      h("span", { class: "pt-step-name" }, STEP_NAMES[s]), h("span", { class: "sr-only" }, ` (${label})`));
  }));
}

/** The order's state in one plain sentence. */
function statusSentence(o) {
  const p = o.pharmacy?.name || "the pharmacy";
  switch (o.status) {
    case "routed":
      return `Sent to ${p}. Waiting for the pharmacy to accept your order.`;
    case "accepted":
      return `Accepted: ${p} is getting your medicines ready.`;
    case "ready":
      return `Ready: your medicines are ready to pick up at ${p}.`;
    case "dispatched":
      return `On the way: ${p} has sent your medicines for delivery.`;
    case "dispensed":
      return `Dispensed: ${p} has given you your medicines.`;
    case "unfulfilled":
      return "Not filled: no pharmacy within reach could fill this prescription. You can send it to another pharmacy.";
    case "cancelled":
      return "Cancelled: you cancelled this order. You can send the prescription again.";
    default:
      return o.status;
  }
}

/** Earlier pharmacies that passed the order on, in words. */
function reroutes(o) {
  const gone = o.history.filter((t) => t.outcome === "rejected" || t.outcome === "timed_out");
  if (!gone.length) return null;
  return h("div", { class: "alert info" }, h("strong", {}, "Moved on: "), gone.map((t, i) =>
    h("span", {}, i ? " Then " : "", t.outcome === "rejected"
      ? `${t.pharmacy_name} could not fill it${t.reason ? ` (${t.reason})` : ""}.`
      : `${t.pharmacy_name} did not answer in time.`)),
  o.status === "routed" ? ` It is now with ${o.pharmacy?.name || "the next nearest pharmacy"}.` : "");
}

/** `#/patient/order/:id` — one order, live. */
export function renderOrder(main, id) {
  let alive = true;
  const area = h("div", {}, loading("Loading your order…"));
  replace(main, area);
  let n = 0;
  const show = async () => {
    const mine = ++n;
    let o;
    try {
      o = await get(`/api/v1/orders/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!alive || mine !== n) return;
      replace(area, err.status === 404 ? notFound("order", ["#/patient/orders", "See your orders"]) : [h("h1", {}, "Your order"), failure(err, show)]);
      return;
    }
    if (!alive || mine !== n) return;
    const cancel = o.status === "routed"
      ? h("button", {
        type: "button",
        class: "danger",
        onclick: (e) =>
          busy(e.currentTarget, async () => {
            await post(`/api/v1/orders/${o.order_id}/cancel`);
            toast("Order cancelled.");
            await show();
          }, "Cancelling…"),
      }, "Cancel this order")
      : null;
    const rx = o.prescription;
    replace(area,
      h("div", { class: "row spread" }, h("h1", {}, "Your medicines order"), orderBadge(o.status)),
      h("div", { class: "card pt-order" },
        h("p", { class: "pt-status", role: "status", "aria-live": "polite", "data-testid": "order-status", "data-status": o.status }, statusSentence(o)),
        o.status === "routed" && o.accept_by
          ? h("p", { class: "muted small pt-status-more" }, `If it has not accepted by ${when(o.accept_by)}, vaidya passes your order to the next nearest pharmacy by itself.`)
          : h("div", { class: "pt-status-more" }),
        timeline(o),
        reroutes(o),
        h("dl", { class: "pt-facts" },
          h("dt", {}, "Pharmacy"), h("dd", {}, o.pharmacy?.name || "None at the moment"),
          h("dt", {}, "How"), h("dd", {}, o.fulfilment === "delivery" ? `Delivery to ${addressLine(o.delivery_address)}` : "Pick up at the pharmacy"),
          h("dt", {}, "Sent"), h("dd", {}, when(o.created_at)),
          h("dt", {}, "Last change"), h("dd", {}, when(o.updated_at))),
        cancel ? h("div", { class: "row" }, cancel, h("span", { class: "muted small" }, "You can cancel until the pharmacy accepts it.")) : null,
        ["unfulfilled", "cancelled"].includes(o.status)
          ? h("a", { class: "button", href: `#/patient/prescription/${o.prescription_id}` }, "Send the prescription again")
          : null),
      h("section", { class: "card pt-sec", "aria-labelledby": "order-rx" },
        h("h2", { id: "order-rx" }, "What you get"),
        h("p", { class: "muted small" }, `Prescribed by ${doctorName(rx.doctor_name)} (registration ${rx.registration_number}) on ${day(rx.issued_at)}`),
        itemList(rx.items)),
      h("p", {}, h("a", { href: "#/patient/orders" }, "All my orders")));
  };
  const off = on("order.updated", (data) => {
    if (data?.order_id === id) show();
  });
  show();
  return () => {
    alive = false;
    off();
  };
}

/** A compact card for an order in a list. */
export function orderItem(o) {
  return h("li", { class: "row spread", "data-order-id": o.order_id },
    h("div", {},
      h("strong", {}, o.pharmacy?.name || "No pharmacy"), " ", orderBadge(o.status),
      h("div", { class: "muted small" }, `${o.prescription.items.map(itemTitle).join(", ")} · sent ${when(o.created_at)}`)),
    h("a", { class: "button secondary", href: `#/patient/order/${o.order_id}` }, "View order"));
}

/** `#/patient/orders` — every order, newest first, live. */
export function renderOrders(main) {
  const list = h("div", { "aria-live": "polite" });
  replace(main, h("h1", {}, "Your medicine orders"),
    h("p", { class: "muted" }, "Prescriptions you have sent to pharmacies. To send a new one, open it from your home page or records."), list);
  const load = loader(list, () => get("/api/v1/orders?limit=100"), (data) =>
    data.items.length
      ? h("ul", { class: "plain card pt-list" }, data.items.map(orderItem))
      : h("p", { class: "card" }, "You have not sent a prescription to a pharmacy yet."),
  { progress: "Loading your orders…" });
  load();
  return on("order.updated", () => load());
}
