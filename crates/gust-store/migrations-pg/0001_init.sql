-- The PostgreSQL schema: the same tables, keys and indexes as SQLite's `migrations/` after
-- all of them, in one file since no database predates it.
--
-- Each resource is a JSON document in `data`, with the columns we look up, sort or constrain
-- by kept beside it. `data` is `text`, not `jsonb`: rows are read and written whole, by serde,
-- and execution records arrive as the exact bytes the writer made (no parsing on insert, read
-- back with no conversion); the few queries that look inside a document cast it to `jsonb`.
-- Keys are compared byte by byte (`COLLATE "C"`): ids sort by time that way, whatever the
-- database's locale, and cursors rely on it.

CREATE TABLE namespaces (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE,
    data TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '{}'
);

-- `serial`: integer ids for front doors whose ids are numbers; the highest given is kept in
-- `serials`, so a deleted function's serial is never given again.
CREATE TABLE functions (
    id TEXT COLLATE "C" PRIMARY KEY,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id),
    name TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '{}',
    serial BIGINT,
    UNIQUE (namespace_id, name)
);
CREATE UNIQUE INDEX functions_by_serial ON functions (serial);
CREATE TABLE serials (
    name TEXT COLLATE "C" PRIMARY KEY,
    latest BIGINT NOT NULL
);

CREATE TABLE deployments (
    id TEXT COLLATE "C" PRIMARY KEY,
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    status TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX deployments_by_function ON deployments (function_id, id);
CREATE INDEX deployments_unfinished ON deployments (status) WHERE status IN ('waiting', 'building');
-- Deployments whose chunked upload is still in progress, for the sweep of abandoned uploads.
CREATE INDEX deployments_uploading ON deployments (status) WHERE status = 'uploading';

-- One row per invocation, and the async queue (status `queued`). No foreign key: executions
-- are written in batches off the request path and may outlive a race with the deletion of
-- their function; deletion removes them explicitly. `seq` is the order rows were (last)
-- written in, which pruning for size deletes by.
CREATE TABLE executions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL,
    function_id TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    trigger TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    idempotency_key TEXT COLLATE "C",
    dead_letter SMALLINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX executions_by_function ON executions (function_id, id);
CREATE UNIQUE INDEX executions_idempotency ON executions (function_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The queue in acceptance order, and the runs a crash interrupted: both small partial indexes.
CREATE INDEX executions_queued ON executions (id) WHERE status = 'queued';
CREATE INDEX executions_running ON executions (id) WHERE status = 'running';

CREATE TABLE tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    data TEXT NOT NULL
);

CREATE TABLE triggers (
    id TEXT COLLATE "C" PRIMARY KEY,
    namespace_id TEXT COLLATE "C" NOT NULL,
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    kind TEXT COLLATE "C" NOT NULL,
    origin TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX triggers_by_function ON triggers (function_id, id);

-- Custom domains of functions. A host name routes to one function on the whole server.
CREATE TABLE domains (
    id TEXT COLLATE "C" PRIMARY KEY,
    hostname TEXT COLLATE "C" NOT NULL,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX domains_by_hostname ON domains (hostname);
CREATE INDEX domains_by_function ON domains (function_id, id);
CREATE INDEX domains_by_namespace ON domains (namespace_id, id);

-- Versions of functions: immutable snapshots, numbered from 1 per function.
CREATE TABLE versions (
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    deployment_id TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    secrets TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (function_id, number)
);
CREATE INDEX versions_by_deployment ON versions (deployment_id);

-- The highest version number a function has given, so numbers are not given again.
CREATE TABLE version_numbers (
    function_id TEXT COLLATE "C" PRIMARY KEY REFERENCES functions(id) ON DELETE CASCADE,
    latest BIGINT NOT NULL
);

-- Aliases: a name per namespace pointing at a function and one of its versions (`version`
-- NULL: the function's current configuration). The version must exist, and cannot be deleted
-- while an alias points at it (checked at the end of each statement, so deleting the function
-- takes both along).
CREATE TABLE aliases (
    id TEXT COLLATE "C" PRIMARY KEY,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    version BIGINT,
    data TEXT NOT NULL,
    UNIQUE (namespace_id, name),
    FOREIGN KEY (function_id, version) REFERENCES versions (function_id, number)
);
CREATE INDEX aliases_by_function ON aliases (function_id, version);

CREATE TABLE webhooks (
    id TEXT COLLATE "C" PRIMARY KEY,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    data TEXT NOT NULL
);
CREATE INDEX webhooks_by_function ON webhooks (function_id, id);
CREATE INDEX webhooks_by_namespace ON webhooks (namespace_id, id);

-- Edge applications and what belongs to them. Ids come from identity columns (a sequence
-- never gives one twice); deleting an application takes its instances and rules along and
-- unbinds its domains (the store clears `application_id` and the JSON's field together).
CREATE TABLE edge_applications (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_applications_by_namespace ON edge_applications (namespace_id, id);

-- A function may not be deleted while an instance runs it (no cascade: the store says which).
CREATE TABLE edge_instances (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES edge_applications(id) ON DELETE CASCADE,
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id),
    name TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_instances_by_application ON edge_instances (application_id, id);
CREATE INDEX edge_instances_by_function ON edge_instances (function_id);

CREATE TABLE edge_rules (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES edge_applications(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_rules_by_application ON edge_rules (application_id, position, id);

CREATE TABLE edge_domains (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    namespace_id TEXT COLLATE "C" NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    application_id BIGINT REFERENCES edge_applications(id) ON DELETE SET NULL,
    name TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX edge_domains_by_namespace ON edge_domains (namespace_id, id);
CREATE INDEX edge_domains_by_application ON edge_domains (application_id);

-- A host name routes to at most one edge domain on the whole server.
CREATE TABLE edge_hostnames (
    hostname TEXT COLLATE "C" PRIMARY KEY,
    domain_id BIGINT NOT NULL REFERENCES edge_domains(id) ON DELETE CASCADE
);
CREATE INDEX edge_hostnames_by_domain ON edge_hostnames (domain_id);

-- Secrets are sealed (`seal.rs`) from the first row on: no plaintext to seal later.
CREATE TABLE store_meta (
    name TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO store_meta (name, value) VALUES ('secrets_format', 'sealed');

-- The master keys values may be sealed with, each with a value sealed under it alone, so a
-- wrong key is refused at open rather than found out at a function's first load.
CREATE TABLE sealing_keys (
    id BIGINT PRIMARY KEY,
    check_value TEXT NOT NULL
);

-- Every change made through any API, with who, from where and how it ended. Append-only:
-- the triggers refuse any edit, deletion or truncation, whatever connection tries it.
CREATE TABLE audit (
    seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at TEXT NOT NULL,
    token_id TEXT COLLATE "C",
    action TEXT NOT NULL,
    resource_kind TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C",
    namespace_id TEXT COLLATE "C",
    client_addr TEXT,
    outcome TEXT NOT NULL,
    status BIGINT NOT NULL,
    error_code TEXT
);
CREATE INDEX audit_by_resource ON audit (resource_kind, resource_id, seq);
CREATE INDEX audit_by_token ON audit (token_id, seq);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- What each function did, minute by minute: counts, a histogram of durations (JSON: fixed
-- log-scale buckets, `gust_core::metrics::DurationHistogram`) and the most instances seen.
-- `minute` is the minute's start in Unix seconds. Kept 8 days (the retention task prunes by
-- `minute`); goes with its function.
CREATE TABLE function_minutes (
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    namespace_id TEXT COLLATE "C" NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    cold_starts BIGINT NOT NULL,
    instances BIGINT NOT NULL,
    durations TEXT NOT NULL,
    PRIMARY KEY (function_id, minute)
);
CREATE INDEX function_minutes_by_namespace ON function_minutes (namespace_id, minute);
CREATE INDEX function_minutes_by_minute ON function_minutes (minute);

-- Saved test requests of a function, by a name unique per function; go with their function.
CREATE TABLE test_requests (
    function_id TEXT COLLATE "C" NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (function_id, name)
);

-- Sign-in sessions of the web console: the sha256 of the session's random id, the token it
-- acts as (its id only), and when it ends (Unix milliseconds). Revoking the token ends them.
CREATE TABLE console_sessions (
    id_hash TEXT COLLATE "C" PRIMARY KEY,
    token_id TEXT COLLATE "C" NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
