-- Consults and their queue, health records (EMR documents, shown in the PHR under consent), consent requests and
-- consents. Times are integer milliseconds since the Unix epoch; flags are 0/1 integers on both backends.

CREATE TABLE consults (
    id TEXT PRIMARY KEY,
    patient_health_id TEXT NOT NULL REFERENCES patients(health_id),
    -- The doctor asked for, if one was named; the queue lane is this doctor or else the speciality.
    requested_doctor_id TEXT REFERENCES providers(id),
    speciality TEXT,
    speciality_key TEXT,
    -- The doctor who admitted the consult.
    doctor_id TEXT REFERENCES providers(id),
    facility_id TEXT REFERENCES facilities(id),
    reason TEXT NOT NULL,
    visit TEXT NOT NULL CHECK (visit IN ('first', 'follow_up')),
    previous_consult_id TEXT REFERENCES consults(id),
    mode TEXT NOT NULL CHECK (mode IN ('video', 'audio', 'text')),
    consent_teleconsultation BIGINT NOT NULL CHECK (consent_teleconsultation = 1),
    record_to_phr BIGINT NOT NULL CHECK (record_to_phr IN (0, 1)),
    phr_consent_withdrawn_at BIGINT,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'in_progress', 'completed', 'cancelled')),
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT,
    CHECK (requested_doctor_id IS NOT NULL OR speciality_key IS NOT NULL)
);
CREATE INDEX consults_lane_doctor ON consults(status, requested_doctor_id, id);
CREATE INDEX consults_lane_speciality ON consults(status, speciality_key, id);
CREATE INDEX consults_patient ON consults(patient_health_id, id);
CREATE INDEX consults_doctor ON consults(doctor_id, id);

-- FHIR documents. `hi_bit` is the HI type as one bit, so a consent's set of types is a mask tested with `&`.
CREATE TABLE health_records (
    id TEXT PRIMARY KEY,
    patient_health_id TEXT NOT NULL REFERENCES patients(health_id),
    consult_id TEXT REFERENCES consults(id),
    facility_id TEXT REFERENCES facilities(id),
    author_id TEXT REFERENCES providers(id),
    hi_type TEXT NOT NULL,
    hi_bit BIGINT NOT NULL,
    record_date BIGINT NOT NULL,
    bundle TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX health_records_patient ON health_records(patient_health_id, record_date, id);
CREATE INDEX health_records_consult ON health_records(consult_id);

CREATE TABLE consent_requests (
    id TEXT PRIMARY KEY,
    doctor_id TEXT NOT NULL REFERENCES providers(id),
    patient_health_id TEXT NOT NULL REFERENCES patients(health_id),
    purpose TEXT NOT NULL,
    hi_mask BIGINT NOT NULL,
    date_from BIGINT NOT NULL,
    date_to BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reason TEXT,
    status TEXT NOT NULL CHECK (status IN ('REQUESTED', 'GRANTED', 'DENIED')),
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX consent_requests_patient ON consent_requests(patient_health_id, id);
CREATE INDEX consent_requests_doctor ON consent_requests(doctor_id, id);

-- Granted consents (and break-the-glass access). EXPIRED is not stored: a consent past `expires_at` is expired.
CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    request_id TEXT UNIQUE REFERENCES consent_requests(id),
    doctor_id TEXT NOT NULL REFERENCES providers(id),
    patient_health_id TEXT NOT NULL REFERENCES patients(health_id),
    purpose TEXT NOT NULL,
    hi_mask BIGINT NOT NULL,
    date_from BIGINT NOT NULL,
    date_to BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reason TEXT,
    status TEXT NOT NULL CHECK (status IN ('GRANTED', 'REVOKED')),
    artefact TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX consents_holder ON consents(doctor_id, patient_health_id, status, expires_at);
CREATE INDEX consents_patient ON consents(patient_health_id, id);
