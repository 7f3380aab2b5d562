-- Recent signal samples (owned by the daemon's signal task in argus-cli).
--
-- The samples of signals that windowed rules read ("> 3 in 1 minute",
-- "for 1 minute"), kept for the longest such window, so that a restart
-- refills the windows instead of starting them empty. Written in the same
-- transaction as the alerts they led to; pruned as time passes.
CREATE TABLE signal_samples (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    value  REAL NOT NULL,
    labels TEXT NOT NULL,   -- JSON object of strings
    at_ms  INTEGER NOT NULL -- milliseconds since the Unix epoch
);
CREATE INDEX signal_samples_by_time ON signal_samples (at_ms);

-- Where each log source of `signals.logs` has read up to: the file's inode
-- and the offset of the first byte not yet part of a whole line. Moved in
-- the transaction that stores what its lines made, so a crash re-reads
-- exactly the lines whose signals were not stored.
CREATE TABLE signal_log_positions (
    source TEXT PRIMARY KEY,   -- the path as configured
    inode  INTEGER NOT NULL,
    offset INTEGER NOT NULL CHECK (offset >= 0)
) WITHOUT ROWID;
