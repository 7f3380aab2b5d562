-- Grouped notifications and digests (owned by argus-alerting: `grouping`,
-- `digest`).
--
-- A delivery to a notifier that groups (chat and pager sinks by default)
-- is queued held until its group's flush time, with its group key; when the
-- dispatcher flushes the group it folds every held delivery of the group
-- into ONE `digest` delivery (its alert_id is the group's first alert) and
-- marks them `digested` with the digest's id, in one transaction. A
-- notifier whose backlog exceeds what its rate limit sends in a minute has
-- the backlog folded the same way. The group's state is these rows, written
-- in the daemon's transaction with the alerts, so a restart neither loses
-- nor doubles a group's notification.
--
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt with the
-- new kind and status and the two new columns; nothing references it.
CREATE TABLE alert_deliveries_v9 (
    id                 INTEGER PRIMARY KEY,
    alert_id           TEXT NOT NULL REFERENCES alerts (id),
    notifier           TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('fire', 'retract', 'digest')),
    idempotency_key    TEXT NOT NULL,     -- derived from (alert_id, kind, notifier); a digest's from (notifier, group, first member)
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'cancelled', 'failed', 'digested')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error         TEXT,              -- never holds a secret
    created_at_ms      INTEGER NOT NULL,
    delivered_at_ms    INTEGER,
    group_key          TEXT,              -- a grouped fire (and its digest): the group it belongs to
    digest_id          INTEGER REFERENCES alert_deliveries_v9 (id), -- a 'digested' fire: the digest that carried it
    UNIQUE (alert_id, notifier, kind)
);
INSERT INTO alert_deliveries_v9 (id, alert_id, notifier, kind, idempotency_key, status, attempts,
        next_attempt_at_ms, last_error, created_at_ms, delivered_at_ms)
    SELECT id, alert_id, notifier, kind, idempotency_key, status, attempts,
        next_attempt_at_ms, last_error, created_at_ms, delivered_at_ms
    FROM alert_deliveries;
DROP TABLE alert_deliveries;
ALTER TABLE alert_deliveries_v9 RENAME TO alert_deliveries;
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX alert_deliveries_by_status
    ON alert_deliveries (status, notifier, created_at_ms, delivered_at_ms, attempts);
-- The held fires (few: a group's are folded at its flush), read per group
-- when an alert joins it and by the dispatcher's fold on every pass, which
-- must not scan the rest of the queue.
CREATE INDEX alert_deliveries_held
    ON alert_deliveries (notifier, group_key, next_attempt_at_ms)
    WHERE status = 'pending' AND kind = 'fire' AND group_key IS NOT NULL;
-- A group's recent notifications (for group_interval), newest last.
CREATE INDEX alert_deliveries_by_group
    ON alert_deliveries (notifier, group_key, created_at_ms) WHERE group_key IS NOT NULL;
CREATE INDEX alert_deliveries_by_digest ON alert_deliveries (digest_id) WHERE digest_id IS NOT NULL;
