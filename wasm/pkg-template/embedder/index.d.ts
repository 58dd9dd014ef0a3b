// Types of `vecgate/embedder` (the browser entry index.js and the Node entry node.js alike).
import type { InitInput } from './embedder.js';
import { TextEmbedder } from './embedder.js';

export { TextEmbedder, Tokenizer, maxTokens } from './embedder.js';

/** The Cache Storage cache the model files are kept in by default: "vecgate-models". */
export declare const DEFAULT_CACHE: 'vecgate-models';

export interface LoadEmbedderOptions {
  /** `model.onnx`: a URL (relative ones resolve against the page or Worker), in Node also a path or `file:` URL. */
  modelUrl: string | URL;
  /** `tokenizer.json`, the same way. */
  tokenizerUrl: string | URL;
  /**
   * Keep fetched files in Cache Storage: `true` (default) uses the cache "vecgate-models", a string
   * names another, `false` always fetches. Where Cache Storage is missing (Node, insecure origins)
   * files are fetched every time. The URL is the key: version it when the model changes.
   */
  cache?: boolean | string;
}

/** Where a model file came from. */
export type FileOrigin = 'network' | 'cache' | 'file';

export interface EmbedderSource {
  readonly model: FileOrigin;
  readonly tokenizer: FileOrigin;
  /** Fetching (or reading) both files and building the embedder, in milliseconds. */
  readonly loadMs: number;
}

/** A `TextEmbedder` that says where its files came from. */
export type LoadedEmbedder = TextEmbedder & { readonly source: EmbedderSource };

/** Fetches (or reads from Cache Storage, or in Node from disk) the model and tokenizer and builds the embedder. */
export declare function loadEmbedder(options: LoadEmbedderOptions): Promise<LoadedEmbedder>;

/** The embedder running in a module Worker: the same methods, as promises. */
export interface EmbedderWorker {
  readonly dimensions: number;
  readonly source: EmbedderSource;
  embed(text: string): Promise<Float32Array>;
  embedBatch(texts: string[]): Promise<Float32Array[]>;
  tokenCount(text: string): Promise<number>;
  /** Stops the Worker; pending and later calls reject. */
  terminate(): void;
}

/** Loads the embedder in a new module Worker (browsers). Rejects in Node. */
export declare function createEmbedderWorker(options: LoadEmbedderOptions): Promise<EmbedderWorker>;

/**
 * Instantiates the embedder's .wasm ahead of time (browsers; `loadEmbedder` calls it). Pass a URL
 * or the bytes to load it from elsewhere than next to the package. A no-op in Node.
 */
export declare function initEmbedder(wasm?: InitInput | Promise<InitInput>): Promise<void>;

/** Deletes the Cache Storage cache of model files; `false` when there was none. */
export declare function clearModelCache(cacheName?: string): Promise<boolean>;
