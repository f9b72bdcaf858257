-- Service API keys, created with the admin token (POST /api/v1/api-keys). Only the key's
-- SHA-256 is kept (the key is 256 random bits, shown once when it is created), with a
-- short prefix for display. A revoked key keeps its row, for the record.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    prefix     text NOT NULL,                 -- "hk_" and the key's next 8 characters
    key_sha256 text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    scopes     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz                    -- set by DELETE /api/v1/api-keys/{id}
);

-- Every node reads the active keys every auth.keys_refresh_ms; the list pages through them.
CREATE INDEX api_keys_active_idx ON api_keys (created_at, id) WHERE revoked_at IS NULL;
