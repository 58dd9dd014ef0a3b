#!/usr/bin/env bash
# Builds and installs the ruvector-postgres extension into the machine's PostgreSQL 15.
# Idempotent: does nothing when the extension's library, control file and install script are present.
set -euo pipefail

RUVECTOR_VERSION=2.0.6
PGRX_VERSION=0.12.9
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

log() { echo "[install-ruvector] $*"; }

need_apt=()
for pkg in postgresql-15 postgresql-server-dev-15 libclang-dev clang; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

sharedir=$("$PG_CONFIG" --sharedir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
if [[ -f "$sharedir/extension/ruvector.control" && -f "$sharedir/extension/ruvector--0.3.0.sql" \
      && -f "$pkglibdir/ruvector.so" ]]; then
  log "ruvector already installed"
  exit 0
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  log "cargo install cargo-pgrx@$PGRX_VERSION"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi
if [[ ! -f "$HOME/.pgrx/config.toml" ]] || ! grep -q 'pg15' "$HOME/.pgrx/config.toml"; then
  log "cargo pgrx init --pg15"
  cargo pgrx init --pg15 "$PG_CONFIG"
fi

# Fetch the published crate source through cargo (crates.io is the only source we can reach).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-ruvector"
version = "0.0.0"
edition = "2021"
[dependencies]
ruvector-postgres = { version = "=$RUVECTOR_VERSION", default-features = false }
TOML
touch "$work/fetch/src/lib.rs"
(cd "$work/fetch" && cargo fetch -q)
src=$(find "$HOME/.cargo/registry/src" -maxdepth 2 -type d -name "ruvector-postgres-$RUVECTOR_VERSION" | head -n1)
[[ -n "$src" ]] || { log "could not find ruvector-postgres-$RUVECTOR_VERSION source"; exit 1; }
cp -r "$src" "$work/ruvector"
log "building ruvector-postgres $RUVECTOR_VERSION (takes a while)"
(cd "$work/ruvector" && cargo pgrx install --release --no-default-features --features pg15 --pg-config "$PG_CONFIG")
# pgrx install leaves out the SQL install script; the crate ships it.
cp "$work/ruvector/sql/ruvector--0.3.0.sql" "$sharedir/extension/"
log "installed: $(ls "$pkglibdir"/ruvector.so "$sharedir"/extension/ruvector*)"
