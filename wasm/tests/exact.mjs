// Plain-JS exact search to compare the package against; runs in Node, pages and Workers.

export const TOYS_QUERY = 'animated film for kids about toys';
export const TOY_STORY_IDS = ['movie-993', 'movie-2987', 'movie-2988'];

/** Cosine similarity in plain JS (f64 arithmetic). */
export function jsCosine(a, b) {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Exact top-k by a plain-JS cosine loop: [{index, score}], best first, ties by index. */
export function jsExactTopK(vectors, query, k) {
  return vectors
    .map((v, index) => ({ index, score: jsCosine(query, v) }))
    .sort((x, y) => y.score - x.score || x.index - y.index)
    .slice(0, k);
}

/**
 * The DESIGN.md blend in plain JS, as CandidateSet.rerank computes it from metadata:
 * 0.5·cos + 0.15·exp(−age/10) (0 without a year) + 0.1·popularity (`popularity` in [0, 1], else
 * rating/10, else 0). No preference, so personalization is 0.
 */
export function jsBlendTopK(items, query, k, currentYear) {
  return items
    .map(({ vector, metadata }, index) => {
      const year = metadata?.year;
      const recency = typeof year === 'number' ? Math.exp(-Math.max(0, currentYear - year) / 10) : 0;
      const p = metadata?.popularity;
      const rating = metadata?.rating;
      const popularity =
        typeof p === 'number' && p >= 0 && p <= 1
          ? p
          : typeof rating === 'number'
            ? Math.min(1, Math.max(0, rating / 10))
            : 0;
      return { index, score: 0.5 * jsCosine(query, vector) + 0.15 * recency + 0.1 * popularity };
    })
    .sort((x, y) => y.score - x.score || x.index - y.index)
    .slice(0, k);
}

export const SIMILARITY_ONLY = { similarity: 1, personalization: 0, recency: 0, popularity: 0 };

/** Builds a CandidateSet of the movies with the package's own builder. */
export function buildCandidateSet(CandidateSet, movies, encoding = 'f32') {
  const set = new CandidateSet(movies[0].vector.length, encoding);
  for (const movie of movies) set.push(movie.id, movie.vector, movie.metadata);
  return set;
}

/**
 * Reranks the movies for the toys query with the package and compares with plain-JS exact search.
 * Returns plain data (it also runs in a page and a Worker and is sent back to Node).
 */
export function checkMovies(vecgate, set, movies, query) {
  const k = 10;
  const exact = jsExactTopK(movies.map((m) => m.vector), query, k);
  const bySimilarity = set.rerank({ query, k, weights: SIMILARITY_ONLY });
  const blended = set.rerank({ query, k, currentYear: 2026 });
  const expectedBlend = jsBlendTopK(movies, query, k, 2026);
  const maxDiff = (ours, theirs) => Math.max(...ours.map((h, i) => Math.abs(h.score - theirs[i].score)));
  return {
    backend: vecgate.simdBackend(),
    len: set.len,
    dims: set.dims,
    similarityIds: bySimilarity.map((h) => h.id),
    exactIds: exact.map((h) => movies[h.index].id),
    similarityMaxDiff: maxDiff(bySimilarity, exact),
    blendIds: blended.map((h) => h.id),
    expectedBlendIds: expectedBlend.map((h) => movies[h.index].id),
    blendMaxDiff: maxDiff(blended, expectedBlend),
    topTitles: bySimilarity.slice(0, 4).map((h) => h.metadata.title),
  };
}

/** Beam width for the Index checks: large enough that HNSW search is expected to be exact here. */
export const EXACT_EF = 400;

/**
 * Builds an `Index` of the movies and compares its searches with plain-JS exact search: every
 * sample query unfiltered and filtered, after removing the toys query's best film, and after a
 * toBytes → fromBytes round trip. Returns plain data (it also runs in a page and a Worker).
 */
export function checkIndex(vecgate, movies, queries) {
  const k = 10;
  const index = new vecgate.Index({ dims: movies[0].vector.length, seed: 1 });
  for (const m of movies) index.add(m.id, m.vector, m.metadata);
  const ids = (hits) => hits.map((h) => h.id);
  const exactIds = (items, vector) => jsExactTopK(items.map((m) => m.vector), vector, k).map((r) => items[r.index].id);
  const searchAll = (ix, options, items) =>
    queries.map(({ text, vector }) => ({
      text,
      got: ids(ix.search(vector, { k, ef: EXACT_EF, ...options })),
      expected: exactIds(items, vector),
    }));

  const recent = (m) => m.metadata.year >= 2000;
  const unfiltered = searchAll(index, {}, movies);
  const filtered = searchAll(index, { filter: { year: { $gte: 2000 } } }, movies.filter(recent));
  const toys = queries.find((q) => q.text === TOYS_QUERY).vector;
  const toysHits = index.search(toys, { k, ef: EXACT_EF });
  const removedId = toysHits[0].id;
  // Before the removal, the copy from bytes answers exactly as the original (scores, metadata).
  const restored = vecgate.Index.fromBytes(index.toBytes());
  const roundTripSame = queries.map(
    ({ vector }) =>
      JSON.stringify(restored.search(vector, { k, ef: EXACT_EF })) ===
      JSON.stringify(index.search(vector, { k, ef: EXACT_EF })),
  );
  const removed = index.remove(removedId);
  const afterRemove = searchAll(index, {}, movies.filter((m) => m.id !== removedId));
  return {
    len: index.len,
    restoredLen: restored.len,
    removed,
    removedId,
    removedStillFound: afterRemove.some((r) => r.got.includes(removedId)),
    toysTop4: ids(toysHits).slice(0, 4),
    toysMetadataTitle: toysHits[0].metadata?.title,
    roundTripSame,
    unfiltered,
    filtered,
    afterRemove,
  };
}

/**
 * Whether this engine validates relaxed SIMD: the test's own probe (one
 * `i16x8.relaxed_dot_i8x16_i7x16_s`), the oracle for which build the package's loaders must pick.
 */
export function engineValidatesRelaxedSimd() {
  // (module (func (result v128) v128.const i64x2 0 0 v128.const i64x2 0 0 i16x8.relaxed_dot_i8x16_i7x16_s))
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 43, 1, 41, 0, 253, 12, ...Array(16).fill(0),
    253, 12, ...Array(16).fill(0), 253, 146, 2, 11,
  ]);
  return WebAssembly.validate(probe);
}

/** The backend the package's default loaders must pick on this engine. */
export const expectedBackend = () => (engineValidatesRelaxedSimd() ? 'relaxed-simd' : 'simd128');

/** FNV-1a (32 bits) of bytes, to compare large outputs between builds. */
function fnv1a(bytes) {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}

/** Int8 codes with many −128s (which the quantizer never writes), as `Int8Matrix.fromCodes` can
 * carry them: rows of several lengths, so each kernel path (32- and 16-lane blocks, scalar tail)
 * sees them. */
function edgeCodes(rows, dims, seed) {
  let state = seed;
  const codes = new Int8Array(rows * dims);
  for (let i = 0; i < codes.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const r = state >>> 24;
    codes[i] = r < 32 ? -128 : r < 48 ? 127 : r < 64 ? -127 : (r % 255) - 127;
  }
  // Row 0 all −128, row 1 all 127: the extremes of every product.
  codes.fill(-128, 0, dims);
  codes.fill(127, dims, 2 * dims);
  return codes;
}

/**
 * Everything int8 that the two builds must give bit-identically: `Int8Matrix` top-k and every
 * row's similarity over the films, `Float32Matrix.topK` (pruned by int8 bounds), `fromCodes`
 * matrices holding −128, and an int8 `Index` (searches and its bytes). Plain data, compared by the
 * Node test between runs of the two builds (Node processes, pages, Workers).
 */
export function int8Results(vecgate, movies, queries) {
  const dims = movies[0].vector.length;
  const values = new Float32Array(movies.length * dims);
  movies.forEach((m, i) => values.set(m.vector, i * dims));
  const vectors = [...queries.map((q) => q.vector), ...movies.filter((_, i) => i % 400 === 7).map((m) => m.vector)];
  const hits = (list) => list.map((h) => [h.index ?? h.id, h.score]);

  const int8 = new vecgate.Int8Matrix(values, dims);
  const f32 = new vecgate.Float32Matrix(values, dims);
  const allScores = vectors.map((v) => Array.from(int8.similarities(v)));

  const edge = [384, 100, 48, 7].map((n, i) => {
    const matrix = vecgate.Int8Matrix.fromCodes(edgeCodes(64, n, 17 + i), new Float32Array(64).fill(0.01), n);
    const query = new Float32Array(n).map((_, j) => Math.sin(j * 1.3 + i) - 0.3);
    const rowQuery = new Float32Array(n).map((_, j) => (j % 3 === 0 ? -1 : 0.5)); // negative components where rows hold −128
    return {
      dims: n,
      scores: Array.from(matrix.similarities(query)),
      rowQueryScores: Array.from(matrix.similarities(rowQuery)),
      top: hits(matrix.topK(query, 10)),
    };
  });

  const index = new vecgate.Index({ dims, storage: 'int8', seed: 1, efConstruction: 100 });
  for (const m of movies) index.add(m.id, m.vector);
  const bytes = index.toBytes();
  return {
    backend: vecgate.simdBackend(),
    int8TopK: vectors.map((v) => hits(int8.topK(v, 20))),
    int8Scores: { count: allScores.length * movies.length, hash: fnv1a(new Uint8Array(Float32Array.from(allScores.flat()).buffer)), first: allScores[0] },
    f32TopK: vectors.map((v) => hits(f32.topK(v, 10))),
    edge,
    indexSearches: vectors.map((v) => hits(index.search(v, { k: 10, ef: 64 }))),
    indexBytes: { length: bytes.length, hash: fnv1a(bytes) },
  };
}
