-- Least-privilege roles for vecgate (README, "Deploy"). Run as the schema's owner, after
-- `vecgate migrate` (the one command that needs DDL), in the vecgate database (safe to re-run):
--   psql "$OWNER_URL" -v ON_ERROR_STOP=1 -f deploy/roles.sql
-- then give each role a password (ALTER ROLE vecgate_app PASSWORD '…') and put it in the nodes'
-- database URLs. Tests run this file as written (tests/tests/api_postgres.rs).

-- vecgate_app: `vecgate serve` writers, `import` and `prune-logs`. Reads and writes rows; no DDL.
-- content_changes is written by content_vectors' triggers (which run as the writer) and pruned
-- by the nodes that follow it. vecgate_index_sentinel is only read (ruvector's crash check).
DO $$ BEGIN CREATE ROLE vecgate_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA public TO vecgate_app;
GRANT SELECT ON schema_migrations, vecgate_instance, vecgate_index_sentinel TO vecgate_app;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON content_vectors, user_preference_vectors, vector_search_logs, content_changes
    TO vecgate_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO vecgate_app;
-- What target_recall learned per class of search: kept by writers, read by every node.
GRANT SELECT, INSERT, UPDATE ON vecgate_search_breadth TO vecgate_app;

-- vecgate_reader: nodes on a read replica (`database_read_urls`) and `--local-index` nodes that
-- should never change content. They read everything, write the search-log rows their searches
-- produce (and age them out), and prune the change feed they follow. Writes sent to such a node
-- get 503 "this node's database role may not make this change".
DO $$ BEGIN CREATE ROLE vecgate_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA public TO vecgate_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO vecgate_reader;
GRANT INSERT, DELETE ON vector_search_logs TO vecgate_reader;
GRANT DELETE ON content_changes TO vecgate_reader;
GRANT USAGE ON SEQUENCE vector_search_logs_id_seq TO vecgate_reader;

-- Neither role owns a table, so neither can rebuild ruvector's HNSW index after a database crash
-- (`index_rebuild = auto` needs the owner): run one node as the owner for that, or rebuild by
-- hand (README, "After a database crash"). Until then searches use the exact fenced scan.
