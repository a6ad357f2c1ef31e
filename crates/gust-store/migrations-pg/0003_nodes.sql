-- Servers sharing one database. Each writes its row every few seconds (`heartbeat_at`, Unix
-- milliseconds); one whose row is older than the
-- lease is gone, and what it held is claimed by the others.
CREATE TABLE nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL,
    data TEXT NOT NULL
);

-- The node holding a queued or running execution: the one that accepted it, or that claimed
-- it after its holder's heartbeat stopped.
ALTER TABLE executions ADD COLUMN owner TEXT COLLATE "C";
