// Exact top-10 over 10,000 × 768 candidates (cosine), one query at a time: the package's f32 and
// int8 matrices against a plain-JS loop and against native vecgate-core, and the int8 HNSW walk (an
// int8 `Index` searched at ef 64) against native core, all on the same generated data, printed as
// one table. Both .wasm builds are measured, simd128 and relaxed SIMD, in one process with their
// rounds interleaved. A benchmark, not a test: it asserts nothing about speed, but it checks that
// both builds and native give the same results before timing.
//
//   bash wasm/build.sh && node wasm/bench/topk.mjs [--no-native] [--chromium]
//
// It loads the package from wasm/pkg (or $VECGATE_PKG), each build through the Node entry
// (VECGATE_WASM_BACKEND picks it). With --chromium it measures the wasm half again on a page of
// headless Chromium (/usr/bin/chromium or $CHROMIUM_PATH; playwright-core from `npm ci` here),
// both builds on the page through `vecgate/web`'s glue. The wasm half is topk-core.mjs. Node 20 runs relaxed SIMD only with
// --experimental-wasm-relaxed-simd: the script re-runs itself with that flag where needed. The
// native figures come from `cargo run --release -p vecgate-wasm --example topk_native` and
// `--example walk_native`, on the same data and the same code.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DIMS, EF, EF_CONSTRUCTION, K, QUERIES, ROUNDS, ROWS, WALK_QUERIES, WALK_ROUNDS, measure } from './topk-core.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const pkg = resolve(process.env.VECGATE_PKG ?? join(repo, 'wasm', 'pkg'));
const require = createRequire(import.meta.url);
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

if (!require(join(pkg, 'node', 'backend.js')).relaxedSimd()) {
  if (process.execArgv.includes(RELAXED_FLAG)) throw new Error(`this Node (${process.version}) does not run relaxed SIMD, even with ${RELAXED_FLAG}`);
  const child = spawnSync(process.execPath, [RELAXED_FLAG, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

/** A fresh instance of the Node build of `backend` ("simd128" or "relaxed-simd"). */
function loadBuild(backend) {
  const entry = join(pkg, 'node', 'vecgate.js');
  const saved = process.env.VECGATE_WASM_BACKEND;
  process.env.VECGATE_WASM_BACKEND = backend;
  delete require.cache[entry];
  try {
    const build = require(entry);
    if (build.simdBackend() !== backend) throw new Error(`asked for ${backend}, got ${build.simdBackend()}`);
    return build;
  } finally {
    delete require.cache[entry];
    if (saved === undefined) delete process.env.VECGATE_WASM_BACKEND;
    else process.env.VECGATE_WASM_BACKEND = saved;
  }
}
const BUILDS = ['simd128', 'relaxed-simd'];
const builds = BUILDS.map(loadBuild);

/** Runs a native example; its last line of output, parsed. */
function native(example, args) {
  const cargo = ['run', '--release', '--quiet', '-p', 'vecgate-wasm', '--example', example, '--'];
  const out = execFileSync('cargo', [...cargo, ...args.map(String)], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop());
}

// Native first, on a machine with nothing else of ours running (no Chromium yet).
const topk = process.argv.includes('--no-native') ? null : native('topk_native', [ROWS, DIMS, QUERIES, ROUNDS]);
const walkNative = topk === null ? null : native('walk_native', [ROWS, DIMS, WALK_QUERIES, WALK_ROUNDS, EF_CONSTRUCTION, EF]);
const node = measure(builds);

/** The wasm half on a page of headless Chromium: both builds, each through its own copy of the
 * web glue (a module URL of its own) initialized with that build's .wasm. */
async function inChromium() {
  const { chromium } = await import('playwright-core');
  const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
  const roots = { '/bench/': here, '/pkg/': pkg };
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
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return await page.evaluate(async () => {
      const { measure } = await import('/bench/topk-core.mjs');
      const { relaxedSimd } = await import('/pkg/web/manual.js');
      if (!relaxedSimd()) throw new Error('this Chromium does not run relaxed SIMD');
      const load = async (file, copy) => {
        const glue = await import(`/pkg/web/vecgate.js?${copy}`);
        const bytes = await fetch(`/pkg/bundler/${file}`).then((r) => r.arrayBuffer());
        glue.initSync({ module: bytes });
        return glue;
      };
      const builds = [await load('vecgate_bg.wasm', 'simd128'), await load('vecgate_relaxed_bg.wasm', 'relaxed')];
      return { ...measure(builds), userAgent: navigator.userAgent };
    });
  } finally {
    await context.close();
    server.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}
const browser = process.argv.includes('--chromium') ? await inChromium() : null;

let nativeResult = null;
if (!process.argv.includes('--no-native')) {
  for (const [where, wasm] of [['Node', node], ['Chromium', browser]]) {
    if (wasm === null) continue;
    if (topk.f32_top.join(',') !== wasm.jsFirst) throw new Error(`native f32 top-10 differs from wasm (${where})`);
    if (topk.int8_top.join(',') !== wasm.int8First) throw new Error(`native int8 top-10 differs from wasm (${where})`);
    const same = walkNative.hits.every((hits, q) => hits.length === wasm.walkHits[q].length && hits.every(([id, score], i) => id === wasm.walkHits[q][i][0] && Math.fround(score) === wasm.walkHits[q][i][1]));
    if (!same) throw new Error(`the native int8 index finds other hits than the wasm one (${where}): not the same graph`);
  }
  nativeResult = { ...topk, walk_ms: walkNative.walk_ms, build_s: walkNative.build_s };
}

const ms = (x) => x.toFixed(3);
const ratio = (x, y) => `${(x / y).toFixed(2)}×`;
console.log(`exact top-${K}, ${ROWS} × ${DIMS} f32, cosine; ${QUERIES} queries, best of ${ROUNDS} rounds; int8 walk: ${WALK_QUERIES} queries, best of ${WALK_ROUNDS} rounds`);
console.log(`native: ${nativeResult?.backend ?? 'not run'}, measured in this run before the wasm half; the two builds' rounds interleaved`);
for (const [engine, { jsMs, rows, wasmBuildS }] of [
  [`Node ${process.version} (${process.execArgv.join(' ') || 'no flags'})`, node],
  [`Chromium ${/Chrome\/([\d.]+)/.exec(browser?.userAgent)?.[1]} (page main thread)`, browser],
].filter(([, result]) => result !== null)) {
  console.log();
  console.log(`${engine}:`);
  console.log();
  console.log('| method | simd128 ms/query | relaxed-simd ms/query | native ms/query | simd128 / native | relaxed-simd / native |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, [simd128, relaxed], key] of rows) {
    const n = nativeResult?.[key];
    console.log(`| ${name} | ${ms(simd128)} | ${ms(relaxed)} | ${n === undefined ? '–' : ms(n)} | ${n === undefined ? '–' : ratio(simd128, n)} | ${n === undefined ? '–' : ratio(relaxed, n)} |`);
  }
  console.log(`| plain-JS loop (exact top-${K}) | ${ms(jsMs)} | | | | |`);
  console.log();
  const speedup = (i) => `${(jsMs / rows[i][1][0]).toFixed(1)}× (simd128), ${(jsMs / rows[i][1][1]).toFixed(1)}× (relaxed-simd)`;
  console.log(`f32 vs plain JS: ${speedup(0)} faster (target ≥ 12×); int8 vs plain JS: ${speedup(3)} faster`);
  console.log(`relaxed-simd vs simd128: int8 top-k ${ratio(rows[3][1][0], rows[3][1][1])}, int8 walk ${ratio(rows[4][1][0], rows[4][1][1])} faster`);
  console.log(`int8 index build (10,000 inserts, efConstruction ${EF_CONSTRUCTION}): wasm simd128 ${wasmBuildS.toFixed(1)} s${nativeResult ? `, native ${nativeResult.build_s.toFixed(1)} s` : ''}`);
}
console.log();
console.log('wasm/native target: ≤ 1.15×. HNSW search QPS against hnswlib-wasm, voy-search and edgevec: node wasm/bench/hnsw.mjs');
