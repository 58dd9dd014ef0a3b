#!/usr/bin/env bash
# The local embedder's figures (issue: "text search with no cloud"), each measured in one run:
#   1. p50 per query, one thread, an 8- and a 27-token text: vecgate-embed against ONNX Runtime
#      from PyPI on the same model.onnx and the same token ids;
#   2. texts embedded per second over the 3,200 film texts, all cores (what `vecgate import` and
#      `POST /v1/embed` do), against ONNX Runtime with length-sorted padded batches; and the RSS
#      each adds to its process with the model loaded;
#   3. the RSS the loaded model adds to `vecgate serve` (the same server with --local-model off).
# Needs scripts/install-model.sh; installs onnxruntime into .venv-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-model.sh >/dev/null
model_dir="${VECGATE_MODEL_DIR:-$HOME/.cache/vecgate/models/all-minilm-l6-v2}"
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c 'import onnxruntime' 2>/dev/null; then
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q 'onnxruntime==1.32.0' 'numpy<3'
fi

ids_file=$(mktemp)
trap 'rm -f "$ids_file" bench/out-embed.txt' EXIT
cargo bench -q -p vecgate-embed --bench embed -- ids >"$ids_file"
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }

echo "== 1. latency, one thread"
RAYON_NUM_THREADS=1 cargo bench -q -p vecgate-embed --bench embed -- latency | tee bench/out-embed.txt
.venv-bench/bin/python bench/embed_ort.py latency "$model_dir/model.onnx" "$ids_file" | tee -a bench/out-embed.txt
for kind in short medium; do
  ours=$(grep "^vecgate-embed $kind" bench/out-embed.txt | sed 's/.*p50 \([0-9.]*\) ms/\1/')
  theirs=$(grep "^onnxruntime.* $kind" bench/out-embed.txt | sed 's/.*p50 \([0-9.]*\) ms/\1/')
  echo "$kind: vecgate-embed / onnxruntime time = $(ratio "$ours" "$theirs") (target <= 1.0x)"
done

echo "== 2. batch throughput over the 3,200 film texts, all cores ($(nproc)), and the model's RSS"
cargo bench -q -p vecgate-embed --bench embed -- throughput | tee bench/out-embed.txt
.venv-bench/bin/python bench/embed_ort.py throughput "$model_dir/model.onnx" "$ids_file" | tee -a bench/out-embed.txt
ours=$(grep "^vecgate-embed batch" bench/out-embed.txt | sed 's/.*= \([0-9.]*\) texts.*/\1/')
theirs=$(grep "^onnxruntime.* batch" bench/out-embed.txt | sed 's/.*= \([0-9.]*\) texts.*/\1/')
echo "throughput: vecgate-embed / onnxruntime = $(ratio "$ours" "$theirs") (target >= 1.0x; rten's f32 graph before int8: 88 texts/s)"
ours=$(grep "^model load" bench/out-embed.txt | sed 's/.*RSS +\([0-9.]*\) MB.*/\1/')
theirs=$(grep "^onnxruntime model RSS" bench/out-embed.txt | sed 's/.*RSS: +\([0-9.]*\) MB.*/\1/')
echo "model RSS in its process: vecgate-embed +$ours MB, onnxruntime +$theirs MB"

echo "== 3. RSS the model adds to vecgate serve"
cargo build -q --release -p vecgate-edge --bin vecgate
rss_of() {
  local data
  data=$(mktemp -d)
  ./target/release/vecgate serve --addr 127.0.0.1:0 --dimensions 384 --data-dir "$data" "$@" \
    >"$data/out" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$data/out" && break; sleep 0.2; done
  local base
  base=$(grep -o 'http://[0-9.:]*' "$data/out" | head -1)
  curl -s "$base/v1/search" -d '{"text": "animated film for kids about toys", "k": 4}' >/dev/null || true
  awk '/VmRSS/ {print $2}' "/proc/$pid/status"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
off=$(rss_of --local-model off)
on=$(rss_of --local-model on --model-dir "$model_dir")
echo "vecgate serve RSS: $((off / 1024)) MB without the model, $((on / 1024)) MB with it: +$(((on - off) / 1024)) MB (target <= 60 MB; before int8: +156 MB)"
