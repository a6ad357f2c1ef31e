-- What each function did, minute by minute: counts, a histogram of durations (JSON: fixed
-- log-scale buckets, `gust_core::metrics::DurationHistogram`) and the most instances seen.
-- `minute` is the minute's start in Unix seconds. Kept 8 days (the retention task prunes by
-- `minute`); goes with its function.
CREATE TABLE function_minutes (
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    namespace_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    cold_starts INTEGER NOT NULL,
    instances INTEGER NOT NULL,
    durations TEXT NOT NULL,
    PRIMARY KEY (function_id, minute)
) WITHOUT ROWID;
CREATE INDEX function_minutes_by_namespace ON function_minutes (namespace_id, minute);
CREATE INDEX function_minutes_by_minute ON function_minutes (minute);

-- Saved test requests of a function, by a name unique per function; go with their function.
CREATE TABLE test_requests (
    function_id TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (function_id, name)
);
