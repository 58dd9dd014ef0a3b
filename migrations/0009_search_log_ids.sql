-- Search-log rows written in batches (a `--local-index` node's buffer) carry the id their node
-- gave them: a batch sent again after an ambiguous failure (committed, but the reply lost with
-- the connection) inserts nothing twice. Rows written with their search have none.
ALTER TABLE vector_search_logs ADD COLUMN log_id uuid;
CREATE UNIQUE INDEX vector_search_logs_log_id ON vector_search_logs (log_id);
