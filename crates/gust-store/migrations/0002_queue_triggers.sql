-- Executions are rebuilt for two reasons.
-- 1. Async executions wait in this table itself (status `queued`), so the queue is durable with
--    no second table to keep in step; the server holds the due times in memory. Hence the
--    idempotency key and the dead-letter mark.
-- 2. Every invocation writes a row, so each B-tree a row lands in costs on the request path's
--    budget. Rows now live in a rowid table (appended in order) with one index, on
--    (function_id, id), that every read uses (lists and gets are per function), instead of a
--    text primary key plus a function index: two trees to write instead of three.
CREATE TABLE executions_v2 (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    function_id TEXT NOT NULL,
    status TEXT NOT NULL,
    trigger TEXT NOT NULL,
    data TEXT NOT NULL,
    idempotency_key TEXT,
    dead_letter INTEGER NOT NULL DEFAULT 0
);
INSERT INTO executions_v2 (id, function_id, status, trigger, data)
    SELECT id, function_id, status, trigger, data FROM executions ORDER BY id;
DROP TABLE executions;
ALTER TABLE executions_v2 RENAME TO executions;
CREATE UNIQUE INDEX executions_by_function ON executions (function_id, id);
CREATE UNIQUE INDEX executions_idempotency ON executions (function_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The queue in acceptance order, and the runs a crash interrupted: both small partial indexes.
CREATE INDEX executions_queued ON executions (id) WHERE status = 'queued';
CREATE INDEX executions_running ON executions (id) WHERE status = 'running';

CREATE TABLE triggers (
    id TEXT PRIMARY KEY NOT NULL,
    namespace_id TEXT NOT NULL,
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX triggers_by_function ON triggers (function_id, id);
