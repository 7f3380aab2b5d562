-- Coverage runs (`argus coverage`): the figure over time, so a drop is
-- visible. One row per run; `breakdown` is the run's per-contract figures
-- as JSON (argus-coverage's `Breakdown`), kept so the next run can say
-- which contract and which function lost its rule.
CREATE TABLE coverage_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    -- The figure in hundredths of a percent (6250 = 62.50 %).
    figure_bp INTEGER NOT NULL,
    watched_weight INTEGER NOT NULL,
    total_weight INTEGER NOT NULL,
    contracts INTEGER NOT NULL,
    contracts_without_rule INTEGER NOT NULL,
    privileged_unwatched INTEGER NOT NULL,
    rules INTEGER NOT NULL,
    breakdown TEXT NOT NULL
);
CREATE INDEX coverage_runs_at ON coverage_runs (at_ms);
