// `vecgate/client` against `vecgate serve` on PostgreSQL 15 with ruvector (a throwaway cluster
// started as tests/src/lib.rs `PgCluster::start` does; servers.mjs): the sample is loaded through
// the client itself (3,200 films: four requests of at most 1,000), then every method
// (client-suite.mjs), and a real 503: PostgreSQL stopped under the server, then started again
// while an idempotent call retries. Fails, never skips, when the cluster cannot start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { VecgateClient, VecgateError } from 'vecgate/client';
import { ADMIN_KEY, KEY_ARGS, READ_KEY, recordingClient, registerMethodTests } from './client-suite.mjs';
import { startPgCluster, startVecgate } from './servers.mjs';
import { sampleDir } from './helpers.mjs';

let pg;
let server;
let client;
let readClient;
let fetchLog;

before(async () => {
  pg = await startPgCluster();
  const url = pg.createDatabase('vecgate');
  // local_model off would make text queries 400: the suite embeds text, so the model stays on.
  server = await startVecgate(['--database-url', url, '--migrate', '--dialect', 'ruvector', '--dimensions', '384', '--recall-sample-rate', '0', ...KEY_ARGS]);
  ({ client, fetchLog } = recordingClient(server.origin));
  readClient = new VecgateClient({ baseUrl: server.origin, apiKey: READ_KEY });
});

after(async () => {
  await server?.stop();
  pg?.destroy();
});

test('ruvector: the sample loads through upsertContent in four requests of at most 1,000 items', async () => {
  if (!sampleDir) throw new Error('set VECGATE_SAMPLE_DIR to the movie sample directory');
  const items = readFileSync(join(sampleDir, 'movies.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
  assert.ok(items.length >= 3200);
  const before = fetchLog.length;
  const result = await client.upsertContent(items);
  assert.equal(result.upserted, items.length);
  assert.deepEqual(
    result.chunks.map((c) => c.end - c.start),
    [1000, 1000, 1000, items.length - 3000],
  );
  const posts = fetchLog.slice(before);
  assert.equal(posts.length, 4);
  assert.ok(posts.every((p) => p.method === 'POST' && p.url.endsWith('/v1/content') && p.status === 200));
  const stats = await client.stats();
  assert.equal(stats.backend, 'postgres');
  assert.equal(stats.dialect, 'ruvector');
  assert.equal(stats.content_count, items.length);
});

registerMethodTests('ruvector', () => ({ client, readClient, fetchLog, origin: server.origin, backend: 'postgres' }));

test('ruvector: PostgreSQL stopped: the server answers 503; a search retries until the database is back; recordEvent does not retry', async () => {
  const retries = [];
  let restarting = null;
  const patient = new VecgateClient({
    baseUrl: server.origin,
    apiKey: ADMIN_KEY,
    timeoutMs: 120_000,
    retry: { maxAttempts: 1000, baseDelayMs: 100, maxDelayMs: 500 },
    onRetry: (event) => {
      retries.push(event);
      // The database comes back while the call is retrying.
      if (retries.length === 2) restarting = pg.start();
    },
  });
  const query = await patient.generateEmbedding('animated film for kids about toys');
  pg.stop();
  try {
    const event = await patient.recordEvent('ruvector-user', { content_id: 'movie-993', completion: 1 }).then(
      () => assert.fail('the database is down'),
      (e) => e,
    );
    assert.ok(event instanceof VecgateError, String(event));
    assert.equal(event.status, 503);
    assert.equal(event.code, 'unavailable');
    assert.equal(event.attempts, 1);
    assert.equal(retries.length, 0);

    const found = await patient.search({ vector: query, k: 3 });
    assert.equal(found.results.length, 3);
    assert.ok(found.results.some((r) => r.id === 'movie-2988'), JSON.stringify(found.results));
    assert.ok(retries.length >= 2, `${retries.length} retries`);
    const first = retries[0];
    assert.equal(first.operation, 'search');
    assert.equal(first.error.status, 503);
    assert.equal(first.error.code, 'unavailable');
  } finally {
    await restarting;
    await pg.start();
  }
  assert.equal((await client.getContent('movie-993')).metadata.title, 'Toy Story');
});
