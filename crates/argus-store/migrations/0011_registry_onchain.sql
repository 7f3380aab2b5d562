-- The registry following the chain (issue 14).
--
-- `registry_enrolments`: each contract the daemon enrolled from the chain (a
-- watched deployer's creation, a watched factory's event, a CREATE2 through
-- a known deployer), with the block that made it, so a reorg that orphans
-- that block removes the entry again.
CREATE TABLE registry_enrolments (
    chain_id     INTEGER NOT NULL,
    address      TEXT NOT NULL,
    entry_id     INTEGER NOT NULL REFERENCES registry_entries (id),
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    tx_hash      TEXT NOT NULL,
    -- Which policy enrolled it (`registry.enrol[i]`'s name).
    policy       TEXT NOT NULL,
    -- keccak256 of the runtime code when it was enrolled.
    code_hash    TEXT,
    PRIMARY KEY (chain_id, address)
);
CREATE INDEX registry_enrolments_by_block ON registry_enrolments (chain_id, block_hash);
CREATE INDEX registry_enrolments_by_policy ON registry_enrolments (chain_id, policy);

-- Planned (deterministic) deployments: the entry exists in
-- `registry_entries` before any code is at its address; this row says how
-- the address was derived, what code is expected there and whether code
-- was seen (and at which block, so a reorg takes the sighting back).
CREATE TABLE registry_planned (
    entry_id           INTEGER PRIMARY KEY REFERENCES registry_entries (id),
    chain_id           INTEGER NOT NULL,
    address            TEXT NOT NULL,
    derivation         TEXT NOT NULL,
    expected_code_hash TEXT,
    status             TEXT NOT NULL CHECK (status IN ('planned', 'deployed')),
    seen_block_number  INTEGER,
    seen_block_hash    TEXT,
    seen_code_hash     TEXT,
    created_at         TEXT NOT NULL,
    UNIQUE (chain_id, address)
);

-- Contracts created on a followed chain by deployers no enrolment policy
-- watches: not enrolled, remembered so that one of them calling a contract
-- of ours is reported.
CREATE TABLE registry_foreign_creations (
    chain_id     INTEGER NOT NULL,
    address      TEXT NOT NULL,
    deployer     TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    tx_hash      TEXT NOT NULL,
    PRIMARY KEY (chain_id, address)
) WITHOUT ROWID;
CREATE INDEX registry_foreign_creations_by_block ON registry_foreign_creations (chain_id, block_hash);

-- The runtime code hash of an imported build output (`deployedBytecode`),
-- so a contract enrolled from the chain with that code takes its ABI.
CREATE TABLE registry_code_hashes (
    entry_id  INTEGER PRIMARY KEY REFERENCES registry_entries (id),
    code_hash TEXT NOT NULL
);
CREATE INDEX registry_code_hashes_by_hash ON registry_code_hashes (code_hash);
