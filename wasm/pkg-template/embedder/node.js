// `vecgate/embedder` in Node: the same embedder as in browsers (the web build of the glue,
// instantiated synchronously from the .wasm next to this file). Model files come from paths,
// `file:` URLs or http(s) URLs (fetched; Node has no Cache Storage, so they are not cached).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { initSync, TextEmbedder, Tokenizer, maxTokens } from './embedder.js';
import { DEFAULT_CACHE, build, checkOptions, clearModelCache, fail, fetchCached } from './common.js';

initSync({ module: readFileSync(new URL('./embedder_bg.wasm', import.meta.url)) });

export { TextEmbedder, Tokenizer, maxTokens, clearModelCache, DEFAULT_CACHE };

/** Already done when this module loaded; kept so that code shared with browsers can call it. */
export function initEmbedder() {
  return Promise.resolve();
}

async function read(source, cacheName) {
  const href = source instanceof URL ? source.href : source;
  if (/^https?:\/\//i.test(href)) return fetchCached(href, cacheName);
  const path = source instanceof URL || /^file:/i.test(href) ? new URL(href) : href;
  try {
    return { bytes: await readFile(path), from: 'file' };
  } catch (error) {
    throw fail(`cannot read ${href}: ${error.message}`);
  }
}

export async function loadEmbedder(options) {
  const { modelUrl, tokenizerUrl, cacheName } = checkOptions(options);
  const started = performance.now();
  const [model, tokenizer] = await Promise.all([read(modelUrl, cacheName), read(tokenizerUrl, cacheName)]);
  return build(TextEmbedder, model, tokenizer, started);
}

export async function createEmbedderWorker() {
  throw fail('createEmbedderWorker needs Web Workers; in Node use loadEmbedder (or run it in a worker_threads Worker)');
}
