-- Servers sharing one database. Each writes its row every few seconds (`heartbeat_at`, Unix
-- milliseconds); one whose row is older than the
-- lease is gone, and what it held is claimed by the others.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL,
    data TEXT NOT NULL
);

-- The node holding a queued or running execution (NULL: none; SQLite's single server does
-- not write it).
ALTER TABLE executions ADD COLUMN owner TEXT;
