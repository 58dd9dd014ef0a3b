-- The change feed `vecgate serve --local-index` follows: one row per changed content row, in
-- commit order. A statement-level trigger takes a transaction-scoped advisory lock before any
-- row changes, so writers of content_vectors commit one at a time and `seq` (allocated under the
-- lock) never becomes visible out of order: a follower that has applied every seq up to N never
-- misses a lower one later. Readers are not affected. NOTIFY wakes followers at commit.
CREATE TABLE content_changes (
    seq bigserial PRIMARY KEY,
    id text NOT NULL,
    op text NOT NULL CHECK (op IN ('upsert', 'delete', 'truncate')),
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION vecgate_content_changes_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7358204417360129837);
    RETURN NULL;
END
$$;

CREATE FUNCTION vecgate_content_changes_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO content_changes (id, op) VALUES (OLD.id, 'delete');
    ELSE
        IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
            INSERT INTO content_changes (id, op) VALUES (OLD.id, 'delete');
        END IF;
        INSERT INTO content_changes (id, op) VALUES (NEW.id, 'upsert');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION vecgate_content_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Row triggers do not fire for TRUNCATE: followers empty their index instead.
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO content_changes (id, op) VALUES ('', 'truncate');
    END IF;
    PERFORM pg_notify('vecgate_content_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER content_changes_lock
    BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON content_vectors
    FOR EACH STATEMENT EXECUTE FUNCTION vecgate_content_changes_lock();
CREATE TRIGGER content_changes_record
    AFTER INSERT OR UPDATE OR DELETE ON content_vectors
    FOR EACH ROW EXECUTE FUNCTION vecgate_content_changes_record();
CREATE TRIGGER content_changes_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON content_vectors
    FOR EACH STATEMENT EXECUTE FUNCTION vecgate_content_changes_notify();

-- Which database a local index copies: a snapshot taken from another database (or from this
-- one before it was recreated) is rebuilt, never mixed.
CREATE TABLE vecgate_instance (
    id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO vecgate_instance DEFAULT VALUES;
