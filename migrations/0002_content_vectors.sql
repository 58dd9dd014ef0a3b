-- The searchable items. `metadata` is always a JSON object: the filter language reads its keys,
-- plus the `media_type` and `content_id` columns.
CREATE TABLE content_vectors (
    id text PRIMARY KEY CHECK (id <> ''),
    vector {{vector_type}}({{dims}}) NOT NULL,
    content_id integer,
    media_type text NOT NULL CHECK (media_type IN ('movie', 'tv')),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- ruvector does not enforce the dimension of ruvector(n); pgvector does, this costs it nothing.
    CONSTRAINT content_vectors_vector_dims CHECK ({{vector_dims_fn}}(vector) = {{dims}})
);

CREATE INDEX content_vectors_vector_hnsw ON content_vectors USING hnsw (vector {{cosine_opclass}});
CREATE INDEX content_vectors_content_id ON content_vectors (content_id);
CREATE INDEX content_vectors_media_type ON content_vectors (media_type);
CREATE INDEX content_vectors_metadata ON content_vectors USING gin (metadata);
