-- `/metrics` now also reads each notifier's attempts, retries and failed
-- attempts (sums over `attempts`) in the grouped read of the deliveries:
-- the covering index of 0006 gains the column, so the scrape still reads
-- the index and not the wide rows.
DROP INDEX alert_deliveries_by_status;
CREATE INDEX alert_deliveries_by_status
    ON alert_deliveries (status, notifier, created_at_ms, delivered_at_ms, attempts);
