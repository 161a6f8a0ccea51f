-- E-prescriptions (each also a health record of type Prescription, with the same id) and the orders that route them
-- to pharmacies. Order state changes are compare-and-set; the indexes below are the last guard against two open
-- orders for one prescription and against dispensing a prescription twice.

CREATE TABLE prescriptions (
    id TEXT PRIMARY KEY REFERENCES health_records(id),
    consult_id TEXT NOT NULL REFERENCES consults(id),
    patient_health_id TEXT NOT NULL REFERENCES patients(health_id),
    doctor_id TEXT NOT NULL REFERENCES providers(id),
    -- JSON: the items as prescribed (formulary code and list, quantity, directions).
    items TEXT NOT NULL,
    patient_age BIGINT,
    notes TEXT,
    signature TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('issued', 'dispensed')),
    created_at BIGINT NOT NULL
);
CREATE INDEX prescriptions_patient ON prescriptions(patient_health_id, id);
CREATE INDEX prescriptions_consult ON prescriptions(consult_id);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    prescription_id TEXT NOT NULL REFERENCES prescriptions(id),
    patient_health_id TEXT NOT NULL REFERENCES patients(health_id),
    -- The pharmacy holding the order now (the last one, once it has ended).
    pharmacy_id TEXT REFERENCES facilities(id),
    status TEXT NOT NULL CHECK (status IN ('routed', 'accepted', 'ready', 'dispatched', 'dispensed', 'unfulfilled', 'cancelled')),
    fulfilment TEXT NOT NULL CHECK (fulfilment IN ('pickup', 'delivery')),
    delivery_address TEXT,
    -- Where to search from when the order moves on to the next nearest pharmacy.
    origin_lat DOUBLE PRECISION NOT NULL,
    origin_lon DOUBLE PRECISION NOT NULL,
    -- While routed: when the holder's time to accept runs out.
    accept_by BIGINT,
    -- Bumped by every change, so a change computed from a stale read cannot land.
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX orders_one_open ON orders(prescription_id) WHERE status IN ('routed', 'accepted', 'ready', 'dispatched');
CREATE INDEX orders_pharmacy ON orders(pharmacy_id, status, id);
CREATE INDEX orders_accept_by ON orders(status, accept_by);
CREATE INDEX orders_patient ON orders(patient_health_id, id);

-- Every pharmacy that has held an order, and how its turn ended; a pharmacy is offered an order once.
CREATE TABLE order_holders (
    order_id TEXT NOT NULL REFERENCES orders(id),
    pharmacy_id TEXT NOT NULL REFERENCES facilities(id),
    routed_at BIGINT NOT NULL,
    outcome TEXT CHECK (outcome IN ('accepted', 'rejected', 'timed_out', 'cancelled')),
    reason TEXT,
    ended_at BIGINT,
    PRIMARY KEY (order_id, pharmacy_id)
);

-- One dispensing per prescription, ever.
CREATE TABLE dispenses (
    prescription_id TEXT PRIMARY KEY REFERENCES prescriptions(id),
    order_id TEXT NOT NULL UNIQUE REFERENCES orders(id),
    pharmacy_id TEXT NOT NULL REFERENCES facilities(id),
    pharmacist_id TEXT NOT NULL REFERENCES providers(id),
    items TEXT NOT NULL,
    dispensed_at BIGINT NOT NULL
);

-- Answers to requests sent with an `Idempotency-Key`, kept so a replay gets the same answer.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, idempotency_key)
);
