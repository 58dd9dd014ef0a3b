// The module Worker behind `createEmbedderWorker` (index.js): it loads the embedder and answers
// {id, type, …} with {id, ok: true, result} or {id, ok: false, error}, in order.
import { loadEmbedder } from './index.js';

let embedder = null;

function handle({ type, ...request }) {
  if (type === 'load') {
    if (embedder) throw new Error('vecgate/embedder: the Worker is already loaded');
    return loadEmbedder({ modelUrl: request.modelUrl, tokenizerUrl: request.tokenizerUrl, cache: request.cache }).then(
      (loaded) => {
        embedder = loaded;
        return { dimensions: loaded.dimensions, source: loaded.source };
      },
    );
  }
  if (!embedder) throw new Error('vecgate/embedder: the Worker has no model loaded');
  switch (type) {
    case 'embed':
      return embedder.embed(request.text);
    case 'embedBatch':
      return embedder.embedBatch(request.texts);
    case 'tokenCount':
      return embedder.tokenCount(request.text);
    default:
      throw new Error(`vecgate/embedder: unknown request ${type}`);
  }
}

let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      const result = await handle(data);
      // Vectors move to the page without a copy.
      const transfer = result instanceof Float32Array ? [result.buffer] : Array.isArray(result) ? result.map((v) => v.buffer) : [];
      self.postMessage({ id: data.id, ok: true, result }, transfer);
    } catch (error) {
      self.postMessage({ id: data.id, ok: false, error: String(error?.message ?? error) });
    }
  });
};
