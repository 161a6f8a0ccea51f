// The pharmacist's pages: incoming orders (live), and one order — the prescription's signature check, what to dispense,
// and the actions its status allows (accept, reject, ready or dispatched, dispense).

import { h, replace, field, form, alertBox, busy, toast, loading, badge, when, day } from "../ui.js";
import { get, post, query } from "../api.js";
import { on } from "../events.js";

export const nav = [["#/pharmacy", "Orders"]];

export const routes = [
  ["/pharmacy", renderOrders, "pharmacist"],
  ["/pharmacy/order/:id", renderOrder, "pharmacist"],
];

/** Each status as a badge and in plain words. */
const STATUS = {
  routed: ["New", "warn", "New — waiting for you to accept it."],
  accepted: ["Accepted", "", "Accepted — being prepared."],
  ready: ["Ready for pickup", "ok", "Ready for pickup — waiting for the patient."],
  dispatched: ["Out for delivery", "ok", "Out for delivery."],
  dispensed: ["Dispensed", "ok", "Dispensed — handed over. Nothing more to do."],
  cancelled: ["Cancelled", "danger", "Cancelled by the patient. Do not prepare it."],
  unfulfilled: ["Unfulfilled", "danger", "Unfulfilled — no pharmacy could take it."],
};
const statusBadge = (s) => badge((STATUS[s] || [s])[0], (STATUS[s] || [s, ""])[1]);
const statusText = (s) => (STATUS[s] || [s, "", s])[2];
const FILTERS = [
  ["", "All orders"],
  ["routed", "New (waiting to be accepted)"],
  ["accepted", "Accepted"],
  ["ready", "Ready for pickup"],
  ["dispatched", "Out for delivery"],
  ["dispensed", "Dispensed"],
  ["cancelled", "Cancelled by the patient"],
  ["unfulfilled", "Unfulfilled"],
];

const firstName = (name = "") => name.trim().split(/\s+/)[0] || "Patient";
const capital = (s = "") => s.charAt(0).toUpperCase() + s.slice(1);
const hidden = (text) => h("span", { class: "visually-hidden" }, text);
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function fulfilmentText(order) {
  return order.fulfilment === "delivery" ? "Home delivery" : "Pickup at the counter";
}

// ---------------------------------------------------------------------------------------------------------------
// Incoming orders

async function renderOrders(main) {
  const status = h("select", { name: "status" }, FILTERS.map(([value, text]) => h("option", { value }, text)));
  const list = h("div", { class: "order-list" });
  const more = h("div");
  let known = null;
  let stale = false;
  let timer = null;
  let refreshing = null;

  replace(main,
    h("div", { class: "pharmacy" },
      h("h1", {}, "Incoming orders"),
      h("p", { class: "muted" }, "Prescriptions patients have sent to your pharmacy, newest first. New orders appear here by themselves."),
      h("div", { class: "row order-filter" }, h("div", { class: "field" }, h("label", { for: "order-status-filter" }, "Show"), status)),
      list,
      more));
  status.id = "order-status-filter";

  async function load({ announce = false } = {}) {
    try {
      const page = await get(`/api/v1/pharmacy/orders${query({ status: status.value, limit: 50 })}`);
      if (stale) return;
      const fresh = known ? page.items.filter((o) => !known.has(o.order_id) && o.status === "routed") : [];
      if (announce && fresh.length) toast(fresh.length === 1 ? `New order from ${firstName(fresh[0].prescription.patient_name)}` : `${fresh.length} new orders`);
      known = new Set([...(known || []), ...page.items.map((o) => o.order_id)]);
      replace(list, orderList(page.items, new Set(fresh.map((o) => o.order_id))));
      showMore(page.next_cursor);
    } catch (err) {
      if (stale) return;
      const box = alertBox();
      box.show(err);
      replace(list, box, h("button", { type: "button", onclick: () => load() }, "Try again"));
      replace(more);
    }
  }

  function showMore(cursor) {
    if (!cursor) return replace(more);
    const button = h("button", {
      type: "button",
      class: "secondary",
      onclick: () =>
        busy(button, async () => {
          const page = await get(`/api/v1/pharmacy/orders${query({ status: status.value, limit: 50, cursor })}`);
          for (const o of page.items) known.add(o.order_id);
          list.querySelector("ul")?.append(...page.items.map((o) => orderRow(o, false)));
          showMore(page.next_cursor);
        }, "Loading older orders…"),
    }, "Show older orders");
    replace(more, button);
  }

  status.addEventListener("change", () => {
    replace(list, loading("Loading orders…"));
    load();
  });

  replace(list, loading("Loading orders…"));
  await load();
  // Events come in bursts (one per change); one refresh per burst.
  const off = on("order.updated", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      refreshing = (refreshing || Promise.resolve()).then(() => load({ announce: true }));
    }, 150);
  });
  return () => {
    stale = true;
    clearTimeout(timer);
    off();
  };
}

function orderList(items, fresh) {
  if (!items.length) {
    return h("p", { class: "card", role: "status" }, "No orders here yet. New orders appear as soon as a patient sends one — no need to reload.");
  }
  return h("ul", { class: "plain card orders", "aria-label": "Orders" }, items.map((o) => orderRow(o, fresh.has(o.order_id))));
}

function orderRow(o, isNew) {
  const p = o.prescription;
  const who = `${firstName(p.patient_name)}${p.patient_age != null ? `, ${p.patient_age}` : ""}`;
  return h("li", { class: `order-row${isNew ? " is-new" : ""}`, dataset: { orderId: o.order_id, status: o.status } },
    h("div", { class: "order-main" },
      h("div", { class: "row" }, h("strong", {}, who), statusBadge(o.status), badge(o.fulfilment === "delivery" ? "Delivery" : "Pickup"),
        isNew ? badge("Just arrived", "warn") : null),
      h("div", { class: "small muted" },
        `${plural(p.items.length, "medicine")} · from ${p.doctor_name} · received ${when(o.created_at)}`,
        o.status === "routed" && o.accept_by ? ` · accept by ${when(o.accept_by)}` : "")),
    h("a", { class: "button secondary", href: `#/pharmacy/order/${encodeURIComponent(o.order_id)}` },
      "Open order", hidden(` for ${who}, received ${when(o.created_at)}`)));
}

// ---------------------------------------------------------------------------------------------------------------
// One order

const NOT_HERE = "This order is not (or no longer) with your pharmacy";

function showNotHere(main, detail) {
  replace(main,
    h("div", { class: "pharmacy card narrow order-gone" },
      h("h1", {}, NOT_HERE),
      h("p", {}, detail || "It may have been sent to another pharmacy, or the link is wrong. Only orders routed to your pharmacy are shown here."),
      h("a", { class: "button", href: "#/pharmacy" }, "Back to orders")));
}

function directions(item) {
  let text = `${item.dose}, ${item.frequency}, for ${plural(item.duration_days, "day")}`;
  if (item.route) text += `, ${item.route}`;
  if (item.instructions) text += `. ${item.instructions}`;
  return text;
}
const title = (item) => capital([item.name, item.strength, item.form].filter(Boolean).join(" "));

async function renderOrder(main, id) {
  let order;
  try {
    order = await get(`/api/v1/orders/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) return showNotHere(main);
    throw err;
  }
  const pharmacyId = order.pharmacy_id;
  let gone = false;
  let verified = null; // null: not known yet; true/false: the signature check's answer
  let prescription = null;

  const statusArea = h("div", { class: "order-status", "aria-live": "polite" });
  const notice = h("div");
  const signature = h("div", { class: "signature" }, loading("Checking the prescription's signature…"));
  const medicines = h("div");
  const actions = h("div", { class: "order-actions" });
  const actionAlert = alertBox();
  const facts = h("div");
  const history = h("div");
  const heading = h("h1");

  replace(main,
    h("div", { class: "pharmacy order-page" },
      h("p", {}, h("a", { href: "#/pharmacy" }, "← All orders")),
      heading,
      statusArea,
      notice,
      h("div", { class: "grid two" },
        h("section", { class: "card", "aria-labelledby": "rx-heading" },
          h("h2", { id: "rx-heading" }, "Prescription"),
          signature,
          facts,
          h("h3", {}, "Medicines"),
          medicines),
        h("div", {},
          h("section", { class: "card", "aria-labelledby": "actions-heading" },
            h("h2", { id: "actions-heading" }, "What to do"),
            actionAlert,
            actions),
          h("section", { class: "card", "aria-labelledby": "history-heading" },
            h("h2", { id: "history-heading" }, "History"),
            history)))));

  function items() {
    return prescription?.items || order.prescription.items;
  }

  function render() {
    const p = order.prescription;
    replace(heading, `Order for ${p.patient_name}`);
    replace(statusArea, h("p", { "data-testid": "order-status" }, "Status: ", statusBadge(order.status), " ", statusText(order.status)));
    replace(facts, h("dl", { class: "facts" },
      h("dt", {}, "Patient"), h("dd", {}, `${p.patient_name}${p.patient_age != null ? `, ${p.patient_age} years` : ""}`),
      h("dt", {}, "Prescriber"), h("dd", {}, `${p.doctor_name} (reg. no. ${p.registration_number})`),
      h("dt", {}, "Issued"), h("dd", {}, when(p.issued_at)),
      h("dt", {}, "Fulfilment"), h("dd", {}, fulfilmentText(order), deliveryAddress(order)),
      h("dt", {}, "Received"), h("dd", {}, when(order.created_at)),
      prescription?.notes ? [h("dt", {}, "Note on the prescription"), h("dd", {}, prescription.notes)] : null));
    replace(medicines, h("ol", { class: "medicines" }, items().map((it) =>
      h("li", {}, h("strong", {}, title(it)), h("div", {}, directions(it)), h("div", { class: "small" }, `Prescribed quantity: ${it.quantity}`)))));
    replace(history, h("ol", { class: "history small" }, (order.history || []).map((t) =>
      h("li", {}, `${t.pharmacy_name}: received ${when(t.routed_at)}`,
        t.outcome ? ` — ${t.outcome.replace("_", " ")}` : " — with this pharmacy now",
        t.reason ? ` (${t.reason})` : ""))));
    renderActions();
  }

  function renderActions() {
    if (gone) return replace(actions);
    const blocked = verified === false
      ? h("p", { class: "alert error", role: "alert" }, "Do not accept or dispense: the prescription's signature does not match.")
      : verified === null
        ? h("p", { class: "muted small" }, "Accepting and dispensing open once the signature has been checked.")
        : null;
    const canAct = verified === true;
    switch (order.status) {
      case "routed": {
        const accept = h("button", { type: "button", disabled: !canAct, onclick: () => act(accept, "accept", undefined, "Accepting…") }, "Accept order");
        const rejectToggle = h("button", { type: "button", class: "secondary" }, "Reject order");
        const rejectArea = h("div", { hidden: true }, rejectForm());
        rejectToggle.addEventListener("click", () => {
          rejectArea.hidden = !rejectArea.hidden;
          rejectToggle.setAttribute("aria-expanded", String(!rejectArea.hidden));
          if (!rejectArea.hidden) rejectArea.querySelector("textarea").focus();
        });
        rejectToggle.setAttribute("aria-expanded", "false");
        replace(actions,
          h("p", {}, "Check the prescription, then accept the order if you can supply it."),
          order.accept_by ? h("p", { class: "small muted" }, `Accept by ${when(order.accept_by)}, or it passes to the next nearest pharmacy.`) : null,
          blocked,
          h("div", { class: "row" }, accept, rejectToggle),
          rejectArea);
        break;
      }
      case "accepted": {
        const pickup = order.fulfilment !== "delivery";
        const button = h("button", {
          type: "button",
          onclick: () => act(button, pickup ? "ready" : "dispatch", undefined, pickup ? "Marking ready…" : "Marking dispatched…"),
        }, pickup ? "Mark ready for pickup" : "Mark dispatched");
        replace(actions,
          h("p", {}, pickup ? "Pack the medicines, then tell the patient they are ready to collect." : "Pack the medicines and send them out, then mark the order dispatched."),
          h("div", { class: "row" }, button));
        break;
      }
      case "ready":
      case "dispatched":
        replace(actions, blocked, dispenseForm(canAct));
        break;
      default:
        replace(actions, h("p", { role: "status" }, statusText(order.status)));
    }
  }

  function rejectForm() {
    const reason = h("textarea", { name: "reason", rows: 2, required: true });
    return form(
      [field("Reason for rejecting", reason, "For example: out of stock. The patient sees this; the order goes to the next nearest pharmacy.")],
      "Reject and pass it on",
      async () => {
        let next;
        try {
          next = await post(`/api/v1/orders/${encodeURIComponent(id)}/reject`, { reason: reason.value.trim() || undefined });
        } catch (err) {
          if (err.code === "validation_failed") err.message = "Not rejected: give a reason — the patient sees it.";
          if (err.status === 409 || err.status === 404) refresh();
          throw err;
        }
        leave(next);
      },
      { busyLabel: "Rejecting…" },
    );
  }

  function dispenseForm(canAct) {
    const rows = items().map((it, i) => {
      const quantity = h("input", { type: "number", inputmode: "numeric", min: 0, max: it.quantity, value: String(it.quantity) });
      const batch = h("input", { autocomplete: "off" });
      return {
        it, quantity, batch,
        el: h("fieldset", { class: "dispense-item" },
          h("legend", {}, `${i + 1}. ${title(it)}`),
          h("div", { class: "field-grid" },
            field(["Quantity to hand over", hidden(` for medicine ${i + 1}`)], quantity, `Prescribed: ${it.quantity}. Enter 0 to leave it out.`),
            field(["Batch number (optional)", hidden(` for medicine ${i + 1}`)], batch))),
      };
    });
    const dispense = form(
      [
        h("p", {}, order.status === "ready" ? "When the patient collects the medicines, record what you hand over." : "When the medicines are delivered, record what was handed over."),
        rows.map((r) => r.el),
      ],
      "Dispense and hand over",
      async () => {
        if (!canAct) throw new Error("The prescription's signature has not been confirmed, so it cannot be dispensed.");
        // Each input is named after its place in what is sent, so the API's field paths (items[0].quantity) mark it.
        const sent = rows.filter((r) => r.quantity.value.trim() !== "0");
        for (const r of rows) {
          r.quantity.removeAttribute("name");
          r.batch.removeAttribute("name");
        }
        sent.forEach((r, i) => {
          r.quantity.name = `items[${i}].quantity`;
          r.batch.name = `items[${i}].batch`;
        });
        const body = {
          items: sent.map((r) => {
            const q = Number(r.quantity.value);
            return { index: r.it.index, quantity: r.quantity.value.trim() !== "" && Number.isInteger(q) ? q : undefined, batch: r.batch.value.trim() || undefined };
          }),
        };
        let next;
        try {
          next = await post(`/api/v1/orders/${encodeURIComponent(id)}/dispense`, body);
        } catch (err) {
          if (err.code === "validation_failed" && !sent.length) err.message = "Nothing to dispense: enter the quantity of at least one medicine.";
          else if (err.code === "validation_failed") err.message = "Not dispensed: check the marked quantities.";
          else if (err.code === "exceeds_prescribed") err.message = "Not dispensed: you may not hand over more than was prescribed.";
          if (err.status === 409) refresh();
          throw err;
        }
        toast("Dispensed. The patient has been told.");
        update(next);
      },
      { busyLabel: "Dispensing…" },
    );
    return dispense;
  }

  async function act(button, action, body, busyLabel) {
    actionAlert.clear();
    await busy(button, async () => {
      try {
        update(await post(`/api/v1/orders/${encodeURIComponent(id)}/${action}`, body));
        toast({ accept: "Order accepted.", ready: "Marked ready for pickup. The patient has been told.", dispatch: "Marked dispatched. The patient has been told." }[action] || "Done.");
      } catch (err) {
        actionAlert.show(err);
        if (err.status === 409 || err.status === 404) refresh();
      }
    }, busyLabel);
  }

  /** The order left this pharmacy because this pharmacist rejected it. */
  function leave(next) {
    gone = true;
    const where = next.status === "unfulfilled"
      ? "No other pharmacy nearby could take it, so it is now unfulfilled; the patient has been told."
      : "It has gone to the next nearest pharmacy; the patient has been told.";
    toast("Order rejected.");
    showNotHere(main, `You rejected this order. ${where}`);
  }

  function update(next) {
    if (next.pharmacy_id !== pharmacyId) {
      gone = true;
      showNotHere(main, "It has been passed to another pharmacy.");
      return;
    }
    const before = order.status;
    order = next;
    if (before !== order.status && order.status === "cancelled") {
      replace(notice, h("div", { class: "alert error", role: "alert" }, h("strong", {}, "The patient cancelled this order."), " Do not prepare it."));
    }
    render();
  }

  async function refresh() {
    if (gone) return;
    try {
      update(await get(`/api/v1/orders/${encodeURIComponent(id)}`));
    } catch (err) {
      if (gone) return;
      if (err.status === 404) {
        gone = true;
        showNotHere(main, "It has been passed to another pharmacy (for example because the time to accept ran out).");
        return;
      }
      actionAlert.show(err);
    }
  }

  async function verifySignature() {
    replace(signature, loading("Checking the prescription's signature…"));
    const pid = encodeURIComponent(order.prescription_id);
    const [check, full] = await Promise.allSettled([get(`/api/v1/prescriptions/${pid}/verify`), get(`/api/v1/prescriptions/${pid}`)]);
    if (gone) return;
    if (full.status === "fulfilled") prescription = full.value;
    if (check.status === "fulfilled" && check.value.valid) {
      verified = true;
      const s = check.value.signer;
      replace(signature, h("p", { class: "alert ok", role: "status" },
        h("strong", {}, `Signature valid — signed by ${s.name} (reg. no. ${s.registration_number})`),
        check.value.signed_at ? h("span", { class: "small" }, ` on ${day(check.value.signed_at)}.`) : "."));
    } else if (check.status === "fulfilled") {
      verified = false;
      const s = check.value.signer || {};
      replace(signature, h("div", { class: "alert error signature-invalid", role: "alert" },
        h("strong", {}, "Warning: the signature does NOT match this prescription."),
        h("p", {}, `It may have been altered after ${s.name || "the doctor"} signed it. Do not dispense it; contact the prescriber${s.registration_number ? ` (reg. no. ${s.registration_number})` : ""}.`)));
    } else {
      verified = null;
      const box = alertBox();
      box.show(check.reason);
      replace(signature, h("div", {}, h("p", {}, h("strong", {}, "The signature could not be checked.")), box,
        h("button", { type: "button", class: "secondary", onclick: verifySignature }, "Check the signature again")));
    }
    render();
  }

  render();
  const off = on("order.updated", (data) => {
    if (data && data.order_id === id) refresh();
  });
  await verifySignature();
  return () => {
    gone = true;
    off();
  };
}

function deliveryAddress(order) {
  const a = order.delivery_address;
  if (order.fulfilment !== "delivery" || !a) return null;
  const text = [a.line, a.district, a.state, a.pincode].filter(Boolean).join(", ");
  return text ? h("div", { class: "small" }, text) : null;
}
