// The npm embedder (`vecgate/embedder`) against onnxruntime-web (wasm, SIMD, one thread) on the
// same all-MiniLM-L6-v2 model.onnx and the same token ids: p50 per text for a short (≤ 10 tokens)
// and a ~32-token text, in Node and in Chromium (Debian's, via playwright-core). A benchmark, not
// a test: it asserts only that both runtimes give the same vectors.
//
//   bash wasm/build.sh && (cd wasm/bench && npm ci) && node wasm/bench/embed.mjs [--no-browser]
//
// Tokenization: our Tokenizer (exported by the package for this) feeds ORT the ids our embedder
// uses, so both sides time tokenization + model + pooling, and only the runtime differs.
// Package: wasm/pkg (or $VECGATE_PKG). Model: $VECGATE_MODEL_DIR or ~/.cache/vecgate/models/all-minilm-l6-v2.
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { benchmark, table } from './embed-core.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const pkg = resolve(process.env.VECGATE_PKG ?? join(repo, 'wasm', 'pkg'));
const modelDir = process.env.VECGATE_MODEL_DIR ?? join(homedir(), '.cache', 'vecgate', 'models', 'all-minilm-l6-v2');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const TEXTS = {
  short: 'animated film for kids about toys',
  '~32 tokens':
    'A retired detective is pulled back for one last case when a string of burglaries in a quiet ' +
    'seaside town points to someone he once put away.',
};

for (const file of ['model.onnx', 'tokenizer.json']) {
  if (!existsSync(join(modelDir, file))) throw new Error(`no ${join(modelDir, file)}: run \`bash scripts/install-model.sh\``);
}
if (!existsSync(join(pkg, 'embedder', 'node.js'))) throw new Error(`no package at ${pkg}: run \`bash wasm/build.sh\``);
if (!existsSync(join(here, 'node_modules', 'onnxruntime-web'))) throw new Error('run `npm ci` in wasm/bench first');

const model = readFileSync(join(modelDir, 'model.onnx'));
const tokenizer = readFileSync(join(modelDir, 'tokenizer.json'));
const ortVersion = JSON.parse(readFileSync(join(here, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')).version;

const embedder = await import(pathToFileURL(join(pkg, 'embedder', 'node.js')).href);
const ort = await import('onnxruntime-web');
/** Both runtimes must have run the same model on the same ids, or the timings compare nothing. */
function checkSame(rows) {
  for (const row of rows) {
    if (!(row.cosine > 0.999)) throw new Error(`${row.name}: vecgate and ORT vectors differ (cosine ${row.cosine})`);
  }
}

const nodeRows = await benchmark({ embedder, ort, model, tokenizer, texts: TEXTS });
console.log(table(`Node ${process.version}, onnxruntime-web ${ortVersion}`, nodeRows));
checkSame(nodeRows);

if (!process.argv.includes('--no-browser')) {
  const { chromium } = await import('playwright-core');
  const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  // /bench/ → this folder (and its node_modules), /pkg/ → the package, /models/ → the model files.
  const roots = { '/bench/': here, '/pkg/': pkg, '/models/': modelDir };
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    if (path === '/') return response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>bench</title>');
    const prefix = Object.keys(roots).find((p) => path.startsWith(p));
    const file = prefix && resolve(roots[prefix], path.slice(prefix.length));
    if (!file || !file.startsWith(roots[prefix] + sep) || !existsSync(file)) return response.writeHead(404).end();
    response.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const userDataDir = mkdtempSync(join(tmpdir(), 'vecgate-bench-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    const { rows, userAgent } = await page.evaluate(async (texts) => {
      const { benchmark } = await import('/bench/embed-core.mjs');
      const embedder = await import('/pkg/embedder/index.js');
      await embedder.initEmbedder();
      const ort = await import('/bench/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs');
      ort.env.wasm.wasmPaths = '/bench/node_modules/onnxruntime-web/dist/';
      const bytes = (url) => fetch(url).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b));
      const [model, tokenizer] = await Promise.all([bytes('/models/model.onnx'), bytes('/models/tokenizer.json')]);
      return { rows: await benchmark({ embedder, ort, model, tokenizer, texts }), userAgent: navigator.userAgent };
    }, TEXTS);
    const version = /Chrome\/([\d.]+)/.exec(userAgent)?.[1];
    console.log();
    console.log(table(`Chromium ${version} (page main thread), onnxruntime-web ${ortVersion}`, rows));
    checkSame(rows);
  } finally {
    await context.close();
    server.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}
