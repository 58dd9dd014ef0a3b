#!/usr/bin/env bash
# Tests the demo page end to end: builds the npm package (wasm/build.sh) when its sources changed,
# builds the `vecgate` binary, installs the test project's pinned playwright-core, then runs
# tests/www with `node --test`: they start `vecgate serve --sample` on a free port (serving this
# www/ and wasm/pkg/), drive Debian's Chromium headless against it, stop the server, and save
# screenshots under tests/www/out/.
# Needs what scripts/install-wasm-deps.sh installs (wasm32 target, wasm-bindgen CLI, chromium) and
# the model files of scripts/install-model.sh, which the page's embedder loads from `vecgate serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo; echo "[www/test] $*"; }

# The package is rebuilt when anything it is built from is newer than the last build.
stamp=wasm/pkg/package.json
if [ ! -f "$stamp" ] ||
   [ -n "$(find core/src core/Cargo.toml wasm/src wasm/Cargo.toml wasm/pkg-template wasm/build.sh Cargo.lock \
             embed/src embed/Cargo.toml embed/wasm/src embed/wasm/Cargo.toml \
             -newer "$stamp" -print -quit)" ]; then
  step "bash wasm/build.sh"
  bash wasm/build.sh
else
  step "wasm/pkg is up to date"
fi

step "cargo build -p vecgate-edge --bin vecgate"
cargo build -p vecgate-edge --bin vecgate
VECGATE_BIN=$(pwd)/target/debug/vecgate
export VECGATE_BIN

# npm ci leaves node_modules/.package-lock.json equal to the lock's packages: reinstall only when
# the lock changed since.
tests_dir=tests/www
if ! cmp -s <(node -e 'const l=require(process.argv[1]); delete l.packages[""]; console.log(JSON.stringify(l.packages))' "./$tests_dir/package-lock.json") \
            <(node -e 'try { console.log(JSON.stringify(require(process.argv[1]).packages)) } catch { }' "./$tests_dir/node_modules/.package-lock.json"); then
  step "npm ci in $tests_dir"
  (cd "$tests_dir" && npm ci --no-audit --no-fund)
fi

step "node --test (Chromium against vecgate serve --sample)"
cd "$tests_dir"
node --test ./*.test.mjs
echo "[www/test] screenshots: $(pwd)/out/"
