// Types of `vecgate/client`. The wire types (requests and responses as JSON) mirror
// edge/openapi.json; the package's tests generate types from that document (openapi-typescript)
// and fail unless these are the same, property for property.
import type { CandidateSet } from '../web/vecgate.js';

// ---------------------------------------------------------------------------------------------
// Wire types: exactly the API's JSON.

/** 1 to 256 bytes of UTF-8 without control characters, e.g. `"movie-603"`. */
export type Id = string;
/** A non-zero vector of the server's dimension. */
export type Vector = number[];
/** The filter language: `{"genres": ["Comedy"], "rating": {"$gte": 7}, "$or": [...]}`. */
export type Filter = Record<string, unknown>;
/** Metadata: any JSON object (title, genres, rating, year, …). */
export type Metadata = Record<string, unknown>;
export type Include = 'metadata' | 'vector';
export type MediaType = 'movie' | 'tv';

/** `{"error": {"code", "message"}}`, the body of every 4xx/5xx. */
export interface ErrorBody {
  error: {
    code: string;
    message: string;
    /** On a 5xx: names the failure in the server's log, where its cause is. */
    request_id?: string;
  };
}

export interface HealthResponse {
  status: 'ok';
}

export type OpenApiDocument = Record<string, unknown>;

export interface Stats {
  backend: 'postgres' | 'embedded';
  dialect?: 'ruvector' | 'pgvector';
  dimensions: number;
  content_count: number;
  user_count: number;
  search_log_count: number;
  recall?: {
    sample_rate?: number;
    mean?: number | null;
    samples?: number;
    skipped?: number;
  };
}

/** Exactly one of `vector` and `text`. */
export type SearchRequest = {
  vector?: Vector;
  text?: string;
  k?: number;
  threshold?: number;
  filter?: Filter;
  user_id?: Id;
  personalize?: boolean;
  include?: Include[];
  /** At least this recall@k, in (0, 1]: the learned breadth when its measured lower bound meets it, else an exact scan. */
  min_recall?: number;
  /** Compare every matching item instead of walking the index. */
  exact?: boolean;
} & ({ vector: Vector } | { text: string });

export interface SearchHit {
  id: string;
  score: number;
  metadata?: Metadata;
  vector?: Vector;
}

export interface SearchResponse {
  results: SearchHit[];
  took_ms: number;
}

/** At least one positive example, or `user_ids`. */
export type RecommendRequest = {
  positive?: Id[];
  negative?: Id[];
  strategy?: 'average' | 'best_score';
  user_ids?: Id[];
  k?: number;
  threshold?: number;
  filter?: Filter;
  include?: Include[];
} & ({ positive: Id[] } | { user_ids: Id[] });

export interface RecommendResponse {
  results: SearchHit[];
  took_ms: number;
  members_without_preference?: string[];
}

/** A `vector` or a `text` (not both), or only a `user_id`. */
export type CandidatesRequest = {
  vector?: Vector;
  text?: string;
  user_id?: Id;
  n?: number;
  filter?: Filter;
  encoding?: 'f32' | 'int8';
} & ({ vector: Vector } | { text: string } | { user_id: Id });

export interface EmbedRequest {
  texts: string[];
}

export interface EmbedResponse {
  vectors: Vector[];
  dimensions: number;
  took_ms: number;
}

export interface ContentItem {
  id: Id;
  content_id?: number | null;
  media_type: MediaType;
  metadata?: Metadata;
  vector: Vector;
  text?: string | null;
}

export interface UpsertContentRequest {
  items: ContentItem[];
}

export interface UpsertContentResponse {
  upserted: number;
}

export interface DeleteContentResponse {
  deleted: string;
}

/** `DELETE /v1/users/{id}`: what erasing the user removed. */
export interface EraseUserResponse {
  user_id: Id;
  deleted: {
    /** 0 or 1: watch events are folded into the preference and not kept apart. */
    preferences: number;
    search_logs: number;
  };
}

/** The query string of `GET /v1/content/{id}/similar` (`filter` is JSON text there). */
export interface SimilarQuery {
  k?: number;
  threshold?: number;
  filter?: string;
  user_id?: Id;
}

export interface UserPreference {
  vector: Vector;
  confidence: number;
  genre_affinities?: { [key: string]: number };
}

export interface WatchEvent {
  content_id: Id;
  completion: number;
  rating?: number | null;
  rewatch?: boolean;
  duration_ratio?: number;
}

// ---------------------------------------------------------------------------------------------
// What the methods take: the wire types, with vectors also as Float32Array.

/** A vector as the methods take it: an array or a Float32Array (sent as a JSON array). */
export type VectorInput = number[] | Float32Array;

/** `T` with every `Vector` (also inside arrays and nested objects) accepting a Float32Array. */
export type WithVectorInput<T> = T extends Vector
  ? VectorInput
  : T extends (infer U)[]
    ? WithVectorInput<U>[]
    : T extends object
      ? { [K in keyof T]: WithVectorInput<T[K]> }
      : T;

export type OperationId =
  | 'health'
  | 'metrics'
  | 'openapi'
  | 'stats'
  | 'search'
  | 'recommend'
  | 'candidates'
  | 'embed'
  | 'upsertContent'
  | 'getContent'
  | 'deleteContent'
  | 'similar'
  | 'deleteUser'
  | 'getPreference'
  | 'putPreference'
  | 'recordEvent';

export interface OperationSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  /** Retried on a 503 and on network errors. */
  readonly idempotent: boolean;
}

/** Every operation of the API by `operationId` (= the method name): method, path, idempotency. */
export declare const OPERATIONS: { readonly [K in OperationId]: OperationSpec };

/** The most items one `POST /v1/content` takes; `upsertContent` splits larger batches. */
export declare const MAX_UPSERT_ITEMS: 1000;
/** `upsertContent` also keeps each request under this many bytes (15 MiB). */
export declare const MAX_UPSERT_BYTES: number;

export interface RetryOptions {
  /** Requests per call at most, the first included (default 4). */
  maxAttempts?: number;
  /** The first wait (default 200 ms); each next one doubles, half of it random. */
  baseDelayMs?: number;
  /** The longest wait (default 5,000 ms). */
  maxDelayMs?: number;
}

export interface RetryEvent {
  operation: OperationId;
  /** The attempt that failed (1 for the first request). */
  attempt: number;
  /** How long the client waits before the next attempt. */
  delayMs: number;
  error: VecgateError;
}

export declare const DEFAULTS: {
  readonly timeoutMs: 30000;
  readonly retry: Readonly<Required<RetryOptions>>;
  readonly candidateCacheEntries: 8;
};

export interface ClientOptions {
  /** `http://host:8080`, or `''` for the page's own origin. */
  baseUrl: string | URL;
  /** Sent as `Authorization: Bearer …`. */
  apiKey?: string | null;
  /** The whole call, retries and waits included (default 30,000). */
  timeoutMs?: number;
  /** Retries of idempotent calls on a 503 or a network error; `false` turns them off. */
  retry?: RetryOptions | false;
  /** The `fetch` to use (default: the global one). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Called before each retry (logging, metrics). */
  onRetry?: (event: RetryEvent) => void;
  /** Candidate sets kept for `If-None-Match` revalidation (default 8; 0 keeps none). */
  candidateCacheEntries?: number;
  /**
   * The `CandidateSet` class `candidates()` decodes with, e.g. from `vecgate/bundler` or an
   * already initialized `vecgate/web`. Default: the package's own entry, loaded on first use.
   */
  CandidateSet?: { fromBytes(bytes: Uint8Array): CandidateSet };
}

export interface CallOptions {
  /** Cancels the call (the error's code is `aborted`). */
  signal?: AbortSignal;
  /** This call's budget instead of the client's `timeoutMs`. */
  timeoutMs?: number;
}

export interface UpsertOptions extends CallOptions {
  /** Items per request, 1 to 1,000 (default 1,000). Each request is all or nothing. */
  chunkSize?: number;
}

export interface CandidatesCallOptions extends CallOptions {
  /** `false`: neither send `If-None-Match` nor keep the result. */
  cache?: boolean;
}

/** A decoded candidate set, with the response's `ETag` and whether it came from the 304 cache. */
export type CandidateSetResponse = CandidateSet & {
  readonly etag: string | null;
  readonly fromCache: boolean;
};

export interface UpsertChunk {
  /** The chunk's position, from 0. */
  index: number;
  /** Its items are `items.slice(start, end)`. */
  start: number;
  end: number;
}

export interface WrittenChunk extends UpsertChunk {
  upserted: number;
}

export interface UpsertResult extends UpsertContentResponse {
  chunks: WrittenChunk[];
}

/** `similar()`'s query: the filter as an object (sent as JSON) or as JSON text. */
export type SimilarOptions = Omit<SimilarQuery, 'filter'> & { filter?: Filter | string };

/** A hit as the in-memory wrapper returned it: `content` is the item's stored metadata. */
export interface SimilarContent<T = Metadata> {
  id: string;
  score: number;
  content: T;
}

/** What `storeContentEmbedding` takes: the wrapper's `{id: 603, mediaType: 'movie', …}` or an API item's `{id: 'movie-603', media_type, metadata?}`. */
export type ContentInput =
  | ({ id: number | string; mediaType: MediaType } & Record<string, unknown>)
  | ({ id: string; media_type: MediaType; content_id?: number | null; metadata?: Metadata } & Record<string, unknown>);

/** The in-memory wrapper's filter: the API's filter language; `mediaType` is read as `media_type`. */
export type LegacyFilter = Filter & { mediaType?: MediaType };

// ---------------------------------------------------------------------------------------------
// Errors

export type ClientErrorCode =
  | 'network_error'
  | 'timeout'
  | 'aborted'
  | 'invalid_argument'
  | 'invalid_response'
  | 'http_error'
  | 'wasm_unavailable';

/**
 * Every failure: the API's `{"error": {code, message}}` with the response's status, or the
 * client's own (status 0, except `http_error`/`invalid_response`).
 */
export declare class VecgateError extends Error {
  readonly name: 'VecgateError' | 'VecgateBatchError';
  /** The API's code (`not_found`, `invalid_request`, `unavailable`, …) or a `ClientErrorCode`. */
  readonly code: string;
  /** The HTTP status; 0 when no response came. */
  readonly status: number;
  readonly operation: OperationId | 'VecgateClient' | string | null;
  readonly method: string | null;
  readonly url: string | null;
  /** Requests sent for this call. */
  readonly attempts: number;
}

/** `upsertContent` stopped at a chunk: which failed, which were written, which were not sent. */
export declare class VecgateBatchError extends VecgateError {
  readonly name: 'VecgateBatchError';
  readonly failedChunk: UpsertChunk;
  readonly written: WrittenChunk[];
  readonly writtenItems: number;
  readonly unsentChunks: UpsertChunk[];
}

// ---------------------------------------------------------------------------------------------
// The client

export declare class VecgateClient {
  constructor(options: ClientOptions);
  readonly baseUrl: string;

  /** `GET /health`. */
  health(options?: CallOptions): Promise<HealthResponse>;
  /** `GET /metrics`: Prometheus text. */
  metrics(options?: CallOptions): Promise<string>;
  /** `GET /openapi.json`. */
  openapi(options?: CallOptions): Promise<OpenApiDocument>;
  /** `GET /v1/stats`. */
  stats(options?: CallOptions): Promise<Stats>;
  /** `POST /v1/search`. */
  search(request: WithVectorInput<SearchRequest>, options?: CallOptions): Promise<SearchResponse>;
  /** `POST /v1/recommend`. */
  recommend(request: RecommendRequest, options?: CallOptions): Promise<RecommendResponse>;
  /** `POST /v1/candidates` → a CandidateSet ready to rerank; revalidated with `If-None-Match`. */
  candidates(request: WithVectorInput<CandidatesRequest>, options?: CandidatesCallOptions): Promise<CandidateSetResponse>;
  /** Forgets the kept candidate sets. */
  clearCandidateCache(): void;
  /** `POST /v1/embed`: 1 to 64 texts. */
  embed(texts: string[] | EmbedRequest, options?: CallOptions): Promise<EmbedResponse>;
  /** `POST /v1/content`, in chunks of at most 1,000 items; throws `VecgateBatchError`. */
  upsertContent(items: WithVectorInput<ContentItem>[] | WithVectorInput<UpsertContentRequest>, options?: UpsertOptions): Promise<UpsertResult>;
  /** `GET /v1/content/{id}`. */
  getContent(id: Id, options?: CallOptions): Promise<ContentItem>;
  /** `DELETE /v1/content/{id}`. */
  deleteContent(id: Id, options?: CallOptions): Promise<DeleteContentResponse>;
  /** `GET /v1/content/{id}/similar`. */
  similar(id: Id, query?: SimilarOptions, options?: CallOptions): Promise<SearchResponse>;
  /** `DELETE /v1/users/{id}`: erases the user's preference and search-log rows (that user's key or token, or an admin key). */
  deleteUser(userId: Id, options?: CallOptions): Promise<EraseUserResponse>;
  /** `GET /v1/users/{id}/preference`. */
  getPreference(userId: Id, options?: CallOptions): Promise<UserPreference>;
  /** `PUT /v1/users/{id}/preference`. */
  putPreference(userId: Id, preference: WithVectorInput<UserPreference>, options?: CallOptions): Promise<UserPreference>;
  /** `POST /v1/users/{id}/events` (never retried). */
  recordEvent(userId: Id, event: WatchEvent, options?: CallOptions): Promise<UserPreference>;

  // The in-memory wrapper's methods, for migrating code unchanged.

  /** One text's embedding by the server's model. */
  generateEmbedding(text: string): Promise<Float32Array>;
  /** Nearest items to a vector, best first; no threshold when omitted. */
  searchByEmbedding<T = Metadata>(vector: VectorInput, k?: number, threshold?: number | null, filter?: LegacyFilter | null): Promise<SimilarContent<T>[]>;
  /** Free-text search; the server embeds the text. */
  semanticSearch<T = Metadata>(text: string, k?: number, filter?: LegacyFilter | null, threshold?: number | null): Promise<SimilarContent<T>[]>;
  /** Items similar to one item (without it); `[]` for an unknown id. */
  findSimilarContent<T = Metadata>(id: Id, k?: number): Promise<SimilarContent<T>[]>;
  findSimilarContent<T = Metadata>(contentId: number, mediaType: MediaType, k?: number): Promise<SimilarContent<T>[]>;
  /** Stores one item with its vector; resolves with its id (`"movie-603"`). */
  storeContentEmbedding(content: ContentInput, embedding: VectorInput): Promise<string>;
  /** Stores many, in chunks of 1,000; their ids. */
  batchStoreEmbeddings(contents: { content: ContentInput; embedding: VectorInput }[]): Promise<string[]>;
  /** Deletes by `(contentId, mediaType)` or full id; whether it existed. */
  deleteContentVector(contentId: number, mediaType: MediaType): Promise<boolean>;
  deleteContentVector(id: Id): Promise<boolean>;
  /** `{vectorCount, dimensions, backend}`. */
  getStats(): Promise<{ vectorCount: number; dimensions: number; backend: Stats['backend'] }>;
}

/** `new VecgateClient(options)`. */
export declare function createClient(options: ClientOptions): VecgateClient;
