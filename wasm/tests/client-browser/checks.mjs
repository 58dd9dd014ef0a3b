// What the page and the Worker check with `vecgate/client` against the server that serves them
// (same origin: baseUrl ''): JSON calls, a typed error, and `candidates()`, which loads the
// package's WebAssembly on first use (not before), reranks locally, and is revalidated (304).
const TOYS = 'animated film for kids about toys';
const SIMILARITY_ONLY = { similarity: 1, personalization: 0, recency: 0, popularity: 0 };

function wasmRequests() {
  return performance
    .getEntriesByType('resource')
    .map((entry) => new URL(entry.name).pathname)
    .filter((path) => path.endsWith('.wasm'));
}

export async function runClientChecks({ VecgateClient, VecgateError }, apiKey) {
  const client = new VecgateClient({ baseUrl: '', apiKey });
  const health = await client.health();
  const search = await client.search({ text: TOYS, k: 4, include: ['metadata'] });
  const wasmAfterSearch = wasmRequests();
  const set = await client.candidates({ text: TOYS, n: 200 });
  const wasmAfterCandidates = wasmRequests();
  const query = Float32Array.from((await client.embed([TOYS])).vectors[0]);
  const hits = set.rerank({ query, k: 4, weights: SIMILARITY_ONLY });
  const again = await client.candidates({ text: TOYS, n: 200 });
  let error = null;
  try {
    await client.getContent('no-such-film');
  } catch (e) {
    error = { isVecgateError: e instanceof VecgateError, isError: e instanceof Error, code: e.code, status: e.status, message: e.message };
  }
  return {
    health,
    searchIds: search.results.map((r) => r.id),
    searchTitles: search.results.map((r) => r.metadata.title),
    wasmAfterSearch,
    wasmAfterCandidates,
    len: set.len,
    dims: set.dims,
    hitIds: hits.map((h) => h.id),
    firstFromCache: set.fromCache,
    againFromCache: again.fromCache,
    sameEtag: typeof set.etag === 'string' && again.etag === set.etag,
    againHitIds: again.rerank({ query, k: 4, weights: SIMILARITY_ONLY }).map((h) => h.id),
    error,
  };
}
