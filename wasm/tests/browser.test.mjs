// The installed package in headless Chromium (Debian's, driven by playwright-core): on a page and
// in a module Web Worker, reranking the movie sample like exact search; `init()` picking the
// relaxed-SIMD build (Chromium runs relaxed SIMD), or the simd128 one when told to or where relaxed
// SIMD does not validate, with bit-identical int8 results. Fails if Chromium does not start; it
// never skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';
import { CandidateSet } from 'vecgate';
import { TOY_STORY_IDS, assertMovieResults, buildCandidateSet, loadMovies, sampleDir } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.jsonl': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** The browser entry of the installed package, as its `exports` map gives it to browsers. */
function browserEntry() {
  const pkg = JSON.parse(readFileSync(require.resolve('vecgate/package.json'), 'utf8'));
  const entry = pkg.exports['.'].default;
  assert.equal(typeof entry, 'string', 'exports["."].default is the browser entry');
  return `/node_modules/vecgate/${entry.replace(/^\.\//, '')}`;
}

/** Serves this project (tests and node_modules), the sample under /data/ and the set's bytes. */
function startServer(candidateBytes) {
  const entry = browserEntry();
  const served = [];
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    served.push(path);
    try {
      let body;
      let file;
      if (path === '/movies.vgcs') {
        body = candidateBytes;
        file = path;
      } else {
        const [root, rest] = path.startsWith('/data/') ? [resolve(sampleDir), path.slice(6)] : [here, path.slice(1)];
        file = resolve(root, rest);
        if (file !== root && !file.startsWith(root + sep)) throw new Error('outside the served root');
        body = readFileSync(file);
        if (extname(file) === '.html') body = body.toString('utf8').replaceAll('__VECGATE_ENTRY__', entry);
      }
      response.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((ready) =>
    server.listen(0, '127.0.0.1', () => ready({ server, served, origin: `http://127.0.0.1:${server.address().port}` })),
  );
}

let http;
let context;
let userDataDir;
const pageErrors = [];

before(async () => {
  const bytes = buildCandidateSet(CandidateSet, loadMovies()).toBytes();
  http = await startServer(bytes);
  userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await context?.close();
  http?.server.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

/** The value the page publishes as `window[name]`, once its module scripts have set it (module
 * scripts, and the Worker's, can finish after the load event). */
async function pageValue(page, name) {
  await page.waitForFunction((key) => window[key] !== undefined, name);
  return page.evaluate((key) => window[key], name);
}

async function openPage(path) {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${path}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${path}: console: ${message.text()}`);
  });
  await page.goto(`${http.origin}${path}`);
  return page;
}

function assertErrorsAreClean(result) {
  const { corruptedBytes, unknownOperator, wrongLength, nan } = result.errors;
  for (const [name, error] of Object.entries(result.errors)) {
    assert.ok(error.threw && error.isError && !error.isTrap, `${name}: ${JSON.stringify(error)}`);
    assert.doesNotMatch(error.message, /unreachable/);
  }
  assert.match(corruptedBytes.message, /invalid bytes: candidate set: checksum mismatch/);
  assert.match(unknownOperator.message, /invalid filter at rating: unknown operator \$near/);
  assert.match(wrongLength.message, /dimension mismatch: expected 384, got 383/);
  assert.match(nan.message, /component 0 is NaN/);
}

test('Chromium runs headless', async () => {
  const page = await openPage('/browser/empty.html');
  assert.match(await page.evaluate(() => navigator.userAgent), /HeadlessChrome\/\d+/);
  await page.close();
});

test('on a page: the candidate set reranks like exact search, Toy Story films in the top 4', async () => {
  const page = await openPage('/browser/page.html');
  const result = await pageValue(page, 'pageResult');
  assert.equal(result.failed, undefined, result.failed);
  assertMovieResults(result, 'relaxed-simd');
  assertErrorsAreClean(result);
  assert.ok(http.served.includes('/node_modules/vecgate/bundler/vecgate_relaxed_bg.wasm'), 'the .wasm came from the package');
  await page.close();
});

test('in a module Web Worker: the same results', async () => {
  const page = await openPage('/browser/page.html');
  const result = await pageValue(page, 'workerResult');
  assert.equal(result.failed, undefined, result.failed);
  assert.equal(result.inWorker, true);
  assertMovieResults(result, 'relaxed-simd');
  assertErrorsAreClean(result);
  await page.close();
});

/** What the Index checks (exact.mjs, `checkIndex`) must show on the 3,200 films at ef 400: every
 * search equal to exact search, filtered or not, after a removal, and through bytes. */
function assertIndexResults(result) {
  assert.equal(result.failed, undefined, result.failed);
  assert.equal(result.backend, 'relaxed-simd');
  assert.equal(result.len, 3199, 'one film removed');
  assert.equal(result.restoredLen, 3200);
  assert.equal(result.removed, true);
  assert.equal(result.removedStillFound, false);
  for (const id of TOY_STORY_IDS) assert.ok(result.toysTop4.includes(id), `${id} not in ${result.toysTop4}`);
  assert.equal(typeof result.toysMetadataTitle, 'string');
  for (const [name, searches] of Object.entries({
    unfiltered: result.unfiltered,
    filtered: result.filtered,
    afterRemove: result.afterRemove,
  })) {
    assert.equal(searches.length, 12, name);
    for (const { text, got, expected } of searches) assert.deepEqual(got, expected, `${name}: "${text}"`);
  }
  assert.deepEqual(result.roundTripSame, Array(12).fill(true), 'fromBytes(toBytes()) searches the same');
}

test('on a page: the HNSW Index builds, searches, filters, removes and round-trips like exact search', async () => {
  const page = await openPage('/browser/page.html?checks=index');
  assertIndexResults(await pageValue(page, 'pageResult'));
  await page.close();
});

test('in a module Web Worker: the HNSW Index gives the same results', async () => {
  const page = await openPage('/browser/page.html?checks=index');
  const result = await pageValue(page, 'workerResult');
  assertIndexResults(result);
  assert.equal(result.inWorker, true);
  await page.close();
});

/** The int8 checks (page and Worker) with `init()` or `init({ backend })`, and the .wasm files the
 * page fetched. */
async function int8Run(backend) {
  const before = http.served.length;
  const page = await openPage(`/browser/page.html?checks=int8${backend ? `&backend=${backend}` : ''}`);
  const [onPage, inWorker] = [await pageValue(page, 'pageResult'), await pageValue(page, 'workerResult')];
  await page.close();
  for (const result of [onPage, inWorker]) assert.equal(result.failed, undefined, result.failed);
  const wasm = http.served.slice(before).filter((path) => path.endsWith('.wasm'));
  return { onPage, inWorker, wasm };
}

const INT8_KEYS = ['int8TopK', 'int8Scores', 'f32TopK', 'edge', 'indexSearches', 'indexBytes'];

test('init() picks the relaxed-SIMD build where relaxed SIMD validates, init({ backend: "simd128" }) the simd128 one, and int8 results are bit-identical (page and Worker)', async () => {
  const relaxed = await int8Run();
  const simd128 = await int8Run('simd128');
  assert.equal(relaxed.onPage.validatesRelaxedSimd, true, 'Chromium validates relaxed SIMD');
  for (const run of [relaxed.onPage, relaxed.inWorker]) assert.equal(run.backend, 'relaxed-simd');
  for (const run of [simd128.onPage, simd128.inWorker]) assert.equal(run.backend, 'simd128');
  assert.deepEqual([...new Set(relaxed.wasm)], ['/node_modules/vecgate/bundler/vecgate_relaxed_bg.wasm']);
  assert.deepEqual([...new Set(simd128.wasm)], ['/node_modules/vecgate/bundler/vecgate_bg.wasm']);
  assert.equal(simd128.onPage.int8Scores.count, 20 * 3200);
  assert.equal(simd128.onPage.edge.length, 4);
  for (const key of INT8_KEYS) {
    assert.deepEqual(relaxed.onPage[key], simd128.onPage[key], `page: ${key}`);
    assert.deepEqual(relaxed.inWorker[key], simd128.inWorker[key], `Worker: ${key}`);
    assert.deepEqual(relaxed.inWorker[key], relaxed.onPage[key], `Worker and page: ${key}`);
  }
});

/** An init script making the page an engine without relaxed SIMD: `WebAssembly.validate` says no
 * to every module holding a relaxed-SIMD opcode (0xfd, then 0x100–0x113 as LEB128: 0x80–0x93, 0x02). */
function withoutRelaxedSimd() {
  const validate = WebAssembly.validate;
  WebAssembly.validate = (source) => {
    const bytes = ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
    for (let i = 0; i + 2 < bytes.length; i++) {
      if (bytes[i] === 0xfd && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x93 && bytes[i + 2] === 0x02) return false;
    }
    return validate(source);
  };
}

test('where relaxed SIMD does not validate, init() loads the simd128 build; forcing relaxed-simd there is a clear Error', async () => {
  const page = await context.newPage();
  await page.addInitScript(withoutRelaxedSimd);
  const before = http.served.length;
  await page.goto(`${http.origin}/browser/empty.html`);
  const result = await page.evaluate(async () => {
    const vecgate = await import('vecgate');
    await vecgate.init();
    const forced = await import('vecgate/web').then(({ relaxedSimd }) => relaxedSimd());
    return { backend: vecgate.simdBackend(), relaxedSimd: forced };
  });
  assert.deepEqual(result, { backend: 'simd128', relaxedSimd: false });
  assert.deepEqual(http.served.slice(before).filter((path) => path.endsWith('.wasm')), ['/node_modules/vecgate/bundler/vecgate_bg.wasm']);
  await page.close();

  const forced = await context.newPage();
  await forced.addInitScript(withoutRelaxedSimd);
  await forced.goto(`${http.origin}/browser/empty.html`);
  const message = await forced.evaluate(() =>
    import('vecgate').then((vecgate) => vecgate.init({ backend: 'relaxed-simd' })).then(
      () => 'loaded',
      (error) => `${error instanceof Error} ${error.message}`,
    ),
  );
  assert.equal(message, 'true vecgate: init({ backend: "relaxed-simd" }): this engine does not run relaxed SIMD');
  await forced.close();
});

test('without WebAssembly SIMD, importing the package rejects with a clear Error', async () => {
  const page = await context.newPage();
  await page.addInitScript(() => {
    WebAssembly.validate = () => false;
  });
  await page.goto(`${http.origin}/browser/empty.html`);
  const message = await page.evaluate(() =>
    import('vecgate').then(
      () => 'loaded',
      (error) => `${error instanceof Error} ${error.message}`,
    ),
  );
  assert.match(message, /^true vecgate needs WebAssembly with SIMD/);
  await page.close();
});

test('no page errors', () => {
  assert.deepEqual(pageErrors, []);
});
