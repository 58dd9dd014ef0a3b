// Every method of `vecgate/client` against a live server with the 3,200-film sample: shared by
// client.test.mjs (`vecgate serve --sample`, the embedded store) and client-ruvector.test.mjs
// (`vecgate serve` on PostgreSQL 15 with ruvector). `registerMethodTests(name, context)` adds the
// tests; `context()` returns `{client, readClient, origin, backend, fetchLog}` once the server
// runs: `client` has the admin key, `readClient` a read key, and `fetchLog` lists the
// `{method, url, status, ifNoneMatch, bytes}` of every request `client` made.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { VecgateClient, VecgateError, VecgateBatchError, OPERATIONS } from 'vecgate/client';
import { TOY_STORY_IDS, TOYS_QUERY } from './exact.mjs';

export const ADMIN_KEY = 'client-test-admin';
export const WRITE_KEY = 'client-test-write';
export const READ_KEY = 'client-test-read';

/** The `--api-keys-*` flags of a server the suite can test. */
export const KEY_ARGS = ['--api-keys-read', READ_KEY, '--api-keys-write', WRITE_KEY, '--api-keys-admin', ADMIN_KEY];

/** A client with the admin key whose requests are recorded in `fetchLog`. */
export function recordingClient(origin, options = {}) {
  const fetchLog = [];
  const client = new VecgateClient({
    baseUrl: origin,
    apiKey: ADMIN_KEY,
    ...options,
    fetch: async (url, init) => {
      const entry = { method: init.method, url, status: 0, ifNoneMatch: init.headers['if-none-match'] ?? null, bytes: 0 };
      fetchLog.push(entry);
      const response = await fetch(url, init);
      entry.status = response.status;
      entry.bytes = Number(response.headers.get('content-length') ?? 0);
      return response;
    },
  });
  return { client, fetchLog };
}

function norm(vector) {
  return Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
}

/** A unit vector of `dims` from a seed, for test items. */
export function testVector(seed, dims = 384) {
  let state = seed * 2654435761 + 1;
  const v = Array.from({ length: dims }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648 - 0.5;
  });
  const n = norm(v);
  return v.map((x) => x / n);
}

async function rejectsWith(promise, { status, code, message }) {
  const error = await promise.then(
    (value) => assert.fail(`expected a VecgateError ${status} ${code}, got ${JSON.stringify(value)?.slice(0, 200)}`),
    (e) => e,
  );
  assert.ok(error instanceof VecgateError, `not a VecgateError: ${error?.stack ?? error}`);
  assert.ok(error instanceof Error);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  if (message) assert.match(error.message, message);
  return error;
}

export function registerMethodTests(name, context) {
  const t = (title, fn) => test(`${name}: ${title}`, fn);

  t('health, metrics, openapi, stats', async () => {
    const { client, backend } = context();
    assert.deepEqual(await client.health(), { status: 'ok' });
    assert.match(await client.metrics(), /^# (HELP|TYPE) vecgate_/m);
    const spec = await client.openapi();
    assert.equal(spec.openapi, '3.0.3');
    for (const { path, method } of Object.values(OPERATIONS)) {
      assert.ok(spec.paths[path]?.[method.toLowerCase()], `the served document has ${method} ${path}`);
    }
    const stats = await client.stats();
    assert.equal(stats.backend, backend);
    assert.equal(stats.dimensions, 384);
    assert.ok(stats.content_count >= 3200, `content_count ${stats.content_count}`);
  });

  t('search by text and by vector (Float32Array), with metadata', async () => {
    const { client } = context();
    const byText = await client.search({ text: TOYS_QUERY, k: 4, include: ['metadata'] });
    assert.equal(byText.results.length, 4);
    for (const id of TOY_STORY_IDS) assert.ok(byText.results.some((r) => r.id === id), `${id} in ${byText.results.map((r) => r.id)}`);
    assert.match(String(byText.results.find((r) => r.id === 'movie-993').metadata.title), /^Toy Story$/);
    assert.equal(typeof byText.took_ms, 'number');

    const toyStory = await client.getContent('movie-993');
    const byVector = await client.search({ vector: Float32Array.from(toyStory.vector), k: 3, filter: { year: { $gte: 1999 } }, include: ['metadata'] });
    assert.equal(byVector.results.length, 3);
    assert.ok(byVector.results.every((r) => r.metadata.year >= 1999), JSON.stringify(byVector.results));
    assert.ok(byVector.results.some((r) => r.id === 'movie-2987' || r.id === 'movie-2988'));
  });

  t('recommend from examples and for a group', async () => {
    const { client } = context();
    const examples = await client.recommend({ positive: ['movie-993'], negative: ['movie-1417'], k: 5, include: ['metadata'] });
    const ids = examples.results.map((r) => r.id);
    assert.equal(ids.length, 5);
    assert.ok(!ids.includes('movie-993') && !ids.includes('movie-1417'), 'the examples never appear');
    assert.ok(ids.includes('movie-2987') || ids.includes('movie-2988'), `a Toy Story sequel in ${ids}`);
    const best = await client.recommend({ positive: ['movie-993', 'movie-2987'], strategy: 'best_score', k: 3 });
    assert.equal(best.results.length, 3);

    const toyStory = await client.getContent('movie-2988');
    await client.putPreference('rec-user-1', { vector: toyStory.vector, confidence: 0.9 });
    await client.putPreference('rec-user-2', { vector: Float32Array.from(toyStory.vector), confidence: 0.5 });
    const group = await client.recommend({ user_ids: ['rec-user-1', 'rec-user-2', 'rec-user-none'], k: 4 });
    assert.equal(group.results.length, 4);
    assert.deepEqual(group.members_without_preference, ['rec-user-none']);
    assert.ok(group.results.some((r) => TOY_STORY_IDS.includes(r.id)), JSON.stringify(group.results));
  });

  t('embed and generateEmbedding: unit vectors of 384', async () => {
    const { client } = context();
    const embedded = await client.embed(['animated film for kids about toys', 'a heist in Paris']);
    assert.equal(embedded.dimensions, 384);
    assert.equal(embedded.vectors.length, 2);
    for (const v of embedded.vectors) assert.ok(Math.abs(norm(v) - 1) < 1e-3);
    const one = await client.generateEmbedding('animated film for kids about toys');
    assert.ok(one instanceof Float32Array);
    assert.equal(one.length, 384);
    const max = Math.max(...one.map((x, i) => Math.abs(x - embedded.vectors[0][i])));
    assert.ok(max < 1e-5, `generateEmbedding equals embed's vector (max diff ${max})`);
  });

  t('getContent, similar, and their errors', async () => {
    const { client } = context();
    const item = await client.getContent('movie-993');
    assert.equal(item.id, 'movie-993');
    assert.equal(item.media_type, 'movie');
    assert.equal(item.content_id, 993);
    assert.equal(item.metadata.title, 'Toy Story');
    assert.equal(item.vector.length, 384);

    const similar = await client.similar('movie-993', { k: 3, filter: { year: { $lt: 2005 } } });
    assert.equal(similar.results.length, 3);
    assert.ok(!similar.results.some((r) => r.id === 'movie-993'), 'the item itself is excluded');
    assert.ok(similar.results.every((r) => r.metadata.year < 2005), JSON.stringify(similar.results));
    assert.equal(similar.results[0].id, 'movie-2987');

    const missing = await rejectsWith(client.getContent('no-such-film'), { status: 404, code: 'not_found', message: /no-such-film/ });
    assert.equal(missing.operation, 'getContent');
    assert.equal(missing.attempts, 1, 'a 404 is not retried');
    await rejectsWith(client.similar('no-such-film', { k: 2 }), { status: 404, code: 'not_found' });
    await rejectsWith(client.search({ text: TOYS_QUERY, k: 0 }), { status: 400, code: 'invalid_request' });
    await rejectsWith(client.search({ vector: [1, 2, 3] }), { status: 400, code: 'invalid_request', message: /384/ });
  });

  t('preferences: putPreference, getPreference, recordEvent', async () => {
    const { client } = context();
    const toyStory = await client.getContent('movie-993');
    const stored = await client.putPreference('client-user', { vector: Float32Array.from(toyStory.vector), confidence: 0.4, genre_affinities: { Animation: 0.8 } });
    assert.equal(stored.confidence, 0.4);
    const read = await client.getPreference('client-user');
    assert.equal(read.confidence, 0.4);
    assert.equal(read.vector.length, 384);
    const after = await client.recordEvent('client-user', { content_id: 'movie-1417', completion: 1, rating: 9 });
    assert.ok(after.confidence > 0.4, `a completed, well-rated watch raises confidence (${after.confidence})`);
    const moved = toyStory.vector.reduce((s, x, i) => s + Math.abs(x / norm(toyStory.vector) - after.vector[i]), 0);
    assert.ok(moved > 0.01, 'the preference vector moved towards Cars');
    await rejectsWith(client.getPreference('nobody-here'), { status: 404, code: 'not_found' });
  });

  t('deleteUser: the preference and the search-log rows are erased', async () => {
    const { client } = context();
    const toyStory = await client.getContent('movie-993');
    await client.putPreference('erased-user', { vector: Float32Array.from(toyStory.vector), confidence: 0.5 });
    const erased = await client.deleteUser('erased-user');
    assert.deepEqual(erased, { user_id: 'erased-user', deleted: { preferences: 1, search_logs: 0 } });
    await rejectsWith(client.getPreference('erased-user'), { status: 404, code: 'not_found' });
    assert.deepEqual((await client.deleteUser('erased-user')).deleted, { preferences: 0, search_logs: 0 });
  });

  t('candidates: a CandidateSet ready to rerank, revalidated with If-None-Match (304)', async () => {
    const { client, fetchLog } = context();
    const request = { text: TOYS_QUERY, n: 300, encoding: 'int8' };
    const first = await client.candidates(request);
    assert.equal(first.len, 300);
    assert.equal(first.dims, 384);
    assert.equal(first.encoding, 'int8');
    assert.equal(first.fromCache, false);
    assert.match(first.etag, /^"[0-9a-f]{8}-[0-9a-f]+"$/);
    const query = await client.generateEmbedding(TOYS_QUERY);
    const hits = first.rerank({ query, k: 4, weights: { similarity: 1, personalization: 0, recency: 0, popularity: 0 } });
    for (const id of TOY_STORY_IDS) assert.ok(hits.some((h) => h.id === id), `${id} in ${hits.map((h) => h.id)}`);

    const before = fetchLog.length;
    const second = await client.candidates(request);
    const sent = fetchLog.slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].ifNoneMatch, first.etag, 'the kept ETag is sent');
    assert.equal(sent[0].status, 304, 'the server answers 304');
    assert.equal(sent[0].bytes, 0, 'nothing is downloaded again');
    assert.equal(second.fromCache, true);
    assert.equal(second.etag, first.etag);
    assert.deepEqual(second.ids(), first.ids());
    assert.deepEqual(second.rerank({ query, k: 4 }).map((h) => h.id), first.rerank({ query, k: 4 }).map((h) => h.id));

    const uncached = await client.candidates(request, { cache: false });
    assert.equal(fetchLog.at(-1).ifNoneMatch, null);
    assert.equal(fetchLog.at(-1).status, 200);
    assert.equal(uncached.fromCache, false);

    const other = await client.candidates({ text: 'a heist in Paris with a retired detective', n: 20, encoding: 'f32' });
    assert.equal(other.len, 20);
    assert.equal(other.encoding, 'f32');
    assert.equal(fetchLog.at(-1).ifNoneMatch, null, 'another request has no ETag yet');
    await rejectsWith(client.candidates({ text: TOYS_QUERY, n: 0 }), { status: 400, code: 'invalid_request' });
  });

  t('upsertContent, getContent, deleteContent of one item', async () => {
    const { client } = context();
    const vector = testVector(7);
    const result = await client.upsertContent([{ id: 'client-one', media_type: 'tv', metadata: { title: 'One' }, vector: Float32Array.from(vector) }]);
    assert.deepEqual(result, { upserted: 1, chunks: [{ index: 0, start: 0, end: 1, upserted: 1 }] });
    const item = await client.getContent('client-one');
    assert.equal(item.media_type, 'tv');
    assert.deepEqual(item.metadata, { title: 'One' });
    assert.deepEqual(await client.deleteContent('client-one'), { deleted: 'client-one' });
    await rejectsWith(client.getContent('client-one'), { status: 404, code: 'not_found' });
    await rejectsWith(client.deleteContent('client-one'), { status: 404, code: 'not_found' });
  });

  t('the in-memory wrapper methods: semanticSearch, searchByEmbedding, findSimilarContent, store…, delete…, getStats', async () => {
    const { client } = context();
    const semantic = await client.semanticSearch(TOYS_QUERY, 4);
    assert.equal(semantic.length, 4);
    for (const id of TOY_STORY_IDS) assert.ok(semantic.some((r) => r.id === id));
    assert.equal(semantic.find((r) => r.id === 'movie-993').content.title, 'Toy Story');
    const filtered = await client.semanticSearch(TOYS_QUERY, 3, { mediaType: 'movie', year: { $gte: 2000 } });
    assert.ok(filtered.every((r) => r.content.year >= 2000), JSON.stringify(filtered));

    const query = await client.generateEmbedding(TOYS_QUERY);
    const byEmbedding = await client.searchByEmbedding(query, 10, 0.5);
    assert.ok(byEmbedding.length >= 3 && byEmbedding.length < 10, `threshold 0.5 keeps a few: ${byEmbedding.map((r) => r.score)}`);
    assert.ok(byEmbedding.every((r) => r.score >= 0.5));
    for (const id of TOY_STORY_IDS) assert.ok(byEmbedding.slice(0, 4).some((r) => r.id === id), `${id} in ${byEmbedding.map((r) => r.id)}`);

    const byId = await client.findSimilarContent('movie-993', 3);
    const byWrapperArgs = await client.findSimilarContent(993, 'movie', 3);
    assert.deepEqual(byWrapperArgs.map((r) => r.id), byId.map((r) => r.id));
    assert.equal(byId[0].id, 'movie-2987');
    assert.equal(byId[0].content.title, 'Toy Story 2');
    assert.deepEqual(await client.findSimilarContent('no-such-film', 3), []);

    // A real embedding: HNSW finds in-distribution vectors by themselves; a random one, far
    // from every film, can sit where the graph walk does not reach (HNSW's known blind spot).
    const vector = Float32Array.from(await client.generateEmbedding('Wrapper Test, an animated film about a lost parcel'));
    const id = await client.storeContentEmbedding({ id: 424242, mediaType: 'movie', title: 'Wrapper Test', genreIds: [16] }, vector);
    assert.equal(id, 'movie-424242');
    const [hit] = await client.searchByEmbedding(vector, 1);
    assert.equal(hit.id, 'movie-424242');
    assert.ok(hit.score > 0.999);
    assert.deepEqual(hit.content, { id: 424242, mediaType: 'movie', title: 'Wrapper Test', genreIds: [16] });
    assert.equal((await client.getContent(id)).content_id, 424242);

    const ids = await client.batchStoreEmbeddings([
      { content: { id: 424243, mediaType: 'tv', title: 'Batch A' }, embedding: testVector(12) },
      { content: { id: 'tv-424244', media_type: 'tv', metadata: { title: 'Batch B' } }, embedding: testVector(13) },
    ]);
    assert.deepEqual(ids, ['tv-424243', 'tv-424244']);
    assert.deepEqual((await client.getContent('tv-424244')).metadata, { title: 'Batch B' });

    assert.equal(await client.deleteContentVector(424242, 'movie'), true);
    assert.equal(await client.deleteContentVector(424242, 'movie'), false);
    assert.equal(await client.deleteContentVector('tv-424243'), true);
    assert.equal(await client.deleteContentVector(424244, 'tv'), true);
    const stats = await client.getStats();
    assert.equal(stats.dimensions, 384);
    assert.ok(stats.vectorCount >= 3200);
  });

  t('keys: read keys search but may not write; no key is a 401', async () => {
    const { readClient, origin } = context();
    const found = await readClient.search({ text: TOYS_QUERY, k: 1 });
    assert.equal(found.results.length, 1);
    await rejectsWith(readClient.upsertContent([{ id: 'x', media_type: 'movie', vector: testVector(1) }]), { status: 403, code: 'forbidden' });
    const anonymous = new VecgateClient({ baseUrl: origin });
    await rejectsWith(anonymous.stats(), { status: 401, code: 'unauthorized' });
  });

  t('upsertContent: 1,001 items go as requests of 1,000 and 1; a failed chunk is reported with what was written', async () => {
    const { client, fetchLog } = context();
    const items = (prefix, n) =>
      Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, media_type: 'tv', metadata: { batch: prefix, n: i }, vector: testVector(1000 + i) }));
    const before = fetchLog.length;
    const ok = await client.upsertContent(items('batch', 1001));
    assert.deepEqual(fetchLog.slice(before).map((r) => [r.method, new URL(r.url).pathname, r.status]), [
      ['POST', '/v1/content', 200],
      ['POST', '/v1/content', 200],
    ]);
    assert.deepEqual(ok, {
      upserted: 1001,
      chunks: [
        { index: 0, start: 0, end: 1000, upserted: 1000 },
        { index: 1, start: 1000, end: 1001, upserted: 1 },
      ],
    });
    assert.equal((await client.getContent('batch-1000')).metadata.n, 1000);

    // Smaller chunks (chunkSize 10) of 25 items; the second holds one bad vector: that chunk
    // fails whole, the first stays written, the third is never sent.
    const changed = items('small', 25);
    changed[15] = { ...changed[15], vector: [1, 2, 3] };
    const error = await client.upsertContent(changed, { chunkSize: 10 }).then(
      () => assert.fail('the bad chunk must fail'),
      (e) => e,
    );
    assert.ok(error instanceof VecgateBatchError && error instanceof VecgateError, String(error));
    assert.equal(error.name, 'VecgateBatchError');
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid_request');
    assert.deepEqual(error.failedChunk, { index: 1, start: 10, end: 20 });
    assert.deepEqual(error.written, [{ index: 0, start: 0, end: 10, upserted: 10 }]);
    assert.equal(error.writtenItems, 10);
    assert.deepEqual(error.unsentChunks, [{ index: 2, start: 20, end: 25 }]);
    assert.match(error.message, /^upsertContent: chunk 2 of 3 \(items 10\.\.19\) failed: .*; 10 of 25 items were written \(1 chunk\), 1 chunk was not sent$/);
    assert.equal((await client.getContent('small-9')).metadata.n, 9, 'chunk 1 was written');
    await rejectsWith(client.getContent('small-10'), { status: 404, code: 'not_found' }); // chunk 2: none of it
    await rejectsWith(client.getContent('small-20'), { status: 404, code: 'not_found' }); // chunk 3: not sent
    await assert.rejects(client.upsertContent(changed, { chunkSize: 1001 }), { code: 'invalid_argument', message: /chunkSize must be an integer from 1 to 1000/ });
    // (The suite's last test: these items stay; their random vectors are far from any query.)
  });
}
