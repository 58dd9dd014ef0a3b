-- One learned taste vector per user. `version` grows by one on every write, so updates can
-- compare-and-swap (`... WHERE version = $old`).
CREATE TABLE user_preference_vectors (
    user_id text PRIMARY KEY CHECK (user_id <> ''),
    vector {{vector_type}}({{dims}}) NOT NULL,
    confidence double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    genre_affinities jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(genre_affinities) = 'object'),
    version bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_preference_vectors_vector_dims CHECK ({{vector_dims_fn}}(vector) = {{dims}})
);
