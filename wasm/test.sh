#!/usr/bin/env bash
# Tests the npm package as a user gets it: builds it (wasm/build.sh), packs it (npm pack), installs
# the tarball into a scratch copy of wasm/tests under a temp dir, and there runs the Node tests, the
# Chromium tests (page and Web Worker), the client's tests (against `vecgate serve --sample` and
# against `vecgate serve` on a throwaway PostgreSQL 15 + ruvector cluster; its types against
# edge/openapi.json), the bundler builds (Vite, webpack, esbuild) and the TypeScript check of the
# installed .d.ts files. Both .wasm builds (simd128, relaxed SIMD) are tested, in Node (child Nodes
# with --experimental-wasm-relaxed-simd where needed) and in Chromium.
# Needs what scripts/install-wasm-deps.sh installs, PostgreSQL 15 with ruvector
# (.ci/install-ruvector.sh), the movie sample at ../shared/data/movies (or $VECGATE_SAMPLE_DIR),
# and the model files from scripts/install-model.sh (~/.cache/vecgate/models/all-minilm-l6-v2, or
# $VECGATE_MODEL_DIR), which the embedder and `vecgate serve` load. Builds the vecgate binary
# (cargo build -p vecgate-edge --bin vecgate) unless $VECGATE_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."

sample=${VECGATE_SAMPLE_DIR:-../shared/data/movies}
if [ ! -f "$sample/movies.jsonl" ]; then
  echo "[wasm/test] no movie sample at $sample" >&2
  exit 1
fi
VECGATE_SAMPLE_DIR=$(cd "$sample" && pwd)
export VECGATE_SAMPLE_DIR
model_dir=${VECGATE_MODEL_DIR:-$HOME/.cache/vecgate/models/all-minilm-l6-v2}
for file in model.onnx tokenizer.json; do
  if [ ! -f "$model_dir/$file" ]; then
    echo "[wasm/test] no $model_dir/$file: run 'bash scripts/install-model.sh' (or set VECGATE_MODEL_DIR)" >&2
    exit 1
  fi
done
VECGATE_MODEL_DIR=$(cd "$model_dir" && pwd)
export VECGATE_MODEL_DIR

step() { echo; echo "[wasm/test] $*"; }

step "build"
bash wasm/build.sh

if [ -z "${VECGATE_BIN:-}" ]; then
  step "cargo build -p vecgate-edge --bin vecgate (the client tests' server)"
  cargo build -p vecgate-edge --bin vecgate
  target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).target_directory)')
  VECGATE_BIN=$target_dir/debug/vecgate
fi
[ -x "$VECGATE_BIN" ] || { echo "[wasm/test] no vecgate binary at $VECGATE_BIN" >&2; exit 1; }
VECGATE_BIN=$(cd "$(dirname "$VECGATE_BIN")" && pwd)/$(basename "$VECGATE_BIN")
VECGATE_OPENAPI=$(pwd)/edge/openapi.json
export VECGATE_BIN VECGATE_OPENAPI

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vecgate-npm-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

step "npm pack"
(cd wasm/pkg && npm pack --pack-destination "$scratch" --loglevel warn)
tarball=$(echo "$scratch"/vecgate-*.tgz)
[ -f "$tarball" ] || { echo "[wasm/test] npm pack produced no tarball" >&2; exit 1; }
echo "[wasm/test] $(basename "$tarball"): $(stat -c %s "$tarball") bytes"

step "install the tarball into a scratch project"
start=$SECONDS
project=$scratch/project
mkdir "$project"
tar -C wasm/tests --exclude=node_modules -cf - . | tar -C "$project" -xf -
cd "$project"
npm ci --no-audit --no-fund --prefer-offline --loglevel warn
npm install --no-save --no-audit --no-fund --prefer-offline --loglevel warn "$tarball"
echo "[wasm/test] installed in $((SECONDS - start)) s"

step "node --test (Node API, movie sample, packaging, embedder, Chromium page and Worker, client, bundlers)"
node --test ./*.test.mjs

step "tsc --noEmit (Node and bundler resolution)"
./node_modules/.bin/tsc -p types/tsconfig.node.json
./node_modules/.bin/tsc -p types/tsconfig.bundler.json
echo "[wasm/test] types ok"
