-- Custom domains of functions. A host name routes to one function on the whole server, hence
-- the unique index; deleting the function (or its namespace) takes its domains with it.
CREATE TABLE domains (
    id TEXT PRIMARY KEY NOT NULL,
    hostname TEXT NOT NULL,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX domains_by_hostname ON domains (hostname);
CREATE INDEX domains_by_function ON domains (function_id, id);
CREATE INDEX domains_by_namespace ON domains (namespace_id, id);
