-- The transactions the bots say they submitted (issue 14, "key used
-- elsewhere"): read from a bot's JSON-lines file by the chain task, or
-- posted to `POST /api/bots/{bot}/submissions`. A transaction from a bot's
-- wallet is judged against this table (and against the transactions
-- Argus's responders signed, `incident_transactions`), by hash; rows older
-- than the retention are pruned by the chain task.
CREATE TABLE bot_submissions (
    tx_hash     TEXT PRIMARY KEY,    -- 0x + 64 lowercase hex digits
    bot         TEXT NOT NULL,       -- the bot of `incidents.bots`
    sender      TEXT NOT NULL,       -- 0x + 40 lowercase hex digits, as reported
    nonce       INTEGER,             -- as reported (optional)
    chain       TEXT,                -- as reported (optional)
    via         TEXT NOT NULL CHECK (via IN ('file', 'api')),
    received_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX bot_submissions_by_time ON bot_submissions (received_ms);
