-- Registry schema: accounts, sessions, Health IDs, facilities, professionals, server keys, audit log.
-- Times are integer milliseconds since the Unix epoch; ids are TEXT.

CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'pharmacist', 'admin')),
    username TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    subject_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    refresh_jti TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE patients (
    health_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id),
    handle TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    gender TEXT NOT NULL CHECK (gender IN ('M', 'F', 'O')),
    date_of_birth TEXT NOT NULL,
    mobile TEXT NOT NULL,
    aadhaar_hash TEXT UNIQUE,
    aadhaar_last4 TEXT,
    address_line TEXT,
    district TEXT,
    state TEXT NOT NULL,
    pincode TEXT NOT NULL,
    guardian_health_id TEXT REFERENCES patients(health_id),
    registered_by TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE facilities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hospital', 'clinic', 'diagnostic_lab', 'imaging_centre', 'pharmacy')),
    ownership TEXT NOT NULL CHECK (ownership IN ('public', 'private')),
    systems_of_medicine TEXT NOT NULL,
    address_line TEXT,
    district TEXT,
    state TEXT NOT NULL,
    pincode TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    phone TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX facilities_kind_geo ON facilities(kind, lat, lon);
CREATE INDEX facilities_geo ON facilities(lat, lon);
CREATE INDEX facilities_pincode ON facilities(pincode);

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('doctor', 'pharmacist')),
    registration_number TEXT NOT NULL,
    council TEXT NOT NULL,
    speciality TEXT,
    qualification TEXT,
    status TEXT NOT NULL CHECK (status IN ('verified', 'suspended')),
    created_at BIGINT NOT NULL,
    UNIQUE (council, registration_number)
);
CREATE INDEX providers_role_speciality ON providers(role, speciality);

CREATE TABLE provider_facilities (
    provider_id TEXT NOT NULL REFERENCES providers(id),
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    PRIMARY KEY (provider_id, facility_id)
);
CREATE INDEX provider_facilities_facility ON provider_facilities(facility_id);

CREATE TABLE provider_languages (
    provider_id TEXT NOT NULL REFERENCES providers(id),
    language TEXT NOT NULL,
    PRIMARY KEY (provider_id, language)
);
CREATE INDEX provider_languages_language ON provider_languages(language);

-- The audit log. Events are inserted in the transaction of the access they record; a chainer
-- later links them in `audit_chain` (hash of the previous link and the event), so writers never
-- wait on one another for the chain head.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_id TEXT,
    actor_role TEXT,
    actor_name TEXT,
    subject_health_id TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    purpose TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events(subject_health_id, id);

CREATE TABLE audit_pending (
    event_id TEXT PRIMARY KEY
);

CREATE TABLE audit_chain (
    seq BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE REFERENCES audit_events(id),
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_chain_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: the log and its chain refuse updates and deletes.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
