-- Secrets are sealed from now on (`seal.rs`: XChaCha20-Poly1305 under a master key that lives
-- outside the database). SQL cannot encrypt, so this marks rows written before as plaintext;
-- the store seals them when it next opens with a key and sets the mark to `sealed`.
CREATE TABLE store_meta (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO store_meta (name, value) VALUES ('secrets_format', 'plain');

-- The master keys values may be sealed with, each with a value sealed under it alone, so a
-- wrong key is refused at open rather than found out at a function's first load. A key's row
-- goes once a rotation has resealed everything under its successor.
CREATE TABLE sealing_keys (
    id INTEGER PRIMARY KEY NOT NULL,
    check_value TEXT NOT NULL
);

-- Every change made through any API, with who, from where and how it ended. Append-only:
-- the triggers refuse any edit or deletion, whatever connection tries it.
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    token_id TEXT,
    action TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id TEXT,
    namespace_id TEXT,
    client_addr TEXT,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    error_code TEXT
);
CREATE INDEX audit_by_resource ON audit (resource_kind, resource_id, seq);
CREATE INDEX audit_by_token ON audit (token_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
