// The demo page (www/) as a user gets it: `vecgate serve --sample` serves the page, the npm
// package (wasm/pkg), the bundled sample and the embedding model (/models/all-minilm-l6-v2/, from
// `bash scripts/install-model.sh`); Debian's Chromium, driven by playwright-core, opens it, types
// free text, and the Worker embeds it and reranks locally.
// www/test.sh builds the package and the binary first. The tests run in order on one page and
// share its state (likes, the IndexedDB cache). Fails if Chromium does not start; it never skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const VECGATE = process.env.VECGATE_BIN ?? join(repo, 'target', 'debug', 'vecgate');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const OUT = join(here, 'out');
const SERVER_START_MS = 180_000;

const MODEL_DIR = process.env.VECGATE_MODEL_DIR ?? join(homedir(), '.cache', 'vecgate', 'models', 'all-minilm-l6-v2');
const MODEL_PATH = '/models/all-minilm-l6-v2/model.onnx';

const TOYS = 'animated film for kids about toys';
const TOY_STORY_IDS = ['movie-993', 'movie-2987', 'movie-2988'];
const HACKER = 'computer hacker fighting the system';
const A_SCANNER_DARKLY = 'movie-2694'; // Thriller/Suspense, rank ≤ 10 for HACKER
// Not one of the sample's twelve query phrases: only a model in the page can answer it.
const FREE_TEXT = 'jaws the killer shark';
const JAWS_IDS = ['movie-488', 'movie-489']; // Jaws, Jaws 2: ranks 1 and 3 (score margin 0.014 over the 5th)

let server;
let serverLog = '';
let origin;
let dataDir;
let userDataDir;
let context;
let page;
const requests = []; // every request any page or worker of the context made
const problems = []; // console errors and uncaught page errors

/** Starts `vecgate serve` on a port the OS picks and resolves with its address. */
function startServer() {
  dataDir = mkdtempSync(join(tmpdir(), 'vecgate-www-data-'));
  server = spawn(
    VECGATE,
    [
      'serve',
      '--sample',
      '--addr',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--www-dir',
      join(repo, 'www'),
      '--pkg-dir',
      join(repo, 'wasm', 'pkg'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((ready, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`vecgate serve did not start in time:\n${serverLog}`)),
      SERVER_START_MS,
    );
    const collect = (chunk) => {
      serverLog += chunk;
      const address = /demo page: (http:\/\/127\.0\.0\.1:\d+)\//.exec(serverLog);
      if (address) {
        clearTimeout(timer);
        ready(address[1]);
      }
    };
    server.stdout.on('data', collect);
    server.stderr.on('data', collect);
    server.on('error', (error) => fail(new Error(`cannot run ${VECGATE}: ${error.message}`)));
    server.on('exit', (code) => fail(new Error(`vecgate serve exited (${code}):\n${serverLog}`)));
  });
}

before(async () => {
  for (const file of ['model.onnx', 'tokenizer.json']) {
    if (!existsSync(join(MODEL_DIR, file))) {
      throw new Error(`the demo needs ${join(MODEL_DIR, file)}: run \`bash scripts/install-model.sh\` (or set VECGATE_MODEL_DIR)`);
    }
  }
  mkdirSync(OUT, { recursive: true });
  origin = await startServer();
  userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-www-chromium-'));
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  } catch (error) {
    throw new Error(`Chromium (${CHROMIUM}) did not start: ${error.message}`);
  }
  context.on('request', (request) => requests.push({ method: request.method(), url: request.url() }));
  context.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  context.on('weberror', (error) => problems.push(`uncaught: ${error.error().message}`));
  page = await context.newPage();
});

after(async () => {
  await context?.close();
  if (server && server.exitCode === null) {
    server.removeAllListeners('exit');
    const exited = new Promise((done) => server.once('exit', done));
    server.kill('SIGTERM');
    await exited;
  }
  for (const dir of [dataDir, userDataDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

const fetchesOf = (path) => requests.filter((r) => new URL(r.url).pathname === path).length;
const sampleFetches = () => fetchesOf('/sample/movies.vgcs');
const modelFetches = () => fetchesOf(MODEL_PATH);

/** Types `text` into the query box and waits for its results. */
const search = (text) => rerendered(() => page.locator('#text').fill(text));

async function waitUntilSettled(target, previousRenders) {
  await target.waitForFunction(
    (previous) =>
      Number(document.getElementById('results').dataset.renders ?? 0) > previous &&
      document.body.dataset.busy === 'false',
    previousRenders,
    { timeout: 60_000 },
  );
}

/** Runs `action` and waits until the results it causes are rendered. */
async function rerendered(action, target = page) {
  const before = await target.evaluate(() => Number(document.getElementById('results').dataset.renders ?? 0));
  await action();
  await waitUntilSettled(target, before);
  assert.equal(await target.locator('#error').isHidden(), true, await target.locator('#error').textContent());
}

/** [{id, title, genres, year, rating, score}] of the rendered results, in order. */
function results(target = page) {
  return target.$$eval('#results > li.result', (rows) =>
    rows.map((row) => ({
      id: row.dataset.id,
      title: row.querySelector('.title').textContent,
      genres: row.dataset.genres ? row.dataset.genres.split('|') : [],
      year: row.dataset.year === '' ? null : Number(row.dataset.year),
      rating: row.dataset.rating === '' ? null : Number(row.dataset.rating),
      score: Number(row.querySelector('.score').textContent),
    })),
  );
}

async function open(target) {
  await target.goto(`${origin}/`);
  await waitUntilSettled(target, 0);
}

// ---------------------------------------------------------------------------------------------
// Tests

test('the page loads the sample and the model over the network, embeds the text and reranks in a Worker', async () => {
  await open(page);
  assert.equal(await page.locator('#status').getAttribute('data-from'), 'network');
  assert.match(await page.locator('#status').textContent(), /^3,200 films, the bundled sample · int8, 384 dimensions/);
  assert.equal(sampleFetches(), 1, 'the sample was fetched once (so the reload test can see a second fetch)');
  assert.equal(modelFetches(), 1, 'the model was fetched once');
  assert.equal(await page.locator('#text').inputValue(), TOYS);
  assert.equal((await results()).length, 10);
  assert.match(
    await page.locator('#timing').textContent(),
    /^10 results · embedding \d+\.\d\d ms · rerank \d+\.\d\d ms in the Worker/,
  );
  assert.ok(Number(await page.locator('#timing').getAttribute('data-embed-micros')) > 0);
  assert.equal(await page.locator('#text-note').getAttribute('data-model'), 'network');
  // Chromium runs relaxed SIMD, so init() fetches that build of the module.
  assert.ok(
    requests.some((r) => r.url === `${origin}/pkg/bundler/vecgate_relaxed_bg.wasm`),
    `the relaxed-SIMD .wasm came from /pkg/: ${requests.map((r) => r.url).filter((u) => u.endsWith('.wasm'))}`,
  );
  assert.ok(requests.some((r) => r.url === `${origin}/pkg/embedder/embedder_bg.wasm`), 'the embedder came from /pkg/');
  // The rerank ran in a Worker: the page itself never loaded the package.
  const pageLoadedPackage = await page.evaluate(() =>
    performance.getEntriesByType('resource').some((entry) => entry.name.includes('/pkg/')),
  );
  assert.equal(pageLoadedPackage, false);
  assert.deepEqual(
    page.workers().map((w) => new URL(w.url()).pathname),
    ['/worker.js'],
  );
});

test(`"${TOYS}" puts the Toy Story films in the top 4 (default weights 0.5/0.25/0.15/0.1)`, async () => {
  // Capitalized: another text for the Worker's memory, so it is embedded again (the model lower-cases it).
  await search(`A${TOYS.slice(1)}`);
  assert.match(await page.locator('#timing').textContent(), /embedding \d+\.\d\d ms · /);
  const top4 = (await results()).slice(0, 4).map((r) => r.id);
  for (const id of TOY_STORY_IDS) assert.ok(top4.includes(id), `${id} not in the top 4: ${top4}`);
  assert.deepEqual(
    await page.$$eval('.weights input[type=range]', (inputs) => inputs.map((i) => Number(i.value))),
    [0.5, 0.25, 0.15, 0.1],
  );
});

test(`free text not among the sample's phrases: "${FREE_TEXT}", embedded in the page's Worker, no server call`, async () => {
  const before = requests.length;
  await search(FREE_TEXT);
  assert.deepEqual(requests.slice(before), [], 'typing and reranking made no request');
  const top = (await results()).slice(0, 4).map((r) => r.id);
  for (const id of JAWS_IDS) assert.ok(top.includes(id), `${id} not in the top 4: ${top}`);
  assert.match(await page.locator('#text-note').textContent(), /^\d+ tokens, embedded in the Worker/);
  // Back to a text seen before: its vector is remembered, nothing is embedded.
  await search(TOYS);
  assert.match(await page.locator('#timing').textContent(), /· embedding remembered \(\d+\.\d\d ms when first typed\) · rerank/);
});

test('moving the MMR slider changes the list, without duplicates; "off" restores it', async () => {
  const plain = (await results()).map((r) => r.id);
  await rerendered(() => page.locator('#mmr').fill('0.5'));
  assert.equal(await page.locator('#mmr-value').textContent(), 'λ 0.50');
  const diverse = (await results()).map((r) => r.id);
  assert.equal(diverse.length, 10);
  assert.equal(new Set(diverse).size, diverse.length, `duplicates: ${diverse}`);
  assert.notDeepEqual(diverse, plain);
  assert.equal(diverse[0], plain[0], 'MMR keeps the most relevant film first');
  await rerendered(() => page.locator('#mmr').fill('1'));
  assert.equal(await page.locator('#mmr-value').textContent(), 'off');
  assert.deepEqual((await results()).map((r) => r.id), plain);
});

test('liking a film moves the ranking toward its genre', async () => {
  await search(HACKER);
  const before = await results();
  const liked = before.find((r) => r.id === A_SCANNER_DARKLY);
  assert.ok(liked, `${A_SCANNER_DARKLY} is in the top 10 before the like: ${before.map((r) => r.title)}`);
  const [genre] = liked.genres;
  const count = (list) => list.filter((r) => r.genres.includes(genre)).length;

  const like = page.locator(`#results > li[data-id="${A_SCANNER_DARKLY}"] button.like`);
  assert.equal(await like.getAttribute('aria-pressed'), 'false');
  await rerendered(() => like.click());
  const after = await results();
  assert.ok(
    count(after) > count(before),
    `${genre} films in the top 10: ${count(before)} before the like, ${count(after)} after`,
  );
  assert.equal(await like.getAttribute('aria-pressed'), 'true');
  assert.match(
    await page.locator('#taste').textContent(),
    /^1 liked · confidence 0\.\d\d · genres: Thriller\/Suspense 0\.5\d/,
  );
  const stored = await page.evaluate(() => localStorage.getItem('vecgate-demo:likes'));
  assert.deepEqual(JSON.parse(stored), [A_SCANNER_DARKLY]);
});

test('"similar to a film" queries with the film\'s vector and leaves the film out', async () => {
  await rerendered(() => page.locator('#film').fill('Toy Story (1995)'));
  assert.equal(await page.locator('input[name=mode][value=film]').isChecked(), true);
  const ids = (await results()).map((r) => r.id);
  assert.ok(!ids.includes('movie-993'), `Toy Story itself is excluded: ${ids}`);
  assert.ok(ids.slice(0, 3).some((id) => TOY_STORY_IDS.includes(id)), `a sequel is in the top 3: ${ids}`);
});

test('filters: genre, rating range and year range', async () => {
  await rerendered(() => page.selectOption('#genre', 'Horror'));
  await rerendered(() => page.locator('#rating-min').fill('6'));
  await rerendered(() => page.locator('#year-min').fill('2000'));
  await rerendered(() => page.locator('#year-max').fill('2005'));
  const list = await results();
  assert.equal(list.length, 10);
  for (const r of list) {
    assert.ok(r.genres.includes('Horror') && r.rating >= 6 && r.year >= 2000 && r.year <= 2005, JSON.stringify(r));
  }
  const filter = JSON.parse(await page.locator('#request-json').textContent()).filter;
  assert.deepEqual(filter.$and.slice(0, 3), [
    { genres: ['Horror'] },
    { rating: { $gte: 6 } },
    { year: { $gte: 2000, $lte: 2005 } },
  ]);
});

test('server candidates: POST /v1/candidates, then rerank locally', async () => {
  await search(TOYS);
  const posts = () => requests.filter((r) => r.method === 'POST' && r.url === `${origin}/v1/candidates`).length;
  const before = posts();
  await rerendered(() => page.locator('#server').check());
  assert.equal(posts(), before + 1);
  assert.equal(await page.locator('#status').getAttribute('data-server'), 'true');
  assert.match(await page.locator('#status').textContent(), /^500 server candidates/);
  // The server's measured recall (GET /v1/stats), with the target it keeps.
  assert.match(await page.locator('#status').textContent(), /server recall[^·]*\(target 0\.95\)/);
  assert.ok(requests.some((r) => r.method === 'GET' && r.url === `${origin}/v1/stats`));
  assert.equal(await page.locator('#notice').isHidden(), true);
  const list = await results();
  // The filters from the previous test still apply: every film is a 2000–2005 horror film.
  assert.ok(list.length > 0 && list.every((r) => r.genres.includes('Horror')), JSON.stringify(list));
  await rerendered(() => page.locator('#server').uncheck());
  assert.equal(await page.locator('#status').getAttribute('data-server'), 'false');
});

test('screenshots: desktop and phone', async () => {
  await rerendered(() => page.selectOption('#genre', ''));
  for (const [id, bound] of [['#rating-min', 'min'], ['#year-min', 'min'], ['#year-max', 'max']]) {
    const extent = await page.locator(id).getAttribute(bound);
    await rerendered(() => page.locator(id).fill(extent));
  }
  await search(HACKER);
  await page.screenshot({ path: join(OUT, 'desktop.png'), fullPage: true });

  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await open(phone);
  const folded = await phone.locator('#tuning').evaluate((details) => !details.open);
  assert.equal(folded, true, 'ranking and filters start folded on a phone');
  const overflow = await phone.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.equal(overflow, 0, 'no horizontal scrolling at 390 px');
  await phone.screenshot({ path: join(OUT, 'phone.png') });
  await phone.locator('#tuning > summary').click();
  await phone.screenshot({ path: join(OUT, 'phone-full.png'), fullPage: true });
  await phone.close();
});

test('a reload reads the candidate set from IndexedDB and the model from Cache Storage, with no second download', async () => {
  const fetchedBefore = sampleFetches();
  const modelBefore = modelFetches();
  assert.ok(fetchedBefore >= 1);
  await page.reload();
  await waitUntilSettled(page, 0);
  assert.equal(await page.locator('#status').getAttribute('data-from'), 'indexeddb');
  assert.match(await page.locator('#status').textContent(), /from the IndexedDB cache/);
  assert.equal(sampleFetches(), fetchedBefore, 'no request for /sample/movies.vgcs after the reload');
  assert.equal(modelFetches(), modelBefore, 'no request for model.onnx after the reload');
  assert.equal(await page.locator('#text-note').getAttribute('data-model'), 'cache');
  assert.match(await page.locator('#taste').textContent(), /^1 liked/, 'likes survive the reload');
});

test('every request went to the server under test', () => {
  const host = new URL(origin).host;
  assert.ok(requests.length > 0);
  const elsewhere = requests.filter((r) => new URL(r.url).host !== host);
  assert.deepEqual(elsewhere, []);
});

test('no console errors and no uncaught errors', () => {
  assert.deepEqual(problems, []);
});
