-- Integer serials of functions, for front doors whose ids are numbers. The highest given is
-- kept in `serials`, so a deleted function's serial is never given again. Existing functions
-- are numbered in the order they were stored.
ALTER TABLE functions ADD COLUMN serial INTEGER;
UPDATE functions SET serial = (SELECT COUNT(*) FROM functions f WHERE f.rowid <= functions.rowid);
UPDATE functions SET data = json_set(data, '$.serial', serial);
CREATE UNIQUE INDEX functions_by_serial ON functions (serial);
CREATE TABLE serials (
    name TEXT PRIMARY KEY NOT NULL,
    latest INTEGER NOT NULL
);
INSERT INTO serials (name, latest) SELECT 'functions', COALESCE(MAX(serial), 0) FROM functions;

-- Edge applications and what belongs to them. Ids are integers (AUTOINCREMENT: never given
-- again); deleting an application takes its instances and rules along and unbinds its domains
-- (the store clears `application_id` and the JSON's field together).
CREATE TABLE edge_applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_applications_by_namespace ON edge_applications (namespace_id, id);

-- A function may not be deleted while an instance runs it (no cascade: the store says which).
CREATE TABLE edge_instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL REFERENCES edge_applications(id) ON DELETE CASCADE,
    function_id TEXT NOT NULL REFERENCES functions(id),
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_instances_by_application ON edge_instances (application_id, id);
CREATE INDEX edge_instances_by_function ON edge_instances (function_id);

CREATE TABLE edge_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL REFERENCES edge_applications(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_rules_by_application ON edge_rules (application_id, position, id);

CREATE TABLE edge_domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    application_id INTEGER REFERENCES edge_applications(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_domains_by_namespace ON edge_domains (namespace_id, id);
CREATE INDEX edge_domains_by_application ON edge_domains (application_id);

-- A host name routes to at most one edge domain on the whole server.
CREATE TABLE edge_hostnames (
    hostname TEXT PRIMARY KEY NOT NULL,
    domain_id INTEGER NOT NULL REFERENCES edge_domains(id) ON DELETE CASCADE
);
CREATE INDEX edge_hostnames_by_domain ON edge_hostnames (domain_id);
