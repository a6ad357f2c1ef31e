-- Sign-in sessions of the web console. A row holds the sha256 of the session's random id (the
-- browser's cookie holds the id itself), the token the session acts as (its id only: no secret
-- of the token is kept), and when the session ends (Unix milliseconds). Revoking the token
-- ends its sessions with it.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
