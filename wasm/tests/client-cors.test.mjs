// CORS in headless Chromium: a page on one origin calls `vecgate serve` on another with
// `vecgate/client`. From the origin in --cors-origins, search and candidate sets work (the ETag
// is exposed, so the set is revalidated); from another origin the browser blocks the answers.
// A cross-site text/plain POST (no preflight) to an open server gets 415 and writes nothing.
// Fails if Chromium or a server does not start; it never skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
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
const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

let pages; // the static server of the test page and the package
let pagePort;
let api; // keys, and CORS for the page's 127.0.0.1 origin
let open; // no keys (loopback only), no CORS
const dataDirs = [];
let context;
let userDataDir;
const seen = []; // {origin, path, status} of the API responses Chromium got

function servePages() {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = path.startsWith('/pkg/')
      ? normalize(join(packageDir, path.slice(5)))
      : normalize(join(here, 'client-cors', path === '/' ? 'index.html' : path));
    if (!(file.startsWith(packageDir) || file.startsWith(join(here, 'client-cors'))) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  pages = await servePages();
  pagePort = pages.address().port;
  let dataDir;
  ({ server: api, dataDir } = await startSampleServer([...KEY_ARGS, '--cors-origins', `http://127.0.0.1:${pagePort}`]));
  dataDirs.push(dataDir);
  ({ server: open, dataDir } = await startSampleServer([]));
  dataDirs.push(dataDir);
  userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-cors-chromium-'));
  try {
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  } catch (error) {
    throw new Error(`Chromium (${CHROMIUM}) did not start: ${error.message}`);
  }
  context.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/v1/')) seen.push({ origin: url.origin, path: url.pathname, status: response.status(), method: response.request().method() });
  });
});

after(async () => {
  await context?.close();
  await api?.stop();
  await open?.stop();
  await new Promise((done) => (pages ? pages.close(done) : done()));
  for (const dir of [...dataDirs, userDataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function visit(pageOrigin, params) {
  const page = await context.newPage();
  await page.goto(`${pageOrigin}/?${new URLSearchParams(params)}`);
  await page.waitForFunction(() => window.corsResult !== undefined && window.forgeResult !== undefined);
  const result = await page.evaluate(async () => ({ cors: await window.corsResult, forge: await window.forgeResult }));
  await page.close();
  return result;
}

test('from the listed origin: search and a CandidateSet revalidated with its ETag', async () => {
  const { cors } = await visit(`http://127.0.0.1:${pagePort}`, { api: api.origin, key: READ_KEY });
  assert.equal(cors.blocked, undefined, cors.message);
  for (const id of TOY_STORY_IDS) assert.ok(cors.searchIds.includes(id), `${id} in ${cors.searchIds}`);
  assert.equal(cors.len, 50);
  assert.match(cors.etag, /^"[0-9a-f]{8}-[0-9a-f]+"$/, 'the ETag is readable cross-origin (exposed)');
  assert.equal(cors.againFromCache, true, 'the second call was a 304 served from the cache');
  assert.equal(cors.sameEtag, true);
  const candidates = seen.filter((r) => r.origin === api.origin && r.path === '/v1/candidates' && r.method === 'POST');
  assert.deepEqual(candidates.map((r) => r.status), [200, 304]);
});

test('from an origin not listed: the browser blocks the answers; a text/plain POST gets 415 and writes nothing', async () => {
  seen.length = 0;
  // localhost:<port> is another origin than 127.0.0.1:<port>.
  const { cors, forge } = await visit(`http://localhost:${pagePort}`, { api: api.origin, key: READ_KEY, forge: open.origin });
  assert.equal(cors.blocked, true, 'the call from an unlisted origin must fail');
  assert.equal(cors.isVecgateError, true);
  assert.equal(forge.type, 'opaque', JSON.stringify(forge));
  const forged = seen.find((r) => r.origin === open.origin && r.path === '/v1/content');
  assert.equal(forged?.status, 415, JSON.stringify(seen));
  const check = await fetch(`${open.origin}/v1/content/forged-by-a-page`);
  assert.equal(check.status, 404, 'the forged POST wrote nothing');
});
