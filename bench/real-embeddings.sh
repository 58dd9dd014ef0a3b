#!/usr/bin/env bash
# Real 384-d MiniLM embeddings for the benchmarks, of texts from Debian's package archive, in a
# fixed shuffled order (so the first rows and the next ones are alike), embedded by vecgate's own
# all-MiniLM-L6-v2 through `vecgate serve` (`POST /v1/embed`, 64 texts per request):
# - `short` (default): the unique one-line descriptions of bookworm's main packages ("name:
#   description", ~60,000, from the apt lists every Debian machine has), for wasm/bench/hnsw.mjs;
#   writes bench/out/debian-minilm.jsonl;
# - `long`: those plus the first paragraph of each package's long description (from the
#   archive's Translation-en, fetched by `apt-get update -o Acquire::Languages=en`, cut at 300
#   characters), ~128,000 unique texts, for bench/target-recall.sh; writes
#   bench/out/debian-long-minilm.jsonl.
# ({"text", "vector"} per line; kept when already there.) Needs the release binary (cargo build
# --release -p vecgate-edge) and the model (scripts/install-model.sh).
# Usage: bash bench/real-embeddings.sh [MAX_TEXTS] [short|long]
set -euo pipefail
cd "$(dirname "$0")/.."

max=${1:-60000}
corpus=${2:-short}
case "$corpus" in
  short) out=bench/out/debian-minilm.jsonl ;;
  long) out=bench/out/debian-long-minilm.jsonl ;;
  *) echo "[real-embeddings] corpus must be short or long, got $corpus" >&2; exit 2 ;;
esac
if [ -s "$out" ]; then
  echo "[real-embeddings] $out exists ($(wc -l <"$out") vectors)"
  exit 0
fi
mkdir -p bench/out
lists=$(ls /var/lib/apt/lists/*_dists_bookworm_main_binary-*_Packages* 2>/dev/null | head -1)
[ -n "$lists" ] || { echo "[real-embeddings] no bookworm Packages list in /var/lib/apt/lists: run apt-get update" >&2; exit 1; }
translations=
if [ "$corpus" = long ]; then
  translations=$(ls /var/lib/apt/lists/*_dists_bookworm_main_i18n_Translation-en* 2>/dev/null | head -1 || true)
  if [ -z "$translations" ]; then
    apt-get update -o Acquire::Languages=en >/dev/null
    translations=$(ls /var/lib/apt/lists/*_dists_bookworm_main_i18n_Translation-en* | head -1)
  fi
fi

texts=$(mktemp)
data=$(mktemp -d)
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  rm -rf "$texts" "$texts.all" "$data"
}
trap cleanup EXIT
# apt-helper decompresses whatever apt stored (.lz4, .gz, plain).
{
  /usr/lib/apt/apt-helper cat-file "$lists" |
    awk '/^Package: /{p=$2} /^Description: /{sub(/^Description: /,""); print p ": " $0}'
  if [ -n "$translations" ]; then
    # The first paragraph of each long description, joined into one line.
    /usr/lib/apt/apt-helper cat-file "$translations" | awk '
      /^Package: /{p=$2; first=1; long=""; next}
      /^Description-en: /{next}
      /^ \./{if (long != "") print p ": " long; long=""; first=0; next}
      /^ /{if (first) {sub(/^ /, ""); long = (long == "" ? $0 : long " " $0)}; next}
      /^$/{if (long != "") print p ": " long; long=""; first=0}' |
      awk '{if (length($0) > 300) {s = substr($0, 1, 300); sub(/ [^ ]*$/, "", s); print s} else print}'
  fi
} | sort -u | shuf --random-source=<(yes vecgate) >"$texts.all"
# Not `| head`: it would close the pipe early, and pipefail would stop the script.
sed -n "1,${max}p" "$texts.all" >"$texts"
echo "[real-embeddings] $(wc -l <"$texts") texts from $lists ${translations:+and $translations}"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A long request timeout: a batch of long texts on a busy machine takes more than the default 10 s.
VECGATE_DIMENSIONS=384 VECGATE_RATE_LIMIT_EMBED=0 VECGATE_REQUEST_TIMEOUT_MS=600000 target/release/vecgate serve --addr "127.0.0.1:$port" --data-dir "$data" \
  >"$data/serve.log" 2>&1 &
server=$!
python3 - "$port" "$texts" "$out.tmp" <<'PY'
import json, sys, time, urllib.error, urllib.request
port, texts_file, out_file = sys.argv[1:]
base = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/health", timeout=1)
        break
    except Exception:
        time.sleep(0.2)
else:
    sys.exit("vecgate serve did not come up")
texts = [line.rstrip("\n") for line in open(texts_file, encoding="utf-8")]
# An interrupted run resumes: the order is fixed, so the lines written are the first texts.
try:
    with open(out_file, encoding="utf-8") as existing:
        written = [line for line in existing if line.endswith("\n")]
except FileNotFoundError:
    written = []
resume = len(written) - len(written) % 64
if resume:
    with open(out_file, "w", encoding="utf-8") as out:
        out.writelines(written[:resume])
    print(f"[real-embeddings] resuming after {resume} texts", file=sys.stderr)

def embed(batch):
    body = json.dumps({"texts": batch}).encode()
    for attempt in range(5):
        req = urllib.request.Request(base + "/v1/embed", data=body,
                                     headers={"content-type": "application/json"}, method="POST")
        try:
            return json.load(urllib.request.urlopen(req, timeout=600))["vectors"]
        except urllib.error.HTTPError as e:
            if e.code not in (429, 503) or attempt == 4:
                raise
            time.sleep(2 ** attempt)

start = time.time()
with open(out_file, "a" if resume else "w", encoding="utf-8") as out:
    for i in range(resume, len(texts), 64):
        batch = texts[i:i + 64]
        vectors = embed(batch)
        for text, vector in zip(batch, vectors):
            out.write(json.dumps({"text": text, "vector": [round(x, 6) for x in vector]}) + "\n")
        done = i + len(batch)
        if done % 6400 < 64 or done == len(texts):
            rate = (done - resume) / (time.time() - start)
            print(f"[real-embeddings] {done}/{len(texts)} embedded ({rate:.0f}/s)", file=sys.stderr)
PY
mv "$out.tmp" "$out"
echo "[real-embeddings] wrote $out ($(wc -l <"$out") vectors)"
