// The installed package's entry points: Node ESM and CommonJS, `vecgate/web` with explicit init
// (either build of the .wasm), `vecgate/bundler` through Node's WebAssembly ESM integration, the
// error on engines without WebAssembly SIMD, and the size of each .wasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esm from 'vecgate';
import { engineValidatesRelaxedSimd } from './exact.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve('vecgate/package.json'));
const API = [
  'CandidateSet',
  'Float32Matrix',
  'Int8Matrix',
  'batchSimilarity',
  'cosineSimilarity',
  'dotProduct',
  'mmr',
  'normalize',
  'personalize',
  'rerank',
  'simdBackend',
  'topK',
  'updatePreference',
];

/** Runs an ES module snippet in a fresh Node process next to the installed package. */
function runNode(source, flags = []) {
  return execFileSync(process.execPath, [...flags, '--input-type=module', '-e', source], {
    cwd: here,
    encoding: 'utf8',
    env: { ...process.env, VECGATE_WASM_BACKEND: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Node flags under which this Node runs relaxed SIMD (Node 20 needs one). */
const RELAXED_FLAGS = engineValidatesRelaxedSimd() ? [] : ['--experimental-wasm-relaxed-simd'];

test('Node resolves the package to its nodejs build, for import and require alike', () => {
  assert.equal(fileURLToPath(import.meta.resolve('vecgate')), join(packageDir, 'node', 'vecgate.js'));
  const cjs = require('vecgate');
  for (const name of API) {
    assert.equal(typeof esm[name], 'function', `ESM export ${name}`);
    assert.equal(typeof cjs[name], 'function', `CommonJS export ${name}`);
  }
  assert.equal(cjs.cosineSimilarity(new Float32Array([1, 0]), new Float32Array([1, 0])), 1);
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'vecgate');
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
});

test('the tarball holds the three builds, their types and one .wasm of each build (simd128, relaxed SIMD)', () => {
  for (const file of [
    'README.md',
    'simd.js',
    'web/index.js',
    'web/index.d.ts',
    'web/manual.js',
    'web/vecgate.js',
    'web/vecgate.d.ts',
    'bundler/index.js',
    'bundler/vecgate_bg.js',
    'bundler/vecgate_bg.wasm',
    'bundler/vecgate_relaxed_bg.wasm',
    'node/backend.js',
    'node/vecgate.js',
    'node/vecgate.d.ts',
  ]) {
    assert.ok(existsSync(join(packageDir, file)), `missing ${file}`);
  }
  assert.ok(!existsSync(join(packageDir, 'web', 'vecgate_bg.wasm')), 'the .wasm is shipped once');
  assert.ok(!existsSync(join(packageDir, 'web', 'vecgate_relaxed_bg.wasm')), 'the relaxed .wasm is shipped once');
  const wasm = readFileSync(require.resolve('vecgate/vecgate_bg.wasm'));
  assert.ok(WebAssembly.validate(wasm));
  // The relaxed build holds relaxed-SIMD instructions: it validates exactly where they do.
  const relaxed = readFileSync(require.resolve('vecgate/vecgate_relaxed_bg.wasm'));
  assert.equal(WebAssembly.validate(relaxed), engineValidatesRelaxedSimd());
  assert.notDeepEqual(relaxed, wasm);
  const types = readFileSync(join(packageDir, 'web', 'vecgate.d.ts'), 'utf8');
  assert.match(types, /rerank\(options: CandidateRerankOptions\): CandidateHit\[\]/);
});

test('vecgate/web initializes explicitly from bytes (initSync)', () => {
  const out = runNode(`
    import { readFileSync } from 'node:fs';
    import { createRequire } from 'node:module';
    import init, { initSync, simdBackend, CandidateSet } from 'vecgate/web';
    const require = createRequire(process.cwd() + '/');
    initSync({ module: readFileSync(require.resolve('vecgate/vecgate_bg.wasm')) });
    const set = new CandidateSet(2);
    set.push('a', new Float32Array([1, 0]));
    console.log(typeof init, simdBackend(), set.rerank({ query: [1, 0] })[0].id);
  `);
  assert.equal(out, 'function simd128 a');
});

test('vecgate/web: the relaxed-SIMD .wasm runs under the same glue (initSync), where relaxedSimd() says the engine runs it', () => {
  const source = `
    import { readFileSync } from 'node:fs';
    import { createRequire } from 'node:module';
    import { initSync, relaxedSimd, simdBackend, Int8Matrix } from 'vecgate/web';
    const require = createRequire(process.cwd() + '/');
    console.log(relaxedSimd());
    initSync({ module: readFileSync(require.resolve('vecgate/vecgate_relaxed_bg.wasm')) });
    const m = Int8Matrix.fromCodes(new Int8Array([-128, 127, 3, -128, -128, 5]), new Float32Array([1, 1]), 3);
    console.log(simdBackend(), Array.from(m.similarities([-1, 1, 0.5])).map((s) => s.toFixed(6)).join(' '));
  `;
  // Codes [-127, 127, 64] for the query: 32577 / √(36354 · 32522) and 320 / √(36354 · 32793).
  assert.deepEqual(runNode(source, RELAXED_FLAGS).split('\n'), ['true', 'relaxed-simd 0.947428 0.009268']);
  const without = runNode(`import { relaxedSimd } from 'vecgate/web'; console.log(relaxedSimd());`, ['--no-experimental-wasm-relaxed-simd']);
  assert.equal(without, 'false');
});

test('vecgate/bundler runs where WebAssembly ES modules are supported', () => {
  const out = runNode(
    `const { simdBackend, topK } = await import('vecgate/bundler');
     console.log(simdBackend(), topK([1, 0], [0, 1, 1, 0], 2, 1)[0].index);`,
    ['--experimental-wasm-modules', '--no-warnings'],
  );
  assert.equal(out, 'simd128 1');
});

test('without WebAssembly SIMD the browser entries throw a clear Error', () => {
  for (const entry of ['vecgate/web', 'vecgate/bundler']) {
    const out = runNode(
      `WebAssembly.validate = () => false;
       try { await import('${entry}'); console.log('loaded'); }
       catch (e) { console.log(e instanceof Error, e.message); }`,
      ['--experimental-wasm-modules', '--no-warnings'],
    );
    assert.match(out, /^true vecgate needs WebAssembly with SIMD \(Chrome\/Edge 91\+/, entry);
  }
});

test('vecgate/embedder: its own .wasm and entries; each main .wasm (simd128, relaxed SIMD) stays within 90 KB gzipped', () => {
  assert.equal(fileURLToPath(import.meta.resolve('vecgate/embedder')), join(packageDir, 'embedder', 'node.js'));
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.exports['./embedder'], {
    types: './embedder/index.d.ts',
    node: './embedder/node.js',
    default: './embedder/index.js',
  });
  for (const file of ['index.js', 'index.d.ts', 'node.js', 'worker.js', 'common.js', 'embedder.js', 'embedder.d.ts', 'embedder_bg.wasm']) {
    assert.ok(existsSync(join(packageDir, 'embedder', file)), `missing embedder/${file}`);
  }
  const embedderWasm = readFileSync(require.resolve('vecgate/embedder_bg.wasm'));
  assert.ok(WebAssembly.validate(embedderWasm));
  const main = readFileSync(require.resolve('vecgate/vecgate_bg.wasm'));
  for (const file of ['vecgate_bg.wasm', 'vecgate_relaxed_bg.wasm']) {
    const gzipped = gzipSync(readFileSync(require.resolve(`vecgate/${file}`)), { level: 9 }).length;
    assert.ok(gzipped <= 92_160, `${file} is ${gzipped} B gzipped, over 90 KB`);
  }
  // The model code lives in the embedder's module only.
  const exported = (bytes) => WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
  assert.ok(exported(embedderWasm).includes('textembedder_new'), 'the embedder exports TextEmbedder');
  assert.ok(!exported(main).some((name) => name.startsWith('textembedder_')), 'the embedder is not in the main .wasm');
});

test('the browser entry of vecgate/embedder throws the SIMD Error on engines without it', () => {
  const out = runNode(
    `WebAssembly.validate = () => false;
     try { await import(${JSON.stringify(join(packageDir, 'embedder', 'index.js'))}); console.log('loaded'); }
     catch (e) { console.log(e instanceof Error, e.message); }`,
  );
  assert.match(out, /^true vecgate needs WebAssembly with SIMD/);
});

test('the browser entry: a clear Error before init(), then init() instantiates the inlined module where the .wasm cannot be fetched (Node)', () => {
  const entry = JSON.stringify(join(packageDir, 'web', 'index.js'));
  const inline = JSON.stringify(join(packageDir, 'web', 'vecgate_bg.inline.js'));
  const out = runNode(`
    import { readFileSync } from 'node:fs';
    const vecgate = await import(${entry});
    try { vecgate.cosineSimilarity([1, 0], [1, 0]); console.log('no error'); } catch (e) { console.log(e instanceof Error, e.message); }
    const first = vecgate.init();
    console.log(first === vecgate.init(), vecgate.default === vecgate.init);
    await first;
    console.log(vecgate.simdBackend(), vecgate.cosineSimilarity([1, 0], [0.6, 0.8]).toFixed(4));
    const { default: inlineBytes } = await import(${inline});
    const packaged = readFileSync(${JSON.stringify(join(packageDir, 'bundler', 'vecgate_bg.wasm'))});
    console.log('inline equals packaged:', Buffer.compare(Buffer.from(inlineBytes()), packaged) === 0);
  `);
  assert.deepEqual(out.split('\n'), [
    'true vecgate: call `await init()` (exported by the package) before using it: the WebAssembly module is not instantiated yet',
    'true true',
    'simd128 0.6000',
    'inline equals packaged: true',
  ]);
});

test('Node: init() and initSync() exist and do nothing (the module is ready on load), for code shared with browsers', async () => {
  assert.equal(await esm.init(), undefined);
  assert.equal(esm.initSync(), undefined);
  assert.equal(require('vecgate').init, esm.init);
});

test('vecgate/client: its entries (Node and browsers), its types, and no WebAssembly until candidates()', () => {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.exports['./client'], { types: './client/index.d.ts', node: './client/node.js', default: './client/index.js' });
  assert.equal(fileURLToPath(import.meta.resolve('vecgate/client')), join(packageDir, 'client', 'node.js'));
  for (const file of ['client/core.js', 'client/index.js', 'client/node.js', 'client/index.d.ts', 'web/vecgate_bg.inline.js']) {
    assert.ok(existsSync(join(packageDir, file)), `missing ${file}`);
  }
  // Loading the client (either entry) loads no wasm: the CandidateSet import is inside candidates().
  const out = runNode(`
    const before = process.memoryUsage().arrayBuffers;
    const node = await import('vecgate/client');
    const browser = await import(${JSON.stringify(join(packageDir, 'client', 'index.js'))});
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('vecgate.js'));
    console.log(typeof node.VecgateClient, typeof browser.VecgateClient, node.VecgateClient === browser.VecgateClient, loaded.length);
  `);
  assert.equal(out, 'function function false 0');
});
