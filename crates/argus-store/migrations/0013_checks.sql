-- Scheduled checks (argus-checks): every run and result, kept as compliance
-- evidence; the approved configuration hashes; the rotation notices already
-- sent (once per key generation and stage); where each schedule last fired.
CREATE TABLE check_runs (
    id INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER NOT NULL,
    selection TEXT NOT NULL,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    ok INTEGER NOT NULL,
    warn INTEGER NOT NULL,
    fail INTEGER NOT NULL,
    skipped INTEGER NOT NULL
);
CREATE INDEX check_runs_started ON check_runs (started_ms);

CREATE TABLE check_results (
    run_id INTEGER NOT NULL REFERENCES check_runs (id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    details TEXT NOT NULL,
    evidence TEXT NOT NULL,
    alert_ids TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE INDEX check_results_name ON check_results (name, run_id);

CREATE TABLE config_approvals (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    hash TEXT NOT NULL,
    files TEXT NOT NULL
);

CREATE TABLE check_schedule (
    cadence TEXT PRIMARY KEY,
    last_fired_ms INTEGER NOT NULL
);
