-- API tokens (argus-server's `auth::tokens`): who may call the HTTP API and
-- in which role. The token text is `argus_<id>_<secret>`; only an Argon2id
-- hash of the secret is kept (PHC string), so a copy of this database lets
-- nobody in. A TOTP secret, when enrolled, is sealed (ChaCha20-Poly1305)
-- under the vault secret `argus.totp-key`, the token id as associated data.
CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    secret_hash     TEXT NOT NULL,
    totp_sealed     TEXT,
    created_at_ms   INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    expires_at_ms   INTEGER,
    revoked_at_ms   INTEGER,
    last_used_at_ms INTEGER
);
CREATE INDEX api_tokens_by_name ON api_tokens (name);
