// `vecgate/embedder` in browsers and Web Workers: text → 384-d unit vectors with all-MiniLM-L6-v2,
// in a .wasm of its own (the main package stays small). `loadEmbedder` fetches the model and
// tokenizer (kept in Cache Storage), `createEmbedderWorker` does the same in a module Worker.
import '../simd.js';
import init, { TextEmbedder, Tokenizer, maxTokens } from './embedder.js';
import { DEFAULT_CACHE, build, checkOptions, clearModelCache, fail, fetchCached } from './common.js';

export { TextEmbedder, Tokenizer, maxTokens, clearModelCache, DEFAULT_CACHE };

let initialized = null;

/**
 * Instantiates the embedder's .wasm (once; later calls return the same promise). By default it is
 * fetched next to this file; pass a URL (a CDN) or the bytes to load it from elsewhere.
 */
export function initEmbedder(wasm) {
  initialized ??= init(wasm === undefined ? undefined : { module_or_path: wasm }).then(() => undefined);
  return initialized;
}

/** Relative URLs are taken relative to the document (or the Worker's script), as `fetch` does. */
function absolute(url) {
  return new URL(url, globalThis.location?.href).href;
}

export async function loadEmbedder(options) {
  const { modelUrl, tokenizerUrl, cacheName } = checkOptions(options);
  const started = performance.now();
  const [model, tokenizer] = await Promise.all([
    fetchCached(absolute(modelUrl), cacheName),
    fetchCached(absolute(tokenizerUrl), cacheName),
    initEmbedder(),
  ]);
  return build(TextEmbedder, model, tokenizer, started);
}

/**
 * Loads the embedder in a new module Worker, so inference never blocks the page. Resolves once the
 * model is loaded (rejects with its Error otherwise) with an object whose methods return promises.
 */
export async function createEmbedderWorker(options) {
  if (typeof Worker === 'undefined') {
    throw fail('createEmbedderWorker needs Web Workers; use loadEmbedder where there are none (Node)');
  }
  const { modelUrl, tokenizerUrl, cacheName } = checkOptions(options);
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'vecgate-embedder' });
  const pending = new Map();
  let nextId = 0;
  let broken = null;
  const breakAll = (error) => {
    broken ??= error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.onmessage = ({ data }) => {
    const request = pending.get(data.id);
    if (!request) return;
    pending.delete(data.id);
    if (data.ok) request.resolve(data.result);
    else request.reject(new Error(data.error));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    breakAll(fail(`the embedder Worker failed: ${event.message || 'it could not load'}`));
  };
  worker.onmessageerror = () => breakAll(fail('a message from the embedder Worker could not be read'));
  const call = (type, payload) => {
    if (broken) return Promise.reject(broken);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, type, ...payload });
    });
  };

  let loaded;
  try {
    loaded = await call('load', {
      modelUrl: absolute(modelUrl),
      tokenizerUrl: absolute(tokenizerUrl),
      cache: cacheName ?? false,
    });
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return {
    dimensions: loaded.dimensions,
    source: loaded.source,
    embed: (text) => call('embed', { text }),
    embedBatch: (texts) => call('embedBatch', { texts }),
    tokenCount: (text) => call('tokenCount', { text }),
    terminate() {
      breakAll(fail('the embedder Worker was terminated'));
      worker.terminate();
    },
  };
}
