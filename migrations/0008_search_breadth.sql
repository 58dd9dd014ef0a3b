-- What `target_recall` learned for each class of search (k up to 10, up to 100, more; filtered
-- or not): the breadth that class searches with, and the recall samples taken at it. Native
-- nodes on this database write it as they learn and read it when they start; the Spin
-- component, which keeps no state and does not sample, reads a class's `ef` before each search.
CREATE TABLE vecgate_search_breadth (
    k_bucket text NOT NULL CHECK (k_bucket IN ('10', '100', 'more')),
    filtered boolean NOT NULL,
    ef integer NOT NULL CHECK (ef > 0),
    samples integer NOT NULL DEFAULT 0 CHECK (samples >= 0),
    recall_sum double precision NOT NULL DEFAULT 0,
    recall_sq_sum double precision NOT NULL DEFAULT 0,
    failing integer NOT NULL DEFAULT 0,
    unreachable boolean NOT NULL DEFAULT false,
    target double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (k_bucket, filtered)
);
