-- Crash detection for an index that is not WAL-logged (ruvector's HNSW: edge/src/sql/RUVECTOR.md,
-- "After a crash"). Crash recovery empties UNLOGGED tables and a clean restart keeps them, so an
-- empty sentinel means the server crashed since the index was last known good. vecgate checks it
-- before any statement that can reach the index and refills it after rebuilding the index
-- (edge/src/sql/sentinel.rs). pgvector's index is WAL-logged: there the table is never read.
CREATE UNLOGGED TABLE vecgate_index_sentinel (
    id integer PRIMARY KEY CHECK (id = 1)
);
INSERT INTO vecgate_index_sentinel (id) VALUES (1);
