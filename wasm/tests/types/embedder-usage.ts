// `vecgate/embedder`, type-checked with Node and bundler resolution (wasm/test.sh). The lines
// marked ts-expect-error must fail to compile, which proves the types are precise.
import {
  TextEmbedder,
  Tokenizer,
  clearModelCache,
  createEmbedderWorker,
  initEmbedder,
  loadEmbedder,
  maxTokens,
  type EmbedderSource,
  type EmbedderWorker,
  type LoadEmbedderOptions,
  type LoadedEmbedder,
} from 'vecgate/embedder';

const options: LoadEmbedderOptions = { modelUrl: '/models/model.onnx', tokenizerUrl: new URL('https://example.invalid/t.json') };
// @ts-expect-error: cache is a boolean or a cache name
const badCache: LoadEmbedderOptions = { modelUrl: 'm', tokenizerUrl: 't', cache: 1 };
// @ts-expect-error: tokenizerUrl is required
const missing: LoadEmbedderOptions = { modelUrl: 'm' };

await initEmbedder();
const embedder: LoadedEmbedder = await loadEmbedder({ ...options, cache: 'my-models' });
const vector: Float32Array = embedder.embed('animated film for kids about toys');
const vectors: Float32Array[] = embedder.embedBatch(['a', 'b']);
const dims: number = embedder.dimensions;
const source: EmbedderSource = embedder.source;
const from: 'network' | 'cache' | 'file' = source.model;
// @ts-expect-error: dimensions is read-only
embedder.dimensions = 3;
// @ts-expect-error: embed returns a Float32Array, not a promise
const notAPromise: Promise<Float32Array> = embedder.embed('x');

const direct = new TextEmbedder(new Uint8Array(), new ArrayBuffer(0));
const ids: Uint32Array = new Tokenizer(new Uint8Array()).encode('toys');
const max: number = maxTokens();

const worker: EmbedderWorker = await createEmbedderWorker(options);
const fromWorker: Float32Array = await worker.embed('toys');
const batchFromWorker: Float32Array[] = await worker.embedBatch(['a']);
const count: number = await worker.tokenCount('toys');
// @ts-expect-error: the Worker's embed is asynchronous
const sync: Float32Array = worker.embed('toys');
worker.terminate();
const cleared: boolean = await clearModelCache();

export { badCache, missing, vector, vectors, dims, from, notAPromise, direct, ids, max, fromWorker, batchFromWorker, count, sync, cleared };
