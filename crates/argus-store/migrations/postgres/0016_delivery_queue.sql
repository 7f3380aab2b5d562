-- The dispatcher's reads, each bounded by what it takes rather than by the
-- queue's length: a burst leaves thousands of rows pending, and the
-- dispatcher reads on every pass (one pass per few finished sends).
-- - One notifier's queue, in due order: its claim and its next due time.
--   It replaces the queue of every notifier at once, which made a claim for
--   a quiet notifier step over a busy one's due rows.
DROP INDEX alert_deliveries_due;
CREATE INDEX alert_deliveries_queue
    ON alert_deliveries (notifier, next_attempt_at_ms) WHERE status = 'pending';
-- - The held fires whose group's flush time came (a held fire's next attempt
--   is its group's flush), so the fold looks only at groups that are due.
CREATE INDEX alert_deliveries_held_due
    ON alert_deliveries (next_attempt_at_ms, notifier, group_key)
    WHERE status = 'pending' AND kind = 'fire' AND group_key IS NOT NULL;
-- - A group's held fires, and how many a notifier holds (its backlog is
--   what it has pending less what it holds): with every column the reads
--   name, they read the index alone, not one table row per held fire.
DROP INDEX alert_deliveries_held;
CREATE INDEX alert_deliveries_held
    ON alert_deliveries (notifier, group_key, next_attempt_at_ms, attempts, kind, status)
    WHERE status = 'pending' AND kind = 'fire' AND group_key IS NOT NULL;
