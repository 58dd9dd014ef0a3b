// A module Worker: imports the package's browser entry by URL (import maps do not reach Workers)
// and runs the checks named by `?checks=` ("movies": the candidate set, "index": the HNSW Index,
// "int8": the int8 results compared between builds), after `init({ backend })` if `?backend=`.
const failure = (error) => ({ failed: String(error?.stack ?? error) });

try {
  const params = new URL(self.location.href).searchParams;
  const vecgate = await import(params.get('entry'));
  const backend = params.get('backend');
  await vecgate.init(backend ? { backend } : undefined);
  const { runChecks, runIndexChecks, runInt8Checks } = await import('./checks.mjs');
  const run = { movies: runChecks, index: runIndexChecks, int8: runInt8Checks }[params.get('checks')];
  if (!run) throw new Error(`unknown checks ${params.get('checks')}`);
  self.postMessage({ ...(await run(vecgate)), inWorker: typeof WorkerGlobalScope !== 'undefined' });
} catch (error) {
  self.postMessage(failure(error));
}
