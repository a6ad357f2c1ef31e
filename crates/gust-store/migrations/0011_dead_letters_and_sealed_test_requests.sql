-- Dead letters are a few rows among many executions: this index holds only them, so a
-- function's dead letters are listed and counted without reading its other executions. The
-- store's queries name `dead_letter = 1` as a literal, which is what lets the planner use it.
CREATE INDEX executions_dead_letters ON executions (function_id, id) WHERE dead_letter = 1;

-- A saved test request's headers and body, sealed as secrets are: `{"request": "sealed:…"}`.
-- `{}` on rows written before, which the store seals when it opens.
ALTER TABLE test_requests ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';
