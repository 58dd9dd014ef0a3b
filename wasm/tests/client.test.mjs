// `vecgate/client` in Node, installed from the tarball: every method against a live
// `vecgate serve --sample` (client-suite.mjs), the retry paths (the server stopped mid-call and
// started again; scripted 503s; what is never retried), the timeout and cancellation, and errors
// that are not the API's. The same suite runs on ruvector in client-ruvector.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';

import { VecgateClient, VecgateError, OPERATIONS, createClient } from 'vecgate/client';
import { ADMIN_KEY, KEY_ARGS, READ_KEY, recordingClient, registerMethodTests } from './client-suite.mjs';
import { startSampleServer } from './servers.mjs';

let server;
let dataDir;
let client;
let readClient;
let fetchLog;

before(async () => {
  ({ server, dataDir } = await startSampleServer(KEY_ARGS));
  ({ client, fetchLog } = recordingClient(server.origin));
  readClient = new VecgateClient({ baseUrl: server.origin, apiKey: READ_KEY });
});

after(async () => {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

registerMethodTests('sample', () => ({ client, readClient, fetchLog, origin: server.origin, backend: 'embedded' }));

test('sample: the server stopped mid-call: an idempotent call retries until it is back; recordEvent never retries', async () => {
  const retries = [];
  const patient = new VecgateClient({
    baseUrl: server.origin,
    apiKey: ADMIN_KEY,
    timeoutMs: 120_000,
    retry: { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 250 },
    onRetry: (event) => retries.push(event),
  });
  assert.equal((await patient.getContent('movie-993')).id, 'movie-993');
  await server.stop();

  // Not idempotent: one attempt, then the network error.
  const event = await patient.recordEvent('client-user', { content_id: 'movie-993', completion: 1 }).then(
    () => assert.fail('the server is down'),
    (e) => e,
  );
  assert.ok(event instanceof VecgateError, String(event));
  assert.equal(event.code, 'network_error');
  assert.equal(event.status, 0);
  assert.equal(event.attempts, 1);
  assert.match(event.message, /^POST http:\/\/127\.0\.0\.1:\d+\/v1\/users\/client-user\/events failed: /);
  assert.equal(retries.length, 0, 'recordEvent is not retried');

  // Idempotent: retried while the server restarts on the same port.
  const pending = patient.getContent('movie-2987');
  while (retries.length < 3) await new Promise((r) => setTimeout(r, 20));
  server = await server.restart();
  const item = await pending;
  assert.equal(item.id, 'movie-2987');
  assert.ok(retries.length >= 3);
  for (const r of retries) {
    assert.equal(r.operation, 'getContent');
    assert.equal(r.error.code, 'network_error');
    assert.ok(r.delayMs >= 25 && r.delayMs <= 250, `delay ${r.delayMs}`);
  }
  assert.deepEqual(retries.map((r) => r.attempt), retries.map((_, i) => i + 1));
});

test('sample: with the server down, retries stop after maxAttempts with the network error', async () => {
  const port = server.port;
  await server.stop();
  try {
    const retries = [];
    const impatient = new VecgateClient({ baseUrl: `http://127.0.0.1:${port}`, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 }, onRetry: (e) => retries.push(e) });
    const started = Date.now();
    const error = await impatient.search({ text: 'toys' }).then(() => assert.fail('down'), (e) => e);
    assert.ok(error instanceof VecgateError);
    assert.equal(error.code, 'network_error');
    assert.equal(error.attempts, 3);
    assert.equal(retries.length, 2);
    assert.ok(Date.now() - started < 5_000);
  } finally {
    server = await server.restart();
  }
  assert.deepEqual(await client.health(), { status: 'ok' });
});

// ---------------------------------------------------------------------------------------------
// A scripted server for exact counts: 503s, bodies that are not vecgate's, a server that hangs.

async function scripted(handler) {
  const requests = [];
  const http = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      requests.push({ method: request.method, url: request.url, headers: request.headers, body });
      handler(request, response, requests.length);
    });
  });
  await new Promise((ready) => http.listen(0, '127.0.0.1', ready));
  return {
    origin: `http://127.0.0.1:${http.address().port}`,
    requests,
    close: () => {
      http.closeAllConnections();
      return new Promise((done) => http.close(done));
    },
  };
}

function json(response, status, body, headers = {}) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

test('503: idempotent calls retry with growing, jittered waits and honor Retry-After; recordEvent does not retry', async () => {
  const fake = await scripted((request, response, n) => {
    if (request.url.startsWith('/v1/users/')) return json(response, 503, { error: { code: 'unavailable', message: 'store down' } });
    if (n <= 3) return json(response, 503, { error: { code: 'unavailable', message: 'store down' } }, n === 3 ? { 'retry-after': '0.3' } : {});
    return json(response, 200, { results: [{ id: 'movie-1', score: 0.5 }], took_ms: 1 });
  });
  try {
    const retries = [];
    const c = createClient({ baseUrl: `${fake.origin}/`, apiKey: 'k', retry: { maxAttempts: 5, baseDelayMs: 40, maxDelayMs: 1000 }, onRetry: (e) => retries.push(e) });
    const started = Date.now();
    const found = await c.search({ vector: new Float32Array([0.5, 0.25]), k: 1 });
    assert.deepEqual(found.results, [{ id: 'movie-1', score: 0.5 }]);
    assert.equal(fake.requests.length, 4);
    assert.deepEqual(retries.map((r) => [r.attempt, r.error.status, r.error.code, r.error.message]), [
      [1, 503, 'unavailable', 'store down'],
      [2, 503, 'unavailable', 'store down'],
      [3, 503, 'unavailable', 'store down'],
    ]);
    // Equal jitter: attempt n waits between half and all of base·2^(n-1); Retry-After raises it.
    assert.ok(retries[0].delayMs >= 20 && retries[0].delayMs <= 40, `${retries[0].delayMs}`);
    assert.ok(retries[1].delayMs >= 40 && retries[1].delayMs <= 80, `${retries[1].delayMs}`);
    assert.ok(retries[2].delayMs >= 300, `Retry-After 0.3 s: ${retries[2].delayMs}`);
    assert.ok(Date.now() - started >= 360);
    // What was sent: the vector as a JSON array, the key as a bearer token, to the base without its slash.
    assert.equal(fake.requests[0].url, '/v1/search');
    assert.deepEqual(JSON.parse(fake.requests[0].body), { vector: [0.5, 0.25], k: 1 });
    assert.equal(fake.requests[0].headers.authorization, 'Bearer k');
    assert.equal(fake.requests[0].headers['content-type'], 'application/json');

    const before = fake.requests.length;
    const error = await c.recordEvent('u1', { content_id: 'movie-1', completion: 1 }).then(() => assert.fail('503'), (e) => e);
    assert.equal(error.status, 503);
    assert.equal(error.code, 'unavailable');
    assert.equal(error.attempts, 1);
    assert.equal(fake.requests.length - before, 1, 'one request only');
    assert.equal(OPERATIONS.recordEvent.idempotent, false);
  } finally {
    await fake.close();
  }
});

test('errors that are not vecgate bodies, 4xx that are not retried, a DELETE retried into a 404', async () => {
  let deletes = 0;
  const fake = await scripted((request, response) => {
    if (request.url === '/health') {
      response.writeHead(502, { 'content-type': 'text/html' });
      return response.end('<html>Bad gateway</html>');
    }
    if (request.url === '/v1/stats') return json(response, 400, { error: { code: 'invalid_request', message: 'nope' } });
    if (request.url === '/v1/embed') {
      response.writeHead(200, { 'content-type': 'application/json' });
      return response.end('not json');
    }
    if (request.method === 'DELETE') {
      deletes++;
      // The first attempt is cut off after the server acted; the retry finds the item gone.
      if (deletes === 1) return request.socket.destroy();
      return json(response, 404, { error: { code: 'not_found', message: 'no content with id "gone"' } });
    }
    return json(response, 500, { error: { code: 'internal', message: 'internal error' } });
  });
  try {
    const c = new VecgateClient({ baseUrl: fake.origin, retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 10 } });
    const html = await c.health().then(() => assert.fail('502'), (e) => e);
    assert.equal(html.code, 'http_error');
    assert.equal(html.status, 502);
    assert.match(html.message, /^GET http:\/\/127\.0\.0\.1:\d+\/health: HTTP 502: <html>Bad gateway<\/html> \(not a vecgate error body\)$/);
    const bad = await c.stats().then(() => assert.fail('400'), (e) => e);
    assert.deepEqual([bad.status, bad.code, bad.message, bad.attempts], [400, 'invalid_request', 'nope', 1]);
    const garbled = await c.embed(['x']).then(() => assert.fail('not JSON'), (e) => e);
    assert.equal(garbled.code, 'invalid_response');
    assert.match(garbled.message, /^embed: the response is not JSON: not json/);
    const internal = await c.getContent('x').then(() => assert.fail('500'), (e) => e);
    assert.deepEqual([internal.status, internal.code, internal.attempts], [500, 'internal', 1]);
    assert.deepEqual(await c.deleteContent('gone'), { deleted: 'gone' });
    assert.equal(deletes, 2);
    const invalid = await Promise.resolve().then(() => c.getContent('')).then(() => assert.fail('empty id'), (e) => e);
    assert.equal(invalid.code, 'invalid_argument');
    assert.throws(() => new VecgateClient({ baseUrl: fake.origin, timeout: 5 }), /unknown option "timeout"/);
  } finally {
    await fake.close();
  }
});

test('the timeout bounds the whole call, retries included; a signal cancels it', async () => {
  const fake = await scripted(() => {
    // Never answers.
  });
  try {
    const c = new VecgateClient({ baseUrl: fake.origin, timeoutMs: 400 });
    const started = Date.now();
    const error = await c.search({ text: 'toys' }).then(() => assert.fail('hangs'), (e) => e);
    const elapsed = Date.now() - started;
    assert.ok(error instanceof VecgateError);
    assert.equal(error.code, 'timeout');
    assert.equal(error.status, 0);
    assert.match(error.message, /^search: no answer within 400 ms \(1 attempt\)$/);
    assert.ok(elapsed >= 380 && elapsed < 2_000, `${elapsed} ms`);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const aborted = await c.stats({ signal: controller.signal, timeoutMs: 5_000 }).then(() => assert.fail('hangs'), (e) => e);
    assert.equal(aborted.code, 'aborted');
  } finally {
    await fake.close();
  }
});
