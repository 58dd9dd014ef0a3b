// Calls a vecgate API on another origin with `vecgate/client` (the API and the key come in the
// query string) and leaves what happened in window.corsResult for client-cors.test.mjs.
import { VecgateClient, VecgateError } from '/pkg/client/index.js';

const params = new URL(location.href).searchParams;
const TOYS = 'animated film for kids about toys';

async function run() {
  const client = new VecgateClient({ baseUrl: params.get('api'), apiKey: params.get('key'), timeoutMs: 5000, retry: { maxAttempts: 1 } });
  try {
    const search = await client.search({ text: TOYS, k: 4 });
    const set = await client.candidates({ text: TOYS, n: 50 });
    const again = await client.candidates({ text: TOYS, n: 50 });
    return {
      searchIds: search.results.map((r) => r.id),
      len: set.len,
      etag: set.etag,
      againFromCache: again.fromCache,
      sameEtag: again.etag === set.etag,
    };
  } catch (error) {
    return { blocked: true, isVecgateError: error instanceof VecgateError, code: error.code ?? null, message: String(error.message) };
  }
}

window.corsResult = run();

// A cross-site form-like POST: text/plain needs no preflight, so the browser sends it, opaque.
const forge = params.get('forge');
window.forgeResult = forge
  ? fetch(`${forge}/v1/content`, {
      method: 'POST',
      mode: 'no-cors',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ items: [{ id: 'forged-by-a-page', media_type: 'movie', vector: Array(384).fill(0.05) }] }),
    }).then((r) => ({ type: r.type }), (e) => ({ failed: String(e) }))
  : Promise.resolve(null);
