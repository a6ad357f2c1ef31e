-- Async executions wait in the executions table itself (status `queued`), so the queue is
-- durable with no second table to keep in step; the server holds the due times in memory.
ALTER TABLE executions ADD COLUMN idempotency_key TEXT;
ALTER TABLE executions ADD COLUMN dead_letter INTEGER NOT NULL DEFAULT 0;
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
