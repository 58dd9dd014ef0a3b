// `vecgate/client`: a typed client of the vecgate HTTP API (edge/openapi.json), on `fetch`, for
// Node 18+, browsers and Workers. Shared by the browser entry (index.js) and the Node entry
// (node.js), which differ only in how `candidates()` loads the package's WebAssembly: lazily, on
// the first `candidates()` call, never before. (Each entry subclasses `VecgateClient` with its
// loader; nothing here runs on import, so bundlers may tree-shake freely.)

/**
 * Every operation of the API, by its `operationId`, which is also the client's method name.
 * `idempotent` operations are retried (on a 503 and on network errors); the others never are.
 *
 * - GET, PUT (a preference is replaced whole) and DELETE are idempotent.
 * - search, recommend, candidates and embed are POSTs that read: idempotent. A retried search may
 *   write a second search-log row; nothing else changes.
 * - upsertContent writes items by id, each with the values sent, so sending a chunk twice leaves
 *   the same rows: idempotent, retried chunk by chunk.
 * - recordEvent moves the user's preference vector a step towards the item: applying it twice is
 *   two steps, so it is never retried.
 */
export const OPERATIONS = Object.freeze({
  health: op('GET', '/health', true),
  metrics: op('GET', '/metrics', true),
  openapi: op('GET', '/openapi.json', true),
  stats: op('GET', '/v1/stats', true),
  search: op('POST', '/v1/search', true),
  recommend: op('POST', '/v1/recommend', true),
  candidates: op('POST', '/v1/candidates', true),
  embed: op('POST', '/v1/embed', true),
  upsertContent: op('POST', '/v1/content', true),
  getContent: op('GET', '/v1/content/{id}', true),
  deleteContent: op('DELETE', '/v1/content/{id}', true),
  similar: op('GET', '/v1/content/{id}/similar', true),
  deleteUser: op('DELETE', '/v1/users/{id}', true),
  getPreference: op('GET', '/v1/users/{id}/preference', true),
  putPreference: op('PUT', '/v1/users/{id}/preference', true),
  recordEvent: op('POST', '/v1/users/{id}/events', false),
});

function op(method, path, idempotent) {
  return Object.freeze({ method, path, idempotent });
}

/** The most items `POST /v1/content` takes in one request. */
export const MAX_UPSERT_ITEMS = 1000;
/** Chunks also stay under this many bytes of JSON (the server takes bodies up to 16 MiB). */
export const MAX_UPSERT_BYTES = 15 * 1024 * 1024;

export const DEFAULTS = Object.freeze({
  timeoutMs: 30_000,
  retry: Object.freeze({ maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5_000 }),
  candidateCacheEntries: 8,
});

const CANDIDATES_TYPE = 'application/vnd.vecgate.candidates';

/**
 * Every failure of a client call: the API's error body (`{"error": {"code", "message"}}`) with
 * the response status, or a failure the client itself saw, with status 0 and one of the codes
 * `network_error`, `timeout`, `aborted`, `invalid_argument`, `invalid_response`.
 */
export class VecgateError extends Error {
  constructor(message, { code, status = 0, operation = null, method = null, url = null, attempts = 0, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'VecgateError';
    /** The API's error code (`not_found`, `invalid_request`, `unavailable`, …) or the client's. */
    this.code = code;
    /** The HTTP status, or 0 when no response came. */
    this.status = status;
    /** The operation (method name) that failed. */
    this.operation = operation;
    this.method = method;
    this.url = url;
    /** Requests sent for this call (more than 1 after retries). */
    this.attempts = attempts;
  }
}

/**
 * A chunked `upsertContent` that stopped at a chunk. Each chunk is all or nothing; the call is
 * not: `written` lists the chunks the server stored, `failedChunk` the one that failed (this
 * error's code, status and message are its), `unsentChunks` those never sent.
 */
export class VecgateBatchError extends VecgateError {
  constructor(chunkError, { failedChunk, written, unsentChunks, totalItems }) {
    const writtenItems = written.reduce((n, c) => n + (c.end - c.start), 0);
    const message =
      `upsertContent: chunk ${failedChunk.index + 1} of ${failedChunk.index + 1 + unsentChunks.length} ` +
      `(items ${failedChunk.start}..${failedChunk.end - 1}) failed: ${chunkError.message}; ` +
      `${writtenItems} of ${totalItems} items were written (${written.length} chunk${written.length === 1 ? '' : 's'}), ` +
      `${unsentChunks.length} chunk${unsentChunks.length === 1 ? ' was' : 's were'} not sent`;
    super(message, {
      code: chunkError.code,
      status: chunkError.status,
      operation: 'upsertContent',
      method: chunkError.method,
      url: chunkError.url,
      attempts: chunkError.attempts,
      cause: chunkError,
    });
    this.name = 'VecgateBatchError';
    this.failedChunk = failedChunk;
    this.written = written;
    this.writtenItems = writtenItems;
    this.unsentChunks = unsentChunks;
  }
}

function invalid(operation, message) {
  return new VecgateError(`${operation}: ${message}`, { code: 'invalid_argument', operation });
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** JSON with typed arrays (Float32Array vectors) written as arrays. */
function toJson(value) {
  return JSON.stringify(value, (_key, v) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v) : v));
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkId(operation, name, id) {
  if (typeof id !== 'string' || id === '') throw invalid(operation, `${name} must be a non-empty string`);
  return id;
}

function checkPositiveInt(operation, name, value) {
  if (!Number.isInteger(value) || value < 1) throw invalid(operation, `${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** The in-memory wrapper's filter key `mediaType` is the API's `media_type`. */
function legacyFilter(filter) {
  if (!isPlainObject(filter) || !('mediaType' in filter)) return filter;
  const { mediaType, ...rest } = filter;
  return mediaType === undefined ? rest : { media_type: mediaType, ...rest };
}

/** A search hit as the in-memory wrapper returned it: the stored metadata as `content`. */
function toSimilarContent(hit) {
  return { id: hit.id, score: hit.score, content: hit.metadata ?? {} };
}

function retryAfterMs(response) {
  const value = response.headers.get('retry-after');
  if (value === null) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

async function readError(response, context) {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body is lost; the status still says what happened.
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    return new VecgateError(error.message, { ...context, code: error.code, status: response.status });
  }
  const snippet = text.trim().slice(0, 200);
  return new VecgateError(
    `${context.method} ${context.url}: HTTP ${response.status}${snippet ? `: ${snippet}` : ''} (not a vecgate error body)`,
    { ...context, code: 'http_error', status: response.status },
  );
}

// ---------------------------------------------------------------------------------------------
// The client

export class VecgateClient {
  #baseUrl;
  #apiKey;
  #timeoutMs;
  #retry;
  #fetch;
  #headers;
  #onRetry;
  #loadWasm;
  #wasm = null;
  #candidateCache = new Map();
  #candidateCacheEntries;

  /**
   * @param {object} options `baseUrl` (required; '' is the page's origin), `apiKey`, `timeoutMs`
   *   (the whole call, retries included), `retry` (`{maxAttempts, baseDelayMs, maxDelayMs}` or
   *   false), `fetch`, `headers`, `onRetry`, `candidateCacheEntries`, `CandidateSet`.
   */
  constructor(options, loadWasm) {
    if (!isPlainObject(options)) throw invalid('VecgateClient', 'needs an options object {baseUrl, apiKey?, …}');
    const known = new Set(['baseUrl', 'apiKey', 'timeoutMs', 'retry', 'fetch', 'headers', 'onRetry', 'candidateCacheEntries', 'CandidateSet']);
    for (const key of Object.keys(options)) {
      if (!known.has(key)) throw invalid('VecgateClient', `unknown option ${JSON.stringify(key)} (expected ${[...known].join(', ')})`);
    }
    const { baseUrl, apiKey, timeoutMs = DEFAULTS.timeoutMs, retry = DEFAULTS.retry, headers = {}, onRetry, candidateCacheEntries = DEFAULTS.candidateCacheEntries } = options;
    if (typeof baseUrl !== 'string' && !(baseUrl instanceof URL)) throw invalid('VecgateClient', 'baseUrl must be a string or a URL');
    this.#baseUrl = String(baseUrl).replace(/\/+$/, '');
    if (apiKey !== undefined && apiKey !== null && (typeof apiKey !== 'string' || apiKey === '')) {
      throw invalid('VecgateClient', 'apiKey must be a non-empty string');
    }
    this.#apiKey = apiKey ?? null;
    if (!(typeof timeoutMs === 'number' && timeoutMs > 0)) throw invalid('VecgateClient', 'timeoutMs must be a positive number');
    this.#timeoutMs = timeoutMs;
    if (retry === false) {
      this.#retry = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
    } else if (isPlainObject(retry)) {
      const merged = { ...DEFAULTS.retry, ...retry };
      checkPositiveInt('VecgateClient', 'retry.maxAttempts', merged.maxAttempts);
      for (const key of ['baseDelayMs', 'maxDelayMs']) {
        if (!(typeof merged[key] === 'number' && merged[key] >= 0)) throw invalid('VecgateClient', `retry.${key} must be a number ≥ 0`);
      }
      this.#retry = merged;
    } else {
      throw invalid('VecgateClient', 'retry must be false or {maxAttempts, baseDelayMs, maxDelayMs}');
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw invalid('VecgateClient', 'no fetch: pass options.fetch (Node 18+ and browsers have one)');
    // Called unbound: browsers' fetch throws "Illegal invocation" when called as another object's method.
    this.#fetch = options.fetch ? (url, init) => fetchImpl(url, init) : (url, init) => globalThis.fetch(url, init);
    if (!isPlainObject(headers)) throw invalid('VecgateClient', 'headers must be an object');
    this.#headers = { ...headers };
    if (onRetry !== undefined && typeof onRetry !== 'function') throw invalid('VecgateClient', 'onRetry must be a function');
    this.#onRetry = onRetry ?? null;
    if (!Number.isInteger(candidateCacheEntries) || candidateCacheEntries < 0) {
      throw invalid('VecgateClient', 'candidateCacheEntries must be an integer ≥ 0');
    }
    this.#candidateCacheEntries = candidateCacheEntries;
    if (options.CandidateSet !== undefined) {
      if (typeof options.CandidateSet?.fromBytes !== 'function') throw invalid('VecgateClient', 'CandidateSet must be the package\'s CandidateSet class');
      const CandidateSet = options.CandidateSet;
      this.#loadWasm = () => Promise.resolve(CandidateSet);
    } else if (typeof loadWasm === 'function') {
      this.#loadWasm = loadWasm;
    } else {
      this.#loadWasm = () => Promise.reject(new Error('no WebAssembly loader: import VecgateClient from "vecgate/client"'));
    }
  }

  /** The base URL requests go to, without a trailing slash. */
  get baseUrl() {
    return this.#baseUrl;
  }

  // -------------------------------------------------------------------------------------------
  // The request loop: timeout, retries with backoff, errors.

  #backoff(attempt, response) {
    const { baseDelayMs, maxDelayMs } = this.#retry;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    // "Equal jitter": at least half the exponential step, so waits grow; the other half random,
    // so clients that failed together do not retry together.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    const asked = response ? retryAfterMs(response) : 0;
    return Math.max(delay, Math.min(asked, maxDelayMs));
  }

  /**
   * Sends one operation and returns `{response, attempts}` for a 2xx or 304 response, whose body
   * `read(response)` has read within the same timeout. Throws VecgateError otherwise.
   */
  async #send(operation, { pathParams = {}, query, body, headers = {}, read, options = {} }) {
    const spec = OPERATIONS[operation];
    let path = spec.path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(pathParams[name]));
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null) params.set(key, String(value));
      const text = params.toString();
      if (text) path += `?${text}`;
    }
    const url = `${this.#baseUrl}${path}`;
    const context = { operation, method: spec.method, url };
    const requestHeaders = { accept: 'application/json', ...this.#headers, ...headers };
    if (this.#apiKey) requestHeaders.authorization = `Bearer ${this.#apiKey}`;
    if (body !== undefined) requestHeaders['content-type'] = 'application/json';

    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const userSignal = options.signal ?? null;
    const maxAttempts = spec.idempotent ? this.#retry.maxAttempts : 1;
    const timedOut = (attempts, cause) =>
      new VecgateError(`${operation}: no answer within ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'})`, {
        ...context,
        code: 'timeout',
        attempts,
        cause,
      });
    const aborted = (attempts) =>
      new VecgateError(`${operation}: aborted`, { ...context, code: 'aborted', attempts, cause: userSignal?.reason });

    for (let attempt = 1; ; attempt++) {
      if (userSignal?.aborted) throw aborted(attempt - 1);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw timedOut(attempt - 1);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('timeout')), remaining);
      const onUserAbort = () => controller.abort(userSignal.reason);
      userSignal?.addEventListener('abort', onUserAbort, { once: true });
      let failure;
      let retryResponse = null;
      try {
        const response = await this.#fetch(url, { method: spec.method, headers: requestHeaders, body, signal: controller.signal });
        if ((response.status >= 200 && response.status < 300) || response.status === 304) {
          const value = read ? await read(response) : undefined;
          return { response, value, attempts: attempt };
        }
        failure = await readError(response, { ...context, attempts: attempt });
        if (response.status !== 503) throw failure;
        retryResponse = response;
      } catch (error) {
        if (error instanceof VecgateError) throw error;
        if (userSignal?.aborted) throw aborted(attempt);
        if (controller.signal.aborted) throw timedOut(attempt, error);
        const reason = error?.cause?.code ?? error?.cause?.message ?? '';
        failure = new VecgateError(
          `${spec.method} ${url} failed: ${error?.message ?? error}${reason && !String(error?.message).includes(reason) ? ` (${reason})` : ''}`,
          { ...context, code: 'network_error', attempts: attempt, cause: error },
        );
      } finally {
        clearTimeout(timer);
        userSignal?.removeEventListener('abort', onUserAbort);
      }
      // A 503 or a network error: retry the idempotent, within the attempts and the time left.
      if (attempt >= maxAttempts) throw failure;
      const delay = this.#backoff(attempt, retryResponse);
      if (Date.now() + delay >= deadline) throw failure;
      this.#onRetry?.({ operation, attempt, delayMs: delay, error: failure });
      try {
        await sleep(delay, userSignal);
      } catch {
        throw aborted(attempt);
      }
    }
  }

  async #json(operation, request) {
    const { value } = await this.#send(operation, {
      ...request,
      read: async (response) => {
        const text = await response.text();
        try {
          return JSON.parse(text);
        } catch (cause) {
          throw new VecgateError(`${operation}: the response is not JSON: ${text.slice(0, 200)}`, {
            code: 'invalid_response',
            status: response.status,
            operation,
            cause,
          });
        }
      },
    });
    return value;
  }

  // -------------------------------------------------------------------------------------------
  // One method per operation (the operationId).

  /** `GET /health`: `{status: "ok"}`; a store that is down answers 503 (retried, then thrown). */
  async health(options) {
    return this.#json('health', { options });
  }

  /** `GET /metrics`: Prometheus text. */
  async metrics(options) {
    const { value } = await this.#send('metrics', { headers: { accept: 'text/plain' }, read: (r) => r.text(), options });
    return value;
  }

  /** `GET /openapi.json`: the served OpenAPI document (with the configured dimension). */
  async openapi(options) {
    return this.#json('openapi', { options });
  }

  /** `GET /v1/stats`. */
  async stats(options) {
    return this.#json('stats', { options });
  }

  /** `POST /v1/search`: `{vector | text, k, threshold, filter, user_id, personalize, include}`. */
  async search(request, options) {
    if (!isPlainObject(request)) throw invalid('search', 'needs a request object {vector | text, k?, …}');
    return this.#json('search', { body: toJson(request), options });
  }

  /** `POST /v1/recommend`: `{positive?, negative?, strategy?, user_ids?, k, threshold, filter, include}`. */
  async recommend(request, options) {
    if (!isPlainObject(request)) throw invalid('recommend', 'needs a request object {positive? | user_ids?, …}');
    return this.#json('recommend', { body: toJson(request), options });
  }

  /** `POST /v1/embed`: `texts` (an array, or `{texts}`) → `{vectors, dimensions, took_ms}`. */
  async embed(texts, options) {
    const request = Array.isArray(texts) ? { texts } : texts;
    if (!isPlainObject(request) || !Array.isArray(request.texts)) throw invalid('embed', 'needs an array of texts or {texts}');
    return this.#json('embed', { body: toJson(request), options });
  }

  /**
   * `POST /v1/candidates` → a `CandidateSet` (the package's WebAssembly class, loaded on the first
   * call), with `etag` and `fromCache`. The last `candidateCacheEntries` sets are kept by request:
   * asking again sends `If-None-Match`, and on the server's 304 the kept bytes are decoded again,
   * with nothing downloaded. `options.cache: false` skips the cache for one call.
   */
  async candidates(request, options = {}) {
    if (!isPlainObject(request)) throw invalid('candidates', 'needs a request object {vector | text | user_id, n?, …}');
    const body = toJson(request);
    const useCache = options.cache !== false && this.#candidateCacheEntries > 0;
    const cached = useCache ? this.#candidateCache.get(body) : undefined;
    // The WebAssembly loads while the request is in flight.
    const wasm = (this.#wasm ??= this.#loadWasm().catch((error) => {
      this.#wasm = null;
      throw error;
    }));
    wasm.catch(() => {});
    const { response, value } = await this.#send('candidates', {
      body,
      headers: { accept: CANDIDATES_TYPE, ...(cached ? { 'if-none-match': cached.etag } : {}) },
      read: async (r) => (r.status === 304 ? null : new Uint8Array(await r.arrayBuffer())),
      options,
    });
    let bytes = value;
    let etag = response.headers.get('etag');
    const fromCache = response.status === 304;
    if (fromCache) {
      if (!cached) {
        throw new VecgateError('candidates: the server answered 304 to a request without If-None-Match', {
          code: 'invalid_response',
          status: 304,
          operation: 'candidates',
        });
      }
      bytes = cached.bytes;
      etag ??= cached.etag;
      this.#candidateCache.delete(body); // re-inserted below: most recently used last
    }
    let CandidateSet;
    try {
      CandidateSet = await wasm;
    } catch (cause) {
      throw new VecgateError(`candidates: could not load the vecgate WebAssembly: ${cause?.message ?? cause}`, {
        code: 'wasm_unavailable',
        operation: 'candidates',
        cause,
      });
    }
    let set;
    try {
      set = CandidateSet.fromBytes(bytes);
    } catch (cause) {
      this.#candidateCache.delete(body);
      throw new VecgateError(`candidates: ${cause?.message ?? cause}`, { code: 'invalid_response', status: response.status, operation: 'candidates', cause });
    }
    if (useCache && etag) {
      this.#candidateCache.set(body, { etag, bytes });
      while (this.#candidateCache.size > this.#candidateCacheEntries) {
        this.#candidateCache.delete(this.#candidateCache.keys().next().value);
      }
    }
    Object.defineProperties(set, {
      etag: { value: etag, enumerable: false },
      fromCache: { value: fromCache, enumerable: false },
    });
    return set;
  }

  /** Forgets every kept candidate set. */
  clearCandidateCache() {
    this.#candidateCache.clear();
  }

  /**
   * `POST /v1/content`, split into requests of at most 1,000 items (`options.chunkSize`, 1 to
   * 1,000, makes them smaller) and 15 MiB. Each request is
   * all or nothing and is retried on its own; the call stops at the first chunk that fails with a
   * `VecgateBatchError` saying which chunk failed and which were written.
   * Resolves with `{upserted, chunks: [{index, start, end, upserted}]}`.
   */
  async upsertContent(items, options = {}) {
    const list = Array.isArray(items) ? items : isPlainObject(items) && Array.isArray(items.items) ? items.items : null;
    if (!list || list.length === 0) throw invalid('upsertContent', 'needs a non-empty array of items (or {items})');
    const { chunkSize = MAX_UPSERT_ITEMS, ...callOptions } = options;
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_UPSERT_ITEMS) {
      throw invalid('upsertContent', `chunkSize must be an integer from 1 to ${MAX_UPSERT_ITEMS}, got ${String(chunkSize)}`);
    }
    const chunks = [];
    let current = null;
    list.forEach((item, index) => {
      const json = toJson(item);
      if (json === undefined) throw invalid('upsertContent', `item ${index} is not JSON`);
      const bytes = json.length + 1;
      if (!current || current.json.length >= chunkSize || (current.json.length > 0 && current.bytes + bytes > MAX_UPSERT_BYTES)) {
        current = { index: chunks.length, start: index, end: index, json: [], bytes: 12 };
        chunks.push(current);
      }
      current.json.push(json);
      current.bytes += bytes;
      current.end = index + 1;
    });
    const written = [];
    for (const chunk of chunks) {
      try {
        const result = await this.#json('upsertContent', { body: `{"items":[${chunk.json.join(',')}]}`, options: callOptions });
        written.push({ index: chunk.index, start: chunk.start, end: chunk.end, upserted: result.upserted });
      } catch (error) {
        const describe = ({ index, start, end }) => ({ index, start, end });
        throw new VecgateBatchError(error, {
          failedChunk: describe(chunk),
          written,
          unsentChunks: chunks.slice(chunk.index + 1).map(describe),
          totalItems: list.length,
        });
      }
    }
    return { upserted: written.reduce((n, c) => n + c.upserted, 0), chunks: written };
  }

  /** `GET /v1/content/{id}`: `{id, content_id, media_type, metadata, vector}`. */
  async getContent(id, options) {
    return this.#json('getContent', { pathParams: { id: checkId('getContent', 'id', id) }, options });
  }

  /**
   * `DELETE /v1/content/{id}`: `{deleted: id}`. Retried like every idempotent call; when a retry
   * finds the item gone (404) after an attempt whose outcome was unknown, the item was deleted by
   * that attempt or never existed: either way it is absent, and the call resolves.
   */
  async deleteContent(id, options) {
    checkId('deleteContent', 'id', id);
    try {
      return await this.#json('deleteContent', { pathParams: { id }, options });
    } catch (error) {
      if (error instanceof VecgateError && error.status === 404 && error.code === 'not_found' && error.attempts > 1) return { deleted: id };
      throw error;
    }
  }

  /** `GET /v1/content/{id}/similar?k&threshold&filter&user_id`: items like one item, without it. */
  async similar(id, query = {}, options) {
    checkId('similar', 'id', id);
    if (!isPlainObject(query)) throw invalid('similar', 'the query must be an object {k?, threshold?, filter?, user_id?}');
    const { filter, ...rest } = query;
    return this.#json('similar', {
      pathParams: { id },
      query: { ...rest, filter: filter === undefined || typeof filter === 'string' ? filter : toJson(filter) },
      options,
    });
  }

  /**
   * `DELETE /v1/users/{id}`: erases the user's preference and search-log rows, and says how many
   * of each went. Needs that user's own key or token, or an admin key. Idempotent: a second
   * call finds nothing and reports zeros.
   */
  async deleteUser(userId, options) {
    return this.#json('deleteUser', { pathParams: { id: checkId('deleteUser', 'userId', userId) }, options });
  }

  /** `GET /v1/users/{id}/preference`: `{vector, confidence, genre_affinities}`. */
  async getPreference(userId, options) {
    return this.#json('getPreference', { pathParams: { id: checkId('getPreference', 'userId', userId) }, options });
  }

  /** `PUT /v1/users/{id}/preference`: replaces the preference. */
  async putPreference(userId, preference, options) {
    checkId('putPreference', 'userId', userId);
    if (!isPlainObject(preference)) throw invalid('putPreference', 'needs a preference object {vector, confidence, genre_affinities?}');
    return this.#json('putPreference', { pathParams: { id: userId }, body: toJson(preference), options });
  }

  /** `POST /v1/users/{id}/events`: a watch event; never retried (it is not idempotent). */
  async recordEvent(userId, event, options) {
    checkId('recordEvent', 'userId', userId);
    if (!isPlainObject(event)) throw invalid('recordEvent', 'needs an event object {content_id, completion, …}');
    return this.#json('recordEvent', { pathParams: { id: userId }, body: toJson(event), options });
  }

  // -------------------------------------------------------------------------------------------
  // The in-memory wrapper's methods (Media Gateway's RuVectorWrapper), same names and argument
  // order, over the API: the migration path from the in-memory backend.

  /** Embeds one text with the server's model (`POST /v1/embed`): a `Float32Array`. */
  async generateEmbedding(text) {
    if (typeof text !== 'string' || text.trim() === '') throw invalid('generateEmbedding', 'text must be a non-empty string');
    const { vectors } = await this.embed([text]);
    return Float32Array.from(vectors[0]);
  }

  /**
   * Nearest items to a vector: `[{id, score, content}]`, best first, where `content` is the stored
   * metadata. `threshold` is the minimum cosine (none when omitted); `filter` is the API's filter
   * language (the wrapper's `mediaType` key is accepted as `media_type`).
   */
  async searchByEmbedding(vector, k = 10, threshold, filter) {
    if (!(vector instanceof Float32Array || Array.isArray(vector))) throw invalid('searchByEmbedding', 'vector must be a Float32Array or an array of numbers');
    const { results } = await this.search({
      vector,
      k: checkPositiveInt('searchByEmbedding', 'k', k),
      ...(threshold === undefined || threshold === null ? {} : { threshold }),
      ...(filter === undefined || filter === null ? {} : { filter: legacyFilter(filter) }),
      include: ['metadata'],
    });
    return results.map(toSimilarContent);
  }

  /** Free-text search, the text embedded by the server: `[{id, score, content}]`. */
  async semanticSearch(text, k = 10, filter, threshold) {
    if (typeof text !== 'string' || text.trim() === '') throw invalid('semanticSearch', 'text must be a non-empty string');
    const { results } = await this.search({
      text,
      k: checkPositiveInt('semanticSearch', 'k', k),
      ...(threshold === undefined || threshold === null ? {} : { threshold }),
      ...(filter === undefined || filter === null ? {} : { filter: legacyFilter(filter) }),
      include: ['metadata'],
    });
    return results.map(toSimilarContent);
  }

  /**
   * Items similar to one item, without it: `findSimilarContent(id, k)` with the full id
   * (`"movie-603"`), or the wrapper's `findSimilarContent(contentId, mediaType, k)`.
   * `[{id, score, content}]`; an unknown id gives `[]`, as the wrapper did.
   */
  async findSimilarContent(id, ...rest) {
    let k = rest[0] ?? 10;
    if (typeof id === 'number' && (rest[0] === 'movie' || rest[0] === 'tv')) {
      id = `${rest[0]}-${id}`;
      k = rest[1] ?? 10;
    }
    checkId('findSimilarContent', 'id', id);
    try {
      const { results } = await this.similar(id, { k: checkPositiveInt('findSimilarContent', 'k', k) });
      return results.map(toSimilarContent);
    } catch (error) {
      if (error instanceof VecgateError && error.status === 404 && error.code === 'not_found') return [];
      throw error;
    }
  }

  /**
   * Stores one item and its vector; resolves with its id. `content` is the wrapper's
   * `{id, mediaType, title, …}` (a numeric `id` becomes `"movie-603"` and `content_id` 603) or
   * an API item's `{id: "movie-603", media_type, …}`; the whole object is stored as metadata.
   */
  async storeContentEmbedding(content, embedding) {
    const item = contentItem('storeContentEmbedding', content, embedding);
    await this.upsertContent([item]);
    return item.id;
  }

  /** Stores many `{content, embedding}` (in chunks of 1,000): their ids, in order. */
  async batchStoreEmbeddings(contents) {
    if (!Array.isArray(contents)) throw invalid('batchStoreEmbeddings', 'needs an array of {content, embedding}');
    const items = contents.map((entry, i) => {
      if (!isPlainObject(entry)) throw invalid('batchStoreEmbeddings', `entry ${i} is not {content, embedding}`);
      return contentItem('batchStoreEmbeddings', entry.content, entry.embedding);
    });
    if (items.length > 0) await this.upsertContent(items);
    return items.map((item) => item.id);
  }

  /** Deletes an item by the wrapper's `(contentId, mediaType)` or by full id: whether it existed. */
  async deleteContentVector(contentId, mediaType) {
    const id = typeof contentId === 'number' ? `${mediaType}-${contentId}` : contentId;
    checkId('deleteContentVector', 'id', id);
    try {
      await this.deleteContent(id);
      return true;
    } catch (error) {
      if (error instanceof VecgateError && error.status === 404 && error.code === 'not_found') return false;
      throw error;
    }
  }

  /** `{vectorCount, dimensions, backend}` from `GET /v1/stats`. */
  async getStats() {
    const stats = await this.stats();
    return { vectorCount: stats.content_count, dimensions: stats.dimensions, backend: stats.backend };
  }
}

function contentItem(operation, content, embedding) {
  if (!isPlainObject(content)) throw invalid(operation, 'content must be an object {id, mediaType, …}');
  if (!(embedding instanceof Float32Array || Array.isArray(embedding))) throw invalid(operation, 'embedding must be a Float32Array or an array of numbers');
  const mediaType = content.mediaType ?? content.media_type;
  if (mediaType !== 'movie' && mediaType !== 'tv') throw invalid(operation, `content.mediaType must be "movie" or "tv", got ${JSON.stringify(mediaType)}`);
  let id;
  let contentId = content.content_id ?? null;
  if (typeof content.id === 'number') {
    if (!Number.isInteger(content.id) || content.id < 0) throw invalid(operation, 'a numeric content.id must be an integer ≥ 0');
    id = `${mediaType}-${content.id}`;
    contentId = content.id;
  } else if (typeof content.id === 'string' && content.id !== '') {
    id = content.id;
  } else {
    throw invalid(operation, 'content.id must be a number (TMDB id) or a non-empty string');
  }
  const metadata = isPlainObject(content.metadata) && content.media_type !== undefined ? content.metadata : content;
  return { id, content_id: contentId, media_type: mediaType, metadata, vector: embedding };
}
