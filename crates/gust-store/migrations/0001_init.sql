-- Each resource is a JSON document in `data`, with the columns we look up, sort or
-- constrain by kept beside it. New fields need no migration; new lookups do.
-- Secrets sit in their own column: the resource's JSON form always masks them.

CREATE TABLE namespaces (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE functions (
    id TEXT PRIMARY KEY NOT NULL,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id),
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '{}',
    UNIQUE (namespace_id, name)
);

CREATE TABLE deployments (
    id TEXT PRIMARY KEY NOT NULL,
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX deployments_by_function ON deployments (function_id, id);
CREATE INDEX deployments_unfinished ON deployments (status) WHERE status IN ('waiting', 'building');

-- No foreign key: executions are written in batches off the request path and may
-- outlive a race with the deletion of their function; deletion removes them explicitly.
CREATE TABLE executions (
    id TEXT PRIMARY KEY NOT NULL,
    function_id TEXT NOT NULL,
    status TEXT NOT NULL,
    trigger TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX executions_by_function ON executions (function_id, id);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
