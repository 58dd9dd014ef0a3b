// The HNSW `Index` class of the installed package: the movie sample, filters, deletes, bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Index } from 'vecgate';
import { TOYS_QUERY, TOY_STORY_IDS, jsExactTopK, loadMovies, loadQuery } from './helpers.mjs';

const movies = loadMovies();
const query = loadQuery(TOYS_QUERY);

function build(options = {}) {
  const index = new Index({ dims: 384, ...options });
  for (const m of movies) index.add(m.id, m.vector, m.metadata);
  return index;
}

/** Asserts that `fn` throws a real `Error` (never a wasm trap) whose message matches `pattern`. */
function throwsError(fn, pattern) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof Error && !(error instanceof WebAssembly.RuntimeError), `${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

test('the movie sample: Toy Story in the top 4, recall@10 against exact search', () => {
  const index = build();
  assert.equal(index.len, movies.length);
  assert.equal(index.dims, 384);
  assert.ok(index.memoryBytes > movies.length * 384 * 4, `${index.memoryBytes}`);
  const hits = index.search(query, { k: 10 });
  assert.equal(hits.length, 10);
  for (const id of TOY_STORY_IDS) assert.ok(hits.slice(0, 4).some((h) => h.id === id), `${id}`);
  assert.equal(typeof hits[0].metadata.title, 'string');
  const exact = jsExactTopK(movies.map((m) => m.vector), query, 10).map((r) => movies[r.index].id);
  const overlap = hits.filter((h) => exact.includes(h.id)).length;
  assert.ok(overlap >= 9, `recall@10 ${overlap}/10`);
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score);
});

test('filters return min(k, matching) items that match', () => {
  const index = build({ storage: 'int8+f32' });
  const drama = movies.filter((m) => m.metadata.genres.includes('Drama')).length;
  const rare = movies.filter((m) => m.metadata.year === 1990 && m.metadata.rating >= 7).length;
  let hits = index.search(query, { k: 10, filter: { genres: 'Drama' } });
  assert.equal(hits.length, Math.min(10, drama));
  assert.ok(hits.every((h) => h.metadata.genres.includes('Drama')));
  hits = index.search(query, { k: 50, filter: JSON.stringify({ year: 1990, rating: { $gte: 7 } }) });
  assert.equal(hits.length, Math.min(50, rare));
  assert.ok(hits.every((h) => h.metadata.year === 1990 && h.metadata.rating >= 7));
});

test('upsert, remove, and a byte round trip', () => {
  const index = new Index({ dims: 3, storage: 'int8', seed: 7 });
  index.add('a', new Float32Array([1, 0, 0]), { n: 1 });
  index.add('b', new Float32Array([0, 1, 0]));
  index.upsert('a', new Float32Array([0, 0, 1]), { n: 2 });
  assert.equal(index.len, 2);
  assert.equal(index.search(new Float32Array([0, 0, 1]), { k: 1 })[0].id, 'a');
  assert.deepEqual(index.search(new Float32Array([0, 0, 1]), { k: 1 })[0].metadata, { n: 2 });
  const copy = Index.fromBytes(index.toBytes());
  assert.deepEqual(copy.search(new Float32Array([0, 1, 0]), { k: 2 }), index.search(new Float32Array([0, 1, 0]), { k: 2 }));
  assert.equal(index.remove('a'), true);
  assert.equal(index.remove('a'), false);
  assert.equal(index.has('a'), false);
  assert.deepEqual(index.search(new Float32Array([0, 0, 1]), { k: 5 }).map((h) => h.id), ['b']);
});

test('bad input throws a clear Error, never a trap', () => {
  const index = new Index({ dims: 3 });
  index.add('a', new Float32Array([1, 0, 0]));
  throwsError(() => index.add('a', new Float32Array([1, 0, 0])), /a/);
  throwsError(() => index.add('b', new Float32Array([1, 0])), /expected 3, got 2/);
  throwsError(() => index.add('c', new Float32Array([1, NaN, 0])), /NaN|infinite/);
  throwsError(() => index.search(new Float32Array([1, 0]), { k: 1 }), /expected 3, got 2/);
  throwsError(() => index.search(new Float32Array([1, 0, 0]), { k: 1, filter: { a: { $near: 1 } } }), /\$near/);
  throwsError(() => index.search(new Float32Array([1, 0, 0]), { kk: 1 }), /kk/);
  throwsError(() => new Index({ dims: 0 }), /dims/);
  throwsError(() => new Index({ dims: 3, storage: 'f16' }), /storage/);
  throwsError(() => new Index({ dims: 3, m: -1 }), /m/);
  const bytes = index.toBytes();
  throwsError(() => Index.fromBytes(bytes.subarray(0, bytes.length - 1)), /./);
  const flipped = bytes.slice();
  flipped[flipped.length >> 1] ^= 0xff;
  throwsError(() => Index.fromBytes(flipped), /./);
});
