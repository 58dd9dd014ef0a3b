// The installed package in front-end build tools, each with its default configuration: Vite 5
// (`vite build`, no config file), webpack 5 (`webpack`, no config file: ./src/index.js →
// ./dist/main.js) and esbuild (`esbuild src/index.js --bundle --outfile=dist/main.js`, its default
// IIFE output). Each builds the same page (bundlers/app.js: `import * as vg from 'vecgate'` and
// `vecgate/client`), which is served on 127.0.0.1 with a fake `POST /v1/candidates` and opened
// in Chromium; the test checks what the page computed and what it fetched. One after the other,
// in one file, to keep CI time small. Fails, never skips, when a tool or Chromium fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';
import { CandidateSet } from 'vecgate';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};

let context;
let userDataDir;
const builds = [];

/** The candidate set the fake API serves: r1, r2, r3 along the three axes. */
function candidateBytes() {
  const set = new CandidateSet(3, 'f32');
  set.push('r1', new Float32Array([1, 0, 0]), { title: 'One' });
  set.push('r2', new Float32Array([0, 1, 0]), { title: 'Two' });
  set.push('r3', new Float32Array([0, 0, 1]), { title: 'Three' });
  return set.toBytes();
}

/** Serves `dir` and `POST /v1/candidates` (with an ETag, and 304 to a matching If-None-Match). */
function serve(dir) {
  const bytes = candidateBytes();
  const etag = '"bundler-test-1"';
  const requests = [];
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    request.resume();
    if (request.method === 'POST' && path === '/v1/candidates') {
      const fresh = request.headers['if-none-match'] === etag;
      requests.push({ method: 'POST', path, status: fresh ? 304 : 200 });
      response.writeHead(fresh ? 304 : 200, { 'content-type': 'application/vnd.vecgate.candidates', etag });
      response.end(fresh ? undefined : bytes);
      return;
    }
    const file = resolve(dir, `.${path === '/' ? '/index.html' : path}`);
    try {
      if (!file.startsWith(dir + sep)) throw new Error('outside');
      const body = readFileSync(file);
      requests.push({ method: request.method, path, status: 200 });
      response.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      requests.push({ method: request.method, path, status: 404 });
      response.writeHead(404).end();
    }
  });
  return new Promise((ready) => server.listen(0, '127.0.0.1', () => ready({ server, requests, origin: `http://127.0.0.1:${server.address().port}` })));
}

/** A project directory inside this one (so that `vecgate` resolves from node_modules). */
function project(name) {
  const dir = mkdtempSync(join(here, `.bundle-${name}-`));
  builds.push(dir);
  return dir;
}

/** Runs a build; `{output}` is what it printed (stdout and stderr). */
function run(dir, [command, ...args], what) {
  const started = Date.now();
  const { status, stdout, stderr, error } = spawnSync(command, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const output = `${stdout ?? ''}${stderr ?? ''}`;
  if (error || status !== 0) throw new Error(`${what} failed (${error?.message ?? `exit ${status}`}):\n${output}`);
  return { output, ms: Date.now() - started };
}

const bin = (path) => join(here, 'node_modules', ...path.split('/'));

/** Opens the built page and returns what it computed, the requests it made and its errors. */
async function load(dist) {
  const http = await serve(dist);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  try {
    await page.goto(`${http.origin}/`);
    await page.waitForFunction(() => document.body?.dataset.result !== undefined || document.body?.dataset.error !== undefined, null, { timeout: 30_000 });
    const [result, error, text] = await page.evaluate(() => [document.body.dataset.result, document.body.dataset.error, document.body.textContent]);
    assert.equal(error, undefined, error);
    return { result: JSON.parse(result), text, requests: http.requests, errors };
  } finally {
    await page.close();
    http.server.close();
  }
}

/** `backend`: the build the page must run (Chromium runs relaxed SIMD, so the relaxed-SIMD build
 * wherever the bundle has the packaged files; the inlined copy is the simd128 build). */
function assertPage({ result, text, errors }, backend) {
  assert.equal(result.backend, backend);
  assert.ok(Math.abs(result.cosine - 0.6) < 1e-6, `cosine ${result.cosine}`);
  assert.deepEqual(result.local, [['x', 1], ['y', 0.8]]);
  assert.equal(result.remoteLen, 3);
  assert.deepEqual(result.remoteHits, ['r2']);
  assert.deepEqual(result.fromCache, [false, true], 'the second candidates() call is a 304');
  assert.equal(text, 'cosine 0.6000 · top x, y · server set of 3');
  assert.deepEqual(errors, []);
}

const scripts = (requests) => requests.filter((r) => r.path.endsWith('.js')).map((r) => r.path);
const wasm = (requests) => requests.filter((r) => r.path.endsWith('.wasm'));
const candidates = (requests) => requests.filter((r) => r.path === '/v1/candidates').map((r) => r.status);

before(async () => {
  userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-bundlers-chromium-'));
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  } catch (error) {
    throw new Error(`Chromium (${CHROMIUM}) did not start: ${error.message}`);
  }
});

after(async () => {
  await context?.close();
  for (const dir of [userDataDir, ...builds]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Vite 5, default config (`vite build`): builds, the page works in Chromium, the .wasm is an emitted asset', async () => {
  const dir = project('vite');
  copyFileSync(join(here, 'bundlers', 'app.js'), join(dir, 'main.js'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>vite</title><script type="module" src="./main.js"></script></head><body></body></html>\n');
  const { output, ms } = run(dir, [process.execPath, bin('vite/bin/vite.js'), 'build'], 'vite build');
  assert.match(output, /vite v5\.\d+\.\d+ building for production/);
  const assets = readdirSync(join(dir, 'dist', 'assets'));
  assert.ok(assets.some((f) => /^vecgate_bg-.*\.wasm$/.test(f)), `the .wasm is emitted: ${assets}`);
  assert.ok(assets.some((f) => /^vecgate_relaxed_bg-.*\.wasm$/.test(f)), `the relaxed-SIMD .wasm is emitted: ${assets}`);
  console.log(`# vite build: ${ms} ms`);

  const loaded = await load(join(dir, 'dist'));
  assertPage(loaded, 'relaxed-simd');
  assert.deepEqual(wasm(loaded.requests).map((r) => [r.path.replace(/-[\w-]+\.wasm$/, '.wasm'), r.status]), [['/assets/vecgate_relaxed_bg.wasm', 200]]);
  assert.equal(scripts(loaded.requests).length, 1, `only the entry chunk is loaded (not the inlined copy): ${scripts(loaded.requests)}`);
  assert.deepEqual(candidates(loaded.requests), [200, 304]);
});

test('webpack 5, default config (`webpack`, no config file): builds, the page works in Chromium, the .wasm is an emitted asset', async () => {
  const dir = project('webpack');
  mkdirSync(join(dir, 'src'));
  copyFileSync(join(here, 'bundlers', 'app.js'), join(dir, 'src', 'index.js'));
  const { output, ms } = run(dir, [process.execPath, bin('webpack-cli/bin/cli.js')], 'webpack');
  assert.match(output, /webpack 5\.\d+\.\d+ compiled/);
  assert.doesNotMatch(output, /ERROR/, output);
  console.log(`# webpack: ${ms} ms`);
  writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>webpack</title><script src="main.js" defer></script></head><body></body></html>\n');

  const loaded = await load(join(dir, 'dist'));
  assertPage(loaded, 'relaxed-simd');
  assert.equal(wasm(loaded.requests).length, 1);
  assert.equal(wasm(loaded.requests)[0].status, 200);
  assert.deepEqual(scripts(loaded.requests), ['/main.js'], 'only the entry is loaded (not the inlined copy)');
  assert.deepEqual(candidates(loaded.requests), [200, 304]);
});

test('esbuild, default settings (`esbuild --bundle`, IIFE): builds, the page works in Chromium from the inlined module', async () => {
  const dir = project('esbuild');
  mkdirSync(join(dir, 'src'));
  copyFileSync(join(here, 'bundlers', 'app.js'), join(dir, 'src', 'index.js'));
  const { output, ms } = run(dir, [bin('.bin/esbuild'), 'src/index.js', '--bundle', '--outfile=dist/main.js'], 'esbuild');
  assert.doesNotMatch(output, /WARNING|ERROR/, output);
  assert.deepEqual(readdirSync(join(dir, 'dist')), ['main.js'], 'one file: esbuild copies no assets');
  console.log(`# esbuild: ${ms} ms`);
  writeFileSync(join(dir, 'dist', 'index.html'), '<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>esbuild</title><script src="main.js" defer></script></head><body></body></html>\n');

  const loaded = await load(join(dir, 'dist'));
  assertPage(loaded, 'simd128');
  assert.deepEqual(wasm(loaded.requests), [], 'no .wasm request: the module is inlined in the bundle');
  assert.deepEqual(scripts(loaded.requests), ['/main.js']);
  assert.deepEqual(candidates(loaded.requests), [200, 304]);
});
