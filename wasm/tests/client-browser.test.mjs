// `vecgate/client` in headless Chromium (Debian's, driven by playwright-core), on a page and in a
// module Web Worker: `vecgate serve --sample` serves the test page (client-browser/) at / and the
// installed package at /pkg/, so the client calls the API on its own origin. Checks JSON calls,
// the typed error, and candidates(): the .wasm is fetched on its first call and not before, the
// set reranks locally, and asking again is a 304 with nothing downloaded. Fails if Chromium or the
// server does not start; it never skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';
import { TOY_STORY_IDS } from './exact.mjs';
import { KEY_ARGS, READ_KEY } from './client-suite.mjs';
import { startSampleServer } from './servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = dirname(createRequire(import.meta.url).resolve('vecgate/package.json'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let server;
let dataDir;
let context;
let userDataDir;
const responses = []; // {url, status, ifNoneMatch} of every API response the page or its Worker got
const problems = [];

before(async () => {
  ({ server, dataDir } = await startSampleServer(['--www-dir', join(here, 'client-browser'), '--pkg-dir', packageDir, ...KEY_ARGS]));
  userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-client-chromium-'));
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  } catch (error) {
    throw new Error(`Chromium (${CHROMIUM}) did not start: ${error.message}`);
  }
  context.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/v1/') || url.pathname.endsWith('.wasm')) {
      responses.push({ path: url.pathname, status: response.status(), ifNoneMatch: response.request().headers()['if-none-match'] ?? null });
    }
  });
  context.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  context.on('weberror', (error) => problems.push(`uncaught: ${error.error().message}`));
});

after(async () => {
  await context?.close();
  await server?.stop();
  for (const dir of [dataDir, userDataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

function assertClientResult(result) {
  assert.equal(result.failed, undefined, result.failed);
  assert.deepEqual(result.health, { status: 'ok' });
  for (const id of TOY_STORY_IDS) assert.ok(result.searchIds.includes(id), `${id} in ${result.searchIds}`);
  assert.ok(result.searchTitles.includes('Toy Story'));
  assert.deepEqual(result.wasmAfterSearch, [], 'JSON calls load no WebAssembly');
  // Chromium runs relaxed SIMD, so init() fetches the relaxed-SIMD build (browser.test.mjs checks the choice).
  assert.deepEqual(result.wasmAfterCandidates, ['/pkg/bundler/vecgate_relaxed_bg.wasm'], 'candidates() loads the packaged .wasm');
  assert.equal(result.len, 200);
  assert.equal(result.dims, 384);
  for (const id of TOY_STORY_IDS) assert.ok(result.hitIds.slice(0, 4).includes(id), `${id} in the local rerank ${result.hitIds}`);
  assert.equal(result.firstFromCache, false);
  assert.equal(result.againFromCache, true);
  assert.equal(result.sameEtag, true);
  assert.deepEqual(result.againHitIds, result.hitIds);
  assert.deepEqual(result.error, {
    isVecgateError: true,
    isError: true,
    code: 'not_found',
    status: 404,
    message: 'no content with id "no-such-film"',
  });
}

test('on a page and in a module Worker: the client calls the API, loads the .wasm only for candidates(), and revalidates them (304)', async () => {
  const page = await context.newPage();
  await page.goto(`${server.origin}/?key=${READ_KEY}`);
  await page.waitForFunction(() => window.pageResult !== undefined && window.workerResult !== undefined);
  const [pageResult, workerResult] = await Promise.all([page.evaluate(() => window.pageResult), page.evaluate(() => window.workerResult)]);
  assertClientResult(pageResult);
  assertClientResult(workerResult);
  assert.equal(workerResult.inWorker, true);

  // Seen from the network: each of the two clients got one 200 and one 304 for its candidate set.
  const candidateResponses = responses.filter((r) => r.path === '/v1/candidates');
  assert.equal(candidateResponses.length, 4, JSON.stringify(responses));
  assert.deepEqual(candidateResponses.map((r) => r.status).sort(), [200, 200, 304, 304]);
  assert.ok(candidateResponses.filter((r) => r.status === 304).every((r) => /^"[0-9a-f]{8}-[0-9a-f]+"$/.test(r.ifNoneMatch)));
  assert.ok(candidateResponses.filter((r) => r.status === 200).every((r) => r.ifNoneMatch === null));
  await page.close();
  assert.deepEqual(problems.filter((p) => !p.includes('404')), []);
});
