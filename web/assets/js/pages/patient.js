// The patient's pages: home (the consult in progress or in the queue, prescriptions, orders, past consults), seeing a
// doctor, the call, the health record, consents, the access log, and sending prescriptions to pharmacies.

import { h, replace, when, badge, toast } from "../ui.js";
import { get } from "../api.js";
import { on } from "../events.js";
import { session } from "../session.js";
import { renderSeeDoctor, renderConsult, queueCard, cancelButton, requestedDoctor, waitingFor } from "./patient_consult.js";
import { renderRecords } from "./patient_records.js";
import { renderConsents, renderAccess } from "./patient_consents.js";
import { renderPrescription, renderOrder, renderOrders, orderItem } from "./patient_pharmacy.js";
import { loader, doctorName, consultStatus, modeName } from "./patient_util.js";

export const nav = [
  ["#/patient", "Home"],
  ["#/patient/see-doctor", "See a doctor"],
  ["#/patient/records", "Records"],
  ["#/patient/consents", "Consents"],
  ["#/patient/access", "Access log"],
  ["#/patient/orders", "Orders"],
];

export const routes = [
  ["/patient", renderHome, "patient"],
  ["/patient/see-doctor", renderSeeDoctor, "patient"],
  ["/patient/consult/:id", renderConsult, "patient"],
  ["/patient/records", renderRecords, "patient"],
  ["/patient/consents", renderConsents, "patient"],
  ["/patient/access", renderAccess, "patient"],
  ["/patient/prescription/:id", renderPrescription, "patient"],
  ["/patient/order/:id", renderOrder, "patient"],
  ["/patient/orders", renderOrders, "patient"],
];

const isPatient = () => session()?.role === "patient";

// Wherever the patient is in the app, news that needs them shows up at once.
on("prescription.issued", (data) => {
  if (!isPatient() || !data?.prescription_id) return;
  toast(`${doctorName(data.doctor?.name)} sent you a prescription. Find it on your home page to send it to a pharmacy.`);
});
on("consent.requested", (data) => {
  if (!isPatient() || !data) return;
  if (data.break_glass) toast(`${doctorName(data.doctor?.name)} used emergency access to your records. See Consents.`, "error");
  else if (data.status === "REQUESTED") toast(`${doctorName(data.doctor?.name)} asks to see your records. Answer under Consents.`);
});

/** The consult that needs the patient now: in the queue, or with the doctor ready. */
function currentConsult(c, reload) {
  if (c.status === "in_progress") {
    return h("div", { class: "card pt-ready", "data-consult-id": c.consult_id },
      h("h3", {}, `${doctorName(c.doctor?.name)} is ready`),
      h("p", {}, `${modeName(c.mode)} · ${c.reason}`),
      h("a", { class: "button", href: `#/patient/consult/${c.consult_id}` }, "Join the call"));
  }
  return h("div", { class: "card pt-waiting", "data-consult-id": c.consult_id },
    h("h3", {}, `Waiting for ${waitingFor(c, c.requested_name)}`),
    h("p", { class: "muted small" }, `${modeName(c.mode)} · ${c.reason} · joined ${when(c.created_at)}`),
    queueCard(c),
    h("div", { class: "row" },
      h("a", { class: "button", href: `#/patient/consult/${c.consult_id}` }, "Open the waiting room"),
      cancelButton(c, reload)));
}

function pastConsults(items) {
  if (!items.length) return h("p", { class: "muted" }, "No past consults yet.");
  return h("ul", { class: "plain card pt-list" }, items.map((c) => {
    const [label, kind] = consultStatus(c.status);
    return h("li", { class: "row spread", "data-consult-id": c.consult_id },
      h("div", {}, h("strong", {}, c.reason), " ", badge(label, kind),
        h("div", { class: "muted small" }, `${c.doctor ? doctorName(c.doctor.name) : c.speciality || ""} · ${when(c.started_at || c.created_at)}`)),
      c.status === "completed" ? h("a", { href: "#/patient/records" }, "Notes in records") : null);
  }));
}

/** The patient's prescriptions (whether or not their notes are in the PHR), each with its order or a way to send it. */
function prescriptionList(prescriptions, orders) {
  const orderOf = (id) => orders.find((o) => o.prescription_id === id && ["routed", "accepted", "ready", "dispatched", "dispensed"].includes(o.status));
  const rows = prescriptions.map((p) => {
    const order = orderOf(p.prescription_id);
    return h("li", { class: "row spread", "data-prescription-id": p.prescription_id },
      h("div", {}, h("strong", {}, p.items.map((i) => [i.name, i.strength, i.form].filter(Boolean).join(" ")).join(", ") || "Prescription"),
        h("div", { class: "muted small" }, `${doctorName(p.doctor.name)} · ${when(p.created_at)}`)),
      order
        ? h("a", { class: "button secondary", href: `#/patient/order/${order.order_id}` }, order.status === "dispensed" ? "See the order" : "Follow the order")
        : h("a", { class: "button", href: `#/patient/prescription/${p.prescription_id}` }, "Send to a pharmacy"));
  });
  if (!rows.length) return h("p", { class: "muted" }, "No prescriptions yet. When a doctor prescribes for you, it appears here and you can send it to a pharmacy.");
  return h("ul", { class: "plain card pt-list", "aria-label": "Your prescriptions" }, rows);
}

/** `#/patient` — home. */
function renderHome(main) {
  const hello = h("h1", {}, "Your health");
  const who = h("p", { class: "muted" });
  const now = h("section", { "aria-labelledby": "now-title", "aria-live": "polite" });
  const prescriptions = h("div", { "aria-live": "polite" });
  const orders = h("div", { "aria-live": "polite" });
  const past = h("div");
  replace(main, hello, who,
    h("h2", { id: "now-title" }, "Your consult"), now,
    h("h2", {}, "Prescriptions"), prescriptions,
    h("h2", {}, "Medicine orders"), orders,
    h("h2", {}, "Past consults"), past);

  get("/api/v1/health-ids/me").then((me) => {
    replace(hello, `Hello, ${me.name}`);
    replace(who, `Health ID ${me.health_id} · ${me.health_address}`);
  }).catch(() => {});

  const loadConsults = loader(now, async () => {
    const data = await get("/api/v1/consults?role=mine&limit=50");
    for (const c of data.items) if (c.status === "waiting") c.requested_name = await requestedDoctor(c);
    return data;
  }, (data) => {
    const active = data.items.filter((c) => c.status === "waiting" || c.status === "in_progress");
    replace(past, pastConsults(data.items.filter((c) => !active.includes(c))));
    if (!active.length) {
      return h("div", { class: "card" }, h("p", {}, "You are not waiting for a consult."),
        h("a", { class: "button", href: "#/patient/see-doctor" }, "See a doctor"));
    }
    return active.map((c) => currentConsult(c, loadConsults));
  }, { progress: "Loading your consults…" });

  let lastOrders = [];
  const loadOrders = loader(orders, () => get("/api/v1/orders?limit=100"), (data) => {
    lastOrders = data.items;
    const open = data.items.filter((o) => ["routed", "accepted", "ready", "dispatched"].includes(o.status));
    return [
      open.length ? h("ul", { class: "plain card pt-list", "aria-label": "Open orders" }, open.map(orderItem)) : h("p", { class: "muted" }, "No open orders."),
      data.items.length ? h("p", {}, h("a", { href: "#/patient/orders" }, `All orders (${data.items.length}${data.next_cursor ? "+" : ""})`)) : null,
    ];
  }, { progress: "Loading your orders…" });

  const loadPrescriptions = loader(prescriptions, async () => {
    const [mine, ords] = await Promise.all([get("/api/v1/prescriptions?limit=20"), get("/api/v1/orders?limit=100").catch(() => ({ items: lastOrders }))]);
    return { prescriptions: mine.items, orders: ords.items };
  }, ({ prescriptions: list, orders: ords }) => prescriptionList(list, ords), { progress: "Loading your prescriptions…" });

  loadConsults();
  loadPrescriptions();
  loadOrders();
  const offs = [
    on("queue.updated", () => loadConsults()),
    on("consult.admitted", () => loadConsults()),
    on("prescription.issued", () => loadPrescriptions()),
    on("order.updated", () => {
      loadOrders();
      loadPrescriptions();
    }),
  ];
  return () => offs.forEach((off) => off());
}
