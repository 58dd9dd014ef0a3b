// The wasm half of wasm/bench/topk.mjs, run in Node and in Chromium alike: the generated data,
// the plain-JS baseline, the result checks between the two builds and the timed searches.

export const ROWS = 10_000;
export const DIMS = 768;
export const K = 10;
export const QUERIES = 20;
export const ROUNDS = 10;
/** The int8 walk: `Index` parameters (m 16, seed 1), queries and rounds (a search is ~100× cheaper
 * than a scan, so more of both). */
export const EF_CONSTRUCTION = 100;
export const EF = 64;
export const WALK_QUERIES = 200;
export const WALK_ROUNDS = 20;

/** xorshift32 mapped to [-1, 1) and rounded to f32: bit-identical to examples/topk_native.rs. */
export function generate(seed, length) {
  const out = new Float32Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 4294967296) * 2 - 1;
  }
  return out;
}

/** The plain-JS baseline: a cosine loop over the rows and a small sorted top-k list. */
export function jsTopK(query, matrix, dims, k) {
  const top = [];
  for (let row = 0, offset = 0; offset < matrix.length; row++, offset += dims) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < dims; i++) {
      const a = query[i];
      const b = matrix[offset + i];
      ab += a * b;
      aa += a * a;
      bb += b * b;
    }
    const score = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
    if (top.length < k || score > top[top.length - 1].score) {
      let at = top.length;
      while (at > 0 && top[at - 1].score < score) at--;
      top.splice(at, 0, { index: row, score });
      if (top.length > k) top.pop();
    }
  }
  return top;
}

/** The best of `rounds` rounds of each search, in milliseconds per query, the searches' rounds
 * interleaved (so that both builds see the same disturbances): the machine is shared, and the
 * fastest round is the one least disturbed by other work. */
function timePerQuery(queries, searches, rounds = ROUNDS) {
  for (const search of searches) for (const q of queries.slice(0, 3)) search(q);
  const best = searches.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    searches.forEach((search, i) => {
      const start = performance.now();
      for (const q of queries) search(q);
      best[i] = Math.min(best[i], (performance.now() - start) / queries.length);
    });
  }
  return best;
}

const indices = (hits) => hits.map((h) => h.index).join(',');
const hitsKey = (hits) => JSON.stringify(hits.map((h) => [h.index ?? h.id, h.score]));

/**
 * Checks, then times, both builds (`builds`: the package's exports, simd128 first, then relaxed
 * SIMD) on the same data. Returns plain data: `{ jsMs, rows: [[name, [simd128 ms, relaxed ms],
 * native key]], jsFirst, int8First, walkHits, wasmBuildS }`.
 */
export function measure(builds) {
  const BUILDS = builds.map((b) => b.simdBackend());
  const matrix = generate(1, ROWS * DIMS);
  const queries = Array.from({ length: QUERIES }, (_, i) => generate(1000 + i, DIMS));
  const walkQueries = Array.from({ length: WALK_QUERIES }, (_, i) => generate(1000 + i, DIMS));
  const f32Matrices = builds.map((b) => new b.Float32Matrix(matrix, DIMS));
  const int8Matrices = builds.map((b) => new b.Int8Matrix(matrix, DIMS));

  const jsFirst = indices(jsTopK(queries[0], matrix, DIMS, K));
  BUILDS.forEach((name, b) => {
    if (indices(f32Matrices[b].topK(queries[0], K)) !== jsFirst) throw new Error(`${name}: f32 top-10 differs from plain JS ${jsFirst}`);
    // Float32Matrix.topK prunes with int8 bounds; its result must be the exhaustive one, every query.
    for (const q of queries) {
      const scores = f32Matrices[b].similarities(q);
      const exhaustive = Array.from(scores.keys()).sort((x, y) => scores[y] - scores[x] || x - y).slice(0, K);
      const pruned = f32Matrices[b].topK(q, K);
      if (indices(pruned) !== exhaustive.join(',') || pruned.some((h, i) => h.score !== scores[exhaustive[i]])) {
        throw new Error(`${name}: Float32Matrix.topK differs from the exhaustive scan`);
      }
    }
  });
  for (const q of queries) {
    if (hitsKey(int8Matrices[0].topK(q, K)) !== hitsKey(int8Matrices[1].topK(q, K))) throw new Error('Int8Matrix.topK differs between the builds');
    if (hitsKey(f32Matrices[0].topK(q, K)) !== hitsKey(f32Matrices[1].topK(q, K))) throw new Error('Float32Matrix.topK differs between the builds');
  }

  // The int8 Index: built once (simd128 build), copied into the relaxed build through its bytes.
  const start = performance.now();
  const firstIndex = new builds[0].Index({ dims: DIMS, storage: 'int8', efConstruction: EF_CONSTRUCTION, seed: 1 });
  for (let i = 0; i < ROWS; i++) firstIndex.add(String(i), matrix.subarray(i * DIMS, (i + 1) * DIMS));
  const wasmBuildS = (performance.now() - start) / 1000;
  const indexes = [firstIndex, builds[1].Index.fromBytes(firstIndex.toBytes())];
  const walkHits = indexes.map((index) => walkQueries.map((q) => index.search(q, { k: K, ef: EF }).map((h) => [h.id, h.score])));
  if (JSON.stringify(walkHits[0]) !== JSON.stringify(walkHits[1])) throw new Error('the int8 Index searches differently in the two builds');

  const f32Top = f32Matrices.map((m) => (q) => m.topK(q, K));
  const f32Scan = f32Matrices.map((m) => (q) => m.similarities(q));
  const coreTopK = builds.map((b) => (q) => b.topK(q, matrix, DIMS, K));
  const int8Top = int8Matrices.map((m) => (q) => m.topK(q, K));
  const walk = indexes.map((index) => (q) => index.search(q, { k: K, ef: EF }));

  const jsMs = timePerQuery(queries, [(q) => jsTopK(q, matrix, DIMS, K)])[0];
  const rows = [
    ['f32 (Float32Matrix.topK: int8 bounds, then f32)', timePerQuery(queries, f32Top), 'f32_ms'],
    ['f32 exhaustive scan (Float32Matrix.similarities, no selection)', timePerQuery(queries, f32Scan), 'f32_exhaustive_ms'],
    ['f32 topK() (core top_k, matrix copied per call)', timePerQuery(queries, coreTopK), 'core_top_k_ms'],
    ['**int8 exact top-k (Int8Matrix.topK)**', timePerQuery(queries, int8Top), 'int8_ms'],
    [`**int8 HNSW walk (Index, storage int8, ef ${EF}, k ${K})**`, timePerQuery(walkQueries, walk, WALK_ROUNDS), 'walk_ms'],
  ];


  const int8First = indices(int8Matrices[0].topK(queries[0], K));
  return { jsMs, rows, jsFirst, int8First, walkHits: walkHits[0], wasmBuildS };
}
