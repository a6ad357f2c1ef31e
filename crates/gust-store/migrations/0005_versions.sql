-- Versions of functions: immutable snapshots, numbered from 1 per function. Secrets of the
-- snapshot have their own column, as a function's do. Deleting the function takes them along.
CREATE TABLE versions (
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    deployment_id TEXT NOT NULL,
    data TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (function_id, number)
);
CREATE INDEX versions_by_deployment ON versions (deployment_id);

-- The highest version number a function has given, so numbers of deleted versions are not
-- given again.
CREATE TABLE version_numbers (
    function_id TEXT PRIMARY KEY NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    latest INTEGER NOT NULL
);

-- Aliases: a name per namespace pointing at a function and one of its versions (`version`
-- NULL: the function's current configuration). The version must exist, and cannot be deleted
-- while an alias points at it (checked at the end of each statement, so deleting the function
-- takes both along).
CREATE TABLE aliases (
    id TEXT PRIMARY KEY NOT NULL,
    namespace_id TEXT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    version INTEGER,
    data TEXT NOT NULL,
    UNIQUE (namespace_id, name),
    FOREIGN KEY (function_id, version) REFERENCES versions (function_id, number)
);
CREATE INDEX aliases_by_function ON aliases (function_id, version);
