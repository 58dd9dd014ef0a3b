// Loads the package on the page (through the import map; `await init()` first) and in a module
// Worker, and runs the same checks in both: the candidate set's (page.html), the HNSW Index's
// (page.html?checks=index) or the int8 results compared between builds (page.html?checks=int8).
// `&backend=simd128` passes `{ backend }` to both init() calls. The Node test reads
// window.pageResult and window.workerResult.
import * as vecgate from 'vecgate';
import { runChecks, runIndexChecks, runInt8Checks } from './checks.mjs';

const failure = (error) => ({ failed: String(error?.stack ?? error) });
const params = new URL(location.href).searchParams;
const checks = params.get('checks') ?? 'movies';
const backend = params.get('backend');
const run = { movies: runChecks, index: runIndexChecks, int8: runInt8Checks }[checks];

window.pageResult = vecgate.init(backend ? { backend } : undefined).then(() => run(vecgate)).catch(failure);

window.workerResult = new Promise((resolve) => {
  const entry = import.meta.resolve('vecgate');
  const url = `./worker.mjs?entry=${encodeURIComponent(entry)}&checks=${checks}${backend ? `&backend=${backend}` : ''}`;
  const worker = new Worker(url, { type: 'module' });
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve(failure(event.message || 'the Worker failed to load'));
});
