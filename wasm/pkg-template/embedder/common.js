// Shared by the browser (index.js) and Node (node.js) entries of `vecgate/embedder`: reading the
// model files, Cache Storage, and checking options.

/** The Cache Storage cache the model files are kept in unless `cache` names another. */
export const DEFAULT_CACHE = 'vecgate-models';

const PREFIX = 'vecgate/embedder';

export function fail(message) {
  return new Error(`${PREFIX}: ${message}`);
}

/** The options of `loadEmbedder`, checked: `{modelUrl, tokenizerUrl, cacheName}` (null: no cache). */
export function checkOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw fail('loadEmbedder needs an options object {modelUrl, tokenizerUrl, cache?}');
  }
  const known = new Set(['modelUrl', 'tokenizerUrl', 'cache']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw fail(`unknown option ${JSON.stringify(key)} (expected modelUrl, tokenizerUrl, cache)`);
  }
  for (const key of ['modelUrl', 'tokenizerUrl']) {
    const value = options[key];
    if (!(typeof value === 'string' && value !== '') && !(value instanceof URL)) {
      throw fail(`${key} must be a non-empty string or a URL`);
    }
  }
  const { cache = true } = options;
  if (typeof cache !== 'boolean' && !(typeof cache === 'string' && cache !== '')) {
    throw fail('cache must be a boolean or the name of a Cache Storage cache');
  }
  const cacheName = cache === true ? DEFAULT_CACHE : cache === false ? null : cache;
  return { modelUrl: options.modelUrl, tokenizerUrl: options.tokenizerUrl, cacheName };
}

/** The named cache, or null where Cache Storage is missing (Node, insecure origins) or refuses. */
async function openCache(cacheName) {
  if (cacheName === null || typeof caches === 'undefined') return null;
  try {
    return await caches.open(cacheName);
  } catch {
    return null;
  }
}

/**
 * The bytes at `url` (absolute), from Cache Storage when it holds them, else from the network
 * (then stored). The URL is the cache key: version the model's URL when the model changes.
 * Resolves with `{bytes: Uint8Array, from: 'cache' | 'network'}`.
 */
export async function fetchCached(url, cacheName) {
  const cache = await openCache(cacheName);
  if (cache) {
    const hit = await cache.match(url).catch(() => undefined);
    if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), from: 'cache' };
  }
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw fail(`GET ${url} failed: ${error?.message ?? error}`);
  }
  if (!response.ok) throw fail(`GET ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (cache) {
    const type = response.headers.get('content-type') ?? 'application/octet-stream';
    // Caching is an optimization: a full quota must not fail the load.
    await cache.put(url, new Response(bytes, { headers: { 'content-type': type } })).catch(() => {});
  }
  return { bytes, from: 'network' };
}

/** Deletes the Cache Storage cache of the model files; false when there was none (or no Cache Storage). */
export async function clearModelCache(cacheName = DEFAULT_CACHE) {
  if (typeof caches === 'undefined') return false;
  return caches.delete(cacheName);
}

/** Builds the embedder from the two files and records where they came from. */
export function build(TextEmbedder, model, tokenizer, started) {
  const embedder = new TextEmbedder(model.bytes, tokenizer.bytes);
  const source = Object.freeze({
    model: model.from,
    tokenizer: tokenizer.from,
    loadMs: performance.now() - started,
  });
  Object.defineProperty(embedder, 'source', { value: source, enumerable: true });
  return embedder;
}
