-- Chain follower state (owned by argus-chain::db).
--
-- One checkpoint per chain: the next block the follower delivers. It moves
-- only inside the transaction that stores the alerts of the blocks it
-- passes, which is what makes delivery exactly-once.
CREATE TABLE chain_checkpoints (
    chain_id   INTEGER PRIMARY KEY,
    next_block INTEGER NOT NULL CHECK (next_block >= 0)
);

-- The recent canonical blocks the follower delivered, enough of them to find
-- the common ancestor of a reorg (max_reorg_depth plus a margin); older rows
-- are pruned as the chain advances. Hashes are 0x-prefixed lowercase hex.
CREATE TABLE chain_blocks (
    chain_id    INTEGER NOT NULL,
    number      INTEGER NOT NULL CHECK (number >= 0),
    hash        TEXT NOT NULL CHECK (length(hash) = 66),
    parent_hash TEXT NOT NULL CHECK (length(parent_hash) = 66),
    timestamp   INTEGER NOT NULL,
    PRIMARY KEY (chain_id, number)
) WITHOUT ROWID;
