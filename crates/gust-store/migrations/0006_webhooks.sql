-- Webhooks: URLs that start an async execution of a function without a token. Each belongs to
-- one function, and goes with it (or with its namespace) when that is deleted.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE INDEX webhooks_by_function ON webhooks (function_id, id);
CREATE INDEX webhooks_by_namespace ON webhooks (namespace_id, id);
