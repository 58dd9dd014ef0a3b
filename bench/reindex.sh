#!/usr/bin/env bash
# What rebuilding ruvector's HNSW index costs (edge/src/sql/RUVECTOR.md, "After a crash"):
# a throwaway PostgreSQL 15 cluster with ruvector, `content_vectors` as migration 0002 makes it
# (384 dimensions), N synthetic rows (uniform in [-0.5, 0.5)), then, per N:
#   build   CREATE INDEX … USING hnsw, what vecgate's rebuild runs (under another name)
#   swap    DROP INDEX old + ALTER INDEX … RENAME, in one transaction (the rebuild's last step)
#   exact   one fenced exact top-10 scan, what a search costs while the index is suspect
#   size    the index on disk (one 8 KB page per row)
# Not run by CI: at 100k rows the build takes minutes. Needs root (the cluster runs as
# `postgres`) and ruvector installed (scripts/install-db-deps.sh).
# Usage: bash bench/reindex.sh [ROWS...]        (default: 3200 100000)
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
[ -f /usr/lib/postgresql/15/lib/ruvector.so ] || {
  echo "ruvector is not installed; run scripts/install-db-deps.sh" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || { echo "run as root (the cluster runs as postgres)" >&2; exit 1; }
ROWS=("$@")
[ ${#ROWS[@]} -gt 0 ] || ROWS=(3200 100000)

DIR=$(mktemp -d /tmp/vecgate-reindex-XXXXXX)
chown postgres:postgres "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
runuser -u postgres -- "$BIN/initdb" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
  -D "$DIR/data" >/dev/null
cat >"$DIR/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = off
EOF
chown postgres:postgres "$DIR/data/postgresql.auto.conf"
runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null

sql() { "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
seconds() { # seconds taken by one statement
  local start end
  start=$(date +%s.%N)
  sql -c "$1" >/dev/null
  end=$(date +%s.%N)
  printf '%.2f' "$(echo "$end - $start" | bc)"
}

sql -c "CREATE EXTENSION ruvector"
echo "| rows | build (s) | swap (s) | exact top-10 (s) | index size |"
echo "|---|---|---|---|---|"
for n in "${ROWS[@]}"; do
  sql -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS content_vectors" \
    -c "CREATE TABLE content_vectors (id text PRIMARY KEY, vector ruvector(384) NOT NULL,
          metadata jsonb NOT NULL DEFAULT '{}')" \
    -c "INSERT INTO content_vectors (id, vector)
        SELECT 'r' || g, (SELECT '[' || string_agg((random() - 0.5)::real::text, ',') || ']'
                          FROM generate_series(1, 384) WHERE g > 0)::ruvector
        FROM generate_series(1, $n) g" \
    -c "CREATE INDEX content_vectors_vector_hnsw ON content_vectors USING hnsw (vector ruvector_cosine_ops)" \
    -c "VACUUM ANALYZE content_vectors" -c "CHECKPOINT"
  build=$(seconds "CREATE INDEX content_vectors_vector_hnsw_rebuild ON content_vectors
                   USING hnsw (vector ruvector_cosine_ops)")
  swap=$(seconds "BEGIN; DROP INDEX content_vectors_vector_hnsw;
                  ALTER INDEX content_vectors_vector_hnsw_rebuild RENAME TO content_vectors_vector_hnsw;
                  COMMIT")
  exact=$(seconds "SELECT id FROM (SELECT id, vector <=> (SELECT vector FROM content_vectors
                   WHERE id = 'r1') AS d FROM content_vectors OFFSET 0) s ORDER BY d LIMIT 10")
  size=$(sql -c "SELECT pg_size_pretty(pg_relation_size('content_vectors_vector_hnsw'))")
  echo "| $n | $build | $swap | $exact | $size |"
done
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
