-- The node holding an unfinished deployment's build (NULL: none yet). A build whose node's
-- heartbeat stopped is claimed by another.
ALTER TABLE deployments ADD COLUMN builder TEXT COLLATE "C";
