// The demo's module Web Worker. It owns everything that costs time: fetching candidate sets,
// caching them in IndexedDB, decoding them, embedding the query text (`vecgate/embedder`; the
// model is kept in Cache Storage), reranking with the vecgate package and learning the
// preference from likes. The page only sends the state of its controls and renders what comes back.
//
// Protocol: the page posts {id, type, ...}; the worker answers {id, ok: true, result} or
// {id, ok: false, error}. Requests are handled one at a time, in order.

// The package's browser entry: `await init()` instantiates its .wasm before any other export is used.
const vecgateReady = import('./pkg/web/index.js').then(async (vecgate) => {
  await vecgate.init();
  return vecgate;
});

const MODEL_URL = new URL('./models/all-minilm-l6-v2/model.onnx', self.location.href).href;
const TOKENIZER_URL = new URL('./models/all-minilm-l6-v2/tokenizer.json', self.location.href).href;
// Loading starts with the Worker, beside the candidate set; film queries never wait for it.
// Settled as {embedder} or {error}, so a missing model is reported once, by text queries.
const embedderReady = import('./pkg/embedder/index.js')
  .then(({ loadEmbedder }) => loadEmbedder({ modelUrl: MODEL_URL, tokenizerUrl: TOKENIZER_URL }))
  .then(
    (embedder) => ({ embedder }),
    (error) => ({ error: new Error(`the embedding model did not load (${error?.message ?? error})`) }),
  );
/** The latest texts' vectors: moving a slider reranks without embedding again. */
const embeddings = new Map();
const EMBEDDINGS_KEPT = 64;

const SAMPLE_URL = new URL('./sample/movies.vgcs', self.location.href).href;
const CANDIDATES_URL = new URL('./v1/candidates', self.location.href).href;
/** How many candidates "server candidates" asks `POST /v1/candidates` for. */
const SERVER_CANDIDATES = 500;
/**
 * A like is treated as a completed, well-rated watch: signal = min(1, 0.4·1 + 0.3·9/10 + 0.1·1)
 * = 0.77 > 0.5, so the preference moves toward the film and confidence and genre affinities rise.
 */
const LIKE_EVENT = Object.freeze({ completion: 1, rating: 9, rewatch: false, durationRatio: 1 });

let catalog; // the bundled sample: every film, for titles, film queries and liked films
const serverSets = new Map(); // request key → loaded set, for this session
const serverFailures = new Map(); // request key → {reason, at}
const RETRY_AFTER_MS = 30_000;
let preferenceMemo = { key: null, preference: null };

let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      const result = await handle(data);
      self.postMessage({ id: data.id, ok: true, result });
    } catch (error) {
      self.postMessage({ id: data.id, ok: false, error: String(error?.message ?? error) });
    }
  });
};

async function handle(request) {
  switch (request.type) {
    case 'init':
      return init();
    case 'rerank':
      return rerank(request);
    case 'forget-cache':
      await cacheClear();
      await import('./pkg/embedder/index.js').then(({ clearModelCache }) => clearModelCache());
      for (const loaded of serverSets.values()) loaded.set.free();
      serverSets.clear();
      return null;
    default:
      throw new Error(`unknown request ${request.type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

async function init() {
  const vecgate = await vecgateReady;
  catalog = await loadSet(vecgate, `GET ${SAMPLE_URL}`, SAMPLE_URL, {});
  const films = catalog.items;
  const genres = [...new Set(films.flatMap((f) => f.genres))].sort();
  const years = films.map((f) => f.year).filter(Number.isFinite);
  const ratings = films.map((f) => f.rating).filter(Number.isFinite);
  return {
    backend: vecgate.simdBackend(),
    films: films.map(({ id, title, year }) => ({ id, title, year })),
    genres,
    years: { min: Math.min(...years), max: Math.max(...years) },
    ratings: { min: Math.floor(Math.min(...ratings)), max: Math.ceil(Math.max(...ratings)) },
    source: catalog.source,
  };
}

/** Fetches (or reads from IndexedDB) a candidate set, decodes it and normalizes its metadata. */
async function loadSet(vecgate, key, url, init) {
  const fetched = await cachedFetch(key, url, init);
  const started = performance.now();
  const raw = vecgate.CandidateSet.fromBytes(fetched.bytes);
  try {
    const { set, items } = normalize(vecgate, raw);
    const source = {
      from: fetched.from,
      bytes: fetched.bytes.byteLength,
      fetchMs: fetched.ms,
      storedAt: fetched.storedAt,
      decodeMs: performance.now() - started,
      len: set.len,
      dims: set.dims,
      encoding: set.encoding,
    };
    return { set, items, byId: new Map(items.map((item, i) => [item.id, i])), source };
  } finally {
    raw.free();
  }
}

/**
 * The bundled sample wraps each item's metadata as `{content_id, media_type, metadata: {title,
 * …}}`, while `POST /v1/candidates` sends the inner object alone. `rerank` reads `year` and
 * `rating` (recency and popularity) from the top level, and the page filters on `genres`, `year`,
 * `rating` and `id`, so both shapes are rebuilt into one flat shape: `{…metadata, media_type?,
 * content_id?, id}` (the id lets a filter exclude the film a "similar to" query starts from).
 */
function normalize(vecgate, raw) {
  const set = new vecgate.CandidateSet(raw.dims, raw.encoding);
  const items = [];
  for (let i = 0; i < raw.len; i++) {
    const id = raw.id(i);
    const stored = raw.metadata(i) ?? {};
    const nested = stored.metadata !== null && typeof stored.metadata === 'object' && !Array.isArray(stored.metadata);
    const { metadata: inner, ...outer } = stored;
    const metadata = nested ? { ...inner, ...outer, id } : { ...stored, id };
    set.push(id, raw.vector(i), metadata);
    items.push(describe(id, metadata));
  }
  return { set, items };
}

function describe(id, metadata) {
  return {
    id,
    title: typeof metadata.title === 'string' ? metadata.title : id,
    year: Number.isFinite(metadata.year) ? metadata.year : null,
    rating: Number.isFinite(metadata.rating) ? metadata.rating : null,
    genres: Array.isArray(metadata.genres) ? metadata.genres.filter((g) => typeof g === 'string') : [],
  };
}

/** The server's top candidates for a query vector; null (with the reason) when unavailable. */
async function serverSet(vecgate, vector) {
  const body = JSON.stringify({ vector: Array.from(vector), n: SERVER_CANDIDATES, encoding: 'int8' });
  const key = `POST ${CANDIDATES_URL} ${fnv1a(body)}`;
  if (!serverSets.has(key)) {
    // Every slider move reranks: without a server, do not ask again on each one.
    const failed = serverFailures.get(key);
    if (failed && Date.now() - failed.at < RETRY_AFTER_MS) return { unavailable: failed.reason };
    try {
      serverSets.set(key, await loadSet(vecgate, key, CANDIDATES_URL, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }));
      serverFailures.delete(key);
    } catch (error) {
      const reason = String(error?.message ?? error);
      serverFailures.set(key, { reason, at: Date.now() });
      return { unavailable: reason };
    }
    // A session asks for one set per query; keep the latest few decoded.
    for (const [old, loaded] of serverSets) {
      if (serverSets.size <= 8) break;
      loaded.set.free();
      serverSets.delete(old);
    }
  }
  return serverSets.get(key);
}

const STATS_URL = new URL('./v1/stats', self.location.href).href;
let serverRecall = { at: 0, value: null };

/**
 * The server's measured recall (`GET /v1/stats`: `recall.mean`, `samples`, `target`), asked at
 * most every 10 s; null when the server does not say.
 */
async function measuredRecall() {
  if (Date.now() - serverRecall.at < 10_000) return serverRecall.value;
  let value = null;
  try {
    const response = await fetch(STATS_URL, { cache: 'no-store' });
    if (response.ok) {
      const recall = (await response.json())?.recall;
      if (recall && Number.isFinite(recall.samples)) {
        value = { mean: recall.mean ?? null, samples: recall.samples, target: recall.target ?? null };
      }
    }
  } catch {
    // no stats: the status line just says nothing about recall
  }
  serverRecall = { at: Date.now(), value };
  return value;
}

/** 32-bit FNV-1a of a string, hex: a cache key for request bodies (no crypto needed). */
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return `${(hash >>> 0).toString(16).padStart(8, '0')}-${text.length}`;
}

// ---------------------------------------------------------------------------------------------
// Reranking

async function rerank({ query, options, likes, serverCandidates }) {
  const vecgate = await vecgateReady;
  if (!catalog) throw new Error('not initialized');
  const { vector, embedding } = await queryVector(query);
  let active = catalog;
  let notice = null;
  if (serverCandidates) {
    const fromServer = await serverSet(vecgate, vector);
    if (fromServer.unavailable) {
      notice = `Server candidates unavailable (${fromServer.unavailable}); using the bundled sample.`;
    } else {
      active = fromServer;
    }
  }
  const preference = preferenceFor(vecgate, likes);
  const started = performance.now();
  const hits = active.set.rerank({ ...options, query: vector, preference: preference?.vector ?? null });
  const micros = Math.round((performance.now() - started) * 1000);
  return {
    micros,
    embedding,
    isolated: self.crossOriginIsolated === true,
    hits: hits.map((hit) => ({ ...active.items[hit.index], score: hit.score })),
    source: {
      ...active.source,
      server: active !== catalog,
      recall: active !== catalog ? await measuredRecall() : null,
    },
    notice,
    preference: preference && {
      likes: preference.likes,
      confidence: preference.confidence,
      genreAffinities: preference.genreAffinities,
    },
  };
}

/** The query's vector: the text's embedding (timed), or a film's own vector (no embedding). */
async function queryVector(query) {
  if (query.text !== undefined) return embedText(query.text);
  const film = lookup(query.film);
  if (!film) throw new Error(`no film ${query.film}`);
  return { vector: film.vector, embedding: null };
}

async function embedText(text) {
  const known = embeddings.get(text);
  if (known) {
    embeddings.delete(text); // refreshed: the map keeps insertion order, oldest first
    embeddings.set(text, known);
    return { vector: known.vector, embedding: { ...known.embedding, cached: true } };
  }
  const { embedder, error } = await embedderReady;
  if (error) throw error;
  if (embedder.dimensions !== catalog.set.dims) {
    throw new Error(`the model gives ${embedder.dimensions} dimensions, the candidate set has ${catalog.set.dims}`);
  }
  const started = performance.now();
  const vector = embedder.embed(text);
  const micros = Math.round((performance.now() - started) * 1000);
  const embedding = { micros, tokens: embedder.tokenCount(text), model: embedder.source.model, cached: false };
  embeddings.set(text, { vector, embedding });
  if (embeddings.size > EMBEDDINGS_KEPT) embeddings.delete(embeddings.keys().next().value);
  return { vector, embedding };
}

/**
 * The preference learned from the liked films: `updatePreference` folded over them in the order
 * they were liked, starting from no preference. Unliking replays the remaining likes, so the
 * result depends only on the list. Memoized on the list, since most reranks do not change it.
 */
function preferenceFor(vecgate, likes) {
  const key = likes.join('\n');
  if (preferenceMemo.key === key) return preferenceMemo.preference;
  let preference = null;
  let counted = 0;
  for (const id of likes) {
    const film = lookup(id);
    if (!film) continue; // a film no loaded set knows (say, the server's catalog changed): skip it
    preference = vecgate.updatePreference(preference, film.vector, film.genres, LIKE_EVENT);
    counted++;
  }
  const learned = preference && { ...preference, likes: counted };
  // A like no set knew yet may resolve once another set loads: memoize complete folds only.
  if (counted === likes.length) preferenceMemo = { key, preference: learned };
  return learned;
}

/** A film's vector and genres, from the sample or any server set loaded this session. */
function lookup(id) {
  for (const loaded of [catalog, ...serverSets.values()]) {
    const index = loaded.byId.get(id);
    if (index !== undefined) return { vector: loaded.set.vector(index), genres: loaded.items[index].genres };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The IndexedDB cache: HTTP caching semantics, kept in IndexedDB so a reload reads the set
// without any request. Entries are keyed by method + URL (+ a hash of the request body) and keep
// the response's ETag and max-age: within max-age the entry is used as is; after it, the request
// is revalidated with If-None-Match (a 304 renews the entry). Without IndexedDB (a private window
// that refuses it) every load downloads.

const DB_NAME = 'vecgate-demo';
const STORE = 'responses';
/** Entries expired for longer than this are deleted when the worker starts. */
const PURGE_AFTER_MS = 24 * 3600 * 1000;

const dbReady = new Promise((resolve, reject) => {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () =>
    open.result.createObjectStore(STORE, { keyPath: 'key' }).createIndex('expiresAt', 'expiresAt');
  open.onsuccess = () => resolve(open.result);
  open.onerror = () => reject(open.error);
}).then(
  async (db) => {
    await transact(db, 'readwrite', (store) => {
      const expired = store.index('expiresAt').openKeyCursor(IDBKeyRange.upperBound(Date.now() - PURGE_AFTER_MS));
      expired.onsuccess = () => {
        const cursor = expired.result;
        if (cursor) {
          store.delete(cursor.primaryKey);
          cursor.continue();
        }
      };
    }).catch(() => {}); // a failed purge leaves old entries, nothing worse
    return db;
  },
  () => null,
);

function transact(db, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** The cached entry, or undefined when there is none or IndexedDB fails (then: download). */
async function cacheGet(key) {
  const db = await dbReady;
  return db ? transact(db, 'readonly', (store) => store.get(key)).catch(() => undefined) : undefined;
}

async function cachePut(entry) {
  const db = await dbReady;
  if (db) await transact(db, 'readwrite', (store) => store.put(entry));
}

async function cacheClear() {
  const db = await dbReady;
  if (db) await transact(db, 'readwrite', (store) => store.clear());
}

function maxAgeSeconds(cacheControl) {
  if (!cacheControl || /no-store/i.test(cacheControl)) return 0;
  const match = /max-age=(\d+)/i.exec(cacheControl);
  return match ? Number(match[1]) : 0;
}

async function cachedFetch(key, url, init) {
  const cached = await cacheGet(key);
  if (cached && Date.now() < cached.expiresAt) {
    return { bytes: cached.bytes, from: 'indexeddb', ms: 0, storedAt: cached.storedAt };
  }
  const headers = new Headers(init.headers);
  if (cached?.etag) headers.set('if-none-match', cached.etag);
  const started = performance.now();
  // IndexedDB is the cache: the browser's HTTP cache would only hide what happened.
  const response = await fetch(url, { ...init, headers, cache: 'no-store' });
  const maxAge = maxAgeSeconds(response.headers.get('cache-control'));
  const now = Date.now();
  if (response.status === 304 && cached) {
    await cachePut({ ...cached, storedAt: now, expiresAt: now + maxAge * 1000 }).catch(() => {});
    return { bytes: cached.bytes, from: 'revalidated', ms: performance.now() - started, storedAt: now };
  }
  if (!response.ok) {
    let detail = '';
    try {
      detail = (await response.json())?.error?.message ?? '';
    } catch {
      // not a JSON error body
    }
    const what = `${init.method ?? 'GET'} ${new URL(url).pathname}`;
    throw new Error(`${what}: HTTP ${response.status}${detail ? `: ${detail}` : ''}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const ms = performance.now() - started;
  if (maxAge > 0) {
    const etag = response.headers.get('etag');
    // Caching is an optimization: a full disk or a quota error must not fail the load.
    await cachePut({ key, url, etag, bytes, storedAt: now, expiresAt: now + maxAge * 1000 }).catch(() => {});
  }
  return { bytes, from: 'network', ms, storedAt: null };
}
