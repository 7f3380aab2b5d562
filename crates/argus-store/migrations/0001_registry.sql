-- The deployments registry.
--
-- One row per contract. A deployment has a chain and an address and is keyed
-- by them; an artifact (an interface known only from build output) has
-- neither and is keyed by its label. Removing an entry is a soft delete:
-- `removed_at` is set and the row, its ABI versions and its history stay.
CREATE TABLE registry_entries (
    id             INTEGER PRIMARY KEY,
    chain_id       INTEGER,
    address        TEXT,
    label          TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('deployment', 'artifact')),
    source_format  TEXT NOT NULL,
    source_path    TEXT NOT NULL,
    implementation TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    removed_at     TEXT,
    CHECK ((kind = 'deployment') = (address IS NOT NULL AND chain_id IS NOT NULL)),
    CHECK (kind = 'deployment' OR (address IS NULL AND chain_id IS NULL))
);

CREATE UNIQUE INDEX registry_entries_by_address
    ON registry_entries (chain_id, address) WHERE kind = 'deployment';
CREATE UNIQUE INDEX registry_entries_artifact_label
    ON registry_entries (label) WHERE kind = 'artifact';
-- Labels are unique per chain among live deployments.
CREATE UNIQUE INDEX registry_entries_live_label
    ON registry_entries (chain_id, label) WHERE kind = 'deployment' AND removed_at IS NULL;
CREATE INDEX registry_entries_implementation
    ON registry_entries (chain_id, implementation) WHERE implementation IS NOT NULL;

CREATE TABLE registry_tags (
    entry_id INTEGER NOT NULL REFERENCES registry_entries (id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (entry_id, tag)
) WITHOUT ROWID;

-- Every distinct ABI ever imported for an entry, numbered from 1.
CREATE TABLE registry_abi_versions (
    entry_id      INTEGER NOT NULL REFERENCES registry_entries (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL CHECK (version >= 1),
    abi_hash      TEXT NOT NULL,
    abi_json      TEXT NOT NULL,
    source_format TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    imported_at   TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
);

-- The change feed: the monitor reads it to notice new entries at once.
CREATE TABLE registry_changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    time     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES registry_entries (id),
    details  TEXT NOT NULL
);
