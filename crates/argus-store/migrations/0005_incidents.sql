-- Incidents (owned by argus-incident).
--
-- An incident groups the alerts of one cause (its kind and group key); at
-- most one incident per (kind, group key) is open at a time. Every change of
-- state, every step of its playbook and every approval is a row of
-- `incident_events`, which the audit trail copies into the audit log
-- (`audited` set once copied). Timers are columns (`escalate_at_ms`,
-- `next_at_ms`), so they survive restarts and kill -9.
CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY,   -- the number operators type
    kind             TEXT NOT NULL,
    group_key        TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('P0', 'P1', 'P2', 'P3')),
    state            TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'contained', 'resolved')),
    title            TEXT NOT NULL,
    playbook         TEXT,
    opened_ms        INTEGER NOT NULL,      -- when Argus opened it (its clock)
    first_event_ms   INTEGER NOT NULL,      -- the earliest event time of its alerts (block time)
    first_alert_ms   INTEGER NOT NULL,      -- when the first alert was recorded
    acknowledged_ms  INTEGER,
    contained_ms     INTEGER,
    resolved_ms      INTEGER,
    reopened         INTEGER NOT NULL DEFAULT 0,
    assignee         TEXT,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    escalate_at_ms   INTEGER,               -- NULL: no timer running
    evidence_root    TEXT,                  -- hex SHA-256 of the evidence manifest
    public_status    TEXT
);
CREATE UNIQUE INDEX incidents_one_open_per_group
    ON incidents (kind, group_key) WHERE state != 'resolved';
CREATE INDEX incidents_by_timer ON incidents (escalate_at_ms) WHERE escalate_at_ms IS NOT NULL;

-- The alerts an incident holds.
CREATE TABLE incident_alerts (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    alert_id    TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    event_ms    INTEGER NOT NULL,
    added_ms    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, alert_id)
) WITHOUT ROWID;
CREATE INDEX incident_alerts_by_alert ON incident_alerts (alert_id);

-- The timeline: who did what, when, and why.
CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,          -- incident.open, incident.ack, step.succeeded, ...
    reason      TEXT,
    details     TEXT NOT NULL,          -- JSON object
    audited     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incident_events_unaudited ON incident_events (id) WHERE audited = 0;
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);

-- The playbook's steps of each incident, as a durable work queue.
CREATE TABLE incident_steps (
    incident_id    INTEGER NOT NULL REFERENCES incidents (id),
    step_id        TEXT NOT NULL,
    position       INTEGER NOT NULL,
    action         TEXT NOT NULL,         -- the action's kind: pause, stop_bot, ...
    spec           TEXT NOT NULL,         -- JSON: the step as configured
    after          TEXT NOT NULL,         -- JSON array of step ids that must succeed first
    state          TEXT NOT NULL CHECK (state IN
                     ('waiting', 'needs_approval', 'pending', 'running', 'succeeded', 'failed', 'skipped')),
    approvals_needed INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL,
    next_at_ms     INTEGER,
    lease_until_ms INTEGER,
    last_error     TEXT,
    result         TEXT,                  -- JSON: what the responder did
    started_ms     INTEGER,
    finished_ms    INTEGER,
    PRIMARY KEY (incident_id, step_id)
) WITHOUT ROWID;
CREATE INDEX incident_steps_due ON incident_steps (next_at_ms) WHERE state = 'pending';

-- Approvals of steps that need them (two distinct operators for an unpause).
CREATE TABLE incident_approvals (
    incident_id INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    approver    TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    reason      TEXT,
    PRIMARY KEY (incident_id, step_id, approver)
) WITHOUT ROWID;

-- Transactions a responder signed, written before they are broadcast, so a
-- restart re-broadcasts or confirms the same transaction instead of signing
-- a second one.
CREATE TABLE incident_transactions (
    incident_id INTEGER NOT NULL,
    step_id     TEXT NOT NULL,
    target      TEXT NOT NULL,            -- what the transaction acts on (contract, token)
    chain       INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    nonce       INTEGER NOT NULL,
    tx_hash     TEXT NOT NULL,
    raw         TEXT NOT NULL,            -- hex of the signed transaction
    sent_ms     INTEGER NOT NULL,
    replaces    TEXT,                     -- the hash this one replaced (higher fee)
    status      TEXT NOT NULL CHECK (status IN ('signed', 'sent', 'confirmed', 'reverted', 'replaced')),
    block       INTEGER,
    PRIMARY KEY (tx_hash)
) WITHOUT ROWID;
CREATE INDEX incident_transactions_by_step ON incident_transactions (incident_id, step_id);

-- Evidence files of an incident: name, size and hash (the bytes are files
-- under <data_dir>/evidence/<id>/).
CREATE TABLE incident_evidence (
    incident_id INTEGER NOT NULL,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    PRIMARY KEY (incident_id, name)
) WITHOUT ROWID;

-- What an operator judged an alert to be.
CREATE TABLE alert_dispositions (
    alert_id    TEXT PRIMARY KEY,
    disposition TEXT NOT NULL CHECK (disposition IN ('true_positive', 'false_positive', 'benign')),
    actor       TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    reason      TEXT
) WITHOUT ROWID;

-- Drill scorecards, kept for trends.
CREATE TABLE drill_runs (
    id          INTEGER PRIMARY KEY,
    scenario    TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    scorecard   TEXT NOT NULL            -- JSON
);
