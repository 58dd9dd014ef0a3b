// HNSW search QPS at recall@10 ≥ 0.95: vecgate's `Index` against the approximate-search packages
// on npm (hnswlib-wasm, voy-search, edgevec), on the same data in one run, printed as one table.
// A benchmark, not a test: it asserts nothing about speed.
//
//   bash wasm/build.sh && (cd wasm/bench && npm ci) && node wasm/bench/hnsw.mjs
//
// Data: the movie sample (../shared/data/movies or $VECGATE_SAMPLE_DIR; 3,000 films indexed, the
// other 200 films and the 12 text queries as queries), a larger real set when
// bench/real-embeddings.sh has made it (20,000 MiniLM embeddings of Debian package descriptions,
// $VECGATE_REAL_ROWS, and 1,000 more as queries), and a synthetic clustered set (10,000 × 384,
// 200 queries from the same clusters). Recall is measured against exact cosine search in plain JS.
// For each library the beam width (ef) is swept upwards and the first ef reaching the recall is
// kept: a larger ef only costs time. Then every library is timed at its ef, best of 5 rounds, the
// libraries' rounds interleaved so that load on the shared machine falls on all of them alike. A library that cannot run in Node gets a row saying why.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const require = createRequire(import.meta.url);
const pkg = resolve(process.env.VECGATE_PKG ?? join(repo, 'wasm', 'pkg'));
const vecgate = require(join(pkg, 'node', 'vecgate.js'));
const sampleDir = resolve(process.env.VECGATE_SAMPLE_DIR ?? join(repo, '..', 'shared', 'data', 'movies'));

const K = 10;
const TARGET_RECALL = 0.95;
const EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];
/** The HNSW build parameters every library gets (where it takes them). */
const M = 16;
const EF_CONSTRUCTION = 200;
/** Timed rounds over all queries; the best one counts (the machine is shared). */
const ROUNDS = 5;

// ---------------------------------------------------------------- data

function jsonl(file) {
  return readFileSync(join(sampleDir, file), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** A seeded generator (mulberry32) and a standard normal from it (Box–Muller). */
function random(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function unit(v) {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

function movies() {
  const films = jsonl('movies.jsonl').map((m) => Float32Array.from(m.vector));
  const texts = jsonl('queries.jsonl').map((q) => Float32Array.from(q.vector));
  // Every 16th film is held out as a query: 200 queries, 3,000 films indexed.
  const held = (i) => i % 16 === 0;
  return {
    name: `movies (${films.length - films.filter((_, i) => held(i)).length} × 384)`,
    dims: 384,
    vectors: films.filter((_, i) => !held(i)),
    queries: [...films.filter((_, i) => held(i)), ...texts],
  };
}

/**
 * Real MiniLM embeddings of Debian package descriptions (bench/real-embeddings.sh writes them to
 * bench/out/debian-minilm.jsonl, or $VECGATE_REAL_EMBEDDINGS): the first `rows` indexed, the next
 * `queries` as queries. Null when the file is not there (the table then says how to make it).
 */
function debian(rows, queries) {
  const file = resolve(process.env.VECGATE_REAL_EMBEDDINGS ?? join(repo, 'bench', 'out', 'debian-minilm.jsonl'));
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const vectors = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, rows + queries)
    .map((line) => Float32Array.from(JSON.parse(line).vector));
  if (vectors.length < rows + queries) throw new Error(`${file} has ${vectors.length} vectors, need ${rows + queries}`);
  return {
    name: `Debian package descriptions, MiniLM (${rows} × 384, real embeddings)`,
    dims: 384,
    vectors: vectors.slice(0, rows),
    queries: vectors.slice(rows),
  };
}

/** Gaussian clusters around random unit centres, as embeddings of a catalogue tend to be. */
function clustered(rows, dims, clusters, queries) {
  const { uniform, normal } = random(7);
  const centres = Array.from({ length: clusters }, () => unit(Float32Array.from({ length: dims }, normal)));
  const point = () => {
    const centre = centres[Math.floor(uniform() * clusters)];
    return unit(centre.map((x) => x + normal() * 0.06));
  };
  return {
    name: `synthetic clustered (${rows} × ${dims}, ${clusters} clusters)`,
    dims,
    vectors: Array.from({ length: rows }, point),
    queries: Array.from({ length: queries }, point),
  };
}

/** Exact cosine top-K row numbers per query, in plain JS (independent of every library). */
function exactTopK(data) {
  const norms = data.vectors.map((v) => Math.hypot(...v));
  return data.queries.map((q) => {
    const qn = Math.hypot(...q);
    const scored = data.vectors.map((v, row) => {
      let dot = 0;
      for (let i = 0; i < v.length; i++) dot += q[i] * v[i];
      return { row, score: dot / (qn * norms[row]) };
    });
    scored.sort((a, b) => b.score - a.score || a.row - b.row);
    return scored.slice(0, K).map((s) => s.row);
  });
}

// ---------------------------------------------------------------- libraries
// Each adapter: build(data) → { search(query, ef) → row numbers }, and whether ef can change
// after the build (edgevec fixes it in the configuration, so it is rebuilt per ef).

const adapters = [
  {
    name: 'vecgate Index (f32)',
    load: () => vecgate,
    build(lib, data) {
      const index = new lib.Index({ dims: data.dims, m: M, efConstruction: EF_CONSTRUCTION, seed: 1 });
      data.vectors.forEach((v, row) => index.add(String(row), v));
      return { search: (q, ef) => index.search(q, { k: K, ef }).map((h) => Number(h.id)) };
    },
  },
  {
    name: 'vecgate Index (int8+f32)',
    load: () => vecgate,
    build(lib, data) {
      const index = new lib.Index({
        dims: data.dims,
        m: M,
        efConstruction: EF_CONSTRUCTION,
        storage: 'int8+f32',
        seed: 1,
      });
      data.vectors.forEach((v, row) => index.add(String(row), v));
      return { search: (q, ef) => index.search(q, { k: K, ef }).map((h) => Number(h.id)) };
    },
  },
  {
    name: 'hnswlib-wasm 0.8.2 (window shim)',
    async load() {
      // A web-only Emscripten build: it checks for `window`. Its IndexedDB file-system sync then
      // fails in Node (it logs an abort), but indexing and search do not use it.
      globalThis.window ??= globalThis;
      const { loadHnswlib } = await import('hnswlib-wasm/dist/hnswlib.js');
      return loadHnswlib();
    },
    build(lib, data) {
      const index = new lib.HierarchicalNSW('cosine', data.dims, '');
      index.initIndex(data.vectors.length, M, EF_CONSTRUCTION, 1);
      data.vectors.forEach((v, row) => index.addPoint(v, row, false));
      return {
        search(q, ef) {
          index.setEfSearch(ef);
          return index.searchKnn(q, K, undefined).neighbors;
        },
      };
    },
  },
  {
    name: 'edgevec 0.9.0 (l2 on unit vectors)',
    async load() {
      const edgevec = await import('edgevec/edgevec.js');
      edgevec.initSync({ module: readFileSync(require.resolve('edgevec/edgevec_bg.wasm')) });
      return edgevec;
    },
    efAtBuild: true,
    build(lib, data, ef) {
      const config = new lib.EdgeVecConfig(data.dims);
      // Its "cosine" metric misranks (an item searched for by its own vector is not first);
      // Euclidean distance on unit vectors gives the cosine order.
      config.metric = 'l2';
      config.m = M;
      config.m0 = 2 * M;
      config.ef_construction = EF_CONSTRUCTION;
      config.ef_search = ef;
      const db = new lib.EdgeVec(config);
      const rows = new Map();
      data.vectors.forEach((v, row) => rows.set(db.insert(unit(v)), row));
      return { search: (q) => db.search(unit(q), K).map((hit) => rows.get(hit.id)) };
    },
  },
  {
    name: 'voy-search 0.6.3 (k-d tree, no ef)',
    async load() {
      // A bundler build (it imports its .wasm as a module); instantiated here by hand.
      const glue = await import('voy-search/voy_search_bg.js');
      const bytes = readFileSync(require.resolve('voy-search/voy_search_bg.wasm'));
      const { instance } = await WebAssembly.instantiate(bytes, { './voy_search_bg.js': glue });
      glue.__wbg_set_wasm(instance.exports);
      return glue;
    },
    fixedEf: true,
    build(lib, data) {
      // Voy ranks by Euclidean distance; on unit vectors that is the cosine order.
      const embeddings = data.vectors.map((v, row) => ({
        id: String(row),
        title: '',
        url: '',
        embeddings: Array.from(unit(v)),
      }));
      const voy = new lib.Voy({ embeddings });
      return { search: (q) => voy.search(unit(q), K).neighbors.map((n) => Number(n.id)) };
    },
  },
];

// ---------------------------------------------------------------- measuring

function recallAt(search, data, truth, ef) {
  let found = 0;
  data.queries.forEach((q, i) => {
    const expected = new Set(truth[i]);
    for (const row of search(q, ef)) if (expected.has(row)) found++;
  });
  return found / (data.queries.length * K);
}

/**
 * Each row's QPS at its ef: best of ROUNDS rounds over all queries, the rows' rounds interleaved
 * (one round of each library in turn), so that load on the shared machine falls on all of them.
 */
function measureInterleaved(rows, data) {
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of rows) {
      const start = performance.now();
      for (const q of data.queries) row.search(q, row.ef);
      row.qps = Math.max(row.qps ?? 0, data.queries.length / ((performance.now() - start) / 1000));
    }
  }
}

/** Progress on stderr, so that the table on stdout stays clean. */
function progress(message) {
  process.stderr.write(`[hnsw bench] ${message}\n`);
}

function timed(fn) {
  const start = performance.now();
  const value = fn();
  return { value, seconds: (performance.now() - start) / 1000 };
}

/** The first ef (ascending) that reaches the recall target, with its recall and the search. */
function sweep(adapter, lib, data, truth) {
  let built;
  let buildSeconds;
  const efs = adapter.fixedEf ? [null] : EFS;
  let last;
  for (const ef of efs) {
    if (!built || adapter.efAtBuild) {
      progress(`${adapter.name}: building over ${data.vectors.length} vectors`);
      const { value, seconds } = timed(() => adapter.build(lib, data, ef));
      built = value;
      buildSeconds ??= seconds;
    }
    const recall = recallAt(built.search, data, truth, ef);
    progress(`${adapter.name}: ef ${ef ?? '–'} recall ${recall.toFixed(3)}`);
    last = { ef, recall, buildSeconds };
    if (recall >= TARGET_RECALL) return { ...last, search: built.search };
  }
  return { ...last, note: `recall@${K} stays below ${TARGET_RECALL} up to ef ${last.ef}` };
}

// ---------------------------------------------------------------- run

const libraries = [];
for (const adapter of adapters) {
  try {
    libraries.push({ adapter, lib: await adapter.load() });
  } catch (error) {
    libraries.push({ adapter, error: `does not run in Node: ${String(error.message ?? error).split('\n')[0]}` });
  }
}

const real = debian(Number(process.env.VECGATE_REAL_ROWS ?? 20_000), 1_000);
if (!real) progress('no real-embedding set: run bash bench/real-embeddings.sh for the Debian one');
const datasets = [movies(), ...(real ? [real] : []), clustered(10_000, 384, 100, 200)];
console.log(
  `HNSW search, top-${K} by cosine, recall@${K} ≥ ${TARGET_RECALL} against exact search; ` +
    `M ${M}, efConstruction ${EF_CONSTRUCTION} where the library takes them; best of ${ROUNDS} rounds, interleaved; ` +
    `Node ${process.version}, vecgate ${vecgate.simdBackend()}`,
);
for (const data of datasets) {
  const truth = exactTopK(data);
  const rows = libraries.map(({ adapter, lib, error }) => {
    if (error) return { name: adapter.name, error };
    try {
      return { name: adapter.name, ...sweep(adapter, lib, data, truth) };
    } catch (e) {
      return { name: adapter.name, error: `failed: ${String(e.message ?? e).split('\n')[0]}` };
    }
  });
  progress(`${data.name}: timing ${rows.filter((r) => r.search).length} libraries, rounds interleaved`);
  measureInterleaved(
    rows.filter((r) => r.search),
    data,
  );
  const ours = rows.find((r) => r.name.startsWith('vecgate Index (f32)'));
  const peers = rows.filter((r) => !r.name.startsWith('vecgate') && r.qps);
  const best = peers.reduce((a, b) => (b.qps > (a?.qps ?? 0) ? b : a), null);
  console.log();
  console.log(`${data.name}, ${data.queries.length} queries`);
  console.log('| library | build s | ef | recall@10 | QPS | vecgate f32 / this |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    if (r.error) {
      console.log(`| ${r.name} | – | – | – | – | ${r.error} |`);
      continue;
    }
    const ratio = ours?.qps && r.qps ? `${(ours.qps / r.qps).toFixed(2)}×` : r.note ?? '–';
    console.log(
      `| ${r.name} | ${r.buildSeconds.toFixed(1)} | ${r.ef ?? '–'} | ${r.recall.toFixed(3)} | ` +
        `${r.qps ? Math.round(r.qps) : '–'} | ${ratio} |`,
    );
  }
  if (ours?.qps && best) {
    for (const r of rows.filter((r) => r.name.startsWith('vecgate') && r.qps)) {
      const storage = r.name.match(/\((.*)\)/)[1];
      console.log(`vecgate ${storage} / best peer (${best.name}): ${(r.qps / best.qps).toFixed(2)}× the QPS (target ≥ 3×)`);
    }
  } else {
    console.log('no peer reached the recall target on this data');
  }
}
