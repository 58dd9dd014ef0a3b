-- One row per search, written in the same round trip as the search.
CREATE TABLE vector_search_logs (
    id bigserial PRIMARY KEY,
    query_vector {{vector_type}}({{dims}}),
    result_ids text[] NOT NULL DEFAULT '{}',
    scores real[] NOT NULL DEFAULT '{}',
    user_id text,
    search_type text NOT NULL,
    filter jsonb,
    k integer NOT NULL,
    took_ms real,
    "timestamp" timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX vector_search_logs_timestamp ON vector_search_logs ("timestamp");
CREATE INDEX vector_search_logs_user_id ON vector_search_logs (user_id);
