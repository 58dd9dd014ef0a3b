-- The vector extension of the dialect: ruvector (ruvector-postgres) or vector (pgvector).
CREATE EXTENSION IF NOT EXISTS {{extension}};
