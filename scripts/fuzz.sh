#!/usr/bin/env bash
# Runs every cargo-fuzz target (or those named) for SECONDS each, starting from the committed
# seeds in fuzz/corpus/<target>/. New inputs go to a scratch corpus, so the committed seeds stay
# as they are. Exits non-zero on the first crash; libFuzzer saves the input under
# fuzz/artifacts/<target>/ (replay it with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`).
#
#   bash scripts/fuzz.sh            # 20 s per target (what CI runs)
#   bash scripts/fuzz.sh 600        # 10 minutes per target
#   bash scripts/fuzz.sh 60 filter_parse
#
# Needs cargo-fuzz (scripts/install-deps.sh). cargo-fuzz wants nightly features; RUSTC_BOOTSTRAP=1
# lets the stable toolchain provide them.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
export RUSTC_BOOTSTRAP=1

echo "[fuzz] building ${#targets[@]} targets"
cargo fuzz build --fuzz-dir fuzz

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
summary=()
for target in "${targets[@]}"; do
  echo "[fuzz] $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  # -rss_limit_mb: a hostile input that makes the decoder allocate without bound is a finding.
  if ! cargo fuzz run --fuzz-dir fuzz "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "[fuzz] $target FAILED (see fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  runs=$(grep -oE '^Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' || echo '?')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
  corpus=$(find "$scratch/$target" -type f | wc -l)
  summary+=("$target: $runs runs in ${seconds}s, 0 crashes, coverage $cov edges, $corpus new corpus inputs")
  echo "[fuzz] ${summary[-1]}"
done
echo "[fuzz] summary"
printf '  %s\n' "${summary[@]}"
