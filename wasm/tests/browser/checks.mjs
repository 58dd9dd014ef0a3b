// What the page and the Worker both run: the movie candidate set served by the test (built in Node
// with the package), reranked here and compared with a plain-JS exact search over the raw sample.
import { TOYS_QUERY, checkIndex, checkMovies, engineValidatesRelaxedSimd, int8Results } from '../exact.mjs';

async function fetchOk(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return response;
}

const jsonl = (text) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));

/** Calls `fn` and describes what it threw. */
function thrown(fn) {
  try {
    fn();
    return { threw: false };
  } catch (error) {
    return {
      threw: true,
      isError: error instanceof Error,
      isTrap: error instanceof WebAssembly.RuntimeError,
      message: String(error?.message),
    };
  }
}

/** The raw movie sample, fetched as the page serves it: films and named query vectors. */
async function loadSample() {
  const [moviesText, queriesText] = await Promise.all([
    fetchOk('/data/movies.jsonl').then((r) => r.text()),
    fetchOk('/data/queries.jsonl').then((r) => r.text()),
  ]);
  const movies = jsonl(moviesText).map((m) => ({
    id: m.id,
    metadata: m.metadata,
    vector: Float32Array.from(m.vector),
  }));
  const queries = jsonl(queriesText).map((q) => ({ text: q.text, vector: Float32Array.from(q.vector) }));
  return { movies, queries };
}

export async function runChecks(vecgate) {
  const [bytes, { movies, queries }] = await Promise.all([
    fetchOk('/movies.vgcs').then((r) => r.arrayBuffer()),
    loadSample(),
  ]);
  const query = queries.find((q) => q.text === TOYS_QUERY).vector;
  const set = vecgate.CandidateSet.fromBytes(new Uint8Array(bytes));

  const corrupted = new Uint8Array(bytes.slice(0));
  corrupted[100] ^= 1;
  return {
    ...checkMovies(vecgate, set, movies, query),
    errors: {
      corruptedBytes: thrown(() => vecgate.CandidateSet.fromBytes(corrupted)),
      unknownOperator: thrown(() => set.rerank({ query, filter: { rating: { $near: 7 } } })),
      wrongLength: thrown(() => set.rerank({ query: query.subarray(1) })),
      nan: thrown(() => vecgate.cosineSimilarity(new Float32Array([NaN, 1]), new Float32Array([1, 1]))),
    },
  };
}

/** The HNSW `Index` over the movie sample: build, search, filter, remove and a byte round trip,
 * compared with plain-JS exact search (exact.mjs, `checkIndex`). */
export async function runIndexChecks(vecgate) {
  const { movies, queries } = await loadSample();
  return { backend: vecgate.simdBackend(), ...checkIndex(vecgate, movies, queries) };
}

/** The int8 results that must be bit-identical between the two builds (exact.mjs, `int8Results`),
 * and whether this engine validates relaxed SIMD (the test's own probe). */
export async function runInt8Checks(vecgate) {
  const { movies, queries } = await loadSample();
  return { validatesRelaxedSimd: engineValidatesRelaxedSimd(), ...int8Results(vecgate, movies, queries) };
}
