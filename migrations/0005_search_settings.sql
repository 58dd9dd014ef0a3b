-- Index search settings of this database, for every session (replicas included: the setting is
-- a catalog row). pgvector: HNSW ef_search 200 instead of 40, which lost recall@10 on the
-- movies (0.99 → 1.00), and iterative scans, so a filtered search keeps walking the index until
-- it has its rows instead of falling back to an exact scan. ruvector: nothing (its scan size is
-- fixed per index, edge/src/sql/RUVECTOR.md).
{{search_settings}}
