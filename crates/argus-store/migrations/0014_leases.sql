-- Leases with fencing (argus_store::lease): which instance follows a chain
-- or drives a notifier's deliveries when several share one database. The
-- epoch grows by one each time the holder changes; every write transaction
-- of a holder checks its row first and is refused on a stale epoch. Times
-- are milliseconds since the Unix epoch, by the database's clock.
CREATE TABLE leases (
    name           TEXT PRIMARY KEY,   -- follow:<chain id>, dispatch:<notifier>, ...
    holder         TEXT NOT NULL,      -- the instance id
    epoch          INTEGER NOT NULL CHECK (epoch >= 1),
    expires_at_ms  INTEGER NOT NULL,
    acquired_at_ms INTEGER NOT NULL,
    renewed_at_ms  INTEGER NOT NULL
);

-- The instances that share the database, as each last reported itself.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    version       TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    seen_at_ms    INTEGER NOT NULL
);
