// The embedder benchmark's measuring half, run as is in Node (embed.mjs) and in Chromium (a page
// embed.mjs serves): p50 per text of vecgate's embedder and of onnxruntime-web (wasm, SIMD, one
// thread) on the same model.onnx, with the same token ids (our Tokenizer's, fed to ORT).

/** [CLS] … [SEP] ids → unit vector, through an ORT session: masked mean pooling, as ours. */
function ortEmbedder(ort, session, tokenizer) {
  const withTypes = session.inputNames.includes('token_type_ids');
  return async (text) => {
    const ids = tokenizer.encode(text);
    const n = ids.length;
    const shape = [1, n];
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), shape),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), shape),
    };
    if (withTypes) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(n), shape);
    const { last_hidden_state: hidden } = await session.run(feeds);
    const dims = hidden.dims[2];
    const sum = new Float32Array(dims);
    for (let t = 0; t < n; t++) for (let d = 0; d < dims; d++) sum[d] += hidden.data[t * dims + d];
    let norm = 0;
    for (const v of sum) norm += v * v;
    norm = Math.sqrt(norm);
    return sum.map((v) => v / norm);
  };
}

function cosine(a, b) {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot; // both unit vectors
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
};

/**
 * `embedder`: the package's `vecgate/embedder` module (TextEmbedder, Tokenizer). `ort`: the
 * onnxruntime-web module. Returns one row per text: tokens, both p50s in ms, their ratio, and the
 * cosine between the two vectors (the check that both ran the same model on the same ids).
 */
export async function benchmark({ embedder, ort, model, tokenizer, texts, rounds = 40, warmup = 5 }) {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  const ours = new embedder.TextEmbedder(model, tokenizer);
  const tokens = new embedder.Tokenizer(tokenizer);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const theirs = ortEmbedder(ort, session, tokens);
  const rows = [];
  for (const [name, text] of Object.entries(texts)) {
    for (let i = 0; i < warmup; i++) {
      ours.embed(text);
      await theirs(text);
    }
    const oursMs = [];
    const ortMs = [];
    // Interleaved, so that noise from the shared machine hits both alike.
    for (let i = 0; i < rounds; i++) {
      let started = performance.now();
      ours.embed(text);
      oursMs.push(performance.now() - started);
      started = performance.now();
      await theirs(text);
      ortMs.push(performance.now() - started);
    }
    const ours50 = median(oursMs);
    const ort50 = median(ortMs);
    rows.push({
      name,
      tokens: tokens.encode(text).length,
      oursMs: ours50,
      ortMs: ort50,
      speedup: ort50 / ours50,
      cosine: cosine(ours.embed(text), await theirs(text)),
    });
  }
  await session.release();
  ours.free();
  tokens.free();
  return rows;
}

export function table(title, rows) {
  const lines = [`${title}`, '| text | tokens | vecgate p50 ms | onnxruntime-web p50 ms | vecgate speed / ORT | cosine(ours, ORT) |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.tokens} | ${r.oursMs.toFixed(2)} | ${r.ortMs.toFixed(2)} | ${r.speedup.toFixed(2)}× | ${r.cosine.toFixed(5)} |`);
  }
  return lines.join('\n');
}
