-- What each instance competes for: the names of the leases it runs
-- (newline-separated), so the instances can share the work out evenly: a
-- lease goes first to the live instance that runs it and holds the fewest
-- leases, and an instance holding two more than such a peer hands one over.
ALTER TABLE instances ADD COLUMN work TEXT NOT NULL DEFAULT '';
