-- The outbox of events each user must receive (queue, consent, order updates): written in the transaction of the
-- change they announce, numbered per user, delivered over /ws/events from here (so nothing is lost to a restart).

CREATE TABLE user_event_counters (
    account_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);

CREATE TABLE user_events (
    account_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, seq)
);
