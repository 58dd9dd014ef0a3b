// `vecgate/embedder` in headless Chromium (Debian's, driven by playwright-core), from the installed
// tarball: a page runs the embedder in its module Worker (`createEmbedderWorker`) on the same 50
// film texts as the Node test (cosine ≥ 0.995 against the sample's vectors), and a second load
// reads the model from Cache Storage instead of the network. The test serves the model files
// itself (`bash scripts/install-model.sh` installs them). Fails if Chromium does not start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';
import { sampleDir } from './helpers.mjs';
import { MIN_COSINE, SAMPLE_SIZE, cosine, modelFiles, readSample } from './model.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};
const MODEL_URL = '/models/model.onnx';
const TOKENIZER_URL = '/models/tokenizer.json';

const files = modelFiles();
const sample = readSample(sampleDir);

/** `vecgate/embedder` as the installed package's `exports` give it to browsers. */
function embedderEntry() {
  const pkg = JSON.parse(readFileSync(require.resolve('vecgate/package.json'), 'utf8'));
  const entry = pkg.exports['./embedder'].default;
  assert.equal(typeof entry, 'string', 'exports["./embedder"].default is the browser entry');
  return `/node_modules/vecgate/${entry.replace(/^\.\//, '')}`;
}

/** Serves this project (tests, node_modules) and the model files under /models/. */
function startServer() {
  const served = [];
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    served.push(path);
    try {
      const file = { [MODEL_URL]: files.model, [TOKENIZER_URL]: files.tokenizer }[path] ?? resolve(here, path.slice(1));
      if (!file.startsWith(here + sep) && !Object.values(files).includes(file)) throw new Error('outside the served root');
      const body = readFileSync(file);
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
  http = await startServer();
  userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-chromium-embedder-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  context.on('weberror', (error) => pageErrors.push(`uncaught: ${error.error().message}`));
});

after(async () => {
  await context?.close();
  http?.server.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

async function openPage() {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
  await page.goto(`${http.origin}/browser/empty.html`);
  return page;
}

/** In a fresh page: createEmbedderWorker, embed `texts` in the Worker, try bad input. */
function runInWorker(page, texts) {
  return page.evaluate(
    async ({ entry, modelUrl, tokenizerUrl, texts }) => {
      const describe = (error) => ({ isError: error instanceof Error, message: String(error?.message ?? error) });
      const { createEmbedderWorker } = await import(entry);
      const worker = await createEmbedderWorker({ modelUrl, tokenizerUrl });
      const vectors = [];
      let embedMs = 0;
      for (const text of texts) {
        const started = performance.now();
        const vector = await worker.embed(text);
        embedMs += performance.now() - started;
        vectors.push({ isFloat32: vector instanceof Float32Array, values: Array.from(vector) });
      }
      const batch = await worker.embedBatch(texts.slice(0, 3));
      const empty = await worker.embed('').then(() => null, describe);
      const notString = await worker.embed(7).then(() => null, describe);
      const after = await worker.embed(texts[0]);
      const missing = await createEmbedderWorker({ modelUrl: '/models/missing.onnx', tokenizerUrl }).then(() => null, describe);
      worker.terminate();
      const terminated = await worker.embed('toys').then(() => null, describe);
      return {
        dims: worker.dimensions,
        source: worker.source,
        vectors,
        batch: batch.map((v) => Array.from(v)),
        after: Array.from(after),
        empty,
        notString,
        missing,
        terminated,
        meanEmbedMs: embedMs / texts.length,
        cacheNames: await caches.keys(),
      };
    },
    { entry: embedderEntry(), modelUrl: MODEL_URL, tokenizerUrl: TOKENIZER_URL, texts },
  );
}

const modelFetches = () => http.served.filter((path) => path === MODEL_URL).length;

test(`in a module Worker: ${SAMPLE_SIZE} film texts, cosine with the sample's vectors ≥ ${MIN_COSINE}`, async () => {
  const page = await openPage();
  const result = await runInWorker(page, sample.map((m) => m.text));
  assert.equal(result.dims, 384);
  assert.deepEqual({ model: result.source.model, tokenizer: result.source.tokenizer }, { model: 'network', tokenizer: 'network' });
  assert.equal(result.vectors.length, SAMPLE_SIZE);
  const cosines = result.vectors.map((v, i) => {
    assert.ok(v.isFloat32, 'embed resolves with a Float32Array');
    return cosine(v.values, sample[i].vector);
  });
  const low = sample.map((m, i) => `${m.id}: ${cosines[i]}`).filter((_, i) => cosines[i] < MIN_COSINE);
  assert.deepEqual(low, [], `below ${MIN_COSINE}`);
  result.batch.forEach((v, i) => assert.ok(cosine(v, result.vectors[i].values) > 0.99999, `embedBatch ${i}`));
  assert.ok(cosine(result.after, result.vectors[0].values) > 0.99999, 'the Worker works after rejected calls');
  for (const [name, error] of Object.entries({ empty: result.empty, notString: result.notString, missing: result.missing, terminated: result.terminated })) {
    assert.ok(error?.isError, `${name}: ${JSON.stringify(error)}`);
  }
  assert.match(result.empty.message, /text must not be empty/);
  assert.match(result.notString.message, /text must be a string/);
  assert.match(result.missing.message, /^vecgate\/embedder: GET http:\/\/127\.0\.0\.1:\d+\/models\/missing\.onnx: HTTP 404$/);
  assert.match(result.terminated.message, /terminated/);
  assert.ok(result.cacheNames.includes('vecgate-models'), `Cache Storage: ${result.cacheNames}`);
  assert.equal(modelFetches(), 1);
  assert.ok(http.served.includes('/node_modules/vecgate/embedder/embedder_bg.wasm'), 'the .wasm came from the package');
  assert.ok(http.served.includes('/node_modules/vecgate/embedder/worker.js'), 'the Worker is the package\'s');
  const worst = Math.min(...cosines);
  console.log(`Chromium Worker: ${SAMPLE_SIZE} texts, min cosine ${worst.toFixed(5)}, ${result.meanEmbedMs.toFixed(1)} ms per text (round trip)`);
  await page.close();
});

test('a second load reads the model and tokenizer from Cache Storage, with no request for them', async () => {
  const before = modelFetches();
  assert.equal(before, 1);
  const page = await openPage();
  const result = await runInWorker(page, sample.slice(0, 2).map((m) => m.text));
  assert.deepEqual({ model: result.source.model, tokenizer: result.source.tokenizer }, { model: 'cache', tokenizer: 'cache' });
  assert.equal(modelFetches(), before, 'no second request for model.onnx');
  assert.ok(cosine(result.vectors[1].values, sample[1].vector) >= MIN_COSINE);
  // On the page's main thread too, from the same cache; clearModelCache empties it.
  const onPage = await page.evaluate(
    async ({ entry, modelUrl, tokenizerUrl, text }) => {
      const { loadEmbedder, clearModelCache } = await import(entry);
      const embedder = await loadEmbedder({ modelUrl, tokenizerUrl });
      const vector = Array.from(embedder.embed(text));
      embedder.free();
      const cleared = await clearModelCache();
      return { source: embedder.source, vector, cleared, cacheNames: await caches.keys() };
    },
    { entry: embedderEntry(), modelUrl: MODEL_URL, tokenizerUrl: TOKENIZER_URL, text: sample[3].text },
  );
  assert.equal(onPage.source.model, 'cache');
  assert.ok(cosine(onPage.vector, sample[3].vector) >= MIN_COSINE);
  assert.equal(onPage.cleared, true);
  assert.ok(!onPage.cacheNames.includes('vecgate-models'));
  assert.equal(modelFetches(), before);
  await page.close();
});

test('no page errors', () => {
  assert.deepEqual(pageErrors, []);
});
