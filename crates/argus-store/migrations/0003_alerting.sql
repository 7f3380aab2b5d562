-- Alerts and the delivery outbox (owned by argus-alerting::outbox).
--
-- The daemon writes an alert and its deliveries in the same transaction as
-- the chain checkpoint, so a crash either keeps both or neither. Times are
-- milliseconds since the Unix epoch.

-- Silences: matching alerts are stored but not delivered.
CREATE TABLE alert_silences (
    id            INTEGER PRIMARY KEY,
    rule_id       TEXT,              -- exact id, or a prefix ending in '*'
    max_severity  TEXT CHECK (max_severity IN ('critical', 'high', 'medium', 'low', 'info')),
    chain_id      INTEGER,
    address       TEXT,              -- lower-case 0x hex, matched against fields.address / fields.contract
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    CHECK (ends_at_ms >= starts_at_ms)
);
CREATE INDEX alert_silences_active ON alert_silences (ends_at_ms);

-- One row per finding; the id is the finding's deterministic id, so recording
-- the same finding twice is a no-op. Rows are listed newest first by rowid
-- (insertion order): every index costs a page write per commit, and this
-- table is written on every chain event.
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,  -- 0x hex of Finding::id
    rule_id         TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
    title           TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    chain_id        INTEGER,           -- NULL for alerts made from signals
    block_number    INTEGER,
    block_hash      TEXT,
    tx_hash         TEXT,
    log_index       INTEGER,
    at_ms           INTEGER NOT NULL,  -- the event's time
    fields          TEXT NOT NULL,     -- JSON object
    state           TEXT NOT NULL CHECK (state IN ('firing', 'suppressed', 'silenced', 'retracted')),
    group_head      TEXT REFERENCES alerts (id),          -- for 'suppressed': the alert that notified
    duplicates      INTEGER NOT NULL DEFAULT 0,           -- on a group head: how many were suppressed
    silence_id      INTEGER REFERENCES alert_silences (id),
    created_at_ms   INTEGER NOT NULL,
    retracted_at_ms INTEGER,
    reason          TEXT                -- why retracted / suppressed / silenced
);
CREATE INDEX alerts_by_block ON alerts (chain_id, block_hash) WHERE block_hash IS NOT NULL;
CREATE INDEX alerts_group_heads ON alerts (dedup_key, at_ms) WHERE state = 'firing';
CREATE INDEX alerts_by_group ON alerts (group_head) WHERE group_head IS NOT NULL;

-- The outbox: one row per (alert, notifier, kind); the idempotency key is
-- derived from those three, so their unique index also makes the key unique. A row is 'delivered' only
-- after the sink accepted it; after a crash in between it is sent again with
-- the same idempotency key.
CREATE TABLE alert_deliveries (
    id                 INTEGER PRIMARY KEY,
    alert_id           TEXT NOT NULL REFERENCES alerts (id),
    notifier           TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('fire', 'retract')),
    idempotency_key    TEXT NOT NULL,     -- derived from (alert_id, kind, notifier)
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'cancelled', 'failed')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error         TEXT,              -- never holds a secret
    created_at_ms      INTEGER NOT NULL,
    delivered_at_ms    INTEGER,
    UNIQUE (alert_id, notifier, kind)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at_ms) WHERE status = 'pending';
